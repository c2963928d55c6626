//! `cargo bench -p cassa-tests --bench pipeline` (part of `just bench`): end-to-end payments per
//! second — application events in → `PAYMENT_PENDING` out and in the view, the sandbox
//! intermediary on loopback — and, measured in the same run, the raw bus rate of producing and
//! consuming the same messages. One figure per line as `name: value unit`.
//!
//! `CASSA_BENCH_PAYMENTS` sets how many applications (default 2000); `CASSA_BENCH_TRACE=1`
//! prints the progress of every stage every 20 ms; `CASSA_BENCH_ONLY=kafka` (or `sqlite`) runs
//! that leg alone.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::time::{Duration, Instant};

use std::sync::Arc;

use cassa::bus::kafka::{KafkaBus, KafkaConfig};
use cassa::bus::{Bus, Topics, embedded::EmbeddedBus};
use cassa::conformance::SandboxFake;
use cassa::domain::PaymentStatus;
use cassa::store::{PaymentFilter, Store};
use cassa_tests::{EchoServer, SERVICE, TestPipeline, application, sqlite_url};

/// Messages per produce batch, on both paths.
const BATCH: usize = 100;

/// Applications that go through before the clock starts.
const WARMUP: usize = 100;

async fn pending(store: &Store) -> usize {
    let rows = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM payments WHERE status = $1")
        .bind(PaymentStatus::PaymentPending.as_str())
        .fetch_one(store.pool())
        .await
        .unwrap();
    usize::try_from(rows).unwrap()
}

async fn end_to_end(label: &str, store: Store, bus: Arc<dyn Bus>, topics: Topics, raw_topic: &str, n: usize) {
    let fake = SandboxFake::start().await.unwrap();
    let core = EchoServer::start().await;
    let host = TestPipeline::start_with(store.clone(), &fake, bus.clone(), topics.clone()).await;
    // Warm-up: every stage subscribed, its consumer group joined and its partitions assigned
    // (a few hundred milliseconds on Kafka) before the clock starts — the figure is the
    // pipeline's steady rate, not its start-up.
    let warmup: Vec<(String, Vec<u8>)> =
        (0..WARMUP).map(|_| (SERVICE.to_owned(), application(&core.url()).1)).collect();
    host.pipeline.bus.publish_batch(&topics.applications, &warmup).await.unwrap();
    let warm = Instant::now();
    while pending(&store).await < WARMUP {
        assert!(warm.elapsed() < Duration::from_secs(60), "{label}: the warm-up stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let messages: Vec<Vec<u8>> = (0..n).map(|_| application(&core.url()).1).collect();
    let started = Instant::now();
    // As a core's relay delivers them: in batches.
    for chunk in messages.chunks(BATCH) {
        let batch: Vec<(String, Vec<u8>)> = chunk.iter().map(|m| (SERVICE.to_owned(), m.clone())).collect();
        host.pipeline.bus.publish_batch(&topics.applications, &batch).await.unwrap();
    }
    let published = started.elapsed();
    let trace = std::env::var_os("CASSA_BENCH_TRACE").is_some();
    while pending(&store).await < WARMUP + n {
        assert!(started.elapsed() < Duration::from_secs(180), "{label}: the pipeline stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
        if trace {
            let count = |sql: &'static str| {
                let store = store.clone();
                async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool()).await.unwrap_or(-1) }
            };
            eprintln!(
                "{:>6} ms  payments {:>5}  outbox {:>5}  pending {:>5}",
                started.elapsed().as_millis(),
                count("SELECT COUNT(*) FROM payments").await,
                count("SELECT COUNT(*) FROM outbox WHERE published = 0").await,
                pending(&store).await
            );
        }
    }
    let elapsed = started.elapsed();
    // In the view: every one queryable by the API's filters.
    let listed = store
        .payments(&PaymentFilter { status: Some(PaymentStatus::PaymentPending), limit: 1, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    host.shutdown().await;
    println!("{label}_payments: {n} payments (after {WARMUP} to warm up)");
    println!("{label}_publish_time: {:.2} s", published.as_secs_f64());
    println!("{label}_end_to_end_rate: {:.0} payments/s", n as f64 / elapsed.as_secs_f64());

    // The same messages through the bus alone, on a fresh topic.
    let started = Instant::now();
    for chunk in messages.chunks(BATCH) {
        let batch: Vec<(String, Vec<u8>)> = chunk.iter().map(|m| (SERVICE.to_owned(), m.clone())).collect();
        bus.publish_batch(raw_topic, &batch).await.unwrap();
    }
    let mut consumer = bus.subscribe("bench", raw_topic).await.unwrap();
    let mut seen = 0;
    let mut last_progress = Instant::now();
    while seen < n {
        let batch = consumer.poll(500, Duration::from_millis(100)).await.unwrap();
        if !batch.is_empty() {
            last_progress = Instant::now();
        }
        seen += batch.len();
        consumer.commit(&batch).await.unwrap();
        // librdkafka's mock cluster may never hand a group the messages published before it
        // joined: say so instead of waiting for ever.
        if last_progress.elapsed() > Duration::from_secs(30) {
            println!("{label}_bus_produce_consume_rate: not measured (the consumer saw {seen} of {n} in 30 s)");
            return;
        }
    }
    let raw = started.elapsed();
    println!("{label}_bus_produce_consume_rate: {:.0} messages/s", n as f64 / raw.as_secs_f64());
}

fn main() {
    let n: usize = std::env::var("CASSA_BENCH_PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let embedded = |store: &Store| -> Arc<dyn Bus> { Arc::new(EmbeddedBus::new(store.clone())) };
        // CASSA_BENCH_ONLY=kafka (or sqlite) runs that leg alone.
        let only = std::env::var("CASSA_BENCH_ONLY").unwrap_or_default();
        let kafka_only = only == "kafka";
        if !kafka_only {
            let store = Store::connect(&sqlite_url()).await.unwrap();
            end_to_end("embedded_sqlite", store.clone(), embedded(&store), Topics::default(), "bench.raw", n).await;
        }
        if only == "sqlite" {
            return;
        }
        let postgres = cassa_tests::postgres_url().await;
        match &postgres {
            Some(_) if kafka_only => {}
            Some(url) => {
                let store = Store::connect(url).await.unwrap();
                end_to_end("embedded_postgres", store.clone(), embedded(&store), Topics::default(), "bench.raw", n)
                    .await;
            }
            None => println!("embedded_postgres: skipped (no PostgreSQL)"),
        }
        // Kafka: the broker of CASSA_TEST_KAFKA_BROKERS, else librdkafka's mock cluster.
        let (brokers, cluster) = cassa_tests::kafka_brokers();
        let topics = cassa_tests::unique_topics();
        let raw = format!("bench.raw-{}", uuid::Uuid::new_v4().simple());
        if let Some(cluster) = &cluster {
            for topic in [&topics.applications, &topics.payments, &topics.dlq, &raw] {
                cluster.create_topic(topic, 3, 1).unwrap();
            }
        }
        let config = KafkaConfig { brokers, partitions: 3, ..KafkaConfig::default() };
        let bus =
            KafkaBus::connect(config, &[&topics.applications, &topics.payments, &topics.dlq, &raw]).await.unwrap();
        let store = match &postgres {
            Some(_) => Store::connect(&cassa_tests::postgres_url().await.unwrap()).await.unwrap(),
            None => Store::connect(&sqlite_url()).await.unwrap(),
        };
        let label = if cluster.is_some() { "kafka_mock" } else { "kafka" };
        end_to_end(label, store, Arc::new(bus), topics, &raw, n).await;
    });
}
