//! The payment pipeline: the stages that replace OpenCity's dispatcher, proxy, view, poller and
//! updater, each a small loop over the bus or the store with the decisions in [`crate::domain`].
//!
//! | stage | reads | writes |
//! |---|---|---|
//! | [`dispatcher`] | `applications` | a `CREATION_PENDING` payment (store + outbox) or the DLQ |
//! | [`proxy`] | `payments` (`CREATION_PENDING`) | `PAYMENT_PENDING` / `CREATION_FAILED` via the connector |
//! | [`view`] | `payments` written by others | the payments table |
//! | [`poller`] | due rows of the payments table | status changes via the connector |
//! | [`updater`] | due notifications | the core's notify endpoint, then `sent_at` |
//! | [`relay`] | the store's outbox (external bus only) | Kafka |
//!
//! Every effect is idempotent and every consumer commits only after its effect is durable.

pub mod dispatcher;
pub mod poller;
pub mod proxy;
pub mod relay;
pub mod updater;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bus::{Bus, Message, Topics};
use crate::domain::payment::{PaymentEvent, Receiver};
use crate::domain::transitions::Endpoints;
use crate::runtime::{CallScope, Connector, Gate, LimitPolicy, Limits, wit};
use crate::store::{Store, StoreError, StoredConfig};

/// Which stages run in this process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stages {
    /// `applications` → `CREATION_PENDING` payments.
    pub dispatcher: bool,
    /// `CREATION_PENDING` → debt position at the intermediary.
    pub proxy: bool,
    /// `payments` written by others → the payments table (needed with Kafka only).
    pub view: Option<bool>,
    /// Due payments → status checks.
    pub poller: bool,
    /// Final payments → the core's notify endpoint.
    pub updater: bool,
}

impl Default for Stages {
    fn default() -> Self {
        Self { dispatcher: true, proxy: true, view: None, poller: true, updater: true }
    }
}

/// What the `payments` topic is keyed by.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyBy {
    /// The payment id: per-payment order, a busy service spread over all partitions.
    #[default]
    PaymentId,
    /// The service id, as OpenCity's own components do.
    ServiceId,
}

/// Settings of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Base URL of citizen-facing links (`/online-payment/{id}`, `/notice/{id}`, …).
    pub public_url: String,
    /// Base URL of the poller's `/update/{id}` links.
    pub internal_url: String,
    /// Which stages run.
    pub stages: Stages,
    /// Topic names.
    pub topics: Topics,
    /// Key of `payments` messages.
    pub key_by: KeyBy,
    /// Attempts at `create` for transient failures before `CREATION_FAILED`.
    pub create_attempts: u32,
    /// First retry delay in milliseconds; doubles with each attempt.
    pub retry_base_ms: u64,
    /// How often the poller looks for due payments, in milliseconds.
    pub poll_interval_ms: u64,
    /// Most payments claimed per poll.
    pub poll_batch: i64,
    /// How long a claimed payment is reserved for the claiming poller, in milliseconds.
    pub poll_lease_ms: u64,
    /// Concurrent connector calls per intermediary (connector).
    pub connector_concurrency: usize,
    /// Connector calls per second per intermediary; unlimited when unset.
    pub connector_rate_per_second: Option<u32>,
    /// First notification retry delay in milliseconds; doubles per attempt, at most an hour.
    pub notify_retry_base_ms: u64,
    /// Time-out of one notify request in milliseconds.
    pub notify_timeout_ms: u64,
    /// Bearer token sent to the core's notify endpoint.
    pub core_token: Option<String>,
    /// Prefix of the consumer groups (`<prefix>-dispatcher`, `<prefix>-proxy`, `<prefix>-view`):
    /// replicas of one deployment share it; deployments sharing a broker must not.
    pub group_prefix: String,
    /// Batches each bus-consuming stage handles at once on PostgreSQL (SQLite: one).
    pub batches_in_flight: usize,
    /// pagoPA Checkout, when citizens may pay through it.
    pub checkout: Option<crate::checkout::CheckoutConfig>,
    /// Bearer tokens of operators: when any is set, the operators' endpoints (`/dlq…`) require
    /// one of them.
    pub admin_tokens: Vec<String>,
    /// Keys of the core's JWTs (`hs256:<secret>`, a PEM public key, or `@file`): when any is
    /// set, the core-facing APIs need a JWT carrying the tenant, or an admin token.
    pub core_jwt_keys: Vec<String>,
    /// The `aud` the core's JWTs must name, when set.
    pub core_jwt_audience: Option<String>,
    /// The `iss` the core's JWTs must name, when set.
    pub core_jwt_issuer: Option<String>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            internal_url: "http://127.0.0.1:8080".into(),
            stages: Stages::default(),
            topics: Topics::default(),
            key_by: KeyBy::default(),
            create_attempts: 5,
            retry_base_ms: 200,
            poll_interval_ms: 1_000,
            poll_batch: 200,
            poll_lease_ms: 120_000,
            connector_concurrency: 32,
            connector_rate_per_second: None,
            notify_retry_base_ms: 5_000,
            notify_timeout_ms: 10_000,
            core_token: None,
            group_prefix: "cassa".into(),
            batches_in_flight: 4,
            checkout: None,
            admin_tokens: Vec::new(),
            core_jwt_keys: Vec::new(),
            core_jwt_audience: None,
            core_jwt_issuer: None,
        }
    }
}

