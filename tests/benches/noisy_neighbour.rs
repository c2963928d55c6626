//! `cargo bench -p cassa-tests --bench noisy_neighbour` (or `just noisy-neighbour`): does one
//! tenant's hostile connector hurt another tenant on the same host?
//!
//! Tenant B calls the `sandbox` connector's `status` against the sandbox intermediary on loopback,
//! closed loop: `B_WORKERS` callers, each starting its next call when the last one ends, as fast
//! as the host serves them. Tenant A runs the hostile connector and floods: it offers
//! `A_OFFERED` calls a second (a new call every millisecond whatever happened to the others),
//! each one spinning forever, allocating until it cannot, or writing thousands of log and
//! stdout lines, in turn. A is held by the operator's rule
//! `tenant=<A> concurrency=2 calls_per_second=10 cpu_ms=10 memory_mb=16 wall_ms=1000`.
//!
//! Phases of `NOISY_SECS` seconds (default 8) alternate, B alone then B with A, three times, on
//! the same host and connectors; B's throughput and p99 latency are compared over the pooled
//! phases. A last, shorter phase runs A with the same per-call limits but without its concurrency
//! and rate bounds, to show what those bounds are for (not asserted). Printed as
//! `name: value unit`; the run fails when B's throughput or p99 with A is more than 10% worse
//! than alone, or when any B call fails.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cassa::conformance::{Fake, SandboxFake};
use cassa::registry::Connectors;
use cassa::runtime::{CallScope, Connector, EgressConfig, LimitPolicy, Runtime, RuntimeConfig, wit};
use cassa_tests::{HOSTILE, SANDBOX, any_debt};
use tokio_util::sync::CancellationToken;

const TENANT_A: &str = "00000000-0000-4000-8000-00000000000a";
const TENANT_A_UNBOUNDED: &str = "00000000-0000-4000-8000-0000000000aa";
const TENANT_B: &str = "00000000-0000-4000-8000-00000000000b";
const B_WORKERS: usize = 4;
const A_OFFERED: u32 = 1_000;
const ROUNDS: usize = 3;
const A_MODES: [&str; 3] = ["loop", "memory", "flood"];

/// What B saw in one condition, pooled over its phases.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

impl Seen {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn p99(&mut self) -> Duration {
        self.latencies.sort();
        let rank = ((self.latencies.len() as f64 - 1.0) * 0.99).round() as usize;
        self.latencies[rank.min(self.latencies.len() - 1)]
    }
}

/// B's closed loop for `length`: `B_WORKERS` callers back to back.
async fn tenant_b(connector: &Connector, scope: &CallScope, debt: &wit::DebtRef, length: Duration, seen: &mut Seen) {
    let until = Instant::now() + length;
    let started = Instant::now();
    let workers: Vec<_> = (0..B_WORKERS)
        .map(|_| {
            let (connector, scope, debt) = (connector.clone(), scope.clone(), debt.clone());
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0);
                while Instant::now() < until {
                    let call = Instant::now();
                    match connector.status(&scope, debt.clone()).await {
                        Ok(wit::PaymentStatus::Pending) => latencies.push(call.elapsed()),
                        other => {
                            failures += 1;
                            eprintln!("tenant B's call failed: {other:?}");
                        }
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    for worker in workers {
        let (latencies, failures) = worker.await.unwrap();
        seen.latencies.extend(latencies);
        seen.failures += failures;
    }
    seen.elapsed += started.elapsed();
}

/// A's flood: a new call every millisecond until `stop`; the calls still running then are
/// dropped. Counts the outcomes by kind.
fn tenant_a(
    connectors: Connectors,
    connector: Connector,
    tenant: &'static str,
    stop: CancellationToken,
    outcomes: Arc<Mutex<BTreeMap<&'static str, u64>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / A_OFFERED);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut calls = tokio::task::JoinSet::new();
        let mut n = 0usize;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            while calls.try_join_next().is_some() {}
            let (limits, gate) = connectors.limits_for(&connector, tenant);
            let scope = CallScope {
                tenant_id: tenant.into(),
                service_id: "service-a".into(),
                service_config: serde_json::json!({ "mode": A_MODES[n % A_MODES.len()] }),
                limits: Some(limits),
                gate,
                ..CallScope::default()
            };
            n += 1;
            let (connector, outcomes) = (connector.clone(), outcomes.clone());
            calls.spawn(async move {
                let kind = match connector.status(&scope, any_debt()).await {
                    Ok(_) => "ok",
                    Err(error) => error.kind(),
                };
                *outcomes.lock().unwrap().entry(kind).or_default() += 1;
            });
        }
        calls.abort_all();
        while calls.join_next().await.is_some() {}
    })
}

