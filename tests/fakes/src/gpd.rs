//! A fake of pagoPA's GPD (Gestione Posizioni Debitorie) and the two services a GPD connector
//! also uses, each under its production base path:
//!
//! | base path | document |
//! |---|---|
//! | `/gpd/debt-positions-service/v1` | `tests/specs/pagopa/gpd.json` (debt positions v1) |
//! | `/gpd/payments-receipts-service/v1` | `tests/specs/pagopa/gpd_payments.json` (receipts) |
//! | `/print-payment-notice-service/external/v1` | `tests/specs/pagopa/print-payment-notice-service.json` |
//!
//! Every request passes, in this order: the subscription key (`Ocp-Apim-Subscription-Key`,
//! else 401 as Azure API Management answers), the OpenAPI document (else 400 `ProblemJson`
//! naming every violation), then the service's own rules (GATEWAYS.md §1): due dates in the
//! future, transfers adding up to the option's amount, an IBAN or a stamp but never both, the
//! IUV's segregation code one the key may use (else 403), no second position with the same
//! `iupd`, IUV or notice number (409), publish only from `DRAFT`, invalidate only from
//! `PUBLISHED`/`VALID`, delete or update never once paid.
//!
//! Stricter than pagoPA on one point, on purpose: an IUV whose notice number (`3` + IUV) fails
//! its mod-93 check digits is refused at once (pagoPA would let it be created and fail at
//! payment time, GATEWAYS.md §9 question 8).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::openapi::{Judged, Spec, Unrouted};
use crate::{Conformance, DebtRef, Intermediary, Recorded, Reply, query_param};

/// `tests/specs/pagopa/gpd.json`.
pub const GPD_SPEC: &str = include_str!("../../specs/pagopa/gpd.json");
/// `tests/specs/pagopa/gpd_payments.json`.
pub const RECEIPTS_SPEC: &str = include_str!("../../specs/pagopa/gpd_payments.json");
/// `tests/specs/pagopa/print-payment-notice-service.json`.
pub const NOTICE_SPEC: &str = include_str!("../../specs/pagopa/print-payment-notice-service.json");

/// Base path of the debt positions service.
pub const GPD_BASE: &str = "/gpd/debt-positions-service/v1";
/// Base path of the receipts service.
pub const RECEIPTS_BASE: &str = "/gpd/payments-receipts-service/v1";
/// Base path of the notice service.
pub const NOTICE_BASE: &str = "/print-payment-notice-service/external/v1";

/// The notice templates the fake offers (`GET /notices/templates`).
pub const TEMPLATES: [&str; 2] = ["TemplateSingleInstalment", "TemplateInstalments"];

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct GpdSettings {
    /// The subscription key every request must carry.
    pub subscription_key: String,
    /// Segregation codes the key may create IUVs for.
    pub segregation_codes: Vec<u8>,
    /// The creditor of the configuration handed to connectors.
    pub fiscal_code: String,
}

impl Default for GpdSettings {
    fn default() -> Self {
        Self {
            subscription_key: format!("gpd-{}", uuid::Uuid::new_v4().simple()),
            segregation_codes: vec![1],
            fiscal_code: "80001234568".into(),
        }
    }
}

/// A payment made on an option.
#[derive(Debug, Clone)]
struct Paid {
    at: DateTime<Utc>,
    receipt_id: String,
}

/// A stored debt position: the body it was created (or last updated) with, and its state.
#[derive(Debug, Clone)]
struct Position {
    organization: String,
    body: Value,
    status: &'static str,
    inserted: DateTime<Utc>,
    published: Option<DateTime<Utc>>,
    updated: DateTime<Utc>,
    /// One entry per `paymentOption`, in order.
    paid: Vec<Option<Paid>>,
}

impl Position {
    fn iupd(&self) -> &str {
        self.body["iupd"].as_str().unwrap_or_default()
    }

    fn options(&self) -> &[Value] {
        self.body["paymentOption"].as_array().map_or(&[], Vec::as_slice)
    }
}

/// The fake GPD.
pub struct Gpd {
    settings: GpdSettings,
    gpd: Spec,
    receipts: Spec,
    notices: Spec,
    /// Positions by (organization, iupd).
    positions: Mutex<BTreeMap<(String, String), Position>>,
}

fn problem(status: u16, title: &str, detail: impl Into<String>) -> Reply {
    Reply::json(status, &json!({"title": title, "status": status, "detail": detail.into()}))
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn date(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?).ok().map(|t| t.with_timezone(&Utc))
}

