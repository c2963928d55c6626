//! The settings of `cassa run`: one file (`cassa.toml`), `CASSA_*` environment variables and
//! command-line flags, in that order of precedence (a flag beats a variable, which beats the
//! file, which beats the default).
//!
//! Every setting is one field of [`Settings`] and of [`RunArgs`]; its flag is the key with `-`
//! for `_` and its variable `CASSA_` and the key in capitals. A key the file does not know is an
//! error naming it. [`reference`] writes the table of every setting from these types (the flag,
//! variable and help text come from clap, the default from [`Settings::default`]);
//! `docs/OPERATIONS.md` holds it and a test keeps the two equal. `cassa config check` validates a
//! file and prints the effective settings with secrets masked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The settings as given on the command line, in the environment or in the file: each one
/// optional, filled from the next source down when absent.
#[derive(Clone, Default, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// The settings file; `cassa.toml` in the working directory is read when it exists.
    #[arg(long, env = "CASSA_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address of the HTTP API.
    #[arg(long, env = "CASSA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where the embedded default keeps its SQLite database (`cassa.db`).
    #[arg(long, env = "CASSA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database: `sqlite://…` or `postgres://user@host/db`; default `<data_dir>/cassa.db`.
    #[arg(long, env = "CASSA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Base URL citizens reach this host at (links in payment events); default `http://<listen>`.
    #[arg(long, env = "CASSA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// API key of the embedded sandbox intermediary (a secret).
    #[arg(long, env = "CASSA_SANDBOX_API_KEY", hide_env_values = true)]
    pub sandbox_api_key: Option<String>,
    /// Also configure a demo tenant and service on the sandbox intermediary.
    #[arg(long, env = "CASSA_DEMO", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: Option<bool>,
    /// Kafka brokers (`host:port,…`): when set, the bus is Kafka instead of the embedded log.
    #[arg(long, env = "CASSA_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Partitions of the topics cassa creates on Kafka.
    #[arg(long, env = "CASSA_KAFKA_PARTITIONS")]
    pub kafka_partitions: Option<i32>,
    /// Name of the topic of application events.
    #[arg(long, env = "CASSA_TOPIC_APPLICATIONS")]
    pub topic_applications: Option<String>,
    /// Name of the topic of payment events.
    #[arg(long, env = "CASSA_TOPIC_PAYMENTS")]
    pub topic_payments: Option<String>,
    /// Name of the dead-letter topic.
    #[arg(long, env = "CASSA_TOPIC_DLQ")]
    pub topic_dlq: Option<String>,
    /// The stages this process runs, from dispatcher, proxy, view, poller, updater (the view
    /// runs by default only with Kafka).
    #[arg(long, env = "CASSA_STAGES", value_delimiter = ',')]
    pub stages: Option<Vec<String>>,
    /// Most calls per second to one intermediary (unlimited when unset).
    #[arg(long, env = "CASSA_CONNECTOR_RATE")]
    pub connector_rate: Option<u32>,
    /// Most calls at once to one intermediary.
    #[arg(long, env = "CASSA_CONNECTOR_CONCURRENCY")]
    pub connector_concurrency: Option<usize>,
    /// Limits per connector and per tenant, `;`-separated rules (a list in `cassa.toml`): `connector=<name>` or `tenant=<id>` (`*`: every other one), then any of `memory_mb=`, `cpu_ms=`, `wall_ms=` (one call; the tenant's rule beats the connector's, which beats `*` and the built-in 64 MiB, 2000 ms, 30000 ms), `concurrency=`, `calls_per_second=` (a connector's apply to its intermediary, a tenant's to all its calls; a call waits its turn at most its wall time, then fails with blame `tenant`). E.g. `connector=mypay memory_mb=128;tenant=* concurrency=8 calls_per_second=20`.
    #[arg(long, env = "CASSA_LIMITS", value_delimiter = ';')]
    pub limits: Option<Vec<String>>,
    /// Prefix of the consumer groups; replicas of one deployment share it.
    #[arg(long, env = "CASSA_GROUP_PREFIX")]
    pub group_prefix: Option<String>,
    /// The connector of tenants whose configuration names none (as OpenCity's core sends them).
    #[arg(long, env = "CASSA_DEFAULT_CONNECTOR")]
    pub default_connector: Option<String>,
    /// Bearer token sent to the core's notify endpoints (a secret).
    #[arg(long, env = "CASSA_CORE_TOKEN", hide_env_values = true)]
    pub core_token: Option<String>,
    /// pagoPA Checkout carts v2 base URL (UAT: `https://api.uat.platform.pagopa.it/checkout/ec/v2`).
    #[arg(long, env = "CASSA_CHECKOUT_URL")]
    pub checkout_url: Option<String>,
    /// pagoPA Checkout subscription key (a secret); Checkout is off while it is unset.
    #[arg(long, env = "CASSA_CHECKOUT_SUBSCRIPTION_KEY", hide_env_values = true)]
    pub checkout_subscription_key: Option<String>,
    /// Attempts at creating a debt position on transient failures before `CREATION_FAILED`; the delay doubles from `retry_base_ms`.
    #[arg(long, env = "CASSA_CREATE_ATTEMPTS")]
    pub create_attempts: Option<u32>,
    /// First delay between creation attempts, in milliseconds.
    #[arg(long, env = "CASSA_RETRY_BASE_MS")]
    pub retry_base_ms: Option<u64>,
    /// How often the poller looks for payments due for a status check, in milliseconds.
    #[arg(long, env = "CASSA_POLL_INTERVAL_MS")]
    pub poll_interval_ms: Option<u64>,
    /// Most payments one poll claims.
    #[arg(long, env = "CASSA_POLL_BATCH")]
    pub poll_batch: Option<i64>,
    /// How long a claimed payment stays reserved for the replica that claimed it, in milliseconds.
    #[arg(long, env = "CASSA_POLL_LEASE_MS")]
    pub poll_lease_ms: Option<u64>,
    /// First delay before notifying the core again after a failure, in milliseconds; doubles per attempt, at most an hour.
    #[arg(long, env = "CASSA_NOTIFY_RETRY_BASE_MS")]
    pub notify_retry_base_ms: Option<u64>,
    /// Time-out of one request to the core's notify endpoint, in milliseconds.
    #[arg(long, env = "CASSA_NOTIFY_TIMEOUT_MS")]
    pub notify_timeout_ms: Option<u64>,
    /// Batches each bus-consuming stage handles at once (SQLite: at most 2).
    #[arg(long, env = "CASSA_BATCHES_IN_FLIGHT")]
    pub batches_in_flight: Option<usize>,
    /// What `payments` messages are keyed by: `payment_id` (per-payment order, spread over partitions) or `service_id` (as OpenCity's own components).
    #[arg(long, env = "CASSA_KEY_BY")]
    pub key_by: Option<String>,
    /// Time-out of one request to pagoPA Checkout, in milliseconds.
    #[arg(long, env = "CASSA_CHECKOUT_TIMEOUT_MS")]
    pub checkout_timeout_ms: Option<u64>,
    /// Bearer tokens of operators, comma-separated (secrets): when set, the operators' endpoints (`/dlq…`, `/connectors…`) require one of them, and they pass for every tenant on the core's APIs; `cassa dlq` and `cassa connector` send `CASSA_ADMIN_TOKEN`.
    #[arg(long, env = "CASSA_ADMIN_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub admin_tokens: Option<Vec<String>>,
    /// Keys of the core's JWTs, comma-separated (secrets): `hs256:<shared secret>`, a PEM public key (RSA, EC, Ed25519) or `@/path/key.pem`. When set, the configuration, payments and applications APIs need `Authorization: Bearer` with the core's JWT carrying the `tenant_id` it acts for (only that tenant's data is visible), or an admin token.
    #[arg(long, env = "CASSA_CORE_JWT_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub core_jwt_keys: Option<Vec<String>>,
    /// The audience (`aud`) the core's JWTs must name, e.g. `cassa`; unset: not checked. Set it when the core signs other tokens (its users' sessions) with the same key.
    #[arg(long, env = "CASSA_CORE_JWT_AUDIENCE")]
    pub core_jwt_audience: Option<String>,
    /// The issuer (`iss`) the core's JWTs must name; unset: not checked.
    #[arg(long, env = "CASSA_CORE_JWT_ISSUER")]
    pub core_jwt_issuer: Option<String>,
    /// Keys connector uploads must be signed with, comma-separated `<publisher>:<key>` (the key as base64 of its 32 bytes, a PEM Ed25519 public key, or `@/path/key.pem`). When set, `cassa connector push` needs an ed25519 signature of the component's sha256 digest by one of them (`cassa connector sign`), and the artifact records the publisher.
    #[arg(long, env = "CASSA_CONNECTOR_PUBLISHER_KEYS", value_delimiter = ',')]
    pub connector_publisher_keys: Option<Vec<String>>,
    /// Which non-public addresses connectors may reach: `loopback` (127.0.0.0/8 and ::1: the embedded sandbox intermediary this host serves), `none` (public addresses only: production without the sandbox), or `all` (every private network: intermediaries' test instances inside your network). Cloud metadata and the networks around the host stay out of reach unless `all`.
    #[arg(long, env = "CASSA_CONNECTOR_PRIVATE_NETWORKS")]
    pub connector_private_networks: Option<String>,
    /// Directory mode: every `*.wasm` dropped into this folder (with `<file>.sig` when signatures are required) is validated, stored and activated like an upload, once per content; unset: off.
    #[arg(long, env = "CASSA_CONNECTOR_DIR")]
    pub connector_dir: Option<PathBuf>,
    /// Key sealing tenant and service configurations at rest (secrets included): base64 of 32 random bytes (`openssl rand -base64 32`), best given as `CASSA_SECRETS_KEY`. Rows written before it was set are sealed at their next write; without it, sealed rows cannot be read.
    #[arg(long, env = "CASSA_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<String>,
    /// On SIGTERM or Ctrl-C: how long in-flight work may take to finish, be committed and be flushed before the process exits, in milliseconds.
    #[arg(long, env = "CASSA_SHUTDOWN_TIMEOUT_MS")]
    pub shutdown_timeout_ms: Option<u64>,
    /// `text` (human-readable) or `json` (one JSON object per line); `RUST_LOG` sets the level (default `info`).
    #[arg(long, env = "CASSA_LOG_FORMAT")]
    pub log_format: Option<String>,
}

