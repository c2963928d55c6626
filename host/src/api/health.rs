//! `/readyz` and `/metrics`. `/healthz` (the process is up) is a plain `ok` in the router.
//!
//! `/readyz` answers 200 when this host can do its work: the database answers and has every
//! migration this binary knows, the bus answers, and connectors are loaded with the default one
//! among them; otherwise 503, naming each check that failed.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::pipeline::Pipeline;

fn check(result: Result<(), String>) -> (bool, Value) {
    match result {
        Ok(()) => (true, json!({"ok": true})),
        Err(why) => (false, json!({"ok": false, "error": why})),
    }
}

/// `GET /readyz`.
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
    let checks = [
        ("database", check(database)),
        ("bus", check(bus)),
        ("connectors", check(connectors)),
        ("running", check(running)),
    ];
    let ready = checks.iter().all(|(_, (ok, _))| *ok);
    let mut body = serde_json::Map::new();
    body.insert("status".into(), if ready { "ready" } else { "not_ready" }.into());
    for (name, (_, detail)) in checks {
        body.insert(name.into(), detail);
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(Value::Object(body))).into_response()
}

/// `GET /metrics`: Prometheus' text format.
pub async fn metrics(State(p): State<Pipeline>) -> Response {
    match crate::metrics::render(&p).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(error) => super::ApiError::internal(error).into_response(),
    }
}
