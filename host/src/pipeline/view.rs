//! The view: keeps the payments table in step with payment events written by others (with
//! Kafka, OpenCity's own dispatcher may write `CREATION_PENDING` events). A state is applied
//! only when newer than the stored one; cassa's own events are already in the table.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Pipeline, pause, subscribe};
use crate::domain::PaymentEvent;

const GROUP: &str = "cassa-view";

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let topic = pipeline.config.topics.payments.clone();
    'subscription: while let Some(mut consumer) = subscribe(&pipeline, GROUP, &topic, &stop).await {
        loop {
            let batch = tokio::select! {
                _ = stop.cancelled() => return,
                batch = consumer.poll(500, Duration::from_millis(500)) => batch,
            };
            let Ok(batch) = batch else {
                if !pause(&stop, Duration::from_secs(1)).await {
                    return;
                }
                continue 'subscription;
            };
            for message in &batch {
                let result = match PaymentEvent::from_json(&message.payload) {
                    Ok(event) => {
                        pipeline.store.upsert_foreign(&event).await.map(|_| ()).map_err(super::PipelineError::from)
                    }
                    // The proxy stage sends malformed payment events to the DLQ.
                    Err(_) => Ok(()),
                };
                if let Err(error) = result {
                    tracing::warn!(%error, "view failed; retrying");
                    if !pause(&stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'subscription;
                }
            }
            if !batch.is_empty() {
                let _ = consumer.commit(&batch).await;
            }
        }
    }
}
