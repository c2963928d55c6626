//! The connector registry: artifacts uploaded at run time, stored content-addressed in the
//! database, validated, activated atomically, rolled back, and picked up by every replica.
//!
//! - **Push**: when publisher keys are configured, an ed25519 signature over the component's
//!   sha256 digest (the 32 raw bytes) by one of them is required. The component is then
//!   compiled, admitted (contract, imports) and asked for `info()` by [`Runtime::load`]; only
//!   then is it stored, under the sha256 of its bytes, with the name and version `info()` gave
//!   and the publisher that signed it. Pushing the same bytes again changes nothing.
//! - **Activate**: an artifact of the name becomes its active version: it is loaded (or taken
//!   from the in-memory cache of loaded versions), the activation is recorded, and the
//!   connector is swapped in this process at once. Calls in flight keep the version they
//!   started with (each holds its own handle); new calls take the new one.
//! - **Rollback**: activates the version that was active before the current one.
//! - **Replicas**: every host compares each name's active artifact with the one it runs
//!   ([`Registry::watch`]) and installs what differs. Looking every 100 ms (one small query)
//!   keeps them within a second of each other on one database, compiling included.
//! - **Directory mode**: with `connector_dir`, every `*.wasm` dropped there (with its signature
//!   in `<file>.sig` when signatures are required) is pushed and activated, once per content:
//!   the same validation, activation and records as an upload. A version is activated this way
//!   once, ever (a restart or an operator's rollback does not bring it back). A file that is
//!   refused is logged and counted, and not tried again until its content changes (or, for a
//!   missing signature, until the signature arrives).
//! - **Bundled** connectors (compiled into the binary) are stored at start, and activated for a
//!   name that has never had an activation, or whose active version is an earlier bundled one:
//!   an upgrade brings its connectors' fixes, an operator's choice survives it.

pub mod installed;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

pub use self::installed::Connectors;
use crate::domain::Timestamp;
use crate::runtime::{AdmissionError, Connector, Runtime};
use crate::store::{Activation, Artifact, Pin, Removal, Store, StoreError};

/// The connectors this host runs and how far they reach (the `[connectors]` section of
/// `cassa.toml`).
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ConnectorSettings {
    /// The connector of tenants whose configuration names none (as OpenCity's core sends them).
    #[arg(long, env = "CASSA_DEFAULT_CONNECTOR", default_value = "sandbox")]
    pub default_connector: String,
    /// Limits per connector and per tenant, `;`-separated rules (a list in `cassa.toml`): `connector=<name>` or `tenant=<id>` (`*`: every other one), then any of `memory_mb=`, `cpu_ms=`, `wall_ms=` (one call; the tenant's rule beats the connector's, which beats `*` and the built-in 64 MiB, 2000 ms, 30000 ms), `concurrency=`, `calls_per_second=` (a connector's apply to its intermediary, a tenant's to all its calls; a call waits its turn at most its wall time, then fails with blame `tenant`). E.g. `connector=mypay memory_mb=128;tenant=* concurrency=8 calls_per_second=20`.
    #[arg(long, env = "CASSA_LIMITS", value_delimiter = ';')]
    pub limits: Vec<String>,
    /// Keys connector uploads must be signed with, comma-separated `<publisher>:<key>` (the key as base64 of its 32 bytes, a PEM Ed25519 public key, or `@/path/key.pem`). When set, `cassa connector push` needs an ed25519 signature of the component's sha256 digest by one of them (`cassa connector sign`), and the artifact records the publisher.
    #[arg(long, env = "CASSA_CONNECTOR_PUBLISHER_KEYS", value_delimiter = ',')]
    pub connector_publisher_keys: Vec<String>,
    /// Which non-public addresses connectors may reach: `loopback` (127.0.0.0/8 and ::1: the embedded sandbox intermediary this host serves), `none` (public addresses only: production without the sandbox), or `all` (every private network: intermediaries' test instances inside your network). Cloud metadata and the networks around the host stay out of reach unless `all`.
    #[arg(long, env = "CASSA_CONNECTOR_PRIVATE_NETWORKS", default_value = "loopback", value_parser = ["none", "loopback", "all"])]
    pub connector_private_networks: String,
    /// Directory mode: every `*.wasm` dropped into this folder (with `<file>.sig` when signatures are required) is validated, stored and activated like an upload, once per content; unset: off.
    #[arg(long, env = "CASSA_CONNECTOR_DIR")]
    pub connector_dir: Option<std::path::PathBuf>,
    /// Connector calls running at once in this process (sandbox slots of the pooling allocator): a call beyond them waits for a free one before its wall time starts. About 0.2 MiB each for a call waiting on its intermediary (2,000 in flight: 358 MiB peak RSS in `just bench`).
    #[arg(long, env = "CASSA_CONNECTOR_INSTANCES", default_value_t = 256)]
    pub connector_instances: u32,
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        crate::defaults::of()
    }
}

