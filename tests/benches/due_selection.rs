//! `cargo bench -p cassa-tests --bench due_selection` (part of `just bench`): the poller's
//! due-batch selection (batches of 200) with 1,000,000 open payments of 100 tenants in SQLite
//! and in PostgreSQL, a tenth of them due: the time of the first (cold) batch, then per batch
//! (p50, p99, max of 50) over all tenants (`claim_due_of`) and tenant by tenant as while some
//! tenants' queues are full (`claim_due_for`, 32 tenants asked), and the time of one full pass
//! claiming every due payment. One figure per line as `name: value unit`.
//!
//! `CASSA_BENCH_OPEN` sets the open payments (default 1000000).

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::time::{Duration, Instant};

use cassa::store::{Backend, Store};
use cassa_tests::sqlite_url;

const BATCH: i64 = 200;
const TENANTS: i64 = 100;

/// `open` payments, one in ten of each tenant's due at `now`, the rest due over the next day.
async fn fill(store: &Store, open: i64, now: i64) {
    let select = "'PAYMENT_PENDING', $1, $1, \
        CASE WHEN (i / 100) % 10 = 0 THEN $1 - (i % 1000) ELSE $1 + 60000 + (i % 86400000) END, 1, '{}'";
    let sql = match store.backend() {
        Backend::Sqlite => format!(
            "INSERT INTO payments (id, tenant_id, service_id, remote_id, status, created_at, updated_at, next_check_at, version, event) \
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2) \
             SELECT printf('00000000-0000-4000-8000-%012d', i), printf('00000000-0000-4000-a000-%012d', i % {TENANTS}), \
             printf('00000000-0000-4000-b000-%012d', i % {TENANTS}), printf('00000000-0000-4000-9000-%012d', i), {select} FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO payments (id, tenant_id, service_id, remote_id, status, created_at, updated_at, next_check_at, version, event) \
             SELECT '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), '00000000-0000-4000-a000-' || lpad((i % {TENANTS})::text, 12, '0'), \
             '00000000-0000-4000-b000-' || lpad((i % {TENANTS})::text, 12, '0'), '00000000-0000-4000-9000-' || lpad(i::text, 12, '0'), \
             {select} FROM generate_series(0, $2 - 1) AS i"
        ),
    };
    sqlx::query(&sql).bind(now).bind(open).execute(store.pool()).await.unwrap();
    if store.backend() == Backend::Postgres {
        // A steady table, as in service: not one autovacuum is about to visit.
        sqlx::query("VACUUM ANALYZE payments").execute(store.pool()).await.unwrap();
    }
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

async fn measure(label: &str, store: Store, open: i64) {
    let now = cassa::store::now_ms();
    let filled = Instant::now();
    fill(&store, open, now).await;
    println!("{label}_fill: {open} open payments in {:.1} s", filled.elapsed().as_secs_f64());
    let lease = Duration::from_secs(600);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // The first batch after the fill reads cold pages: reported apart.
    let first = Instant::now();
    store.claim_due_of(now, lease, BATCH).await.unwrap();
    println!("{label}_due_batch_first: {:.1} ms (cold, right after the fill)", ms(first.elapsed()));
    // As the poller claims while some tenants' queues are full: the others one by one, as many
    // as it asks in a round (32), a share of the batch each.
    let asked: Vec<uuid::Uuid> =
        (5..5 + 32).map(|t| format!("00000000-0000-4000-a000-{t:012}").parse().unwrap()).collect();
    let per = BATCH / asked.len() as i64;
    for name in ["all_tenants", "per_tenant_32_asked"] {
        let mut samples = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let claimed = if name == "all_tenants" {
                store.claim_due_of(now, lease, BATCH).await.unwrap()
            } else {
                store.claim_due_for(now, lease, per, &asked).await.unwrap()
            };
            samples.push(started.elapsed());
            let expected = if name == "all_tenants" { BATCH } else { per * asked.len() as i64 };
            assert_eq!(claimed.len() as i64, expected);
        }
        samples.sort_unstable();
        println!(
            "{label}_due_batch_{name}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (batches of {BATCH}, 50 batches)",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99)),
            ms(*samples.last().unwrap())
        );
    }
    // The rest of the due payments, claimed batch by batch: one full pass.
    let started = Instant::now();
    let mut claimed = 51 * BATCH as usize + 50 * (BATCH as usize / 32) * 32;
    loop {
        let batch = store.claim_due_of(now, lease, BATCH).await.unwrap();
        if batch.is_empty() {
            break;
        }
        claimed += batch.len();
    }
    println!(
        "{label}_full_poll_pass: {:.2} s to claim all {claimed} due payments ({} open)",
        started.elapsed().as_secs_f64(),
        open
    );
}

fn main() {
    let open: i64 = std::env::var("CASSA_BENCH_OPEN").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        measure("due_selection_sqlite", Store::connect(&sqlite_url()).await.unwrap(), open).await;
        match cassa_tests::postgres_url().await {
            Some(url) => measure("due_selection_postgres", Store::connect(&url).await.unwrap(), open).await,
            None => println!("due_selection_postgres: skipped (no PostgreSQL)"),
        }
    });
}
