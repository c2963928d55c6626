//! `cassa run`: the long-running host. On embedded defaults (SQLite in the data directory, the
//! embedded bus) it runs every pipeline stage, the HTTP API and the sandbox intermediary under
//! `/sandbox`, with the `sandbox` connector installed; `--demo` also configures a demo tenant
//! and service against that sandbox. `CASSA_DATABASE_URL=postgres://…` and
//! `CASSA_KAFKA_BROKERS=host:port` switch to PostgreSQL and Kafka.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::bus::Bus;
use crate::bus::embedded::EmbeddedBus;
use crate::bus::kafka::KafkaBus;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::registry::{Connectors, Registry};
use crate::runtime::{EgressConfig, Runtime, RuntimeConfig};
use crate::sandbox_intermediary::{SandboxIntermediary, SandboxSettings};
pub use crate::settings::{RunArgs, Settings};
use crate::store::{Store, StoredConfig};

/// The demo tenant (`--demo`): the example municipality of DOMAIN.md.
pub const DEMO_TENANT: &str = "60e35f02-1509-408c-b101-3b1a28109329";
/// The demo service (`--demo`).
pub const DEMO_SERVICE: &str = "df171f10-bea7-4701-afd5-797693fd3b08";

/// `cassa migrate`: applies the migrations and exits.
pub async fn migrate(args: RunArgs) -> anyhow::Result<()> {
    let args = Settings::load(&args)?;
    let url = args.database_url()?;
    Store::connect(&url).await?;
    println!("migrations applied to {}", crate::store::redact_url(&url));
    Ok(())
}

/// Runs until Ctrl-C or SIGTERM, then shuts down gracefully within `shutdown_timeout_ms`: the
/// stages stop reading the bus and claiming payments (`/readyz` turns 503), the batches and
/// checks in flight finish and commit, the outbox is relayed and the producer flushed, and
/// only then does the HTTP server stop accepting and close (in-flight creations may need the
/// embedded sandbox it serves). Whatever is cut short is read again after restart (every effect
/// is idempotent); what the API accepts meanwhile is in the store or the log, for the next start
/// or another replica.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let args = Settings::load(&args)?;
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let host = start(&args, addr, stop.clone()).await?;
    tracing::info!(%addr, sandbox = %format!("http://{addr}/sandbox"), "cassa listening");
    // The signal stops the stages first; the HTTP server keeps answering (`/readyz` says
    // "shutting down") until the work in flight is done, because that work may need it: the
    // embedded sandbox intermediary is served here.
    let signalled = stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signalled.cancel();
    });
    let close = CancellationToken::new();
    let closing = close.clone();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, host.router).with_graceful_shutdown(async move { closing.cancelled().await }).await
    });
    // Until the signal; a server that ends on its own (it should not) stops the host too.
    tokio::select! {
        _ = stop.cancelled() => {}
        ended = &mut server => {
            tracing::error!(outcome = ?ended.as_ref().map(|r| r.as_ref().map_err(ToString::to_string)), "the HTTP server stopped by itself; shutting down");
            stop.cancel();
        }
    }
    let bound = Duration::from_millis(args.shutdown_timeout_ms);
    let started = std::time::Instant::now();
    tracing::info!(bound_ms = args.shutdown_timeout_ms, "shutting down: finishing work in flight");
    let finished = tokio::time::timeout(bound, async {
        for stage in host.stages {
            let _ = stage.await;
        }
        crate::pipeline::relay::drain(&host.pipeline).await;
        if let Err(error) = host.pipeline.bus.flush().await {
            tracing::warn!(%error, "cannot flush the bus producer");
        }
    })
    .await;
    match finished {
        Ok(()) => tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "stopped cleanly"),
        Err(_) => tracing::warn!(
            bound_ms = args.shutdown_timeout_ms,
            "shutdown bound reached; unfinished work is read again at restart"
        ),
    }
    // Then the HTTP server: requests still open get what is left of the bound.
    close.cancel();
    let left = bound.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
    if server.is_finished() {
        return Ok(());
    }
    match tokio::time::timeout(left, server).await {
        Ok(Ok(served)) => served?,
        Ok(Err(join)) => tracing::warn!(error = %join, "the HTTP server task failed"),
        Err(_) => tracing::warn!("HTTP requests still open at the bound were cut"),
    }
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
pub async fn build(args: &Settings, addr: SocketAddr, stop: CancellationToken) -> anyhow::Result<Router> {
    Ok(start(args, addr, stop).await?.router)
}