/// How long a host waits before trying again to load an active version it could not load.
const FAILED_RETRY: Duration = Duration::from_secs(10);

/// How often a host looks for activations made elsewhere.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Why a registry operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The component is not an acceptable connector.
    #[error(transparent)]
    Invalid(#[from] AdmissionError),
    /// No such connector or artifact.
    #[error("{0}")]
    NotFound(String),
    /// Not possible in the registry's current state.
    #[error("{0}")]
    Conflict(String),
    /// The signature is missing or does not verify against a publisher key.
    #[error("{0}")]
    Signature(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key connectors must be signed with, by the publisher's name.
#[derive(Clone)]
pub struct PublisherKey {
    /// The publisher, as recorded in `signed_by`.
    pub name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl std::fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublisherKey({})", self.name)
    }
}

impl PublisherKey {
    /// Parses `connector_publisher_keys`: each `<name>:<key>`, the key as base64 of its 32
    /// bytes, a PEM public key, or `@/path/key.pem`.
    pub fn parse_all(entries: &[String]) -> Result<Vec<Self>, String> {
        use base64::Engine as _;
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        let mut keys = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let Some((name, key)) = entry.split_once(':') else {
                return Err(format!("connector_publisher_keys: `{entry}` is not <name>:<key>"));
            };
            let bad = |why: String| format!("connector_publisher_keys: the key of `{name}` {why}");
            let key = key.trim();
            let pem = match key.strip_prefix('@') {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| bad(format!("cannot be read: {e}")))?),
                None if key.starts_with("-----BEGIN") => Some(key.to_owned()),
                None => None,
            };
            let key = match pem {
                Some(pem) => ed25519_dalek::VerifyingKey::from_public_key_pem(&pem)
                    .map_err(|e| bad(format!("is not an Ed25519 public key: {e}")))?,
                None => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(key)
                        .map_err(|_| bad("is neither base64 nor PEM".into()))?;
                    let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad("is not 32 bytes".into()))?;
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .map_err(|e| bad(format!("is not an Ed25519 public key: {e}")))?
                }
            };
            keys.push(Self { name: name.trim().to_owned(), key });
        }
        Ok(keys)
    }
}

/// Who signed `digest` (hex) with `signature`, among `keys`.
fn signer(keys: &[PublisherKey], digest: &str, signature: Option<&[u8]>) -> Result<Option<String>, RegistryError> {
    if keys.is_empty() {
        return Ok(None);
    }
    let Some(signature) = signature else {
        return Err(RegistryError::Signature(
            "publisher keys are configured: the upload needs an ed25519 signature of its sha256 digest".into(),
        ));
    };
    let bytes: [u8; 64] = signature
        .try_into()
        .map_err(|_| RegistryError::Signature(format!("a signature is 64 bytes, this one {}", signature.len())))?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    let raw = hex::decode(digest).map_err(|_| RegistryError::Signature("the digest is not hex".into()))?;
    keys.iter()
        .find(|k| k.key.verify_strict(&raw, &signature).is_ok())
        .map(|k| Some(k.name.clone()))
        .ok_or_else(|| RegistryError::Signature("the signature does not verify against any publisher key".into()))
}

/// What a push did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Pushed {
    /// The artifact.
    pub artifact: Artifact,
    /// False when the same bytes were stored already.
    pub created: bool,
}

/// A connector name with its active artifact and every stored one.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectorEntry {
    /// The connector's name.
    pub name: String,
    /// The active artifact's digest, when one is active.
    pub active: Option<String>,
    /// The active artifact's version.
    pub version: Option<String>,
    /// The digest this host runs now (equal to `active` once the host has caught up).
    pub running: Option<String>,
    /// Stored artifacts of the name, oldest first.
    pub artifacts: Vec<Artifact>,
    /// Tenants and services pinned to one of its versions.
    pub pins: Vec<Pin>,
    /// The pins (`tenant:<id>`, `service:<id>`) this host applies now (equal to `pins` once the
    /// host has caught up).
    pub pins_running: Vec<String>,
}