/// The notice number of an option: its `nav`, else `3` + IUV.
fn nav_of(option: &Value) -> String {
    match option["nav"].as_str() {
        Some(nav) => nav.to_owned(),
        None => format!("3{}", option["iuv"].as_str().unwrap_or_default()),
    }
}

impl Gpd {
    /// A fake with `settings`.
    pub fn new(settings: GpdSettings) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            gpd: Spec::from_json(GPD_SPEC, GPD_BASE)?,
            receipts: Spec::from_json(RECEIPTS_SPEC, RECEIPTS_BASE)?,
            notices: Spec::from_json(NOTICE_SPEC, NOTICE_BASE)?,
            positions: Mutex::new(BTreeMap::new()),
        })
    }

    /// The subscription key requests must carry.
    pub fn subscription_key(&self) -> &str {
        &self.settings.subscription_key
    }

    /// The status of the position `iupd` of `organization`, as GPD names it.
    pub fn status_of(&self, organization: &str, iupd: &str) -> Option<String> {
        let positions = self.positions.lock().ok()?;
        positions.get(&(organization.to_owned(), iupd.to_owned())).map(|p| p.status.to_owned())
    }

    /// How many positions the fake holds in all.
    pub fn position_count(&self) -> usize {
        self.positions.lock().map(|p| p.len()).unwrap_or(0)
    }

    fn with_positions<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), Position>) -> T) -> Option<T> {
        self.positions.lock().ok().map(|mut p| f(&mut p))
    }

    /// The position as `createPosition`, `updatePosition` and `invalidatePosition` return it
    /// (`PaymentPositionModel`), or as `getOrganizationDebtPositionByIUPD` does
    /// (`PaymentPositionModelBaseResponse`, without the debtor).
    fn render(&self, position: &Position, base_response: bool) -> Value {
        let mut out = position.body.clone();
        let Some(map) = out.as_object_mut() else { return out };
        if base_response {
            const BASE: [&str; 12] = [
                "iupd",
                "organizationFiscalCode",
                "type",
                "companyName",
                "officeName",
                "insertedDate",
                "publishDate",
                "validityDate",
                "paymentDate",
                "status",
                "lastUpdatedDate",
                "paymentOption",
            ];
            map.retain(|k, _| BASE.contains(&k.as_str()));
            map.insert("organizationFiscalCode".into(), json!(position.organization));
            map.insert("insertedDate".into(), json!(stamp(position.inserted)));
            map.insert("lastUpdatedDate".into(), json!(stamp(position.updated)));
            if let Some(published) = position.published {
                map.insert("publishDate".into(), json!(stamp(published)));
            }
        }
        map.insert("status".into(), json!(position.status));
        if let Some(paid) = position.paid.iter().flatten().map(|p| p.at).max() {
            map.insert("paymentDate".into(), json!(stamp(paid)));
        }
        if let Some(Value::Array(options)) = map.get_mut("paymentOption") {
            for (option, paid) in options.iter_mut().zip(&position.paid) {
                let nav = nav_of(option);
                let Some(o) = option.as_object_mut() else { continue };
                o.insert("nav".into(), json!(nav));
                if base_response {
                    o.insert("organizationFiscalCode".into(), json!(position.organization));
                    o.insert("insertedDate".into(), json!(stamp(position.inserted)));
                    o.insert("lastUpdatedDate".into(), json!(stamp(position.updated)));
                    o.insert("notificationFee".into(), json!(0));
                }
                match paid {
                    Some(p) => {
                        o.insert("status".into(), json!("PO_PAID"));
                        if base_response {
                            o.insert("paymentDate".into(), json!(stamp(p.at)));
                            o.insert("paymentMethod".into(), json!("CP"));
                            o.insert("pspCompany".into(), json!("Banca Fittizia S.p.A."));
                            o.insert("idReceipt".into(), json!(p.receipt_id));
                        }
                    }
                    None => {
                        o.insert("status".into(), json!("PO_UNPAID"));
                    }
                }
                if let Some(Value::Array(transfers)) = o.get_mut("transfer") {
                    for t in transfers.iter_mut().filter_map(Value::as_object_mut) {
                        t.insert("status".into(), json!("T_UNREPORTED"));
                        if base_response {
                            t.entry("organizationFiscalCode").or_insert_with(|| json!(position.organization));
                            t.insert("insertedDate".into(), json!(stamp(position.inserted)));
                            t.insert("lastUpdatedDate".into(), json!(stamp(position.updated)));
                        }
                    }
                }
            }
        }
        out
    }

    /// The service rules a valid document cannot express; `Err` is the reply.
    fn check_rules(&self, body: &Value) -> Result<(), Reply> {
        let now = now();
        let validity = match body.get("validityDate") {
            Some(v) => {
                let Some(t) = date(v) else {
                    return Err(problem(400, "Bad Request", "validityDate is not a date-time"));
                };
                if t < now {
                    return Err(problem(400, "Bad Request", "validityDate must be in the future"));
                }
                Some(t)
            }
            None => None,
        };
        let options = body["paymentOption"].as_array().map_or(&[][..], Vec::as_slice);
        if options.is_empty() {
            return Err(problem(400, "Bad Request", "a debt position needs at least one payment option"));
        }
        for (i, option) in options.iter().enumerate() {
            let Some(due) = date(&option["dueDate"]) else {
                return Err(problem(400, "Bad Request", format!("paymentOption[{i}].dueDate is not a date-time")));
            };
            if due < validity.unwrap_or(now) {
                return Err(problem(
                    400,
                    "Bad Request",
                    format!("paymentOption[{i}].dueDate must be after the validity date and the current time"),
                ));
            }
            let iuv = option["iuv"].as_str().unwrap_or_default();
            let nav = nav_of(option);
            match cassa_sdk::iuv::parse_notice_code(&nav) {
                Ok(parsed) if parsed.iuv() == iuv => {}
                Ok(_) => return Err(problem(400, "Bad Request", format!("nav {nav} does not carry iuv {iuv}"))),
                Err(e) => return Err(problem(400, "Bad Request", format!("notice number {nav}: {e}"))),
            }
            let segregation: u8 = iuv.get(..2).and_then(|s| s.parse().ok()).unwrap_or(u8::MAX);
            if nav.starts_with('3') && !self.settings.segregation_codes.contains(&segregation) {
                return Err(problem(
                    403,
                    "Forbidden",
                    format!("the subscription may not use segregation code {segregation:02}"),
                ));
            }
            let transfers = option["transfer"].as_array().map_or(&[][..], Vec::as_slice);
            if transfers.is_empty() || transfers.len() > 5 {
                return Err(problem(400, "Bad Request", format!("paymentOption[{i}] needs 1 to 5 transfers")));
            }
            let mut sum = 0u64;
            for (j, t) in transfers.iter().enumerate() {
                sum += t["amount"].as_u64().unwrap_or(0);
                match (t.get("iban"), t.get("stamp")) {
                    (Some(_), None) => {}
                    (None, Some(_)) if t.get("postalIban").is_none() => {}
                    _ => {
                        return Err(problem(
                            400,
                            "Bad Request",
                            format!("paymentOption[{i}].transfer[{j}] needs an iban or a stamp, not both"),
                        ));
                    }
                }
            }
            if sum != option["amount"].as_u64().unwrap_or(0) {
                return Err(problem(
                    400,
                    "Bad Request",
                    format!("paymentOption[{i}]: the transfers add up to {sum}, not to the amount"),
                ));
            }
        }
        Ok(())
    }

    fn create(&self, organization: &str, query: &str, body: Value) -> Reply {
        if let Err(reply) = self.check_rules(&body) {
            return reply;
        }
        let publish = query_param(query, "toPublish").as_deref() == Some("true");
        let now = now();
        let status = match (publish, body.get("validityDate").and_then(date)) {
            (false, _) => "DRAFT",
            (true, Some(t)) if t > now => "PUBLISHED",
            (true, _) => "VALID",
        };
        let iupd = body["iupd"].as_str().unwrap_or_default().to_owned();
        let options = body["paymentOption"].as_array().cloned().unwrap_or_default();
        let position = Position {
            organization: organization.to_owned(),
            paid: vec![None; options.len()],
            body,
            status,
            inserted: now,
            published: publish.then_some(now),
            updated: now,
        };
        let result = self.with_positions(|positions| {
            if positions.contains_key(&(organization.to_owned(), iupd.clone())) {
                return Err(problem(409, "Conflict", format!("Debt Position {iupd} already exists")));
            }
            for option in &options {
                let (iuv, nav) = (option["iuv"].as_str().unwrap_or_default(), nav_of(option));
                let clash = positions
                    .values()
                    .filter(|p| p.organization == organization)
                    .flat_map(|p| p.options())
                    .any(|o| o["iuv"].as_str() == Some(iuv) || nav_of(o) == nav);
                if clash {
                    return Err(problem(409, "Conflict", format!("IUV {iuv} or NAV {nav} is already in use")));
                }
            }
            let reply = self.render(&position, false);
            positions.insert((organization.to_owned(), iupd.clone()), position);
            Ok(reply)
        });
        match result {
            Some(Ok(body)) => Reply::json(201, &body),
            Some(Err(reply)) => reply,
            None => problem(500, "Internal Server Error", "state lock poisoned"),
        }
    }

    fn not_found(organization: &str, iupd: &str) -> Reply {
        problem(
            404,
            "Not Found",
            format!("Not found a debt position for Organization Fiscal Code {organization} and IUPD {iupd}"),
        )
    }

    /// Applies `change` to the position `iupd`, replying with it afterwards.
    fn change(&self, organization: &str, iupd: &str, change: impl FnOnce(&mut Position) -> Result<(), Reply>) -> Reply {
        let result = self.with_positions(|positions| {
            let Some(position) = positions.get_mut(&(organization.to_owned(), iupd.to_owned())) else {
                return Err(Self::not_found(organization, iupd));
            };
            change(position)?;
            position.updated = now();
            Ok(self.render(position, false))
        });
        match result {
            Some(Ok(body)) => Reply::json(200, &body),
            Some(Err(reply)) => reply,
            None => problem(500, "Internal Server Error", "state lock poisoned"),
        }
    }

    fn debt_positions(&self, judged: &Judged, request: &Recorded) -> Reply {
        let organization = judged.param("organizationfiscalcode").to_owned();
        let iupd = judged.param("iupd").to_owned();
        let body = || serde_json::from_str::<Value>(&request.body).unwrap_or(Value::Null);
        match judged.operation.as_str() {
            "createPosition" => self.create(&organization, &request.query, body()),
            "getOrganizationDebtPositionByIUPD" => {
                let found = self.with_positions(|p| p.get(&(organization.clone(), iupd.clone())).cloned()).flatten();
                match found {
                    Some(position) => Reply::json(200, &self.render(&position, true)),
                    None => Self::not_found(&organization, &iupd),
                }
            }
            "getOrganizationDebtPositions" => {
                let limit: usize = query_param(&request.query, "limit").and_then(|v| v.parse().ok()).unwrap_or(10);
                let page: usize = query_param(&request.query, "page").and_then(|v| v.parse().ok()).unwrap_or(0);
                if limit > 50 {
                    return problem(400, "Bad Request", "limit must be at most 50");
                }
                let all: Vec<Position> = self
                    .with_positions(|p| p.values().filter(|p| p.organization == organization).cloned().collect())
                    .unwrap_or_default();
                let list: Vec<Value> =
                    all.iter().skip(page * limit).take(limit).map(|p| self.render(p, true)).collect();
                Reply::json(
                    200,
                    &json!({
                        "payment_position_list": list,
                        "page_info": {"page": page, "limit": limit, "items_found": list.len(),
                            "total_pages": all.len().div_ceil(limit.max(1))},
                    }),
                )
            }
            "invalidatePosition" => self.change(&organization, &iupd, |p| match p.status {
                "PUBLISHED" | "VALID" => {
                    p.status = "INVALID";
                    Ok(())
                }
                other => Err(problem(409, "Conflict", format!("a {other} debt position cannot be invalidated"))),
            }),
            "publishPosition" => self.change(&organization, &iupd, |p| match p.status {
                "DRAFT" => {
                    p.status = "VALID";
                    p.published = Some(now());
                    Ok(())
                }
                other => Err(problem(409, "Conflict", format!("a {other} debt position cannot be published"))),
            }),
            "updatePosition" => {
                let new = body();
                if let Err(reply) = self.check_rules(&new) {
                    return reply;
                }
                self.change(&organization, &iupd, |p| match p.status {
                    "INVALID" | "PARTIALLY_PAID" | "PAID" | "REPORTED" => {
                        Err(problem(409, "Conflict", format!("a {} debt position cannot be updated", p.status)))
                    }
                    _ if new["iupd"].as_str() != Some(p.iupd()) => {
                        Err(problem(400, "Bad Request", "the iupd of the body differs from the path"))
                    }
                    _ => {
                        p.paid = vec![None; new["paymentOption"].as_array().map_or(0, Vec::len)];
                        p.body = new;
                        Ok(())
                    }
                })
            }
            "deletePosition" => {
                let result = self.with_positions(|positions| {
                    let key = (organization.clone(), iupd.clone());
                    match positions.get(&key).map(|p| p.status) {
                        None => Err(Self::not_found(&organization, &iupd)),
                        Some("PARTIALLY_PAID" | "PAID" | "REPORTED") => {
                            Err(problem(409, "Conflict", "a paid debt position cannot be deleted"))
                        }
                        Some(_) => {
                            positions.remove(&key);
                            Ok(())
                        }
                    }
                });
                match result {
                    Some(Ok(())) => Reply::json(200, &json!("OK")),
                    Some(Err(reply)) => reply,
                    None => problem(500, "Internal Server Error", "state lock poisoned"),
                }
            }
            other => problem(501, "Not Implemented", format!("the fake does not implement {other}")),
        }
    }

    fn receipts(&self, judged: &Judged) -> Reply {
        let organization = judged.param("organizationfiscalcode");
        match judged.operation.as_str() {
            "getReceiptByIUV" => {
                let iuv = judged.param("iuv");
                let found = self
                    .with_positions(|positions| {
                        positions.values().filter(|p| p.organization == organization).find_map(|p| {
                            p.options()
                                .iter()
                                .zip(&p.paid)
                                .find(|(o, _)| o["iuv"].as_str() == Some(iuv))
                                .map(|(o, paid)| paid.clone().map(|paid| receipt_xml(organization, &p.body, o, &paid)))
                        })
                    })
                    .flatten();
                match found {
                    Some(Some(xml)) => Reply::bytes(200, "application/xml", xml.into_bytes()),
                    Some(None) | None => problem(404, "Not Found", format!("no receipt for IUV {iuv}")),
                }
            }
            other => problem(501, "Not Implemented", format!("the fake does not implement {other}")),
        }
    }

    fn notices(&self, judged: &Judged, request: &Recorded) -> Reply {
        match judged.operation.as_str() {
            "getTemplates" => Reply::json(
                200,
                &Value::Array(
                    TEMPLATES
                        .iter()
                        .map(|t| {
                            json!({"templateId": t, "description": format!("{t} (fake)"),
                                "templateExampleUrl": format!("https://example.invalid/{t}.pdf")})
                        })
                        .collect(),
                ),
            ),
            "generateNotice" => {
                let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
                let template = body["templateId"].as_str().unwrap_or_default();
                if !TEMPLATES.contains(&template) {
                    return problem(400, "Bad Request", format!("unknown templateId `{template}`"));
                }
                let notice = &body["data"]["notice"];
                let code = notice["code"].as_str().unwrap_or_default();
                if let Err(e) = cassa_sdk::iuv::parse_notice_code(code) {
                    return problem(400, "Bad Request", format!("notice code {code}: {e}"));
                }
                let lines = vec![
                    "Avviso di pagamento pagoPA".to_owned(),
                    format!("Oggetto: {}", notice["subject"].as_str().unwrap_or_default()),
                    format!(
                        "Importo: {}",
                        cassa_sdk::money::format_euros(notice["paymentAmount"].as_u64().unwrap_or(0))
                    ),
                    format!("Codice avviso: {code}"),
                    format!(
                        "Ente creditore: {}",
                        body["data"]["creditorInstitution"]["taxCode"].as_str().unwrap_or("")
                    ),
                    format!("Destinatario: {}", body["data"]["debtor"]["fullName"].as_str().unwrap_or_default()),
                ];
                Reply::bytes(201, "application/pdf", cassa_sdk::pdf::text_document(&lines))
            }
            "getTemplate" => problem(404, "Not Found", "template archives are not served by the fake"),
            other => problem(404, "Not Found", format!("{other}: no such folder")),
        }
    }
}

