//! Prometheus metrics, served at `/metrics`.
//!
//! Counters and the latency histogram are recorded where things happen, through the `metrics`
//! facade (a no-op until [`handle`] installs the Prometheus recorder). Gauges that describe
//! shared state (outbox backlog, DLQ size, due payments, consumer lag, carts) are read from the
//! store or the bus (Kafka: watermarks and the groups' committed offsets) at each scrape, so
//! every replica reports the same figures.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `cassa_payments_created_total` | counter | `tenant` |
//! | `cassa_processing_errors_total` | counter | `stage`, `reason` |
//! | `cassa_events_consumed_total` | counter | `stage` |
//! | `cassa_consumer_lag` | gauge | `stage` (those this host runs) |
//! | `cassa_dlq_messages` | gauge | — |
//! | `cassa_outbox_backlog` | gauge | — |
//! | `cassa_connector_calls_total` | counter | `connector`, `version`, `tenant`, `operation`, `outcome` |
//! | `cassa_connector_call_duration_seconds` | histogram | `connector`, `operation` |
//! | `cassa_limit_exceeded_total` | counter | `connector`, `tenant`, `limit` (`memory`, `cpu`, `wall`, `concurrency`, `calls_per_second`) |
//! | `cassa_poller_due_payments` | gauge | — |
//! | `cassa_payments_waiting_config` | gauge | `tenant` (payments waiting for a tenant or service configuration) |
//! | `cassa_creations_uncertain` | gauge | — (creations whose position may exist upstream, still being found out) |
//! | `cassa_payments` | gauge | `status` |
//! | `cassa_notify_attempts_total`, `cassa_notify_failures_total` | counter | — |
//! | `cassa_checkout_carts` | gauge | `status` |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::bus::Bus;
use crate::store::{Store, StoreError};

/// Debt positions created at an intermediary (OpenCity's "payments created").
pub const PAYMENTS_CREATED: &str = "cassa_payments_created_total";
/// Messages a stage could not process (OpenCity's "processing errors").
pub const PROCESSING_ERRORS: &str = "cassa_processing_errors_total";
/// Messages a stage read from the bus.
pub const EVENTS_CONSUMED: &str = "cassa_events_consumed_total";
/// Messages a stage has still to read.
pub const CONSUMER_LAG: &str = "cassa_consumer_lag";
/// Messages in the dead-letter topic.
pub const DLQ_MESSAGES: &str = "cassa_dlq_messages";
/// Outbox rows not yet on the bus.
pub const OUTBOX_BACKLOG: &str = "cassa_outbox_backlog";
/// Calls to connectors.
pub const CONNECTOR_CALLS: &str = "cassa_connector_calls_total";
/// How long connector calls take.
pub const CONNECTOR_CALL_DURATION: &str = "cassa_connector_call_duration_seconds";
/// Connector calls that exceeded one of their limits.
pub const LIMIT_EXCEEDED: &str = "cassa_limit_exceeded_total";
/// Payments waiting for a configuration, by tenant.
pub const WAITING_CONFIG: &str = "cassa_payments_waiting_config";
/// Creations whose position may exist upstream.
pub const CREATIONS_UNCERTAIN: &str = "cassa_creations_uncertain";
/// Payments whose status check is due.
pub const POLLER_DUE: &str = "cassa_poller_due_payments";
/// Payments by status.
pub const PAYMENTS: &str = "cassa_payments";
/// Requests to the core's notify endpoints.
pub const NOTIFY_ATTEMPTS: &str = "cassa_notify_attempts_total";
/// Of those, the ones that failed (to be retried).
pub const NOTIFY_FAILURES: &str = "cassa_notify_failures_total";
/// pagoPA Checkout carts by status.
pub const CHECKOUT_CARTS: &str = "cassa_checkout_carts";

