//! The connector registry's tables: artifacts stored content-addressed, and every activation in
//! order (a name's active artifact is its latest activation).

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

    /// Deletes the artifact `digest`; false when there was none.
    pub async fn remove_artifact(&self, digest: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM connector_artifacts WHERE digest = $1").bind(digest).execute(self.pool()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that `digest` is now the active artifact of `name`.
    pub async fn activate_artifact(&self, name: &str, digest: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO connector_activations (name, digest, activated_at, reason) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(digest)
            .bind(Timestamp::now().millis())
            .bind(reason)
            .execute(self.pool())
            .await?;
        Ok(())
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
