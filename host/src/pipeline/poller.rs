//! The poller: claims open payments whose `next_check_at` is due (several replicas never claim
//! the same one) and checks each through its connector's `status`; the OpenCity schedule sets
//! the next check, and 365 days after creation the payment expires. Calls to one intermediary
//! are limited by its connector's permit pool.

use std::time::Duration;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::change::{Next, update_with_retry};
use super::{Pipeline, PipelineError, pause};
use crate::domain::Timestamp;
use crate::domain::payment::{PaymentEvent, PaymentStatus};
use crate::domain::transitions::{self, Observed};
use crate::runtime::{CallScope, debt_ref, wit};

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let interval = Duration::from_millis(pipeline.config.poll_interval_ms.max(10));
    let lease = Duration::from_millis(pipeline.config.poll_lease_ms);
    loop {
        let due = pipeline.store.claim_due(Timestamp::now(), lease, pipeline.config.poll_batch).await;
        match due {
            Ok(ids) if !ids.is_empty() => {
                let concurrency = pipeline.config.connector_concurrency.max(1) * 2;
                let results: Vec<_> = futures::stream::iter(ids.into_iter().map(|id| {
                    let pipeline = pipeline.clone();
                    async move { check(&pipeline, id).await }
                }))
                .buffer_unordered(concurrency)
                .collect()
                .await;
                for error in results.into_iter().filter_map(Result::err) {
                    // The claim's lease brings the payment back later.
                    tracing::warn!(%error, "status check failed");
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "poller cannot claim due payments"),
        }
        if !pause(&stop, interval).await {
            return;
        }
    }
}

fn observed(status: wit::PaymentStatus) -> Observed {
    match status {
        wit::PaymentStatus::Pending => Observed::Pending,
        wit::PaymentStatus::Started => Observed::Started,
        wit::PaymentStatus::Paid(paid) => Observed::Paid {
            paid_at: Timestamp::parse(&paid.paid_at).unwrap_or_else(|_| Timestamp::now()),
            transaction_id: paid.transaction_id,
        },
        wit::PaymentStatus::Expired => Observed::Expired,
        wit::PaymentStatus::Canceled => Observed::Canceled,
        wit::PaymentStatus::Failed(why) => Observed::Failed(why),
    }
}

/// Checks one payment now (the poller, `/update/{id}`, `/landing/{id}`); returns its state
/// afterwards, `None` when it does not exist. A payment changed meanwhile (a landing, another
/// check) is checked again.
pub async fn check(pipeline: &Pipeline, id: Uuid) -> Result<Option<PaymentEvent>, PipelineError> {
    use tracing::Instrument as _;
    update_with_retry(pipeline, id, |stored| {
        let span = super::payment_span(&stored.event);
        check_once(pipeline, id, stored.event).instrument(span)
    })
    .await
}

/// One status check of `event` at its intermediary: the state to write, `None` when it is not
/// checked (final, not created yet, or not configured here).
async fn check_once(pipeline: &Pipeline, id: Uuid, event: PaymentEvent) -> Result<Option<Next>, PipelineError> {
    if event.status.is_final() || event.status == PaymentStatus::CreationPending {
        return Ok(None);
    }
    let (Some(configured), Some(debt)) = (pipeline.configured(&event).await?, debt_ref(&event)) else {
        return Ok(None);
    };
    let scope = CallScope { intermediary: Some(configured.permits.clone()), ..pipeline.scope(&configured, Some(id)) };
    let seen = match configured.connector.status(&scope, debt).await {
        Ok(status) => Some(observed(status)),
        Err(error) => {
            tracing::info!(payment = %id, %error, blame = %error.blame(), "status check failed; next check as scheduled");
            None
        }
    };
    let next = transitions::checked(&event, seen.as_ref(), &pipeline.endpoints(), Timestamp::now());
    // Only a new status is emitted; a routine check updates the row (next check) alone.
    let publish = next.status != event.status;
    Ok(Some(Next { event: next, publish, note: None }))
}