/// Every payment status, as the payments gauge labels them.
const ALL_PAYMENT_STATUSES: [&str; 10] = [
    "CREATION_PENDING",
    "CREATION_FAILED",
    "PAYMENT_PENDING",
    "PAYMENT_STARTED",
    "PAYMENT_CONFIRMED",
    "PAYMENT_FAILED",
    "NOTIFICATION_PENDING",
    "COMPLETE",
    "EXPIRED",
    "CANCELED",
];

/// Every cart status, as the carts gauge labels them.
const ALL_CART_STATUSES: [&str; 7] = ["redirected", "refused", "unavailable", "ok", "cancel", "error", "waiting"];

/// The process's Prometheus recorder, installed on first use.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(CONNECTOR_CALL_DURATION.into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot install the metrics recorder; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(PAYMENTS_CREATED, "Debt positions created at an intermediary.");
    describe_counter!(PROCESSING_ERRORS, "Messages a stage could not process (sent to the DLQ, or batches retried).");
    describe_counter!(EVENTS_CONSUMED, "Messages a stage read from the bus.");
    describe_gauge!(CONSUMER_LAG, "Messages a stage has still to read: committed offsets behind the end of its topic.");
    describe_gauge!(DLQ_MESSAGES, "Messages in the dead-letter topic.");
    describe_gauge!(OUTBOX_BACKLOG, "Outbox rows not yet published to the bus.");
    describe_counter!(CONNECTOR_CALLS, "Calls to connectors, by outcome (`ok` or the kind of failure).");
    describe_histogram!(CONNECTOR_CALL_DURATION, Unit::Seconds, "Duration of connector calls.");
    describe_gauge!(POLLER_DUE, "Payments whose status check is due now.");
    describe_gauge!(WAITING_CONFIG, "CREATION_PENDING payments waiting for their tenant or service configuration.");
    describe_gauge!(
        CREATIONS_UNCERTAIN,
        "CREATION_PENDING payments whose position may exist upstream after an unanswered attempt."
    );
    describe_gauge!(PAYMENTS, "Payments by status.");
    describe_counter!(NOTIFY_ATTEMPTS, "Requests to the core's notify endpoints.");
    describe_counter!(NOTIFY_FAILURES, "Requests to the core's notify endpoints that failed and will be retried.");
    describe_gauge!(CHECKOUT_CARTS, "pagoPA Checkout carts by status.");
    // Series without labels are there from the start, at zero.
    metrics::counter!(NOTIFY_ATTEMPTS).increment(0);
    metrics::counter!(NOTIFY_FAILURES).increment(0);
}

/// Counts a connector call.
pub fn connector_call(
    connector: &str,
    version: &str,
    tenant: &str,
    operation: &'static str,
    outcome: &'static str,
    seconds: f64,
) {
    metrics::counter!(CONNECTOR_CALLS, "connector" => connector.to_owned(), "version" => version.to_owned(),
        "tenant" => tenant.to_owned(), "operation" => operation, "outcome" => outcome)
    .increment(1);
    metrics::histogram!(CONNECTOR_CALL_DURATION, "connector" => connector.to_owned(), "operation" => operation)
        .record(seconds);
}

/// Counts a call of `connector` for `tenant` that exceeded `limit`.
pub fn limit_exceeded(connector: &str, tenant: &str, limit: &'static str) {
    metrics::counter!(LIMIT_EXCEEDED, "connector" => connector.to_owned(), "tenant" => tenant.to_owned(), "limit" => limit)
        .increment(1);
}

/// Counts a processing error of `stage`.
pub fn processing_error(stage: &str, reason: &'static str) {
    metrics::counter!(PROCESSING_ERRORS, "stage" => stage.to_owned(), "reason" => reason).increment(1);
}

/// Counts messages `stage` read.
pub fn consumed(stage: &str, count: usize) {
    metrics::counter!(EVENTS_CONSUMED, "stage" => stage.to_owned()).increment(count as u64);
}

