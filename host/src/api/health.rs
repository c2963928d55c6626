//! `/healthz`, `/readyz` and `/metrics`. `/healthz` says the process is up: a plain `ok`.
//!
//! `/readyz` answers 200 when this host can do its work: the database answers and has every
//! migration this binary knows, the bus answers, and connectors are loaded with the default one
//! among them; otherwise 503, naming each check that failed. It also names the stages this host
//! runs.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::pipeline::Pipeline;

/// One readiness check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Whether it passed.
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub error: Option<String>,
}

/// The answer of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(pattern = "^(ready|not_ready)$")]
    pub status: &'static str,
    /// The database answers and has every migration.
    pub database: Check,
    /// The bus answers.
    pub bus: Check,
    /// Connectors are loaded, the default among them.
    pub connectors: Check,
    /// The host is not shutting down.
    pub running: Check,
    /// The stages this host runs (`stages`, and those that run by themselves).
    pub stages: Vec<&'static str>,
}

fn check(result: Result<(), String>) -> Check {
    match result {
        Ok(()) => Check { ok: true, error: None },
        Err(why) => Check { ok: false, error: Some(why) },
    }
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", content_type = "text/plain", body = String, example = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready: every check passed", body = Readiness),
    (status = 503, description = "Not ready: the failed checks say why", body = Readiness),
))]
pub async fn ready(State(p): State<Pipeline>) -> Response {
    let database = match p.store.migrations_pending().await {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("{n} migration(s) not applied")),
        Err(error) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            Err("the database does not answer (see the log)".to_owned())
        }
    };
    let bus = p.bus.ready().await.map_err(|error| {
        tracing::warn!(%error, "readiness: the bus does not answer");
        "the bus does not answer (see the log)".to_owned()
    });
    let installed = p.connectors.all();
    let connectors = match p.connectors.default_name() {
        _ if installed.is_empty() => Err("no connector is loaded".to_owned()),
        Some(name) if p.connectors.get(&name).is_none() => Err(format!("the default connector `{name}` is not loaded")),
        _ => Ok(()),
    };
    let running = if p.is_stopping() { Err("shutting down".to_owned()) } else { Ok(()) };
    let readiness = Readiness {
        status: "ready",
        database: check(database),
        bus: check(bus),
        connectors: check(connectors),
        running: check(running),
        stages: crate::pipeline::stage::running(&p).map(|stage| stage.name).collect(),
    };
    let ready = [&readiness.database, &readiness.bus, &readiness.connectors, &readiness.running].iter().all(|c| c.ok);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(Readiness { status: if ready { "ready" } else { "not_ready" }, ..readiness })).into_response()
}

/// `GET /metrics`: Prometheus' text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format 0.0.4 (docs/OPERATIONS.md lists each metric)", content_type = "text/plain", body = String),
    super::openapi::Internal,
))]
pub async fn metrics(State(p): State<Pipeline>) -> Response {
    let lags = crate::pipeline::stage::lag_sources(&p);
    match crate::metrics::render(&p.store, p.bus.as_ref(), &p.config.topics.dlq, &lags).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(error) => super::ApiError::internal(error).into_response(),
    }
}
