//! The connector registry's tables: artifacts stored content-addressed, every activation in
//! order (a name's active artifact is its latest activation), and the tenants and services
//! pinned to one artifact.
//!
//! Activating, pinning and removing an artifact each run in one transaction that first locks the
//! artifact (a row lock on PostgreSQL, the write lock on SQLite), so a removal cannot slip
//! between another host's check and its activation or pin.

use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::Timestamp;

/// A stored connector artifact, without its bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Artifact {
    /// sha256 of the component, lower-case hex.
    pub digest: String,
    /// The connector's name, from its `info()`.
    pub name: String,
    /// The connector's version, from its `info()`.
    pub version: String,
    /// Size of the component in bytes.
    pub size: i64,
    /// The publisher key that signed the digest, when signed.
    pub signed_by: Option<String>,
    /// When it was uploaded.
    pub uploaded_at: Timestamp,
}

/// One activation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Activation {
    /// Its place in the order of activations (every name together).
    pub id: i64,
    /// The connector's name.
    pub name: String,
    /// The artifact made active.
    pub digest: String,
    /// When.
    pub activated_at: Timestamp,
    /// `bundled`, `activate` or `rollback`.
    pub reason: String,
}

/// A tenant or service pinned to one artifact of its connector.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Pin {
    /// `tenant` or `service`.
    pub kind: String,
    /// The tenant's or service's id.
    pub id: String,
    /// The connector's name.
    pub name: String,
    /// The artifact its calls use.
    pub digest: String,
    /// When it was pinned.
    pub pinned_at: Timestamp,
}

/// What became of a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Deleted.
    Removed,
    /// There was no such artifact.
    Missing,
    /// It is the active version of its name.
    Active,
    /// Tenants or services are pinned to it (`kind:id` each).
    Pinned(Vec<String>),
}

fn time(row: &sqlx::any::AnyRow, column: &str) -> Result<Timestamp, StoreError> {
    let ms: i64 = row.try_get(column)?;
    Timestamp::from_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("registry time {ms}")))
}

fn artifact(row: &sqlx::any::AnyRow) -> Result<Artifact, StoreError> {
    Ok(Artifact {
        digest: row.try_get("digest")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        size: row.try_get("size")?,
        signed_by: row.try_get("signed_by")?,
        uploaded_at: time(row, "uploaded_at")?,
    })
}

fn activation(row: &sqlx::any::AnyRow) -> Result<Activation, StoreError> {
    Ok(Activation {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        digest: row.try_get("digest")?,
        activated_at: time(row, "activated_at")?,
        reason: row.try_get("reason")?,
    })
}

fn pin(row: &sqlx::any::AnyRow) -> Result<Pin, StoreError> {
    Ok(Pin {
        kind: row.try_get("kind")?,
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        digest: row.try_get("digest")?,
        pinned_at: time(row, "pinned_at")?,
    })
}

/// Locks the artifact `digest` for the rest of the transaction; false when it is not stored.
/// PostgreSQL: a row lock. SQLite: the database's write lock, taken by a write that changes
/// nothing (an update of the artifact would rewrite its whole component).
async fn lock_artifact(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: super::Backend,
    digest: &str,
) -> Result<bool, StoreError> {
    let sql = match backend {
        super::Backend::Postgres => "SELECT digest FROM connector_artifacts WHERE digest = $1 FOR UPDATE",
        super::Backend::Sqlite => {
            sqlx::query("DELETE FROM connector_pins WHERE 1 = 0").execute(&mut **tx).await?;
            "SELECT digest FROM connector_artifacts WHERE digest = $1"
        }
    };
    Ok(sqlx::query(sql).bind(digest).fetch_optional(&mut **tx).await?.is_some())
}

const ARTIFACT: &str = "digest, name, version, size, signed_by, uploaded_at";

