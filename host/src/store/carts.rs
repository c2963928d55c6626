//! pagoPA Checkout carts, and the host's own settings shared by replicas (the link key).

use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::Timestamp;
use crate::domain::cart::{CartStatus, Locale};

/// A cart as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCart {
    /// Its unguessable id (`idCart`).
    pub id: String,
    /// Its payments, in the order the citizen saw them.
    pub payment_ids: Vec<Uuid>,
    /// Where it stands.
    pub status: CartStatus,
    /// pagoPA's page for it, once pagoPA answered.
    pub checkout_url: Option<String>,
    /// Why it is in its status, when there is more to say.
    pub note: Option<String>,
    /// The language of its pages.
    pub locale: Locale,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    /// Records a new cart.
    pub async fn insert_cart(&self, cart: &StoredCart) -> Result<(), StoreError> {
        let ids = serde_json::to_string(&cart.payment_ids).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO carts (id, payment_ids, status, checkout_url, note, locale, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&cart.id)
        .bind(ids)
        .bind(cart.status.as_str())
        .bind(cart.checkout_url.as_deref())
        .bind(cart.note.as_deref())
        .bind(cart.locale.as_str())
        .bind(cart.created_at.millis())
        .bind(cart.updated_at.millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The cart `id`.
    pub async fn cart(&self, id: &str) -> Result<Option<StoredCart>, StoreError> {
        let row = sqlx::query(
            "SELECT id, payment_ids, status, checkout_url, note, locale, created_at, updated_at FROM carts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let ids: String = row.try_get("payment_ids")?;
        let status: String = row.try_get("status")?;
        let locale: String = row.try_get("locale")?;
        let time = |column: &str| -> Result<Timestamp, StoreError> {
            let ms: i64 = row.try_get(column)?;
            Timestamp::from_millis(ms).ok_or_else(|| corrupt(format!("cart time {ms}")))
        };
        Ok(Some(StoredCart {
            id: row.try_get("id")?,
            payment_ids: serde_json::from_str(&ids).map_err(corrupt)?,
            status: CartStatus::parse(&status).ok_or_else(|| corrupt(format!("cart status `{status}`")))?,
            checkout_url: row.try_get("checkout_url")?,
            note: row.try_get("note")?,
            locale: Locale::parse(&locale).unwrap_or_default(),
            created_at: time("created_at")?,
            updated_at: time("updated_at")?,
        }))
    }

    /// Moves cart `id` from `from` to `to` with `note`; `false` when it was no longer in `from`
    /// (another request moved it first).
    pub async fn move_cart(
        &self,
        id: &str,
        from: CartStatus,
        to: CartStatus,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE carts SET status = $1, note = $2, updated_at = $3 WHERE id = $4 AND status = $5")
                .bind(to.as_str())
                .bind(note)
                .bind(Timestamp::now().millis())
                .bind(id)
                .bind(from.as_str())
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records pagoPA's answer to cart `id`: its status, its page and why.
    pub async fn answer_cart(
        &self,
        id: &str,
        status: CartStatus,
        checkout_url: Option<&str>,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE carts SET status = $1, checkout_url = $2, note = $3, updated_at = $4 WHERE id = $5")
            .bind(status.as_str())
            .bind(checkout_url)
            .bind(note)
            .bind(Timestamp::now().millis())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The newest cart of exactly `payment` alone still at Checkout and made after `since`:
    /// `/online-payment` sends the citizen there again rather than opening another.
    pub async fn open_cart_of(&self, payment: Uuid, since: Timestamp) -> Result<Option<StoredCart>, StoreError> {
        let ids = serde_json::to_string(&[payment]).map_err(corrupt)?;
        let row = sqlx::query(
            "SELECT id FROM carts WHERE payment_ids = $1 AND status = 'redirected' AND checkout_url IS NOT NULL \
             AND created_at > $2 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(ids)
        .bind(since.millis())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => self.cart(&row.try_get::<String, _>("id")?).await,
            None => Ok(None),
        }
    }

    /// Whether a cart other than `cart`, made after it, holds `payment` and may still be paid:
    /// leaving `cart` must not make that payment payable again.
    pub async fn newer_live_cart(&self, payment: Uuid, cart: &StoredCart) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM carts WHERE id <> $1 AND created_at >= $2 AND payment_ids LIKE $3 \
             AND status IN ('redirected', 'waiting', 'ok')",
        )
        .bind(&cart.id)
        .bind(cart.created_at.millis())
        .bind(format!("%{payment}%"))
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Carts by status, for metrics and operators.
    pub async fn count_carts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM carts GROUP BY status ORDER BY status")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("status")?, r.try_get("n")?))).collect()
    }

    /// The host setting `name`, made with `make` and stored by the first replica that asks; every
    /// replica sharing the database reads the same value.
    pub async fn host_setting(&self, name: &str, make: impl FnOnce() -> String) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO host_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(make())
            .execute(self.pool())
            .await?;
        let row =
            sqlx::query("SELECT value FROM host_settings WHERE name = $1").bind(name).fetch_one(self.pool()).await?;
        Ok(row.try_get("value")?)
    }
}
