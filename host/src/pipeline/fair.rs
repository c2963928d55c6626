//! Fair turns across tenants: one queue per tenant, served round-robin, each tenant with at
//! most its share of the places in flight. A tenant whose intermediary hangs, or that is over
//! its own limits, keeps at most its share busy and waits in its own queue; the others go on at
//! the pace of their own intermediaries. Pure bookkeeping: the proxy and the poller claim work
//! into it and start what [`Fair::next`] hands out; while some tenants' queues are full they
//! claim for the others one tenant at a time, those a [`Probe`] names.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Per-tenant queues and what each tenant has in flight.
#[derive(Debug)]
pub struct Fair<T, W> {
    queues: HashMap<T, VecDeque<W>>,
    /// Tenants with queued work, in the order their turn comes.
    ring: VecDeque<T>,
    running: HashMap<T, usize>,
    places: usize,
}

impl<T: Copy + Eq + Hash, W> Fair<T, W> {
    /// Queues over `places` places in flight.
    pub fn new(places: usize) -> Self {
        Self { queues: HashMap::new(), ring: VecDeque::new(), running: HashMap::new(), places: places.max(1) }
    }

    /// Queues `work` of `tenant`.
    pub fn push(&mut self, tenant: T, work: W) {
        let queue = self.queues.entry(tenant).or_default();
        if queue.is_empty() {
            self.ring.push_back(tenant);
        }
        queue.push_back(work);
    }

    /// Work queued, not started.
    pub fn queued(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Work in flight.
    pub fn running(&self) -> usize {
        self.running.values().sum()
    }

    /// The places in flight one tenant may hold now: an equal share among the tenants with work
    /// queued or in flight, and never more than half the places, so a tenant arriving beside
    /// one whose calls hang always finds room.
    pub fn share(&self) -> usize {
        let busy = self.running.keys().filter(|t| !self.queues.contains_key(*t)).count() + self.queues.len();
        (self.places / busy.max(2)).max(1)
    }

    /// Tenants whose queue holds at least `depth` items: no more of their work is claimed.
    pub fn full(&self, depth: usize) -> Vec<T> {
        self.queues.iter().filter(|(_, q)| q.len() >= depth.max(1)).map(|(t, _)| *t).collect()
    }

    /// The next work to start: the first tenant in turn with work queued and fewer in flight
    /// than its share and its own `cap`, which then goes to the back of the turn.
    pub fn next(&mut self, cap: impl Fn(T) -> Option<usize>) -> Option<(T, W)> {
        // Places held by calls that hang cannot be taken back: a tenant below its share may
        // start beyond the places, up to twice as many in all.
        if self.running() >= self.places * 2 {
            return None;
        }
        let share = self.share();
        for _ in 0..self.ring.len() {
            let tenant = self.ring.pop_front()?;
            let limit = cap(tenant).map_or(share, |c| c.clamp(1, share));
            let running = self.running.get(&tenant).copied().unwrap_or(0);
            if running >= limit {
                self.ring.push_back(tenant);
                continue;
            }
            let queue = self.queues.get_mut(&tenant)?;
            let work = queue.pop_front()?;
            if queue.is_empty() {
                self.queues.remove(&tenant);
            } else {
                self.ring.push_back(tenant);
            }
            *self.running.entry(tenant).or_default() += 1;
            return Some((tenant, work));
        }
        None
    }

    /// Work of `tenant` finished.
    pub fn done(&mut self, tenant: T) {
        if let Some(n) = self.running.get_mut(&tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(&tenant);
            }
        }
    }

    /// Takes every queued item out (a stop gives them back).
    pub fn drain(&mut self) -> Vec<W> {
        self.ring.clear();
        self.queues.drain().flat_map(|(_, q)| q).collect()
    }
}

/// Which tenants to ask for due work one by one while some tenants' queues are full (asking
/// for "due, not theirs" would read past every due row of theirs): the known tenants that are
/// not full, in turns, leaving out for a while those found with nothing due.
#[derive(Debug)]
pub struct Probe<T> {
    tenants: Vec<T>,
    refreshed: Option<Instant>,
    quiet: HashMap<T, Instant>,
    quiet_for: Duration,
    next: usize,
}

/// How long the list of known tenants is used before it is read again.
pub const TENANTS_FRESH: Duration = Duration::from_secs(10);

impl<T: Copy + Eq + Hash> Probe<T> {
    /// A probe that leaves a tenant found with nothing due out for `quiet_for`.
    pub fn new(quiet_for: Duration) -> Self {
        Self { tenants: Vec::new(), refreshed: None, quiet: HashMap::new(), quiet_for, next: 0 }
    }

    /// Whether the known tenants should be read again.
    pub fn stale(&self, now: Instant) -> bool {
        self.refreshed.is_none_or(|at| now.saturating_duration_since(at) >= TENANTS_FRESH)
    }

    /// The tenants there are.
    pub fn set_tenants(&mut self, tenants: Vec<T>, now: Instant) {
        self.tenants = tenants;
        self.refreshed = Some(now);
        self.quiet.retain(|_, until| *until > now);
    }

