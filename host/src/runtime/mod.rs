//! The connector runtime: one long-lived wasmtime engine, admission of connector components,
//! and a fresh sandbox for every call.
//!
//! | piece | where |
//! |---|---|
//! | engine, loading, admission, calls | this module ([`Runtime`], [`Connector`]) |
//! | the `http` import and its egress rules | [`egress`] |
//! | memory and object limits | [`limits`] |
//! | guest-visible state of one call, `log` import, captured stdout/stderr | [`sandbox`] |
//! | failures and whose fault they are | [`error`] |
//! | the domain's payment as the contract's records (`debt-position`, `debt-ref`) | [`mapping`] |
//!
//! A call: new `Store` (memory limiter, epoch deadline that yields every tick and traps when the
//! CPU budget is spent) → instantiate from the `InstancePre` → call the export, all under an
//! outer wall-clock timeout. The store is dropped afterwards, so a trap never poisons a later
//! call and tenants never share memory.

pub mod egress;
pub mod error;
pub mod limits;
pub mod mapping;
pub mod sandbox;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};

pub use self::egress::{Egress, EgressConfig, HostPolicy, Secrets};
pub use self::error::{AdmissionError, Blame, CallError};
pub use self::limits::{Gate, LimitPolicy, LimitSet, Limits};
pub use self::mapping::{debt_position, debt_ref};
use self::sandbox::{CallFields, CallState};

/// Generated host bindings of `wit/connector.wit`.
pub mod bindings {
    #![allow(missing_docs, reason = "generated code")]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "connector",
        imports: {
            "cassa:connector/http.send": async,
            default: tracing,
        },
        exports: { default: async },
    });
}

pub use bindings::cassa::connector::types as wit;

/// The contract version this host implements; connectors must target a compatible one.
pub const CONTRACT_VERSION: &str = "0.1.0";
const GATEWAY_EXPORT: &str = "cassa:connector/gateway@0.1.0";
/// The optional export that finds a position without creating one.
const LOOKUP_EXPORT: &str = "cassa:connector/lookup@0.1.0";

/// Operator settings of the runtime.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Limits for calls of connectors without limits of their own.
    pub limits: Limits,
    /// Outbound HTTP rules.
    pub egress: EgressConfig,
    /// Epoch tick in milliseconds: the granularity of CPU accounting and of yielding.
    pub epoch_tick_ms: u64,
    /// Most connector instances alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Largest linear memory any connector may reach, in bytes; per-call limits are below it.
    pub max_memory_bytes: usize,
    /// Where compiled connectors are kept, keyed by their bytes and the engine's settings, so a
    /// version compiled once (before a restart, or before a rollback) loads without compiling
    /// again; none: every load compiles.
    pub compile_cache: Option<std::path::PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            egress: EgressConfig::default(),
            epoch_tick_ms: 5,
            max_instances: 256,
            max_memory_bytes: 512 * 1024 * 1024,
            compile_cache: None,
        }
    }
}

/// Shared by the runtime and every connector it loaded.
struct Shared {
    engine: Engine,
    linker: Linker<CallState>,
    egress: Egress,
    config: RuntimeConfig,
    /// One permit per instance slot of the pooling allocator: a call beyond them waits for one
    /// (before its wall time starts) instead of failing to instantiate.
    slots: Arc<tokio::sync::Semaphore>,
}

