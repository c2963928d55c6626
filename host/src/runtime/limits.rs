//! Resource limits: what one call may use (memory across every memory of the instance, CPU
//! time, wall time, table growth, instances), the operator's rules that set them per connector
//! and per tenant ([`LimitPolicy`]), and the [`Gate`] that bounds concurrent calls and calls per
//! second of a tenant or an intermediary.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits one connector call runs under.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory of all memories of the instance together, in bytes.
    pub memory_bytes: usize,
    /// Time the guest may spend executing, in milliseconds (epoch-based, coarse).
    pub cpu_ms: u64,
    /// Time the call may run, including HTTP waits, in milliseconds (a call waiting for its
    /// tenant's turn may wait as long again before it starts).
    pub wall_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory_bytes: 64 * 1024 * 1024, cpu_ms: 2_000, wall_ms: 30_000 }
    }
}

impl Limits {
    /// The wall-clock limit.
    pub fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }
}

/// What an operator sets for one connector or one tenant; what is unset falls through to the
/// next rule down (tenant, then connector, then `*`, then the runtime's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitSet {
    /// Linear memory of one call, in bytes.
    pub memory_bytes: Option<usize>,
    /// CPU time of one call, in milliseconds.
    pub cpu_ms: Option<u64>,
    /// Wall time of one call, in milliseconds.
    pub wall_ms: Option<u64>,
    /// Calls at once.
    pub concurrency: Option<usize>,
    /// Calls starting per second.
    pub calls_per_second: Option<u32>,
}

impl LimitSet {
    /// `self`'s values where set, else `below`'s.
    fn over(self, below: LimitSet) -> LimitSet {
        LimitSet {
            memory_bytes: self.memory_bytes.or(below.memory_bytes),
            cpu_ms: self.cpu_ms.or(below.cpu_ms),
            wall_ms: self.wall_ms.or(below.wall_ms),
            concurrency: self.concurrency.or(below.concurrency),
            calls_per_second: self.calls_per_second.or(below.calls_per_second),
        }
    }

    /// Whether it bounds calls at once or calls per second (so a [`Gate`] is needed).
    pub fn gates(&self) -> bool {
        self.concurrency.is_some() || self.calls_per_second.is_some()
    }
}

/// The keys a limit rule may set, for error messages.
pub const LIMIT_KEYS: &str = "memory_mb, cpu_ms, wall_ms, concurrency, calls_per_second";

/// The operator's limits per connector (by name) and per tenant (by id), `*` for every one
/// without a rule of its own. Written as rules, one per connector or tenant:
/// `connector=mypay memory_mb=128 wall_ms=60000` or `tenant=<uuid> concurrency=4 calls_per_second=10`.
///
/// - memory, CPU time and wall time of a call: the tenant's rule, else the connector's, else
///   `*`'s, else the runtime's defaults (the most specific wins);
/// - concurrency and calls per second: both apply. The connector's bound every call to its
///   intermediary (all tenants together); the tenant's bound that tenant's calls (every
///   connector together), so one tenant cannot take what others need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitPolicy {
    connectors: HashMap<String, LimitSet>,
    tenants: HashMap<String, LimitSet>,
}