    /// At most `max` tenants to ask, in turns: neither in `skip` nor found idle lately.
    pub fn candidates(&mut self, skip: &[T], now: Instant, max: usize) -> Vec<T> {
        let n = self.tenants.len();
        let mut asked = Vec::new();
        let mut after_last = self.next;
        for i in 0..n {
            if asked.len() >= max {
                break;
            }
            let at = (self.next + i) % n;
            let tenant = self.tenants[at];
            if skip.contains(&tenant) || self.quiet.get(&tenant).is_some_and(|until| *until > now) {
                continue;
            }
            asked.push(tenant);
            after_last = at + 1;
        }
        // The next round starts after the last one asked: every tenant gets its turn.
        self.next = if n == 0 { 0 } else { after_last % n };
        asked
    }

    /// What asking `asked` brought: the tenants of the work claimed. A tenant asked that had
    /// nothing due is left out for the probe's `quiet_for`.
    pub fn found(&mut self, asked: &[T], claimed: &[T], now: Instant) {
        for tenant in asked {
            if !claimed.contains(tenant) {
                self.quiet.insert(*tenant, now + self.quiet_for);
            }
        }
    }
}

/// Most tenants asked one by one in a round.
pub const ASKED_PER_ROUND: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_take_turns() {
        let mut fair = Fair::new(10);
        for n in 0..3 {
            fair.push('a', n);
        }
        fair.push('b', 10);
        fair.push('c', 20);
        let order: Vec<_> = std::iter::from_fn(|| fair.next(|_| None)).collect();
        assert_eq!(order, vec![('a', 0), ('b', 10), ('c', 20), ('a', 1), ('a', 2)]);
    }

    #[test]
    fn a_tenant_whose_work_never_finishes_holds_at_most_its_share() {
        let mut fair = Fair::new(4);
        for n in 0..100 {
            fair.push('h', n);
        }
        // Alone, the hanging tenant may use half the places.
        let started: Vec<_> = std::iter::from_fn(|| fair.next(|_| None)).collect();
        assert_eq!(started.len(), 2);
        // Others arrive while its calls hang: each starts its share at once.
        fair.push('o', 1);
        fair.push('o', 2);
        fair.push('p', 3);
        let started: Vec<_> = std::iter::from_fn(|| fair.next(|_| None)).collect();
        assert_eq!(started, vec![('o', 1), ('p', 3)], "one place each among three tenants");
        fair.done('o');
        assert_eq!(fair.next(|_| None), Some(('o', 2)));
        // Never more than twice the places in flight, whoever arrives.
        for t in 'a'..='z' {
            fair.push(t, 0);
        }
        let more = std::iter::from_fn(|| fair.next(|_| None)).count();
        assert_eq!(fair.running(), 8, "{more} more started");
    }

    #[test]
    fn a_tenant_over_its_own_concurrency_waits_in_its_queue_without_a_place() {
        let mut fair = Fair::new(8);
        for n in 0..5 {
            fair.push('t', n);
            fair.push('u', n);
        }
        let cap = |t: char| (t == 't').then_some(1);
        let started: Vec<_> = std::iter::from_fn(|| fair.next(cap)).collect();
        assert_eq!(started.iter().filter(|(t, _)| *t == 't').count(), 1);
        assert_eq!(started.iter().filter(|(t, _)| *t == 'u').count(), 4, "u gets its share (8 / 2)");
        // Once t has none queued, u alone still holds at most half the places.
        assert_eq!(fair.queued(), 5);
    }

    #[test]
    fn full_queues_are_named_and_a_stop_drains_them() {
        let mut fair = Fair::new(2);
        for n in 0..3 {
            fair.push('a', n);
        }
        fair.push('b', 9);
        assert_eq!(fair.full(3), vec!['a']);
        let mut drained = fair.drain();
        drained.sort_unstable();
        assert_eq!(drained, vec![0, 1, 2, 9]);
        assert_eq!(fair.queued(), 0);
    }

    #[test]
    fn the_probe_asks_tenants_in_turn_leaving_out_the_full_and_the_idle() {
        let now = Instant::now();
        let mut probe = Probe::new(Duration::from_secs(1));
        assert!(probe.stale(now));
        probe.set_tenants(vec!['a', 'b', 'c', 'd'], now);
        assert!(!probe.stale(now));
        assert!(probe.stale(now + TENANTS_FRESH));
        // 'a' is full: never asked.
        assert_eq!(probe.candidates(&['a'], now, 2), vec!['b', 'c']);
        // 'b' had nothing due: left out for a second; the turn goes on.
        probe.found(&['b', 'c'], &['c'], now);
        assert_eq!(probe.candidates(&['a'], now, 2), vec!['d', 'c'], "the turn starts after 'c'");
        assert_eq!(probe.candidates(&['a'], now, 10), vec!['d', 'c']);
        assert_eq!(probe.candidates(&['a'], now + Duration::from_secs(1), 10), vec!['d', 'b', 'c']);
        // One a round: the turn goes past the skipped and on to every other tenant.
        let one: Vec<_> = (0..3).flat_map(|_| probe.candidates(&['a'], now + Duration::from_secs(1), 1)).collect();
        assert_eq!(one, vec!['d', 'b', 'c'], "{one:?}");
        // Nobody to ask.
        assert!(probe.candidates(&['a', 'b', 'c', 'd'], now, 10).is_empty());
        assert!(Probe::<char>::new(Duration::ZERO).candidates(&[], now, 10).is_empty());
    }
}
