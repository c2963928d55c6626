//! Helpers shared by cassa's cross-crate suites: the purpose-built guests, runtimes with test
//! limits, call scopes, an echo server that records what reaches it, and log capture.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

pub mod checkout_host;
mod wasm;
pub use wasm::with_custom_section;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cassa::runtime::{CallScope, Connector, EgressConfig, Limits, Runtime, RuntimeConfig, wit};
use serde_json::{Value, json};

/// The hostile guest (see `tests/guests/hostile`).
pub const HOSTILE: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_HOSTILE_WASM"));
/// A component that is no connector and imports an interface the host does not provide.
pub const NOT_A_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_NOT_A_CONNECTOR_WASM"));
/// The SOAP workload guest for the Wasm/native benchmark.
pub const SOAP_BENCH: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_SOAP_BENCH_WASM"));
/// The `sandbox` connector, as embedded in the binary.
pub const SANDBOX: &[u8] = cassa::embedded::SANDBOX_CONNECTOR;

/// The secret value tests give the hostile guest's tenant.
pub const SECRET: &str = "s3cr3t-api-key-of-tenant-a";

/// A runtime whose calls have these limits; loopback allowed unless `public_only`.
pub fn runtime(limits: Limits, public_only: bool) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits,
        egress: EgressConfig { allow_private_networks: !public_only, ..EgressConfig::default() },
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Test limits: small and quick to hit.
pub fn tight_limits() -> Limits {
    Limits { memory_bytes: 32 * 1024 * 1024, cpu_ms: 300, wall_ms: 5_000 }
}

/// Loads the hostile guest.
pub async fn hostile(runtime: &Runtime) -> Connector {
    runtime.load(HOSTILE).await.expect("the hostile guest is a valid connector")
}

/// A scope for the hostile guest in `mode`, with `url` and the allowed hosts.
pub fn hostile_scope(mode: &str, url: &str, allowed_hosts: &[&str]) -> CallScope {
    CallScope {
        tenant_id: "tenant-a".into(),
        service_id: "service-a".into(),
        payment_id: Some("payment-1".into()),
        tenant_config: json!({ "api_key": SECRET }),
        service_config: json!({ "mode": mode, "url": url }),
        allowed_hosts: allowed_hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..CallScope::default()
    }
}

/// Any debt reference; the hostile guest ignores it.
pub fn any_debt() -> wit::DebtRef {
    wit::DebtRef {
        payment_id: "payment-1".into(),
        iud: "iud".into(),
        iuv: "01000000000123468".into(),
        notice_code: "301000000000123468".into(),
        remote_ref: None,
    }
}

/// One request the echo server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method and path.
    pub line: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

/// An HTTP server on loopback that records every request and answers with its body; `/big`
/// answers 64 KiB, `/slow` answers after two seconds, `/moved-on/…` answers 422 as the core does
/// for an application no longer waiting for its payment.
pub struct EchoServer {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl EchoServer {
    /// Starts one on a free port.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let log = log.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                let headers = parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                log.lock().unwrap().push(Received {
                    line: format!("{} {}", parts.method, parts.uri),
                    headers,
                    body: body.clone(),
                });
                use axum::response::IntoResponse as _;
                match parts.uri.path() {
                    "/big" => "x".repeat(64 * 1024).into_response(),
                    "/slow" => {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        body.into_response()
                    }
                    // The core's answer when the application already left the payment states.
                    path if path.starts_with("/moved-on/") => {
                        (axum::http::StatusCode::UNPROCESSABLE_ENTITY, "[\"Application isn't in correct state\"]")
                            .into_response()
                    }
                    _ => body.into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, received }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Log output captured from `tracing`: what the process logged at `info` and above since the
/// capture started.
///
/// One subscriber for the whole test binary, installed at the first capture and never removed:
/// thread-local subscribers that come and go while tests run in parallel race with `tracing`'s
/// process-wide interest cache and level hint, and a capture could miss a line. Lines of other
/// tests running meanwhile may appear too; assertions look for their own.
#[derive(Clone)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    from: usize,
}

/// Keeps a capture's turn: captures of one test binary run one at a time.
pub struct CaptureGuard {
    _turn: std::sync::MutexGuard<'static, ()>,
}

static CAPTURE_TURN: Mutex<()> = Mutex::new(());
static CAPTURED: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

/// Where the binary's subscriber writes.
#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Starts capturing, once no other test of this binary is capturing.
    pub fn start() -> (Self, CaptureGuard) {
        let turn = CAPTURE_TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let buffer = CAPTURED
            .get_or_init(|| {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                let sink = Sink(buffer.clone());
                let subscriber = tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::INFO)
                    .with_ansi(false)
                    .with_writer(move || sink.clone())
                    .finish();
                tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in tests");
                buffer
            })
            .clone();
        let from = buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        (Self { buffer, from }, CaptureGuard { _turn: turn })
    }

    /// The text since the capture started.
    pub fn text(&self) -> String {
        let all = self.buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(all.get(self.from..).unwrap_or_default()).into_owned()
    }
}

/// The JSON of a value, for assertions on configuration.
pub fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// A fresh SQLite database file in the temp directory.
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("cassa-tests");
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join(format!("{}.db", uuid::Uuid::new_v4().simple())).display())
}

/// The PostgreSQL server tests use: `CASSA_TEST_POSTGRES_URL`, else the local server.
fn postgres_admin_url() -> String {
    std::env::var("CASSA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, uniquely named PostgreSQL database, or `None` (with a message saying the tests were
/// skipped) when no server is reachable. In CI (`CI` set) an unreachable server is a failure.
pub async fn postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(error) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {admin} is not reachable in CI: {error}");
            }
            eprintln!("SKIPPED: PostgreSQL at {admin} is not reachable ({error}); PostgreSQL tests did not run");
            return None;
        }
    };
    let name = format!("cassa_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let mut url = url::Url::parse(&admin).expect("postgres URL");
    url.set_path(&name);
    Some(url.to_string())
}

/// Stores to run a test against: SQLite always, PostgreSQL when reachable.
pub async fn stores() -> Vec<cassa::store::Store> {
    let mut urls = vec![sqlite_url()];
    urls.extend(postgres_url().await);
    let mut stores = Vec::new();
    for url in urls {
        stores.push(cassa::store::Store::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e:#}")));
    }
    stores
}

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
        let runtime = runtime(Limits::default(), false);
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
        let pipeline = cassa::pipeline::Pipeline::new(store.clone(), bus, connectors, config).unwrap();
        let mut tenant = cassa::conformance::Fake::tenant_config(fake);
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
