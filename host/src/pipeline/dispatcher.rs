//! The dispatcher: `applications` → one `CREATION_PENDING` payment per application.
//!
//! Idempotent twice over: the payment id is derived from the application id, and the store keeps
//! one payment per `remote_id`. Events for other statuses or versions are skipped; malformed ones
//! go to the DLQ with the reason. An application whose tenant or service is not configured
//! becomes a payment that waits for its configuration, or goes to the DLQ when the
//! `unconfigured` setting says `dead_letter`.

use tokio_util::sync::CancellationToken;

use super::{Pipeline, PipelineError, Unconfigured, consume};
use crate::bus::Message;
use crate::domain::{Dispatch, Timestamp, dispatch};

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let topic = pipeline.config.topics.applications.clone();
    let group = pipeline.group("dispatcher");
    consume(&pipeline, &group, &topic, &stop, |batch| {
        let pipeline = pipeline.clone();
        async move { handle_batch(&pipeline, &batch).await }
    })
    .await;
}

/// Handles a batch of application events: every payment of the batch is written in one
/// transaction; malformed events go to the DLQ.
pub async fn handle_batch(pipeline: &Pipeline, batch: &[Message]) -> Result<(), PipelineError> {
    let now = Timestamp::now();
    let mut creates = Vec::new();
    for message in batch {
        match dispatch(&message.payload, now) {
            Dispatch::Skip(reason) => tracing::debug!(offset = message.offset, %reason, "application event skipped"),
            Dispatch::Reject(reason) => {
                pipeline.dead_letter(message, &format!("malformed application event: {reason}")).await?
            }
            Dispatch::Create(event) => {
                if pipeline.config.unconfigured == Unconfigured::DeadLetter
                    && let Err(why) = pipeline.configured_or_why(&event).await?
                {
                    pipeline.dead_letter(message, &format!("application for an unconfigured service: {why}")).await?;
                    continue;
                }
                let key = pipeline.key_of(&event);
                creates.push((*event, key));
            }
        }
    }
    if creates.is_empty() {
        return Ok(());
    }
    let inserted = pipeline.store.insert_payments(&creates, &pipeline.config.topics.payments).await?;
    for ((event, _), new) in creates.iter().zip(&inserted) {
        if *new {
            super::payment_span(event).in_scope(|| tracing::info!(application = %event.remote_id, "payment created"));
        } else {
            tracing::debug!(application = %event.remote_id, "application already has a payment");
        }
    }
    if inserted.iter().any(|new| *new) {
        pipeline.outbox_written();
    }
    Ok(())
}
