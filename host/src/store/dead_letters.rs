//! Dead letters: the messages a stage could not process, with the reason, for operators to
//! read and replay once the cause is fixed.

use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::Timestamp;

/// Namespace of dead-letter ids (UUID v5 of `topic/partition/offset`).
const NAMESPACE: Uuid = Uuid::from_u128(0x6361_7373_612d_646c_712d_0000_0000_0001);

/// A dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Its id.
    pub id: Uuid,
    /// The topic the message came from, where a replay sends it.
    pub topic: String,
    /// Where it was read.
    pub partition: i64,
    /// Where it was read.
    pub offset: i64,
    /// Its key.
    pub key: String,
    /// Why it could not be processed.
    pub reason: String,
    /// When it was set aside.
    pub created_at: Timestamp,
    /// The last replay.
    pub replayed_at: Option<Timestamp>,
    /// How many replays.
    pub replays: i64,
    /// The message (text); absent in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub payload: Option<String>,
}

/// The id of the dead letter of the message read at `topic`/`partition`/`offset`.
pub fn dead_letter_id(topic: &str, partition: i64, offset: i64) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{topic}/{partition}/{offset}").as_bytes())
}

fn dead_letter(row: &sqlx::any::AnyRow, with_payload: bool) -> Result<DeadLetter, StoreError> {
    let id: String = row.try_get("id")?;
    let time = |ms: i64| Timestamp::from_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms}")));
    let replayed: Option<i64> = row.try_get("replayed_at")?;
    Ok(DeadLetter {
        id: id.parse().map_err(|e| StoreError::Corrupt(format!("dead letter id: {e}")))?,
        topic: row.try_get("topic")?,
        partition: row.try_get("source_partition")?,
        offset: row.try_get("source_offset")?,
        key: row.try_get("msg_key")?,
        reason: row.try_get("reason")?,
        created_at: time(row.try_get("created_at")?)?,
        replayed_at: replayed.map(time).transpose()?,
        replays: row.try_get("replays")?,
        payload: if with_payload { Some(row.try_get("payload")?) } else { None },
    })
}

const COLUMNS: &str =
    "id, topic, source_partition, source_offset, msg_key, payload, reason, created_at, replayed_at, replays";

impl Store {
    /// Records a dead letter once (a batch read again does not record it twice).
    pub async fn insert_dead_letter(
        &self,
        topic: &str,
        partition: i64,
        offset: i64,
        key: &str,
        payload: &str,
        reason: &str,
    ) -> Result<Uuid, StoreError> {
        let id = dead_letter_id(topic, partition, offset);
        sqlx::query(
            "INSERT INTO dead_letters (id, topic, source_partition, source_offset, msg_key, payload, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(topic)
        .bind(partition)
        .bind(offset)
        .bind(key)
        .bind(payload)
        .bind(reason)
        .bind(Timestamp::now().millis())
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// Dead letters, oldest first; those already replayed only when `replayed` says so.
    pub async fn dead_letters(&self, replayed: bool, limit: i64) -> Result<Vec<DeadLetter>, StoreError> {
        let filter = if replayed { "" } else { "WHERE replayed_at IS NULL " };
        let sql = format!("SELECT {COLUMNS} FROM dead_letters {filter}ORDER BY created_at, id LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit.clamp(1, 10_000)).fetch_all(self.pool()).await?;
        rows.iter().map(|r| dead_letter(r, false)).collect()
    }

    /// One dead letter, with its message.
    pub async fn dead_letter(&self, id: Uuid) -> Result<Option<DeadLetter>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.map(|r| dead_letter(&r, true)).transpose()
    }

    /// Records a replay of dead letter `id`.
    pub async fn mark_replayed(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE dead_letters SET replayed_at = $1, replays = replays + 1 WHERE id = $2")
            .bind(Timestamp::now().millis())
            .bind(id.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