fn change(with: f64, alone: f64) -> f64 {
    (with - alone) / alone * 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("NOISY_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let phase = Duration::from_secs(seconds.max(2));
    let rules = [
        format!("tenant={TENANT_A} concurrency=2 calls_per_second=10 cpu_ms=10 memory_mb=16 wall_ms=1000"),
        format!("tenant={TENANT_A_UNBOUNDED} cpu_ms=10 memory_mb=16 wall_ms=1000"),
    ];
    let connectors = Connectors::new(LimitPolicy::parse(&rules).unwrap());
    let runtime = Runtime::new(RuntimeConfig {
        egress: EgressConfig { allow_private_networks: true, ..EgressConfig::default() },
        ..RuntimeConfig::default()
    })
    .unwrap();
    connectors.install(runtime.load(SANDBOX).await.unwrap(), 1_000, None);
    connectors.install(runtime.load(HOSTILE).await.unwrap(), 1_000, None);
    let (sandbox, _) = connectors.get("sandbox").unwrap();
    let (hostile, _) = connectors.get("hostile").unwrap();

    let fake = SandboxFake::start().await.unwrap();
    let (limits, gate) = connectors.limits_for(&sandbox, TENANT_B);
    let scope = CallScope {
        tenant_id: TENANT_B.into(),
        service_id: "00000000-0000-4000-8000-0000000005e7".into(),
        payment_id: None,
        tenant_config: fake.tenant_config(),
        service_config: fake.service_config(),
        allowed_hosts: fake.allowed_hosts(),
        limits: Some(limits),
        gate,
        intermediary: None,
    };
    let position = cassa::conformance::sample_position(1_250);
    let created = sandbox.create(&scope, position.clone()).await.unwrap();
    let debt = cassa::conformance::debt_ref(&position, &created);
    // Warm-up: connections, caches, the allocator's pool.
    tenant_b(&sandbox, &scope, &debt, Duration::from_secs(1), &mut Seen::default()).await;

    let (mut alone, mut with_a) = (Seen::default(), Seen::default());
    let outcomes = Arc::new(Mutex::new(BTreeMap::new()));
    for _ in 0..ROUNDS {
        tenant_b(&sandbox, &scope, &debt, phase, &mut alone).await;
        let stop = CancellationToken::new();
        let flood = tenant_a(connectors.clone(), hostile.clone(), TENANT_A, stop.clone(), outcomes.clone());
        tenant_b(&sandbox, &scope, &debt, phase, &mut with_a).await;
        stop.cancel();
        flood.await.unwrap();
    }
    let mut unbounded = Seen::default();
    let unbounded_outcomes = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = CancellationToken::new();
    let flood =
        tenant_a(connectors.clone(), hostile.clone(), TENANT_A_UNBOUNDED, stop.clone(), unbounded_outcomes.clone());
    tenant_b(&sandbox, &scope, &debt, phase / 2, &mut unbounded).await;
    stop.cancel();
    flood.await.unwrap();

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (alone_p99, with_p99, unbounded_p99) = (alone.p99(), with_a.p99(), unbounded.p99());
    println!("phase: {} s x {ROUNDS} per condition", phase.as_secs());
    println!("b_workers: {B_WORKERS} callers");
    println!("a_offered: {A_OFFERED} calls/s");
    println!("b_throughput_alone: {:.0} calls/s", alone.throughput());
    println!("b_throughput_with_a: {:.0} calls/s", with_a.throughput());
    println!("b_throughput_change: {:+.1} %", change(with_a.throughput(), alone.throughput()));
    println!("b_p99_alone: {:.3} ms", ms(alone_p99));
    println!("b_p99_with_a: {:.3} ms", ms(with_p99));
    println!("b_p99_change: {:+.1} %", change(ms(with_p99), ms(alone_p99)));
    println!("b_failures: {} calls", alone.failures + with_a.failures);
    let outcomes = outcomes.lock().unwrap();
    for (kind, count) in outcomes.iter() {
        println!("a_outcome_{kind}: {count} calls");
    }
    println!("b_throughput_with_unbounded_a: {:.0} calls/s", unbounded.throughput());
    println!("b_p99_with_unbounded_a: {:.3} ms", ms(unbounded_p99));
    println!("b_failures_with_unbounded_a: {} calls", unbounded.failures);
    for (kind, count) in unbounded_outcomes.lock().unwrap().iter() {
        println!("unbounded_a_outcome_{kind}: {count} calls");
    }
    assert_eq!(alone.failures + with_a.failures, 0, "tenant B's calls failed");
    assert!(
        change(with_a.throughput(), alone.throughput()) > -10.0,
        "tenant B's throughput fell by more than 10% with tenant A"
    );
    assert!(change(ms(with_p99), ms(alone_p99)) < 10.0, "tenant B's p99 latency rose by more than 10% with tenant A");
}
