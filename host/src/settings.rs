//! The settings of `cassa run`: one tree of typed sections that the file (`cassa.toml`), the
//! `CASSA_*` environment variables and the command-line flags layer into, in that order of
//! precedence (a flag beats a variable, which beats the file, which beats the default).
//!
//! Every setting is one field of one section, written once: its doc comment is its help text,
//! its `arg` attribute its flag (`--the-key`), its variable (`CASSA_THE_KEY`) and its one
//! default; each part of the host takes its own section as it is:
//!
//! | section | struct | who reads it |
//! |---|---|---|
//! | (top) | [`Settings`] | the host itself ([`crate::serve`]): listen address, database, data directory, log format |
//! | `[pipeline]` | [`PipelineConfig`] | the stages; `[pipeline.topics]`: [`crate::bus::Topics`] |
//! | `[bus]` | [`BusConfig`] | the embedded bus or Kafka |
//! | `[api]` | [`ApiConfig`] | the HTTP API: tokens, the core's JWT keys, pagoPA Checkout |
//! | `[connectors]` | [`ConnectorSettings`] | the registry and the runtime: limits, publishers, egress, directory mode |
//!
//! Keys are unique across sections, so a file may give a key flat at its top level (as files of
//! earlier versions do) or in its section. A key the file does not know, a key in the wrong
//! section, or a value its setting cannot take is an error naming it. [`reference`] writes the
//! table of every setting from the same attributes; `docs/OPERATIONS.md` holds it and a test
//! keeps the two equal. `cassa config check` validates and prints the effective settings with
//! secrets masked.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{Args, FromArgMatches};
use serde::Serialize;
use serde_json::Value;

use crate::api::ApiConfig;
use crate::bus::BusConfig;
use crate::pipeline::PipelineConfig;
use crate::registry::ConnectorSettings;

/// The effective settings of `cassa run`.
#[derive(Clone, clap::Args, Serialize)]
pub struct Settings {
    /// Address of the HTTP API.
    #[arg(long, env = "CASSA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded default keeps its SQLite database (`cassa.db`).
    #[arg(long, env = "CASSA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The database: `sqlite://…` or `postgres://user@host/db`; default `<data_dir>/cassa.db`.
    #[arg(long, env = "CASSA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// API key of the embedded sandbox intermediary (a secret).
    #[arg(long, env = "CASSA_SANDBOX_API_KEY", hide_env_values = true, default_value = "sandbox-demo-key")]
    pub sandbox_api_key: String,
    /// Also configure a demo tenant and service on the sandbox intermediary.
    #[arg(long, env = "CASSA_DEMO", num_args = 0..=1, default_value_t = false, default_missing_value = "true",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,
    /// Key sealing tenant and service configurations at rest (secrets included): base64 of 32 random bytes (`openssl rand -base64 32`), best given as `CASSA_SECRETS_KEY`. Rows written before it was set are sealed at their next write; without it, sealed rows cannot be read.
    #[arg(long, env = "CASSA_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<String>,
    /// On SIGTERM or Ctrl-C: how long in-flight work may take to finish, be committed and be flushed before the process exits, in milliseconds.
    #[arg(long, env = "CASSA_SHUTDOWN_TIMEOUT_MS", default_value_t = 30_000)]
    pub shutdown_timeout_ms: u64,
    /// `text` (human-readable) or `json` (one JSON object per line); `RUST_LOG` sets the level (default `info`).
    #[arg(long, env = "CASSA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// The stages.
    #[command(flatten)]
    pub pipeline: PipelineConfig,
    /// The bus.
    #[command(flatten)]
    pub bus: BusConfig,
    /// The HTTP API.
    #[command(flatten)]
    pub api: ApiConfig,
    /// The connectors.
    #[command(flatten)]
    pub connectors: ConnectorSettings,
}

impl Default for Settings {
    fn default() -> Self {
        crate::defaults::of()
    }
}

impl std::fmt::Debug for Settings {
    /// The settings as `cassa config check` shows them: secrets masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked_toml().unwrap_or_else(|e| format!("(settings: {e})")))
    }
}

/// Settings whose values are secrets: masked wherever settings are shown.
pub const SECRETS: [&str; 6] =
    ["sandbox_api_key", "core_token", "checkout_subscription_key", "admin_tokens", "core_jwt_keys", "secrets_key"];

