//! The connectors this host has installed, by name: the version each name runs, the versions
//! tenants and services are pinned to, the gate of calls to each intermediary and each tenant's
//! gate, under the operator's limits. The [`super::Registry`] fills it; the stages and the API
//! read it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::runtime::{Connector, Gate, LimitPolicy, Limits};

/// A connector and the gate of calls to its intermediary.
pub type Installed = (Connector, Arc<Gate>);

/// The gates of intermediary endpoints, by (connector, endpoint).
type EndpointGates = HashMap<(String, String), Arc<Gate>>;

/// The connectors this host can call, by name, and the operator's limits on their calls.
#[derive(Clone, Default)]
pub struct Connectors {
    by_name: Arc<RwLock<HashMap<String, Installed>>>,
    default: Arc<RwLock<Option<String>>>,
    policy: Arc<LimitPolicy>,
    /// Each tenant's gate, made at its first call, for tenants whose rule bounds concurrency or
    /// calls per second.
    tenant_gates: Arc<std::sync::Mutex<HashMap<String, Option<Arc<Gate>>>>>,
    /// The gates of each connector's intermediary endpoints, by (connector, endpoint).
    endpoint_gates: Arc<std::sync::Mutex<EndpointGates>>,
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

    /// The calls at once the operator allows `tenant`, when its rule bounds them.
    pub fn tenant_concurrency(&self, tenant: &str) -> Option<usize> {
        self.policy.tenant(tenant).concurrency
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

    /// The connector named `name` and the gate of its calls to one intermediary endpoint
    /// (`intermediary`, as [`crate::pipeline::context::intermediary_of`] names it; empty: the
    /// connector's own gate). Each endpoint's gate has the connector's bounds and is made at its
    /// first call, so one endpoint that hangs holds no place at another.
    pub fn get_at(&self, name: &str, intermediary: &str) -> Option<Installed> {
        let (connector, gate) = self.get(name)?;
        if intermediary.is_empty() {
            return Some((connector, gate));
        }
        let gate = match self.endpoint_gates.lock() {
            Ok(mut gates) => {
                gates.entry((name.to_owned(), intermediary.to_owned())).or_insert_with(|| Arc::new(gate.like())).clone()
            }
            Err(_) => gate,
        };
        Some((connector, gate))
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

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::time::Duration;

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
}