/// A receipt as `paSendRT` carries it (`paSendRTV2Request` of `paForNode.xsd`, the parts a
/// connector reads).
fn receipt_xml(organization: &str, position: &Value, option: &Value, paid: &Paid) -> String {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let day = paid.at.format("%Y-%m-%d").to_string();
    let mut w = cassa_sdk::xml::XmlWriter::new();
    w.declaration()
        .start("pafn:paSendRTV2Request", &[("xmlns:pafn", "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd")])
        .text_element("idPA", organization)
        .text_element("idBrokerPA", organization)
        .text_element("idStation", &format!("{organization}_01"))
        .start("receipt", &[])
        .text_element("receiptId", &paid.receipt_id)
        .text_element("noticeNumber", &nav_of(option))
        .text_element("fiscalCode", organization)
        .text_element("outcome", "OK")
        .text_element("creditorReferenceId", &text(&option["iuv"]))
        .text_element("paymentAmount", &cassa_sdk::money::format_euros(option["amount"].as_u64().unwrap_or(0)))
        .text_element("description", &text(&option["description"]))
        .text_element("companyName", &text(&position["companyName"]))
        .start("debtor", &[])
        .start("uniqueIdentifier", &[])
        .text_element("entityUniqueIdentifierType", position["type"].as_str().unwrap_or("F"))
        .text_element("entityUniqueIdentifierValue", &text(&position["fiscalCode"]))
        .end("uniqueIdentifier")
        .text_element("fullName", &text(&position["fullName"]))
        .end("debtor")
        .text_element("paymentDateTime", &paid.at.format("%Y-%m-%dT%H:%M:%S").to_string())
        .text_element("applicationDate", &day)
        .text_element("transferDate", &day)
        .end("receipt")
        .end("pafn:paSendRTV2Request");
    w.finish()
}

