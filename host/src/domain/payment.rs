//! The payment event, format 2.0 (DOMAIN.md §2): the full current state of one payment, as it
//! travels on the `payments` topic and as the API returns it.
//!
//! Inside cassa money is integer cents and time is UTC; at the edge amounts are JSON numbers in
//! euros and datetimes are ISO 8601 with offset and whole seconds. Unknown fields are ignored
//! (the core's relay adds some); [`PaymentEvent::rule_violations`] checks the field rules.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The only event version cassa reads and writes.
pub const EVENT_VERSION: &str = "2.0";

/// A point in time, UTC inside, ISO 8601 with offset and whole seconds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to whole seconds.
    pub fn now() -> Self {
        Self::from_utc(Utc::now())
    }

    /// A UTC time truncated to whole seconds.
    pub fn from_utc(time: DateTime<Utc>) -> Self {
        Self(DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time))
    }

    /// Parses ISO 8601 / RFC 3339 with an offset.
    pub fn parse(text: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(text.trim())
            .map(|t| Self::from_utc(t.with_timezone(&Utc)))
            .map_err(|e| format!("`{text}` is not an ISO 8601 datetime with offset: {e}"))
    }

    /// Milliseconds since the epoch, for storage and ordering.
    pub fn millis(&self) -> i64 {
        self.0.timestamp_millis()
    }

    /// From milliseconds since the epoch.
    pub fn from_millis(millis: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(millis).map(Self::from_utc)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `+00:00` rather than `Z`: older ISO parsers on the core side accept only the former.
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, false))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("ISO 8601 with offset, whole seconds"))
            .examples(["2026-11-28T16:20:00+00:00"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An amount of money: cents inside, a JSON number of euros (`16.5`) on the wire; strings of
/// euros are accepted on the way in, rounded half-up to cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub u64);

impl Amount {
    /// Largest amount with 12 digits (10 before the point, 2 after).
    pub const MAX_CENTS: u64 = 999_999_999_999;

    /// Euros as a float, for JSON.
    pub fn euros(&self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.euros())
    }
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .maximum(Some(9_999_999_999.99))
            .description(Some("Euros, at most two decimals (16.5 is € 16,50); a decimal string is accepted too"))
            .examples([16.5])
            .into()
    }
}

impl utoipa::ToSchema for Amount {}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => {
                let value = n.as_f64().ok_or_else(|| serde::de::Error::custom("amount is not a number"))?;
                cassa_sdk::money::from_f64_euros(value).map(Amount).map_err(serde::de::Error::custom)
            }
            serde_json::Value::String(s) => cassa_sdk::money::parse_euros_rounded(&s.replace(',', "."))
                .map(Amount)
                .map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!("amount must be a number, got {other}"))),
        }
    }
}

/// The statuses of a payment (DOMAIN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Waiting to be created at the intermediary.
    CreationPending,
    /// Creation failed (final).
    CreationFailed,
    /// Created, waiting for the citizen.
    PaymentPending,
    /// The citizen started paying.
    PaymentStarted,
    /// In the enum, not used.
    PaymentConfirmed,
    /// Failed (final).
    PaymentFailed,
    /// In the enum, not used.
    NotificationPending,
    /// Paid (final).
    Complete,
    /// Expired (final).
    Expired,
    /// Annulled (final).
    Canceled,
}

impl PaymentStatus {
    /// Whether no further change can happen.
    pub fn is_final(self) -> bool {
        matches!(self, Self::CreationFailed | Self::PaymentFailed | Self::Complete | Self::Expired | Self::Canceled)
    }

    /// The wire name, e.g. `PAYMENT_PENDING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreationPending => "CREATION_PENDING",
            Self::CreationFailed => "CREATION_FAILED",
            Self::PaymentPending => "PAYMENT_PENDING",
            Self::PaymentStarted => "PAYMENT_STARTED",
            Self::PaymentConfirmed => "PAYMENT_CONFIRMED",
            Self::PaymentFailed => "PAYMENT_FAILED",
            Self::NotificationPending => "NOTIFICATION_PENDING",
            Self::Complete => "COMPLETE",
            Self::Expired => "EXPIRED",
            Self::Canceled => "CANCELED",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    /// Whether the state diagram allows `self → next` (DOMAIN.md §3, plus the team's choices:
    /// `PAYMENT_STARTED → PAYMENT_PENDING` when a citizen abandons the checkout, and
    /// `PAYMENT_STARTED → CANCELED`).
    pub fn can_become(self, next: Self) -> bool {
        use PaymentStatus::*;
        matches!(
            (self, next),
            (CreationPending, CreationFailed | PaymentPending)
                | (PaymentPending, PaymentStarted | Complete | Expired | Canceled | PaymentFailed)
                | (PaymentStarted, Complete | Expired | PaymentPending | Canceled | PaymentFailed)
        )
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HTTP methods of links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub enum Method {
    /// GET.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// POST.
    #[serde(rename = "POST")]
    Post,
    /// PUT.
    #[serde(rename = "PUT")]
    Put,
    /// PATCH.
    #[serde(rename = "PATCH")]
    Patch,
    /// DELETE.
    #[serde(rename = "DELETE")]
    Delete,
}

/// A citizen-facing link: `{url, last_opened_at, method}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Link {
    /// Where it points; null until set.
    pub url: Option<String>,
    /// When the citizen last used it.
    pub last_opened_at: Option<Timestamp>,
    /// HTTP method.
    pub method: Option<Method>,
}

impl Link {
    /// A GET link to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self { url: Some(url.into()), last_opened_at: None, method: Some(Method::Get) }
    }

