//! The store: payments (current state and history), tenant and service configurations, the
//! transactional outbox (which is also the embedded bus's log) and consumer offsets.
//!
//! One code path for both databases through sqlx's `Any` driver: SQLite (the default, a file in
//! the data directory) and PostgreSQL (chosen by a `postgres://` URL). Queries use `$n`
//! placeholders, which both understand; the few statements that differ (claiming due payments,
//! ordering outbox appends) are chosen by [`Backend`].

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::domain::{PaymentEvent, PaymentStatus, Timestamp};

mod carts;
mod creations;
pub use creations::{Creation, Retry, now_ms};
mod dead_letters;
pub use dead_letters::{DeadLetter, dead_letter_id};
mod gauges;
mod registry;
pub mod sealed;
pub use carts::StoredCart;
pub use registry::{Activation, Artifact, Pin, Removal};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one node.
    Sqlite,
    /// PostgreSQL: one or many nodes.
    Postgres,
}

/// A message of a topic, as the outbox / embedded log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Position in the log (increasing).
    pub id: i64,
    /// Topic.
    pub topic: String,
    /// Key.
    pub key: String,
    /// Payload (JSON text, or whatever was ingested).
    pub payload: String,
}

/// A stored payment: its current state and the version that state has.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayment {
    /// The full current state.
    pub event: PaymentEvent,
    /// Incremented by every change; guards concurrent updates.
    pub version: i64,
}

/// A tenant or service configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConfig {
    /// Its id.
    pub id: Uuid,
    /// For a tenant: the connector name; for a service: the tenant id.
    pub owner: String,
    /// The configuration document (with secret values: never returned as is by the API).
    pub config: Value,
    /// Whether it is in use (DELETE sets it false).
    pub active: bool,
}

/// One change of a batch for [`Store::update_payments`].
#[derive(Debug, Clone)]
pub struct Change {
    /// The new state.
    pub event: PaymentEvent,
    /// The version it was computed from.
    pub version: i64,
    /// Topic and key to emit it on, if it is to be emitted.
    pub publish: Option<(String, String)>,
    /// Why, for the history.
    pub note: Option<String>,
    /// For a payment still `CREATION_PENDING`: its creation's next try.
    pub retry: Option<Retry>,
    /// Leaves no row in the history: a routine status check that only moved the next check
    /// (a payment is checked hundreds of times over its year; its history keeps what changed).
    pub quiet: bool,
}

/// Filters of `GET /payments`.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    /// Originating application.
    pub remote_id: Option<Uuid>,
    /// Status.
    pub status: Option<PaymentStatus>,
    /// Tenant.
    pub tenant_id: Option<Uuid>,
    /// Service.
    pub service_id: Option<Uuid>,
    /// Most rows to return.
    pub limit: i64,
}

/// Why a change could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Somebody else changed the payment since it was read.
    #[error("payment {0} was changed concurrently")]
    Conflict(Uuid),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored document could not be read back.
    #[error("corrupt stored document: {0}")]
    Corrupt(String),
}

/// The store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Seals configurations at rest, when `secrets_key` is set.
    sealer: Option<sealed::Sealer>,
}

/// Rows per multi-row statement: well under both databases' limits on bound parameters.
const MULTI_ROW: usize = 200;

/// `prefix ($1, …, $k<suffix>), ($k+1, …), …` for `rows` rows of `columns` parameters each.
fn multi_row(prefix: &str, columns: usize, suffix: &str, rows: usize) -> String {
    let mut sql = String::from(prefix);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns + column + 1));
        }
        sql.push_str(suffix);
        sql.push(')');
    }
    sql
}

/// Tenants claimed for in one statement by [`Store::claim_due_for`] and
/// [`Store::claim_creations_for`].
const PER_TENANT_CHUNK: usize = 64;

