//! The dead letters, for operators (`cassa dlq list|show|replay` uses these):
//! `GET /dlq` lists those not replayed yet (`?all=true`: every one), `GET /dlq/{id}` shows one
//! with its message, `POST /dlq/{id}/replay` sends the message again to the topic it came from.
//! Processing is idempotent (a payment is keyed by its application, creation happens only in
//! `CREATION_PENDING`), so replaying never makes a second payment; a message still broken comes
//! back as a new dead letter.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::pipeline::Pipeline;
use crate::store::DeadLetter;

/// `GET /dlq` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Also those already replayed.
    #[serde(default)]
    all: bool,
    /// At most this many (default 100).
    limit: Option<i64>,
}

fn id_of(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no dead letter `{id}`")))
}

/// `GET /dlq`.
pub async fn list(State(p): State<Pipeline>, Query(q): Query<ListQuery>) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    Ok(Json(p.store.dead_letters(q.all, q.limit.unwrap_or(100)).await?))
}

/// `GET /dlq/{id}`.
pub async fn show(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Json<DeadLetter>, ApiError> {
    let id = id_of(&id)?;
    p.store.dead_letter(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))
}

/// `POST /dlq/{id}/replay`.
pub async fn replay(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = id_of(&id)?;
    let letter = p.store.dead_letter(id).await?.ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))?;
    let payload = letter.payload.clone().unwrap_or_default();
    p.bus.publish(&letter.topic, &letter.key, payload.as_bytes()).await.map_err(ApiError::internal)?;
    p.store.mark_replayed(id).await?;
    tracing::info!(dead_letter = %id, topic = %letter.topic, reason = %letter.reason, "dead letter replayed");
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id, "topic": letter.topic, "replays": letter.replays + 1})))
        .into_response())
}
