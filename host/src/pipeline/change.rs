//! Changing one payment outside the batch stages (a status check, a citizen's link, a return
//! from pagoPA Checkout): read it, decide, write the decision guarded by the version it was
//! decided from, and decide again on the newer state when someone else changed it meanwhile.

use uuid::Uuid;

use super::{Pipeline, PipelineError};
use crate::domain::payment::PaymentEvent;
use crate::store::{StoreError, StoredPayment};

/// How often a change is decided afresh after someone else changed the payment first.
const ATTEMPTS: usize = 3;

/// What to write: the payment's next state, whether to emit it on `payments`, and why (for its
/// history).
#[derive(Debug, Clone)]
pub struct Next {
    /// The next state.
    pub event: PaymentEvent,
    /// Whether to emit it.
    pub publish: bool,
    /// Why, for the history.
    pub note: Option<String>,
}

impl Next {
    /// Whether writing it leaves no history row: a check from `from` that changed nothing but
    /// the next check ([`crate::store::Change::quiet`]).
    pub fn is_quiet(&self, from: crate::domain::PaymentStatus) -> bool {
        !self.publish && self.note.is_none() && self.event.status == from
    }

    /// `event`, emitted, with `note` in the history.
    pub fn emitted(event: PaymentEvent, note: Option<&str>) -> Self {
        Self { event, publish: true, note: note.map(str::to_owned) }
    }
}

/// Applies `decide` to payment `id` and stores what it decides (`None`: nothing to do), reading
/// the payment again and deciding anew when someone else changed it in between, at most
/// [`ATTEMPTS`] times. Returns the payment's state afterwards; `None` when there is no such
/// payment.
pub async fn update_with_retry<Fut>(
    pipeline: &Pipeline,
    id: Uuid,
    mut decide: impl FnMut(StoredPayment) -> Fut,
) -> Result<Option<PaymentEvent>, PipelineError>
where
    Fut: Future<Output = Result<Option<Next>, PipelineError>>,
{
    for _ in 0..ATTEMPTS {
        let Some(stored) = pipeline.store.payment(id).await? else { return Ok(None) };
        let (from, version, current) = (stored.event.status, stored.version, stored.event.clone());
        let Some(next) = decide(stored).await? else { return Ok(Some(current)) };
        let key = pipeline.key_of(&next.event);
        let publish = next.publish.then_some((pipeline.config.topics.payments.as_str(), key.as_str()));
        // A check that changed nothing but the next check leaves no history row.
        let quiet = next.is_quiet(from);
        match pipeline.store.update_payment_as(&next.event, version, publish, next.note.as_deref(), quiet).await {
            Ok(_) => {
                if next.publish {
                    pipeline.outbox_written();
                }
                if next.event.status != from {
                    let note = next.note.as_deref().unwrap_or_default();
                    tracing::info!(payment = %id, from = %from, to = %next.event.status, note, "payment status changed");
                }
                return Ok(Some(next.event));
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    tracing::warn!(payment = %id, "payment kept changing; change not applied");
    Ok(pipeline.store.payment(id).await?.map(|s| s.event))
}