/// A connector and the gate of calls to its intermediary.
type Installed = (Connector, Arc<Gate>);

/// The connectors this host can call, by name, and the operator's limits on their calls.
#[derive(Clone, Default)]
pub struct Connectors {
    by_name: Arc<RwLock<HashMap<String, Installed>>>,
    default: Arc<RwLock<Option<String>>>,
    policy: Arc<LimitPolicy>,
    /// Each tenant's gate, made at its first call, for tenants whose rule bounds concurrency or
    /// calls per second.
    tenant_gates: Arc<std::sync::Mutex<HashMap<String, Option<Arc<Gate>>>>>,
    /// The versions tenants and services are pinned to, by (`tenant`|`service`, id).
    pinned: Arc<RwLock<HashMap<(String, String), Connector>>>,
}

impl Connectors {
    /// No connectors yet; their calls limited by `policy`.
    pub fn new(policy: LimitPolicy) -> Self {
        Self { policy: Arc::new(policy), ..Self::default() }
    }

    /// Installs (or replaces) a connector under its own name, with at most `concurrency` calls
    /// at once and `per_second` calls per second to its intermediary, unless the operator's rule
    /// for the connector says otherwise. A replaced version's gate carries over to the new one
    /// (it is the intermediary's), and calls holding the old version finish on it.
    pub fn install(&self, connector: Connector, concurrency: usize, per_second: Option<u32>) {
        let name = connector.info().name.clone();
        let rule = self.policy.connector(&name);
        if let Ok(mut map) = self.by_name.write() {
            let gate = match map.get(&name) {
                Some((_, gate)) => gate.clone(),
                None => Arc::new(Gate::new(
                    Some(rule.concurrency.unwrap_or(concurrency)),
                    rule.calls_per_second.or(per_second),
                )),
            };
            map.insert(name, (connector, gate));
        }
    }

    /// The limits of a call of `connector` for `tenant`, and the tenant's gate when its rule
    /// has one.
    pub fn limits_for(&self, connector: &Connector, tenant: &str) -> (Limits, Option<Arc<Gate>>) {
        let limits = self.policy.call_limits(connector.limits(), &connector.info().name, tenant);
        let rule = self.policy.tenant(tenant);
        if !rule.gates() {
            return (limits, None);
        }
        // One entry per tenant with a bounding rule that has called: at most the tenants.
        let gate = match self.tenant_gates.lock() {
            Ok(mut gates) => gates.entry(tenant.to_owned()).or_insert_with(|| Gate::of(&rule).map(Arc::new)).clone(),
            Err(_) => None,
        };
        (limits, gate)
    }

    /// Replaces the pinned versions: (`tenant`|`service`, id) → its version.
    pub fn set_pins(&self, pins: HashMap<(String, String), Connector>) {
        if let Ok(mut pinned) = self.pinned.write() {
            *pinned = pins;
        }
    }

    /// The digest of each pinned version, by (`tenant`|`service`, id).
    pub fn pinned_digests(&self) -> HashMap<(String, String), String> {
        self.pinned
            .read()
            .map(|p| p.iter().map(|(k, c)| (k.clone(), c.digest().to_owned())).collect())
            .unwrap_or_default()
    }

