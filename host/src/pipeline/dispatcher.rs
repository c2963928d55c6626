//! The dispatcher: `applications` → one `CREATION_PENDING` payment per application.
//!
//! Idempotent twice over: the payment id is derived from the application id, and the store keeps
//! one payment per `remote_id`. Events for other statuses or versions are skipped; malformed ones
//! go to the DLQ with the reason.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Pipeline, PipelineError, pause, subscribe};
use crate::bus::Message;
use crate::domain::{Dispatch, Timestamp, dispatch};

const GROUP: &str = "cassa-dispatcher";

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let topic = pipeline.config.topics.applications.clone();
    'subscription: while let Some(mut consumer) = subscribe(&pipeline, GROUP, &topic, &stop).await {
        loop {
            let batch = tokio::select! {
                _ = stop.cancelled() => return,
                batch = consumer.poll(500, Duration::from_millis(500)) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "dispatcher cannot read applications");
                    if !pause(&stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'subscription;
                }
            };
            let mut created = false;
            for message in &batch {
                match handle(&pipeline, message).await {
                    Ok(made) => created |= made,
                    Err(error) => {
                        // Not committed: read again from the last commit after a pause.
                        tracing::warn!(%error, offset = message.offset, "dispatcher failed; retrying");
                        if !pause(&stop, Duration::from_secs(1)).await {
                            return;
                        }
                        continue 'subscription;
                    }
                }
            }
            if created {
                pipeline.outbox_written();
            }
            if let Some(last) = batch.last()
                && let Err(error) = consumer.commit(last).await
            {
                tracing::warn!(%error, "dispatcher cannot commit its position");
            }
        }
    }
}

/// Handles one application event; returns whether a payment was created.
pub async fn handle(pipeline: &Pipeline, message: &Message) -> Result<bool, PipelineError> {
    match dispatch(&message.payload, Timestamp::now()) {
        Dispatch::Skip(reason) => {
            tracing::debug!(offset = message.offset, %reason, "application event skipped");
            Ok(false)
        }
        Dispatch::Reject(reason) => {
            pipeline.dead_letter(message, &format!("malformed application event: {reason}")).await?;
            Ok(false)
        }
        Dispatch::Create(event) => {
            let key = pipeline.key_of(&event);
            let inserted = pipeline.store.insert_payment(&event, &pipeline.config.topics.payments, &key).await?;
            if inserted {
                tracing::info!(payment = %event.id, application = %event.remote_id, tenant = %event.tenant_id, "payment created");
            } else {
                tracing::debug!(application = %event.remote_id, "application already has a payment");
            }
            Ok(inserted)
        }
    }
}