/// The registry of one host.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    connectors: Connectors,
    concurrency: usize,
    per_second: Option<u32>,
    /// Versions loaded in this process, by digest: a rollback or a replica's swap reuses them.
    loaded: Mutex<HashMap<String, Connector>>,
    /// Active versions this host could not load, and when it last tried.
    failed: Mutex<HashMap<String, std::time::Instant>>,
    /// Keys uploads must be signed with; none: signatures are not required.
    publishers: Vec<PublisherKey>,
    /// Directory mode: the content (digest) of each file last handled, by path.
    dropped: Mutex<HashMap<std::path::PathBuf, String>>,
    /// Held while the pins are read and applied, so an older read never overwrites a newer one.
    pins_sync: tokio::sync::Mutex<()>,
    /// Held from reading which version is active to installing it (an activation here, or a
    /// sync), so a sync that read the version before an activation never installs it after.
    installs: tokio::sync::Mutex<()>,
}

/// What a pin holds to one version: a tenant (all its services) or one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PinKind {
    /// A tenant: every service of it without a pin of its own.
    Tenant,
    /// One service.
    Service,
}

impl PinKind {
    /// Its name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PinKind::Tenant => "tenant",
            PinKind::Service => "service",
        }
    }
}

/// Who "signs" the connectors bundled into the binary: trusted as the binary is.
pub const BUNDLED_SIGNER: &str = "bundled";

/// The versions a rollback may return to, best first, from a name's activations (newest
/// first): activations push onto a stack, a rollback pops the version it leaves; what is below
/// the current version, nearest first, without the current version itself.
pub fn rollback_candidates(history: &[Activation]) -> Vec<String> {
    let mut stack: Vec<&str> = Vec::new();
    for activation in history.iter().rev() {
        if activation.reason == "rollback" {
            stack.pop();
            if stack.last() != Some(&activation.digest.as_str()) {
                stack.push(&activation.digest);
            }
        } else {
            stack.push(&activation.digest);
        }
    }
    let current = stack.pop();
    let mut candidates: Vec<String> = Vec::new();
    for digest in stack.into_iter().rev() {
        if Some(digest) != current && !candidates.iter().any(|c| c == digest) {
            candidates.push(digest.to_owned());
        }
    }
    candidates
}