/// Counts a debt position created for `tenant`.
pub fn payment_created(tenant: &str) {
    metrics::counter!(PAYMENTS_CREATED, "tenant" => tenant.to_owned()).increment(1);
}

/// Counts a request to the core, and whether it failed.
pub fn notify_attempt(failed: bool) {
    metrics::counter!(NOTIFY_ATTEMPTS).increment(1);
    if failed {
        metrics::counter!(NOTIFY_FAILURES).increment(1);
    }
}

/// The stage of a consumer group: `cassa-proxy` → `proxy`.
pub fn stage_of(group: &str) -> String {
    group.rsplit('-').next().unwrap_or(group).to_owned()
}

/// The tenants the waiting gauge showed at the last scrape.
static WAITING_TENANTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Reads the shared gauges from `store` and `bus` and renders every metric in Prometheus' text
/// format: the size of the dead-letter topic `dlq`, and the consumer lag of each (stage, group,
/// topic) in `lags` (the stages this host runs: one that never runs here would show the whole
/// topic).
pub async fn render(
    store: &Store,
    bus: &dyn Bus,
    dlq: &str,
    lags: &[(&str, String, String)],
) -> Result<String, StoreError> {
    let Some(handle) = handle() else { return Ok(String::new()) };
    // With the embedded bus the outbox is the log itself: nothing waits to be relayed.
    let backlog = if bus.outbox_is_log() { 0 } else { store.unpublished_count().await? };
    metrics::gauge!(OUTBOX_BACKLOG).set(backlog as f64);
    metrics::gauge!(POLLER_DUE).set(store.due_count(crate::domain::Timestamp::now()).await? as f64);
    let waiting = store.waiting_creations().await?;
    if let Ok(mut shown) = WAITING_TENANTS.lock() {
        // A tenant no longer waiting shows zero rather than its last figure.
        for tenant in shown.iter().filter(|t| !waiting.iter().any(|(w, _)| w == *t)) {
            metrics::gauge!(WAITING_CONFIG, "tenant" => tenant.clone()).set(0.0);
        }
        *shown = waiting.iter().map(|(t, _)| t.clone()).collect();
    }
    for (tenant, n) in waiting {
        metrics::gauge!(WAITING_CONFIG, "tenant" => tenant).set(n as f64);
    }
    metrics::gauge!(CREATIONS_UNCERTAIN).set(store.uncertain_creations().await? as f64);
    // Every status is set, at zero when none is in it, so a status emptied since the last
    // scrape does not keep its old figure.
    let payments = store.count_by_status().await?;
    for status in ALL_PAYMENT_STATUSES {
        let n = payments.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        metrics::gauge!(PAYMENTS, "status" => status).set(n as f64);
    }
    let carts = store.count_carts().await?;
    for status in ALL_CART_STATUSES {
        let n = carts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        metrics::gauge!(CHECKOUT_CARTS, "status" => status).set(n as f64);
    }
    match bus.size(dlq).await {
        Ok(size) => metrics::gauge!(DLQ_MESSAGES).set(size as f64),
        Err(error) => tracing::warn!(%error, "metrics: cannot read the dead-letter topic's size"),
    }
    for (stage, group, topic) in lags {
        match bus.lag(group, topic).await {
            Ok(lag) => metrics::gauge!(CONSUMER_LAG, "stage" => stage.to_string()).set(lag as f64),
            Err(error) => tracing::warn!(%error, stage, "metrics: cannot read the consumer lag"),
        }
    }
    Ok(handle.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PaymentStatus;
    use crate::domain::cart::CartStatus;

    #[test]
    fn the_gauges_know_every_status() {
        for status in ALL_PAYMENT_STATUSES {
            assert_eq!(PaymentStatus::parse(status).map(PaymentStatus::as_str), Some(status));
        }
        for status in ALL_CART_STATUSES {
            assert_eq!(CartStatus::parse(status).map(CartStatus::as_str), Some(status));
        }
        assert_eq!(stage_of("cassa-proxy"), "proxy");
    }
}
