//! Creation work: one row per `CREATION_PENDING` payment whose debt position is still to be
//! opened, with when to try next. Rows are written in the same transaction as their payment
//! (inserted with it, removed when it leaves `CREATION_PENDING`), so a crash loses none and
//! leaves none behind; the proxy claims due rows like the poller claims due checks.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use super::{Backend, MULTI_ROW, PER_TENANT_CHUNK, Store, StoreError, multi_row, per_tenant_select, placeholders};
use crate::domain::{PaymentEvent, PaymentStatus};

/// A claimed creation: whose, and what its earlier attempts left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    /// The payment.
    pub payment_id: Uuid,
    /// Its tenant: creations are scheduled fairly across tenants.
    pub tenant_id: Uuid,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// Whether one of them may have opened the position upstream.
    pub ambiguous: bool,
    /// Why it could not be created at its last try, when it was waiting for a configuration.
    pub waiting: Option<String>,
}

/// What a creation's next try is, written with the attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// When, in milliseconds since the epoch.
    pub due_ms: i64,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// Whether a position may exist upstream.
    pub ambiguous: bool,
    /// Why the payment cannot be created yet (no configuration), if that is why.
    pub waiting: Option<String>,
    /// The last attempt's failure.
    pub last_error: Option<String>,
}

/// Now in milliseconds since the epoch, unrounded: creations are scheduled to the millisecond
/// (payment timestamps are whole seconds).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Adds the creation work of the new `CREATION_PENDING` payments among `events`, due now.
    pub(super) async fn add_creations_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        events: &[&PaymentEvent],
    ) -> Result<(), StoreError> {
        let pending: Vec<&&PaymentEvent> =
            events.iter().filter(|e| e.status == PaymentStatus::CreationPending).collect();
        let now = now_ms();
        for chunk in pending.chunks(MULTI_ROW) {
            let sql = multi_row(
                "INSERT INTO creations (payment_id, tenant_id, service_id, due_at) VALUES ",
                4,
                "",
                chunk.len(),
            ) + " ON CONFLICT DO NOTHING";
            let mut query = sqlx::query(&sql);
            for event in chunk {
                query = query
                    .bind(event.id.to_string())
                    .bind(event.tenant_id.to_string())
                    .bind(event.service_id.to_string())
                    .bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Removes the creation work of payments that left `CREATION_PENDING`, and records the next
    /// try of those still in it.
    pub(super) async fn settle_creations_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        done: &[Uuid],
        retries: &[(Uuid, &Retry)],
    ) -> Result<(), StoreError> {
        for chunk in done.chunks(MULTI_ROW) {
            let sql = format!("DELETE FROM creations WHERE payment_id IN ({})", placeholders(chunk.len()));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(&mut **tx).await?;
        }
        for (id, retry) in retries {
            retry_query(id, retry).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Records the next try of creations whose attempt changed nothing else (no history).
    pub async fn reschedule_creations(&self, retries: &[(Uuid, Retry)]) -> Result<(), StoreError> {
        if retries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for (id, retry) in retries {
            retry_query(id, retry).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` creations due at `now`, oldest first: each is pushed `lease` ahead, so no other replica
    /// takes it while this one works on it, and a crash gives it back when the lease ends.
    pub async fn claim_creations(&self, now_ms: i64, lease: Duration, limit: i64) -> Result<Vec<Creation>, StoreError> {
        let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        // SQLite has one writer at a time: the UPDATE itself is the claim.
        let lock = if self.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE creations SET due_at = $1 WHERE payment_id IN (\
             SELECT payment_id FROM creations WHERE due_at <= $2 ORDER BY due_at LIMIT $3{lock}) \
             RETURNING payment_id, tenant_id, attempts, ambiguous, waiting"
        );
        let query = sqlx::query(&sql).bind(until).bind(now_ms).bind(limit);
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(creation).collect()
    }

    /// Claims, for each of `tenants` in turn, at most `per_tenant` of its due creations (a
    /// range of `creations_due_by_tenant` each), like [`Store::claim_creations`]: the claim of
    /// a host whose other tenants' queues are full.
    pub async fn claim_creations_for(
        &self,
        now_ms: i64,
        lease: Duration,
        per_tenant: i64,
        tenants: &[Uuid],
    ) -> Result<Vec<Creation>, StoreError> {
        let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut claimed = Vec::new();
        for chunk in tenants.chunks(PER_TENANT_CHUNK) {
            let sql = format!(
                "UPDATE creations SET due_at = $1 WHERE payment_id IN ({}) \
                 RETURNING payment_id, tenant_id, attempts, ambiguous, waiting",
                per_tenant_select(self.backend(), "creations", "payment_id", "due_at <= $2", "due_at", chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(until).bind(now_ms).bind(per_tenant);
            for tenant in chunk {
                query = query.bind(tenant.to_string());
            }
            for row in query.fetch_all(self.pool()).await? {
                claimed.push(creation(&row)?);
            }
        }
        Ok(claimed)
    }

    /// Makes claimed creations due again at once (a host stopping gives back what it had not
    /// started).
    pub async fn release_creations(&self, ids: &[Uuid], now_ms: i64) -> Result<(), StoreError> {
        for chunk in ids.chunks(MULTI_ROW) {
            let sql =
                format!("UPDATE creations SET due_at = $1 WHERE payment_id IN ({})", placeholders_from(2, chunk.len()));
            let mut query = sqlx::query(&sql).bind(now_ms);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query.execute(self.pool()).await?;
        }
        Ok(())
    }

    /// Makes every creation waiting for a configuration due now: a configuration changed.
    /// Returns how many.
    pub async fn resume_waiting_creations(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE creations SET due_at = $1 WHERE waiting IS NOT NULL AND due_at > $2")
            .bind(now_ms)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Payments waiting for a configuration, by tenant.
    pub async fn waiting_creations(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, COUNT(*) AS n FROM creations WHERE waiting IS NOT NULL GROUP BY tenant_id ORDER BY tenant_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Payments that became `CREATION_FAILED` at or after `since_ms`, most recent first (the
    /// sweep looks for their positions upstream).
    pub async fn failed_creations_since(&self, since_ms: i64, limit: i64) -> Result<Vec<Uuid>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM payments WHERE status = 'CREATION_FAILED' AND updated_at >= $1 ORDER BY updated_at DESC LIMIT $2",
        )
        .bind(since_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        super::ids(&rows)
    }

    /// Creations whose position may exist upstream without cassa knowing it yet.
    pub async fn uncertain_creations(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM creations WHERE ambiguous = 1").fetch_one(self.pool()).await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The creation work of one payment, if it has any (tests, operators).
    pub async fn creation(&self, id: Uuid) -> Result<Option<(Creation, i64, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT payment_id, tenant_id, attempts, ambiguous, waiting, due_at, last_error FROM creations \
             WHERE payment_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((creation(&r)?, r.try_get("due_at")?, r.try_get("last_error")?))).transpose()
    }
}

fn retry_query<'q>(id: &Uuid, retry: &'q Retry) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "UPDATE creations SET due_at = $1, attempts = $2, ambiguous = $3, waiting = $4, last_error = $5 \
         WHERE payment_id = $6",
    )
    .bind(retry.due_ms)
    .bind(i64::from(retry.attempts))
    .bind(i64::from(retry.ambiguous))
    .bind(retry.waiting.as_deref())
    .bind(retry.last_error.as_deref())
    .bind(id.to_string())
}

/// `$from, $from+1, …` for `n` values.
fn placeholders_from(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn creation(row: &sqlx::any::AnyRow) -> Result<Creation, StoreError> {
    let uuid = |column: &str| -> Result<Uuid, StoreError> {
        let text: String = row.try_get(column)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    };
    let attempts: i64 = row.try_get("attempts")?;
    let ambiguous: i64 = row.try_get("ambiguous")?;
    Ok(Creation {
        payment_id: uuid("payment_id")?,
        tenant_id: uuid("tenant_id")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        ambiguous: ambiguous != 0,
        waiting: row.try_get("waiting")?,
    })
}