/// What a command line (`cassa run`, `migrate`, `config check`) says of the settings: the file
/// it names, and the settings it gives itself, kept as `--key=value` words so that they can be
/// layered over the file. The environment is read again when the settings are layered.
#[derive(Clone, Default)]
pub struct RunArgs {
    /// The settings file; `cassa.toml` in the working directory is read when it exists.
    pub config: Option<PathBuf>,
    /// The settings given as flags, as `--key=value` words.
    pub flags: Vec<OsString>,
}

impl std::fmt::Debug for RunArgs {
    /// Which settings were given, never their values (some are secrets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given: Vec<String> = self
            .flags
            .iter()
            .filter_map(|w| w.to_str()?.strip_prefix("--")?.split('=').next().map(str::to_owned))
            .collect();
        f.debug_struct("RunArgs").field("config", &self.config).field("given", &given).finish()
    }
}

/// The `--config` argument.
fn config_arg() -> clap::Arg {
    clap::Arg::new("config")
        .long("config")
        .env("CASSA_CONFIG")
        .value_parser(clap::value_parser!(PathBuf))
        .help("The settings file; `cassa.toml` in the working directory is read when it exists")
}

impl clap::Args for RunArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        Settings::augment_args(command).arg(config_arg())
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl clap::FromArgMatches for RunArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let config = matches.get_one::<PathBuf>("config").cloned();
        let mut flags = Vec::new();
        for (key, _) in layout() {
            if matches.value_source(&key) != Some(ValueSource::CommandLine) {
                continue;
            }
            for raw in matches.get_raw(&key).into_iter().flatten() {
                let mut word = OsString::from(format!("--{}=", key.replace('_', "-")));
                word.push(raw);
                flags.push(word);
            }
        }
        Ok(Self { config, flags })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl RunArgs {
    /// What `cassa` with no subcommand is given: no flags; the `CASSA_*` variables.
    pub fn from_env() -> anyhow::Result<Self> {
        let command = Self::augment_args(clap::Command::new("cassa").no_binary_name(true));
        Ok(Self::from_arg_matches(&command.try_get_matches_from(Vec::<String>::new())?)?)
    }
}

