//! The poller: claims open payments whose `next_check_at` is due (several replicas never claim
//! the same one) and checks each through its connector's `status`; the OpenCity schedule sets
//! the next check, and 365 days after creation the payment expires. Calls to one intermediary
//! are limited by its endpoint's gate; tenants take turns ([`run`]).

use std::time::Duration;

use std::collections::HashMap;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::change::{Next, update_with_retry};
use super::fair::Fair;
use super::{Pipeline, PipelineError};
use crate::domain::Timestamp;
use crate::domain::payment::{PaymentEvent, PaymentStatus};
use crate::domain::transitions::{self, Observed};
use crate::runtime::{CallScope, debt_ref, wit};
use crate::store::Change;

/// Runs until `stop`: claims due checks into per-tenant queues and runs them fairly (each
/// tenant at most its share of the places, [`super::fair`]), so one tenant's hanging
/// intermediary delays no other tenant's checks; a check that hangs holds one place, not a
/// batch.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let interval = Duration::from_millis(pipeline.config.poll_interval_ms.max(10));
    let lease = Duration::from_millis(pipeline.config.poll_lease_ms);
    let places = pipeline.config.connector_concurrency.max(1) * 2;
    let batch = usize::try_from(pipeline.config.poll_batch.max(1)).unwrap_or(200);
    let mut fair: Fair<Uuid, Uuid> = Fair::new(places);
    let mut probe = super::fair::Probe::new(interval);
    let mut running: JoinSet<Result<Option<Change>, PipelineError>> = JoinSet::new();
    let mut tenants: HashMap<tokio::task::Id, Uuid> = HashMap::new();
    while !stop.is_cancelled() {
        let held = fair.queued() + running.len();
        let mut claimed_all = false;
        if held < batch.max(places * 3) {
            let room = (batch.max(places * 3) - held).min(batch);
            let skip = fair.full(fair.share() * 2);
            let now = crate::store::now_ms();
            let store = &pipeline.store;
            let due = super::claim_fairly(
                &mut probe,
                store,
                &skip,
                room,
                async |n| store.claim_due_of(now, lease, n).await,
                async |per, asked| store.claim_due_for(now, lease, per, asked).await,
                |(_, tenant)| *tenant,
            )
            .await;
            match due {
                Ok(due) => {
                    claimed_all = due.len() == room;
                    for (id, tenant) in due {
                        fair.push(tenant, id);
                    }
                }
                Err(error) => tracing::warn!(%error, "poller cannot claim due payments"),
            }
        }
        while let Some((tenant, id)) = fair.next(|_| None) {
            let pipeline = pipeline.clone();
            let task = running.spawn(async move { prepare(&pipeline, id).await });
            tenants.insert(task.id(), tenant);
        }
        if claimed_all && fair.queued() == 0 {
            continue;
        }
        tokio::select! {
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let mut finished = vec![done];
                while let Some(more) = running.try_join_next_with_id() {
                    finished.push(more);
                }
                let mut changes = Vec::new();
                for done in finished {
                    let task = match &done { Ok((task, _)) => *task, Err(error) => error.id() };
                    if let Some(tenant) = tenants.remove(&task) {
                        fair.done(tenant);
                    }
                    match done {
                        Ok((_, Ok(Some(change)))) => changes.push(change),
                        Ok((_, Ok(None))) => {}
                        // The claim's lease brings the payment back later.
                        Ok((_, Err(error))) => tracing::warn!(%error, "status check failed"),
                        Err(error) => tracing::error!(%error, "a status check panicked"),
                    }
                }
                write(&pipeline, &changes).await;
            }
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => {}
        }
    }
    // Checks not started keep their lease and come back after it; those in flight get a grace
    // period (a check changes nothing upstream: one cut short is simply done again).
    fair.drain();
    let deadline = tokio::time::Instant::now() + super::STOP_GRACE;
    let mut changes = Vec::new();
    while !running.is_empty() {
        match tokio::time::timeout_at(deadline, running.join_next()).await {
            Ok(Some(Ok(Ok(Some(change))))) => changes.push(change),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tracing::info!(
                    checks = running.len(),
                    "status checks still in flight at stop; their lease brings them back"
                );
                running.abort_all();
                break;
            }
        }
    }
    write(&pipeline, &changes).await;
}

/// What a connector's status means for the state diagram.
pub(super) fn observed(status: wit::PaymentStatus) -> Observed {
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

/// Writes the outcomes of finished checks in one transaction. A payment changed meanwhile (a
/// landing, a citizen's link) keeps its newer state; its own schedule brings the next check.
async fn write(pipeline: &Pipeline, changes: &[Change]) {
    if changes.is_empty() {
        return;
    }
    match pipeline.store.update_payments(changes).await {
        Ok(outcomes) => {
            for (change, outcome) in changes.iter().zip(outcomes) {
                if outcome.is_ok() && change.publish.is_some() {
                    super::payment_span(&change.event)
                        .in_scope(|| tracing::info!(to = %change.event.status, "payment status changed"));
                }
            }
            if changes.iter().any(|c| c.publish.is_some()) {
                pipeline.outbox_written();
            }
        }
        Err(error) => tracing::warn!(%error, "status checks not stored; their lease brings them back"),
    }
}

/// One status check of payment `id` by the poller: the change to write with the others of its
/// round, `None` when there is nothing to write.
async fn prepare(pipeline: &Pipeline, id: Uuid) -> Result<Option<Change>, PipelineError> {
    use tracing::Instrument as _;
    let Some(stored) = pipeline.store.payment(id).await? else { return Ok(None) };
    let (from, version) = (stored.event.status, stored.version);
    let span = super::payment_span(&stored.event);
    let Some(next) = check_once(pipeline, id, stored.event).instrument(span).await? else { return Ok(None) };
    let quiet = next.is_quiet(from);
    let publish = next.publish.then(|| (pipeline.config.topics.payments.clone(), pipeline.key_of(&next.event)));
    Ok(Some(Change { event: next.event, version, publish, note: next.note, retry: None, quiet }))
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