impl Intermediary for Gpd {
    fn conformance(&self, base_url: &str) -> Conformance {
        Conformance {
            name: format!("pagoPA GPD fake at {base_url}"),
            tenant_config: json!({
                "fiscal_code": self.settings.fiscal_code,
                "company_name": "Comune di Prova",
                "segregation_code": format!("{:02}", self.settings.segregation_codes.first().copied().unwrap_or(1)),
                "iban": "IT60X0542811101000000123456",
                "gpd_url": format!("{base_url}{GPD_BASE}"),
                "receipts_url": format!("{base_url}{RECEIPTS_BASE}"),
                "notice_url": format!("{base_url}{NOTICE_BASE}"),
                "subscription_key": self.settings.subscription_key,
            }),
            service_config: json!({"category": "9/0101108TS/", "notice_template": TEMPLATES[0]}),
        }
    }

    fn handle(&self, request: &Recorded) -> Reply {
        // Azure API Management checks the key before anything reaches the service.
        if request.header("ocp-apim-subscription-key") != Some(self.settings.subscription_key.as_str()) {
            return Reply::json(
                401,
                &json!({"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."}),
            );
        }
        let Some(spec) = [&self.gpd, &self.receipts, &self.notices].into_iter().find(|s| s.serves(&request.path))
        else {
            return Reply::json(404, &json!({"statusCode": 404, "message": "Resource not found"}));
        };
        let body = request.body.as_bytes();
        let judged = match spec.judge(&request.method, &request.path, &request.query, &request.headers, body) {
            Ok(judged) => judged,
            Err(Unrouted::NotFound(why)) => return problem(404, "Not Found", why),
            Err(Unrouted::MethodNotAllowed(why)) => return problem(405, "Method Not Allowed", why),
        };
        if !judged.violations.is_empty() {
            return problem(400, "Bad Request", judged.violations.join("; "));
        }
        if std::ptr::eq(spec, &self.gpd) {
            self.debt_positions(&judged, request)
        } else if std::ptr::eq(spec, &self.receipts) {
            self.receipts(&judged)
        } else {
            self.notices(&judged, request)
        }
    }

