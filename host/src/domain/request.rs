//! The payments API's request: what an external system (or a CSV row) sends to create a
//! payment directly, and its validation into a `CREATION_PENDING` payment event — the same
//! event the dispatcher makes from an application.

use serde::Deserialize;
use uuid::Uuid;

use super::application::payment_id_for;
use super::payment::{
    Amount, EVENT_VERSION, Link, Links, Method, NotifyLink, Party, PaymentData, PaymentEvent, PaymentStatus, Receiver,
    Split, Timestamp, UpdateLink, app_id,
};

/// A request to create one payment (`POST /payments`, one element of `/payments/bulk`, one CSV
/// row of `/payments/import`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The id of what the payment is for (an application, a tax notice …); one payment per
    /// `remote_id`, so sending the same request twice creates one payment.
    pub remote_id: Uuid,
    /// The municipality.
    pub tenant_id: Uuid,
    /// The service.
    pub service_id: Uuid,
    /// The core user, when there is one.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Causale shown to the payer (at most 140 characters).
    pub reason: String,
    /// Amount in euros: a number or a decimal string.
    pub amount: Amount,
    /// Due date, ISO 8601 with offset.
    pub expire_at: Timestamp,
    /// Who pays.
    pub payer: Party,
    /// Who owes, when not the payer.
    #[serde(default)]
    pub debtor: Option<Party>,
    /// Shares of the amount.
    #[serde(default)]
    pub split: Vec<Split>,
    /// Where to tell the outcome (the core's notify endpoint).
    #[serde(default)]
    pub notify_url: Option<String>,
    /// Where the citizen goes back to after paying.
    #[serde(default)]
    pub landing_url: Option<String>,
    /// The beneficiary, when not the tenant.
    #[serde(default)]
    pub receiver: Option<Receiver>,
    /// pagoPA taxonomy code.
    #[serde(default)]
    pub pagopa_category: Option<String>,
    /// Kind of due, e.g. `TARI`.
    #[serde(default)]
    pub due_type: Option<String>,
    /// Language of the payer.
    #[serde(default)]
    pub locale: Option<String>,
}

fn url_ok(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

impl PaymentRequest {
    /// The `CREATION_PENDING` event of this request at `now`, or every problem found.
    pub fn into_event(self, now: Timestamp) -> Result<PaymentEvent, Vec<String>> {
        let mut problems = Vec::new();
        if self.reason.trim().is_empty() {
            problems.push("reason is required".to_owned());
        }
        if self.reason.chars().count() > 140 {
            problems.push("reason must be at most 140 characters".to_owned());
        }
        if self.amount.0 == 0 {
            problems.push("amount must be greater than zero".to_owned());
        }
        if self.amount.0 > Amount::MAX_CENTS {
            problems.push("amount has more than 12 digits".to_owned());
        }
        if self.payer.tax_identification_number.trim().is_empty() || self.payer.name.trim().is_empty() {
            problems.push("payer.tax_identification_number and payer.name are required".to_owned());
        }
        for (field, url) in [("notify_url", &self.notify_url), ("landing_url", &self.landing_url)] {
            if url.as_deref().is_some_and(|u| !url_ok(u)) {
                problems.push(format!("{field} must be an http(s) URL"));
            }
        }
        if !self.split.is_empty() && self.split.iter().all(|s| s.amount.is_some()) {
            let sum: u64 = self.split.iter().filter_map(|s| s.amount.map(|a| a.0)).sum();
            if sum != self.amount.0 && sum != 100 {
                problems.push("split amounts must add up to the amount".to_owned());
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let id = payment_id_for(self.remote_id);
        Ok(PaymentEvent {
            id,
            user_id: self.user_id.unwrap_or(Uuid::nil()),
            kind: "PAGOPA".into(),
            tenant_id: self.tenant_id,
            service_id: self.service_id,
            created_at: now,
            updated_at: now,
            status: PaymentStatus::CreationPending,
            reason: Some(self.reason),
            remote_id: self.remote_id,
            payment: PaymentData {
                transaction_id: None,
                paid_at: None,
                expire_at: Some(self.expire_at),
                amount: Some(self.amount),
                currency: "EUR".into(),
                kind: Some("PAGOPA".into()),
                notice_code: None,
                iud: id.simple().to_string(),
                iuv: None,
                receiver: self.receiver,
                due_type: self.due_type,
                pagopa_category: self.pagopa_category,
                document: None,
                split: self.split,
            },
            links: Links {
                online_payment_begin: Link::empty(),
                online_payment_landing: self.landing_url.map(Link::get).unwrap_or_else(Link::empty),
                offline_payment: Link::empty(),
                receipt: Link::empty(),
                notify: self.notify_url.map(|url| vec![NotifyLink { url, method: Method::Post, sent_at: None }]),
                update: UpdateLink { method: Some(Method::Get), ..UpdateLink::default() },
                confirm: Link::default(),
                cancel: Link::default(),
            },
            payer: self.payer,
            debtor: self.debtor,
            locale: self.locale,
            event_id: Uuid::new_v4(),
            event_version: EVENT_VERSION.into(),
            event_created_at: now,
            app_id: app_id("payments-api"),
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn request() -> serde_json::Value {
        serde_json::json!({
            "remote_id": "3c819c1d-6587-448d-8ba4-3b6f23e87ed4",
            "tenant_id": "60e35f02-1509-408c-b101-3b1a28109329",
            "service_id": "df171f10-bea7-4701-afd5-797693fd3b08",
            "reason": "TARI 2026 - rata unica",
            "amount": "120.50",
            "expire_at": "2026-12-31T23:59:59+01:00",
            "payer": {"type": "human", "tax_identification_number": "CLNVTR76P01G822Q", "name": "Vittorino", "family_name": "Coliandro"},
            "notify_url": "https://core.example/api/applications/x/payment"
        })
    }

    #[test]
    fn a_valid_request_becomes_a_creation_pending_payment() {
        let req: PaymentRequest = serde_json::from_value(request()).unwrap();
        let event = req.into_event(Timestamp::now()).unwrap();
        assert_eq!(event.status, PaymentStatus::CreationPending);
        assert_eq!(event.payment.amount, Some(Amount(12050)));
        assert_eq!(event.id, payment_id_for(event.remote_id));
        assert_eq!(event.rule_violations(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported() {
        let mut value = request();
        value["reason"] = "".into();
        value["amount"] = 0.into();
        value["notify_url"] = "ftp://x".into();
        let req: PaymentRequest = serde_json::from_value(value).unwrap();
        let problems = req.into_event(Timestamp::now()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut value = request();
        value["amout"] = 1.into();
        assert!(serde_json::from_value::<PaymentRequest>(value).is_err());
    }
}