    /// The version of connector `name` a service's calls use when the service, else its
    /// tenant, is pinned to one.
    pub fn pinned(&self, name: &str, tenant: &str, service: &str) -> Option<Connector> {
        let pinned = self.pinned.read().ok()?;
        [("service", service), ("tenant", tenant)]
            .into_iter()
            .filter_map(|(kind, id)| pinned.get(&(kind.to_owned(), id.to_owned())))
            .find(|c| c.info().name == name)
            .cloned()
    }

    /// The connector named `name` and the permit pool limiting concurrent calls to it.
    pub fn get(&self, name: &str) -> Option<Installed> {
        self.by_name.read().ok()?.get(name).cloned()
    }

    /// Every installed connector, by name.
    pub fn all(&self) -> Vec<Connector> {
        let mut all: Vec<Connector> =
            self.by_name.read().map(|m| m.values().map(|(c, _)| c.clone()).collect()).unwrap_or_default();
        all.sort_by(|a, b| a.info().name.cmp(&b.info().name));
        all
    }

    /// Makes `name` the connector of tenants that do not name one.
    pub fn set_default(&self, name: &str) {
        if let Ok(mut default) = self.default.write() {
            *default = Some(name.to_owned());
        }
    }

    /// The connector of tenants that do not name one: the one set with [`Self::set_default`],
    /// else the only one installed.
    pub fn default_name(&self) -> Option<String> {
        if let Some(name) = self.default.read().ok()?.clone() {
            return Some(name);
        }
        let map = self.by_name.read().ok()?;
        if map.len() == 1 { map.keys().next().cloned() } else { None }
    }
}

/// Why a stage could not handle a message; the message is retried.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The handling of a batch ended abnormally.
    #[error("the handling of a batch was aborted")]
    Aborted,
}

/// The span every log line about `event` is written in: tenant, service, payment and event ids.
pub fn payment_span(event: &PaymentEvent) -> tracing::Span {
    tracing::info_span!("payment", tenant = %event.tenant_id, service = %event.service_id, payment = %event.id, event = %event.event_id)
}

/// The tenant, service and connector a payment is handled with.
pub struct Configured {
    /// Tenant configuration.
    pub tenant: StoredConfig,
    /// Service configuration.
    pub service: StoredConfig,
    /// The connector.
    pub connector: Connector,
    /// Limits the calls to the connector's intermediary.
    pub permits: Arc<Gate>,
}

/// Keys of a tenant or service document that belong to the host, not to the connector.
const HOST_KEYS: [&str; 6] = ["id", "tenant_id", "active", "connector", "allowed_hosts", "online_payment"];

/// Everything the stages and the HTTP API share.
#[derive(Clone)]
pub struct Pipeline {
    /// The store.
    pub store: Store,
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// Installed connectors.
    pub connectors: Connectors,
    /// Settings.
    pub config: Arc<PipelineConfig>,
    http: reqwest::Client,
    updater_kick: Arc<Notify>,
    relay_kick: Arc<Notify>,
    configs: Arc<std::sync::Mutex<HashMap<(Uuid, Uuid), CachedConfig>>>,
    checkout: Option<crate::checkout::CheckoutClient>,
    core_keys: Arc<crate::api::auth::CoreKeys>,
    /// The connector registry, when this host has one (`cassa run` does).
    pub registry: Option<crate::registry::Registry>,
    link_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// Cancelled when the stages are told to stop: work that would fail only because the host
    /// is going away is left for the next start instead.
    stopping: CancellationToken,
}

/// A tenant and service configuration read recently, and when.
type CachedConfig = (std::time::Instant, Option<(StoredConfig, StoredConfig)>);

/// How long a configuration read from the store is reused. Changes made through this host's API
/// apply at once; changes made through another replica within this time.
const CONFIG_TTL: Duration = Duration::from_secs(2);

