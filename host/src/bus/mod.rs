//! The bus: topics `applications`, `payments` and `payments.dlq` behind one trait, with two
//! backends — [`embedded`] (a durable log in the SQL store, the default) and Kafka (production,
//! scales out with consumer groups).
//!
//! Consumption is at-least-once: a consumer commits a message only after its effect is durable,
//! and every effect is idempotent.

pub mod embedded;
pub mod kafka;

use std::time::Duration;

use serde::Serialize;

/// Names of the topics.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Topics {
    /// Name of the topic of application events.
    #[arg(
        id = "topic_applications",
        long = "topic-applications",
        env = "CASSA_TOPIC_APPLICATIONS",
        default_value = "applications"
    )]
    #[serde(rename = "topic_applications")]
    pub applications: String,
    /// Name of the topic of payment events.
    #[arg(id = "topic_payments", long = "topic-payments", env = "CASSA_TOPIC_PAYMENTS", default_value = "payments")]
    #[serde(rename = "topic_payments")]
    pub payments: String,
    /// Name of the dead-letter topic.
    #[arg(id = "topic_dlq", long = "topic-dlq", env = "CASSA_TOPIC_DLQ", default_value = "payments.dlq")]
    #[serde(rename = "topic_dlq")]
    pub dlq: String,
}

impl Default for Topics {
    fn default() -> Self {
        crate::defaults::of()
    }
}

/// Which bus, and how to reach it (the `[bus]` settings).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct BusConfig {
    /// Kafka brokers (`host:port,…`): when set, the bus is Kafka instead of the embedded log.
    #[arg(long, env = "CASSA_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Partitions of the topics cassa creates on Kafka.
    #[arg(long, env = "CASSA_KAFKA_PARTITIONS", default_value_t = 6)]
    pub kafka_partitions: i32,
}

impl Default for BusConfig {
    fn default() -> Self {
        crate::defaults::of()
    }
}

impl BusConfig {
    /// Kafka's settings, when the bus is Kafka.
    pub fn kafka(&self) -> Option<kafka::KafkaConfig> {
        let brokers = self.kafka_brokers.as_deref().filter(|b| !b.is_empty())?;
        Some(kafka::KafkaConfig {
            brokers: brokers.to_owned(),
            partitions: self.kafka_partitions,
            ..Default::default()
        })
    }
}

/// One message read from a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The topic.
    pub topic: String,
    /// Partition (0 for the embedded bus).
    pub partition: i32,
    /// Position within the partition.
    pub offset: i64,
    /// Key.
    pub key: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Why the bus failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The store behind the embedded bus failed.
    #[error("embedded bus: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The broker failed.
    #[error("broker: {0}")]
    Broker(String),
}

/// Publishing and subscribing.
#[async_trait::async_trait]
pub trait Bus: Send + Sync {
    /// Appends a message outside any state change (HTTP ingest, DLQ).
    async fn publish(&self, topic: &str, key: &str, payload: &[u8]) -> Result<(), BusError>;

    /// Appends several messages to one topic, in order; backends write them together where
    /// they can (one transaction for the embedded bus, one produce batch for Kafka).
    async fn publish_batch(&self, topic: &str, messages: &[(String, Vec<u8>)]) -> Result<(), BusError> {
        for (key, payload) in messages {
            self.publish(topic, key, payload).await?;
        }
        Ok(())
    }

    /// A consumer of `topic` in consumer group `group`.
    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError>;

    /// Whether payment events written to the store's outbox are already on the bus (embedded:
    /// the outbox *is* the log) or must be relayed to it.
    fn outbox_is_log(&self) -> bool;

    /// Called after a transaction wrote to the outbox: wakes local consumers (embedded) or the
    /// relay (Kafka) early instead of at their next poll.
    fn outbox_written(&self) {}

    /// Messages of `topic` that consumer group `group` has not committed yet (`/metrics`).
    async fn lag(&self, group: &str, topic: &str) -> Result<i64, BusError>;

    /// Messages `topic` holds (`/metrics`: the dead-letter topic's size).
    async fn size(&self, topic: &str) -> Result<i64, BusError>;

    /// Delivers what the producer still holds (at shutdown).
    async fn flush(&self) -> Result<(), BusError> {
        Ok(())
    }

    /// Whether the bus answers now (`/readyz`); the embedded bus is the store, checked apart.
    async fn ready(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// A subscription.
#[async_trait::async_trait]
pub trait Consumer: Send {
    /// Up to `max` messages, waiting at most `wait` for the first.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError>;

    /// Marks `messages` (a polled batch) and everything before them in their partitions as
    /// durably handled.
    async fn commit(&mut self, messages: &[Message]) -> Result<(), BusError>;
}
