//! `cargo bench -p cassa-tests --bench load_swap` (or `just load-swap`): hot swap under load.
//!
//! 500 `status` calls per second (open loop: a call starts every 2 ms whatever the others do)
//! go through the registry's installed `sandbox` connector to the sandbox intermediary on
//! loopback, for `LOAD_SWAP_SECS` seconds (default 60). Meanwhile a rebuilt version is pushed
//! and activated, rolled back, then another rebuilt version — one this host's compile cache
//! already holds, as after a restart — is pushed and activated, and rolled back. Each call
//! records the digest of the version that served it. Printed as `name: value unit`:
//!
//! - `calls`, `failures`: every call must succeed through every swap.
//! - `swap_latency_cold`: from the start of the upload to the first call served by the new
//!   version, compiling it; `swap_latency_cached`: the same for a version in the compile
//!   cache; `rollback_latency`: from the rollback to the first call served by the old version.
//! - `call_p50`, `call_p99`: latency of the calls, swaps included.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cassa::conformance::{Fake, SandboxFake};
use cassa::registry::Connectors;
use cassa::registry::Registry;
use cassa::runtime::{CallScope, EgressConfig, Runtime, RuntimeConfig, wit};
use cassa_tests::{SANDBOX, with_custom_section};

const PERIOD: Duration = Duration::from_millis(2);

/// One call: when it started, how long it took, which version served it, whether it worked.
struct Sample {
    started: Instant,
    took: Duration,
    digest: String,
    ok: bool,
}

fn runtime(cache: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        egress: EgressConfig { allow_private_networks: true, ..EgressConfig::default() },
        compile_cache: Some(cache.to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// The first call that started after `since` and was served by `digest`: how long after
/// `since` it finished.
fn first_served(samples: &[Sample], since: Instant, digest: &str) -> Option<Duration> {
    samples
        .iter()
        .filter(|s| s.started >= since && s.digest == digest && s.ok)
        .map(|s| (s.started + s.took).duration_since(since))
        .min()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("LOAD_SWAP_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let total = Duration::from_secs(seconds.max(8));
    let scratch = std::env::temp_dir().join(format!("cassa-load-swap-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch).unwrap();
    let cache = scratch.join("compiled");
    let url = format!("sqlite://{}?mode=rwc", scratch.join("cassa.db").display());
    let store = cassa::store::Store::connect(&url).await.unwrap();
    let connectors = Connectors::default();
    let registry = Registry::new(store, runtime(&cache), connectors.clone(), 1_000, None, Vec::new());
    let bundled = registry.bundle(SANDBOX).await.unwrap().digest;
    registry.sync().await.unwrap();

    let fake = SandboxFake::start().await.unwrap();
    let scope = CallScope {
        tenant_id: "00000000-0000-4000-8000-00000000c0de".into(),
        service_id: "00000000-0000-4000-8000-0000000005e7".into(),
        payment_id: None,
        tenant_config: fake.tenant_config(),
        service_config: fake.service_config(),
        allowed_hosts: fake.allowed_hosts(),
        ..CallScope::default()
    };
    let (sandbox, _) = connectors.get("sandbox").unwrap();
    let position = cassa::conformance::sample_position(1_250);
    let created = sandbox.create(&scope, position.clone()).await.unwrap();
    let debt = cassa::conformance::debt_ref(&position, &created);

    // Two rebuilt versions: the first never compiled; the second compiled once by another
    // engine on the same compile cache, as by this host before a restart.
    let cold = with_custom_section(SANDBOX, "cassa-bench-build", b"cold");
    let cached = with_custom_section(SANDBOX, "cassa-bench-build", b"cached");
    runtime(&cache).load(&cached).await.unwrap();

    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let load = {
        let samples = samples.clone();
        let connectors = connectors.clone();
        let scope = scope.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let until = Instant::now() + total;
            let mut calls = Vec::new();
            while Instant::now() < until {
                tick.tick().await;
                let (connector, _) = connectors.get("sandbox").unwrap();
                let (samples, scope, debt) = (samples.clone(), scope.clone(), debt.clone());
                calls.push(tokio::spawn(async move {
                    let started = Instant::now();
                    let status = connector.status(&scope, debt).await;
                    let sample = Sample {
                        started,
                        took: started.elapsed(),
                        digest: connector.digest().to_owned(),
                        ok: matches!(status, Ok(wit::PaymentStatus::Pending)),
                    };
                    if !sample.ok {
                        eprintln!("call failed: {status:?}");
                    }
                    samples.lock().unwrap().push(sample);
                }));
            }
            for call in calls {
                call.await.unwrap();
            }
        })
    };

    let at = |fraction: f64| total.mul_f64(fraction);
    let begun = Instant::now();
    tokio::time::sleep_until((begun + at(0.15)).into()).await;
    let cold_swap = Instant::now();
    let pushed = registry.push(&cold, None).await.unwrap().artifact.digest;
    registry.activate("sandbox", &pushed, "activate").await.unwrap();
    tokio::time::sleep_until((begun + at(0.40)).into()).await;
    let first_rollback = Instant::now();
    registry.rollback("sandbox").await.unwrap();
    tokio::time::sleep_until((begun + at(0.60)).into()).await;
    let cached_swap = Instant::now();
    let pushed_cached = registry.push(&cached, None).await.unwrap().artifact.digest;
    registry.activate("sandbox", &pushed_cached, "activate").await.unwrap();
    tokio::time::sleep_until((begun + at(0.80)).into()).await;
    let second_rollback = Instant::now();
    registry.rollback("sandbox").await.unwrap();
    load.await.unwrap();

    let samples = samples.lock().unwrap();
    let failures = samples.iter().filter(|s| !s.ok).count();
    let mut took: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    took.sort();
    let pct = |p: f64| took[((took.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e3));
    let served = |digest: &str| samples.iter().filter(|s| s.digest == digest).count();
    println!("duration: {} s", total.as_secs());
    println!("calls: {} calls", samples.len());
    println!("call_rate: {:.0} calls/s", samples.len() as f64 / total.as_secs_f64());
    println!("failures: {failures} calls");
    println!("swap_latency_cold: {} ms", ms(first_served(&samples, cold_swap, &pushed)));
    println!("swap_latency_cached: {} ms", ms(first_served(&samples, cached_swap, &pushed_cached)));
    println!("rollback_latency: {} ms", ms(first_served(&samples, first_rollback, &bundled)));
    println!("rollback_latency_second: {} ms", ms(first_served(&samples, second_rollback, &bundled)));
    println!(
        "calls_by_version: bundled {}, cold {}, cached {} calls",
        served(&bundled),
        served(&pushed),
        served(&pushed_cached)
    );
    println!("call_p50: {:.2} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("call_p99: {:.2} ms", pct(0.99).as_secs_f64() * 1e3);
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(failures, 0, "calls failed during the swaps");
}
