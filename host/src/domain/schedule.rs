//! The OpenCity polling schedule (DOMAIN.md §8): when to check an open payment next.
//!
//! The band comes from how long after `created_at` the last check happened; the step is added to
//! `now`. Past 30 days checks go weekly, on Sunday at the same time of day; past 365 days the
//! payment expires.

use chrono::{DateTime, Datelike, Duration, Utc};

/// What the schedule says after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextCheck {
    /// No check has happened yet (`last_check_at` is null): leave everything as it is.
    Unchanged,
    /// Check again at this time.
    At(DateTime<Utc>),
    /// More than 365 days have passed: `next_check_at` becomes null and the payment `EXPIRED`.
    Expired,
}

/// The next check of a payment created at `created_at`, last checked at `last_check_at`, with
/// the clock at `now` (comparisons inclusive, as the reference implementation).
pub fn next_check(created_at: DateTime<Utc>, last_check_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> NextCheck {
    let Some(last) = last_check_at else {
        return NextCheck::Unchanged;
    };
    let bands = [
        (Duration::minutes(5), Duration::minutes(1)),
        (Duration::minutes(15), Duration::minutes(5)),
        (Duration::days(7), Duration::hours(1)),
        (Duration::days(30), Duration::hours(6)),
    ];
    for (until, step) in bands {
        if last <= created_at + until {
            return NextCheck::At(now + step);
        }
    }
    if last <= created_at + Duration::days(365) {
        // Monday = 0 … Sunday = 6; a Sunday goes to the following Sunday.
        let weekday = i64::from(now.weekday().num_days_from_monday());
        let mut days = 6 - weekday;
        if days <= 0 {
            days += 7;
        }
        return NextCheck::At(now + Duration::days(days));
    }
    NextCheck::Expired
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const NOW: &str = "2022-09-19T16:00:00Z";

    /// A check at `at` (which is also `last_check_at`, as the proxy sets it first).
    fn check(at: DateTime<Utc>) -> NextCheck {
        next_check(t(NOW), Some(at), at)
    }

    #[test]
    fn reproduces_the_official_vectors() {
        let now = t(NOW);
        assert_eq!(check(now), NextCheck::At(now + Duration::minutes(1)));
        let at = now + Duration::minutes(1);
        assert_eq!(check(at), NextCheck::At(now + Duration::minutes(2)));
        let at = now + Duration::minutes(15);
        assert_eq!(check(at), NextCheck::At(now + Duration::minutes(20)));
        let at = now + Duration::days(7);
        assert_eq!(check(at), NextCheck::At(now + Duration::days(7) + Duration::hours(1)));
        let at = now + Duration::days(30);
        assert_eq!(check(at), NextCheck::At(now + Duration::days(30) + Duration::hours(6)));
        assert_eq!(check(now + Duration::days(366)), NextCheck::Expired);
        assert_eq!(next_check(now, None, now), NextCheck::Unchanged);
    }

    #[test]
    fn reproduces_the_boundary_and_weekly_vectors() {
        for (at, expected) in [
            ("2022-09-19T16:05:00Z", "2022-09-19T16:06:00Z"),
            ("2022-09-19T16:05:01Z", "2022-09-19T16:10:01Z"),
            ("2022-09-19T16:16:00Z", "2022-09-19T17:16:00Z"),
            ("2022-09-26T16:01:00Z", "2022-09-26T22:01:00Z"),
            ("2022-10-20T16:00:00Z", "2022-10-23T16:00:00Z"),
            ("2022-10-23T16:00:00Z", "2022-10-30T16:00:00Z"),
            ("2023-09-19T16:00:00Z", "2023-09-24T16:00:00Z"),
        ] {
            assert_eq!(check(t(at)), NextCheck::At(t(expected)), "check at {at}");
        }
    }
}
