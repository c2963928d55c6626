//! `cassa run`: the long-running host. On embedded defaults (SQLite in the data directory, the
//! embedded bus) it runs every pipeline stage, the HTTP API and the sandbox intermediary under
//! `/sandbox`, with the `sandbox` connector installed; `--demo` also configures a demo tenant
//! and service against that sandbox. `CASSA_DATABASE_URL=postgres://…` and
//! `CASSA_KAFKA_BROKERS=host:port` switch to PostgreSQL and Kafka.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::bus::embedded::EmbeddedBus;
use crate::bus::kafka::{KafkaBus, KafkaConfig};
use crate::bus::{Bus, Topics};
use crate::pipeline::{Connectors, Pipeline, PipelineConfig, Stages};
use crate::runtime::{EgressConfig, Runtime, RuntimeConfig};
use crate::sandbox_intermediary::{SandboxIntermediary, SandboxSettings};
use crate::store::{Store, StoredConfig};

/// The demo tenant (`--demo`): the example municipality of DOMAIN.md.
pub const DEMO_TENANT: &str = "60e35f02-1509-408c-b101-3b1a28109329";
/// The demo service (`--demo`).
pub const DEMO_SERVICE: &str = "df171f10-bea7-4701-afd5-797693fd3b08";

/// Options of `cassa run` (each also an environment variable).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "CASSA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded default keeps its SQLite database.
    #[arg(long, env = "CASSA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The database: `sqlite://…` or `postgres://…`; default `<data-dir>/cassa.db`.
    #[arg(long, env = "CASSA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Base URL citizens reach this host at (links in payment events); default `http://<listen>`.
    #[arg(long, env = "CASSA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// API key of the embedded sandbox intermediary.
    #[arg(long, env = "CASSA_SANDBOX_API_KEY", default_value = "sandbox-demo-key")]
    pub sandbox_api_key: String,
    /// Also configure a demo tenant and service on the sandbox intermediary.
    #[arg(long, env = "CASSA_DEMO")]
    pub demo: bool,
    /// Kafka brokers (`host:port,…`): when set, the bus is Kafka instead of the embedded log.
    #[arg(long, env = "CASSA_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Partitions of the topics cassa creates on Kafka.
    #[arg(long, env = "CASSA_KAFKA_PARTITIONS", default_value_t = 6)]
    pub kafka_partitions: i32,
    /// Name of the topic of application events.
    #[arg(long, env = "CASSA_TOPIC_APPLICATIONS", default_value = "applications")]
    pub topic_applications: String,
    /// Name of the topic of payment events.
    #[arg(long, env = "CASSA_TOPIC_PAYMENTS", default_value = "payments")]
    pub topic_payments: String,
    /// Name of the dead-letter topic.
    #[arg(long, env = "CASSA_TOPIC_DLQ", default_value = "payments.dlq")]
    pub topic_dlq: String,
    /// The stages this process runs, comma-separated, from dispatcher, proxy, view, poller,
    /// updater (the view runs by default only with Kafka).
    #[arg(long, env = "CASSA_STAGES", value_delimiter = ',', default_value = "dispatcher,proxy,poller,updater")]
    pub stages: Vec<String>,
    /// Most calls per second to one intermediary (unlimited when unset).
    #[arg(long, env = "CASSA_CONNECTOR_RATE")]
    pub connector_rate: Option<u32>,
    /// Most calls at once to one intermediary.
    #[arg(long, env = "CASSA_CONNECTOR_CONCURRENCY", default_value_t = 32)]
    pub connector_concurrency: usize,
    /// Prefix of the consumer groups; replicas of one deployment share it.
    #[arg(long, env = "CASSA_GROUP_PREFIX", default_value = "cassa")]
    pub group_prefix: String,
    /// The connector of tenants whose configuration names none (as OpenCity's core sends them).
    #[arg(long, env = "CASSA_DEFAULT_CONNECTOR", default_value = "sandbox")]
    pub default_connector: String,
    /// pagoPA Checkout carts v2 base URL (UAT: `https://api.uat.platform.pagopa.it/checkout/ec/v2`).
    #[arg(long, env = "CASSA_CHECKOUT_URL", default_value = "https://api.platform.pagopa.it/checkout/ec/v2")]
    pub checkout_url: String,
    /// pagoPA Checkout subscription key (a secret); Checkout is off while it is unset.
    #[arg(long, env = "CASSA_CHECKOUT_SUBSCRIPTION_KEY", hide_env_values = true)]
    pub checkout_subscription_key: Option<String>,
}

