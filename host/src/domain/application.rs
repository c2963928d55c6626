//! The application event (DOMAIN.md §4) and the dispatcher's decision (§6): which application
//! events become a `CREATION_PENDING` payment, which are skipped and which are malformed.
//!
//! Pure: no I/O, no clock (the caller passes `now`), so every rule is unit-tested.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::payment::{
    Amount, EVENT_VERSION, Link, Links, Method, NotifyLink, Party, PartyType, PaymentData, PaymentEvent, PaymentStatus,
    Split, Timestamp, UpdateLink, app_id,
};

/// Namespace of the payment ids cassa derives from application ids (UUID v5), so a re-delivered
/// application always maps to the same payment.
pub const PAYMENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6361_7373_612d_7061_796d_656e_7473_0001);

/// The payment id of an application.
pub fn payment_id_for(application_id: Uuid) -> Uuid {
    Uuid::new_v5(&PAYMENT_ID_NAMESPACE, application_id.as_bytes())
}

/// What the dispatcher does with one application event.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatch {
    /// Not for the dispatcher (another status or version): skip, not an error.
    Skip(String),
    /// Malformed: goes to the DLQ with this reason.
    Reject(String),
    /// Create this payment (unless one exists for the application).
    Create(Box<PaymentEvent>),
}

fn uuid_field(object: &Map<String, Value>, field: &str, errors: &mut Vec<String>) -> Uuid {
    match object.get(field).and_then(Value::as_str).map(Uuid::parse_str) {
        Some(Ok(id)) => id,
        Some(Err(_)) => {
            errors.push(format!("{field} is not a UUID"));
            Uuid::nil()
        }
        None => {
            errors.push(format!("{field} is missing"));
            Uuid::nil()
        }
    }
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn version_is_2(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Number(n)) => n.as_f64().is_some_and(|v| v.trunc() == 2.0),
        Some(Value::String(s)) => s.trim().split('.').next().is_some_and(|major| major == "2"),
        _ => false,
    }
}

fn amount(value: &Value) -> Result<Amount, String> {
    serde_json::from_value::<Amount>(value.clone()).map_err(|e| format!("invalid amount {value}: {e}"))
}

fn splits(value: Option<&Value>) -> Result<Vec<Split>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let code = item
                    .get("code")
                    .and_then(|c| c.as_str().map(str::to_owned).or_else(|| c.as_i64().map(|n| n.to_string())))
                    .ok_or_else(|| format!("split[{i}].code is missing"))?;
                let amount = match item.get("amount") {
                    None | Some(Value::Null) => None,
                    Some(a) => Some(amount(a).map_err(|e| format!("split[{i}]: {e}"))?),
                };
                let meta = item.get("meta").cloned().unwrap_or_else(|| Value::Object(Map::new()));
                Ok(Split { code, amount, meta })
            })
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(code, a)| {
                let amount = match a {
                    Value::Null => None,
                    a => Some(amount(a).map_err(|e| format!("split {code}: {e}"))?),
                };
                Ok(Split { code: code.clone(), amount, meta: Value::Object(Map::new()) })
            })
            .collect(),
        Some(other) => Err(format!("split must be a list or a map, got {other}")),
    }
}