    fn pay(&self, debt: &DebtRef) -> Result<(), String> {
        self.with_positions(|positions| {
            for position in positions.values_mut() {
                let index = position
                    .options()
                    .iter()
                    .position(|o| o["iuv"].as_str() == Some(debt.iuv.as_str()) && nav_of(o) == debt.notice_code);
                if let Some(i) = index {
                    if !matches!(position.status, "VALID" | "PARTIALLY_PAID") {
                        return Err(format!("a {} debt position cannot be paid", position.status));
                    }
                    let at = now();
                    position.paid[i] = Some(Paid { at, receipt_id: format!("rcpt-{}", uuid::Uuid::new_v4().simple()) });
                    position.status = if position.paid.iter().all(Option::is_some) || !partial(&position.options()[i]) {
                        "PAID"
                    } else {
                        "PARTIALLY_PAID"
                    };
                    position.updated = at;
                    return Ok(());
                }
            }
            Err(format!("no debt position with IUV {} and notice {}", debt.iuv, debt.notice_code))
        })
        .unwrap_or_else(|| Err("state lock poisoned".into()))
    }

    fn positions_for(&self, iud: &str) -> usize {
        self.with_positions(|p| p.values().filter(|p| p.iupd() == iud).count()).unwrap_or(0)
    }
}

fn partial(option: &Value) -> bool {
    option["isPartialPayment"].as_bool().unwrap_or(false)
}