impl Default for RunArgs {
    fn default() -> Self {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: RunArgs,
        }
        // Defaults and environment variables, exactly as `cassa run` with no flags.
        match Wrapper::try_parse_from(["cassa"]) {
            Ok(w) => w.args,
            Err(_) => Self {
                listen: ([127, 0, 0, 1], 8080).into(),
                data_dir: "data".into(),
                database_url: None,
                public_url: None,
                sandbox_api_key: "sandbox-demo-key".into(),
                demo: false,
                kafka_brokers: None,
                kafka_partitions: 6,
                topic_applications: "applications".into(),
                topic_payments: "payments".into(),
                topic_dlq: "payments.dlq".into(),
                stages: vec!["dispatcher".into(), "proxy".into(), "poller".into(), "updater".into()],
                connector_rate: None,
                connector_concurrency: 32,
                group_prefix: "cassa".into(),
                default_connector: "sandbox".into(),
                checkout_url: crate::checkout::CheckoutConfig::default().base_url,
                checkout_subscription_key: None,
            },
        }
    }
}

impl RunArgs {
    /// The database URL these options name.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
        Ok(format!("sqlite://{}?mode=rwc", self.data_dir.join("cassa.db").display()))
    }
}

/// `cassa migrate`: applies the migrations and exits.
pub async fn migrate(args: RunArgs) -> anyhow::Result<()> {
    let url = args.database_url()?;
    Store::connect(&url).await?;
    println!("migrations applied to {}", crate::store::redact_url(&url));
    Ok(())
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let app = build(&args, addr, stop.clone()).await?;
    tracing::info!(%addr, sandbox = %format!("http://{addr}/sandbox"), "cassa listening");
    let shutdown = stop.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        })
        .await?;
    // Give the stages a moment to finish what they hold.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Builds the whole host listening at `addr`: store, bus, runtime, connectors, stages (stopped
