//! The proxy stage: opens the debt position of every `CREATION_PENDING` payment through its
//! connector's `create`; the payment becomes `PAYMENT_PENDING` with IUV, notice code and links,
//! or `CREATION_FAILED` when the intermediary says no for good.
//!
//! Creation is durable, scheduled work per payment (the store's `creations`), not a retry loop
//! inside a batch: every attempt is one call, its outcome recorded with the next attempt's time
//! ([`crate::domain::creation::next_attempt`]), and due attempts are claimed like the poller's
//! checks (several replicas share them). Claimed work waits in one queue per tenant and starts
//! round-robin, each tenant with at most its share of the places ([`super::fair`]): one tenant's
//! hanging intermediary, flood or limits delay no other tenant. A payment whose tenant or
//! service is not configured waits, visibly (a note in its history, `cassa_payments_waiting_config`),
//! and is created as soon as its configuration is saved.
//!
//! The stage also reads `payments`, to take in `CREATION_PENDING` payments another host's
//! dispatcher wrote, and to start on new ones at once.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::fair::Fair;
use super::{Pipeline, PipelineError, consume};
use crate::bus::Message;
use crate::domain::creation::{Attempt, Decision, next_attempt};
use crate::domain::payment::{PaymentEvent, PaymentStatus};
use crate::domain::transitions::Observed;
use crate::domain::{Timestamp, transitions};
use crate::runtime::{CallError, CallScope, debt_position, wit};
use crate::store::{Change, Creation, Retry, now_ms};

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let topic = pipeline.config.topics.payments.clone();
    let group = pipeline.group("proxy");
    let feed = consume(&pipeline, &group, &topic, &stop, |batch| {
        let pipeline = pipeline.clone();
        async move { take_in(&pipeline, batch).await }
    });
    tokio::join!(feed, create_due(&pipeline, &stop), sweep(&pipeline, &stop));
}

/// Most failed creations one sweep looks at.
const SWEEP_BATCH: i64 = 200;

/// Every `create_sweep_interval_ms`, looks upstream for the positions of payments that became
/// `CREATION_FAILED` within `create_sweep_window_ms`: a connector may have refused a request it
/// had carried out, or an operator may have created the position by hand.
async fn sweep(pipeline: &Pipeline, stop: &CancellationToken) {
    let every = Duration::from_millis(pipeline.config.create_sweep_interval_ms.max(100));
    while super::pause(stop, every).await {
        let window = i64::try_from(pipeline.config.create_sweep_window_ms).unwrap_or(i64::MAX);
        let failed = match pipeline.store.failed_creations_since(now_ms().saturating_sub(window), SWEEP_BATCH).await {
            Ok(failed) => failed,
            Err(error) => {
                tracing::warn!(%error, "the sweep of failed creations cannot read them");
                continue;
            }
        };
        for id in failed {
            if stop.is_cancelled() {
                return;
            }
            if let Err(error) = sweep_one(pipeline, id).await {
                tracing::warn!(payment = %id, %error, "failed creation not swept; the next sweep tries again");
            }
        }
    }
}