/// The process's one wasmtime engine and what every call needs.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl Runtime {
    /// Creates the engine (component model, epoch interruption, pooling allocator), the linker
    /// with the host's imports, the outbound client and the epoch ticker.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(8))
            .total_memories(config.max_instances.saturating_mul(4))
            .total_tables(config.max_instances.saturating_mul(4))
            .total_stacks(config.max_instances)
            .max_memory_size(config.max_memory_bytes)
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(16);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = &config.compile_cache {
            // wasmtime's own cache: entries are keyed by the component's hash and the engine's
            // settings and compiler version, and only ever written by this engine.
            let dir = std::path::absolute(dir).context("the compile cache directory")?;
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            let cache =
                wasmtime::Cache::new(cache).map_err(|e| anyhow::anyhow!("cannot open the compile cache: {e}"))?;
            wasm.cache(Some(cache));
        }
        let engine = Engine::new(&wasm).map_err(|e| anyhow::anyhow!("cannot create the wasm engine: {e}"))?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("cannot link WASI: {e}"))?;
        bindings::Connector::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| anyhow::anyhow!("cannot link the connector imports: {e}"))?;
        let egress = Egress::new(config.egress.clone()).context("cannot build the outbound HTTP client")?;
        spawn_epoch_ticker(engine.weak(), Duration::from_millis(config.epoch_tick_ms.max(1)));
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_instances.max(1) as usize));
        Ok(Self { shared: Arc::new(Shared { engine, linker, egress, config, slots }) })
    }

    /// The engine, for precompilation and benchmarks.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Compiles, admits and pre-instantiates a connector component, then asks it for `info`.
    pub async fn load(&self, bytes: &[u8]) -> Result<Connector, AdmissionError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let component =
            Component::new(&self.shared.engine, bytes).map_err(|e| AdmissionError::NotAComponent(format!("{e:#}")))?;
        admission_check(&self.shared.engine, &component)?;
        let instance_pre =
            self.shared.linker.instantiate_pre(&component).map_err(|e| AdmissionError::Imports(format!("{e:#}")))?;
        let pre = bindings::ConnectorPre::new(instance_pre).map_err(|e| AdmissionError::World(format!("{e:#}")))?;
        let find = component
            .get_export_index(None, LOOKUP_EXPORT)
            .and_then(|lookup| component.get_export_index(Some(&lookup), "find"));
        let mut connector = Connector {
            shared: self.shared.clone(),
            pre,
            find,
            digest,
            info: Arc::new(ConnectorInfo::placeholder()),
            declared_hosts: Arc::from(Vec::new()),
            secret_fields: Arc::new((Vec::new(), Vec::new())),
            limits: self.shared.config.limits,
        };
        let raw = connector
            .call(&CallScope::admission(), Secrets::default(), Op::Info)
            .await
            .map_err(|e| AdmissionError::Info(e.to_string()))?;
        let OpResult::Info(raw) = raw else {
            return Err(AdmissionError::Info("unexpected reply".into()));
        };
        let info = ConnectorInfo::from_wit(raw)?;
        connector.declared_hosts = info.hosts.iter().filter_map(|h| egress::HostPattern::parse(h)).collect();
        connector.secret_fields = Arc::new((
            ConnectorInfo::secret_fields(&info.tenant_schema),
            ConnectorInfo::secret_fields(&info.service_schema),
        ));
        connector.info = Arc::new(info);
        Ok(connector)
    }
}

/// Advances the engine's epoch every `tick` until the engine is gone (the runtime and every
/// connector loaded from it dropped).
fn spawn_epoch_ticker(engine: wasmtime::EngineWeak, tick: Duration) {
    let spawned = std::thread::Builder::new().name("cassa-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(tick);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the epoch ticker: guest CPU limits will trap at once");
    }
}

/// Checks what a component imports and exports before anything runs: it must export the
/// `gateway` of a compatible contract and import nothing but the contract's own interfaces and
/// WASI (which the host links with an empty, locked-down context).
fn admission_check(engine: &Engine, component: &Component) -> Result<(), AdmissionError> {
    let ty = component.component_type();
    let mut problems = Vec::new();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_owned()).collect();
    if !exports.iter().any(|e| e == GATEWAY_EXPORT) {
        let found = exports.iter().find(|e| e.starts_with("cassa:connector/gateway@"));
        problems.push(match found {
            Some(other) => format!("it exports `{other}`, but this host speaks `{GATEWAY_EXPORT}`"),
            None => format!("it does not export `{GATEWAY_EXPORT}` (exports: {})", list(&exports)),
        });
    }
    for (name, _) in ty.imports(engine) {
        let allowed = name.starts_with("wasi:cli/")
            || name.starts_with("wasi:io/")
            || name.starts_with("wasi:clocks/")
            || name.starts_with("wasi:random/")
            || name.starts_with("wasi:filesystem/")
            || name.starts_with("wasi:sockets/")
            || ["cassa:connector/types@0.1", "cassa:connector/http@0.1", "cassa:connector/log@0.1"]
                .iter()
                .any(|p| name.starts_with(p));
        if !allowed {
            problems.push(format!("it imports `{name}`, which the host does not provide"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(AdmissionError::Contract(problems)) }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "nothing".into() } else { items.join(", ") }
}

/// What a connector says about itself, checked and parsed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorInfo {
    /// Machine name.
    pub name: String,
    /// Its own version.
    pub version: String,
    /// The contract version it targets.
    pub contract_version: String,
    /// One line for operators.
    pub description: String,
    /// Optional operations it implements.
    pub capabilities: Vec<String>,
    /// JSON Schema of the tenant configuration.
    pub tenant_schema: Value,
    /// JSON Schema of the service configuration.
    pub service_schema: Value,
    /// Hosts it needs to reach.
    pub hosts: Vec<String>,
}