impl RunArgs {
    /// What `cassa` with no subcommand is given: no flags, the `CASSA_*` variables.
    pub fn from_env() -> anyhow::Result<Self> {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: RunArgs,
        }
        Ok(Wrapper::try_parse_from(["cassa"])?.args)
    }
}

impl std::fmt::Debug for RunArgs {
    /// Which settings were given, never their values (some are secrets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = present(serde_json::to_value(self).unwrap_or_default());
        f.debug_struct("RunArgs").field("given", &given.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Settings {
    /// The settings as `cassa config check` shows them: secrets masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked_toml().unwrap_or_else(|e| format!("(settings: {e})")))
    }
}

/// The effective settings of `cassa run`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// See [`RunArgs::listen`].
    pub listen: SocketAddr,
    /// See [`RunArgs::data_dir`].
    pub data_dir: PathBuf,
    /// See [`RunArgs::database_url`].
    pub database_url: Option<String>,
    /// See [`RunArgs::public_url`].
    pub public_url: Option<String>,
    /// See [`RunArgs::sandbox_api_key`].
    pub sandbox_api_key: String,
    /// See [`RunArgs::demo`].
    pub demo: bool,
    /// See [`RunArgs::kafka_brokers`].
    pub kafka_brokers: Option<String>,
    /// See [`RunArgs::kafka_partitions`].
    pub kafka_partitions: i32,
    /// See [`RunArgs::topic_applications`].
    pub topic_applications: String,
    /// See [`RunArgs::topic_payments`].
    pub topic_payments: String,
    /// See [`RunArgs::topic_dlq`].
    pub topic_dlq: String,
    /// See [`RunArgs::stages`].
    pub stages: Vec<String>,
    /// See [`RunArgs::connector_rate`].
    pub connector_rate: Option<u32>,
    /// See [`RunArgs::connector_concurrency`].
    pub connector_concurrency: usize,
    /// See [`RunArgs::limits`].
    pub limits: Vec<String>,
    /// See [`RunArgs::group_prefix`].
    pub group_prefix: String,
    /// See [`RunArgs::default_connector`].
    pub default_connector: String,
    /// See [`RunArgs::core_token`].
    pub core_token: Option<String>,
    /// See [`RunArgs::checkout_url`].
    pub checkout_url: String,
    /// See [`RunArgs::checkout_subscription_key`].
    pub checkout_subscription_key: Option<String>,
    /// See [`RunArgs::create_attempts`].
    pub create_attempts: u32,
    /// See [`RunArgs::retry_base_ms`].
    pub retry_base_ms: u64,
    /// See [`RunArgs::poll_interval_ms`].
    pub poll_interval_ms: u64,
    /// See [`RunArgs::poll_batch`].
    pub poll_batch: i64,
    /// See [`RunArgs::poll_lease_ms`].
    pub poll_lease_ms: u64,
    /// See [`RunArgs::notify_retry_base_ms`].
    pub notify_retry_base_ms: u64,
    /// See [`RunArgs::notify_timeout_ms`].
    pub notify_timeout_ms: u64,
    /// See [`RunArgs::batches_in_flight`].
    pub batches_in_flight: usize,
    /// See [`RunArgs::key_by`].
    pub key_by: String,
    /// See [`RunArgs::checkout_timeout_ms`].
    pub checkout_timeout_ms: u64,
    /// See [`RunArgs::admin_tokens`].
    pub admin_tokens: Vec<String>,
    /// See [`RunArgs::core_jwt_keys`].
    pub core_jwt_keys: Vec<String>,
    /// See [`RunArgs::core_jwt_audience`].
    pub core_jwt_audience: Option<String>,
    /// See [`RunArgs::core_jwt_issuer`].
    pub core_jwt_issuer: Option<String>,
    /// See [`RunArgs::connector_publisher_keys`].
    pub connector_publisher_keys: Vec<String>,
    /// See [`RunArgs::connector_private_networks`].
    pub connector_private_networks: String,
    /// See [`RunArgs::connector_dir`].
    pub connector_dir: Option<PathBuf>,
    /// See [`RunArgs::secrets_key`].
    pub secrets_key: Option<String>,
    /// See [`RunArgs::shutdown_timeout_ms`].
    pub shutdown_timeout_ms: u64,
    /// See [`RunArgs::log_format`].
    pub log_format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
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
            stages: crate::pipeline::stage::default_names(),
            connector_rate: None,
            connector_concurrency: 32,
            limits: Vec::new(),
            group_prefix: "cassa".into(),
            default_connector: "sandbox".into(),
            core_token: None,
            checkout_url: crate::checkout::CheckoutConfig::default().base_url,
            checkout_subscription_key: None,
            create_attempts: 5,
            retry_base_ms: 200,
            poll_interval_ms: 1_000,
            poll_batch: 200,
            poll_lease_ms: 120_000,
            notify_retry_base_ms: 5_000,
            notify_timeout_ms: 10_000,
            batches_in_flight: 4,
            key_by: "payment_id".into(),
            checkout_timeout_ms: 10_000,
            admin_tokens: Vec::new(),
            core_jwt_keys: Vec::new(),
            core_jwt_audience: None,
            core_jwt_issuer: None,
            connector_publisher_keys: Vec::new(),
            connector_private_networks: "loopback".into(),
            connector_dir: None,
            secrets_key: None,
            shutdown_timeout_ms: 30_000,
            log_format: "text".into(),
        }
    }
}