/// Looks upstream for the position of one `CREATION_FAILED` payment: found paid, the payment
/// becomes `COMPLETE` (and the core is notified); found unpaid, the position is cancelled and
/// the history says so.
pub async fn sweep_one(pipeline: &Pipeline, id: Uuid) -> Result<Option<PaymentEvent>, PipelineError> {
    super::change::update_with_retry(pipeline, id, |stored| async move {
        let event = stored.event;
        if event.status != PaymentStatus::CreationFailed {
            return Ok(None);
        }
        let Ok(configured) = pipeline.configured_or_why(&event).await? else { return Ok(None) };
        if !configured.connector.can_find() {
            return Ok(None);
        }
        let scope =
            CallScope { intermediary: Some(configured.permits.clone()), ..pipeline.scope(&configured, Some(event.id)) };
        let Ok(Some(created)) = configured.connector.find(&scope, &event.id.to_string(), &event.payment.iud).await
        else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let iuv = created.iuv.clone();
        let pending = with_position(pipeline, &configured, &event, created, now);
        let Some(debt) = crate::runtime::debt_ref(&pending) else { return Ok(None) };
        let status = match configured.connector.status(&scope, debt.clone()).await {
            Ok(status) => super::poller::observed(status),
            Err(error) => {
                tracing::warn!(payment = %event.id, %iuv, %error, "position of a failed creation found; its status is unknown");
                return Ok(None);
            }
        };
        match status {
            Observed::Paid { .. } => {
                let complete = transitions::checked(&pending, Some(&status), &pipeline.endpoints(), now);
                let note = format!("position IUV {iuv} found upstream after CREATION_FAILED, and paid");
                tracing::warn!(payment = %event.id, %iuv, "a failed creation's position was paid: the payment is COMPLETE");
                Ok(Some(super::change::Next::emitted(complete, Some(&note))))
            }
            Observed::Canceled | Observed::Expired | Observed::Failed(_) => Ok(None),
            Observed::Pending | Observed::Started => match configured.connector.cancel(&scope, debt).await {
                Ok(()) => {
                    let note = format!("position IUV {iuv} found upstream after CREATION_FAILED; cancelled there");
                    tracing::warn!(payment = %event.id, %iuv, "a failed creation's position was cancelled upstream");
                    Ok(Some(super::change::Next { event, publish: false, note: Some(note) }))
                }
                Err(error) => {
                    tracing::warn!(payment = %event.id, %iuv, %error, "a failed creation's position could not be cancelled; the next sweep tries again");
                    Ok(None)
                }
            },
        }
    })
    .await
}