impl Pipeline {
    /// A pipeline over a store and a bus.
    pub fn new(
        store: Store,
        bus: Arc<dyn Bus>,
        connectors: Connectors,
        config: PipelineConfig,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.notify_timeout_ms))
            .user_agent(concat!("cassa/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let checkout = config.checkout.clone().map(crate::checkout::CheckoutClient::new).transpose()?;
        let core_keys = Arc::new(
            crate::api::auth::CoreKeys::parse(&config.core_jwt_keys)
                .map_err(anyhow::Error::msg)?
                .expecting(config.core_jwt_audience.clone(), config.core_jwt_issuer.clone()),
        );
        Ok(Self {
            core_keys,
            store,
            bus,
            connectors,
            checkout,
            registry: None,
            link_key: Arc::default(),
            stopping: CancellationToken::new(),
            config: Arc::new(config),
            http,
            updater_kick: Arc::new(Notify::new()),
            relay_kick: Arc::new(Notify::new()),
            configs: Arc::default(),
        })
    }

    /// The keys of the core's JWTs (empty: the core-facing APIs are open).
    pub fn core_keys(&self) -> &crate::api::auth::CoreKeys {
        &self.core_keys
    }

    /// This pipeline with the connector registry `registry` (the configuration and admin APIs
    /// use it).
    pub fn with_registry(mut self, registry: crate::registry::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Starts the configured stages; they stop when `stop` is cancelled.
    pub fn spawn(&self, stop: CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        let stopping = self.stopping.clone();
        let told = stop.clone();
        tokio::spawn(async move {
            told.cancelled().await;
            stopping.cancel();
        });
        let stages = &self.config.stages;
        let mut handles = Vec::new();
        if stages.dispatcher {
            handles.push(tokio::spawn(dispatcher::run(self.clone(), stop.clone())));
        }
        if stages.proxy {
            handles.push(tokio::spawn(proxy::run(self.clone(), stop.clone())));
        }
        if stages.view.unwrap_or(!self.bus.outbox_is_log()) {
            handles.push(tokio::spawn(view::run(self.clone(), stop.clone())));
        }
        if stages.poller {
            handles.push(tokio::spawn(poller::run(self.clone(), stop.clone())));
        }
        if stages.updater {
            handles.push(tokio::spawn(updater::run(self.clone(), stop.clone())));
        }
        if !self.bus.outbox_is_log() {
            handles.push(tokio::spawn(relay::run(self.clone(), stop.clone())));
        }
        handles
    }

    /// The consumer group of a stage.
    pub fn group(&self, stage: &str) -> String {
        format!("{}-{stage}", self.config.group_prefix)
    }

    /// Where cassa's per-payment endpoints are.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints { public_base: self.config.public_url.clone(), internal_base: self.config.internal_url.clone() }
    }

    /// The key of a payment's messages.
    pub fn key_of(&self, event: &PaymentEvent) -> String {
        match self.config.key_by {
            KeyBy::PaymentId => event.id.to_string(),
            KeyBy::ServiceId => event.service_id.to_string(),
        }
    }

    /// Drops cached configurations: call after changing one.
    pub fn forget_configs(&self) {
        if let Ok(mut cache) = self.configs.lock() {
            cache.clear();
        }
    }

    /// Tells consumers and the notifier that the outbox has new rows.
    pub fn outbox_written(&self) {
        self.bus.outbox_written();
        self.updater_kick.notify_one();
        self.relay_kick.notify_one();
    }

    /// Sends a message that could not be processed to the DLQ with the reason.
    pub async fn dead_letter(&self, message: &Message, reason: &str) -> Result<(), PipelineError> {
        tracing::warn!(topic = %message.topic, offset = message.offset, %reason, "message sent to the DLQ");
        let stage = if message.topic == self.config.topics.applications { "dispatcher" } else { "proxy" };
        crate::metrics::processing_error(stage, "dead_letter");
        let payload = String::from_utf8_lossy(&message.payload);
        self.store
            .insert_dead_letter(
                &message.topic,
                message.partition.into(),
                message.offset,
                &message.key,
                &payload,
                reason,
            )
            .await?;
        let body = serde_json::json!({
            "reason": reason,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": message.key,
            "payload": payload,
            "received_at": crate::domain::Timestamp::now(),
        });
        self.bus.publish(&self.config.topics.dlq, &message.key, body.to_string().as_bytes()).await?;
        Ok(())
    }

    /// Whether the stages have been told to stop (shutdown).
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// The pagoPA Checkout client, when Checkout is configured.
    pub fn checkout(&self) -> Option<&crate::checkout::CheckoutClient> {
        self.checkout.as_ref()
    }

    /// The key that signs the citizen's payment-page links: made by the first host to need it
    /// and shared through the database, so every replica accepts every link.
    pub async fn link_key(&self) -> Result<Vec<u8>, PipelineError> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let key = self
            .link_key
            .get_or_try_init(|| async {
                let encoded = self
                    .store
                    .host_setting("page_link_key", || {
                        let random: Vec<u8> = (0..2).flat_map(|_| *Uuid::new_v4().as_bytes()).collect();
                        engine.encode(random)
                    })
                    .await?;
                engine
                    .decode(encoded)
                    .map_err(|e| PipelineError::Store(crate::store::StoreError::Corrupt(format!("page link key: {e}"))))
            })
            .await?;
        Ok(key.clone())
    }

    /// The active tenant and service configuration of a payment and its connector, or `None`
    /// when this host does not handle the payment.
    pub async fn configured(&self, event: &PaymentEvent) -> Result<Option<Configured>, PipelineError> {
        let key = (event.tenant_id, event.service_id);
        let cached = self
            .configs
            .lock()
            .ok()
            .and_then(|c| c.get(&key).filter(|(at, _)| at.elapsed() < CONFIG_TTL).map(|(_, v)| v.clone()));
        let pair = match cached {
            Some(pair) => pair,
            None => {
                let pair =
                    match (self.store.tenant(event.tenant_id).await?, self.store.service(event.service_id).await?) {
                        // A service is used only by its own tenant: never another tenant's
                        // configuration (and secrets) for this tenant's payment.
                        (Some(tenant), Some(service)) if service.owner == tenant.id.to_string() => {
                            Some((tenant, service))
                        }
                        _ => None,
                    };
                if let Ok(mut cache) = self.configs.lock() {
                    cache.insert(key, (std::time::Instant::now(), pair.clone()));
                }
                pair
            }
        };
        let Some((tenant, service)) = pair else {
            return Ok(None);
        };
        if !tenant.active || !service.active {
            return Ok(None);
        }
        let name = if tenant.owner.is_empty() {
            self.connectors.default_name().unwrap_or_default()
        } else {
            tenant.owner.clone()
        };
        let Some((active, permits)) = self.connectors.get(&name) else {
            tracing::error!(tenant = %event.tenant_id, connector = %name, "the tenant's connector is not installed");
            return Ok(None);
        };
        // A pinned service or tenant keeps its version; the intermediary's gate is the same.
        let connector =
            self.connectors.pinned(&name, &tenant.id.to_string(), &service.id.to_string()).unwrap_or(active);
        Ok(Some(Configured { tenant, service, connector, permits }))
    }

    /// The call scope of a payment.
    pub fn scope(&self, configured: &Configured, payment_id: Option<Uuid>) -> CallScope {
        let tenant = connector_view(&configured.tenant.config);
        let tenant_id = configured.tenant.id.to_string();
        let (limits, gate) = self.connectors.limits_for(&configured.connector, &tenant_id);
        CallScope {
            limits: Some(limits),
            gate,
            intermediary: None,
            tenant_id,
            service_id: configured.service.id.to_string(),
            payment_id: payment_id.map(|id| id.to_string()),
            allowed_hosts: allowed_hosts(&configured.tenant.config),
            tenant_config: tenant,
            service_config: connector_view(&configured.service.config),
        }
    }

    /// The creditor named by a tenant configuration (`tax_identification_number`, `name`).
    pub fn receiver_of(tenant: &StoredConfig) -> Option<Receiver> {
        let config = &tenant.config;
        let tax_id = config.get("tax_identification_number").or_else(|| config.get("fiscal_code"))?.as_str()?;
        let name = config.get("name").and_then(Value::as_str).unwrap_or(tax_id);
        Some(Receiver {
            tax_identification_number: tax_id.to_owned(),
            name: name.to_owned(),
            iban: None,
            other: serde_json::Map::new(),
        })
    }
}

