//! Hosts to run against: a pipeline on a store and bus, the in-process demo host, and the waits and requests tests make of them.

use cassa::runtime::Limits;
use serde_json::{Value, json};

use super::guests::{SANDBOX, runtime};

/// A running pipeline on a store and bus, with the sandbox connector installed and one tenant
/// and service configured against a sandbox intermediary.
pub struct TestPipeline {
    /// The pipeline.
    pub pipeline: cassa::pipeline::Pipeline,
    /// Stops its stages.
    pub stop: tokio_util::sync::CancellationToken,
    /// The stages' tasks.
    pub handles: Vec<tokio::task::JoinHandle<()>>,
}

/// The tenant every pipeline test uses.
pub const TENANT: &str = "60e35f02-1509-408c-b101-3b1a28109329";

/// The service every pipeline test uses.
pub const SERVICE: &str = "df171f10-bea7-4701-afd5-797693fd3b08";

impl TestPipeline {
    /// Starts the stages over `store` and an embedded bus.
    pub async fn start(store: cassa::store::Store, fake: &cassa::conformance::SandboxFake) -> Self {
        let bus = std::sync::Arc::new(cassa::bus::embedded::EmbeddedBus::new(store.clone()));
        Self::start_with(store, fake, bus, cassa::bus::Topics::default()).await
    }

    /// Starts the stages over `store` and `bus`, with these topic names.
    pub async fn start_with(
        store: cassa::store::Store,
        fake: &cassa::conformance::SandboxFake,
        bus: std::sync::Arc<dyn cassa::bus::Bus>,
        topics: cassa::bus::Topics,
    ) -> Self {
        Self::start_tuned(store, fake, bus, topics, Limits::default(), None, |_| {}).await
    }

    /// [`Self::start_with`] with the connector's calls under `limits`, the tenant's
    /// intermediary at `base_url` (default: the fake) and the settings changed by `tune`.
    pub async fn start_tuned(
        store: cassa::store::Store,
        fake: &cassa::conformance::SandboxFake,
        bus: std::sync::Arc<dyn cassa::bus::Bus>,
        topics: cassa::bus::Topics,
        limits: Limits,
        base_url: Option<&str>,
        tune: impl FnOnce(&mut cassa::pipeline::PipelineConfig),
    ) -> Self {
        let runtime = runtime(limits, false);
        let connectors = cassa::registry::Connectors::default();
        connectors.install(runtime.load(SANDBOX).await.unwrap(), 16, None);
        let config = cassa::pipeline::PipelineConfig {
            poll_interval_ms: 50,
            notify_retry_base_ms: 100,
            retry_base_ms: 20,
            // Tests share a broker: groups follow the (unique) topics, and a restarted host on
            // the same topics joins the same groups.
            group_prefix: format!("cassa-{}", topics.applications),
            topics,
            ..Default::default()
        };
        let mut config = config;
        tune(&mut config);
        let pipeline = cassa::pipeline::Pipeline::new(store.clone(), bus, connectors, config).unwrap();
        let mut tenant = match base_url {
            Some(url) => cassa::conformance::Fake::tenant_config_at(fake, url),
            None => cassa::conformance::Fake::tenant_config(fake),
        };
        tenant["name"] = "Comune di Bugliano".into();
        tenant["tax_identification_number"] = "80001234568".into();
        store
            .put_tenant(&cassa::store::StoredConfig {
                id: TENANT.parse().unwrap(),
                owner: "sandbox".into(),
                config: tenant,
                active: true,
            })
            .await
            .unwrap();
        store
            .put_service(&cassa::store::StoredConfig {
                id: SERVICE.parse().unwrap(),
                owner: TENANT.into(),
                config: json!({"pagopa_category": "9/0101108TS/"}),
                active: true,
            })
            .await
            .unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let handles = pipeline.spawn(stop.clone());
        Self { pipeline, stop, handles }
    }

