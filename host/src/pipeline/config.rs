//! The pipeline's settings (the `[pipeline]` section of `cassa.toml`): what the stages need to
//! know to do their work. Each field is one setting: its doc comment is its help text, its
//! `arg` attribute its flag, variable and one default ([`crate::settings`]).

use serde::Serialize;

use crate::bus::Topics;

/// What the `payments` topic is keyed by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum KeyBy {
    /// The payment id: per-payment order, a busy service spread over all partitions.
    #[default]
    PaymentId,
    /// The service id, as OpenCity's own components do.
    ServiceId,
}

/// What happens to an application for a tenant or service that is not configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Unconfigured {
    /// Its payment waits `CREATION_PENDING`, visible, and is created once the configuration is.
    #[default]
    Wait,
    /// It goes to the DLQ with the reason, for a replay once the configuration is there.
    DeadLetter,
}

/// Settings of the pipeline.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct PipelineConfig {
    /// Base URL citizens reach this host at (links in payment events); default `http://<listen>`.
    #[arg(long, env = "CASSA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where this host listens, for the poller's `/update/{id}` links (set by the host, not a
    /// setting).
    #[arg(skip = String::from("http://127.0.0.1:8080"))]
    #[serde(skip)]
    pub internal_url: String,
    /// The stages this process runs, from dispatcher, proxy, view, poller, updater (the view runs by default only with Kafka).
    #[arg(long, env = "CASSA_STAGES", value_delimiter = ',', default_values_t = super::stage::default_names())]
    pub stages: Vec<String>,
    /// Topic names.
    #[command(flatten)]
    pub topics: Topics,
    /// What `payments` messages are keyed by: `payment_id` (per-payment order, spread over partitions) or `service_id` (as OpenCity's own components).
    #[arg(long, env = "CASSA_KEY_BY", value_enum, default_value_t = KeyBy::PaymentId)]
    pub key_by: KeyBy,
    /// Attempts at creating a debt position that fail before reaching the intermediary, before `CREATION_FAILED`; the delay doubles from `retry_base_ms`. A payment whose position may exist (an attempt reached the intermediary without a readable answer) is never failed for running out of attempts: it is tried every `retry_max_ms` until the intermediary answers.
    #[arg(long, env = "CASSA_CREATE_ATTEMPTS", default_value_t = 5)]
    pub create_attempts: u32,
    /// First delay between creation attempts, in milliseconds.
    #[arg(long, env = "CASSA_RETRY_BASE_MS", default_value_t = 200)]
    pub retry_base_ms: u64,
    /// Longest delay between creation attempts, in milliseconds.
    #[arg(long, env = "CASSA_RETRY_MAX_MS", default_value_t = 60_000)]
    pub retry_max_ms: u64,
    /// How often a payment whose tenant or service is not configured (or not active) is looked at again, in milliseconds; a configuration saved makes them due at once.
    #[arg(long, env = "CASSA_UNCONFIGURED_RECHECK_MS", default_value_t = 30_000)]
    pub unconfigured_recheck_ms: u64,
    /// What the dispatcher does with an application whose tenant or service is not configured: `wait` (the payment is stored `CREATION_PENDING` and created once the configuration is active) or `dead_letter` (the application goes to the DLQ with the reason).
    #[arg(long, env = "CASSA_UNCONFIGURED", value_enum, default_value_t = Unconfigured::Wait)]
    pub unconfigured: Unconfigured,
    /// How long after its payment was created a creation whose position may exist stops opening one, in milliseconds: from then on the connector is only asked to find the position (`lookup`), and a payment the intermediary holds none for becomes `CREATION_FAILED`. Connectors without `lookup` keep trying `create`, which is idempotent by IUD.
    #[arg(long, env = "CASSA_CREATE_GIVE_UP_MS", default_value_t = 86_400_000)]
    pub create_give_up_ms: u64,
    /// How often recently failed creations are looked for upstream (`lookup`): a position found unpaid is cancelled, one found paid makes its payment `COMPLETE` and notified. In milliseconds.
    #[arg(long, env = "CASSA_CREATE_SWEEP_INTERVAL_MS", default_value_t = 300_000)]
    pub create_sweep_interval_ms: u64,
    /// How far back the sweep of failed creations looks, in milliseconds.
    #[arg(long, env = "CASSA_CREATE_SWEEP_WINDOW_MS", default_value_t = 86_400_000)]
    pub create_sweep_window_ms: u64,
    /// How long a claimed creation stays reserved for the replica that claimed it, in milliseconds: after a crash its payments are taken up again once this has passed.
    #[arg(long, env = "CASSA_CREATE_LEASE_MS", default_value_t = 60_000)]
    pub create_lease_ms: u64,
    /// Creation calls in flight at once over all tenants: each tenant with work gets an equal share (at most half, so a newcomer beside a hanging tenant finds room; calls that hang may push the total to twice this), a tenant's own `concurrency` limit lowering it.
    #[arg(long, env = "CASSA_CREATE_CONCURRENCY", default_value_t = 64)]
    pub create_concurrency: usize,
    /// How often the poller looks for payments due for a status check, in milliseconds.
    #[arg(long, env = "CASSA_POLL_INTERVAL_MS", default_value_t = 1_000)]
    pub poll_interval_ms: u64,
    /// Most payments one poll claims.
    #[arg(long, env = "CASSA_POLL_BATCH", default_value_t = 200)]
    pub poll_batch: i64,
    /// How long a claimed payment stays reserved for the replica that claimed it, in milliseconds.
    #[arg(long, env = "CASSA_POLL_LEASE_MS", default_value_t = 120_000)]
    pub poll_lease_ms: u64,
    /// Most calls at once to one intermediary.
    #[arg(long, env = "CASSA_CONNECTOR_CONCURRENCY", default_value_t = 32)]
    pub connector_concurrency: usize,
    /// Most calls per second to one intermediary (unlimited when unset).
    #[arg(long, env = "CASSA_CONNECTOR_RATE")]
    pub connector_rate: Option<u32>,
    /// First delay before notifying the core again after a failure, in milliseconds; doubles per attempt, at most an hour.
    #[arg(long, env = "CASSA_NOTIFY_RETRY_BASE_MS", default_value_t = 5_000)]
    pub notify_retry_base_ms: u64,
    /// Time-out of one request to the core's notify endpoint, in milliseconds.
    #[arg(long, env = "CASSA_NOTIFY_TIMEOUT_MS", default_value_t = 10_000)]
    pub notify_timeout_ms: u64,
    /// Bearer token sent to the core's notify endpoints (a secret).
    #[arg(long, env = "CASSA_CORE_TOKEN", hide_env_values = true)]
    pub core_token: Option<String>,
    /// Prefix of the consumer groups; replicas of one deployment share it.
    #[arg(long, env = "CASSA_GROUP_PREFIX", default_value = "cassa")]
    pub group_prefix: String,
    /// With the embedded bus (the store's log): how long a log entry is kept after every consumer of its topic has passed it, in milliseconds; then it is removed (payments and their history stay). A topic nobody consumes (the DLQ) is kept whole.
    #[arg(long, env = "CASSA_LOG_RETENTION_MS", default_value_t = 604_800_000)]
    pub log_retention_ms: u64,
    /// How often the embedded log is trimmed, in milliseconds.
    #[arg(long, env = "CASSA_LOG_TRIM_INTERVAL_MS", default_value_t = 60_000)]
    pub log_trim_interval_ms: u64,
    /// Batches each bus-consuming stage handles at once (SQLite: at most 2).
    #[arg(long, env = "CASSA_BATCHES_IN_FLIGHT", default_value_t = 4)]
    pub batches_in_flight: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        crate::defaults::of()
    }
}

impl PipelineConfig {
    /// The creations' retry schedule and budget.
    pub fn retry_policy(&self) -> crate::domain::creation::RetryPolicy {
        crate::domain::creation::RetryPolicy {
            attempts: self.create_attempts,
            base_ms: self.retry_base_ms,
            max_ms: self.retry_max_ms.max(self.retry_base_ms),
            deferred_ms: self.unconfigured_recheck_ms,
        }
    }

    /// The base of citizen-facing links (`/online-payment/{id}`, `/notice/{id}`, …), without a
    /// trailing `/`: `public_url`, else where this host listens.
    pub fn public_base(&self) -> &str {
        self.public_url.as_deref().unwrap_or(&self.internal_url).trim_end_matches('/')
    }
}