/// The ids (`id`) of at most `$3` due rows (`due`, oldest `order` first) of each of `n`
/// tenants (`$4`, `$5`, …) of `table`, one index range per tenant, locked on PostgreSQL.
fn per_tenant_select(backend: Backend, table: &str, id: &str, due: &str, order: &str, n: usize) -> String {
    let one = |tenant: &str, lock: &str| {
        format!("SELECT {id} FROM {table} WHERE tenant_id = {tenant} AND {due} ORDER BY {order} LIMIT $3{lock}")
    };
    match backend {
        Backend::Postgres => {
            let tenants: Vec<String> = (4..4 + n).map(|i| format!("(${i})")).collect();
            format!(
                "SELECT d.{id} FROM (VALUES {}) AS t(tenant) CROSS JOIN LATERAL ({}) d",
                tenants.join(", "),
                one("t.tenant", " FOR UPDATE SKIP LOCKED")
            )
        }
        // SQLite has one writer at a time: the UPDATE itself is the claim.
        Backend::Sqlite => (4..4 + n)
            .map(|i| format!("SELECT {id} FROM ({})", one(&format!("${i}"), "")))
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
    }
}

/// The `id` and `tenant_id` of a claimed payment's row.
fn payment_and_tenant(row: &sqlx::any::AnyRow) -> Result<(Uuid, Uuid), StoreError> {
    let parse = |column: &str| -> Result<Uuid, StoreError> {
        let text: String = row.try_get(column)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    Ok((parse("id")?, parse("tenant_id")?))
}

/// `$1, $2, …, $n`, for `IN (…)` lists.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn to_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.millis())
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("unsupported database URL `{url}`: use sqlite://… or postgres://…");
        };
        let options = AnyConnectOptions::from_str(url).with_context(|| format!("invalid database URL `{url}`"))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the one writer; waiting beats failing.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to the database at `{}`", redact_url(url)))?;
        let store = Self { pool, backend, sealer: None };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations that have not been applied yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&self.pool).await.context("database migration failed")?;
        Ok(())
    }

    /// Migrations this binary knows that the database has not applied (`/readyz`); also
    /// proves the database answers.
    pub async fn migrations_pending(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        let rows = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.pool).await?;
        let applied: Vec<i64> = rows.iter().map(|r| r.try_get::<i64, _>(0)).collect::<Result<_, _>>()?;
        Ok(migrator.iter().filter(|m| !applied.contains(&m.version)).count())
    }

    /// This store sealing tenant and service configurations with `sealer` (see [`sealed`]).
    pub fn with_sealer(mut self, sealer: sealed::Sealer) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for tests and stage-specific queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Appends a message to the outbox/log inside `tx`.
    async fn append_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        topic: &str,
        key: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        self.append_many_in(tx, &[(topic, key, payload)]).await
    }

    /// Appends messages `(topic, key, payload)` in order, with multi-row statements.
    async fn append_many_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        rows: &[(&str, &str, &str)],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.backend == Backend::Postgres {
            // Serialise appends per topic so ids become visible in order and a log reader never
            // skips a row committed late with a smaller id. Sorted, so two writers never wait
            // on each other in opposite orders.
            let mut topics: Vec<&str> = rows.iter().map(|(t, _, _)| *t).collect();
            topics.sort_unstable();
            topics.dedup();
            for topic in topics {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(topic).execute(&mut **tx).await?;
            }
        }
        let now = Timestamp::now().millis();
        for chunk in rows.chunks(MULTI_ROW) {
            let sql = multi_row(
                "INSERT INTO outbox (topic, msg_key, payload, created_at, published) VALUES ",
                4,
                ", 0",
                chunk.len(),
            );
            let mut query = sqlx::query(&sql);
            for (topic, key, payload) in chunk {
                query = query.bind(*topic).bind(*key).bind(*payload).bind(now);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Appends one message to a topic's log (HTTP ingest, DLQ).
    pub async fn append(&self, topic: &str, key: &str, payload: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.append_in(&mut tx, topic, key, payload).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends several messages to a topic's log in one transaction.
    pub async fn append_all(&self, topic: &str, messages: &[(String, String)]) -> Result<(), StoreError> {
        let rows: Vec<(&str, &str, &str)> = messages.iter().map(|(k, p)| (topic, k.as_str(), p.as_str())).collect();
        let mut tx = self.pool.begin().await?;
        self.append_many_in(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Messages of `topic` after position `after`, oldest first.
    pub async fn read_log(&self, topic: &str, after: i64, limit: i64) -> Result<Vec<LogRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, topic, msg_key, payload FROM outbox WHERE topic = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(topic)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        log_records(&rows)
    }

    /// Where consumer `consumer` stands in `topic` (0 before the first message).
    pub async fn offset(&self, consumer: &str, topic: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT position FROM consumer_offsets WHERE consumer = $1 AND topic = $2")
            .bind(consumer)
            .bind(topic)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("position")?,
            None => 0,
        })
    }

    /// Records that `consumer` has durably handled `topic` up to `position`.
    pub async fn commit_offset(&self, consumer: &str, topic: &str, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_offsets (consumer, topic, position) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer, topic) DO UPDATE SET position = excluded.position \
             WHERE excluded.position > consumer_offsets.position",
        )
        .bind(consumer)
        .bind(topic)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Trims the embedded log: removes, topic by topic, the entries every consumer of that
    /// topic has passed (the lowest committed position) that were written before `before_ms`,
    /// at most `limit` per topic per call. A topic no consumer has committed on (the DLQ) is
    /// kept whole. Returns how many entries went.
    pub async fn trim_log(&self, before_ms: i64, limit: i64) -> Result<u64, StoreError> {
        let floors = sqlx::query("SELECT topic, MIN(position) AS floor FROM consumer_offsets GROUP BY topic")
            .fetch_all(&self.pool)
            .await?;
        let mut removed = 0;
        for row in floors {
            let topic: String = row.try_get("topic")?;
            let floor: i64 = row.try_get("floor")?;
            let done = sqlx::query(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE topic = $1 AND id <= $2 \
                 AND created_at < $3 ORDER BY id LIMIT $4)",
            )
            .bind(&topic)
            .bind(floor)
            .bind(before_ms)
            .bind(limit)
            .execute(&self.pool)
            .await?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }

    /// Outbox rows not yet published to an external bus, oldest first.
    pub async fn unpublished(&self, limit: i64) -> Result<Vec<LogRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, topic, msg_key, payload FROM outbox WHERE published = 0 ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        log_records(&rows)
    }

    /// Removes outbox rows an external bus has received: with Kafka the outbox only bridges a
    /// transaction and its event, and a delete writes far less than an update of a wide row.
    pub async fn remove_relayed(&self, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(MULTI_ROW) {
            let sql = format!("DELETE FROM outbox WHERE id IN ({})", placeholders(chunk.len()));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Inserts a new payment and its event, unless one exists with its id or for its
    /// application. Returns whether it was inserted.
    pub async fn insert_payment(&self, event: &PaymentEvent, topic: &str, key: &str) -> Result<bool, StoreError> {
        let inserted = self.insert_payments(&[(event.clone(), key.to_owned())], topic).await?;
        Ok(inserted.first() == Some(&true))
    }

    /// Inserts several new payments and their events in one transaction (one commit for a
    /// whole batch of the dispatcher); returns, for each, whether it was inserted.
    pub async fn insert_payments(
        &self,
        batch: &[(PaymentEvent, String)],
        topic: &str,
    ) -> Result<Vec<bool>, StoreError> {
        let jsons = batch
            .iter()
            .map(|(event, _)| serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(&PaymentEvent, &str)> = batch.iter().zip(&jsons).map(|((e, _), j)| (e, j.as_str())).collect();
        let mut new_ids = self.insert_rows_in(&mut tx, &rows).await?;
        // The first occurrence of a new id is the one that was inserted.
        let inserted: Vec<bool> = batch.iter().map(|(event, _)| new_ids.remove(&event.id)).collect();
        let new = || batch.iter().zip(&jsons).zip(&inserted).filter(|(_, new)| **new).map(|(row, _)| row);
        let history: Vec<_> = new().map(|((event, _), json)| (event, 1, json.as_str(), None)).collect();
        self.history_many_in(&mut tx, &history).await?;
        let log: Vec<_> = new().map(|((_, key), json)| (topic, key.as_str(), json.as_str())).collect();
        self.append_many_in(&mut tx, &log).await?;
        let events: Vec<&PaymentEvent> = new().map(|((event, _), _)| event).collect();
        self.add_creations_in(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Stores several changes in one transaction, each like [`Store::update_payment`]; a change
    /// whose payment moved on meanwhile is skipped (`Err(Conflict)` in its place) without
    /// affecting the others.
    pub async fn update_payments(&self, batch: &[Change]) -> Result<Vec<Result<i64, StoreError>>, StoreError> {
        let jsons = batch
            .iter()
            .map(|c| serde_json::to_string(&c.event).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.pool.begin().await?;
        // One `UPDATE … FROM (VALUES …)` per chunk, guarded by each row's version; RETURNING
        // names the rows that were still at the version the change was computed from.
        let mut updated = std::collections::HashSet::new();
        for (chunk, jsons) in batch.chunks(MULTI_ROW / 2).zip(jsons.chunks(MULTI_ROW / 2)) {
            let sql = multi_row(
                "UPDATE payments SET status = v.column3, updated_at = v.column4, next_check_at = v.column5, \
                 version = v.column2 + 1, event = v.column6, notify_due_at = v.column7 FROM (VALUES ",
                7,
                "",
                chunk.len(),
            ) + ") AS v WHERE payments.id = v.column1 AND payments.version = v.column2 RETURNING payments.id";
            let mut query = sqlx::query(&sql);
            for (change, json) in chunk.iter().zip(jsons) {
                let event = &change.event;
                query = query
                    .bind(event.id.to_string())
                    .bind(change.version)
                    .bind(event.status.as_str())
                    .bind(event.updated_at.millis())
                    .bind(to_ms(next_check_of(event)))
                    .bind(json.as_str())
                    .bind(to_ms(notify_due_of(event)));
            }
            updated.extend(ids(&query.fetch_all(&mut *tx).await?)?);
        }
        let applied: Vec<bool> = batch.iter().map(|c| updated.remove(&c.event.id)).collect();
        let done = || batch.iter().zip(&jsons).zip(&applied).filter(|(_, ok)| **ok).map(|(row, _)| row);
        let history: Vec<_> = done()
            .filter(|(c, _)| !c.quiet)
            .map(|(c, json)| (&c.event, c.version + 1, json.as_str(), c.note.as_deref()))
            .collect();
        self.history_many_in(&mut tx, &history).await?;
        let log: Vec<_> = done()
            .filter_map(|(c, json)| {
                c.publish.as_ref().map(|(topic, key)| (topic.as_str(), key.as_str(), json.as_str()))
            })
            .collect();
        self.append_many_in(&mut tx, &log).await?;
        let settled: Vec<Uuid> =
            done().filter(|(c, _)| c.event.status != PaymentStatus::CreationPending).map(|(c, _)| c.event.id).collect();
        let retries: Vec<(Uuid, &Retry)> = done()
            .filter(|(c, _)| c.event.status == PaymentStatus::CreationPending)
            .filter_map(|(c, _)| c.retry.as_ref().map(|r| (c.event.id, r)))
            .collect();
        self.settle_creations_in(&mut tx, &settled, &retries).await?;
        tx.commit().await?;
        Ok(batch
            .iter()
            .zip(applied)
            .map(|(c, ok)| if ok { Ok(c.version + 1) } else { Err(StoreError::Conflict(c.event.id)) })
            .collect())
    }

    /// Inserts payment rows with multi-row statements; returns the ids that were new (an id or
    /// an application already stored, or twice in `rows`, is skipped).
    async fn insert_rows_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        rows: &[(&PaymentEvent, &str)],
    ) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        let mut new_ids = std::collections::HashSet::new();
        for chunk in rows.chunks(MULTI_ROW / 2) {
            let sql = multi_row(
                "INSERT INTO payments (id, tenant_id, service_id, remote_id, status, created_at, updated_at, \
                 next_check_at, event, notify_due_at, version) VALUES ",
                10,
                ", 1",
                chunk.len(),
            ) + " ON CONFLICT DO NOTHING RETURNING id";
            let mut query = sqlx::query(&sql);
            for (event, json) in chunk {
                query = query
                    .bind(event.id.to_string())
                    .bind(event.tenant_id.to_string())
                    .bind(event.service_id.to_string())
                    .bind(event.remote_id.to_string())
                    .bind(event.status.as_str())
                    .bind(event.created_at.millis())
                    .bind(event.updated_at.millis())
                    .bind(to_ms(next_check_of(event)))
                    .bind(*json)
                    .bind(to_ms(notify_due_of(event)));
            }
            new_ids.extend(ids(&query.fetch_all(&mut **tx).await?)?);
        }
        Ok(new_ids)
    }

    async fn history_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        event: &PaymentEvent,
        version: i64,
        json: &str,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.history_many_in(tx, &[(event, version, json, note)]).await
    }

    /// Records states `(event, version, json, note)` with multi-row statements.
    async fn history_many_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        rows: &[(&PaymentEvent, i64, &str, Option<&str>)],
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().millis();
        for chunk in rows.chunks(MULTI_ROW) {
            let sql = multi_row(
                "INSERT INTO payment_history (payment_id, version, status, recorded_at, event, note) VALUES ",
                6,
                "",
                chunk.len(),
            );
            let mut query = sqlx::query(&sql);
            for (event, version, json, note) in chunk {
                query = query
                    .bind(event.id.to_string())
                    .bind(*version)
                    .bind(event.status.as_str())
                    .bind(now)
                    .bind(*json)
                    .bind(*note);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Stores a new state of a payment read at `version` — with `note` in its history, and its
    /// event when `publish` names a topic and key — in one transaction. Fails with
    /// [`StoreError::Conflict`] when the payment changed in between.
    pub async fn update_payment(
        &self,
        event: &PaymentEvent,
        version: i64,
        publish: Option<(&str, &str)>,
        note: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.update_payment_as(event, version, publish, note, false).await
    }

    /// [`Store::update_payment`], leaving no history row when `quiet` ([`Change::quiet`]).
    pub async fn update_payment_as(
        &self,
        event: &PaymentEvent,
        version: i64,
        publish: Option<(&str, &str)>,
        note: Option<&str>,
        quiet: bool,
    ) -> Result<i64, StoreError> {
        let change = Change {
            event: event.clone(),
            version,
            publish: publish.map(|(topic, key)| (topic.to_owned(), key.to_owned())),
            note: note.map(str::to_owned),
            retry: None,
            quiet,
        };
        self.update_payments(std::slice::from_ref(&change)).await?.pop().unwrap_or(Err(StoreError::Conflict(event.id)))
    }

    /// Upserts a payment state written by someone else (the view consuming `payments`): kept
    /// only when newer than what is stored. Returns whether it was applied.
    pub async fn upsert_foreign(&self, event: &PaymentEvent) -> Result<bool, StoreError> {
        match self.payment(event.id).await? {
            None => {
                let json = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.pool.begin().await?;
                let inserted = !self.insert_rows_in(&mut tx, &[(event, json.as_str())]).await?.is_empty();
                if inserted {
                    self.history_in(&mut tx, event, 1, &json, None).await?;
                    self.add_creations_in(&mut tx, &[event]).await?;
                }
                tx.commit().await?;
                Ok(inserted)
            }
            Some(stored) if event.updated_at > stored.event.updated_at && event.event_id != stored.event.event_id => {
                match self.update_payment(event, stored.version, None, None).await {
                    Ok(_) => Ok(true),
                    Err(StoreError::Conflict(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(_) => Ok(false),
        }
    }

    /// The history of a payment: `(version, status, note)`, oldest first.
    pub async fn history(&self, id: Uuid) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
        let rows =
            sqlx::query("SELECT version, status, note FROM payment_history WHERE payment_id = $1 ORDER BY version")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("status")?, r.try_get("note")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Claims up to `limit` payments whose notification to the core is due; each is pushed
    /// ahead by a back-off that doubles with every attempt (from `base`, at most an hour), so a
    /// failed or interrupted delivery is retried later.
    pub async fn claim_notifications(
        &self,
        now: Timestamp,
        base: Duration,
        limit: i64,
    ) -> Result<Vec<Uuid>, StoreError> {
        let base_ms = i64::try_from(base.as_millis()).unwrap_or(60_000).max(1);
        let (backoff, lock) = match self.backend {
            Backend::Postgres => (
                format!(
                    "LEAST({base_ms} * (CAST(1 AS BIGINT) << CAST(LEAST(notify_attempts, 20) AS INTEGER)), 3600000)"
                ),
                " FOR UPDATE SKIP LOCKED",
            ),
            Backend::Sqlite => (format!("MIN({base_ms} * (1 << MIN(notify_attempts, 20)), 3600000)"), ""),
        };
        let sql = format!(
            "UPDATE payments SET notify_due_at = $1 + {backoff}, \
             notify_attempts = notify_attempts + 1 WHERE id IN (\
             SELECT id FROM payments WHERE notify_due_at IS NOT NULL AND notify_due_at <= $2 \
             ORDER BY notify_due_at LIMIT $3{lock}) RETURNING id"
        );
        let rows = sqlx::query(&sql).bind(now.millis()).bind(now.millis()).bind(limit).fetch_all(&self.pool).await?;
        ids(&rows)
    }

    /// One payment.
    pub async fn payment(&self, id: Uuid) -> Result<Option<StoredPayment>, StoreError> {
        let row = sqlx::query("SELECT event, version FROM payments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| stored(&r)).transpose()
    }

    /// The payments with these ids (those that exist), in no particular order.
    pub async fn payments_by_ids(&self, ids: &[Uuid]) -> Result<Vec<StoredPayment>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MULTI_ROW) {
            let sql = format!("SELECT event, version FROM payments WHERE id IN ({})", placeholders(chunk.len()));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(stored(&row)?);
            }
        }
        Ok(found)
    }

    /// The payment of an application.
    pub async fn payment_by_remote_id(&self, remote_id: Uuid) -> Result<Option<StoredPayment>, StoreError> {
        let row = sqlx::query("SELECT event, version FROM payments WHERE remote_id = $1")
            .bind(remote_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| stored(&r)).transpose()
    }

    /// Payments matching `filter`, newest first.
    pub async fn payments(&self, filter: &PaymentFilter) -> Result<Vec<StoredPayment>, StoreError> {
        let mut sql = String::from("SELECT event, version FROM payments WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        for (column, value) in [
            ("remote_id", filter.remote_id.map(|v| v.to_string())),
            ("status", filter.status.map(|s| s.as_str().to_owned())),
            ("tenant_id", filter.tenant_id.map(|v| v.to_string())),
            ("service_id", filter.service_id.map(|v| v.to_string())),
        ] {
            if let Some(value) = value {
                binds.push(value);
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id LIMIT ${}", binds.len() + 1));
        let mut query = sqlx::query(&sql);
        for value in &binds {
            query = query.bind(value.as_str());
        }
        let rows = query.bind(filter.limit.clamp(1, 1000)).fetch_all(&self.pool).await?;
        rows.iter().map(stored).collect()
    }

    /// Counts payments by status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM payments GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Claims up to `limit` open payments due at `now` for one poller: their `next_check_at` is
    /// pushed `lease` ahead, so no other replica takes them while this one checks.
    pub async fn claim_due(&self, now: Timestamp, lease: Duration, limit: i64) -> Result<Vec<Uuid>, StoreError> {
        let claimed = self.claim_due_of(now.millis(), lease, limit).await?;
        Ok(claimed.into_iter().map(|(id, _)| id).collect())
    }

    /// [`Store::claim_due`] with each payment's tenant: `(payment, tenant)`.
    pub async fn claim_due_of(
        &self,
        now_ms: i64,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        // SQLite has one writer at a time: the UPDATE itself is the claim.
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE payments SET next_check_at = $1 WHERE id IN (\
             SELECT id FROM payments WHERE next_check_at IS NOT NULL AND next_check_at <= $2 \
             ORDER BY next_check_at LIMIT $3{lock}) RETURNING id, tenant_id"
        );
        let query = sqlx::query(&sql).bind(until).bind(now_ms).bind(limit);
        query.fetch_all(&self.pool).await?.iter().map(payment_and_tenant).collect()
    }

    /// Claims, for each of `tenants` in turn, at most `per_tenant` of its due payments (each
    /// a range of the `payments_due_by_tenant` index), like [`Store::claim_due_of`]: the claim
    /// of a host whose other tenants' queues are full, which must not read past their due rows.
    pub async fn claim_due_for(
        &self,
        now_ms: i64,
        lease: Duration,
        per_tenant: i64,
        tenants: &[Uuid],
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        let until = now_ms + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut claimed = Vec::new();
        for chunk in tenants.chunks(PER_TENANT_CHUNK) {
            let due = "next_check_at IS NOT NULL AND next_check_at <= $2";
            let sql = format!(
                "UPDATE payments SET next_check_at = $1 WHERE id IN ({}) RETURNING id, tenant_id",
                per_tenant_select(self.backend, "payments", "id", due, "next_check_at", chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(until).bind(now_ms).bind(per_tenant);
            for tenant in chunk {
                query = query.bind(tenant.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                claimed.push(payment_and_tenant(&row)?);
            }
        }
        Ok(claimed)
    }

    /// The ids of every configured tenant.
    pub async fn tenant_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM tenants").fetch_all(&self.pool).await?;
        ids.iter().map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
    }

    /// A tenant configuration.
    pub async fn tenant(&self, id: Uuid) -> Result<Option<StoredConfig>, StoreError> {
        self.config("tenants", "connector", id).await
    }

    /// A service configuration.
    pub async fn service(&self, id: Uuid) -> Result<Option<StoredConfig>, StoreError> {
        self.config("services", "tenant_id", id).await
    }

    async fn config(&self, table: &str, owner: &str, id: Uuid) -> Result<Option<StoredConfig>, StoreError> {
        let sql = format!("SELECT id, {owner} AS owner, config, active FROM {table} WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.map(|r| {
            let stored: String = r.try_get("config")?;
            let context = format!("{table}/{id}");
            let config = match &self.sealer {
                Some(sealer) => sealer.open(&stored, &context)?,
                None => sealed::open_without_key(&stored, &context)?,
            };
            let active: i64 = r.try_get("active")?;
            Ok(StoredConfig {
                id,
                owner: r.try_get("owner")?,
                config: serde_json::from_str(&config).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                active: active != 0,
            })
        })
        .transpose()
    }

    /// Creates or replaces a tenant configuration.
    pub async fn put_tenant(&self, config: &StoredConfig) -> Result<(), StoreError> {
        self.put_config("tenants", "connector", config).await
    }

    /// Creates or replaces a service configuration.
    pub async fn put_service(&self, config: &StoredConfig) -> Result<(), StoreError> {
        self.put_config("services", "tenant_id", config).await
    }

    async fn put_config(&self, table: &str, owner: &str, c: &StoredConfig) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {table} (id, {owner}, config, active, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET {owner} = excluded.{owner}, config = excluded.config, \
             active = excluded.active, updated_at = excluded.updated_at"
        );
        let config = match &self.sealer {
            Some(sealer) => sealer.seal(&c.config.to_string(), &format!("{table}/{}", c.id))?,
            None => c.config.to_string(),
        };
        sqlx::query(&sql)
            .bind(c.id.to_string())
            .bind(&c.owner)
            .bind(config)
            .bind(i64::from(c.active))
            .bind(Timestamp::now().millis())
            .execute(&self.pool)
            .await?;
        // Payments waiting for a configuration are looked at again at once.
        self.resume_waiting_creations(now_ms()).await?;
        Ok(())
    }
}

fn ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Uuid>, StoreError> {
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

fn log_records(rows: &[sqlx::any::AnyRow]) -> Result<Vec<LogRecord>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(LogRecord {
                id: r.try_get("id")?,
                topic: r.try_get("topic")?,
                key: r.try_get("msg_key")?,
                payload: r.try_get("payload")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

fn stored(row: &sqlx::any::AnyRow) -> Result<StoredPayment, StoreError> {
    let json: String = row.try_get("event")?;
    let version: i64 = row.try_get("version")?;
    let event = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("payment event: {e}")))?;
    Ok(StoredPayment { event, version })
}

/// When the core must be notified: now, for a `COMPLETE` or `PAYMENT_FAILED` payment with a
/// notify link not yet sent; never otherwise.
fn notify_due_of(event: &PaymentEvent) -> Option<Timestamp> {
    let notifiable = matches!(event.status, PaymentStatus::Complete | PaymentStatus::PaymentFailed);
    let unsent = event.links.notify.iter().flatten().any(|n| n.sent_at.is_none());
    (notifiable && unsent).then(Timestamp::now)
}

/// `next_check_at` as the poller index holds it: only for non-final payments.
fn next_check_of(event: &PaymentEvent) -> Option<Timestamp> {
    if event.status.is_final() { None } else { event.links.update.next_check_at }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_statements_number_their_parameters_in_order() {
        assert_eq!(multi_row("INSERT INTO t VALUES ", 2, ", 0", 2), "INSERT INTO t VALUES ($1, $2, 0), ($3, $4, 0)");
        assert_eq!(multi_row("X ", 1, "", 1), "X ($1)");
    }

    #[test]
    fn database_urls_lose_their_password_in_messages() {
        assert_eq!(redact_url("postgres://cassa:hunter2@db/cassa"), "postgres://cassa:***@db/cassa");
        assert_eq!(redact_url("sqlite://data/cassa.db"), "sqlite://data/cassa.db");
    }
}
