//! What an operator watches: `/metrics` after an end-to-end run holds every metric of the
//! operator's guide with plausible values, and `/readyz` says whether the host can work and,
//! when not, why.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cassa_tests::checkout_host::CheckoutHost;
use serde_json::{Value, json};
use uuid::Uuid;

/// Prometheus text → `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
            metric == name && labels.iter().all(|l| rest.contains(l))
        })
        .map(|(_, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

async fn scrape(host: &CheckoutHost) -> BTreeMap<String, f64> {
    let reply = host.client.get(format!("{}/metrics", host.base)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    samples(&reply.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_an_end_to_end_run_hold_every_figure_an_operator_watches() {
    let host = CheckoutHost::start(true).await;
    let a = host.pending_payment(0, "Diritti di segreteria").await;
    let b = host.pending_payment(1, "Mensa scolastica").await;
    let id = |p: &Value| p["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    // Both paid in one cart; a broken application goes to the DLQ.
    let (status, cart) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a), id(&b)]}))).await;
    assert_eq!(status, 201, "{cart}");
    let key = cart["checkout_url"].as_str().unwrap().rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let back = host
        .client
        .post(format!("{}/c/{key}", host.checkout.base_url))
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    host.client.get(back.headers()["location"].to_str().unwrap()).send().await.unwrap();
    host.wait_status(id(&a), "COMPLETE").await;
    host.wait_status(id(&b), "COMPLETE").await;
    let mut broken: Value = serde_json::from_str(include_str!("examples/application_event.json")).unwrap();
    broken["id"] = Uuid::new_v4().to_string().into();
    broken["tenant_id"] = "not-a-uuid".into();
    let (status, _) = host.send("POST", "/applications", Some(broken)).await;
    assert_eq!(status, 202);
    let host = Arc::new(host);
    cassa_tests::wait_for("the DLQ and both notifications", Duration::from_secs(30), || {
        let host = host.clone();
        async move {
            let m = scrape(&host).await;
            sum(&m, "cassa_dlq_messages", &[]) == Some(1.0) && sum(&m, "cassa_notify_attempts_total", &[]) >= Some(2.0)
        }
    })
    .await;

    let m = scrape(&host).await;
    let [bugliano, prova] =
        [host.municipalities[0].tenant, host.municipalities[1].tenant].map(|t| format!("tenant=\"{t}\""));
    assert_eq!(sum(&m, "cassa_payments_created_total", &[&bugliano]), Some(1.0));
    assert_eq!(sum(&m, "cassa_payments_created_total", &[&prova]), Some(1.0));
    assert_eq!(
        sum(&m, "cassa_processing_errors_total", &["stage=\"dispatcher\"", "reason=\"dead_letter\""]),
        Some(1.0)
    );
    assert!(sum(&m, "cassa_events_consumed_total", &["stage=\"dispatcher\""]) >= Some(3.0), "{m:?}");
    assert!(sum(&m, "cassa_events_consumed_total", &["stage=\"proxy\""]) >= Some(2.0));
    assert!(sum(&m, "cassa_consumer_lag", &["stage=\"dispatcher\""]).is_some_and(|lag| (0.0..=3.0).contains(&lag)));
    assert_eq!(sum(&m, "cassa_outbox_backlog", &[]), Some(0.0), "the embedded bus relays nothing");
    // Connector calls by connector, version, tenant, operation and outcome, with their latency.
    let gpd_creates = ["connector=\"pagopa-gpd\"", "operation=\"create\"", "outcome=\"ok\"", bugliano.as_str()];
    assert_eq!(sum(&m, "cassa_connector_calls_total", &gpd_creates), Some(1.0));
    assert!(
        sum(&m, "cassa_connector_calls_total", &["connector=\"mypay\"", "operation=\"status\"", "version=\""])
            >= Some(1.0)
    );
    let calls = sum(&m, "cassa_connector_calls_total", &[]).unwrap();
    let timed = sum(&m, "cassa_connector_call_duration_seconds_count", &[]).unwrap();
    assert_eq!(calls, timed, "every call is timed");
    let seconds = sum(&m, "cassa_connector_call_duration_seconds_sum", &[]).unwrap();
    assert!(seconds > 0.0 && seconds < calls * 5.0, "{seconds} s for {calls} calls");
    assert!(sum(&m, "cassa_poller_due_payments", &[]).is_some());
    assert_eq!(sum(&m, "cassa_payments", &["status=\"COMPLETE\""]), Some(2.0));
    assert!(sum(&m, "cassa_notify_attempts_total", &[]) >= Some(2.0));
    assert_eq!(sum(&m, "cassa_notify_failures_total", &[]), Some(0.0));
    assert_eq!(sum(&m, "cassa_checkout_carts", &["status=\"ok\""]), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_ready_when_database_bus_and_connectors_are_and_names_what_is_missing_otherwise() {
    let host = CheckoutHost::start(true).await;
    let (status, body) = host.send("GET", "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    for check in ["database", "bus", "connectors"] {
        assert_eq!(body[check]["ok"], true, "{check}");
    }
    assert_eq!(host.send("GET", "/healthz", None).await.0, 200);

    // A host with no connector loaded is up but not ready.
    let store = cassa::store::Store::connect(&cassa_tests::sqlite_url()).await.unwrap();
    let bus = Arc::new(cassa::bus::embedded::EmbeddedBus::new(store.clone()));
    let pipeline = cassa::pipeline::Pipeline::new(
        store,
        bus,
        cassa::pipeline::Connectors::default(),
        cassa::pipeline::PipelineConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, cassa::api::router(pipeline)).await });
    let reply = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(reply.status(), 503);
    let body: Value = reply.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["connectors"]["ok"].as_bool()), (Some("not_ready"), Some(false)));
    assert_eq!(body["connectors"]["error"], "no connector is loaded");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(reqwest::get(format!("http://{addr}/healthz")).await.unwrap().status(), 200);
}
