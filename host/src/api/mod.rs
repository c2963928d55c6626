//! The HTTP API (axum): application ingest, the payments API, the proxy's configuration API and
//! per-payment endpoints, the citizen's pages and pagoPA Checkout, dead letters, health and
//! metrics. Errors are `application/problem+json` (RFC 9457): a stable `type`
//! (`https://cassa.opencity.dev/problems/<code>`), `title`, `status` and `detail`, plus `error`
//! (the code), `message` (the detail) and `fields` when a request's fields are wrong. They
//! never carry internal details (those go to the log).

pub mod checkout;
pub mod citizen;
pub mod config;
pub mod dlq;
pub mod health;
pub mod pages;
pub mod payments;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::pipeline::Pipeline;

/// A field-level problem in a request.
#[derive(Debug, Clone, Serialize)]
pub struct FieldProblem {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An API error: a status code, a short machine code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldProblem>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: Vec::new() }
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422 with field problems.
    pub fn invalid(message: impl Into<String>, fields: Vec<FieldProblem>) -> Self {
        Self { fields, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message) }
    }

    /// 500, logging the cause.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    /// 502, for an intermediary failure, with the connector's error (it names no secret).
    pub fn upstream(error: &crate::runtime::CallError) -> Self {
        tracing::warn!(%error, blame = %error.blame(), "intermediary call failed");
        let status = if error.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
        Self::new(
            status,
            "intermediary",
            format!("the payment intermediary could not serve the request ({})", error.kind()),
        )
    }
}

/// Where the problem types are named.
pub const PROBLEM_BASE: &str = "https://cassa.opencity.dev/problems/";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut body = serde_json::json!({
            "type": format!("{PROBLEM_BASE}{}", self.code),
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.message,
            "error": self.code,
            "message": self.message,
        });
        if !self.fields.is_empty() {
            body["fields"] = serde_json::to_value(&self.fields).unwrap_or_default();
        }
        let content_type = [(axum::http::header::CONTENT_TYPE, "application/problem+json")];
        (self.status, content_type, body.to_string()).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::pipeline::PipelineError> for ApiError {
    fn from(error: crate::pipeline::PipelineError) -> Self {
        Self::internal(error)
    }
}

/// Largest request body accepted, in bytes (CSV imports included).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Lets a request to an operators' endpoint through when no admin token is configured, or when
/// it carries one (`Authorization: Bearer <token>`, compared in constant time); 401 otherwise.
async fn admin_only(
    axum::extract::State(p): axum::extract::State<Pipeline>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tokens = &p.config.admin_tokens;
    if tokens.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let known = tokens.iter().any(|t| constant_time_eq(t.as_bytes(), given.as_bytes()));
    if known {
        next.run(request).await
    } else {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "an operator's bearer token is required")
                .into_response();
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"cassa-admin\""),
        );
        response
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every route of the API over `pipeline`.
pub fn router(pipeline: Pipeline) -> Router {
    let operators = Router::new()
        .route("/dlq", get(dlq::list))
        .route("/dlq/{id}", get(dlq::show))
        .route("/dlq/{id}/replay", post(dlq::replay))
        .route_layer(axum::middleware::from_fn_with_state(pipeline.clone(), admin_only));
    Router::new()
        .merge(operators)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/applications", post(payments::ingest_application))
        .route("/payments", post(payments::create).get(payments::list))
        .route("/payments/bulk", post(payments::bulk))
        .route("/payments/import", post(payments::import))
        .route("/payments/{id}", get(payments::get_one))
        .route("/payments/{id}/history", get(payments::history))
        .route("/payments/{id}/page", get(checkout::page_link))
        .route("/pay/{tokens}", get(checkout::pay_page))
        .route("/checkout", post(checkout::post_checkout))
        .route("/checkout/{cart}", get(checkout::cart_result))
        .route("/checkout/{cart}/{outcome}", get(checkout::cart_return))
        .route("/tenants/schema", get(config::tenant_schema))
        .route("/services/schema", get(config::service_schema))
        .route("/tenants", post(config::post_tenant))
        .route("/services", post(config::post_service))
        .route(
            "/tenants/{id}",
            get(config::get_tenant).put(config::put_tenant).patch(config::patch_tenant).delete(config::delete_tenant),
        )
        .route(
            "/services/{id}",
            get(config::get_service)
                .put(config::put_service)
                .patch(config::patch_service)
                .delete(config::delete_service),
        )
        .route("/online-payment/{id}", get(citizen::online_payment))
        .route("/landing/{id}", get(citizen::landing))
        .route("/notice/{id}", get(citizen::notice))
        .route("/receipt/{id}", get(citizen::receipt))
        .route("/update/{id}", get(citizen::update))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(pipeline)
}

/// Parses a path id as a UUID.
pub fn parse_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no payment or configuration `{id}`")))
}
