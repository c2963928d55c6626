//! `cargo bench -p cassa-tests --bench slow_intermediary` (part of `just bench`): ten tenants,
//! each on its own loopback intermediary answering every request in 200 ms, create their
//! payments alone, then again beside an eleventh tenant whose intermediary hangs on every call.
//! Measured side by side in one run: the ten tenants' creation rate and p99 time from
//! submission to `PAYMENT_PENDING`, and what the intermediaries' concurrency allows. One figure
//! per line as `name: value unit`.
//!
//! `CASSA_BENCH_PAYMENTS` sets the applications per tenant (default 400: enough for the rate to
//! be the steady one, not the first and last 200 ms).

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cassa::bus::Topics;
use cassa::conformance::SandboxFake;
use cassa::runtime::Limits;
use cassa::store::Store;
use cassa_tests::{EchoServer, FaultyProxy, TestPipeline, application_of, put_tenant_at, sqlite_url};

const TENANTS: usize = 10;
/// Calls at once to one intermediary endpoint (the pipeline's connector gate).
const GATE: usize = 16;
const LATENCY: Duration = Duration::from_millis(200);

/// A new tenant and its service against `base_url`; returns their ids.
async fn tenant(store: &Store, fake: &SandboxFake, base_url: &str) -> (uuid::Uuid, uuid::Uuid) {
    let (tenant, service) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    put_tenant_at(store, fake, tenant, service, base_url).await;
    (tenant, service)
}

/// One leg: `per_tenant` applications for each of `tenants`, after `hanging` applications of
/// the hanging tenant when there is one; returns (rate of the tenants' creations in payments/s,
/// p99 time to PAYMENT_PENDING).
async fn leg(
    host: &TestPipeline,
    store: &Store,
    core: &str,
    tenants: &[(uuid::Uuid, uuid::Uuid)],
    hanging: Option<(uuid::Uuid, uuid::Uuid)>,
    per_tenant: usize,
) -> (f64, Duration) {
    let topic = &host.pipeline.config.topics.applications;
    let publish = |tenant, service| application_of(core, tenant, service);
    if let Some((tenant, service)) = hanging {
        for _ in 0..per_tenant * 2 {
            let (_, bytes) = publish(tenant, service);
            host.pipeline.bus.publish(topic, "hang", &bytes).await.unwrap();
        }
        // Its calls are under way before the others arrive.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let started = Instant::now();
    let started_ms = cassa::store::now_ms();
    let mut submitted: HashMap<uuid::Uuid, Instant> = HashMap::new();
    // Published a round of every tenant at a time, so the publisher is not what paces the
    // creations.
    for round in 0..per_tenant {
        let mut batch = Vec::new();
        for (tenant, service) in tenants {
            let (remote, bytes) = publish(*tenant, *service);
            batch.push((round.to_string(), bytes));
            submitted.insert(remote, Instant::now());
        }
        host.pipeline.bus.publish_batch(topic, &batch).await.unwrap();
    }
    // One query a round for what became PAYMENT_PENDING lately (an `updated_at` is the whole
    // second the proxy decided in, which can be a little before it wrote): the time to it of
    // each one seen first.
    let mut latencies = Vec::new();
    let mut seen: std::collections::HashSet<uuid::Uuid> = std::collections::HashSet::new();
    let mut round = started_ms;
    while seen.len() < submitted.len() {
        let open = submitted.len() - seen.len();
        assert!(started.elapsed() < Duration::from_secs(600), "{open} payments never became PAYMENT_PENDING");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let since = round - 2_000;
        round = cassa::store::now_ms();
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT remote_id FROM payments WHERE status = 'PAYMENT_PENDING' AND updated_at >= $1")
                .bind(since)
                .fetch_all(store.pool())
                .await
                .unwrap();
        for remote in rows {
            if let Ok(remote) = remote.parse::<uuid::Uuid>()
                && let Some(at) = submitted.get(&remote)
                && seen.insert(remote)
            {
                latencies.push(at.elapsed());
            }
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    (submitted.len() as f64 / elapsed.as_secs_f64(), p99)
}

fn main() {
    let per_tenant: usize = std::env::var("CASSA_BENCH_PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let store = Store::connect(&sqlite_url()).await.unwrap();
        let fake = SandboxFake::start().await.unwrap();
        let core = EchoServer::start().await;
        let bus = std::sync::Arc::new(cassa::bus::embedded::EmbeddedBus::new(store.clone()));
        let host = TestPipeline::start_tuned(store.clone(), &fake, bus, Topics::default(), Limits::default(), None, |c| {
            // Enough places for every intermediary's gate: the gates, not the places, bound the rate.
            c.create_concurrency = 2 * (TENANTS + 1) * GATE;
        })
        .await;
        let mut proxies = Vec::new();
        let mut tenants = Vec::new();
        for _ in 0..TENANTS {
            let proxy = FaultyProxy::start_slow(&fake.base_url, [0, 0, 0, 0], Duration::ZERO, LATENCY).await;
            tenants.push(tenant(&store, &fake, &proxy.url()).await);
            proxies.push(proxy);
        }
        // The hanging intermediary accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hanging_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let hanging = tenant(&store, &fake, &hanging_url).await;

        let allowed = (TENANTS * GATE) as f64 / LATENCY.as_secs_f64();
        let (alone_rate, alone_p99) = leg(&host, &store, &core.url(), &tenants, None, per_tenant).await;
        let (beside_rate, beside_p99) = leg(&host, &store, &core.url(), &tenants, Some(hanging), per_tenant).await;
        println!("slow_intermediary_payments: {} per leg ({TENANTS} tenants × {per_tenant})", TENANTS * per_tenant);
        println!("slow_intermediary_allowed_rate: {allowed:.0} payments/s ({TENANTS} intermediaries × {GATE} calls at once / 200 ms)");
        println!("slow_intermediary_alone_rate: {alone_rate:.0} payments/s");
        println!("slow_intermediary_alone_p99: {:.0} ms", alone_p99.as_secs_f64() * 1000.0);
        println!("slow_intermediary_with_hanging_rate: {beside_rate:.0} payments/s");
        println!("slow_intermediary_with_hanging_p99: {:.0} ms", beside_p99.as_secs_f64() * 1000.0);
        println!("slow_intermediary_rate_ratio: {:.2} (with hanging / alone)", beside_rate / alone_rate);
        println!("slow_intermediary_p99_ratio: {:.2} (with hanging / alone)", beside_p99.as_secs_f64() / alone_p99.as_secs_f64());
        println!("slow_intermediary_rate_of_allowed: {:.0} %", 100.0 * alone_rate / allowed);
        host.shutdown().await;
    });
}
