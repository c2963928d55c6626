//! The dead letters, for operators (`cassa dlq list|show|replay` uses these):
//! `GET /dlq` lists those not replayed yet (`?all=true`: every one), `GET /dlq/{id}` shows one
//! with its message, `POST /dlq/{id}/replay` sends the message again to the topic it came from.
//! Processing is idempotent (a payment is keyed by its application, creation happens only in
//! `CREATION_PENDING`), so replaying never makes a second payment; a message still broken comes
//! back as a new dead letter.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::openapi::{BadRequest, Internal, NotFound, Unauthorized};
use super::{ApiError, ApiQuery};
use crate::pipeline::Pipeline;
use crate::store::DeadLetter;

/// `GET /dlq` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Also those already replayed.
    #[serde(default)]
    all: bool,
    /// At most this many (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

fn id_of(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no dead letter `{id}`")))
}

/// The `{id}` of a dead letter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeadLetterId {
    /// The dead letter's id.
    pub id: Uuid,
}

/// `GET /dlq`.
#[utoipa::path(get, operation_id = "list_dead_letters", path = "/dlq", tag = "operations", params(ListQuery), security(("admin_token" = [])),
    responses((status = 200, description = "Dead letters, oldest first, without their messages", body = Vec<DeadLetter>),
        BadRequest, Unauthorized, Internal))]
pub async fn list(
    State(p): State<Pipeline>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is not between 1 and 10000")));
    }
    Ok(Json(p.store.dead_letters(q.all, limit).await?))
}

/// `GET /dlq/{id}`.
#[utoipa::path(get, operation_id = "show_dead_letter", path = "/dlq/{id}", tag = "operations", params(DeadLetterId), security(("admin_token" = [])),
    responses((status = 200, description = "The dead letter with its message", body = DeadLetter),
        Unauthorized, NotFound, Internal))]
pub async fn show(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Json<DeadLetter>, ApiError> {
    let id = id_of(&id)?;
    p.store.dead_letter(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))
}

/// `POST /dlq/{id}/replay`.
#[utoipa::path(post, operation_id = "replay_dead_letter", path = "/dlq/{id}/replay", tag = "operations", params(DeadLetterId), security(("admin_token" = [])),
    responses((status = 202, description = "The message is on its topic again", body = Replayed),
        Unauthorized, NotFound, Internal))]
pub async fn replay(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = id_of(&id)?;
    let letter = p.store.dead_letter(id).await?.ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))?;
    let payload = letter.payload.clone().unwrap_or_default();
    p.bus.publish(&letter.topic, &letter.key, payload.as_bytes()).await.map_err(ApiError::internal)?;
    p.store.mark_replayed(id).await?;
    tracing::info!(dead_letter = %id, topic = %letter.topic, reason = %letter.reason, "dead letter replayed");
    Ok((StatusCode::ACCEPTED, Json(Replayed { id, topic: letter.topic, replays: letter.replays + 1 })).into_response())
}

/// A dead letter sent again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// The dead letter.
    pub id: Uuid,
    /// Where its message went.
    pub topic: String,
    /// How many replays now.
    pub replays: i64,
}
