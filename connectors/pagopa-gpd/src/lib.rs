//! The `pagopa-gpd` connector: debt positions on pagoPA's GPD (Gestione Posizioni Debitorie,
//! `debt-positions-service/v1`), receipts from the GPD receipts service and the printable
//! notice from the notice service — the three APIs of `tests/specs/pagopa/` (GATEWAYS.md §1).
//!
//! | operation | request |
//! |---|---|
//! | `create` | `POST {gpd_url}/organizations/{fc}/debtpositions?toPublish=true`; on 409 `GET …/debtpositions/{iupd}` |
//! | `status` | `GET {gpd_url}/organizations/{fc}/debtpositions/{iupd}` |
//! | `find` | `GET {gpd_url}/organizations/{fc}/debtpositions/{iud}` (404: none) |
//! | `cancel` | `POST {gpd_url}/organizations/{fc}/debtpositions/{iupd}/invalidate` |
//! | `notice` | the position, then `POST {notice_url}/notices/generate` → PDF |
//! | `receipt` | `GET {receipts_url}/payments/{fc}/receipts/{iuv}` → XML |
//!
//! Every request carries `Ocp-Apim-Subscription-Key` as a placeholder of the tenant's secret.
//!
//! **Identifiers.** The IUPD is cassa's IUD. GPD expects the creditor to choose the IUV: this
//! connector derives it from the IUD — segregation code, 13 digits of a hash of the IUD, mod-93
//! check digits — so a repeated `create` sends the same IUV. Should another position already
//! hold that IUV (409 while no position has our IUPD), it derives the next candidate from
//! `IUD#1`, `IUD#2`, … ; a retry walks the same sequence and finds the position it made.
//!
//! **The notice's debtor.** GPD's read model of a position leaves out the debtor, which the
//! notice service needs; `create` keeps the debtor's name and address in the option's metadata
//! (`paymentOptionMetadata`, ≤ 10 pairs of ≤ 140 characters), where `notice` reads them back.

use cassa_sdk::config::{ConfigReader, check_body_fiscal_code, check_iban};
use cassa_sdk::http::{Request, Response, secret};
use cassa_sdk::time::{self, Naive};
use cassa_sdk::{
    Capabilities, ConnectorInfo, Created, DebtPosition, DebtRef, Document, Error, PaidDetails, Party, PartyKind,
    PaymentKind, PaymentStatus,
};
use serde::{Deserialize, Serialize};

/// The connector.
pub struct PagopaGpd;

cassa_sdk::export_connector!(PagopaGpd);

/// Production base URLs (GATEWAYS.md §1).
const GPD_URL: &str = "https://api.platform.pagopa.it/gpd/debt-positions-service/v1";
const RECEIPTS_URL: &str = "https://api.platform.pagopa.it/gpd/payments-receipts-service/v1";
const NOTICE_URL: &str = "https://api.platform.pagopa.it/print-payment-notice-service/external/v1";

/// IUV candidates tried before a create gives up on collisions.
const IUV_ATTEMPTS: u32 = 4;
/// Days a position stays payable when the core sent no due date (cassa polls for 365 days).
const DEFAULT_VALIDITY_DAYS: i64 = 365;

/// The tenant configuration.
#[derive(Debug)]
pub struct Tenant {
    fiscal_code: String,
    company_name: String,
    office_name: Option<String>,
    segregation_code: u8,
    iban: String,
    gpd_url: String,
    receipts_url: String,
    notice_url: String,
    /// Secret fields holding the receipts and notice keys (the GPD key unless set apart).
    receipts_key: &'static str,
    notice_key: &'static str,
}

/// The service configuration.
#[derive(Debug)]
pub struct Service {
    category: String,
    iban: Option<String>,
    notice_template: String,
    switch_to_expired: bool,
}

fn check_segregation_code(value: &str) -> Result<(), String> {
    if value.len() == 2 && value.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err("must be 2 digits".into()) }
}

fn check_category(value: &str) -> Result<(), String> {
    let ok = value.len() > 3
        && value.as_bytes()[0].is_ascii_digit()
        && value.as_bytes()[1] == b'/'
        && value.ends_with('/')
        && value[2..value.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err("must be a pagoPA taxonomy code such as 9/0101108TS/".into()) }
}