/// by `stop`) and the router.
pub async fn build(args: &RunArgs, addr: SocketAddr, stop: CancellationToken) -> anyhow::Result<Router> {
    let known = ["dispatcher", "proxy", "view", "poller", "updater"];
    if let Some(unknown) = args.stages.iter().find(|s| !known.contains(&s.trim())) {
        anyhow::bail!("unknown stage `{unknown}` in CASSA_STAGES (known: {})", known.join(", "));
    }
    let url = args.database_url()?;
    let store = Store::connect(&url).await?;
    tracing::info!(database = %crate::store::redact_url(&url), "store ready");
    // The embedded default talks to its own sandbox intermediary on loopback.
    let runtime = Runtime::new(RuntimeConfig {
        egress: EgressConfig { allow_private_networks: true, ..EgressConfig::default() },
        ..RuntimeConfig::default()
    })?;
    let on = |name: &str| args.stages.iter().any(|s| s.trim() == name);
    let config = PipelineConfig {
        public_url: args.public_url.clone().unwrap_or_else(|| format!("http://{addr}")),
        internal_url: format!("http://{addr}"),
        topics: Topics {
            applications: args.topic_applications.clone(),
            payments: args.topic_payments.clone(),
            dlq: args.topic_dlq.clone(),
        },
        stages: Stages {
            dispatcher: on("dispatcher"),
            proxy: on("proxy"),
            view: on("view").then_some(true),
            poller: on("poller"),
            updater: on("updater"),
        },
        group_prefix: args.group_prefix.clone(),
        connector_concurrency: args.connector_concurrency,
        connector_rate_per_second: args.connector_rate,
        checkout: args.checkout_subscription_key.clone().filter(|k| !k.is_empty()).map(|subscription_key| {
            crate::checkout::CheckoutConfig {
                base_url: args.checkout_url.clone(),
                subscription_key,
                ..crate::checkout::CheckoutConfig::default()
            }
        }),
        ..PipelineConfig::default()
    };
    let connectors = Connectors::default();
    for (name, wasm) in crate::embedded::BUNDLED {
        let connector =
            runtime.load(wasm).await.with_context(|| format!("cannot load the bundled `{name}` connector"))?;
        tracing::info!(
            connector = %connector.info().name, version = %connector.info().version,
            digest = %connector.digest(), "connector installed"
        );
        connectors.install(connector, config.connector_concurrency, config.connector_rate_per_second);
    }
    if connectors.get(&args.default_connector).is_none() {
        anyhow::bail!("the default connector `{}` is not installed", args.default_connector);
    }
    connectors.set_default(&args.default_connector);
    let sandbox_url = format!("http://{addr}/sandbox");
    let sandbox = SandboxIntermediary::new(SandboxSettings {
        api_key: args.sandbox_api_key.clone(),
        segregation_code: 1,
        public_url: sandbox_url.clone(),
    });
    if args.demo {
        configure_demo(&store, &sandbox_url, &args.sandbox_api_key).await?;
    }
    let bus: Arc<dyn Bus> = match &args.kafka_brokers {
        Some(brokers) if !brokers.is_empty() => {
            let kafka =
                KafkaConfig { brokers: brokers.clone(), partitions: args.kafka_partitions, ..KafkaConfig::default() };
            let t = &config.topics;
            let bus = KafkaBus::connect(kafka, &[&t.applications, &t.payments, &t.dlq])
                .await
                .context("cannot connect to Kafka")?;
            tracing::info!(%brokers, "bus: Kafka");
            Arc::new(bus)
        }
        _ => {
            tracing::info!("bus: embedded (the store's log)");
            Arc::new(EmbeddedBus::new(store.clone()))
        }
    };
    let pipeline = Pipeline::new(store, bus, connectors, config)?;
    pipeline.spawn(stop);
    Ok(crate::api::router(pipeline.clone())
        .merge(Router::new().route("/connectors", get(list_connectors)).with_state(pipeline))
        .nest("/sandbox", sandbox.router()))
}

async fn configure_demo(store: &Store, sandbox_url: &str, api_key: &str) -> anyhow::Result<()> {
    let tenant = StoredConfig {
        id: DEMO_TENANT.parse()?,
        owner: "sandbox".into(),
        config: json!({
            "name": "Comune di Bugliano",
            "tax_identification_number": "80001234568",
            "base_url": sandbox_url,
            "fiscal_code": "80001234568",
            "api_key": api_key,
        }),
        active: true,
    };
    store.put_tenant(&tenant).await?;
    let service = StoredConfig {
        id: DEMO_SERVICE.parse()?,
        owner: DEMO_TENANT.into(),
        config: json!({"reason_prefix": "Demo", "pagopa_category": "9/0101108TS/"}),
        active: true,
    };
    store.put_service(&service).await?;
    tracing::info!(tenant = DEMO_TENANT, service = DEMO_SERVICE, "demo tenant and service configured");
    Ok(())
}

async fn list_connectors(State(p): State<Pipeline>) -> axum::Json<serde_json::Value> {
    let list: Vec<_> = p.connectors.all().iter().map(|c| json!({ "digest": c.digest(), "info": c.info() })).collect();
    axum::Json(serde_json::Value::Array(list))
}