/// Settings whose values are secrets: masked wherever settings are shown.
pub const SECRETS: [&str; 6] =
    ["sandbox_api_key", "core_token", "checkout_subscription_key", "admin_tokens", "core_jwt_keys", "secrets_key"];

/// The file of settings, when there is one: the one named, which must exist, else `cassa.toml`
/// in the working directory if present.
fn file_of(named: Option<&Path>) -> anyhow::Result<Option<(PathBuf, String)>> {
    let path = match named {
        Some(path) => path.to_owned(),
        None if Path::new("cassa.toml").exists() => PathBuf::from("cassa.toml"),
        None => return Ok(None),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some((path, text)))
}

/// Reads a settings file's text; unknown keys and wrong types are errors naming the key.
pub fn parse_file(text: &str) -> Result<RunArgs, String> {
    toml::from_str::<RunArgs>(text).map_err(|e| e.to_string().trim().replace('\n', " "))
}

/// Drops the `null`s of a JSON object, so that they leave the layer below visible.
fn present(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => serde_json::Map::new(),
    }
}

impl Settings {
    /// Layers `given` (flags and variables, as clap read them) over `file` over the defaults.
    pub fn layered(given: &RunArgs, file: &RunArgs) -> anyhow::Result<Self> {
        let mut merged = present(serde_json::to_value(Self::default())?);
        merged.extend(present(serde_json::to_value(file)?));
        merged.extend(present(serde_json::to_value(given)?));
        let settings: Self = serde_json::from_value(Value::Object(merged))?;
        settings.check()?;
        Ok(settings)
    }