fn read_config(tenant_json: &str, service_json: &str) -> Result<(Tenant, Service), Error> {
    let mut t = ConfigReader::parse("tenant", tenant_json);
    let fiscal_code = t.required_checked("fiscal_code", check_body_fiscal_code);
    let company_name = t.required_str("company_name");
    if company_name.chars().count() > 140 {
        t.error("company_name", "must be at most 140 characters");
    }
    let office_name = t.optional_str("office_name");
    let segregation_code = t.required_checked("segregation_code", check_segregation_code).parse().unwrap_or(0);
    let iban = t.required_checked("iban", check_iban);
    let gpd_url = t.url_or("gpd_url", GPD_URL);
    let receipts_url = t.url_or("receipts_url", RECEIPTS_URL);
    let notice_url = t.url_or("notice_url", NOTICE_URL);
    t.required_str("subscription_key");
    let receipts_key =
        t.optional_str("receipts_subscription_key").map_or("subscription_key", |_| "receipts_subscription_key");
    let notice_key =
        t.optional_str("notice_subscription_key").map_or("subscription_key", |_| "notice_subscription_key");
    let mut s = ConfigReader::parse("service", service_json);
    let category = s.required_checked("category", check_category);
    let service_iban = s.optional_checked("iban", check_iban);
    let notice_template = s.optional_str("notice_template").unwrap_or_else(|| "TemplateSingleInstalment".into());
    let switch_to_expired = s.bool_or("switch_to_expired", false);
    t.finish([s])?;
    Ok((
        Tenant {
            fiscal_code,
            company_name,
            office_name,
            segregation_code,
            iban,
            gpd_url,
            receipts_url,
            notice_url,
            receipts_key,
            notice_key,
        },
        Service { category, iban: service_iban, notice_template, switch_to_expired },
    ))
}

// ---- the requests, field for field as `gpd.json` names them ----

/// `PaymentPositionModel`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NewPosition {
    iupd: String,
    #[serde(rename = "type")]
    kind: &'static str,
    fiscal_code: String,
    full_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    street_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    civic_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    province: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    switch_to_expired: bool,
    company_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    office_name: Option<String>,
    payment_option: Vec<NewOption>,
}

/// `PaymentOptionModel`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NewOption {
    iuv: String,
    amount: u64,
    description: String,
    is_partial_payment: bool,
    due_date: String,
    transfer: Vec<NewTransfer>,
    payment_option_metadata: Vec<Metadata>,
}

/// `TransferModel`: an IBAN or a stamp, never both.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NewTransfer {
    id_transfer: &'static str,
    amount: u64,
    organization_fiscal_code: String,
    remittance_information: String,
    category: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    iban: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stamp: Option<Stamp>,
}

/// `Stamp`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stamp {
    hash_document: String,
    stamp_type: &'static str,
    provincial_residence: String,
}

/// A `key`/`value` pair of option metadata.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct Metadata {
    key: String,
    value: String,
}