impl ConnectorInfo {
    fn placeholder() -> Self {
        Self {
            name: "(loading)".into(),
            version: "0.0.0".into(),
            contract_version: CONTRACT_VERSION.into(),
            description: String::new(),
            capabilities: Vec::new(),
            tenant_schema: Value::Null,
            service_schema: Value::Null,
            hosts: Vec::new(),
        }
    }

    fn from_wit(raw: wit::ConnectorInfo) -> Result<Self, AdmissionError> {
        let bad = |what: String| Err(AdmissionError::Info(what));
        if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return bad(format!("name `{}` must be non-empty lower-case letters, digits and `-`", raw.name));
        }
        if !raw.contract_version.starts_with("0.1.") {
            return bad(format!(
                "it targets contract {}, this host implements {CONTRACT_VERSION}",
                raw.contract_version
            ));
        }
        let tenant_schema: Value = match serde_json::from_str(&raw.tenant_schema) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("tenant-schema is not a JSON object".into()),
        };
        let service_schema: Value = match serde_json::from_str(&raw.service_schema) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("service-schema is not a JSON object".into()),
        };
        for host in &raw.hosts {
            if egress::HostPattern::parse(host).is_none() {
                return bad(format!("declared host `{host}` is not a host pattern"));
            }
        }
        let c = raw.capabilities;
        let capabilities = [
            (wit::Capabilities::BEGIN_ONLINE, "begin-online"),
            (wit::Capabilities::NOTICE, "notice"),
            (wit::Capabilities::RECEIPT, "receipt"),
            (wit::Capabilities::CANCEL, "cancel"),
            (wit::Capabilities::CALLBACK, "callback"),
        ]
        .into_iter()
        .filter(|(flag, _)| c.contains(*flag))
        .map(|(_, name)| name.to_owned())
        .collect();
        Ok(Self {
            name: raw.name,
            version: raw.version,
            contract_version: raw.contract_version,
            description: raw.description,
            capabilities,
            tenant_schema,
            service_schema,
            hosts: raw.hosts,
        })
    }

    /// The top-level properties a schema marks secret (`"x-secret": true` or `"writeOnly": true`).
    pub fn secret_fields(schema: &Value) -> Vec<String> {
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter(|(_, p)| {
                        p.get("x-secret").and_then(Value::as_bool) == Some(true)
                            || p.get("writeOnly").and_then(Value::as_bool) == Some(true)
                    })
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether it implements the optional operation `name`.
    pub fn can(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }
}

/// Who a call is for: the tenant, service and payment, their configuration (with real secret
/// values; the runtime turns them into placeholders) and the hosts the tenant allows.
#[derive(Debug, Clone, Default)]
pub struct CallScope {
    /// Tenant id.
    pub tenant_id: String,
    /// Service id.
    pub service_id: String,
    /// Payment id, when the call is about one payment.
    pub payment_id: Option<String>,
    /// Tenant configuration.
    pub tenant_config: Value,
    /// Service configuration.
    pub service_config: Value,
    /// Host patterns the tenant's configuration allows.
    pub allowed_hosts: Vec<String>,
    /// The limits of this call (the operator's for the tenant and connector); none: the
    /// connector's own.
    pub limits: Option<Limits>,
    /// The tenant's gate (its concurrency and calls per second), when it has one: the call
    /// waits its turn there, at most its wall-time limit.
    pub gate: Option<Arc<Gate>>,
    /// The intermediary's gate, for calls that queue for it (the pipeline's creates and status
    /// checks): entered after the tenant's, so a tenant waiting for its own turn holds none of
    /// the intermediary's.
    pub intermediary: Option<Arc<Gate>>,
}

