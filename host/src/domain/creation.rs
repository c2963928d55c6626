//! When to try creating a debt position again, and when to stop: the decision after each
//! creation attempt. Pure: the proxy classifies the attempt ([`Attempt`]) and records what
//! [`next_attempt`] decides.
//!
//! Two rules keep money from being collected behind the platform's back:
//!
//! - an attempt that may have reached the intermediary without a readable answer (a time-out, a
//!   5xx, a reply the connector could not read, a trap after a request went out) is
//!   **ambiguous**: the position may exist. The contract makes `create` idempotent by IUD, so
//!   the next attempt finds it rather than opening a second one. A payment with an ambiguous
//!   attempt is never failed for running out of attempts: past the budget it keeps asking at the
//!   longest delay until the intermediary answers one way or the other;
//! - only a definite answer fails a payment: the intermediary refused the request, or the
//!   connector cannot make it (configuration, contract), or every attempt failed before reaching
//!   the intermediary.

/// How one creation attempt ended, as far as the decision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The intermediary opened the position, or found the one an earlier attempt opened.
    Created,
    /// A definite no: the intermediary refused the request, or the connector could not make it.
    /// The same request cannot succeed later.
    Refused,
    /// Failed without reaching the intermediary (unreachable, refused connection), so nothing
    /// was created; trying later may succeed.
    Unreached,
    /// May have reached the intermediary and opened the position, without a readable answer.
    Ambiguous,
    /// Could not start: no active configuration yet. Spends no attempt; tried again after
    /// the policy's `deferred_ms` (or as soon as a configuration is saved).
    Deferred,
    /// Could not start: the tenant is over its own limits, or the host is stopping. Spends no
    /// attempt; tried again after the first delay.
    Throttled,
}

/// The retry schedule and budget of creations (settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a payment whose attempts never reached the intermediary is failed.
    pub attempts: u32,
    /// First delay, in milliseconds; it doubles with every attempt.
    pub base_ms: u64,
    /// Longest delay, in milliseconds: between attempts past the budget of a payment whose
    /// position may exist.
    pub max_ms: u64,
    /// Delay before a deferred payment (no configuration, tenant over its limits) is tried
    /// again, in milliseconds.
    pub deferred_ms: u64,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The payment becomes `PAYMENT_PENDING`.
    Created,
    /// Try again at `at_ms` (milliseconds since the epoch); `attempts` failed attempts so far,
    /// `ambiguous` whether any of them may have opened the position.
    RetryAt {
        /// When, in milliseconds since the epoch.
        at_ms: i64,
        /// Failed attempts so far.
        attempts: u32,
        /// Whether a position may exist upstream.
        ambiguous: bool,
    },
    /// The payment becomes `CREATION_FAILED`: no position exists upstream.
    Fail,
}

/// The delay before attempt `attempts + 1` after `attempts` failed ones: `base_ms` doubling per
/// attempt, at most `max_ms`.
pub fn backoff(policy: &RetryPolicy, attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(30);
    policy.base_ms.max(1).saturating_mul(1u64 << doublings).min(policy.max_ms.max(1))
}

/// The decision after an attempt that ended as `attempt`, for a payment with `attempts` failed
/// attempts before it (`ambiguous`: whether any of them may have opened the position), at
/// `now_ms` (milliseconds since the epoch).
pub fn next_attempt(attempt: Attempt, attempts: u32, ambiguous: bool, now_ms: i64, policy: &RetryPolicy) -> Decision {
    let at = |delay: u64| now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    match attempt {
        Attempt::Created => Decision::Created,
        // The contract makes the same request yield the same position: a refusal now means the
        // earlier attempts (the same request) opened none either.
        Attempt::Refused => Decision::Fail,
        Attempt::Deferred => Decision::RetryAt { at_ms: at(policy.deferred_ms), attempts, ambiguous },
        Attempt::Throttled => Decision::RetryAt { at_ms: at(policy.base_ms), attempts, ambiguous },
        Attempt::Unreached | Attempt::Ambiguous => {
            let attempts = attempts.saturating_add(1);
            let ambiguous = ambiguous || attempt == Attempt::Ambiguous;
            if attempts >= policy.attempts.max(1) && !ambiguous {
                Decision::Fail
            } else {
                Decision::RetryAt { at_ms: at(backoff(policy, attempts)), attempts, ambiguous }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { attempts: 5, base_ms: 200, max_ms: 60_000, deferred_ms: 30_000 };

    fn now() -> i64 {
        1_000_123
    }

    fn retry_in(decision: Decision) -> Option<(i64, u32, bool)> {
        match decision {
            Decision::RetryAt { at_ms, attempts, ambiguous } => Some((at_ms - now(), attempts, ambiguous)),
            _ => None,
        }
    }

    #[test]
    fn a_created_position_ends_the_work() {
        assert_eq!(next_attempt(Attempt::Created, 3, true, now(), &POLICY), Decision::Created);
    }

    #[test]
    fn unreached_attempts_back_off_doubling_and_fail_when_the_budget_is_spent() {
        let delays: Vec<_> =
            (0..4).map(|n| retry_in(next_attempt(Attempt::Unreached, n, false, now(), &POLICY))).collect();
        assert_eq!(
            delays,
            vec![Some((200, 1, false)), Some((400, 2, false)), Some((800, 3, false)), Some((1600, 4, false))]
        );
        assert_eq!(next_attempt(Attempt::Unreached, 4, false, now(), &POLICY), Decision::Fail);
    }

    #[test]
    fn a_payment_whose_position_may_exist_is_never_failed_for_running_out_of_attempts() {
        assert_eq!(retry_in(next_attempt(Attempt::Ambiguous, 4, false, now(), &POLICY)), Some((3_200, 5, true)));
        // Past the budget, an unreached attempt keeps the earlier ambiguity: still retried.
        assert_eq!(retry_in(next_attempt(Attempt::Unreached, 40, true, now(), &POLICY)), Some((60_000, 41, true)));
    }

    #[test]
    fn a_refusal_fails_the_payment_at_once_even_after_an_ambiguous_attempt() {
        assert_eq!(next_attempt(Attempt::Refused, 0, false, now(), &POLICY), Decision::Fail);
        assert_eq!(next_attempt(Attempt::Refused, 2, true, now(), &POLICY), Decision::Fail);
    }

    #[test]
    fn a_deferred_attempt_spends_nothing_and_comes_back_later() {
        assert_eq!(retry_in(next_attempt(Attempt::Deferred, 2, true, now(), &POLICY)), Some((30_000, 2, true)));
        assert_eq!(retry_in(next_attempt(Attempt::Throttled, 4, false, now(), &POLICY)), Some((200, 4, false)));
    }

    #[test]
    fn the_delay_never_exceeds_the_longest_one() {
        assert_eq!(backoff(&POLICY, 1), 200);
        assert_eq!(backoff(&POLICY, 100), 60_000);
        assert_eq!(backoff(&RetryPolicy { base_ms: 0, ..POLICY }, 1), 1);
    }
}
