//! `cargo bench -p cassa-tests --bench concurrent_slow_calls` (part of `just bench`): 2,000
//! `create` calls of the sandbox connector in flight at once against an intermediary answering
//! every request in 1 s: calls/s and the process's peak resident memory (the connector's
//! sandboxes, the HTTP client and the in-process intermediary together). One figure per line as
//! `name: value unit`.
//!
//! `CASSA_BENCH_CALLS` sets the calls (default 2000); `CASSA_BENCH_INSTANCES` the runtime's
//! instance slots (default as many as the calls).

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::time::{Duration, Instant};

use cassa::conformance::{Fake as _, SandboxFake};
use cassa::runtime::{CallScope, EgressConfig, Limits, Runtime, RuntimeConfig, debt_position};
use cassa_tests::{FaultyProxy, SANDBOX};

/// The process's peak resident set, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let calls: usize = std::env::var("CASSA_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let slots: u32 = std::env::var("CASSA_BENCH_INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(calls as u32);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let fake = SandboxFake::start().await.unwrap();
        let proxy = FaultyProxy::start_slow(&fake.base_url, [0, 0, 0, 0], Duration::ZERO, Duration::from_secs(1)).await;
        let runtime = Runtime::new(RuntimeConfig {
            limits: Limits::default(),
            egress: EgressConfig { allow_private_networks: true, ..EgressConfig::default() },
            max_instances: slots,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let connector = runtime.load(SANDBOX).await.unwrap();
        let scope = CallScope {
            tenant_config: fake.tenant_config_at(&proxy.url()),
            service_config: fake.service_config(),
            allowed_hosts: vec![proxy.url().trim_start_matches("http://").to_owned()],
            ..CallScope::default()
        };
        let template: cassa::domain::PaymentEvent =
            serde_json::from_str(include_str!("../examples/payment_creation_pending.json")).unwrap();
        let before = peak_rss_kib();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..calls {
            let (connector, scope) = (connector.clone(), scope.clone());
            let mut payment = template.clone();
            payment.id = uuid::Uuid::new_v4();
            payment.payment.iud = format!("bench-{n}-{}", payment.id.simple());
            tasks.spawn(async move { connector.create(&scope, debt_position(&payment)).await });
        }
        let mut failed = Vec::new();
        while let Some(done) = tasks.join_next().await {
            if let Err(error) = done.unwrap() {
                failed.push(error.to_string());
            }
        }
        let elapsed = started.elapsed();
        let peak = peak_rss_kib();
        println!("concurrent_slow_calls_calls: {calls} in flight at once, intermediary answering in 1 s, {slots} instance slots");
        println!("concurrent_slow_calls_rate: {:.0} calls/s", calls as f64 / elapsed.as_secs_f64());
        println!("concurrent_slow_calls_elapsed: {:.2} s", elapsed.as_secs_f64());
        println!("concurrent_slow_calls_failed: {}", failed.len());
        println!("concurrent_slow_calls_peak_rss: {} MiB (before the calls: {} MiB)", peak / 1024, before / 1024);
        if let Some(first) = failed.first() {
            println!("concurrent_slow_calls_first_failure: {first}");
        }
    });
}
