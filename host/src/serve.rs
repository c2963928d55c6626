//! `cassa run`: the long-running host. On embedded defaults it serves the sandbox intermediary
//! under `/sandbox`, loads the embedded `sandbox` connector through the runtime, and answers
//! `/healthz` and `/connectors`. The payment pipeline stages join it as they are built.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::runtime::{Connector, EgressConfig, Runtime, RuntimeConfig};
use crate::sandbox_intermediary::{SandboxIntermediary, SandboxSettings};

/// Options of `cassa run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "CASSA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// API key of the embedded sandbox intermediary.
    #[arg(long, env = "CASSA_SANDBOX_API_KEY", default_value = "sandbox")]
    pub sandbox_api_key: String,
}

impl Default for RunArgs {
    fn default() -> Self {
        Self {
            listen: std::env::var("CASSA_LISTEN")
                .ok()
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| ([127, 0, 0, 1], 8080).into()),
            sandbox_api_key: std::env::var("CASSA_SANDBOX_API_KEY").unwrap_or_else(|_| "sandbox".into()),
        }
    }
}

struct AppState {
    connectors: Vec<Connector>,
}

/// Runs until Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // The embedded default talks to its own sandbox intermediary on loopback.
    let config = RuntimeConfig {
        egress: EgressConfig { allow_private_networks: true, ..EgressConfig::default() },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config)?;
    let sandbox_connector = runtime.load(crate::embedded::SANDBOX_CONNECTOR).await?;
    tracing::info!(
        connector = %sandbox_connector.info().name, version = %sandbox_connector.info().version,
        digest = %sandbox_connector.digest(), "connector loaded"
    );
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let sandbox = SandboxIntermediary::new(SandboxSettings {
        api_key: args.sandbox_api_key,
        segregation_code: 1,
        public_url: format!("http://{addr}/sandbox"),
    });
    let state = Arc::new(AppState { connectors: vec![sandbox_connector] });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/connectors", get(connectors))
        .with_state(state)
        .nest("/sandbox", sandbox.router());
    tracing::info!(%addr, sandbox = %format!("http://{addr}/sandbox"), "cassa listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}

async fn connectors(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let list: Vec<_> =
        state.connectors.iter().map(|c| serde_json::json!({ "digest": c.digest(), "info": c.info() })).collect();
    Json(serde_json::Value::Array(list))
}
