//! The view: keeps the payments table in step with payment events written by others (with
//! Kafka, OpenCity's own dispatcher may write `CREATION_PENDING` events). A state is applied
//! only when newer than the stored one; cassa's own events (`app_id` `cassa-…`) are skipped:
//! every replica writes them to the shared store in the transaction of the change.

use tokio_util::sync::CancellationToken;

use super::{Pipeline, consume};
use crate::domain::PaymentEvent;

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let topic = pipeline.config.topics.payments.clone();
    let group = pipeline.group("view");
    consume(&pipeline, &group, &topic, &stop, |batch| {
        let pipeline = pipeline.clone();
        async move {
            for message in &batch {
                // The proxy stage sends malformed payment events to the DLQ. Events cassa wrote
                // are in the store already: it wrote them in the transaction of the change (and
                // are told apart without parsing them).
                if memchr::memmem::find(&message.payload, br#""app_id":"cassa-"#).is_some() {
                    continue;
                }
                if let Ok(event) = PaymentEvent::from_json(&message.payload)
                    && !event.app_id.starts_with("cassa-")
                {
                    pipeline.store.upsert_foreign(&event).await?;
                }
            }
            Ok(())
        }
    })
    .await;
}
