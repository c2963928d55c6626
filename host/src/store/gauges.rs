//! Counts the metrics read at each scrape: shared state, the same from every replica.

use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::Timestamp;

impl Store {
    async fn count(&self, sql: &str, binds: &[&str], number: Option<i64>) -> Result<i64, StoreError> {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        if let Some(n) = number {
            query = query.bind(n);
        }
        let row = query.fetch_one(self.pool()).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Outbox rows not yet published to an external bus.
    pub async fn unpublished_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) FROM outbox WHERE published = 0", &[], None).await
    }

    /// Open payments whose status check is due at `now`.
    pub async fn due_count(&self, now: Timestamp) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM payments WHERE next_check_at IS NOT NULL AND next_check_at <= $1",
            &[],
            Some(now.millis()),
        )
        .await
    }

    /// Messages in a topic of the embedded log.
    pub async fn log_count(&self, topic: &str) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) FROM outbox WHERE topic = $1", &[topic], None).await
    }

    /// Messages of a topic of the embedded log that `consumer` has not read yet.
    pub async fn log_lag(&self, consumer: &str, topic: &str) -> Result<i64, StoreError> {
        let position = self.offset(consumer, topic).await?;
        self.count("SELECT COUNT(*) FROM outbox WHERE topic = $1 AND id > $2", &[topic], Some(position)).await
    }
}