/// Takes `CREATION_PENDING` payments of a batch into the store when another host's dispatcher
/// wrote them (with their creation work), and wakes the creations up.
async fn take_in(pipeline: &Pipeline, batch: Vec<Message>) -> Result<(), PipelineError> {
    let mut pending = Vec::new();
    for message in &batch {
        match PaymentEvent::from_json(&message.payload) {
            Ok(event) if event.status == PaymentStatus::CreationPending => pending.push(event),
            Ok(_) => {}
            Err(reason) => pipeline.dead_letter(message, &format!("malformed payment event: {reason}")).await?,
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = pending.iter().map(|e| e.id).collect();
    let known: std::collections::HashSet<Uuid> =
        pipeline.store.payments_by_ids(&ids).await?.into_iter().map(|s| s.event.id).collect();
    for event in pending.iter().filter(|e| !known.contains(&e.id)) {
        pipeline.store.upsert_foreign(event).await?;
    }
    pipeline.creator_kick.notify_one();
    Ok(())
}

/// What one attempt leaves to write.
enum Outcome {
    /// A new state of the payment (with its creation's next try when still pending).
    Change(Box<Change>),
    /// Only the creation's next try (nothing for the history).
    Retry(Uuid, Retry),
    /// Nothing: the payment is gone or no longer `CREATION_PENDING` (its work went with it).
    Nothing,
}

/// The outcome that writes `event` (decided from `version`) with `note` in its history.
fn changed(
    event: PaymentEvent,
    version: i64,
    publish: Option<(String, String)>,
    note: Option<String>,
    retry: Option<Retry>,
) -> Outcome {
    Outcome::Change(Box::new(Change { event, version, publish, note, retry, quiet: false }))
}

/// `event` with the position `created` opened for it: `PAYMENT_PENDING`, its creditor and
/// category from its configuration.
fn with_position(
    pipeline: &Pipeline,
    configured: &super::Configured,
    event: &PaymentEvent,
    created: wit::Created,
    now: Timestamp,
) -> PaymentEvent {
    let receiver = Pipeline::receiver_of(&configured.tenant);
    let category = configured.service.config.get("pagopa_category").and_then(|c| c.as_str()).map(str::to_owned);
    transitions::created(event, created.iuv, created.notice_code, receiver, category, &pipeline.endpoints(), now)
}

/// Claims due creations and runs them, fairly across tenants, until `stop`; then gives back
/// what it has not finished.
async fn create_due(pipeline: &Pipeline, stop: &CancellationToken) {
    let config = &pipeline.config;
    let places = config.create_concurrency.max(1);
    let lease = Duration::from_millis(config.create_lease_ms.max(1_000));
    let interval = Duration::from_millis(config.poll_interval_ms.max(10));
    let mut fair: Fair<Uuid, Creation> = Fair::new(places);
    let mut probe = super::fair::Probe::new(interval);
    let mut running: JoinSet<Outcome> = JoinSet::new();
    // The payments queued or in flight here; the tenant and payment of each task.
    let mut held_here: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
    let mut tasks: Tasks = std::collections::HashMap::new();
    while !stop.is_cancelled() {
        // Claim while there is room: three times the places, a tenant's queue at most twice its
        // share, so one tenant's backlog never fills the room another tenant needs.
        let held = fair.queued() + running.len();
        let mut claimed_all = false;
        if held < places * 3 {
            let room = places * 3 - held;
            let skip = fair.full(fair.share() * 2);
            let (now, store) = (now_ms(), &pipeline.store);
            let claimed = super::claim_fairly(
                &mut probe,
                store,
                &skip,
                room,
                async |n| store.claim_creations(now, lease, n).await,
                async |per, asked| store.claim_creations_for(now, lease, per, asked).await,
                |creation| creation.tenant_id,
            )
            .await;
            match claimed {
                Ok(claimed) => {
                    claimed_all = claimed.len() == room;
                    // A lease that ran out while the payment waited here is claimed again:
                    // it is worked on once.
                    for creation in claimed {
                        if held_here.insert(creation.payment_id) {
                            fair.push(creation.tenant_id, creation);
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "proxy cannot claim due creations"),
            }
        }
        let cap = |tenant: Uuid| pipeline.connectors.tenant_concurrency(&tenant.to_string());
        while let Some((tenant, creation)) = fair.next(cap) {
            let pipeline = pipeline.clone();
            let id = creation.payment_id;
            let task = running.spawn(async move { attempt(&pipeline, creation).await });
            tasks.insert(task.id(), (tenant, id));
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
                let mut held = Held { fair: &mut fair, here: &mut held_here, tasks: &mut tasks };
                record(pipeline, &mut held, finished).await;
            }
            () = pipeline.creator_kick.notified() => {}
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => {}
        }
    }
    // Stopping: what was not started is due again at once, for the next start or another
    // replica; what is in flight gets a grace period, then is given back as possibly done
    // upstream (the next attempt finds the position if it was opened).
    let queued: Vec<Uuid> = fair.drain().into_iter().map(|c| c.payment_id).collect();
    if let Err(error) = pipeline.store.release_creations(&queued, now_ms()).await {
        tracing::warn!(%error, "queued creations not given back; their lease brings them back");
    }
    let deadline = tokio::time::Instant::now() + super::STOP_GRACE;
    while !running.is_empty() {
        match tokio::time::timeout_at(deadline, running.join_next_with_id()).await {
            Ok(Some(done)) => {
                let mut held = Held { fair: &mut fair, here: &mut held_here, tasks: &mut tasks };
                record(pipeline, &mut held, vec![done]).await;
            }
            Ok(None) => break,
            Err(_) => {
                tracing::info!(
                    calls = running.len(),
                    "creation calls still in flight at stop; their lease brings them back"
                );
                running.abort_all();
                break;
            }
        }
    }
}

/// The tenant and payment of each creation task.
type Tasks = std::collections::HashMap<tokio::task::Id, (Uuid, Uuid)>;

/// What this host holds of the creations: the fair queues, the payments queued or in flight,
/// and the tasks.
struct Held<'a> {
    fair: &'a mut Fair<Uuid, Creation>,
    here: &'a mut std::collections::HashSet<Uuid>,
    tasks: &'a mut Tasks,
}

/// Writes what finished attempts decided: the changes in one transaction, the bare retries in
/// another.
async fn record(
    pipeline: &Pipeline,
    held: &mut Held<'_>,
    finished: Vec<Result<(tokio::task::Id, Outcome), tokio::task::JoinError>>,
) {
    let mut changes = Vec::new();
    let mut retries = Vec::new();
    for done in finished {
        let task = match &done {
            Ok((task, _)) => *task,
            Err(error) => error.id(),
        };
        if let Some((tenant, id)) = held.tasks.remove(&task) {
            held.fair.done(tenant);
            held.here.remove(&id);
        }
        match done {
            Ok((_, Outcome::Change(change))) => changes.push(*change),
            Ok((_, Outcome::Retry(id, retry))) => retries.push((id, retry)),
            Ok((_, Outcome::Nothing)) => {}
            // A panicked attempt: its lease brings the creation back.
            Err(error) => tracing::error!(%error, "a creation attempt panicked"),
        }
    }
    if !changes.is_empty() {
        match pipeline.store.update_payments(&changes).await {
            Ok(outcomes) => {
                for (change, outcome) in changes.iter().zip(outcomes) {
                    match outcome {
                        Ok(_) => super::payment_span(&change.event)
                            .in_scope(|| tracing::info!(status = %change.event.status, "payment updated")),
                        Err(error) => {
                            tracing::debug!(payment = %change.event.id, %error, "payment changed meanwhile; this change dropped")
                        }
                    }
                }
                pipeline.outbox_written();
            }
            Err(error) => tracing::warn!(%error, "creation outcomes not stored; their lease brings them back"),
        }
    }
    if let Err(error) = pipeline.store.reschedule_creations(&retries).await {
        tracing::warn!(%error, "creation retries not stored; their lease brings them back");
    }
}

/// One attempt at creating the position of a claimed creation, and what to write.
async fn attempt(pipeline: &Pipeline, creation: Creation) -> Outcome {
    use tracing::Instrument as _;
    let stored = match pipeline.store.payment(creation.payment_id).await {
        Ok(Some(stored)) if stored.event.status == PaymentStatus::CreationPending => stored,
        Ok(_) => return Outcome::Nothing,
        Err(error) => {
            tracing::warn!(payment = %creation.payment_id, %error, "payment not read; its lease brings it back");
            return Outcome::Nothing;
        }
    };
    let span = super::payment_span(&stored.event);
    match decide(pipeline, &creation, stored.event, stored.version).instrument(span).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(payment = %creation.payment_id, %error, "creation attempt not decided; its lease brings it back");
            Outcome::Nothing
        }
    }
}