    /// The settings of a command line: its flags and the environment (already in `given`), over
    /// the file it names or `./cassa.toml`, over the defaults.
    pub fn load(given: &RunArgs) -> anyhow::Result<Self> {
        let file = match file_of(given.config.as_deref())? {
            Some((path, text)) => parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            None => RunArgs::default(),
        };
        Self::layered(given, &file)
    }

    /// Checks what the types cannot: known stages, URLs that parse, counts above zero.
    pub fn check(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let known = crate::pipeline::stage::nameable();
        if let Some(unknown) = self.stages.iter().find(|s| !known.contains(&s.trim())) {
            problems.push(format!("stages: unknown stage `{unknown}` (known: {})", known.join(", ")));
        }
        for (key, url) in [("public_url", self.public_url.as_deref()), ("checkout_url", Some(&self.checkout_url))] {
            if let Some(url) = url
                && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                problems.push(format!("{key}: `{url}` is not an http(s) URL"));
            }
        }
        if let Some(url) = &self.database_url
            && !["sqlite:", "postgres:", "postgresql:"].iter().any(|p| url.starts_with(p))
        {
            problems.push(format!(
                "database_url: `{}` is neither sqlite://… nor postgres://…",
                crate::store::redact_url(url)
            ));
        }
        if self.kafka_partitions < 1 {
            problems.push("kafka_partitions: must be at least 1".into());
        }
        if let Err(why) = crate::api::auth::CoreKeys::parse(&self.core_jwt_keys) {
            problems.push(why);
        }
        let any = |list: &[String]| list.iter().any(|v| !v.trim().is_empty());
        if any(&self.core_jwt_keys) && !any(&self.admin_tokens) {
            // Otherwise the core's APIs are closed while the operators' endpoints (connector
            // uploads, dead letters) stay open to anyone who can reach the host.
            problems.push("core_jwt_keys: set admin_tokens too, or the operators' endpoints stay open".into());
        }
        match crate::runtime::LimitPolicy::parse(&self.limits) {
            Err(why) => problems.push(why),
            Ok(policy) => {
                let most = crate::runtime::RuntimeConfig::default().max_memory_bytes;
                if policy.largest_memory().is_some_and(|m| m > most) {
                    problems.push(format!("limits: memory_mb above {} MiB, the most any call may have", most >> 20));
                }
            }
        }
        if let Err(why) = crate::registry::PublisherKey::parse_all(&self.connector_publisher_keys) {
            problems.push(why);
        }
        if let Some(Err(why)) = self.secrets_key.as_deref().map(crate::store::sealed::Sealer::from_base64) {
            problems.push(why);
        }
        if !["none", "loopback", "all"].contains(&self.connector_private_networks.as_str()) {
            problems.push(format!(
                "connector_private_networks: `{}` is none of none, loopback, all",
                self.connector_private_networks
            ));
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            problems.push(format!("log_format: `{}` is neither text nor json", self.log_format));
        }
        if !["payment_id", "service_id"].contains(&self.key_by.as_str()) {
            problems.push(format!("key_by: `{}` is neither payment_id nor service_id", self.key_by));
        }
        if self.create_attempts < 1 || self.poll_batch < 1 || self.batches_in_flight < 1 {
            problems.push("create_attempts, poll_batch and batches_in_flight must be at least 1".into());
        }
        if self.connector_concurrency < 1 {
            problems.push("connector_concurrency: must be at least 1".into());
        }
        if problems.is_empty() { Ok(()) } else { anyhow::bail!("invalid settings: {}", problems.join("; ")) }
    }

    /// The database URL: the one set, else `<data_dir>/cassa.db` (the directory is created).
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
        Ok(format!("sqlite://{}?mode=rwc", self.data_dir.join("cassa.db").display()))
    }

    /// The settings as a `cassa.toml` would write them, secrets masked and the database
    /// password redacted.
    pub fn masked_toml(&self) -> anyhow::Result<String> {
        // Straight to TOML, not through `serde_json::Value`: with serde_json's
        // `arbitrary_precision` (which some dependencies switch on) its numbers serialize as
        // maps. Unset options are left out by the TOML serializer.
        let mut table = toml::Table::try_from(self)?;
        for key in SECRETS {
            match table.get_mut(key) {
                Some(toml::Value::Array(items)) => {
                    for item in items {
                        *item = toml::Value::String("***".into());
                    }
                }
                Some(v) => *v = toml::Value::String("***".into()),
                None => {}
            }
        }
        if let Some(toml::Value::String(url)) = table.get_mut("database_url") {
            *url = crate::store::redact_url(url);
        }
        Ok(toml::to_string(&table)?)
    }
}

