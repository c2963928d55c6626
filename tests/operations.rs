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
    let (_, back) = host.act_at_checkout(cart["checkout_url"].as_str().unwrap(), "pay").await;
    host.client.get(&back).send().await.unwrap();
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
    // Counters are the process's: other tests of this binary add to those without a tenant.
    let dead = sum(&m, "cassa_processing_errors_total", &["stage=\"dispatcher\"", "reason=\"dead_letter\""]);
    assert!(dead >= Some(1.0), "{dead:?}");
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
    assert!(sum(&m, "cassa_notify_failures_total", &[]).is_some());
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
    // The embedded default's stages, from the one list of stages (no view or relay on the log,
    // and the trim of the log).
    assert_eq!(body["stages"], json!(["dispatcher", "proxy", "poller", "updater", "trim"]), "{body}");
    assert_eq!(host.send("GET", "/healthz", None).await.0, 200);

    // A host with no connector loaded is up but not ready.
    let store = cassa::store::Store::connect(&cassa_tests::sqlite_url()).await.unwrap();
    let bus = Arc::new(cassa::bus::embedded::EmbeddedBus::new(store.clone()));
    let pipeline = cassa::pipeline::Pipeline::new(
        store,
        bus,
        cassa::registry::Connectors::default(),
        cassa::pipeline::PipelineConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, cassa::api::router(pipeline.into())).await });
    let reply = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(reply.status(), 503);
    let body: Value = reply.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["connectors"]["ok"].as_bool()), (Some("not_ready"), Some(false)));
    assert_eq!(body["connectors"]["error"], "no connector is loaded");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(reqwest::get(format!("http://{addr}/healthz")).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_replayed_after_a_fix_makes_one_payment_however_often_it_is_replayed() {
    let store = cassa::store::Store::connect(&cassa_tests::sqlite_url()).await.unwrap();
    let fake = cassa::conformance::SandboxFake::start().await.unwrap();
    let host = cassa_tests::TestPipeline::start(store.clone(), &fake).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn({
        let router = cassa::api::router(host.pipeline.clone().into());
        async move { axum::serve(listener, router).await }
    });
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let base = base.clone();
        async move { client.get(format!("{base}{path}")).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let replay = |id: String| {
        let client = client.clone();
        let base = base.clone();
        async move { client.post(format!("{base}/dlq/{id}/replay")).send().await.unwrap().status().as_u16() }
    };

    // A broken application is set aside with its reason and its message.
    let (_, bytes) = cassa_tests::application("http://127.0.0.1:9");
    let mut broken: Value = serde_json::from_slice(&bytes).unwrap();
    broken["tenant_id"] = "not-a-uuid".into();
    let reply = client.post(format!("{base}/applications")).json(&broken).send().await.unwrap();
    assert_eq!(reply.status(), 202);
    let mut letters = Value::Null;
    for _ in 0..200 {
        letters = get("/dlq".into()).await;
        if letters.as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = letters[0].clone();
    assert!(first["reason"].as_str().unwrap().starts_with("malformed application event"), "{first}");
    assert_eq!(first["topic"], "applications");
    assert!(first.get("payload").is_none(), "lists leave the message out");
    let shown = get(format!("/dlq/{}", first["id"].as_str().unwrap())).await;
    assert!(shown["payload"].as_str().unwrap().contains("not-a-uuid"));

    // An application an earlier version refused, and this one takes: replayed twice, one payment.
    let (application, good) = cassa_tests::application("http://127.0.0.1:9");
    let id = store
        .insert_dead_letter(
            "applications",
            0,
            1_000_000,
            "k",
            std::str::from_utf8(&good).unwrap(),
            "refused by cassa 0.0.9",
        )
        .await
        .unwrap();
    assert_eq!(replay(id.to_string()).await, 202);
    cassa_tests::wait_for_payment(&store, application, cassa::domain::PaymentStatus::PaymentPending).await;
    assert_eq!(replay(id.to_string()).await, 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let payments = get(format!("/payments?remote_id={application}")).await;
    assert_eq!(payments.as_array().unwrap().len(), 1);
    let payment = store.payment_by_remote_id(application).await.unwrap().unwrap();
    let statuses: Vec<String> = store.history(payment.event.id).await.unwrap().into_iter().map(|(_, s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| *s == "CREATION_PENDING").count(), 1, "{statuses:?}");
    let positions = cassa::conformance::Fake::positions_for(&fake, &payment.event.payment.iud).await;
    assert_eq!(positions, Some(1), "one debt position at the intermediary");
    assert_eq!(get(format!("/dlq/{id}")).await["replays"], 2);

    // The broken one replayed comes back as a new dead letter; the old one counts as replayed.
    assert_eq!(replay(first["id"].as_str().unwrap().to_owned()).await, 202);
    cassa_tests::wait_for("the broken message dead-lettered again", Duration::from_secs(30), || async {
        get("/dlq?all=true".into()).await.as_array().unwrap().len() == 3
    })
    .await;
    let open = get("/dlq".into()).await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_ne!(open[0]["id"], first["id"]);
    assert_eq!(client.get(format!("{base}/dlq/{}", Uuid::new_v4())).send().await.unwrap().status(), 404);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kafka_a_groups_lag_and_a_topics_size_are_read_from_the_broker() {
    use cassa::bus::Bus as _;
    let (brokers, mock) = cassa_tests::kafka_brokers();
    let topic = format!("lag-{}", Uuid::new_v4().simple());
    if let Some(cluster) = &mock {
        // The mock cluster does not serve topic creation: create it on it directly.
        cluster.create_topic(&topic, 2, 1).unwrap();
    }
    let config = cassa::bus::kafka::KafkaConfig { brokers, partitions: 2, ..Default::default() };
    let bus = cassa::bus::kafka::KafkaBus::connect(config, &[&topic]).await.unwrap();
    for i in 0..10 {
        bus.publish(&topic, &format!("k{i}"), b"{}").await.unwrap();
    }
    assert_eq!(bus.size(&topic).await.unwrap(), 10);
    let group = format!("group-{}", Uuid::new_v4().simple());
    assert_eq!(bus.lag(&group, &topic).await.unwrap(), 10, "a group that committed nothing has everything to read");
    let mut consumer = bus.subscribe(&group, &topic).await.unwrap();
    let mut read = Vec::new();
    let started = std::time::Instant::now();
    while read.len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing to read");
        read.extend(consumer.poll(4 - read.len(), Duration::from_millis(500)).await.unwrap());
    }
    consumer.commit(&read).await.unwrap();
    assert_eq!(bus.lag(&group, &topic).await.unwrap(), 6);
    assert_eq!(bus.size(&topic).await.unwrap(), 10, "reading does not shrink a topic");
}