/// A configuration as the connector sees it: without the host's own keys.
pub fn connector_view(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| !HOST_KEYS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

/// The hosts a tenant configuration allows its connector to reach: the host of every URL it
/// contains, plus its explicit `allowed_hosts`.
pub fn allowed_hosts(config: &Value) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(Value::Array(explicit)) = config.get("allowed_hosts") {
        hosts.extend(explicit.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Value::Object(map) = config {
        for value in map.values() {
            if let Some(url) = value.as_str().and_then(|s| url::Url::parse(s).ok())
                && matches!(url.scheme(), "http" | "https")
                && let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
            {
                hosts.push(format!("{host}:{port}"));
            }
        }
    }
    hosts
}

/// The contract's view of a payment, for `create`.
pub fn debt_position(event: &PaymentEvent) -> wit::DebtPosition {
    let party = |p: &crate::domain::payment::Party| wit::Party {
        kind: match p.kind {
            crate::domain::payment::PartyType::Human => wit::PartyKind::Human,
            crate::domain::payment::PartyType::Legal => wit::PartyKind::Legal,
        },
        tax_id: p.tax_identification_number.clone(),
        name: p.name.clone(),
        family_name: p.family_name.clone(),
        street_name: p.street_name.clone(),
        building_number: p.building_number.clone(),
        postal_code: p.postal_code.clone(),
        town_name: p.town_name.clone(),
        country_subdivision: p.country_subdivision.clone(),
        country: p.country.clone(),
        email: p.email.clone(),
    };
    let utc = |t: crate::domain::Timestamp| t.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    wit::DebtPosition {
        payment_id: event.id.to_string(),
        iud: event.payment.iud.clone(),
        amount: event.payment.amount.map_or(0, |a| a.0),
        reason: event.reason.clone().unwrap_or_else(|| event.remote_id.to_string()),
        expire_at: event.payment.expire_at.map(utc),
        payer: party(&event.payer),
        debtor: event.debtor.as_ref().map(party),
        receiver: event.payment.receiver.as_ref().map(|r| wit::Receiver {
            tax_id: r.tax_identification_number.clone(),
            name: r.name.clone(),
            iban: r.iban.clone(),
        }),
        pagopa_category: event.payment.pagopa_category.clone(),
        due_type: event.payment.due_type.clone(),
        split: event
            .payment
            .split
            .iter()
            .map(|s| wit::SplitItem {
                code: s.code.clone(),
                amount: s.amount.map_or(0, |a| a.0),
                meta: s.meta.to_string(),
            })
            .collect(),
        kind: if event.payment.kind.as_deref() == Some("STAMP") {
            wit::PaymentKind::Stamp
        } else {
            wit::PaymentKind::Pagopa
        },
        document_hash: event
            .payment
            .document
            .as_ref()
            .and_then(|d| d.get("hash"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        locale: event.locale.clone(),
    }
}

/// How later calls name a payment's debt position.
pub fn debt_ref(event: &PaymentEvent) -> Option<wit::DebtRef> {
    Some(wit::DebtRef {
        payment_id: event.id.to_string(),
        iud: event.payment.iud.clone(),
        iuv: event.payment.iuv.clone()?,
        notice_code: event.payment.notice_code.clone()?,
        remote_ref: None,
    })
}

/// Waits `delay` unless `stop` is cancelled first; returns whether to go on.
pub async fn pause(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Batches of one stage in flight at once: a stage waits on its database and its intermediary
/// far more than it computes, so the next batch is read and handled while earlier ones are.
/// SQLite has one writer: at most two there (one calling intermediaries, one writing).
pub fn batches_in_flight(pipeline: &Pipeline) -> usize {
    let configured = pipeline.config.batches_in_flight.max(1);
    match pipeline.store.backend() {
        crate::store::Backend::Sqlite => configured.min(2),
        crate::store::Backend::Postgres => configured,
    }
}

/// A batch being handled, and its handling.
type InFlight = (Vec<Message>, tokio::task::JoinHandle<Result<(), PipelineError>>);

/// The loop every bus-consuming stage runs: poll a batch, hand it to `handle` (up to
/// [`batches_in_flight`] at once, each in a task of its own), commit batches in the order they
/// were read, each once its handling made its effects durable and every earlier one is
/// committed. A failed batch is not committed: the batches after it are abandoned, and after a
/// pause the stage subscribes again and reads them anew (effects are idempotent). On `stop`,
/// batches in flight finish and are committed.
pub async fn consume<F, Fut>(pipeline: &Pipeline, group: &str, topic: &str, stop: &CancellationToken, mut handle: F)
where
    F: FnMut(Vec<Message>) -> Fut,
    Fut: std::future::Future<Output = Result<(), PipelineError>> + Send + 'static,
{
    let depth = batches_in_flight(pipeline);
    'subscription: while let Some(mut consumer) = subscribe(pipeline, group, topic, stop).await {
        let mut in_flight: std::collections::VecDeque<InFlight> = std::collections::VecDeque::new();
        loop {
            // Commit, in order, every batch at the front that is done; wait for the oldest when
            // there is no room for another (or when stopping).
            while let Some((_, task)) = in_flight.front() {
                let must_wait = in_flight.len() >= depth || stop.is_cancelled();
                if !task.is_finished() && !must_wait {
                    break;
                }
                let Some((batch, task)) = in_flight.pop_front() else { break };
                let outcome = match task.await {
                    Ok(outcome) => outcome,
                    Err(join) => {
                        tracing::error!(error = %join, group, topic, "a batch's handling panicked");
                        Err(PipelineError::Aborted)
                    }
                };
                if let Err(error) = outcome {
                    tracing::warn!(%error, group, topic, "a batch failed; reading it again");
                    crate::metrics::processing_error(&crate::metrics::stage_of(group), "batch_failed");
                    for (_, later) in in_flight.drain(..) {
                        later.abort();
                    }
                    if !pause(stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'subscription;
                }
                if let Err(error) = consumer.commit(&batch).await {
                    tracing::warn!(%error, group, topic, "cannot commit the position; the batch may be read again");
                }
            }
            if stop.is_cancelled() {
                return;
            }
            // Poll briefly while batches are in flight, so finished ones are committed promptly.
            let wait = if in_flight.is_empty() { Duration::from_millis(500) } else { Duration::from_millis(5) };
            let batch = tokio::select! {
                _ = stop.cancelled() => continue,
                batch = consumer.poll(500, wait) => batch,
            };
            match batch {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    crate::metrics::consumed(&crate::metrics::stage_of(group), batch.len());
                    let task = tokio::spawn(handle(batch.clone()));
                    in_flight.push_back((batch, task));
                }
                Err(error) => {
                    tracing::warn!(%error, group, topic, "cannot read the topic; subscribing again");
                    for (_, later) in in_flight.drain(..) {
                        later.abort();
                    }
                    if !pause(stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'subscription;
                }
            }
        }
    }
}

/// Subscribes, retrying until it works or `stop` is cancelled.
pub async fn subscribe(
    pipeline: &Pipeline,
    group: &str,
    topic: &str,
    stop: &CancellationToken,
) -> Option<Box<dyn crate::bus::Consumer>> {
    loop {
        match pipeline.bus.subscribe(group, topic).await {
            Ok(consumer) => return Some(consumer),
            Err(error) => {
                tracing::warn!(%error, group, topic, "cannot subscribe; retrying");
                if !pause(stop, Duration::from_secs(1)).await {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_intermediarys_gate_spaces_calls_to_its_rate() {
        let throttle = Gate::new(Some(8), Some(100));
        let started = tokio::time::Instant::now();
        for _ in 0..6 {
            drop(throttle.enter(None).await.unwrap());
        }
        // Six calls at 100/s: the sixth starts 50 ms after the first.
        assert!(started.elapsed() >= Duration::from_millis(45), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_intermediarys_gate_bounds_calls_in_flight() {
        let throttle = Gate::new(Some(2), None);
        let a = throttle.enter(None).await.unwrap();
        let _b = throttle.enter(None).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(50), throttle.enter(None)).await.is_err());
        drop(a);
        assert!(tokio::time::timeout(Duration::from_millis(50), throttle.enter(None)).await.is_ok());
    }

    /// A bus whose one topic holds the messages `0..n` (one per poll) and which records the
    /// offsets committed, in order.
    struct ScriptedBus {
        messages: i64,
        commits: Arc<std::sync::Mutex<Vec<i64>>>,
    }

    struct ScriptedConsumer {
        next: i64,
        last: i64,
        commits: Arc<std::sync::Mutex<Vec<i64>>>,
    }

    #[async_trait::async_trait]
    impl Bus for ScriptedBus {
        async fn publish(&self, _: &str, _: &str, _: &[u8]) -> Result<(), crate::bus::BusError> {
            Ok(())
        }
        async fn subscribe(&self, _: &str, _: &str) -> Result<Box<dyn crate::bus::Consumer>, crate::bus::BusError> {
            let next = self.commits.lock().unwrap().last().map_or(0, |last| last + 1);
            Ok(Box::new(ScriptedConsumer { next, last: self.messages, commits: self.commits.clone() }))
        }
        fn outbox_is_log(&self) -> bool {
            true
        }
        async fn lag(&self, _: &str, _: &str) -> Result<i64, crate::bus::BusError> {
            Ok(0)
        }
        async fn size(&self, _: &str) -> Result<i64, crate::bus::BusError> {
            Ok(0)
        }
    }

    #[async_trait::async_trait]
    impl crate::bus::Consumer for ScriptedConsumer {
        async fn poll(&mut self, _: usize, wait: Duration) -> Result<Vec<Message>, crate::bus::BusError> {
            if self.next >= self.last {
                tokio::time::sleep(wait).await;
                return Ok(Vec::new());
            }
            let offset = self.next;
            self.next += 1;
            Ok(vec![Message { topic: "t".into(), partition: 0, offset, key: String::new(), payload: Vec::new() }])
        }
        async fn commit(&mut self, messages: &[Message]) -> Result<(), crate::bus::BusError> {
            self.commits.lock().unwrap().extend(messages.iter().map(|m| m.offset));
            Ok(())
        }
    }

    async fn scripted(messages: i64) -> (Pipeline, Arc<std::sync::Mutex<Vec<i64>>>) {
        let path = std::env::temp_dir().join(format!("cassa-consume-{}.db", Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        let commits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let bus = Arc::new(ScriptedBus { messages, commits: commits.clone() });
        let pipeline = Pipeline::new(store, bus, Connectors::default(), PipelineConfig::default()).unwrap();
        (pipeline, commits)
    }

    #[tokio::test]
    async fn batches_in_flight_are_committed_in_the_order_they_were_read() {
        let (pipeline, commits) = scripted(6).await;
        assert_eq!(batches_in_flight(&pipeline), 2, "SQLite keeps two in flight");
        let stop = CancellationToken::new();
        let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
        let runner = {
            let (pipeline, stop, handled) = (pipeline.clone(), stop.clone(), handled.clone());
            tokio::spawn(async move {
                consume(&pipeline, "g", "t", &stop, |batch| {
                    let handled = handled.clone();
                    async move {
                        // Even batches are slow: the odd one read after each finishes first.
                        let offset = batch[0].offset;
                        if offset % 2 == 0 {
                            tokio::time::sleep(Duration::from_millis(60)).await;
                        }
                        handled.lock().unwrap().push(offset);
                        Ok(())
                    }
                })
                .await;
            })
        };
        let started = tokio::time::Instant::now();
        while commits.lock().unwrap().len() < 6 {
            assert!(started.elapsed() < Duration::from_secs(10), "{:?}", commits.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        runner.await.unwrap();
        // Handled out of order, committed in order.
        assert_ne!(*handled.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(*commits.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_failed_batch_and_those_after_it_are_read_again_and_nothing_is_committed_past_it() {
        let (pipeline, commits) = scripted(4).await;
        let stop = CancellationToken::new();
        let failures = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let runner = {
            let (pipeline, stop, failures) = (pipeline.clone(), stop.clone(), failures.clone());
            tokio::spawn(async move {
                consume(&pipeline, "g", "t", &stop, |batch| {
                    let failures = failures.clone();
                    async move {
                        // Offset 1 fails the first time it is handled.
                        if batch[0].offset == 1 && failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            return Err(PipelineError::Aborted);
                        }
                        Ok(())
                    }
                })
                .await;
            })
        };
        let started = tokio::time::Instant::now();
        while commits.lock().unwrap().len() < 4 {
            assert!(started.elapsed() < Duration::from_secs(10), "{:?}", commits.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        runner.await.unwrap();
        // 0 committed, 1 failed and was read again after the pause, then 1, 2, 3.
        assert_eq!(*commits.lock().unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn allowed_hosts_come_from_the_configuration_urls() {
        let config = serde_json::json!({"base_url": "https://mypay.regione.veneto.it/pa", "x": "not a url", "allowed_hosts": ["*.pagopa.it"]});
        assert_eq!(allowed_hosts(&config), vec!["*.pagopa.it".to_owned(), "mypay.regione.veneto.it:443".to_owned()]);
    }
}