impl CallScope {
    fn admission() -> Self {
        Self { tenant_id: "-".into(), service_id: "-".into(), ..Self::default() }
    }
}

/// A loaded, admitted, pre-instantiated connector. Cheap to clone; calls on clones share the
/// compiled code and nothing else.
#[derive(Clone)]
pub struct Connector {
    shared: Arc<Shared>,
    pre: bindings::ConnectorPre<CallState>,
    /// Where the optional `lookup.find` is, when the component exports it.
    find: Option<wasmtime::component::ComponentExportIndex>,
    digest: String,
    info: Arc<ConnectorInfo>,
    /// The hosts `info` declares, parsed once.
    declared_hosts: Arc<[egress::HostPattern]>,
    /// The secret fields of the tenant and the service schema, found once.
    secret_fields: Arc<(Vec<String>, Vec<String>)>,
    limits: Limits,
}

/// One operation of the `gateway` export.
#[expect(clippy::large_enum_variant, reason = "built once per call and moved straight into the guest call")]
enum Op {
    Info,
    ValidateConfig(String, String),
    Create(wit::Context, wit::DebtPosition),
    Status(wit::Context, wit::DebtRef),
    BeginOnline(wit::Context, wit::DebtRef, wit::ReturnUrls),
    Notice(wit::Context, wit::DebtRef),
    Receipt(wit::Context, wit::DebtRef),
    Cancel(wit::Context, wit::DebtRef),
    Callback(wit::Context, wit::CallbackRequest),
    Find(wit::Context, String, String),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Info => "info",
            Op::ValidateConfig(..) => "validate-config",
            Op::Create(..) => "create",
            Op::Status(..) => "status",
            Op::BeginOnline(..) => "begin-online",
            Op::Notice(..) => "notice",
            Op::Receipt(..) => "receipt",
            Op::Cancel(..) => "cancel",
            Op::Callback(..) => "callback",
            Op::Find(..) => "find",
        }
    }
}

enum OpResult {
    Info(wit::ConnectorInfo),
    Unit(Result<(), wit::Error>),
    Created(Result<wit::Created, wit::Error>),
    Status(Result<wit::PaymentStatus, wit::Error>),
    Url(Result<String, wit::Error>),
    Document(Result<wit::Document, wit::Error>),
    Callback(Result<wit::CallbackOutcome, wit::Error>),
    Found(Result<Option<wit::Created>, wit::Error>),
}

impl OpResult {
    fn error(&self) -> Option<&wit::Error> {
        match self {
            OpResult::Info(_) => None,
            OpResult::Unit(r) => r.as_ref().err(),
            OpResult::Created(r) => r.as_ref().err(),
            OpResult::Status(r) => r.as_ref().err(),
            OpResult::Url(r) => r.as_ref().err(),
            OpResult::Document(r) => r.as_ref().err(),
            OpResult::Callback(r) => r.as_ref().err(),
            OpResult::Found(r) => r.as_ref().err(),
        }
    }
}

macro_rules! expect_result {
    ($result:expr, $variant:ident) => {
        match $result {
            OpResult::$variant(Ok(value)) => Ok(value),
            OpResult::$variant(Err(error)) => Err(error),
            _ => return Err(CallError::Host("the runtime paired an operation with the wrong result".into())),
        }
    };
}

