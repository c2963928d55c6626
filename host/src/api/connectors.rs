//! The operators' connector endpoints (`cassa connector push|list|activate|rollback|remove`
//! uses these): upload a component, list what is stored and active, activate a version, roll
//! back, remove an old version. Every one needs an admin token when tokens are configured.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::openapi::{BadRequest, Conflict, Internal, NotFound, TooLarge, Unauthorized};
use super::{ApiError, ApiQuery, Body};
use crate::registry::{ConnectorEntry, PinKind, Registry, RegistryError};
use crate::store::{Activation, Artifact, Pin};

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Invalid(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_connector", e.to_string())
            }
            RegistryError::NotFound(why) => ApiError::not_found(why),
            RegistryError::Conflict(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
            RegistryError::Signature(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature", why),
            RegistryError::Store(e) => ApiError::internal(e),
        }
    }
}

fn registry(p: &AppState) -> Result<&Registry, ApiError> {
    p.registry.as_ref().ok_or_else(|| ApiError::not_found("this host has no connector registry"))
}

/// `GET /connectors`.
#[utoipa::path(get, operation_id = "list_connectors", path = "/connectors", tag = "connectors", security(("admin_token" = [])),
    responses((status = 200, description = "Every connector name: its active version, the one this host runs, the stored ones", body = Vec<ConnectorEntry>),
        Unauthorized, NotFound, Internal))]
pub async fn list(State(p): State<AppState>) -> Result<Json<Vec<ConnectorEntry>>, ApiError> {
    Ok(Json(registry(&p)?.list().await?))
}

/// `POST /connectors` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// Also make it the active version of its name.
    #[serde(default)]
    activate: bool,
}

/// What `POST /connectors` did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PushOutcome {
    /// The stored artifact.
    pub artifact: Artifact,
    /// False when the same bytes were stored already.
    pub created: bool,
    /// Whether it is now the active version of its name.
    pub activated: bool,
}

/// The header carrying an upload's signature: base64 of the ed25519 signature of the
/// component's sha256 digest (its 32 raw bytes).
pub const SIGNATURE_HEADER: &str = "x-cassa-signature";

/// `POST /connectors`: uploads a connector component.
#[utoipa::path(post, operation_id = "push_connector", path = "/connectors", tag = "connectors",
    params(PushQuery, ("x-cassa-signature" = Option<String>, Header,
        description = "base64 of the ed25519 signature of the component's sha256 digest; required when publisher keys are configured")),
    security(("admin_token" = [])),
    request_body(description = "The component (`.wasm`), as bytes; any content type", content_type = "application/octet-stream", content = super::openapi::Binary),
    responses(
        (status = 201, description = "Validated and stored", body = PushOutcome),
        (status = 200, description = "The same bytes were stored already", body = PushOutcome),
        BadRequest, Unauthorized, NotFound, TooLarge,
        (status = 422, description = "Not an acceptable connector: not a component, wrong contract, imports the host does not give, info() unusable, or a missing or wrong signature",
            content_type = "application/problem+json", body = super::Problem),
        Internal,
    ))]
pub async fn push(
    State(p): State<AppState>,
    ApiQuery(q): ApiQuery<PushQuery>,
    headers: axum::http::HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    use base64::Engine as _;
    let registry = registry(&p)?;
    let signature = match headers.get(SIGNATURE_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.trim()).ok())
                .ok_or_else(|| ApiError::bad_request(format!("{SIGNATURE_HEADER} is not base64")))?,
        ),
    };
    let pushed = registry.push(&body, signature.as_deref()).await?;
    if q.activate {
        registry.activate(&pushed.artifact.name, &pushed.artifact.digest, "activate").await?;
    }
    let status = if pushed.created { StatusCode::CREATED } else { StatusCode::OK };
    let outcome = PushOutcome { artifact: pushed.artifact, created: pushed.created, activated: q.activate };
    Ok((status, Json(outcome)).into_response())
}

/// The `{name}` of a connector.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectorName {
    /// The connector's name (from its `info()`).
    pub name: String,
}

/// Which artifact to activate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// A digest, a digest prefix of at least 8 characters, or a version (the newest upload of it).
    pub artifact: String,
}

/// `POST /connectors/{name}/activate`.
#[utoipa::path(post, operation_id = "activate_connector", path = "/connectors/{name}/activate", tag = "connectors",
    params(ConnectorName), security(("admin_token" = [])), request_body = ActivateRequest,
    responses(
        (status = 200, description = "Active now here, and on every replica within a second", body = Artifact),
        BadRequest, Unauthorized, NotFound, Conflict, TooLarge,
        (status = 422, description = "The stored artifact no longer loads on this host, or is unsigned while signatures are required", content_type = "application/problem+json", body = super::Problem),
        Internal,
    ))]
pub async fn activate(
    State(p): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body,
) -> Result<Json<Artifact>, ApiError> {
    let request: ActivateRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not {{\"artifact\": \"<digest or version>\"}}: {e}"))
    })?;
    Ok(Json(registry(&p)?.activate(&name, &request.artifact, "activate").await?))
}