    /// A GET link without URL yet.
    pub fn empty() -> Self {
        Self { url: None, last_opened_at: None, method: Some(Method::Get) }
    }
}

/// The core's notify endpoint: `{url, method, sent_at}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotifyLink {
    /// The core's `…/api/applications/{id}/payment`.
    pub url: String,
    /// `POST`.
    pub method: Method,
    /// When the outcome was delivered.
    pub sent_at: Option<Timestamp>,
}

/// The poller's link: `{url, last_check_at, next_check_at, method}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct UpdateLink {
    /// cassa's `/update/{id}`.
    pub url: Option<String>,
    /// When the status was last checked.
    pub last_check_at: Option<Timestamp>,
    /// When it is checked next; null when no more checks will happen.
    pub next_check_at: Option<Timestamp>,
    /// HTTP method.
    pub method: Option<Method>,
}

/// All links of a payment (DOMAIN.md §2.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Links {
    /// cassa's `/online-payment/{id}`.
    #[serde(default)]
    pub online_payment_begin: Link,
    /// The core page of the application.
    #[serde(default)]
    pub online_payment_landing: Link,
    /// cassa's `/notice/{id}` (the PDF notice).
    #[serde(default)]
    pub offline_payment: Link,
    /// cassa's `/receipt/{id}`.
    #[serde(default)]
    pub receipt: Link,
    /// The core's notify endpoints.
    #[serde(default)]
    pub notify: Option<Vec<NotifyLink>>,
    /// cassa's `/update/{id}` and the poll schedule.
    #[serde(default)]
    pub update: UpdateLink,
    /// Reserved.
    #[serde(default)]
    pub confirm: Link,
    /// Reserved.
    #[serde(default)]
    pub cancel: Link,
}

/// Person or legal entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartyType {
    /// A person.
    Human,
    /// A company or body.
    Legal,
}

/// The payer or the debtor (DOMAIN.md §2.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Party {
    /// Person or legal entity.
    #[serde(rename = "type")]
    pub kind: PartyType,
    /// Codice fiscale or partita IVA.
    pub tax_identification_number: String,
    /// Given name or company name.
    pub name: String,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Street.
    #[serde(default)]
    pub street_name: Option<String>,
    /// House number.
    #[serde(default)]
    pub building_number: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Town.
    #[serde(default)]
    pub town_name: Option<String>,
    /// Province (two letters).
    #[serde(default)]
    pub country_subdivision: Option<String>,
    /// ISO 3166 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
}

/// The beneficiary of a payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Receiver {
    /// Fiscal code of the creditor body.
    pub tax_identification_number: String,
    /// Its name.
    pub name: String,
    /// IBAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    /// Address and the rest, kept as they come.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// One share of the amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Split {
    /// Accounting code.
    pub code: String,
    /// Amount of the share; null allowed.
    pub amount: Option<Amount>,
    /// Free metadata.
    #[serde(default)]
    pub meta: serde_json::Value,
}

/// The `payment` block (DOMAIN.md §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentData {
    /// Receipt id of the executed payment.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// When it was paid.
    #[serde(default)]
    pub paid_at: Option<Timestamp>,
    /// Due date.
    #[serde(default)]
    pub expire_at: Option<Timestamp>,
    /// Amount in euros on the wire.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// Always `EUR`.
    pub currency: String,
    /// `PAGOPA` or `STAMP`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The 18-digit notice code.
    #[serde(default)]
    pub notice_code: Option<String>,
    /// The creditor's debt id: the payment id as 32 hex characters.
    pub iud: String,
    /// The IUV.
    #[serde(default)]
    pub iuv: Option<String>,
    /// Beneficiary.
    #[serde(default)]
    pub receiver: Option<Receiver>,
    /// Kind of due.
    #[serde(default)]
    pub due_type: Option<String>,
    /// pagoPA taxonomy code.
    #[serde(default)]
    pub pagopa_category: Option<String>,
    /// `{id?, ref?, hash}`.
    #[serde(default)]
    pub document: Option<serde_json::Value>,
    /// Shares; may be empty.
    #[serde(default)]
    pub split: Vec<Split>,
}