    /// Stops the stages and waits for them.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

/// The example application event with a fresh id and the notify URL pointing at `core`.
pub fn application(core: &str) -> (uuid::Uuid, Vec<u8>) {
    let mut app: Value = serde_json::from_str(include_str!("../examples/application_event.json")).unwrap();
    let id = uuid::Uuid::new_v4();
    app["id"] = id.to_string().into();
    app["payment_data"]["notify"]["url"] = format!("{core}/lang/api/applications/{id}/payment").into();
    (id, serde_json::to_vec(&app).unwrap())
}

/// [`application`] of tenant `tenant` and its service `service`.
pub fn application_of(core: &str, tenant: uuid::Uuid, service: uuid::Uuid) -> (uuid::Uuid, Vec<u8>) {
    let (id, bytes) = application(core);
    let mut app: Value = serde_json::from_slice(&bytes).unwrap();
    app["tenant_id"] = tenant.to_string().into();
    app["service_id"] = service.to_string().into();
    (id, serde_json::to_vec(&app).unwrap())
}

/// Stores (or replaces) tenant `tenant` of the sandbox connector against the intermediary at
/// `base_url`, and its service `service`, both active.
pub async fn put_tenant_at(
    store: &cassa::store::Store,
    fake: &cassa::conformance::SandboxFake,
    tenant: uuid::Uuid,
    service: uuid::Uuid,
    base_url: &str,
) {
    let mut config = cassa::conformance::Fake::tenant_config_at(fake, base_url);
    config["name"] = "Comune di Prova".into();
    config["tax_identification_number"] = "80001234568".into();
    let stored = |id, owner: String, config| cassa::store::StoredConfig { id, owner, config, active: true };
    store.put_tenant(&stored(tenant, "sandbox".into(), config)).await.unwrap();
    store.put_service(&stored(service, tenant.to_string(), json!({}))).await.unwrap();
}

/// Topic names unique to one test, so tests can share a broker.
pub fn unique_topics() -> cassa::bus::Topics {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    cassa::bus::Topics {
        applications: format!("applications-{tag}"),
        payments: format!("payments-{tag}"),
        dlq: format!("payments.dlq-{tag}"),
    }
}

/// A Kafka broker for tests: `CASSA_TEST_KAFKA_BROKERS` (CI sets it to a real broker), else
/// librdkafka's in-process mock cluster, kept alive by the returned guard.
pub fn kafka_brokers()
-> (String, Option<rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>>) {
    match std::env::var("CASSA_TEST_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => (brokers, None),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("CASSA_TEST_KAFKA_BROKERS is not set in CI: the Kafka tests need a real broker there");
            }
            eprintln!("CASSA_TEST_KAFKA_BROKERS is not set: Kafka tests run on librdkafka's mock cluster");
            let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock Kafka cluster");
            (cluster.bootstrap_servers(), Some(cluster))
        }
    }
}

/// Every message of `topic` (a fresh consumer group), waiting until there are at least
/// `expected` or `limit` has passed.
pub async fn drain(
    bus: &dyn cassa::bus::Bus,
    topic: &str,
    expected: usize,
    limit: std::time::Duration,
) -> Vec<cassa::bus::Message> {
    let group = format!("drain-{}", uuid::Uuid::new_v4().simple());
    let mut consumer = bus.subscribe(&group, topic).await.expect("subscribe");
    let started = std::time::Instant::now();
    let mut all = Vec::new();
    while all.len() < expected && started.elapsed() < limit {
        let batch = consumer.poll(1000, std::time::Duration::from_millis(200)).await.expect("poll");
        all.extend(batch);
    }
    // A little more, to catch duplicates beyond the expected count.
    if let Ok(batch) = consumer.poll(1000, std::time::Duration::from_millis(300)).await {
        all.extend(batch);
    }
    all
}

/// Waits until `done` says so, failing the test after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: std::time::Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A JSON request to `base`: the status and the body (JSON, or `Null`).
pub async fn send_json(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    let bytes = reply.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Waits until the payment of `application` in `store` is in `status`, and returns it.
pub async fn wait_for_payment(
    store: &cassa::store::Store,
    application: uuid::Uuid,
    status: cassa::domain::PaymentStatus,
) -> cassa::domain::PaymentEvent {
    wait_for("the application's payment", std::time::Duration::from_secs(30), || async {
        store.payment_by_remote_id(application).await.unwrap().is_some_and(|p| p.event.status == status)
    })
    .await;
    store.payment_by_remote_id(application).await.unwrap().unwrap().event
}

/// The payments of `store` in `status` (at most 1000).
pub async fn in_status(
    store: &cassa::store::Store,
    status: cassa::domain::PaymentStatus,
) -> Vec<cassa::domain::PaymentEvent> {
    store
        .payments(&cassa::store::PaymentFilter { status: Some(status), limit: 1000, ..Default::default() })
        .await
        .expect("payments")
        .into_iter()
        .map(|p| p.event)
        .collect()
}

/// A whole host as `cassa run --demo` builds it, in this process, on a free port and a data
/// directory of its own; it stops when dropped.
pub struct DemoHost {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its data directory (the SQLite database is `cassa.db` there).
    pub data_dir: std::path::PathBuf,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

impl DemoHost {
    /// Starts a host with `settings`; `listen`, `data_dir` (under `cassa-<name>-…` in the
    /// temporary directory) and `demo` are filled in.
    pub async fn start(name: &str, settings: cassa::serve::Settings) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data_dir = std::env::temp_dir().join(format!("cassa-{name}-{}", uuid::Uuid::new_v4().simple()));
        let settings = cassa::serve::Settings { listen: addr, data_dir: data_dir.clone(), demo: true, ..settings };
        let stop = tokio_util::sync::CancellationToken::new();
        let app = cassa::serve::build(&settings, addr, stop.clone()).await.unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: format!("http://{addr}"), data_dir, client, _stop: stop.drop_guard() }
    }
}
