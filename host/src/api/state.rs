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

/// Settings of the HTTP API (the `[api]` section of `cassa.toml`).
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct ApiConfig {
    /// pagoPA Checkout carts v2 base URL (UAT: `https://api.uat.platform.pagopa.it/checkout/ec/v2`).
    #[arg(long, env = "CASSA_CHECKOUT_URL", default_value_t = CheckoutConfig::default().base_url)]
    pub checkout_url: String,
    /// pagoPA Checkout subscription key (a secret); Checkout is off while it is unset.
    #[arg(long, env = "CASSA_CHECKOUT_SUBSCRIPTION_KEY", hide_env_values = true)]
    pub checkout_subscription_key: Option<String>,
    /// Time-out of one request to pagoPA Checkout, in milliseconds.
    #[arg(long, env = "CASSA_CHECKOUT_TIMEOUT_MS", default_value_t = CheckoutConfig::default().timeout_ms)]
    pub checkout_timeout_ms: u64,
    /// Bearer tokens of operators, comma-separated (secrets): when set, the operators' endpoints (`/dlq…`, `/connectors…`) require one of them, and they pass for every tenant on the core's APIs; `cassa dlq` and `cassa connector` send `CASSA_ADMIN_TOKEN`.
    #[arg(long, env = "CASSA_ADMIN_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub admin_tokens: Vec<String>,
    /// Keys of the core's JWTs, comma-separated (secrets): `hs256:<shared secret>`, a PEM public key (RSA, EC, Ed25519) or `@/path/key.pem`. When set, the configuration, payments and applications APIs need `Authorization: Bearer` with the core's JWT carrying the `tenant_id` it acts for (only that tenant's data is visible), or an admin token.
    #[arg(long, env = "CASSA_CORE_JWT_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub core_jwt_keys: Vec<String>,
    /// The audience (`aud`) the core's JWTs must name, e.g. `cassa`; unset: not checked. Set it when the core signs other tokens (its users' sessions) with the same key.
    #[arg(long, env = "CASSA_CORE_JWT_AUDIENCE")]
    pub core_jwt_audience: Option<String>,
    /// The issuer (`iss`) the core's JWTs must name; unset: not checked.
    #[arg(long, env = "CASSA_CORE_JWT_ISSUER")]
    pub core_jwt_issuer: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        crate::defaults::of()
    }
}

impl std::fmt::Debug for ApiConfig {
    /// Which are set, never the secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("checkout_url", &self.checkout_url)
            .field("checkout", &self.checkout_subscription_key.is_some())
            .field("admin_tokens", &self.admin_tokens.len())
            .field("core_jwt_keys", &self.core_jwt_keys.len())
            .finish_non_exhaustive()
    }
}

impl ApiConfig {
    /// pagoPA Checkout, when citizens may pay through it (a subscription key is set).
    pub fn checkout(&self) -> Option<CheckoutConfig> {
        let subscription_key = self.checkout_subscription_key.clone().filter(|k| !k.is_empty())?;
        Some(CheckoutConfig {
            base_url: self.checkout_url.clone(),
            subscription_key,
            timeout_ms: self.checkout_timeout_ms,
        })
    }
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
        let checkout = config.checkout().map(CheckoutClient::new).transpose()?;
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
