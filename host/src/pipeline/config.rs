//! The pipeline's settings: what the stages need to know to do their work.

use serde::Deserialize;

use crate::bus::Topics;

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
    /// The stages named to run (see [`super::stage::STAGES`] for those that run by themselves).
    pub stages: Vec<String>,
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
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            internal_url: "http://127.0.0.1:8080".into(),
            stages: super::stage::default_names(),
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
        }
    }
}
