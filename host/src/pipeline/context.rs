//! What every stage shares: the store, the bus, the installed connectors, the pipeline's
//! settings and the stop signal; and how a payment finds its tenant, service and connector.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{KeyBy, PipelineConfig, PipelineError};
use crate::bus::{Bus, Message};
use crate::domain::payment::{PaymentEvent, Receiver};
use crate::domain::transitions::Endpoints;
use crate::registry::Connectors;
use crate::runtime::{CallScope, Connector, Gate};
use crate::store::{Store, StoredConfig};

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

/// The stages' context: the store, the bus, the installed connectors, the pipeline's settings
/// and the stop signal. The HTTP API holds one too ([`crate::api::AppState`]), for the same
/// store and connectors.
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
    /// The client of the core's notify endpoints.
    pub(super) http: reqwest::Client,
    pub(super) updater_kick: Arc<Notify>,
    pub(super) relay_kick: Arc<Notify>,
    pub(super) creator_kick: Arc<Notify>,
    configs: Arc<std::sync::Mutex<HashMap<(Uuid, Uuid), CachedConfig>>>,
    /// Cancelled when the stages are told to stop: work that would fail only because the host
    /// is going away is left for the next start instead.
    pub(super) stopping: CancellationToken,
}

/// A tenant and service configuration read recently, and when.
type CachedConfig = (std::time::Instant, Result<(StoredConfig, StoredConfig), String>);

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
        Ok(Self {
            store,
            bus,
            connectors,
            stopping: CancellationToken::new(),
            config: Arc::new(config),
            http,
            updater_kick: Arc::new(Notify::new()),
            relay_kick: Arc::new(Notify::new()),
            creator_kick: Arc::new(Notify::new()),
            configs: Arc::default(),
        })
    }

    /// Starts the configured stages; they stop when `stop` is cancelled.
    pub fn spawn(&self, stop: CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
        let stopping = self.stopping.clone();
        let told = stop.clone();
        tokio::spawn(async move {
            told.cancelled().await;
            stopping.cancel();
        });
        super::stage::spawn(self, &stop)
    }

    /// The consumer group of a stage.
    pub fn group(&self, stage: &str) -> String {
        format!("{}-{stage}", self.config.group_prefix)
    }

    /// Where cassa's per-payment endpoints are.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints { public_base: self.config.public_base().to_owned(), internal_base: self.config.internal_url.clone() }
    }

    /// The key of a payment's messages.
    pub fn key_of(&self, event: &PaymentEvent) -> String {
        match self.config.key_by {
            KeyBy::PaymentId => event.id.to_string(),
            KeyBy::ServiceId => event.service_id.to_string(),
        }
    }

    /// Drops cached configurations: call after changing one. Payments waiting for a
    /// configuration are tried again at once (the store made them due).
    pub fn forget_configs(&self) {
        if let Ok(mut cache) = self.configs.lock() {
            cache.clear();
        }
        self.creator_kick.notify_one();
    }

    /// Tells consumers and the notifier that the outbox has new rows.
    pub fn outbox_written(&self) {
        self.bus.outbox_written();
        self.updater_kick.notify_one();
        self.relay_kick.notify_one();
        self.creator_kick.notify_one();
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

    /// The active tenant and service configuration of a payment and its connector, or `None`
    /// when this host does not handle the payment.
    pub async fn configured(&self, event: &PaymentEvent) -> Result<Option<Configured>, PipelineError> {
        Ok(self.configured_or_why(event).await?.ok())
    }

    /// The active tenant and service configuration of a payment and its connector, or why the
    /// payment cannot be handled (yet): for its history and the operator.
    pub async fn configured_or_why(&self, event: &PaymentEvent) -> Result<Result<Configured, String>, PipelineError> {
        let key = (event.tenant_id, event.service_id);
        let cached = self
            .configs
            .lock()
            .ok()
            .and_then(|c| c.get(&key).filter(|(at, _)| at.elapsed() < CONFIG_TTL).map(|(_, v)| v.clone()));
        let pair = match cached {
            Some(pair) => pair,
            None => {
                let tenant = self.store.tenant(event.tenant_id).await?;
                let service = self.store.service(event.service_id).await?;
                let pair = match (tenant, service) {
                    // A service is used only by its own tenant: never another tenant's
                    // configuration (and secrets) for this tenant's payment.
                    (Some(tenant), Some(service)) if service.owner == tenant.id.to_string() => Ok((tenant, service)),
                    (None, _) => Err(format!("tenant {} is not configured", event.tenant_id)),
                    (_, None) => Err(format!("service {} is not configured", event.service_id)),
                    (Some(_), Some(service)) => Err(format!(
                        "service {} belongs to tenant {}, not to {}",
                        event.service_id, service.owner, event.tenant_id
                    )),
                };
                if let Ok(mut cache) = self.configs.lock() {
                    cache.insert(key, (std::time::Instant::now(), pair.clone()));
                }
                pair
            }
        };
        let (tenant, service) = match pair {
            Ok(pair) => pair,
            Err(why) => return Ok(Err(why)),
        };
        if !tenant.active {
            return Ok(Err(format!("tenant {} is not active", tenant.id)));
        }
        if !service.active {
            return Ok(Err(format!("service {} is not active", service.id)));
        }
        let name = if tenant.owner.is_empty() {
            self.connectors.default_name().unwrap_or_default()
        } else {
            tenant.owner.clone()
        };
        let intermediary = intermediary_of(&tenant.config);
        let Some((active, permits)) = self.connectors.get_at(&name, &intermediary) else {
            tracing::error!(tenant = %event.tenant_id, connector = %name, "the tenant's connector is not installed");
            return Ok(Err(format!("connector `{name}` of tenant {} is not installed", tenant.id)));
        };
        // A pinned service or tenant keeps its version; the intermediary's gate is the same.
        let connector =
            self.connectors.pinned(&name, &tenant.id.to_string(), &service.id.to_string()).unwrap_or(active);
        Ok(Ok(Configured { tenant, service, connector, permits }))
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

/// Which intermediary a tenant's calls go to, as far as its configuration says: the hosts it
/// allows, sorted (empty when the connector's own hosts are all there is). Tenants at different
/// endpoints of one connector have gates of their own, so one endpoint hanging holds no place
/// at the others.
pub fn intermediary_of(config: &Value) -> String {
    let mut hosts = allowed_hosts(config);
    hosts.sort_unstable();
    hosts.dedup();
    hosts.join(",")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_come_from_the_configuration_urls() {
        let config = serde_json::json!({"base_url": "https://mypay.regione.veneto.it/pa", "x": "not a url", "allowed_hosts": ["*.pagopa.it"]});
        assert_eq!(allowed_hosts(&config), vec!["*.pagopa.it".to_owned(), "mypay.regione.veneto.it:443".to_owned()]);
    }
}