/// `NoticeGenerationRequestItem` of the notice service.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NoticeRequest {
    template_id: String,
    data: NoticeData,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NoticeData {
    notice: Notice,
    creditor_institution: Creditor,
    debtor: NoticeDebtor,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Notice {
    subject: String,
    payment_amount: u64,
    due_date: String,
    code: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Creditor {
    tax_code: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NoticeDebtor {
    full_name: String,
    address: String,
    building_number: String,
    postal_code: String,
    city: String,
    province: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_code: Option<String>,
}

// ---- the replies ----

/// A debt position as GPD returns it (`PaymentPositionModel` / `…BaseResponse`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Position {
    iupd: String,
    status: String,
    #[serde(default)]
    payment_option: Vec<PositionOption>,
}

/// A payment option as GPD returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionOption {
    iuv: String,
    nav: Option<String>,
    amount: u64,
    #[serde(default)]
    description: String,
    due_date: Option<String>,
    status: Option<String>,
    payment_date: Option<String>,
    id_receipt: Option<String>,
    #[serde(default)]
    payment_option_metadata: Vec<Metadata>,
}

impl PositionOption {
    fn nav(&self) -> String {
        self.nav.clone().unwrap_or_else(|| format!("3{}", self.iuv))
    }

    fn meta(&self, key: &str) -> Option<&str> {
        self.payment_option_metadata.iter().find(|m| m.key == key).map(|m| m.value.as_str())
    }
}

// ---- pure decisions ----

/// The IUV candidate number `attempt` for `iud`.
fn iuv_for(segregation_code: u8, iud: &str, attempt: u32) -> Result<String, Error> {
    cassa_sdk::iuv::derived_iuv(segregation_code, iud, attempt)
        .map_err(|e| Error::Protocol(format!("cannot derive an IUV: {e}")))
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn full_name(party: &Party) -> String {
    match &party.family_name {
        Some(family) if !family.is_empty() => format!("{} {family}", party.name),
        _ => party.name.clone(),
    }
}

/// Metadata that carries the debtor to the notice (see the module documentation).
fn debtor_metadata(payment_id: &str, debtor: &Party) -> Vec<Metadata> {
    let mut pairs = vec![
        ("cassa_payment_id", Some(payment_id.to_owned())),
        ("debtor_full_name", Some(full_name(debtor))),
        ("debtor_tax_code", Some(debtor.tax_id.clone())),
        ("debtor_address", debtor.street_name.clone()),
        ("debtor_building_number", debtor.building_number.clone()),
        ("debtor_postal_code", debtor.postal_code.clone()),
        ("debtor_city", debtor.town_name.clone()),
        ("debtor_province", debtor.country_subdivision.clone()),
    ];
    pairs.retain(|(_, v)| v.as_deref().is_some_and(|v| !v.is_empty()));
    pairs.into_iter().map(|(k, v)| Metadata { key: k.into(), value: clip(&v.unwrap_or_default(), 140) }).collect()
}

/// The create request for `position`, with IUV candidate `iuv`.
fn new_position(
    tenant: &Tenant,
    service: &Service,
    position: &DebtPosition,
    iuv: String,
    due_date: String,
) -> Result<NewPosition, Error> {
    let debtor = position.debtor.as_ref().unwrap_or(&position.payer);
    let description = clip(&position.reason, 140);
    let beneficiary = position.receiver.as_ref();
    let organization = beneficiary.map_or(tenant.fiscal_code.clone(), |r| r.tax_id.clone());
    let (iban, stamp) = match position.kind {
        PaymentKind::Stamp => {
            let hash = position
                .document_hash
                .clone()
                .ok_or_else(|| Error::Rejected("a digital stamp needs the hash of the stamped document".into()))?;
            let province = debtor
                .country_subdivision
                .clone()
                .filter(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase()))
                .ok_or_else(|| Error::Rejected("a digital stamp needs the debtor's province (two letters)".into()))?;
            (None, Some(Stamp { hash_document: clip(&hash, 72), stamp_type: "01", provincial_residence: province }))
        }
        PaymentKind::Pagopa => {
            let iban = beneficiary
                .and_then(|r| r.iban.clone())
                .or_else(|| service.iban.clone())
                .unwrap_or_else(|| tenant.iban.clone());
            (Some(iban.replace(' ', "").to_ascii_uppercase()), None)
        }
    };
    let country = debtor.country.clone().filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
    Ok(NewPosition {
        iupd: position.iud.clone(),
        kind: match debtor.kind {
            PartyKind::Human => "F",
            PartyKind::Legal => "G",
        },
        fiscal_code: debtor.tax_id.clone(),
        full_name: full_name(debtor),
        street_name: debtor.street_name.clone(),
        civic_number: debtor.building_number.clone(),
        postal_code: debtor.postal_code.clone(),
        city: debtor.town_name.clone(),
        province: debtor.country_subdivision.clone(),
        country,
        email: debtor.email.clone(),
        switch_to_expired: service.switch_to_expired,
        company_name: clip(&tenant.company_name, 140),
        office_name: tenant.office_name.clone(),
        payment_option: vec![NewOption {
            iuv,
            amount: position.amount,
            description: description.clone(),
            is_partial_payment: false,
            due_date,
            transfer: vec![NewTransfer {
                id_transfer: "1",
                amount: position.amount,
                organization_fiscal_code: organization,
                remittance_information: description,
                category: position.pagopa_category.clone().unwrap_or_else(|| service.category.clone()),
                iban,
                stamp,
            }],
            payment_option_metadata: debtor_metadata(&position.payment_id, debtor),
        }],
    })
}

/// GPD's statuses onto cassa's: the one table of this connector.
///
/// | position `status` | option `status` | cassa |
/// |---|---|---|
/// | any | `PO_PAID`, `PO_PARTIALLY_REPORTED`, `PO_REPORTED` | paid |
/// | `PAID`, `REPORTED` | — | paid |
/// | `DRAFT`, `PUBLISHED`, `VALID`, `PARTIALLY_PAID` | `PO_UNPAID` | pending |
/// | `INVALID` | `PO_UNPAID` | canceled |
/// | `EXPIRED` | `PO_UNPAID` | expired |
fn map_status(position: &Position, iuv: &str) -> Result<PaymentStatus, Error> {
    let option = position
        .payment_option
        .iter()
        .find(|o| o.iuv == iuv)
        .ok_or_else(|| Error::Protocol(format!("debt position {} has no option with IUV {iuv}", position.iupd)))?;
    let option_paid = matches!(option.status.as_deref(), Some("PO_PAID" | "PO_PARTIALLY_REPORTED" | "PO_REPORTED"));
    if option_paid || matches!(position.status.as_str(), "PAID" | "REPORTED") {
        let paid_at = option
            .payment_date
            .as_deref()
            .ok_or_else(|| Error::Protocol("a paid option without paymentDate".into()))
            .and_then(|d| time::to_timestamp(d, Naive::Utc).map_err(Error::Protocol))?;
        let transaction_id =
            option.id_receipt.clone().ok_or_else(|| Error::Protocol("a paid option without idReceipt".into()))?;
        return Ok(PaymentStatus::Paid(PaidDetails { paid_at, transaction_id, amount: option.amount }));
    }
    Ok(match position.status.as_str() {
        "DRAFT" | "PUBLISHED" | "VALID" | "PARTIALLY_PAID" => PaymentStatus::Pending,
        "INVALID" => PaymentStatus::Canceled,
        "EXPIRED" => PaymentStatus::Expired,
        other => return Err(Error::Protocol(format!("unknown debt position status `{other}`"))),
    })
}

/// What `create` returns for the option of a position GPD holds.
fn created(position: &Position) -> Result<Created, Error> {
    let option = position
        .payment_option
        .first()
        .ok_or_else(|| Error::Protocol(format!("debt position {} has no payment option", position.iupd)))?;
    let nav = option.nav();
    // Never hand the host a notice code that fails its check digits.
    let iuv = cassa_sdk::iuv::iuv_from_notice_code(&nav)
        .map_err(|e| Error::Protocol(format!("GPD returned an invalid notice number {nav}: {e}")))?;
    if iuv != option.iuv {
        return Err(Error::Protocol(format!("IUV {} does not match notice number {nav}", option.iuv)));
    }
    Ok(Created { iuv, notice_code: nav, remote_ref: Some(position.iupd.clone()), online_url: None })
}

/// The notice request for `option` of a position.
fn notice_request(tenant: &Tenant, service: &Service, option: &PositionOption) -> Result<NoticeRequest, Error> {
    let meta = |key| option.meta(key).unwrap_or_default().to_owned();
    let due_date = match option.due_date.as_deref() {
        Some(d) => {
            time::epoch_seconds(d, Naive::Utc).map(|t| time::rome_local(t)[..10].to_owned()).map_err(Error::Protocol)?
        }
        None => String::new(),
    };
    Ok(NoticeRequest {
        template_id: service.notice_template.clone(),
        data: NoticeData {
            notice: Notice {
                subject: clip(&option.description, 90),
                payment_amount: option.amount,
                due_date,
                code: option.nav(),
            },
            creditor_institution: Creditor { tax_code: tenant.fiscal_code.clone() },
            debtor: NoticeDebtor {
                full_name: clip(&meta("debtor_full_name"), 70),
                address: clip(&meta("debtor_address"), 140),
                building_number: meta("debtor_building_number"),
                postal_code: meta("debtor_postal_code"),
                city: meta("debtor_city"),
                province: meta("debtor_province"),
                tax_code: option.meta("debtor_tax_code").filter(|c| c.len() <= 16).map(str::to_owned),
            },
        },
    })
}

// ---- I/O ----

fn authed(request: Request, key_field: &str) -> Request {
    request.header("Ocp-Apim-Subscription-Key", &secret(key_field))
}

fn positions_url(tenant: &Tenant, path: &str) -> String {
    format!("{}/organizations/{}/debtpositions{path}", tenant.gpd_url, tenant.fiscal_code)
}

fn iupd_of(debt: &DebtRef) -> &str {
    debt.remote_ref.as_deref().unwrap_or(&debt.iud)
}

/// `GET` the position `iupd`; `None` when GPD does not know it.
fn fetch(tenant: &Tenant, iupd: &str) -> Result<Option<Position>, Error> {
    let reply = authed(Request::get(&positions_url(tenant, &format!("/{iupd}"))), "subscription_key")
        .header("Accept", "application/json")
        .send()?;
    if reply.status == 404 {
        return Ok(None);
    }
    reply.error_for_status()?.json().map(Some)
}

fn fetch_known(tenant: &Tenant, debt: &DebtRef) -> Result<Position, Error> {
    fetch(tenant, iupd_of(debt))?
        .ok_or_else(|| Error::NotFound(format!("GPD holds no debt position {}", iupd_of(debt))))
}

fn document(reply: Response, content_type: &str, filename: String) -> Result<Document, Error> {
    let reply = reply.error_for_status()?;
    let got = reply.header("content-type").unwrap_or_default();
    let xml_alias = content_type == "application/xml" && got.starts_with("text/xml");
    if !(got.starts_with(content_type) || xml_alias) {
        return Err(Error::Protocol(format!("expected {content_type}, got `{got}`")));
    }
    Ok(Document { content_type: content_type.to_owned(), filename, body: reply.body })
}

impl cassa_sdk::Connector for PagopaGpd {
    type Config = (Tenant, Service);

    fn info() -> ConnectorInfo {
        cassa_sdk::connector_info!(
            name: "pagopa-gpd",
            description: "pagoPA GPD debt positions (v1), with GPD receipts and the pagoPA notice PDF service",
            capabilities: Capabilities::NOTICE | Capabilities::RECEIPT | Capabilities::CANCEL,
        )
    }

    fn read_config(tenant_config: &str, service_config: &str) -> Result<Self::Config, Error> {
        read_config(tenant_config, service_config)
    }

    fn create((tenant, service): Self::Config, position: DebtPosition) -> Result<Created, Error> {
        let due_date = match &position.expire_at {
            Some(at) => time::to_timestamp(at, Naive::Utc).map_err(Error::Rejected)?,
            None => time::format(time::now_epoch() + DEFAULT_VALIDITY_DAYS * 86_400),
        };
        let url = positions_url(&tenant, "?toPublish=true");
        for attempt in 0..IUV_ATTEMPTS {
            let iuv = iuv_for(tenant.segregation_code, &position.iud, attempt)?;
            let body = new_position(&tenant, &service, &position, iuv, due_date.clone())?;
            let reply = authed(Request::post(&url), "subscription_key")
                .header("Accept", "application/json")
                .json(&body)?
                .send()?;
            if reply.status != 409 {
                return created(&reply.error_for_status()?.json()?);
            }
            // Created before (a retry after a lost reply), or the IUV is taken by another
            // position: only the first holds our IUPD.
            if let Some(existing) = fetch(&tenant, &position.iud)? {
                cassa_sdk::log::info("the debt position exists already; reusing it");
                return created(&existing);
            }
            cassa_sdk::log::warn(&format!("IUV candidate {attempt} is taken by another position; trying the next"));
        }
        Err(Error::Rejected(format!("GPD refused {IUV_ATTEMPTS} IUV candidates as duplicates")))
    }

    fn status((tenant, _): Self::Config, debt: DebtRef) -> Result<PaymentStatus, Error> {
        map_status(&fetch_known(&tenant, &debt)?, &debt.iuv)
    }

    fn find((tenant, _): Self::Config, _payment_id: String, iud: String) -> Result<Option<Created>, Error> {
        // The IUPD is the IUD (`new_position`): GPD holds at most one position under it.
        fetch(&tenant, &iud)?.as_ref().map(created).transpose()
    }

    fn notice((tenant, service): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let position = fetch_known(&tenant, &debt)?;
        let option = position
            .payment_option
            .iter()
            .find(|o| o.iuv == debt.iuv)
            .ok_or_else(|| Error::NotFound(format!("no option with IUV {}", debt.iuv)))?;
        let body = notice_request(&tenant, &service, option)?;
        let reply = authed(Request::post(&format!("{}/notices/generate", tenant.notice_url)), tenant.notice_key)
            .header("Accept", "application/pdf")
            .json(&body)?
            .send()?;
        document(reply, "application/pdf", format!("avviso-{}.pdf", debt.notice_code))
    }

    fn receipt((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let url = format!("{}/payments/{}/receipts/{}", tenant.receipts_url, tenant.fiscal_code, debt.iuv);
        let reply = authed(Request::get(&url), tenant.receipts_key).header("Accept", "application/xml").send()?;
        document(reply, "application/xml", format!("ricevuta-{}.xml", debt.notice_code))
    }

    fn cancel((tenant, _): Self::Config, debt: DebtRef) -> Result<(), Error> {
        let url = positions_url(&tenant, &format!("/{}/invalidate", iupd_of(&debt)));
        let reply = authed(Request::post(&url), "subscription_key").header("Accept", "application/json").send()?;
        if reply.status == 409 {
            // Invalidated before (a retry), or no longer invalidable (paid, expired).
            let position = fetch_known(&tenant, &debt)?;
            return match position.status.as_str() {
                "INVALID" => Ok(()),
                other => Err(Error::Rejected(format!("GPD cannot invalidate a {other} debt position"))),
            };
        }
        reply.error_for_status()?;
        Ok(())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const TENANT: &str = r#"{"fiscal_code": "80001234568", "company_name": "Comune di Prova",
        "segregation_code": "01", "iban": "IT60X0542811101000000123456",
        "subscription_key": "{{secret:subscription_key}}"}"#;

    fn position(status: &str, option_status: &str) -> Position {
        serde_json::from_value(serde_json::json!({
            "iupd": "abc", "status": status,
            "paymentOption": [{"iuv": "01000000000123468", "nav": "301000000000123468", "amount": 1600,
                "status": option_status, "paymentDate": "2026-11-28T10:00:00.123", "idReceipt": "R1"}]
        }))
        .unwrap()
    }

    #[test]
    fn maps_every_gpd_status() {
        let status = |s, o| map_status(&position(s, o), "01000000000123468");
        for s in ["DRAFT", "PUBLISHED", "VALID", "PARTIALLY_PAID"] {
            assert!(matches!(status(s, "PO_UNPAID").unwrap(), PaymentStatus::Pending), "{s}");
        }
        assert!(matches!(status("INVALID", "PO_UNPAID").unwrap(), PaymentStatus::Canceled));
        assert!(matches!(status("EXPIRED", "PO_UNPAID").unwrap(), PaymentStatus::Expired));
        for (s, o) in [("PAID", "PO_PAID"), ("REPORTED", "PO_REPORTED"), ("VALID", "PO_PAID"), ("PAID", "PO_UNPAID")] {
            let PaymentStatus::Paid(paid) = status(s, o).unwrap() else { panic!("{s}/{o} is not paid") };
            assert_eq!(
                (paid.paid_at.as_str(), paid.transaction_id.as_str(), paid.amount),
                ("2026-11-28T10:00:00Z", "R1", 1600)
            );
        }
        assert!(matches!(status("WEIRD", "PO_UNPAID"), Err(Error::Protocol(_))));
        assert!(matches!(map_status(&position("VALID", "PO_UNPAID"), "other"), Err(Error::Protocol(_))));
    }

    #[test]
    fn refuses_a_notice_number_with_wrong_check_digits() {
        let mut bad = position("VALID", "PO_UNPAID");
        bad.payment_option[0].nav = Some("301000000000123467".into());
        assert!(matches!(created(&bad), Err(Error::Protocol(_))));
        assert_eq!(created(&position("VALID", "PO_UNPAID")).unwrap().notice_code, "301000000000123468");
    }

    #[test]
    fn validates_configuration_field_by_field() {
        let Err(Error::InvalidConfig(errors)) = read_config(
            r#"{"fiscal_code": "123", "segregation_code": "1", "iban": "IT00X", "gpd_url": "ftp://x"}"#,
            "{}",
        ) else {
            panic!()
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tenant.fiscal_code",
                "tenant.company_name",
                "tenant.segregation_code",
                "tenant.iban",
                "tenant.gpd_url",
                "tenant.subscription_key",
                "service.category"
            ]
        );
        let (tenant, service) = read_config(TENANT, r#"{"category": "9/0101108TS/"}"#).unwrap();
        assert_eq!(tenant.gpd_url, GPD_URL);
        assert_eq!((tenant.receipts_key, tenant.notice_key), ("subscription_key", "subscription_key"));
        assert_eq!(service.notice_template, "TemplateSingleInstalment");
    }
}
