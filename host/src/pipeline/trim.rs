//! The trim (embedded bus only): the store's outbox is the log, so without trimming every
//! event of every payment would stay for ever. Every `log_trim_interval_ms` it removes the log
//! entries every consumer of their topic has passed and that are older than
//! `log_retention_ms`, in slices, so a large backlog never holds the database long. Payments
//! and their history are not touched.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Pipeline, pause};

/// Entries removed per topic per statement.
const SLICE: i64 = 5_000;

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let every = Duration::from_millis(pipeline.config.log_trim_interval_ms.max(10));
    let retention = i64::try_from(pipeline.config.log_retention_ms).unwrap_or(i64::MAX);
    while pause(&stop, every).await {
        loop {
            let before = crate::store::now_ms().saturating_sub(retention);
            match pipeline.store.trim_log(before, SLICE).await {
                Ok(removed) if removed > 0 => {
                    tracing::debug!(removed, "log entries every consumer has passed removed");
                    if stop.is_cancelled() {
                        return;
                    }
                }
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "the log cannot be trimmed; trying again later");
                    break;
                }
            }
        }
    }
}
