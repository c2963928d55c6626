//! The embedded bus: topics are the store's outbox table, consumer positions are rows of
//! `consumer_offsets`. Single node; durable across restarts; nothing to install.

use std::time::Duration;

use tokio::sync::Notify;

use super::{Bus, BusError, Consumer, Message};
use crate::store::Store;

/// The embedded bus over a store.
#[derive(Clone)]
pub struct EmbeddedBus {
    store: Store,
    /// Wakes consumers early when this process appends (others are found by polling).
    appended: std::sync::Arc<Notify>,
}

impl EmbeddedBus {
    /// A bus over `store`.
    pub fn new(store: Store) -> Self {
        Self { store, appended: std::sync::Arc::new(Notify::new()) }
    }

    /// Wakes waiting consumers: call after writing to the outbox.
    pub fn notify(&self) {
        self.appended.notify_waiters();
    }

    /// The handle consumers wait on.
    pub fn waker(&self) -> std::sync::Arc<Notify> {
        self.appended.clone()
    }
}

#[async_trait::async_trait]
impl Bus for EmbeddedBus {
    async fn lag(&self, group: &str, topic: &str) -> Result<i64, BusError> {
        Ok(self.store.log_lag(group, topic).await?)
    }

    async fn size(&self, topic: &str) -> Result<i64, BusError> {
        Ok(self.store.log_count(topic).await?)
    }

    async fn publish(&self, topic: &str, key: &str, payload: &[u8]) -> Result<(), BusError> {
        self.store.append(topic, key, &String::from_utf8_lossy(payload)).await?;
        self.notify();
        Ok(())
    }

    async fn publish_batch(&self, topic: &str, messages: &[(String, Vec<u8>)]) -> Result<(), BusError> {
        let rows: Vec<(String, String)> = messages
            .iter()
            .map(|(key, payload)| (key.clone(), String::from_utf8_lossy(payload).into_owned()))
            .collect();
        self.store.append_all(topic, &rows).await?;
        self.notify();
        Ok(())
    }

    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn Consumer>, BusError> {
        let position = self.store.offset(group, topic).await?;
        Ok(Box::new(EmbeddedConsumer {
            store: self.store.clone(),
            group: group.to_owned(),
            topic: topic.to_owned(),
            position,
            appended: self.appended.clone(),
        }))
    }

    fn outbox_is_log(&self) -> bool {
        true
    }

    fn outbox_written(&self) {
        self.notify();
    }
}

/// A consumer of one topic of the embedded bus.
pub struct EmbeddedConsumer {
    store: Store,
    group: String,
    topic: String,
    /// Last message handed out.
    position: i64,
    appended: std::sync::Arc<Notify>,
}

#[async_trait::async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        let limit = i64::try_from(max).unwrap_or(1000);
        // Register for wake-ups before reading, so an append right after the read is not missed.
        let appended = self.appended.clone();
        let notified = appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let mut records = self.store.read_log(&self.topic, self.position, limit).await?;
        if records.is_empty() {
            // Wait for an append in this process, or poll again after `wait` for other writers.
            let _ = tokio::time::timeout(wait, notified).await;
            records = self.store.read_log(&self.topic, self.position, limit).await?;
        }
        if let Some(last) = records.last() {
            self.position = last.id;
        }
        Ok(records
            .into_iter()
            .map(|r| Message {
                topic: r.topic,
                partition: 0,
                offset: r.id,
                key: r.key,
                payload: r.payload.into_bytes(),
            })
            .collect())
    }

    async fn commit(&mut self, messages: &[Message]) -> Result<(), BusError> {
        if let Some(last) = messages.iter().map(|m| m.offset).max() {
            self.store.commit_offset(&self.group, &self.topic, last).await?;
        }
        Ok(())
    }
}