/// The reference of every setting, as a Markdown table: key, flag, variable, default, meaning.
pub fn reference() -> String {
    use clap::CommandFactory as _;
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: RunArgs,
    }
    let defaults = present(serde_json::to_value(Settings::default()).unwrap_or_default());
    let mut out =
        String::from("| key (`cassa.toml`) | flag | environment | default | meaning |\n|---|---|---|---|---|\n");
    for arg in Wrapper::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let key = long.replace('-', "_");
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        let default = match defaults.get(&key) {
            Some(Value::String(s)) => format!("`{s}`"),
            Some(Value::Array(items)) => {
                format!("`{}`", items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            }
            Some(other) => format!("`{other}`"),
            None if key == "config" => "`cassa.toml` if present".into(),
            None => "unset".into(),
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default().replace('|', "\\|");
        let key_cell = if key == "config" { "—".to_owned() } else { format!("`{key}`") };
        out.push_str(&format!("| {key_cell} | `--{long}` | `{env}` | {default} | {help} |\n"));
    }
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn args(toml: &str) -> RunArgs {
        parse_file(toml).unwrap()
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
        let file = args("listen = \"0.0.0.0:9000\"\ngroup_prefix = \"from-file\"\nkafka_partitions = 3\n");
        // What clap hands over: flags and variables, the flag already preferred by clap.
        let given = RunArgs { group_prefix: Some("from-flag".into()), ..RunArgs::default() };
        let settings = Settings::layered(&given, &file).unwrap();
        assert_eq!(settings.group_prefix, "from-flag");
        assert_eq!(settings.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.kafka_partitions, 3);
        assert_eq!(settings.topic_payments, "payments", "the default where nobody says");
    }

    #[test]
    fn the_defaults_are_the_pipelines_own() {
        let (s, p) = (Settings::default(), crate::pipeline::PipelineConfig::default());
        assert_eq!(
            (s.create_attempts, s.retry_base_ms, s.poll_interval_ms),
            (p.create_attempts, p.retry_base_ms, p.poll_interval_ms)
        );
        assert_eq!(
            (s.poll_batch, s.poll_lease_ms, s.batches_in_flight),
            (p.poll_batch, p.poll_lease_ms, p.batches_in_flight)
        );
        assert_eq!((s.notify_retry_base_ms, s.notify_timeout_ms), (p.notify_retry_base_ms, p.notify_timeout_ms));
        assert_eq!(
            (s.connector_concurrency, s.group_prefix.as_str()),
            (p.connector_concurrency, p.group_prefix.as_str())
        );
        assert_eq!(s.checkout_timeout_ms, crate::checkout::CheckoutConfig::default().timeout_ms);
    }

    #[test]
    fn an_unknown_key_or_a_wrong_type_is_an_error_that_names_it() {
        let unknown = parse_file("listen = \"0.0.0.0:9000\"\nkafka_broker = \"k:9092\"\n").unwrap_err();
        assert!(unknown.contains("kafka_broker"), "{unknown}");
        let wrong = parse_file("kafka_partitions = \"six\"\n").unwrap_err();
        assert!(wrong.contains("kafka_partitions"), "{wrong}");
        assert!(parse_file("config = \"other.toml\"\n").is_err(), "the file cannot name another file");
    }

    #[test]
    fn values_the_types_allow_but_cassa_cannot_use_are_refused_by_name() {
        let bad = args(
            "stages = [\"dispatcher\", \"mailer\"]\npublic_url = \"ftp://x\"\ndatabase_url = \"mysql://db\"\n\
                  limits = [\"tenant=t1 memory=8\"]\n",
        );
        let error = Settings::layered(&RunArgs::default(), &bad).unwrap_err().to_string();
        for key in ["stages", "mailer", "public_url", "database_url", "limits", "tenant=t1 memory=8"] {
            assert!(error.contains(key), "{key} in {error}");
        }
    }

    #[test]
    fn shown_settings_mask_every_secret_and_the_database_password() {
        let file = args(
            "checkout_subscription_key = \"sub-key-123\"\ncore_token = \"core-456\"\nadmin_tokens = [\"adm-789\"]\n\
             database_url = \"postgres://cassa:hunter2@db/cassa\"\n",
        );
        let shown = Settings::layered(&RunArgs::default(), &file).unwrap().masked_toml().unwrap();
        for secret in ["sub-key-123", "core-456", "hunter2", "sandbox-demo-key", "adm-789"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(shown.contains("checkout_subscription_key = \"***\""), "{shown}");
        let settings = Settings::layered(&RunArgs::default(), &file).unwrap();
        let debugged = format!("{settings:?} {file:?}");
        assert!(!debugged.contains("sub-key-123") && !debugged.contains("hunter2"), "{debugged}");
        // What `config check` prints is itself a valid settings file.
        parse_file(&shown).unwrap();
    }

    #[test]
    fn every_setting_has_a_flag_a_variable_and_a_line_in_the_reference() {
        let table = reference();
        let keys = present(serde_json::to_value(Settings::default()).unwrap());
        let all = serde_json::to_value(RunArgs::default()).unwrap();
        for key in all.as_object().unwrap().keys() {
            assert!(
                table.contains(&format!(
                    "| `{key}` | `--{}` | `CASSA_{}` |",
                    key.replace('_', "-"),
                    key.to_uppercase()
                )),
                "{key}"
            );
        }
        for key in keys.keys() {
            assert!(all.get(key).is_some(), "{key} has no flag");
        }
    }

    #[test]
    fn the_example_file_is_a_valid_settings_file() {
        let example = parse_file(include_str!("../../cassa.example.toml")).unwrap();
        let settings = Settings::layered(&RunArgs::default(), &example).unwrap();
        assert_eq!(settings.kafka_partitions, 12);
        assert_eq!(settings.log_format, "json");
    }

    #[test]
    fn the_operators_guide_holds_the_current_reference() {
        let guide = include_str!("../../docs/OPERATIONS.md");
        let table = reference();
        if !guide.contains(&table) {
            if std::env::var_os("CASSA_BLESS").is_some() {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/OPERATIONS.md");
                let (before, rest) = guide.split_once("<!-- settings:begin -->\n").unwrap();
                let (_, after) = rest.split_once("<!-- settings:end -->").unwrap();
                std::fs::write(path, format!("{before}<!-- settings:begin -->\n{table}<!-- settings:end -->{after}"))
                    .unwrap();
            }
            panic!(
                "docs/OPERATIONS.md's settings table is out of date: CASSA_BLESS=1 cargo test -p cassa settings rewrites it"
            );
        }
    }
}
