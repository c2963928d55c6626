//! The Kafka bus (rdkafka): an idempotent producer (`acks=all`), consumer groups with manual
//! commits made only after a batch's effects are durable, and topics created at start when the
//! broker lacks them (brokers may not auto-create topics). Payment events reach Kafka through
//! the outbox relay (`pipeline::relay`), so a state change and its event are never split.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;

use super::{Bus, BusError, Consumer, Message};

/// Settings of the Kafka bus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port,host:port` of the brokers.
    pub brokers: String,
    /// Partitions of topics cassa creates.
    pub partitions: i32,
    /// Replication factor of topics cassa creates.
    pub replication: i32,
    /// Further librdkafka settings (`security.protocol`, `sasl.*`, …), for producer and consumers.
    pub settings: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self { brokers: "127.0.0.1:9092".into(), partitions: 6, replication: 1, settings: BTreeMap::new() }
    }
}

fn broker(error: impl std::fmt::Display) -> BusError {
    BusError::Broker(error.to_string())
}

/// The Kafka bus.
#[derive(Clone)]
pub struct KafkaBus {
    config: KafkaConfig,
    producer: FutureProducer,
}

impl KafkaBus {
    fn client_config(&self) -> ClientConfig {
        client_config(&self.config)
    }

    /// Connects and makes sure `topics` exist.
    pub async fn connect(config: KafkaConfig, topics: &[&str]) -> Result<Self, BusError> {
        let producer: FutureProducer = client_config(&config)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Batches are formed by the caller (the relay publishes a run of outbox rows at
            // once): waiting for more would only add latency to every round.
            .set("linger.ms", "1")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(broker)?;
        let bus = Self { config, producer };
        bus.ensure_topics(topics).await?;
        Ok(bus)
    }

    /// Whether a broker answers a metadata request within two seconds.
    pub async fn reachable(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            producer.client().fetch_metadata(None, Duration::from_secs(2))
        })
        .await
        .map_err(broker)?
        .map_err(broker)?;
        Ok(())
    }

    /// Creates the topics that do not exist yet.
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        let producer = self.producer.clone();
        let metadata = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            producer.client().fetch_metadata(None, Duration::from_secs(30))
        })
        .await
        .map_err(broker)?
        .map_err(broker)?;
        let existing: Vec<String> = metadata.topics().iter().map(|t| t.name().to_owned()).collect();
        let missing: Vec<&str> = topics.iter().copied().filter(|t| !existing.iter().any(|e| e == t)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self.client_config().create().map_err(broker)?;
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| NewTopic::new(t, self.config.partitions, TopicReplication::Fixed(self.config.replication)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin.create_topics(new.iter(), &options).await.map_err(broker)?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(%topic, "topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(BusError::Broker(format!("cannot create topic {topic}: {code}"))),
            }
        }
        Ok(())
    }
}

fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (key, value) in &config.settings {
        client.set(key, value);
    }
    client
}

#[async_trait::async_trait]
impl Bus for KafkaBus {
    async fn lag(&self, group: &str, topic: &str) -> Result<i64, BusError> {
        let config = self.client_config();
        let (group, topic) = (group.to_owned(), topic.to_owned());
        tokio::task::spawn_blocking(move || -> Result<i64, BusError> {
            // A client of the group that never joins it: it only reads the committed offsets.
            let consumer: rdkafka::consumer::BaseConsumer =
                config.clone().set("group.id", &group).set("enable.auto.commit", "false").create().map_err(broker)?;
            let wait = Duration::from_secs(5);
            let metadata = consumer.fetch_metadata(Some(&topic), wait).map_err(broker)?;
            let partitions: Vec<i32> =
                metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
            let mut list = TopicPartitionList::new();
            for partition in &partitions {
                list.add_partition(&topic, *partition);
            }
            let committed = consumer.committed_offsets(list, wait).map_err(broker)?;
            let mut lag = 0;
            for partition in partitions {
                let (low, high) = consumer.fetch_watermarks(&topic, partition, wait).map_err(broker)?;
                let position = match committed.find_partition(&topic, partition).map(|p| p.offset()) {
                    Some(Offset::Offset(at)) => at,
                    _ => low,
                };
                lag += (high - position).max(0);
            }
            Ok(lag)
        })
        .await
        .map_err(broker)?
    }

    async fn size(&self, topic: &str) -> Result<i64, BusError> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || -> Result<i64, BusError> {
            use rdkafka::producer::Producer as _;
            let client = producer.client();
            let wait = Duration::from_secs(5);
            let metadata = client.fetch_metadata(Some(&topic), wait).map_err(broker)?;
            let mut size = 0;
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                let (low, high) = client.fetch_watermarks(&topic, partition.id(), wait).map_err(broker)?;
                size += (high - low).max(0);
            }
            Ok(size)
        })
        .await
        .map_err(broker)?
    }

    async fn flush(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            producer.flush(Duration::from_secs(10))
        })
        .await
        .map_err(broker)?
        .map_err(broker)
    }

    async fn ready(&self) -> Result<(), BusError> {
        self.reachable().await
    }

    async fn publish(&self, topic: &str, key: &str, payload: &[u8]) -> Result<(), BusError> {
        self.publish_batch(topic, &[(key.to_owned(), payload.to_vec())]).await
    }

    async fn publish_batch(&self, topic: &str, messages: &[(String, Vec<u8>)]) -> Result<(), BusError> {
        // Enqueue in order (the idempotent producer keeps per-partition order), then wait for
        // every delivery.
        let mut deliveries = Vec::with_capacity(messages.len());
        for (key, payload) in messages {
            let mut record = FutureRecord::to(topic).key(key.as_str()).payload(payload.as_slice());
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => return Err(broker(error)),
                }
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(broker(error)),
                Err(_) => return Err(BusError::Broker("delivery report lost".into())),
            }
        }
        Ok(())
    }

    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        let consumer: StreamConsumer = self
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            // Hand out what the broker has quickly rather than waiting for full fetches.
            .set("fetch.wait.max.ms", "10")
            .create()
            .map_err(broker)?;
        consumer.subscribe(&[topic]).map_err(broker)?;
        Ok(Box::new(KafkaConsumer { consumer }))
    }

    fn outbox_is_log(&self) -> bool {
        false
    }
}

/// A consumer-group member on one topic.
pub struct KafkaConsumer {
    consumer: StreamConsumer,
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    Message {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

#[async_trait::async_trait]
impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        let mut batch = Vec::new();
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(batch),
            Ok(result) => result.map_err(broker)?,
        };
        batch.push(owned(&first));
        drop(first);
        while batch.len() < max {
            match tokio::time::timeout(Duration::from_millis(2), self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(owned(&message)),
                Ok(Err(error)) => return Err(broker(error)),
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    async fn commit(&mut self, messages: &[Message]) -> Result<(), BusError> {
        let mut next: HashMap<(String, i32), i64> = HashMap::new();
        for m in messages {
            let offset = next.entry((m.topic.clone(), m.partition)).or_insert(m.offset + 1);
            *offset = (*offset).max(m.offset + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            list.add_partition_offset(&topic, partition, Offset::Offset(offset)).map_err(broker)?;
        }
        self.consumer.commit(&list, CommitMode::Async).map_err(broker)
    }
}