impl Connector {
    /// What the connector said about itself at admission.
    pub fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    /// The sha256 of the component bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The limits its calls run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The same connector with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// `validate-config` on a tenant and a service configuration.
    pub async fn validate_config(&self, scope: &CallScope) -> Result<(), CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::ValidateConfig(ctx.tenant_config, ctx.service_config)).await?;
        self.finish(expect_result!(result, Unit))
    }

    /// `create`: opens a debt position.
    pub async fn create(&self, scope: &CallScope, position: wit::DebtPosition) -> Result<wit::Created, CallError> {
        self.create_reaching(scope, position).await.0
    }

    /// `create`, and whether any of its requests may have reached the intermediary: when one
    /// did and the call failed anyway, the position may exist upstream.
    pub async fn create_reaching(
        &self,
        scope: &CallScope,
        position: wit::DebtPosition,
    ) -> (Result<wit::Created, CallError>, bool) {
        let (ctx, secrets) = self.context(scope);
        let (result, reached) = self.call_reaching(scope, secrets, Op::Create(ctx, position)).await;
        (result.and_then(|result| self.finish(expect_result!(result, Created))), reached)
    }

    /// `status`: where a debt position stands.
    pub async fn status(&self, scope: &CallScope, debt: wit::DebtRef) -> Result<wit::PaymentStatus, CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::Status(ctx, debt)).await?;
        self.finish(expect_result!(result, Status))
    }

    /// `begin-online`: the URL of the intermediary's payment page.
    pub async fn begin_online(
        &self,
        scope: &CallScope,
        debt: wit::DebtRef,
        urls: wit::ReturnUrls,
    ) -> Result<String, CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::BeginOnline(ctx, debt, urls)).await?;
        self.finish(expect_result!(result, Url))
    }

    /// `notice`: the printable notice.
    pub async fn notice(&self, scope: &CallScope, debt: wit::DebtRef) -> Result<wit::Document, CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::Notice(ctx, debt)).await?;
        self.finish(expect_result!(result, Document))
    }

    /// `receipt`: the receipt of a paid position.
    pub async fn receipt(&self, scope: &CallScope, debt: wit::DebtRef) -> Result<wit::Document, CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::Receipt(ctx, debt)).await?;
        self.finish(expect_result!(result, Document))
    }

    /// `cancel`: annuls a position.
    pub async fn cancel(&self, scope: &CallScope, debt: wit::DebtRef) -> Result<(), CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::Cancel(ctx, debt)).await?;
        self.finish(expect_result!(result, Unit))
    }

    /// Whether it exports the optional `lookup` (finding a position without creating one).
    pub fn can_find(&self) -> bool {
        self.find.is_some()
    }

    /// `lookup.find`: the position the intermediary holds for `iud`, `None` when it holds none;
    /// `unsupported` when the connector does not export `lookup`.
    pub async fn find(
        &self,
        scope: &CallScope,
        payment_id: &str,
        iud: &str,
    ) -> Result<Option<wit::Created>, CallError> {
        if self.find.is_none() {
            return Err(CallError::Connector(wit::Error::Unsupported(
                "this connector does not export `cassa:connector/lookup`".into(),
            )));
        }
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::Find(ctx, payment_id.to_owned(), iud.to_owned())).await?;
        self.finish(expect_result!(result, Found))
    }

    /// `callback`: interprets a pushed notification.
    pub async fn callback(
        &self,
        scope: &CallScope,
        request: wit::CallbackRequest,
    ) -> Result<wit::CallbackOutcome, CallError> {
        let (ctx, secrets) = self.context(scope);
        let result = self.call(scope, secrets, Op::Callback(ctx, request)).await?;
        self.finish(expect_result!(result, Callback))
    }

    fn finish<T>(&self, result: Result<T, wit::Error>) -> Result<T, CallError> {
        result.map_err(CallError::Connector)
    }

    /// The guest-visible context of a scope and the secrets it hides.
    fn context(&self, scope: &CallScope) -> (wit::Context, Secrets) {
        let mut secrets = Vec::new();
        let tenant =
            hide_secrets(&scope.tenant_config, &ConnectorInfo::secret_fields(&self.info.tenant_schema), &mut secrets);
        let service =
            hide_secrets(&scope.service_config, &ConnectorInfo::secret_fields(&self.info.service_schema), &mut secrets);
        let ctx = wit::Context {
            tenant_id: scope.tenant_id.clone(),
            service_id: scope.service_id.clone(),
            tenant_config: tenant.to_string(),
            service_config: service.to_string(),
        };
        (ctx, Secrets::new(secrets))
    }

    fn fields(&self, scope: &CallScope, op: &Op) -> CallFields {
        CallFields {
            tenant: scope.tenant_id.clone(),
            service: scope.service_id.clone(),
            payment: scope.payment_id.clone().unwrap_or_default(),
            connector: self.info.name.clone(),
            version: self.info.version.clone(),
            operation: op.name(),
        }
    }

    /// Runs one operation in a fresh sandbox once the tenant's gate lets it, then counts and
    /// logs the outcome.
    async fn call(&self, scope: &CallScope, secrets: Secrets, op: Op) -> Result<OpResult, CallError> {
        self.call_reaching(scope, secrets, op).await.0
    }

    /// [`Self::call`], and whether any request of the call may have reached the intermediary.
    async fn call_reaching(&self, scope: &CallScope, secrets: Secrets, op: Op) -> (Result<OpResult, CallError>, bool) {
        let fields = self.fields(scope, &op);
        let limits = scope.limits.unwrap_or(self.limits);
        let started = Instant::now();
        let op_name = op.name();
        let result = async {
            let _tenant_turn = match &scope.gate {
                Some(gate) => {
                    Some(gate.enter(Some(limits.wall())).await.map_err(|refused| CallError::TenantLimit {
                        limit: refused.limit.as_str(),
                        value: refused.value,
                        waited_ms: started.elapsed().as_millis() as u64,
                    })?)
                }
                None => None,
            };
            let _intermediary_turn = match &scope.intermediary {
                Some(gate) => gate.enter(None).await.ok(),
                None => None,
            };
            // The semaphore is never closed.
            let _slot = self.shared.slots.acquire().await.ok();
            Ok(self.run(scope, secrets, op, fields.clone(), &limits).await)
        }
        .await;
        let (result, reached) = match result {
            Ok((result, reached)) => (result, reached),
            Err(refused) => (Err(refused), false),
        };
        let elapsed_us = started.elapsed().as_micros() as u64;
        let outcome = match &result {
            Ok(done) => done.error().map_or("ok", |e| CallError::Connector(e.clone()).kind()),
            Err(error) => error.kind(),
        };
        crate::metrics::connector_call(
            &fields.connector,
            &fields.version,
            &fields.tenant,
            op_name,
            outcome,
            started.elapsed().as_secs_f64(),
        );
        match &result {
            Ok(_) => tracing::debug!(
                tenant = %fields.tenant, connector = %fields.connector, version = %fields.version,
                payment = %fields.payment, operation = op_name, elapsed_us, "connector call finished"
            ),
            Err(error) => {
                if let Some(limit) = error.exceeded_limit() {
                    crate::metrics::limit_exceeded(&fields.connector, &fields.tenant, limit);
                }
                tracing::warn!(
                    tenant = %fields.tenant, connector = %fields.connector, version = %fields.version,
                    payment = %fields.payment, operation = op_name, elapsed_us, blame = %error.blame(),
                    limit = %error.exceeded_limit().unwrap_or("-"), %error, "connector call failed"
                )
            }
        }
        (result, reached)
    }

    /// Runs one operation in a fresh sandbox under `limits`; also says whether a request of it
    /// may have reached the intermediary.
    async fn run(
        &self,
        scope: &CallScope,
        secrets: Secrets,
        op: Op,
        fields: CallFields,
        limits: &Limits,
    ) -> (Result<OpResult, CallError>, bool) {
        let policy = HostPolicy::new(self.declared_hosts.clone(), &scope.allowed_hosts);
        let tick = Duration::from_millis(self.shared.config.epoch_tick_ms.max(1));
        let cpu_ticks = (limits.cpu_ms / tick.as_millis().max(1) as u64).max(1);
        let state = CallState::new(fields, limits.memory_bytes, self.shared.egress.clone(), policy, secrets, cpu_ticks);
        let mut store = Store::new(&self.shared.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.cpu_ticks_used += 1;
            if state.cpu_ticks_used > state.cpu_ticks_budget {
                state.cpu_exceeded = true;
                return Err(wasmtime::Error::msg("CPU time limit exceeded"));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let outcome = {
            let run = async {
                let raw = self.pre.instance_pre().instantiate_async(&mut store).await?;
                let instance = bindings::Connector::new(&mut store, &raw)?;
                let gateway = instance.cassa_connector_gateway();
                if let Op::Find(c, payment, iud) = op {
                    let Some(find) = &self.find else {
                        return Err(wasmtime::Error::msg("the connector does not export lookup"));
                    };
                    type Find = wasmtime::component::TypedFunc<
                        (wit::Context, String, String),
                        (Result<Option<wit::Created>, wit::Error>,),
                    >;
                    let find: Find = raw.get_typed_func(&mut store, find)?;
                    let (found,) = find.call_async(&mut store, (c, payment, iud)).await?;
                    return Ok(OpResult::Found(found));
                }
                let store = &mut store;
                wasmtime::Result::Ok(match op {
                    Op::Info => OpResult::Info(gateway.call_info(store).await?),
                    Op::ValidateConfig(t, s) => OpResult::Unit(gateway.call_validate_config(store, &t, &s).await?),
                    Op::Create(c, p) => OpResult::Created(gateway.call_create(store, &c, &p).await?),
                    Op::Status(c, d) => OpResult::Status(gateway.call_status(store, &c, &d).await?),
                    Op::BeginOnline(c, d, u) => OpResult::Url(gateway.call_begin_online(store, &c, &d, &u).await?),
                    Op::Notice(c, d) => OpResult::Document(gateway.call_notice(store, &c, &d).await?),
                    Op::Receipt(c, d) => OpResult::Document(gateway.call_receipt(store, &c, &d).await?),
                    Op::Cancel(c, d) => OpResult::Unit(gateway.call_cancel(store, &c, &d).await?),
                    Op::Callback(c, r) => OpResult::Callback(gateway.call_callback(store, &c, &r).await?),
                    Op::Find(..) => return Err(wasmtime::Error::msg("find is called through its own export")),
                })
            };
            tokio::time::timeout(limits.wall(), run).await
        };
        let state = store.data_mut();
        state.flush_output();
        if state.refused > 1 {
            let f = &state.fields;
            tracing::warn!(
                target: "cassa::egress", tenant = %f.tenant, connector = %f.connector, payment = %f.payment,
                refused = state.refused, "outbound requests refused in one call (the first is logged above)"
            );
        }
        // A call cut off while a request was out may have reached the intermediary too.
        let reached = state.reached || (outcome.is_err() && state.http_in_flight);
        let result = match outcome {
            Ok(Ok(result)) => match result.error() {
                // A failure after refused requests is the connector's doing, not the intermediary's.
                Some(error) if !state.denied.is_empty() => {
                    let mut denied = state.denied.join("; ");
                    let more = (state.refused as usize).saturating_sub(state.denied.len());
                    if more > 0 {
                        denied.push_str(&format!("; and {more} more"));
                    }
                    Err(CallError::EgressDenied { denied, error: error.clone() })
                }
                _ => Ok(result),
            },
            Ok(Err(trap)) => Err(state.classify_trap(trap, limits)),
            Err(_) => Err(if state.http_in_flight {
                CallError::UpstreamTimeout { limit_ms: limits.wall_ms }
            } else {
                CallError::WallTimeout { limit_ms: limits.wall_ms }
            }),
        };
        (result, reached)
    }
}

/// Replaces the secret top-level fields of `config` with placeholders, collecting their values.
fn hide_secrets(config: &Value, fields: &[String], secrets: &mut Vec<(String, String)>) -> Value {
    let mut config = config.clone();
    if let Value::Object(map) = &mut config {
        for field in fields {
            if let Some(value) = map.get_mut(field) {
                let real = match &*value {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                secrets.push((field.clone(), real));
                *value = Value::String(Secrets::placeholder(field));
            }
        }
    }
    config
}