/// `POST /connectors/{name}/rollback`.
#[utoipa::path(post, operation_id = "rollback_connector", path = "/connectors/{name}/rollback", tag = "connectors",
    params(ConnectorName), security(("admin_token" = [])),
    responses(
        (status = 200, description = "The version active before the current one is active again", body = Artifact),
        Unauthorized, NotFound,
        (status = 409, description = "No earlier version is stored", content_type = "application/problem+json", body = super::Problem),
        (status = 422, description = "The earlier artifact no longer loads on this host", content_type = "application/problem+json", body = super::Problem),
        Internal,
    ))]
pub async fn rollback(State(p): State<AppState>, Path(name): Path<String>) -> Result<Json<Artifact>, ApiError> {
    Ok(Json(registry(&p)?.rollback(&name).await?))
}

/// `GET /connectors/{name}/activations`.
#[utoipa::path(get, operation_id = "connector_activations", path = "/connectors/{name}/activations", tag = "connectors",
    params(ConnectorName), security(("admin_token" = [])),
    responses((status = 200, description = "Every activation of the name, newest first", body = Vec<Activation>),
        Unauthorized, NotFound, Internal))]
pub async fn activations(
    State(p): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Activation>>, ApiError> {
    Ok(Json(registry(&p)?.history(&name).await?))
}

/// The `{name}/{artifact}` of a stored artifact.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ArtifactPath {
    /// The connector's name.
    pub name: String,
    /// A digest, a digest prefix of at least 8 characters, or a version.
    pub artifact: String,
}

/// `DELETE /connectors/{name}/artifacts/{artifact}`.
#[utoipa::path(delete, operation_id = "remove_connector_artifact", path = "/connectors/{name}/artifacts/{artifact}", tag = "connectors",
    params(ArtifactPath), security(("admin_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized, NotFound,
        (status = 409, description = "It is the active version, or the selector names several", content_type = "application/problem+json", body = super::Problem),
        Internal,
    ))]
pub async fn remove(
    State(p): State<AppState>,
    Path((name, artifact)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    registry(&p)?.remove(&name, &artifact).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `{name}/pins/{kind}/{id}` of a pin (documentation: the handlers parse it themselves, so
/// a bad kind or id is a problem answer, not axum's text).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PinPath {
    /// The connector's name.
    pub name: String,
    /// `tenant` (every service of the tenant without a pin of its own) or `service`.
    #[param(inline)]
    pub kind: PinKind,
    /// The tenant's or service's id.
    pub id: uuid::Uuid,
}

/// The kind and id of a pin's path.
fn pin_subject(kind: &str, id: &str) -> Result<(PinKind, String), ApiError> {
    let kind = match kind {
        "tenant" => PinKind::Tenant,
        "service" => PinKind::Service,
        other => return Err(ApiError::bad_request(format!("`{other}` is neither tenant nor service"))),
    };
    let id = uuid::Uuid::parse_str(id).map_err(|e| ApiError::bad_request(format!("`{id}` is not a UUID: {e}")))?;
    Ok((kind, id.to_string()))
}

/// `PUT /connectors/{name}/pins/{kind}/{id}`.
#[utoipa::path(put, operation_id = "pin_connector_version", path = "/connectors/{name}/pins/{kind}/{id}", tag = "connectors",
    params(PinPath), security(("admin_token" = [])), request_body = ActivateRequest,
    responses(
        (status = 200, description = "The tenant's or service's calls use this version, here at once and on every replica within a second, whatever version is active", body = Pin),
        BadRequest, Unauthorized, NotFound, TooLarge,
        (status = 409, description = "The selector names several artifacts", content_type = "application/problem+json", body = super::Problem),
        (status = 422, description = "The stored artifact no longer loads on this host, or is unsigned while signatures are required", content_type = "application/problem+json", body = super::Problem),
        Internal,
    ))]
pub async fn pin(
    State(p): State<AppState>,
    Path((name, kind, id)): Path<(String, String, String)>,
    Body(body): Body,
) -> Result<Json<Pin>, ApiError> {
    let (kind, id) = pin_subject(&kind, &id)?;
    let request: ActivateRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not {{\"artifact\": \"<digest or version>\"}}: {e}"))
    })?;
    Ok(Json(registry(&p)?.pin(&name, kind, &id, &request.artifact).await?))
}

/// `DELETE /connectors/{name}/pins/{kind}/{id}`.
#[utoipa::path(delete, operation_id = "unpin_connector_version", path = "/connectors/{name}/pins/{kind}/{id}", tag = "connectors",
    params(PinPath), security(("admin_token" = [])),
    responses((status = 204, description = "Unpinned: its calls use the active version again"), BadRequest, Unauthorized, NotFound, Internal))]
pub async fn unpin(
    State(p): State<AppState>,
    Path((name, kind, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (kind, id) = pin_subject(&kind, &id)?;
    registry(&p)?.unpin(&name, kind, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