/// sha256 of `bytes`, lower-case hex: an artifact's digest.
pub fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Registry {
    /// A registry over `store` that loads with `runtime` and installs into `connectors`, each
    /// with at most `concurrency` calls at once and `per_second` calls per second; uploads
    /// must be signed by one of `publishers` (none: signatures are not required).
    pub fn new(
        store: Store,
        runtime: Runtime,
        connectors: Connectors,
        concurrency: usize,
        per_second: Option<u32>,
        publishers: Vec<PublisherKey>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                connectors,
                concurrency,
                per_second,
                loaded: Mutex::new(HashMap::new()),
                failed: Mutex::new(HashMap::new()),
                publishers,
                dropped: Mutex::new(HashMap::new()),
                pins_sync: tokio::sync::Mutex::new(()),
                installs: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Checks the signature of `wasm` (when publisher keys are configured), validates it and
    /// stores it.
    pub async fn push(&self, wasm: &[u8], signature: Option<&[u8]>) -> Result<Pushed, RegistryError> {
        let digest = digest_of(wasm);
        let signed_by = signer(&self.inner.publishers, &digest, signature)?;
        self.store(wasm, digest, signed_by).await
    }

    async fn store(&self, wasm: &[u8], digest: String, signed_by: Option<String>) -> Result<Pushed, RegistryError> {
        if let Some(mut artifact) = self.inner.store.artifact(&digest).await? {
            // Stored unsigned before keys were set: a signed push now records its publisher.
            if artifact.signed_by.is_none() && signed_by.is_some() {
                self.inner.store.sign_artifact(&digest, signed_by.as_deref()).await?;
                artifact.signed_by = signed_by;
            }
            return Ok(Pushed { artifact, created: false });
        }
        let connector = self.inner.runtime.load(wasm).await?;
        let info = connector.info();
        let artifact = Artifact {
            digest: digest.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            size: i64::try_from(wasm.len()).unwrap_or(i64::MAX),
            signed_by,
            uploaded_at: Timestamp::now(),
        };
        let created = self.inner.store.put_artifact(&artifact, wasm).await?;
        self.remember(connector);
        tracing::info!(connector = %artifact.name, version = %artifact.version, %digest, "connector artifact stored");
        Ok(Pushed { artifact, created })
    }

    /// Makes the artifact `selector` (a digest, a unique digest prefix of at least 8
    /// characters, or a version) the active version of `name`, here at once and on every
    /// replica within [`WATCH_INTERVAL`].
    pub async fn activate(&self, name: &str, selector: &str, reason: &str) -> Result<Artifact, RegistryError> {
        let artifact = self.find(name, selector).await?;
        self.check_trusted(&artifact)?;
        let connector = self.loaded(&artifact.digest).await?;
        let _in_order = self.inner.installs.lock().await;
        if !self.inner.store.activate_artifact(name, &artifact.digest, reason).await? {
            return Err(RegistryError::NotFound(format!("{} was removed meanwhile", artifact.digest)));
        }
        self.install(connector);
        tracing::info!(connector = %name, version = %artifact.version, digest = %artifact.digest, %reason, "connector activated");
        Ok(artifact)
    }

    /// Refuses an artifact that may not be activated or pinned (see [`Self::trusted`]).
    fn check_trusted(&self, artifact: &Artifact) -> Result<(), RegistryError> {
        if self.trusted(artifact.signed_by.as_deref()) {
            return Ok(());
        }
        Err(RegistryError::Signature(format!(
            "{} is not signed by a configured publisher (signed by {}): push it again signed",
            artifact.digest,
            artifact.signed_by.as_deref().unwrap_or("nobody")
        )))
    }

    /// Whether an artifact signed by `signer` may be activated: any, without publisher keys;
    /// with them, one signed by a configured publisher or bundled with the binary.
    fn trusted(&self, signer: Option<&str>) -> bool {
        let publishers = &self.inner.publishers;
        publishers.is_empty() || signer.is_some_and(|s| s == BUNDLED_SIGNER || publishers.iter().any(|p| p.name == s))
    }

    /// Activates the version of `name` that was active before the current one. Activations
    /// stack up and rollbacks unwind them, so rolling back twice goes two versions back, never
    /// forth to the version just rolled back from.
    pub async fn rollback(&self, name: &str) -> Result<Artifact, RegistryError> {
        let history = self.inner.store.activations(name).await?;
        if history.is_empty() {
            return Err(RegistryError::NotFound(format!("connector `{name}` has never been activated")));
        }
        for digest in rollback_candidates(&history) {
            if self.inner.store.artifact(&digest).await?.is_some() {
                return self.activate(name, &digest, "rollback").await;
            }
        }
        Err(RegistryError::Conflict(format!("connector `{name}` has no earlier version to roll back to")))
    }

    /// Deletes the artifact `selector` of `name`; refused while it is active or pinned.
    pub async fn remove(&self, name: &str, selector: &str) -> Result<Artifact, RegistryError> {
        let artifact = self.find(name, selector).await?;
        match self.inner.store.remove_artifact(name, &artifact.digest).await? {
            Removal::Removed => {}
            Removal::Missing => {
                return Err(RegistryError::NotFound(format!("{} was removed meanwhile", artifact.digest)));
            }
            Removal::Active => {
                return Err(RegistryError::Conflict(format!(
                    "{} is the active version of `{name}`: activate another one first",
                    artifact.digest
                )));
            }
            Removal::Pinned(subjects) => {
                return Err(RegistryError::Conflict(format!(
                    "{} is pinned by {}: unpin them first",
                    artifact.digest,
                    subjects.join(", ")
                )));
            }
        }
        if let Ok(mut loaded) = self.inner.loaded.lock() {
            loaded.remove(&artifact.digest);
        }
        tracing::info!(connector = %name, digest = %artifact.digest, "connector artifact removed");
        Ok(artifact)
    }

    /// Pins the tenant or service (`kind`) `id` to the artifact `selector` of `name`: its calls
    /// use that version whatever version is active, here at once and on every replica within
    /// [`WATCH_INTERVAL`].
    pub async fn pin(&self, name: &str, kind: PinKind, id: &str, selector: &str) -> Result<Pin, RegistryError> {
        let artifact = self.find(name, selector).await?;
        self.check_trusted(&artifact)?;
        self.loaded(&artifact.digest).await?;
        if !self.inner.store.pin_artifact(kind.as_str(), id, name, &artifact.digest).await? {
            return Err(RegistryError::NotFound(format!("{} was removed meanwhile", artifact.digest)));
        }
        self.sync_pins().await?;
        tracing::info!(connector = %name, version = %artifact.version, digest = %artifact.digest, kind = kind.as_str(), %id, "connector version pinned");
        let pins = self.inner.store.pins().await?;
        pins.into_iter()
            .find(|p| p.kind == kind.as_str() && p.id == id)
            .ok_or_else(|| RegistryError::NotFound(format!("the pin of {} {id} was removed meanwhile", kind.as_str())))
    }

    /// Removes the pin of the tenant or service `id` to a version of `name`: its calls use the
    /// active version again.
    pub async fn unpin(&self, name: &str, kind: PinKind, id: &str) -> Result<Pin, RegistryError> {
        let pin = self.inner.store.unpin_artifact(kind.as_str(), id, name).await?.ok_or_else(|| {
            RegistryError::NotFound(format!("{} {id} is not pinned to a version of `{name}`", kind.as_str()))
        })?;
        self.sync_pins().await?;
        tracing::info!(connector = %name, digest = %pin.digest, kind = kind.as_str(), %id, "connector version unpinned");
        Ok(pin)
    }

    /// Every pin.
    pub async fn pins(&self) -> Result<Vec<Pin>, RegistryError> {
        Ok(self.inner.store.pins().await?)
    }

    /// Makes this host's pinned versions those of the database; true when they changed.
    async fn sync_pins(&self) -> Result<bool, RegistryError> {
        let _one_at_a_time = self.inner.pins_sync.lock().await;
        let pins = self.inner.store.pins().await?;
        let wanted: HashMap<(String, String), String> =
            pins.iter().map(|p| ((p.kind.clone(), p.id.clone()), p.digest.clone())).collect();
        if wanted == self.inner.connectors.pinned_digests() {
            return Ok(false);
        }
        let mut pinned = HashMap::new();
        for pin in pins {
            if self.failed_recently(&pin.digest) {
                continue;
            }
            match self.loaded(&pin.digest).await {
                Ok(connector) => {
                    pinned.insert((pin.kind, pin.id), connector);
                }
                Err(error) => {
                    // Its calls use the active version meanwhile; try again a little later.
                    if let Ok(mut failed) = self.inner.failed.lock() {
                        failed.insert(pin.digest.clone(), std::time::Instant::now());
                    }
                    metrics::counter!("cassa_registry_errors_total").increment(1);
                    tracing::error!(connector = %pin.name, digest = %pin.digest, kind = %pin.kind, id = %pin.id, %error, "cannot apply a connector pin");
                }
            }
        }
        self.inner.connectors.set_pins(pinned);
        Ok(true)
    }

    fn failed_recently(&self, digest: &str) -> bool {
        self.inner.failed.lock().ok().and_then(|f| f.get(digest).copied()).is_some_and(|at| at.elapsed() < FAILED_RETRY)
    }

    /// Every connector name the registry or this host knows.
    pub async fn list(&self) -> Result<Vec<ConnectorEntry>, RegistryError> {
        let artifacts = self.inner.store.artifacts().await?;
        let active = self.inner.store.active_artifacts().await?;
        let pins = self.inner.store.pins().await?;
        let here = self.inner.connectors.pinned_digests();
        let mut names: Vec<String> = artifacts.iter().map(|a| a.name.clone()).collect();
        names.extend(self.inner.connectors.all().iter().map(|c| c.info().name.clone()));
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|name| {
                let active = active.iter().find(|a| a.name == name).map(|a| a.digest.clone());
                let version =
                    active.as_ref().and_then(|d| artifacts.iter().find(|a| &a.digest == d)).map(|a| a.version.clone());
                let running = self.inner.connectors.get(&name).map(|(c, _)| c.digest().to_owned());
                let mine = artifacts.iter().filter(|a| a.name == name).cloned().collect();
                let pins: Vec<Pin> = pins.iter().filter(|p| p.name == name).cloned().collect();
                let pins_running = pins
                    .iter()
                    .filter(|p| here.get(&(p.kind.clone(), p.id.clone())) == Some(&p.digest))
                    .map(|p| format!("{}:{}", p.kind, p.id))
                    .collect();
                ConnectorEntry { name, active, version, running, artifacts: mine, pins, pins_running }
            })
            .collect())
    }

    /// The activations of `name`, newest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Activation>, RegistryError> {
        Ok(self.inner.store.activations(name).await?)
    }

    /// Stores a bundled connector and activates it when its name has never been activated, or
    /// when its active version is an earlier bundled one (an upgrade of cassa brings its
    /// connectors' fixes; a version an operator chose stays).
    pub async fn bundle(&self, wasm: &[u8]) -> Result<Artifact, RegistryError> {
        let pushed = self.store(wasm, digest_of(wasm), Some(BUNDLED_SIGNER.into())).await?;
        let name = pushed.artifact.name.clone();
        let latest = self.inner.store.activations(&name).await?.into_iter().next();
        let replaces = match &latest {
            None => true,
            Some(latest) => latest.reason == "bundled" && latest.digest != pushed.artifact.digest,
        };
        if replaces {
            self.activate(&name, &pushed.artifact.digest, "bundled").await?;
        }
        Ok(pushed.artifact)
    }

    /// Installs every name's active artifact that this host does not run yet, and loads the
    /// pinned ones; true when it changed either. Every look compares each name's active version
    /// with the running one (one small query), so no activation is missed, whatever order they
    /// committed in.
    pub async fn sync(&self) -> Result<bool, RegistryError> {
        let mut installed = false;
        let in_order = self.inner.installs.lock().await;
        for active in self.inner.store.active_artifacts().await? {
            let running = self.inner.connectors.get(&active.name).map(|(c, _)| c.digest().to_owned());
            if running.as_deref() == Some(active.digest.as_str()) {
                continue;
            }
            if self.failed_recently(&active.digest) {
                continue;
            }
            match self.loaded(&active.digest).await {
                Ok(connector) => {
                    self.install(connector);
                    installed = true;
                    tracing::info!(connector = %active.name, digest = %active.digest, "connector activation applied");
                }
                Err(error) => {
                    // Keep running the version this host has; try again a little later.
                    if let Ok(mut failed) = self.inner.failed.lock() {
                        failed.insert(active.digest.clone(), std::time::Instant::now());
                    }
                    metrics::counter!("cassa_registry_errors_total").increment(1);
                    tracing::error!(connector = %active.name, digest = %active.digest, %error, "cannot apply a connector activation");
                }
            }
        }
        drop(in_order);
        let pins_changed = self.sync_pins().await?;
        Ok(installed || pins_changed)
    }

    /// Applies activations made anywhere until `stop`, looking every `interval`.
    pub fn watch(&self, stop: CancellationToken, interval: Duration) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                if let Err(error) = registry.sync().await {
                    tracing::warn!(%error, "cannot read the connector activations");
                }
            }
        })
    }

    /// Directory mode: pushes and activates every `*.wasm` of `dir` whose content this host has
    /// not handled yet, oldest file first; what each one came to.
    pub async fn scan_dir(&self, dir: &std::path::Path) -> Vec<(std::path::PathBuf, Result<Artifact, RegistryError>)> {
        let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
                .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
                .collect(),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot read the connector directory");
                return Vec::new();
            }
        };
        files.sort();
        let mut outcomes = Vec::new();
        for (_, path) in files {
            let Ok(wasm) = std::fs::read(&path) else { continue };
            let digest = digest_of(&wasm);
            let known = self.inner.dropped.lock().ok().and_then(|d| d.get(&path).cloned());
            if known.as_deref() == Some(digest.as_str()) {
                continue;
            }
            let signature = std::fs::read_to_string(format!("{}.sig", path.display())).ok().and_then(|text| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
            });
            let outcome = self.drop_in(&wasm, signature.as_deref()).await;
            match &outcome {
                Ok(artifact) => {
                    tracing::info!(file = %path.display(), connector = %artifact.name, version = %artifact.version, digest = %artifact.digest, "connector file activated")
                }
                Err(error) => {
                    metrics::counter!("cassa_registry_errors_total").increment(1);
                    tracing::error!(file = %path.display(), %error, "connector file refused");
                }
            }
            // Done with this content, unless its signature may still arrive (`.sig` after `.wasm`).
            let awaiting_signature = matches!(outcome, Err(RegistryError::Signature(_)));
            if !awaiting_signature && let Ok(mut dropped) = self.inner.dropped.lock() {
                dropped.insert(path.clone(), digest);
            }
            outcomes.push((path, outcome));
        }
        outcomes
    }

    /// Pushes `wasm` and activates it unless that version of its name was ever activated.
    async fn drop_in(&self, wasm: &[u8], signature: Option<&[u8]>) -> Result<Artifact, RegistryError> {
        let pushed = self.push(wasm, signature).await?;
        let artifact = pushed.artifact;
        // Activated once, ever: a restart, another replica or an operator's rollback never
        // makes the same file active again.
        let history = self.inner.store.activations(&artifact.name).await?;
        if history.iter().any(|a| a.digest == artifact.digest) {
            return Ok(artifact);
        }
        self.activate(&artifact.name, &artifact.digest, "activate").await
    }

    /// Directory mode until `stop`: scans `dir` every `interval`.
    pub fn watch_dir(
        &self,
        dir: std::path::PathBuf,
        stop: CancellationToken,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            loop {
                registry.scan_dir(&dir).await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        })
    }

    async fn find(&self, name: &str, selector: &str) -> Result<Artifact, RegistryError> {
        let selector = selector.trim().trim_start_matches("sha256:");
        let artifacts: Vec<Artifact> =
            self.inner.store.artifacts().await?.into_iter().filter(|a| a.name == name).collect();
        if artifacts.is_empty() {
            return Err(RegistryError::NotFound(format!("no artifact of connector `{name}` is stored")));
        }
        let by_digest: Vec<&Artifact> = artifacts
            .iter()
            .filter(|a| a.digest == selector || (selector.len() >= 8 && a.digest.starts_with(selector)))
            .collect();
        let chosen = match by_digest.as_slice() {
            [one] => Some(*one),
            [] => artifacts.iter().filter(|a| a.version == selector).max_by_key(|a| a.uploaded_at),
            _ => return Err(RegistryError::Conflict(format!("`{selector}` names several artifacts of `{name}`"))),
        };
        chosen.cloned().ok_or_else(|| {
            RegistryError::NotFound(format!("connector `{name}` has no artifact with digest or version `{selector}`"))
        })
    }

    /// The loaded connector of `digest`: from this process' cache, else from the database.
    async fn loaded(&self, digest: &str) -> Result<Connector, RegistryError> {
        if let Some(connector) = self.inner.loaded.lock().ok().and_then(|l| l.get(digest).cloned()) {
            return Ok(connector);
        }
        let wasm = self
            .inner
            .store
            .artifact_wasm(digest)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("no artifact {digest} is stored")))?;
        let connector = self.inner.runtime.load(&wasm).await?;
        self.remember(connector.clone());
        if let Ok(mut failed) = self.inner.failed.lock() {
            failed.remove(digest);
        }
        Ok(connector)
    }

    fn remember(&self, connector: Connector) {
        if let Ok(mut loaded) = self.inner.loaded.lock() {
            loaded.insert(connector.digest().to_owned(), connector);
        }
    }

    fn install(&self, connector: Connector) {
        self.inner.connectors.install(connector, self.inner.concurrency, self.inner.per_second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(steps: &[(&str, &str)]) -> Vec<Activation> {
        // Given oldest first, returned newest first as the store gives it.
        let mut all: Vec<Activation> = steps
            .iter()
            .enumerate()
            .map(|(i, (reason, digest))| Activation {
                id: i as i64 + 1,
                name: "mypay".into(),
                digest: (*digest).into(),
                activated_at: Timestamp::now(),
                reason: (*reason).into(),
            })
            .collect();
        all.reverse();
        all
    }

    #[test]
    fn a_rollback_goes_back_one_version_and_the_next_one_further_never_forth() {
        let h = history(&[("bundled", "a"), ("activate", "b"), ("activate", "c")]);
        assert_eq!(rollback_candidates(&h), ["b", "a"]);
        let h = history(&[("bundled", "a"), ("activate", "b"), ("activate", "c"), ("rollback", "b")]);
        assert_eq!(rollback_candidates(&h), ["a"]);
        let h = history(&[("bundled", "a"), ("activate", "b"), ("rollback", "a")]);
        assert!(rollback_candidates(&h).is_empty(), "nothing below the first version");
        // Activating an old version again stacks it like any other.
        let h = history(&[("bundled", "a"), ("activate", "b"), ("activate", "a")]);
        assert_eq!(rollback_candidates(&h), ["b"]);
    }
}