/// A started host: its router, its running stages and the pipeline they share.
pub struct Host {
    /// Every route.
    pub router: Router,
    /// The stages' tasks; they end after `stop` once their work in flight is done.
    pub stages: Vec<tokio::task::JoinHandle<()>>,
    /// The pipeline.
    pub pipeline: Pipeline,
}

/// Starts the whole host listening at `addr` (see [`build`]).
pub async fn start(args: &Settings, addr: SocketAddr, stop: CancellationToken) -> anyhow::Result<Host> {
    args.check()?;
    // Counters record from the start; `/metrics` renders them.
    let _ = crate::metrics::handle();
    let url = args.database_url()?;
    let mut store = Store::connect(&url).await?;
    if let Some(key) = &args.secrets_key {
        store = store.with_sealer(crate::store::sealed::Sealer::from_base64(key).map_err(anyhow::Error::msg)?);
    }
    tracing::info!(database = %crate::store::redact_url(&url), "store ready");
    // The embedded default talks to its own sandbox intermediary on loopback, and to nothing
    // else that is not public unless the operator says so.
    let private = args.connectors.connector_private_networks.as_str();
    let runtime = Runtime::new(RuntimeConfig {
        egress: EgressConfig {
            allow_private_networks: private == "all",
            allow_loopback: private != "none",
            ..EgressConfig::default()
        },
        compile_cache: Some(args.data_dir.join("compiled")),
        max_instances: args.connectors.connector_instances.max(1),
        ..RuntimeConfig::default()
    })?;
    // The stages' settings as given; only where this host listens is known just now.
    let config = PipelineConfig { internal_url: format!("http://{addr}"), ..args.pipeline.clone() };
    let connectors =
        Connectors::new(crate::runtime::LimitPolicy::parse(&args.connectors.limits).map_err(anyhow::Error::msg)?);
    let publishers = crate::registry::PublisherKey::parse_all(&args.connectors.connector_publisher_keys)
        .map_err(anyhow::Error::msg)?;
    let registry = Registry::new(
        store.clone(),
        runtime.clone(),
        connectors.clone(),
        config.connector_concurrency,
        config.connector_rate,
        publishers,
    );
    for (name, wasm) in crate::embedded::BUNDLED {
        let artifact =
            registry.bundle(wasm).await.with_context(|| format!("cannot store the bundled `{name}` connector"))?;
        tracing::debug!(connector = %artifact.name, version = %artifact.version, digest = %artifact.digest, "bundled connector stored");
    }
    // Every name's active version: bundled, or uploaded and activated earlier.
    registry.sync().await.context("cannot install the active connectors")?;
    for connector in connectors.all() {
        tracing::info!(
            connector = %connector.info().name, version = %connector.info().version,
            digest = %connector.digest(), "connector installed"
        );
    }
    let default_connector = &args.connectors.default_connector;
    if connectors.get(default_connector).is_none() {
        anyhow::bail!("the default connector `{default_connector}` is not installed");
    }
    connectors.set_default(default_connector);
    let sandbox_url = format!("http://{addr}/sandbox");
    let sandbox = SandboxIntermediary::new(SandboxSettings {
        api_key: args.sandbox_api_key.clone(),
        segregation_code: 1,
        public_url: sandbox_url.clone(),
    });
    if args.demo {
        configure_demo(&store, &sandbox_url, &args.sandbox_api_key).await?;
    }
    let bus: Arc<dyn Bus> = match args.bus.kafka() {
        Some(kafka) => {
            let brokers = kafka.brokers.clone();
            let t = &config.topics;
            let bus = KafkaBus::connect(kafka, &[&t.applications, &t.payments, &t.dlq])
                .await
                .context("cannot connect to Kafka")?;
            tracing::info!(%brokers, "bus: Kafka");
            Arc::new(bus)
        }
        None => {
            tracing::info!("bus: embedded (the store's log)");
            Arc::new(EmbeddedBus::new(store.clone()))
        }
    };
    let pipeline = Pipeline::new(store, bus, connectors, config)?;
    let state = AppState::new(pipeline.clone(), args.api.clone())?.with_registry(registry.clone());
    let mut stages = pipeline.spawn(stop.clone());
    // Activations made on other replicas (or by `cassa connector activate` against them).
    stages.push(registry.watch(stop.clone(), crate::registry::WATCH_INTERVAL));
    if let Some(dir) = &args.connectors.connector_dir {
        tracing::info!(dir = %dir.display(), "directory mode: connector files dropped here are activated");
        stages.push(registry.watch_dir(dir.clone(), stop, Duration::from_secs(1)));
    }
    let router = crate::api::router(state).nest("/sandbox", sandbox.router());
    Ok(Host { router, stages, pipeline })
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
