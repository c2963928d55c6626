//! The proxy stage: for each `CREATION_PENDING` payment with an active tenant and service
//! configuration, the connector's `create` opens the debt position; the payment becomes
//! `PAYMENT_PENDING` with IUV, notice code and links, or `CREATION_FAILED` once the retry budget
//! for transient failures is spent or the failure is permanent. Replays are ignored: only a
//! payment still `CREATION_PENDING` in the store is created.

use std::time::Duration;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::{Pipeline, PipelineError, consume};
use crate::bus::Message;
use crate::domain::payment::{PaymentEvent, PaymentStatus};
use crate::domain::{Timestamp, transitions};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use uuid::Uuid;

use crate::runtime::{CallError, CallScope, debt_position};
use crate::store::{Change, StoredPayment};

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let topic = pipeline.config.topics.payments.clone();
    let group = pipeline.group("proxy");
    consume(&pipeline, &group, &topic, &stop, |batch| {
        let pipeline = pipeline.clone();
        async move { handle_batch(&pipeline, batch).await }
    })
    .await;
}

/// Creates the debt positions of a batch concurrently (bounded), then writes every outcome in
/// one transaction. The batch's payments are read in one query; only those still
/// `CREATION_PENDING` in the store are created, so replays are ignored. What was decided is
/// kept even when another payment of the batch failed: the batch read again finds those
/// payments no longer `CREATION_PENDING`.
async fn handle_batch(pipeline: &Pipeline, batch: Vec<Message>) -> Result<(), PipelineError> {
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
    let mut stored: HashMap<Uuid, StoredPayment> =
        pipeline.store.payments_by_ids(&ids).await?.into_iter().map(|s| (s.event.id, s)).collect();
    for event in &pending {
        if let Entry::Vacant(slot) = stored.entry(event.id) {
            // Written by somebody else's dispatcher: take it into the store first.
            pipeline.store.upsert_foreign(event).await?;
            if let Some(found) = pipeline.store.payment(event.id).await? {
                slot.insert(found);
            }
        }
    }
    let todo: Vec<StoredPayment> =
        stored.into_values().filter(|s| s.event.status == PaymentStatus::CreationPending).collect();
    let concurrency = pipeline.config.connector_concurrency.max(1) * 2;
    let results: Vec<Result<Option<Change>, PipelineError>> = futures::stream::iter(todo.into_iter().map(|s| {
        let pipeline = pipeline.clone();
        async move { prepare(&pipeline, s.event, s.version).await }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let mut changes = Vec::new();
    let mut failed = None;
    for result in results {
        match result {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => {}
            Err(error) => failed = Some(error),
        }
    }
    write(pipeline, &changes).await?;
    failed.map_or(Ok(()), Err)
}

/// Writes the decided changes in one transaction.
async fn write(pipeline: &Pipeline, changes: &[Change]) -> Result<(), PipelineError> {
    if changes.is_empty() {
        return Ok(());
    }
    let outcomes = pipeline.store.update_payments(changes).await?;
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
    Ok(())
}

/// Opens the debt position of a `CREATION_PENDING` payment stored at `version` and returns the
/// change that records the outcome (`None` when this host does not handle the payment).
pub async fn prepare(pipeline: &Pipeline, event: PaymentEvent, version: i64) -> Result<Option<Change>, PipelineError> {
    use tracing::Instrument as _;
    let span = super::payment_span(&event);
    create(pipeline, event, version).instrument(span).await
}

async fn create(pipeline: &Pipeline, event: PaymentEvent, version: i64) -> Result<Option<Change>, PipelineError> {
    let Some(configured) = pipeline.configured(&event).await? else {
        tracing::debug!(payment = %event.id, tenant = %event.tenant_id, service = %event.service_id, "no active configuration here; not handled");
        return Ok(None);
    };
    let scope =
        CallScope { intermediary: Some(configured.permits.clone()), ..pipeline.scope(&configured, Some(event.id)) };
    let position = debt_position(&event);
    let attempts = pipeline.config.create_attempts.max(1);
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        let result = configured.connector.create(&scope, position.clone()).await;
        match result {
            // Shutting down: the payment stays CREATION_PENDING, its batch uncommitted, and the
            // next start creates it (creation is idempotent at the intermediary).
            Err(error) if error.is_transient() && pipeline.is_stopping() => {
                tracing::info!(payment = %event.id, attempt, %error, "transient failure while stopping; left for the next start");
                return Err(PipelineError::Aborted);
            }
            // The tenant is over its own limits: its turn comes, so this spends no attempt.
            Err(error @ CallError::TenantLimit { .. }) => {
                attempt -= 1;
                tracing::debug!(payment = %event.id, %error, "over the tenant's limits; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(pipeline.config.retry_base_ms.max(10))) => {}
                    _ = pipeline.stopping.cancelled() => {}
                }
            }
            Err(error) if error.is_transient() && attempt < attempts => {
                let delay = pipeline.config.retry_base_ms.saturating_mul(1 << (attempt - 1).min(10));
                tracing::info!(payment = %event.id, attempt, %error, "transient failure creating the debt position; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                    _ = pipeline.stopping.cancelled() => {}
                }
            }
            other => break other,
        }
    };
    let now = Timestamp::now();
    // Which connector version served the call, in the payment's history.
    let info = configured.connector.info();
    let served_by = format!(
        "connector {} {} (sha256:{})",
        info.name,
        info.version,
        configured.connector.digest().get(..12).unwrap_or_default()
    );
    let (next, note) = match outcome {
        Ok(created) => {
            crate::metrics::payment_created(&event.tenant_id.to_string());
            let receiver = Pipeline::receiver_of(&configured.tenant);
            let category = configured.service.config.get("pagopa_category").and_then(|c| c.as_str()).map(str::to_owned);
            let next = transitions::created(
                &event,
                created.iuv,
                created.notice_code,
                receiver,
                category,
                &pipeline.endpoints(),
                now,
            );
            (next, Some(format!("debt position created by {served_by}")))
        }
        Err(error) => {
            let note = format!("{error} (blame {}, after {attempt} attempt(s), {served_by})", error.blame());
            tracing::warn!(payment = %event.id, %note, "debt position not created");
            (transitions::creation_failed(&event, now), Some(note))
        }
    };
    let key = pipeline.key_of(&next);
    Ok(Some(Change { event: next, version, publish: Some((pipeline.config.topics.payments.clone(), key)), note }))
}