impl LimitPolicy {
    /// Parses the rules; every problem is named with its rule.
    pub fn parse(rules: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        let mut problems = Vec::new();
        for rule in rules.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            match parse_rule(rule) {
                Ok((true, name, set)) => {
                    if policy.connectors.insert(name.clone(), set).is_some() {
                        problems.push(format!("`{rule}`: a second rule for connector {name}"));
                    }
                }
                Ok((false, id, set)) => {
                    if policy.tenants.insert(id.clone(), set).is_some() {
                        problems.push(format!("`{rule}`: a second rule for tenant {id}"));
                    }
                }
                Err(why) => problems.push(format!("`{rule}`: {why}")),
            }
        }
        if problems.is_empty() { Ok(policy) } else { Err(format!("limits: {}", problems.join("; "))) }
    }

    /// The rule of the connector named `name` over the `*` rule.
    pub fn connector(&self, name: &str) -> LimitSet {
        let any = self.connectors.get("*").copied().unwrap_or_default();
        self.connectors.get(name).map_or(any, |own| own.over(any))
    }

    /// The rule of tenant `id` over the `*` rule.
    pub fn tenant(&self, id: &str) -> LimitSet {
        let any = self.tenants.get("*").copied().unwrap_or_default();
        self.tenants.get(id).map_or(any, |own| own.over(any))
    }

    /// The largest memory any rule allows one call, in bytes.
    pub fn largest_memory(&self) -> Option<usize> {
        self.connectors.values().chain(self.tenants.values()).filter_map(|s| s.memory_bytes).max()
    }

    /// The limits of one call of connector `name` for tenant `tenant`, over `base`.
    pub fn call_limits(&self, base: Limits, connector: &str, tenant: &str) -> Limits {
        let set = self.tenant(tenant).over(self.connector(connector));
        Limits {
            memory_bytes: set.memory_bytes.unwrap_or(base.memory_bytes),
            cpu_ms: set.cpu_ms.unwrap_or(base.cpu_ms),
            wall_ms: set.wall_ms.unwrap_or(base.wall_ms),
        }
    }
}

/// One rule: `connector=<name>|tenant=<id>` then `key=value`s, separated by spaces.
fn parse_rule(rule: &str) -> Result<(bool, String, LimitSet), String> {
    let mut words = rule.split_whitespace();
    let subject = words.next().unwrap_or_default();
    let (is_connector, name) = match subject.split_once('=') {
        Some(("connector", name)) if !name.is_empty() => (true, name.to_owned()),
        Some(("tenant", "*")) => (false, "*".to_owned()),
        Some(("tenant", id)) => match uuid::Uuid::parse_str(id) {
            // As tenants' ids are written everywhere else: lower-case, hyphenated.
            Ok(id) => (false, id.to_string()),
            Err(_) => return Err(format!("tenant `{id}` is neither a tenant's id (a UUID) nor `*`")),
        },
        _ => return Err("must start with `connector=<name>` or `tenant=<id>` (`*`: every one)".into()),
    };
    let mut set = LimitSet::default();
    let mut any = false;
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("`{word}` is not key=value"));
        };
        let number: u64 = value
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{key}: `{value}` is not a whole number above 0"))?;
        match key {
            "memory_mb" => {
                set.memory_bytes = Some(usize::try_from(number.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX))
            }
            "cpu_ms" => set.cpu_ms = Some(number),
            "wall_ms" => set.wall_ms = Some(number),
            "concurrency" => set.concurrency = Some(usize::try_from(number).unwrap_or(usize::MAX)),
            "calls_per_second" => set.calls_per_second = Some(u32::try_from(number).unwrap_or(u32::MAX)),
            other => return Err(format!("unknown limit `{other}` (known: {LIMIT_KEYS})")),
        }
        any = true;
    }
    if !any {
        return Err(format!("sets no limit (known: {LIMIT_KEYS})"));
    }
    Ok((is_connector, name, set))
}

/// Which bound of a [`Gate`] a call could not get through in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateLimit {
    /// Calls at once.
    Concurrency,
    /// Calls per second.
    CallsPerSecond,
}

impl GateLimit {
    /// Its name in settings, metrics and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            GateLimit::Concurrency => "concurrency",
            GateLimit::CallsPerSecond => "calls_per_second",
        }
    }
}

/// A call could not pass a gate within the time it may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateRefusal {
    /// The bound.
    pub limit: GateLimit,
    /// Its value.
    pub value: u64,
}