impl Store {
    /// Stores an artifact; false when one with its digest is stored already (nothing changes).
    pub async fn put_artifact(&self, artifact: &Artifact, wasm: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO connector_artifacts (digest, name, version, wasm, size, signed_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&artifact.digest)
        .bind(&artifact.name)
        .bind(&artifact.version)
        .bind(wasm.to_vec())
        .bind(artifact.size)
        .bind(artifact.signed_by.as_deref())
        .bind(artifact.uploaded_at.millis())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the publisher of the artifact `digest`, stored unsigned before.
    pub async fn sign_artifact(&self, digest: &str, signed_by: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE connector_artifacts SET signed_by = $1 WHERE digest = $2 AND signed_by IS NULL")
            .bind(signed_by)
            .bind(digest)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The artifact `digest`.
    pub async fn artifact(&self, digest: &str) -> Result<Option<Artifact>, StoreError> {
        let sql = format!("SELECT {ARTIFACT} FROM connector_artifacts WHERE digest = $1");
        let row = sqlx::query(&sql).bind(digest).fetch_optional(self.pool()).await?;
        row.as_ref().map(artifact).transpose()
    }

    /// The bytes of the artifact `digest`.
    pub async fn artifact_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT wasm FROM connector_artifacts WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get::<Vec<u8>, _>("wasm")).transpose()?)
    }

    /// Every stored artifact, by name, oldest upload first.
    pub async fn artifacts(&self) -> Result<Vec<Artifact>, StoreError> {
        let sql = format!("SELECT {ARTIFACT} FROM connector_artifacts ORDER BY name, uploaded_at, digest");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(artifact).collect()
    }

    /// Deletes the artifact `digest` of `name` unless it is the name's active version or pinned.
    pub async fn remove_artifact(&self, name: &str, digest: &str) -> Result<Removal, StoreError> {
        let mut tx = self.pool().begin().await?;
        if !lock_artifact(&mut tx, self.backend(), digest).await? {
            return Ok(Removal::Missing);
        }
        let active: Option<String> =
            sqlx::query("SELECT digest FROM connector_activations WHERE name = $1 ORDER BY id DESC LIMIT 1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("digest"))
                .transpose()?;
        if active.as_deref() == Some(digest) {
            return Ok(Removal::Active);
        }
        let pinned = sqlx::query("SELECT kind, id FROM connector_pins WHERE digest = $1 ORDER BY kind, id")
            .bind(digest)
            .fetch_all(&mut *tx)
            .await?;
        if !pinned.is_empty() {
            let subjects = pinned
                .iter()
                .map(|r| Ok(format!("{}:{}", r.try_get::<String, _>("kind")?, r.try_get::<String, _>("id")?)))
                .collect::<Result<_, StoreError>>()?;
            return Ok(Removal::Pinned(subjects));
        }
        sqlx::query("DELETE FROM connector_artifacts WHERE digest = $1").bind(digest).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Removal::Removed)
    }

    /// Records that `digest` is now the active artifact of `name`; false when it is not stored
    /// (removed meanwhile).
    pub async fn activate_artifact(&self, name: &str, digest: &str, reason: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        if !lock_artifact(&mut tx, self.backend(), digest).await? {
            return Ok(false);
        }
        sqlx::query("INSERT INTO connector_activations (name, digest, activated_at, reason) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(digest)
            .bind(Timestamp::now().millis())
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Pins the tenant or service `kind`/`id` to the artifact `digest` of `name`, replacing its
    /// pin if it had one; false when the artifact is not stored (removed meanwhile).
    pub async fn pin_artifact(&self, kind: &str, id: &str, name: &str, digest: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        if !lock_artifact(&mut tx, self.backend(), digest).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO connector_pins (kind, id, name, digest, pinned_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind, id) DO UPDATE SET name = excluded.name, digest = excluded.digest, pinned_at = excluded.pinned_at",
        )
        .bind(kind)
        .bind(id)
        .bind(name)
        .bind(digest)
        .bind(Timestamp::now().millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the pin of `kind`/`id` to a version of `name`; the pin there was.
    pub async fn unpin_artifact(&self, kind: &str, id: &str, name: &str) -> Result<Option<Pin>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM connector_pins WHERE kind = $1 AND id = $2 AND name = $3 \
             RETURNING kind, id, name, digest, pinned_at",
        )
        .bind(kind)
        .bind(id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(pin).transpose()
    }

    /// Every pin, by kind and id.
    pub async fn pins(&self) -> Result<Vec<Pin>, StoreError> {
        let rows = sqlx::query("SELECT kind, id, name, digest, pinned_at FROM connector_pins ORDER BY kind, id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(pin).collect()
    }

    /// The active artifact of every name: each name's latest activation.
    pub async fn active_artifacts(&self) -> Result<Vec<Activation>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, a.digest, a.activated_at, a.reason FROM connector_activations a \
             JOIN (SELECT name, MAX(id) AS id FROM connector_activations GROUP BY name) latest ON a.id = latest.id \
             ORDER BY a.name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(activation).collect()
    }

    /// The activations of `name`, newest first.
    pub async fn activations(&self, name: &str) -> Result<Vec<Activation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, digest, activated_at, reason FROM connector_activations WHERE name = $1 ORDER BY id DESC",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(activation).collect()
    }
}