/// Decides what to do with one application event, received as raw bytes.
///
/// `update_base` is not used here: links to cassa's own endpoints are set by the proxy once the
/// debt position exists.
pub fn dispatch(bytes: &[u8], now: Timestamp) -> Dispatch {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Dispatch::Reject(format!("not JSON: {e}")),
    };
    let Value::Object(app) = value else {
        return Dispatch::Reject("an application event must be a JSON object".into());
    };
    let status_name = app.get("status_name").and_then(Value::as_str).unwrap_or_default();
    if !status_name.contains("status_payment_pending") {
        return Dispatch::Skip(format!("status_name `{status_name}` is not status_payment_pending"));
    }
    if !version_is_2(app.get("event_version")) {
        return Dispatch::Skip(format!("event_version {:?} is not 2", app.get("event_version")));
    }
    let mut errors = Vec::new();
    let application_id = uuid_field(&app, "id", &mut errors);
    let tenant_id = uuid_field(&app, "tenant_id", &mut errors);
    let service_id = uuid_field(&app, "service_id", &mut errors);
    let user_id = uuid_field(&app, "user", &mut errors);
    let empty = Map::new();
    let data = app.get("data").and_then(Value::as_object).unwrap_or(&empty);
    let applicant = |key: &str| text(data, &format!("applicant.data.{key}")).map(str::to_owned);
    let name = applicant("completename.data.name");
    let surname = applicant("completename.data.surname");
    let fiscal_code = applicant("fiscal_code.data.fiscal_code");
    for (field, value) in [("name", &name), ("surname", &surname), ("fiscal code", &fiscal_code)] {
        if value.is_none() {
            errors.push(format!("the applicant's {field} is missing"));
        }
    }
    let Some(pd) = app.get("payment_data").and_then(Value::as_object) else {
        errors.push("payment_data is missing".into());
        return Dispatch::Reject(errors.join("; "));
    };
    let reason = text(pd, "reason").map(str::to_owned);
    if reason.is_none() {
        errors.push("payment_data.reason is missing".into());
    }
    let amount = match pd.get("amount") {
        Some(a) => amount(a).map_err(|e| errors.push(format!("payment_data.{e}"))).ok(),
        None => {
            errors.push("payment_data.amount is missing".into());
            None
        }
    };
    let expire_at = match text(pd, "expire_at").map(Timestamp::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(format!("payment_data.expire_at: {e}"));
            None
        }
        None => {
            errors.push("payment_data.expire_at is missing".into());
            None
        }
    };
    let url_of = |key: &str| pd.get(key).and_then(Value::as_object).and_then(|o| text(o, "url")).map(str::to_owned);
    let notify = url_of("notify");
    let landing = url_of("landing");
    for (key, url) in [("notify", &notify), ("landing", &landing)] {
        match url {
            None => errors.push(format!("payment_data.{key}.url is missing")),
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                errors.push(format!("payment_data.{key}.url is not an http(s) URL"))
            }
            Some(_) => {}
        }
    }
    let split = splits(pd.get("split")).map_err(|e| errors.push(format!("payment_data.{e}"))).unwrap_or_default();
    if let Some(total) = amount
        && !split.is_empty()
        && split.iter().all(|s| s.amount.is_some())
    {
        let sum: u64 = split.iter().filter_map(|s| s.amount.map(|a| a.0)).sum();
        if sum != total.0 && sum != 100 {
            errors.push("payment_data.split amounts do not add up to the amount".into());
        }
    }
    if !errors.is_empty() {
        return Dispatch::Reject(errors.join("; "));
    }
    let (Some(name), Some(fiscal_code), Some(reason), Some(amount), Some(notify), Some(landing)) =
        (name, fiscal_code, reason, amount, notify, landing)
    else {
        return Dispatch::Reject("incomplete application".into());
    };
    // Team decision (DOMAIN.md §13.6): a reason over 140 characters is truncated, not rejected.
    let reason: String = reason.chars().take(140).collect();
    let payment_id = payment_id_for(application_id);
    let payer = Party {
        kind: PartyType::Human,
        tax_identification_number: fiscal_code.to_uppercase(),
        name,
        family_name: surname,
        street_name: applicant("address.data.address"),
        building_number: applicant("address.data.house_number"),
        postal_code: applicant("address.data.postal_code"),
        town_name: applicant("address.data.municipality"),
        country_subdivision: applicant("address.data.county"),
        country: Some("IT".into()),
        email: applicant("email_address"),
    };
    let event = PaymentEvent {
        id: payment_id,
        user_id,
        kind: "PAGOPA".into(),
        tenant_id,
        service_id,
        created_at: now,
        updated_at: now,
        status: PaymentStatus::CreationPending,
        reason: Some(reason),
        remote_id: application_id,
        payment: PaymentData {
            transaction_id: None,
            paid_at: None,
            expire_at,
            amount: Some(amount),
            currency: "EUR".into(),
            kind: Some("PAGOPA".into()),
            notice_code: None,
            iud: payment_id.simple().to_string(),
            iuv: None,
            receiver: None,
            due_type: None,
            pagopa_category: None,
            document: None,
            split,
        },
        links: Links {
            online_payment_begin: Link::empty(),
            online_payment_landing: Link::get(landing),
            offline_payment: Link::empty(),
            receipt: Link::empty(),
            notify: Some(vec![NotifyLink { url: notify, method: Method::Post, sent_at: None }]),
            update: UpdateLink { method: Some(Method::Get), ..UpdateLink::default() },
            confirm: Link::default(),
            cancel: Link::default(),
        },
        payer,
        debtor: None,
        locale: text(&app, "locale").map(str::to_owned),
        event_id: Uuid::new_v4(),
        event_version: EVENT_VERSION.into(),
        event_created_at: now,
        app_id: app_id("dispatcher"),
    };
    Dispatch::Create(Box::new(event))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const APPLICATION: &str = include_str!("../../../tests/examples/application_event.json");
    const CREATION_PENDING: &str = include_str!("../../../tests/examples/payment_creation_pending.json");

    fn now() -> Timestamp {
        Timestamp::parse("2025-03-10T10:15:01+01:00").unwrap()
    }

    fn with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut value: Value = serde_json::from_str(APPLICATION).unwrap();
        edit(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn the_example_application_becomes_the_example_payment() {
        let Dispatch::Create(event) = dispatch(APPLICATION.as_bytes(), now()) else { panic!("not created") };
        let expected = PaymentEvent::from_json(CREATION_PENDING.as_bytes()).unwrap();
        assert_eq!(event.rule_violations(), Vec::<String>::new());
        assert_eq!(event.status, PaymentStatus::CreationPending);
        assert_eq!(event.remote_id, expected.remote_id);
        assert_eq!(event.user_id, expected.user_id);
        assert_eq!((event.tenant_id, event.service_id), (expected.tenant_id, expected.service_id));
        assert_eq!(event.reason, expected.reason);
        assert_eq!(event.payment.amount, expected.payment.amount);
        assert_eq!(event.payment.expire_at, expected.payment.expire_at);
        assert_eq!(event.payment.split, expected.payment.split);
        assert_eq!(event.payment.iud, event.id.simple().to_string());
        assert_eq!(event.links.notify, expected.links.notify);
        assert_eq!(event.links.online_payment_landing, expected.links.online_payment_landing);
        assert_eq!(event.links.update.url, None);
        assert_eq!(event.payer.tax_identification_number, "CLNVTR76P01G822Q");
        assert_eq!(event.payer.family_name.as_deref(), Some("Coliandro"));
        assert_eq!(event.payer.town_name.as_deref(), Some("Bugliano"));
        assert_eq!(event.locale.as_deref(), Some("it"));
    }

    #[test]
    fn the_same_application_always_gets_the_same_payment_id() {
        let Dispatch::Create(a) = dispatch(APPLICATION.as_bytes(), now()) else { panic!() };
        let Dispatch::Create(b) = dispatch(APPLICATION.as_bytes(), now()) else { panic!() };
        assert_eq!(a.id, b.id);
        assert_ne!(a.event_id, b.event_id);
    }

    #[test]
    fn skips_other_statuses_and_versions() {
        let other = with(|v| v["status_name"] = "status_submitted".into());
        assert!(matches!(dispatch(&other, now()), Dispatch::Skip(_)));
        let v1 = with(|v| v["event_version"] = 1.into());
        assert!(matches!(dispatch(&v1, now()), Dispatch::Skip(_)));
        for version in [serde_json::json!(2), serde_json::json!("2"), serde_json::json!("2.0")] {
            let ok = with(|v| v["event_version"] = version.clone());
            assert!(matches!(dispatch(&ok, now()), Dispatch::Create(_)), "{version}");
        }
    }

    #[test]
    fn rejects_malformed_events_with_every_reason() {
        assert!(matches!(dispatch(b"{not json", now()), Dispatch::Reject(r) if r.contains("not JSON")));
        let broken = with(|v| {
            v["id"] = "nope".into();
            v["payment_data"]["amount"] = "dieci".into();
            v["payment_data"]["notify"] = Value::Null;
            v["data"]["applicant.data.fiscal_code.data.fiscal_code"] = Value::Null;
        });
        let Dispatch::Reject(reason) = dispatch(&broken, now()) else { panic!() };
        for part in ["id is not a UUID", "amount", "notify.url is missing", "fiscal code is missing"] {
            assert!(reason.contains(part), "`{part}` not in `{reason}`");
        }
        let no_payment_data = with(|v| v.as_object_mut().unwrap().remove("payment_data").map(|_| ()).unwrap());
        assert!(
            matches!(dispatch(&no_payment_data, now()), Dispatch::Reject(r) if r.contains("payment_data is missing"))
        );
    }

    #[test]
    fn accepts_splits_as_a_map_and_rejects_splits_that_do_not_add_up() {
        let map = with(|v| v["payment_data"]["split"] = serde_json::json!({"c1": "8.00", "c2": "2.00"}));
        let Dispatch::Create(event) = dispatch(&map, now()) else { panic!() };
        assert_eq!(event.payment.split.len(), 2);
        assert_eq!(event.payment.split[0].meta, serde_json::json!({}));
        let wrong = with(|v| v["payment_data"]["split"] = serde_json::json!([{"code": "a", "amount": "32"}]));
        assert!(matches!(dispatch(&wrong, now()), Dispatch::Reject(r) if r.contains("add up")));
    }

    #[test]
    fn truncates_a_reason_over_140_characters() {
        let long = with(|v| v["payment_data"]["reason"] = "x".repeat(200).into());
        let Dispatch::Create(event) = dispatch(&long, now()) else { panic!() };
        assert_eq!(event.reason.unwrap().chars().count(), 140);
    }
}
