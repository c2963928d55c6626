//! `cargo bench -p cassa-tests --bench soak` (`just soak`; not in CI: it runs about half an
//! hour): 1,000,000 payments through the embedded default (SQLite, the embedded bus, the
//! sandbox intermediary on loopback) with every stage running, the poller included. Reports the
//! creation rate of each 100,000 (it must not fall as the tables grow), the due-batch selection
//! time at the end, and the database's size before and after the log is trimmed. One figure per
//! line as `name: value unit`.
//!
//! `CASSA_BENCH_PAYMENTS` sets the payments (default 1000000); `CASSA_BENCH_PROGRESS` prints
//! the creations and the overdue checks every 10 s on stderr.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cassa::bus::{Bus, Topics, embedded::EmbeddedBus};
use cassa::conformance::SandboxFake;
use cassa::store::Store;
use cassa_tests::{EchoServer, SERVICE, TestPipeline, application, sqlite_url};

const STEP: usize = 100_000;
/// Applications published ahead of the payments created.
const AHEAD: usize = 20_000;

async fn scalar(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()).await.unwrap()
}

/// Bytes of the SQLite database in use (pages minus free pages).
async fn used_bytes(store: &Store) -> i64 {
    let page = scalar(store, "PRAGMA page_size").await;
    (scalar(store, "PRAGMA page_count").await - scalar(store, "PRAGMA freelist_count").await) * page
}

async fn created(store: &Store) -> usize {
    let n = scalar(store, "SELECT COUNT(*) FROM payments WHERE status <> 'CREATION_PENDING'").await;
    usize::try_from(n).unwrap()
}

fn main() {
    let total: usize = std::env::var("CASSA_BENCH_PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let store = Store::connect(&sqlite_url()).await.unwrap();
        let fake = SandboxFake::start().await.unwrap();
        let core = EchoServer::start().await;
        let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::new(store.clone()));
        let host = TestPipeline::start_tuned(
            store.clone(),
            &fake,
            bus.clone(),
            Topics::default(),
            Default::default(),
            None,
            |c| {
                // The production schedule of checks, not the tests' quick one; the log kept for
                // the run and trimmed at the end, so both sizes can be read.
                c.poll_interval_ms = 1_000;
                c.log_retention_ms = 3_600_000;
            },
        )
        .await;
        let topic = host.pipeline.config.topics.applications.clone();
        let started = Instant::now();
        let (mut published, mut step_started, mut next_step) = (0, Instant::now(), STEP.min(total));
        let progress = std::env::var_os("CASSA_BENCH_PROGRESS").is_some();
        let (mut last_progress, mut done_before) = (Instant::now(), 0);
        loop {
            let done = created(&store).await;
            while published < total && published < done + AHEAD {
                let batch: Vec<(String, Vec<u8>)> = (0..1000.min(total - published))
                    .map(|_| (SERVICE.to_owned(), application(&core.url()).1))
                    .collect();
                published += batch.len();
                bus.publish_batch(&topic, &batch).await.unwrap();
            }
            if done >= next_step {
                let rate = STEP.min(total) as f64 / step_started.elapsed().as_secs_f64();
                println!("soak_creation_rate_at_{next_step}: {rate:.0} payments/s");
                step_started = Instant::now();
                if next_step >= total {
                    break;
                }
                next_step = (next_step + STEP).min(total);
            }
            if progress && last_progress.elapsed() >= Duration::from_secs(10) {
                let now = cassa::store::now_ms();
                let overdue =
                    scalar(&store, &format!("SELECT COUNT(*) FROM payments WHERE next_check_at < {now}")).await;
                eprintln!(
                    "soak progress at {:.0} s: {done} created ({:.0}/s), {overdue} checks overdue",
                    started.elapsed().as_secs_f64(),
                    (done - done_before) as f64 / last_progress.elapsed().as_secs_f64()
                );
                (last_progress, done_before) = (Instant::now(), done);
            }
            assert!(started.elapsed() < Duration::from_secs(4 * 3600), "the soak did not finish in four hours");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("soak_payments: {total} in {:.0} s", started.elapsed().as_secs_f64());
        host.shutdown().await;

        let now = cassa::store::now_ms();
        let lease = Duration::from_secs(60);
        let mut samples = Vec::new();
        for _ in 0..20 {
            let claimed = Instant::now();
            store.claim_due_of(now + 86_400_000, lease, 200).await.unwrap();
            samples.push(claimed.elapsed());
        }
        samples.sort_unstable();
        println!(
            "soak_due_batch_at_end: p50 {:.1} ms, max {:.1} ms (batches of 200, {} open)",
            samples[samples.len() / 2].as_secs_f64() * 1000.0,
            samples.last().unwrap().as_secs_f64() * 1000.0,
            scalar(&store, "SELECT COUNT(*) FROM payments WHERE next_check_at IS NOT NULL").await
        );
        let log = scalar(&store, "SELECT COUNT(*) FROM outbox").await;
        let before = used_bytes(&store).await;
        let trimmed = Instant::now();
        let mut removed = 0;
        loop {
            let n = store.trim_log(cassa::store::now_ms() + 1_000, 50_000).await.unwrap();
            if n == 0 {
                break;
            }
            removed += n;
        }
        let after = used_bytes(&store).await;
        println!("soak_log_entries: {log} before trimming, {} after", log - removed as i64);
        println!(
            "soak_database_size: {:.0} MiB before trimming, {:.0} MiB after ({:.1} s to trim)",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            trimmed.elapsed().as_secs_f64()
        );
    });
}
