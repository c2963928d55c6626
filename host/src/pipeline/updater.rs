//! The updater: tells the core the outcome of a final payment. `COMPLETE` → `OK`,
//! `PAYMENT_FAILED` → `KO`, POSTed as a `PaymentOutcome` to each `links.notify[].url` not yet
//! sent; then `sent_at` is recorded and emitted. A 422 (the application already left the
//! payment states) counts as delivered and is recorded with its body; other failures are retried
//! with a back-off that doubles up to an hour. Every POST carries an `Idempotency-Key`, the same
//! for each delivery of one outcome to one link ([`idempotency_key`]).

use std::time::Duration;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Pipeline, PipelineError, pause};
use crate::domain::{Timestamp, transitions};
use crate::store::StoreError;

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    let base = Duration::from_millis(pipeline.config.notify_retry_base_ms.max(1));
    loop {
        match pipeline.store.claim_notifications(Timestamp::now(), base, 100).await {
            Ok(ids) if !ids.is_empty() => {
                let results: Vec<_> = futures::stream::iter(ids.into_iter().map(|id| {
                    let pipeline = pipeline.clone();
                    async move { notify(&pipeline, id).await }
                }))
                .buffer_unordered(16)
                .collect()
                .await;
                for error in results.into_iter().filter_map(Result::err) {
                    tracing::warn!(%error, "notification failed; retried later");
                }
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "updater cannot claim notifications"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = pipeline.updater_kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if stop.is_cancelled() || !pause(&stop, Duration::from_millis(20)).await {
            return;
        }
    }
}

/// Namespace of notification idempotency keys (UUID v5).
const IDEMPOTENCY: Uuid = Uuid::from_u128(0x6361_7373_612d_6e6f_7469_6679_0000_0001);

/// The `Idempotency-Key` of the notification of `outcome` (its `status`, `OK` or `KO`) of
/// payment `id` to `url`: the same for every delivery of that outcome to that link, so a core
/// can drop the rare repeat (a crash between the POST and recording `sent_at`).
pub fn idempotency_key(id: Uuid, outcome: &serde_json::Value, url: &str) -> String {
    let status = outcome.get("status").and_then(serde_json::Value::as_str).unwrap_or_default();
    Uuid::new_v5(&IDEMPOTENCY, format!("{id}|{status}|{url}").as_bytes()).to_string()
}

/// Delivers the outcome of one payment to every notify link not yet sent.
pub async fn notify(pipeline: &Pipeline, id: Uuid) -> Result<(), PipelineError> {
    let Some(stored) = pipeline.store.payment(id).await? else {
        return Ok(());
    };
    let Some(outcome) = transitions::payment_outcome(&stored.event) else {
        return Ok(());
    };
    use tracing::Instrument as _;
    let span = super::payment_span(&stored.event);
    deliver(pipeline, id, stored, outcome).instrument(span).await
}

/// Sends `outcome` to every notify link of `stored` not sent yet and records those sent.
async fn deliver(
    pipeline: &Pipeline,
    id: Uuid,
    stored: crate::store::StoredPayment,
    outcome: serde_json::Value,
) -> Result<(), PipelineError> {
    let mut event = stored.event.clone();
    let mut notes = Vec::new();
    let links = event.links.notify.clone().unwrap_or_default();
    for (index, link) in links.iter().enumerate().filter(|(_, l)| l.sent_at.is_none()) {
        let mut request = pipeline
            .http
            .post(&link.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(outcome.to_string())
            .header("idempotency-key", idempotency_key(id, &outcome, &link.url));
        if let Some(token) = &pipeline.config.core_token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(reply) if reply.status().is_success() => {
                crate::metrics::notify_attempt(false);
                event = transitions::notified(&event, index, Timestamp::now());
            }
            Ok(reply) if reply.status().as_u16() == 422 => {
                crate::metrics::notify_attempt(false);
                let body = reply.text().await.unwrap_or_default();
                let body: String = body.chars().take(500).collect();
                tracing::info!(payment = %id, url = %link.url, %body, "core answered 422: the application already moved on");
                notes.push(format!("core answered 422 at {}: {body}", link.url));
                event = transitions::notified(&event, index, Timestamp::now());
            }
            Ok(reply) => {
                crate::metrics::notify_attempt(true);
                let status = reply.status();
                let body: String = reply.text().await.unwrap_or_default().chars().take(300).collect();
                tracing::warn!(payment = %id, url = %link.url, %status, %body, "core refused the notification; will retry");
            }
            Err(error) => {
                crate::metrics::notify_attempt(true);
                tracing::warn!(payment = %id, url = %link.url, %error, "core unreachable; will retry");
            }
        }
    }
    if event == stored.event {
        return Ok(());
    }
    let key = pipeline.key_of(&event);
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    match pipeline
        .store
        .update_payment(&event, stored.version, Some((&pipeline.config.topics.payments, &key)), note.as_deref())
        .await
    {
        Ok(_) => {
            tracing::info!(payment = %id, "core notified");
            pipeline.outbox_written();
            Ok(())
        }
        // Changed meanwhile: the lease brings it back and unsent links are sent then.
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