/// At most `concurrency` calls at once and, with a rate, calls starting evenly spaced at most
/// `per_second` a second. A call over either waits its turn; one whose turn would come later
/// than it may wait is refused at once, without taking a turn from the calls behind it.
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    concurrency: usize,
    per_second: Option<u32>,
    interval: Option<Duration>,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Gate {
    /// A gate of `concurrency` calls at once (unbounded: `None`) and `per_second` calls a second.
    pub fn new(concurrency: Option<usize>, per_second: Option<u32>) -> Self {
        let concurrency = concurrency.unwrap_or(Semaphore::MAX_PERMITS).clamp(1, Semaphore::MAX_PERMITS);
        let per_second = per_second.filter(|r| *r > 0);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            per_second,
            interval: per_second.map(|r| Duration::from_secs(1) / r),
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// A new gate with this one's bounds, its turns its own.
    pub fn like(&self) -> Self {
        Self::new(Some(self.concurrency), self.per_second)
    }

    /// Calls it lets through at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The gate of a rule, when it bounds anything.
    pub fn of(set: &LimitSet) -> Option<Self> {
        set.gates().then(|| Self::new(set.concurrency, set.calls_per_second))
    }

    /// Waits for the call's turn, at most `max_wait` (`None`: as long as it takes); the call
    /// may go ahead while the permit lives.
    pub async fn enter(&self, max_wait: Option<Duration>) -> Result<OwnedSemaphorePermit, GateRefusal> {
        let start = tokio::time::Instant::now();
        let deadline = max_wait.map(|wait| start + wait);
        // The rate turn first: a call whose turn could not come in time is refused at once and
        // costs nothing, so a tenant flooding its gate keeps few calls waiting. (A call refused
        // later for concurrency, or dropped while waiting, loses its turn; the tenant was at its
        // bound anyway.)
        if let Some(interval) = self.interval {
            let slot = match self.next.lock() {
                Ok(mut next) => {
                    let slot = (*next).max(start);
                    if deadline.is_some_and(|deadline| slot > deadline) {
                        return Err(self.refusal(GateLimit::CallsPerSecond));
                    }
                    *next = slot + interval;
                    slot
                }
                Err(_) => start,
            };
            tokio::time::sleep_until(slot).await;
        }
        let acquire = self.permits.clone().acquire_owned();
        let permit = match deadline {
            Some(deadline) => {
                tokio::time::timeout_at(deadline, acquire).await.map_err(|_| self.refusal(GateLimit::Concurrency))?
            }
            None => acquire.await,
        };
        // The semaphore is never closed.
        permit.map_err(|_| self.refusal(GateLimit::Concurrency))
    }

    fn refusal(&self, limit: GateLimit) -> GateRefusal {
        let value = match limit {
            GateLimit::Concurrency => self.concurrency as u64,
            GateLimit::CallsPerSecond => self.per_second.map_or(0, u64::from),
        };
        GateRefusal { limit, value }
    }
}

/// Counts every memory of one instance against a single budget.
#[derive(Debug)]
pub struct SandboxLimiter {
    memory_limit: usize,
    memory_used: usize,
    /// Set when a growth was refused because of the budget.
    pub memory_exceeded: bool,
}

impl SandboxLimiter {
    /// A limiter with `memory_limit` bytes for all memories.
    pub fn new(memory_limit: usize) -> Self {
        Self { memory_limit, memory_used: 0, memory_exceeded: false }
    }

    /// Bytes of linear memory in use across all memories.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

/// Most tables, memories and instances one connector instance may create: generous for
/// components built by wit-bindgen/wasm-component-ld (a handful each), small enough to stop abuse.
const MAX_OBJECTS: usize = 64;
/// Most elements of one table.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for SandboxLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let total = self.memory_used.saturating_add(desired.saturating_sub(current));
        if total > self.memory_limit {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        MAX_OBJECTS
    }

    fn tables(&self) -> usize {
        MAX_OBJECTS
    }

    fn memories(&self) -> usize {
        MAX_OBJECTS
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    const T1: &str = "2b6e1a54-0d1c-4f76-9f1e-1c3a2f0b9e11";
    const T2: &str = "9a0c2d41-5b7e-4e0f-8c3a-6d1e2f3a4b5c";

    fn policy(rules: &[&str]) -> LimitPolicy {
        LimitPolicy::parse(&rules.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_most_specific_rule_sets_each_call_limit() {
        let p = policy(&[
            "connector=* cpu_ms=100",
            "connector=mypay memory_mb=128 wall_ms=60000",
            // Written in capitals, matched as ids are written everywhere: lower-case.
            "tenant=2B6E1A54-0D1C-4F76-9F1E-1C3A2F0B9E11 memory_mb=16 concurrency=2",
            "tenant=* calls_per_second=50",
        ]);
        let base = Limits::default();
        // t1 on mypay: its own memory, mypay's wall time, everyone's CPU time.
        let t1 = p.call_limits(base, "mypay", T1);
        assert_eq!((t1.memory_bytes, t1.wall_ms, t1.cpu_ms), (16 << 20, 60_000, 100));
        // Another tenant on another connector: `*`'s CPU, the runtime's memory and wall time.
        let other = p.call_limits(base, "iris", T2);
        assert_eq!((other.memory_bytes, other.wall_ms, other.cpu_ms), (base.memory_bytes, base.wall_ms, 100));
        // Gates: a tenant's own rule over `*`.
        assert_eq!((p.tenant(T1).concurrency, p.tenant(T1).calls_per_second), (Some(2), Some(50)));
        assert_eq!(p.tenant(T2).concurrency, None);
        assert_eq!(p.largest_memory(), Some(128 << 20));
        assert!(!p.connector("mypay").gates());
    }

    #[test]
    fn a_bad_rule_is_refused_with_its_text() {
        let rules = |r: &[&str]| LimitPolicy::parse(&r.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>());
        for (rule, says) in [
            ("mypay memory_mb=1", "must start with"),
            ("connector=mypay", "sets no limit"),
            ("connector=mypay memory=1", "unknown limit `memory`"),
            ("tenant=* cpu_ms=0", "not a whole number above 0"),
            ("tenant=* cpu_ms=lots", "not a whole number above 0"),
            ("tenant=* cpu_ms", "not key=value"),
            ("tenant=bugliano cpu_ms=1", "neither a tenant's id"),
        ] {
            let error = rules(&[rule]).unwrap_err();
            assert!(error.contains(rule) && error.contains(says), "{rule}: {error}");
        }
        let twice = rules(&["tenant=* cpu_ms=1", "tenant=* wall_ms=1"]).unwrap_err();
        assert!(twice.contains("second rule for tenant *"), "{twice}");
        assert_eq!(rules(&["", "  "]).unwrap(), LimitPolicy::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_queues_calls_over_its_bounds_and_refuses_those_that_cannot_wait() {
        let gate = Gate::new(Some(1), None);
        let first = gate.enter(Some(Duration::from_millis(10))).await.unwrap();
        let refused = gate.enter(Some(Duration::from_millis(10))).await.unwrap_err();
        assert_eq!(refused, GateRefusal { limit: GateLimit::Concurrency, value: 1 });
        drop(first);
        drop(gate.enter(Some(Duration::from_millis(10))).await.unwrap());

        // 10 a second: one every 100 ms. Waiting up to 250 ms, three pass, the fourth is
        // refused at once and takes no turn from the fifth, which may wait longer.
        let paced = Gate::new(None, Some(10));
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            drop(paced.enter(Some(Duration::from_millis(250))).await.unwrap());
        }
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        let _ = paced.enter(Some(Duration::ZERO)).await.unwrap_err();
        drop(paced.enter(None).await.unwrap());
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }

    #[test]
    fn counts_all_memories_against_one_budget() {
        let mut limiter = SandboxLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        // A second memory: 60 + 30 fits.
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        // Growing the first from 60 to 80 would make 110.
        assert!(!limiter.memory_growing(60, 80, None).unwrap());
        assert!(limiter.memory_exceeded);
        assert_eq!(limiter.memory_used(), 90);
    }
}