/// Every setting's key and the section it is in (`""` for the top, `pipeline`,
/// `pipeline.topics`, …), in the order of the tree.
pub fn layout() -> Vec<(String, String)> {
    fn walk(value: &Value, section: &str, out: &mut Vec<(String, String)>) {
        if let Value::Object(map) = value {
            for (key, value) in map {
                if value.is_object() {
                    let inner = if section.is_empty() { key.clone() } else { format!("{section}.{key}") };
                    walk(value, &inner, out);
                } else {
                    out.push((key.clone(), section.to_owned()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&serde_json::to_value(Settings::default()).unwrap_or_default(), "", &mut out);
    out
}

/// A settings file's values, by key: each given at the top (flat) or in its section, checked
/// to be a known key and a value its setting takes; the error names the key.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string().trim().replace('\n', " "))?;
    let sections: BTreeMap<String, String> = layout().into_iter().collect();
    let command = Settings::augment_args(clap::Command::new("cassa").no_binary_name(true));
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    let mut pending: Vec<(String, toml::Value)> = table.into_iter().collect();
    while let Some((path, value)) = pending.pop() {
        let key = path.rsplit('.').next().unwrap_or(&path).to_owned();
        let within = path.rsplit_once('.').map_or("", |(section, _)| section);
        if let toml::Value::Table(inner) = value {
            let known = sections.values().any(|s| s == &path || s.starts_with(&format!("{path}.")));
            if !known {
                problems.push(format!("`{path}` is not a section of the settings"));
                continue;
            }
            pending.extend(inner.into_iter().map(|(k, v)| (format!("{path}.{k}"), v)));
            continue;
        }
        let Some(section) = sections.get(&key) else {
            problems.push(format!("unknown key `{path}`"));
            continue;
        };
        if !within.is_empty() && within != section {
            let belongs = if section.is_empty() { "at the top".to_owned() } else { format!("in [{section}]") };
            problems.push(format!("`{key}` belongs {belongs}, not in [{within}]"));
            continue;
        }
        let words = match value {
            toml::Value::Array(items) => items.into_iter().map(scalar).collect::<Result<Vec<_>, _>>(),
            other => scalar(other).map(|word| vec![word]),
        };
        let words = match words {
            Ok(words) => words,
            Err(why) => {
                problems.push(format!("`{key}`: {why}"));
                continue;
            }
        };
        // Each value is read as its flag would read it: the same parser, the same choices.
        if let Some(arg) = command.get_arguments().find(|a| a.get_id() == key.as_str())
            && let Some(long) = arg.get_long()
        {
            let alone = clap::Command::new("cassa").no_binary_name(true).arg(arg.clone().env(None));
            let given: Vec<String> = words.iter().map(|word| format!("--{long}={word}")).collect();
            if let Err(error) = alone.try_get_matches_from(given) {
                problems.push(format!("`{key}`: {}", one_line(&error)));
            }
        }
        if values.insert(key.clone(), words).is_some() {
            problems.push(format!("`{key}` is given twice"));
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        problems.sort();
        Err(problems.join("; "))
    }
}

/// A TOML value as the word a flag would give it.
fn scalar(value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => Err("must be a value or a list of values".into()),
    }
}

/// A clap error in one line (what is wrong, and the values it takes), without clap's `error: `
/// and its pointer to `--help`.
fn one_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    lines.join(" ")
}

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

impl Settings {
    /// Layers `flags` (`--key=value` words) and the `CASSA_*` variables over `file` (its values by
    /// key, from [`parse_file`]) over the defaults, and checks the result.
    pub fn layered(flags: &[OsString], file: &BTreeMap<String, Vec<String>>) -> anyhow::Result<Self> {
        let mut command = Self::augment_args(clap::Command::new("cassa").no_binary_name(true));
        for (key, words) in file {
            command = command.mut_arg(key, |arg| arg.default_values(words.clone()));
        }
        let matches = command.try_get_matches_from(flags).map_err(|e| anyhow::anyhow!("{}", one_line(&e)))?;
        let settings = Self::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!("{}", one_line(&e)))?;
        settings.check()?;
        Ok(settings)
    }

    /// The settings of a command line: its flags and the environment, over the file it names
    /// or `./cassa.toml`, over the defaults.
    pub fn load(given: &RunArgs) -> anyhow::Result<Self> {
        let file = match file_of(given.config.as_deref())? {
            Some((path, text)) => parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            None => BTreeMap::new(),
        };
        Self::layered(&given.flags, &file)
    }

    /// Checks what the types cannot: known stages, URLs that parse, counts above zero, keys
    /// and rules that read.
    pub fn check(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let known = crate::pipeline::stage::nameable();
        if let Some(unknown) = self.pipeline.stages.iter().find(|s| !known.contains(&s.trim())) {
            problems.push(format!("stages: unknown stage `{unknown}` (known: {})", known.join(", ")));
        }
        let urls =
            [("public_url", self.pipeline.public_url.as_deref()), ("checkout_url", Some(&self.api.checkout_url))];
        for (key, url) in urls {
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
        if self.bus.kafka_partitions < 1 {
            problems.push("kafka_partitions: must be at least 1".into());
        }
        if let Err(why) = crate::api::auth::CoreKeys::parse(&self.api.core_jwt_keys) {
            problems.push(why);
        }
        let any = |list: &[String]| list.iter().any(|v| !v.trim().is_empty());
        if any(&self.api.core_jwt_keys) && !any(&self.api.admin_tokens) {
            // Otherwise the core's APIs are closed while the operators' endpoints (connector
            // uploads, dead letters) stay open to anyone who can reach the host.
            problems.push("core_jwt_keys: set admin_tokens too, or the operators' endpoints stay open".into());
        }
        match crate::runtime::LimitPolicy::parse(&self.connectors.limits) {
            Err(why) => problems.push(why),
            Ok(policy) => {
                let most = crate::runtime::RuntimeConfig::default().max_memory_bytes;
                if policy.largest_memory().is_some_and(|m| m > most) {
                    problems.push(format!("limits: memory_mb above {} MiB, the most any call may have", most >> 20));
                }
            }
        }
        if let Err(why) = crate::registry::PublisherKey::parse_all(&self.connectors.connector_publisher_keys) {
            problems.push(why);
        }
        if let Some(Err(why)) = self.secrets_key.as_deref().map(crate::store::sealed::Sealer::from_base64) {
            problems.push(why);
        }
        let p = &self.pipeline;
        if p.create_attempts < 1 || p.poll_batch < 1 || p.batches_in_flight < 1 {
            problems.push("create_attempts, poll_batch and batches_in_flight must be at least 1".into());
        }
        if p.connector_concurrency < 1 {
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

    /// The settings as a `cassa.toml` would write them, in their sections, secrets masked and
    /// the database password redacted.
    pub fn masked_toml(&self) -> anyhow::Result<String> {
        // Straight to TOML, not through `serde_json::Value`: with serde_json's
        // `arbitrary_precision` (which some dependencies switch on) its numbers serialize as
        // maps. Unset options are left out by the TOML serializer.
        fn mask(table: &mut toml::Table) {
            for (key, value) in table.iter_mut() {
                match value {
                    toml::Value::Table(inner) => mask(inner),
                    toml::Value::Array(items) if SECRETS.contains(&key.as_str()) => {
                        for item in items {
                            *item = toml::Value::String("***".into());
                        }
                    }
                    v if SECRETS.contains(&key.as_str()) => *v = toml::Value::String("***".into()),
                    _ => {}
                }
            }
        }
        let mut table = toml::Table::try_from(self)?;
        mask(&mut table);
        if let Some(toml::Value::String(url)) = table.get_mut("database_url") {
            *url = crate::store::redact_url(url);
        }
        Ok(toml::to_string(&table)?)
    }
}

/// The reference of every setting, as a Markdown table: key, section, flag, variable, default,
/// meaning.
pub fn reference() -> String {
    let command = RunArgs::augment_args(clap::Command::new("cassa"));
    let sections: BTreeMap<String, String> = layout().into_iter().collect();
    let mut out = String::from(
        "| key (`cassa.toml`) | section | flag | environment | default | meaning |\n|---|---|---|---|---|---|\n",
    );
    let mut rows: Vec<(usize, String)> = Vec::new();
    let order: Vec<String> = layout().into_iter().map(|(key, _)| key).collect();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let key = arg.get_id().as_str().to_owned();
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        let default = match (key.as_str(), defaults.is_empty()) {
            ("config", _) => "`cassa.toml` if present".to_owned(),
            (_, true) => "unset".to_owned(),
            (_, false) => format!("`{}`", defaults.join(",")),
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default().replace('|', "\\|");
        let (key_cell, section_cell) = match sections.get(&key) {
            _ if key == "config" => ("—".to_owned(), "—".to_owned()),
            Some(section) if section.is_empty() => (format!("`{key}`"), "(top)".to_owned()),
            Some(section) => (format!("`{key}`"), format!("`[{section}]`")),
            None => (format!("`{key}`"), "?".to_owned()),
        };
        let position = order.iter().position(|k| *k == key).map_or(0, |p| p + 1);
        rows.push((position, format!("| {key_cell} | {section_cell} | `--{long}` | `{env}` | {default} | {help} |\n")));
    }
    rows.sort_by_key(|(position, _)| *position);
    for (_, row) in rows {
        out.push_str(&row);
    }
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn file(toml: &str) -> BTreeMap<String, Vec<String>> {
        parse_file(toml).unwrap()
    }

    fn flags(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
        let file = file("listen = \"0.0.0.0:9000\"\ngroup_prefix = \"from-file\"\n[bus]\nkafka_partitions = 3\n");
        let settings = Settings::layered(&flags(&["--group-prefix=from-flag"]), &file).unwrap();
        assert_eq!(settings.pipeline.group_prefix, "from-flag");
        assert_eq!(settings.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.bus.kafka_partitions, 3);
        assert_eq!(settings.pipeline.topics.payments, "payments", "the default where nobody says");
    }

    #[test]
    fn every_section_has_its_defaults_and_they_are_the_settings_defaults() {
        let settings = Settings::default();
        assert_eq!(settings.pipeline.create_attempts, PipelineConfig::default().create_attempts);
        assert_eq!(settings.pipeline.stages, vec!["dispatcher", "proxy", "poller", "updater"]);
        assert_eq!(settings.bus.kafka_partitions, 6);
        assert_eq!(settings.api.checkout_timeout_ms, crate::checkout::CheckoutConfig::default().timeout_ms);
        assert_eq!(settings.connectors.connector_private_networks, "loopback");
        assert_eq!(settings.pipeline.topics.dlq, "payments.dlq");
        assert_eq!(Settings::layered(&[], &BTreeMap::new()).unwrap().pipeline.poll_batch, 200);
    }

    #[test]
    fn keys_are_unique_across_sections_and_a_flat_key_finds_its_section() {
        let layout = layout();
        for (n, (key, _)) in layout.iter().enumerate() {
            assert!(layout[n + 1..].iter().all(|(k, _)| k != key), "{key} twice");
        }
        let command = Settings::augment_args(clap::Command::new("cassa"));
        let ids: Vec<&str> = command.get_arguments().map(|a| a.get_id().as_str()).collect();
        for (key, _) in &layout {
            assert!(ids.contains(&key.as_str()), "{key} has no flag");
        }
        assert_eq!(ids.len(), layout.len(), "{ids:?}");
        // Flat, as earlier versions wrote it, or in its section; never in another one.
        let flat = Settings::layered(&[], &file("kafka_brokers = \"k:9092\"\npoll_batch = 7\n")).unwrap();
        let sectioned =
            Settings::layered(&[], &file("[bus]\nkafka_brokers = \"k:9092\"\n[pipeline]\npoll_batch = 7\n"));
        let sectioned = sectioned.unwrap();
        assert_eq!((flat.bus.kafka_brokers, flat.pipeline.poll_batch), (sectioned.bus.kafka_brokers, 7));
        let wrong = parse_file("[api]\npoll_batch = 7\n").unwrap_err();
        assert!(wrong.contains("`poll_batch` belongs in [pipeline]"), "{wrong}");
    }

    #[test]
    fn an_unknown_key_or_a_wrong_type_is_an_error_that_names_it() {
        let unknown = parse_file("listen = \"0.0.0.0:9000\"\nkafka_broker = \"k:9092\"\n").unwrap_err();
        assert!(unknown.contains("kafka_broker"), "{unknown}");
        let wrong = parse_file("kafka_partitions = \"six\"\n").unwrap_err();
        assert!(wrong.contains("kafka_partitions"), "{wrong}");
        assert!(parse_file("config = \"other.toml\"\n").is_err(), "the file cannot name another file");
        let choice = parse_file("log_format = \"xml\"\n").unwrap_err();
        assert!(choice.contains("log_format") && choice.contains("json"), "{choice}");
    }

    #[test]
    fn values_the_types_allow_but_cassa_cannot_use_are_refused_by_name() {
        let bad = file(
            "stages = [\"dispatcher\", \"mailer\"]\npublic_url = \"ftp://x\"\ndatabase_url = \"mysql://db\"\n\
                  limits = [\"tenant=t1 memory=8\"]\n",
        );
        let error = Settings::layered(&[], &bad).unwrap_err().to_string();
        for key in ["stages", "mailer", "public_url", "database_url", "limits", "tenant=t1 memory=8"] {
            assert!(error.contains(key), "{key} in {error}");
        }
    }

    #[test]
    fn shown_settings_mask_every_secret_and_the_database_password() {
        let file = file(
            "checkout_subscription_key = \"sub-key-123\"\ncore_token = \"core-456\"\nadmin_tokens = [\"adm-789\"]\n\
             database_url = \"postgres://cassa:hunter2@db/cassa\"\n",
        );
        let settings = Settings::layered(&[], &file).unwrap();
        let shown = settings.masked_toml().unwrap();
        for secret in ["sub-key-123", "core-456", "hunter2", "sandbox-demo-key", "adm-789"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(shown.contains("checkout_subscription_key = \"***\""), "{shown}");
        let args = RunArgs { config: None, flags: flags(&["--core-token=core-456"]) };
        let debugged = format!("{settings:?} {args:?}");
        assert!(!debugged.contains("sub-key-123") && !debugged.contains("hunter2"), "{debugged}");
        assert!(!debugged.contains("core-456") && debugged.contains("core_token"), "{debugged}");
        // What `config check` prints is itself a valid settings file.
        parse_file(&shown).unwrap();
    }

    #[test]
    fn a_command_line_keeps_the_flags_it_was_given_to_layer_them_over_the_file() {
        let command = RunArgs::augment_args(clap::Command::new("cassa").no_binary_name(true));
        let matches = command.try_get_matches_from(["--poll-batch", "9", "--stages=proxy,poller", "--demo"]).unwrap();
        let args = RunArgs::from_arg_matches(&matches).unwrap();
        let settings = Settings::layered(&args.flags, &file("poll_batch = 7\ndemo = false\n")).unwrap();
        assert_eq!(settings.pipeline.poll_batch, 9);
        assert_eq!(settings.pipeline.stages, vec!["proxy", "poller"]);
        assert!(settings.demo);
    }

    #[test]
    fn every_setting_has_a_flag_a_variable_and_a_line_in_the_reference() {
        let table = reference();
        for (key, _) in layout() {
            assert!(
                table.contains(&format!("| `{key}` |"))
                    && table.contains(&format!("| `--{}` | `CASSA_{}` |", key.replace('_', "-"), key.to_uppercase())),
                "{key}"
            );
        }
    }

    #[test]
    fn the_example_file_is_a_valid_settings_file() {
        let example = file(include_str!("../../cassa.example.toml"));
        let settings = Settings::layered(&[], &example).unwrap();
        assert_eq!(settings.bus.kafka_partitions, 12);
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
