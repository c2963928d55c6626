//! What the HTTP handlers share: the stages' [`Pipeline`] (store, bus, connectors) and what only
//! the API needs: who may call ([`Access`]), the connector registry, the pagoPA Checkout client
//! and the key of the citizens' page links. Extractors take the part they need through axum's
//! [`FromRef`]: a handler that only reads payments asks for `State<Pipeline>`.

use std::sync::Arc;

use axum::extract::FromRef;
use uuid::Uuid;

use super::auth::CoreKeys;
use crate::checkout::{CheckoutClient, CheckoutConfig};
use crate::pipeline::Pipeline;
use crate::registry::Registry;
use crate::store::StoreError;

/// Settings of the HTTP API.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// pagoPA Checkout, when citizens may pay through it.
    pub checkout: Option<CheckoutConfig>,
    /// Bearer tokens of operators: when any is set, the operators' endpoints (`/dlq…`,
    /// `/connectors…`) require one of them.
    pub admin_tokens: Vec<String>,
    /// Keys of the core's JWTs (`hs256:<secret>`, a PEM public key, or `@file`): when any is
    /// set, the core-facing APIs need a JWT carrying the tenant, or an admin token.
    pub core_jwt_keys: Vec<String>,
    /// The `aud` the core's JWTs must name, when set.
    pub core_jwt_audience: Option<String>,
    /// The `iss` the core's JWTs must name, when set.
    pub core_jwt_issuer: Option<String>,
}

/// Who may call what: the keys of the core's JWTs and the operators' tokens.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The keys of the core's JWTs (empty: the core-facing APIs are open).
    pub core_keys: Arc<CoreKeys>,
    /// The operators' bearer tokens (empty: the operators' endpoints are open).
    pub admin_tokens: Arc<[String]>,
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The stages' context: store, bus, installed connectors.
    pub pipeline: Pipeline,
    /// Who may call what.
    pub access: Access,
    /// The connector registry, when this host has one (`cassa run` does).
    pub registry: Option<Registry>,
    /// The pagoPA Checkout client, when Checkout is configured.
    pub checkout: Option<CheckoutClient>,
    link_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl AppState {
    /// The API's state over `pipeline`, configured by `config`; the error says which setting
    /// is wrong.
    pub fn new(pipeline: Pipeline, config: ApiConfig) -> anyhow::Result<Self> {
        let checkout = config.checkout.map(CheckoutClient::new).transpose()?;
        let core_keys = CoreKeys::parse(&config.core_jwt_keys)
            .map_err(anyhow::Error::msg)?
            .expecting(config.core_jwt_audience, config.core_jwt_issuer);
        let admin_tokens = config.admin_tokens.into_iter().filter(|t| !t.is_empty()).collect();
        Ok(Self {
            pipeline,
            access: Access { core_keys: Arc::new(core_keys), admin_tokens },
            registry: None,
            checkout,
            link_key: Arc::default(),
        })
    }

    /// This state with the connector registry `registry` (the operators' API uses it).
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The key that signs the citizen's payment-page links: made by the first host to need it
    /// and shared through the database, so every replica accepts every link.
    pub async fn link_key(&self) -> Result<Vec<u8>, StoreError> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let key = self
            .link_key
            .get_or_try_init(|| async {
                let encoded = self
                    .pipeline
                    .store
                    .host_setting("page_link_key", || {
                        let random: Vec<u8> = (0..2).flat_map(|_| *Uuid::new_v4().as_bytes()).collect();
                        engine.encode(random)
                    })
                    .await?;
                engine.decode(encoded).map_err(|e| StoreError::Corrupt(format!("page link key: {e}")))
            })
            .await?;
        Ok(key.clone())
    }
}

impl From<Pipeline> for AppState {
    /// The API over `pipeline` alone: open to every caller, without a registry or Checkout.
    fn from(pipeline: Pipeline) -> Self {
        Self { pipeline, access: Access::default(), registry: None, checkout: None, link_key: Arc::default() }
    }
}

impl FromRef<AppState> for Pipeline {
    fn from_ref(state: &AppState) -> Self {
        state.pipeline.clone()
    }
}

impl FromRef<AppState> for Access {
    fn from_ref(state: &AppState) -> Self {
        state.access.clone()
    }
}
