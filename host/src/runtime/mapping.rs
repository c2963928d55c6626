//! The domain's payment as the contract sees it: the records `create` and later calls take.

use serde_json::Value;

use super::wit;
use crate::domain::payment::PaymentEvent;

/// The contract's view of a payment, for `create`.
pub fn debt_position(event: &PaymentEvent) -> wit::DebtPosition {
    let party = |p: &crate::domain::payment::Party| wit::Party {
        kind: match p.kind {
            crate::domain::payment::PartyType::Human => wit::PartyKind::Human,
            crate::domain::payment::PartyType::Legal => wit::PartyKind::Legal,
        },
        tax_id: p.tax_identification_number.clone(),
        name: p.name.clone(),
        family_name: p.family_name.clone(),
        street_name: p.street_name.clone(),
        building_number: p.building_number.clone(),
        postal_code: p.postal_code.clone(),
        town_name: p.town_name.clone(),
        country_subdivision: p.country_subdivision.clone(),
        country: p.country.clone(),
        email: p.email.clone(),
    };
    let utc = |t: crate::domain::Timestamp| t.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    wit::DebtPosition {
        payment_id: event.id.to_string(),
        iud: event.payment.iud.clone(),
        amount: event.payment.amount.map_or(0, |a| a.0),
        reason: event.reason.clone().unwrap_or_else(|| event.remote_id.to_string()),
        expire_at: event.payment.expire_at.map(utc),
        payer: party(&event.payer),
        debtor: event.debtor.as_ref().map(party),
        receiver: event.payment.receiver.as_ref().map(|r| wit::Receiver {
            tax_id: r.tax_identification_number.clone(),
            name: r.name.clone(),
            iban: r.iban.clone(),
        }),
        pagopa_category: event.payment.pagopa_category.clone(),
        due_type: event.payment.due_type.clone(),
        split: event
            .payment
            .split
            .iter()
            .map(|s| wit::SplitItem {
                code: s.code.clone(),
                amount: s.amount.map_or(0, |a| a.0),
                meta: s.meta.to_string(),
            })
            .collect(),
        kind: if event.payment.kind.as_deref() == Some("STAMP") {
            wit::PaymentKind::Stamp
        } else {
            wit::PaymentKind::Pagopa
        },
        document_hash: event
            .payment
            .document
            .as_ref()
            .and_then(|d| d.get("hash"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        locale: event.locale.clone(),
    }
}

/// How later calls name a payment's debt position.
pub fn debt_ref(event: &PaymentEvent) -> Option<wit::DebtRef> {
    Some(wit::DebtRef {
        payment_id: event.id.to_string(),
        iud: event.payment.iud.clone(),
        iuv: event.payment.iuv.clone()?,
        notice_code: event.payment.notice_code.clone()?,
        remote_ref: None,
    })
}