/// A payment event, version 2.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentEvent {
    /// Payment id.
    pub id: Uuid,
    /// The core user owning the application.
    pub user_id: Uuid,
    /// `PAGOPA`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The municipality.
    pub tenant_id: Uuid,
    /// The core service.
    pub service_id: Uuid,
    /// Creation of the payment; base of the poll schedule.
    pub created_at: Timestamp,
    /// Time of this state.
    pub updated_at: Timestamp,
    /// Status.
    pub status: PaymentStatus,
    /// Causale (≤ 140).
    #[serde(default)]
    pub reason: Option<String>,
    /// The originating application.
    pub remote_id: Uuid,
    /// The payment block.
    pub payment: PaymentData,
    /// The links.
    pub links: Links,
    /// Who pays.
    pub payer: Party,
    /// Who owes, when not the payer.
    #[serde(default)]
    pub debtor: Option<Party>,
    /// Language.
    #[serde(default)]
    pub locale: Option<String>,
    /// New for every event.
    pub event_id: Uuid,
    /// `2.0`.
    pub event_version: String,
    /// When the event was written.
    pub event_created_at: Timestamp,
    /// Writer, `<component>:<version>`.
    pub app_id: String,
}

/// The `app_id` of events cassa writes from `component`, e.g. `cassa-proxy:0.1.0`.
pub fn app_id(component: &str) -> String {
    format!("cassa-{component}:{}", env!("CARGO_PKG_VERSION"))
}

fn is_uuid_text(text: &str) -> bool {
    Uuid::parse_str(text).is_ok()
}

impl PaymentEvent {
    /// Whether `event_version` reads as 2.0 (the sdk accepts any string whose float value is 2).
    pub fn version_is_supported(version: &str) -> bool {
        version.trim().parse::<f64>().is_ok_and(|v| v == 2.0)
    }