/// How a failed `create` counts: definite, unreached, ambiguous or not an attempt at all.
pub fn classify(error: &CallError, reached: bool, stopping: bool) -> Attempt {
    match error {
        CallError::TenantLimit { .. } => Attempt::Throttled,
        _ if stopping && (error.is_transient() || reached) => Attempt::Throttled,
        // Definite answers from the intermediary, or a connector that cannot make the request.
        CallError::Connector(
            wit::Error::Rejected(_)
            | wit::Error::InvalidConfig(_)
            | wit::Error::Unsupported(_)
            | wit::Error::NotFound(_),
        ) => Attempt::Refused,
        // A request went out and no readable answer came back: it may have opened the position.
        _ if reached => Attempt::Ambiguous,
        _ if error.is_transient() => Attempt::Unreached,
        // The connector failed before anything reached the intermediary (a trap, a limit, an
        // egress refusal): the same call fails the same way.
        _ => Attempt::Refused,
    }
}

async fn decide(
    pipeline: &Pipeline,
    creation: &Creation,
    event: PaymentEvent,
    version: i64,
) -> Result<Outcome, PipelineError> {
    let policy = pipeline.config.retry_policy();
    let now = Timestamp::now();
    let configured = match pipeline.configured_or_why(&event).await? {
        Ok(configured) => configured,
        Err(why) => {
            let Decision::RetryAt { at_ms, attempts, ambiguous } =
                next_attempt(Attempt::Deferred, creation.attempts, creation.ambiguous, now_ms(), &policy)
            else {
                return Ok(Outcome::Nothing);
            };
            let retry = Retry { due_ms: at_ms, attempts, ambiguous, waiting: Some(why.clone()), last_error: None };
            if creation.waiting.as_deref() == Some(why.as_str()) {
                return Ok(Outcome::Retry(event.id, retry));
            }
            // Said once, in the history and the log, until the reason changes.
            tracing::warn!(payment = %event.id, reason = %why, "payment waits for its configuration");
            let note = format!("waiting for configuration: {why}");
            return Ok(changed(event, version, None, Some(note), Some(retry)));
        }
    };
    let scope =
        CallScope { intermediary: Some(configured.permits.clone()), ..pipeline.scope(&configured, Some(event.id)) };
    let connector = &configured.connector;
    // After an attempt that may have opened the position, ask for it first (when the
    // connector can find one): a position found is the answer, no second create needed. Past
    // the give-up time only asking is left, and a position the intermediary does not hold
    // ends the payment for certain.
    let give_up = creation.ambiguous
        && now_ms().saturating_sub(event.created_at.millis())
            > i64::try_from(pipeline.config.create_give_up_ms).unwrap_or(i64::MAX);
    let mut found = false;
    let lookup = if creation.ambiguous && connector.can_find() {
        match connector.find(&scope, &event.id.to_string(), &event.payment.iud).await {
            Ok(Some(created)) => {
                found = true;
                Some((Ok(created), true))
            }
            Ok(None) if give_up => {
                let note = format!(
                    "given up after {} attempt(s): the intermediary holds no position for IUD {}",
                    creation.attempts, event.payment.iud
                );
                tracing::warn!(payment = %event.id, %note, "debt position not created");
                let next = transitions::creation_failed(&event, now);
                let publish = Some((pipeline.config.topics.payments.clone(), pipeline.key_of(&event)));
                return Ok(changed(next, version, publish, Some(note), None));
            }
            Ok(None) | Err(CallError::Connector(wit::Error::Unsupported(_))) => None,
            // Asking failed: the position may still exist.
            Err(error) => Some((Err(error), true)),
        }
    } else {
        None
    };
    let (result, reached) = match lookup {
        Some(outcome) => outcome,
        None => connector.create_reaching(&scope, debt_position(&event)).await,
    };
    let info = configured.connector.info();
    let served_by = format!(
        "connector {} {} (sha256:{})",
        info.name,
        info.version,
        configured.connector.digest().get(..12).unwrap_or_default()
    );
    let attempt = match &result {
        Ok(_) => Attempt::Created,
        Err(error) => classify(error, reached, pipeline.is_stopping()),
    };
    let decision = next_attempt(attempt, creation.attempts, creation.ambiguous, now_ms(), &policy);
    let key = pipeline.key_of(&event);
    let publish = Some((pipeline.config.topics.payments.clone(), key));
    Ok(match (decision, result) {
        (Decision::Created, Ok(created)) => {
            crate::metrics::payment_created(&event.tenant_id.to_string());
            let next = with_position(pipeline, &configured, &event, created, now);
            let after = if creation.attempts > 0 {
                format!(" after {} failed attempt(s)", creation.attempts)
            } else {
                String::new()
            };
            let how = if found { "found upstream, opened by an unanswered attempt," } else { "created" };
            let note = format!("debt position {how} by {served_by}{after}");
            changed(next, version, publish, Some(note), None)
        }
        (Decision::Fail, Err(error)) => {
            let note =
                format!("{error} (blame {}, after {} attempt(s), {served_by})", error.blame(), creation.attempts + 1);
            tracing::warn!(payment = %event.id, %note, "debt position not created");
            let next = transitions::creation_failed(&event, now);
            changed(next, version, publish, Some(note), None)
        }
        (Decision::RetryAt { at_ms, attempts, ambiguous }, Err(error)) => {
            let at = Timestamp::from_millis(at_ms).unwrap_or(now);
            let retry =
                Retry { due_ms: at_ms, attempts, ambiguous, waiting: None, last_error: Some(error.to_string()) };
            if attempts == creation.attempts {
                // Not an attempt (the tenant's turn, a stop): nothing for the history.
                tracing::debug!(payment = %event.id, %error, "creation deferred");
                return Ok(Outcome::Retry(event.id, retry));
            }
            let may_exist = if ambiguous { "; the position may exist upstream: the next attempt finds it" } else { "" };
            let note = format!(
                "attempt {attempts} failed: {error} (blame {}, {served_by}); next attempt at {at}{may_exist}",
                error.blame()
            );
            tracing::info!(payment = %event.id, attempt = attempts, %error, ambiguous, "transient failure creating the debt position; retrying later");
            // Every attempt in the history up to the budget, then one in sixty.
            if attempts <= policy.attempts.max(1) || attempts % 60 == 0 {
                changed(event, version, None, Some(note), Some(retry))
            } else {
                Outcome::Retry(event.id, retry)
            }
        }
        // `next_attempt` decides `Created` only on success and never on it anything else.
        (_, Ok(_)) | (Decision::Created, Err(_)) => Outcome::Nothing,
    })
}