    /// Parses a payment event from JSON, checking the version first.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let version = match value.get("event_version") {
            Some(serde_json::Value::String(v)) => v.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err("event_version is missing".into()),
        };
        if !Self::version_is_supported(&version) {
            return Err(format!("event_version {version} is not supported (only 2.0)"));
        }
        serde_json::from_value(value).map_err(|e| format!("not a payment event 2.0: {e}"))
    }

    /// Every way this event breaks the field rules of DOMAIN.md; empty when it keeps them all.
    pub fn rule_violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |ok: bool, message: &str| {
            if !ok {
                v.push(message.to_owned());
            }
        };
        check(self.kind == "PAGOPA", "type must be PAGOPA");
        check(self.event_version == EVENT_VERSION, "event_version must be 2.0");
        check(!self.app_id.is_empty() && self.app_id.chars().count() <= 100, "app_id must be 1-100 characters");
        check(self.app_id.contains(':'), "app_id must be <component>:<version>");
        check(self.reason.as_ref().is_none_or(|r| r.chars().count() <= 140), "reason must be at most 140 characters");
        check(self.updated_at >= self.created_at, "updated_at must not precede created_at");
        let p = &self.payment;
        check(p.currency == "EUR", "payment.currency must be EUR");
        check(!p.iud.is_empty() && p.iud.len() <= 50, "payment.iud must be 1-50 characters");
        check(p.amount.is_none_or(|a| a.0 <= Amount::MAX_CENTS), "payment.amount has more than 12 digits");
        check(p.kind.as_deref().is_none_or(|k| k == "PAGOPA" || k == "STAMP"), "payment.type must be PAGOPA or STAMP");
        check(p.transaction_id.as_ref().is_none_or(|t| t.len() <= 255), "payment.transaction_id is too long");
        check(p.iuv.as_ref().is_none_or(|i| i.len() <= 50), "payment.iuv is too long");
        if let Some(nav) = &p.notice_code {
            check(
                cassa_sdk::iuv::parse_notice_code(nav).is_ok(),
                "payment.notice_code is not a valid 18-digit notice code",
            );
            if let (Ok(iuv), Some(given)) = (cassa_sdk::iuv::iuv_from_notice_code(nav), &p.iuv) {
                check(&iuv == given, "payment.iuv does not match payment.notice_code");
            }
        }
        if let Some(amount) = p.amount
            && !p.split.is_empty()
            && p.split.iter().all(|s| s.amount.is_some())
        {
            let sum: u64 = p.split.iter().filter_map(|s| s.amount.map(|a| a.0)).sum();
            check(sum == amount.0 || sum == 100, "payment.split amounts must add up to the amount (or to 1.00)");
        }
        let needs_position = matches!(
            self.status,
            PaymentStatus::PaymentPending | PaymentStatus::PaymentStarted | PaymentStatus::Complete
        );
        if needs_position {
            check(p.iuv.is_some() && p.notice_code.is_some(), "a created payment must carry iuv and notice_code");
            let l = &self.links;
            check(l.online_payment_begin.url.is_some(), "links.online_payment_begin.url must be set once created");
            check(l.offline_payment.url.is_some(), "links.offline_payment.url must be set once created");
            check(l.update.url.is_some(), "links.update.url must be set once created");
        }
        if self.status == PaymentStatus::CreationPending {
            check(
                p.iuv.is_none() && p.notice_code.is_none(),
                "a CREATION_PENDING payment has no iuv or notice_code yet",
            );
        }
        if self.status == PaymentStatus::Complete {
            check(p.paid_at.is_some(), "a COMPLETE payment must carry paid_at");
            check(p.transaction_id.is_some(), "a COMPLETE payment must carry transaction_id");
        }
        if self.status.is_final() {
            check(self.links.update.next_check_at.is_none(), "a final payment has no next_check_at");
        }
        for notify in self.links.notify.iter().flatten() {
            check(notify.method == Method::Post, "links.notify[].method must be POST");
            check(notify.url.starts_with("http"), "links.notify[].url must be an URL");
        }
        check(!self.payer.tax_identification_number.is_empty(), "payer.tax_identification_number is required");
        check(!self.payer.name.is_empty(), "payer.name is required");
        check(is_uuid_text(&self.id.to_string()), "id must be a UUID");
        v
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const PENDING: &str = include_str!("../../../tests/examples/payment_pending.json");
    const CREATION_PENDING: &str = include_str!("../../../tests/examples/payment_creation_pending.json");
    const COMPLETE: &str = include_str!("../../../tests/examples/payment_complete.json");

    #[test]
    fn the_example_events_parse_and_keep_every_rule() {
        for (name, text) in [("pending", PENDING), ("creation pending", CREATION_PENDING), ("complete", COMPLETE)] {
            let event = PaymentEvent::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(event.rule_violations(), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn round_trips_amounts_times_and_statuses() {
        let event = PaymentEvent::from_json(PENDING.as_bytes()).unwrap();
        assert_eq!(event.status, PaymentStatus::PaymentPending);
        assert_eq!(event.payment.amount, Some(Amount(1000)));
        assert_eq!(event.created_at.to_string(), "2025-03-10T09:15:01+00:00");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["payment"]["amount"], serde_json::json!(10.0));
        assert_eq!(json["status"], "PAYMENT_PENDING");
        let again: PaymentEvent = serde_json::from_value(json).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn rejects_other_event_versions() {
        let mut value: serde_json::Value = serde_json::from_str(PENDING).unwrap();
        value["event_version"] = "1.0".into();
        let err = PaymentEvent::from_json(value.to_string().as_bytes()).unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        value["event_version"] = "2".into();
        assert!(PaymentEvent::from_json(value.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn flags_broken_field_rules() {
        let mut event = PaymentEvent::from_json(PENDING.as_bytes()).unwrap();
        event.payment.notice_code = Some("311111111112222222".into());
        event.reason = Some("x".repeat(141));
        event.payment.currency = "USD".into();
        let violations = event.rule_violations();
        assert!(violations.iter().any(|v| v.contains("notice_code")), "{violations:?}");
        assert!(violations.iter().any(|v| v.contains("reason")), "{violations:?}");
        assert!(violations.iter().any(|v| v.contains("currency")), "{violations:?}");
    }

    #[test]
    fn statuses_follow_the_state_diagram() {
        use PaymentStatus::*;
        assert!(CreationPending.can_become(PaymentPending));
        assert!(PaymentPending.can_become(Complete));
        assert!(!Complete.can_become(PaymentPending));
        assert!(!CreationFailed.can_become(PaymentPending));
        assert!(Complete.is_final() && Canceled.is_final() && !PaymentStarted.is_final());
    }

    #[test]
    fn amounts_accept_numbers_and_strings() {
        let a: Amount = serde_json::from_str("16.5").unwrap();
        assert_eq!(a, Amount(1650));
        let a: Amount = serde_json::from_str("\"10\"").unwrap();
        assert_eq!(a, Amount(1000));
        let a: Amount = serde_json::from_str("\"1,005\"").unwrap();
        assert_eq!(a, Amount(101));
        assert!(serde_json::from_str::<Amount>("-0.01").is_err());
    }
}
