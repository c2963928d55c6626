//! The `govpay` connector: GovPay (Link.it), "API Pendenze" v2
//! (`tests/specs/govpay/govpay-api-pendenze-v2.yaml`, GATEWAYS.md §6), REST with HTTP Basic
//! credentials — the password a secret, filled in and encoded by the host.
//!
//! | operation | request |
//! |---|---|
//! | `create` | `PUT {base}/pendenze/{idA2A}/{idPendenza}` — a `PUT` of the same IUD again updates the same pendenza |
//! | `status` | `GET {base}/pendenze/{idA2A}/{idPendenza}` |
//! | `find` | `GET {base}/pendenze/{idA2A}/{idPendenza}` (404: none) |
//! | `notice` | `GET {base}/avvisi/{idDominio}/{numeroAvviso}` with `Accept: application/pdf` |
//! | `receipt` | the pendenza's `rpp` for the contesto (`ccp`), then `GET {base}/rpp/{idDominio}/{iuv}/{ccp}/rt` as XML |
//! | `cancel` | `PATCH {base}/pendenze/{idA2A}/{idPendenza}` `[{op: REPLACE, path: /stato, value: ANNULLATA}]` |
//!
//! `idPendenza` is cassa's IUD; GovPay assigns the notice number. Amounts are JSON numbers of
//! euros, dates `YYYY-MM-DD` in Rome's calendar.

use cassa_sdk::config::{ConfigReader, check_body_fiscal_code, check_iban};
use cassa_sdk::http::{Request, Response, basic_auth, percent_encode, secret};
use cassa_sdk::time::{self, Naive};
use cassa_sdk::{
    Capabilities, ConnectorInfo, Created, DebtPosition, DebtRef, Document, Error, PaidDetails, PartyKind, PaymentStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The connector.
pub struct Govpay;

cassa_sdk::export_connector!(Govpay);

/// The tenant configuration.
#[derive(Debug)]
pub struct Tenant {
    base_url: String,
    id_a2a: String,
    id_dominio: String,
    username: String,
}

/// How a voce names where the money goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Accounting {
    /// A revenue configured in GovPay (`codEntrata`).
    Entrata(String),
    /// IBAN and accounting given inline.
    Inline { iban: String, tipo: String, codice: String },
}

/// The service configuration.
#[derive(Debug)]
pub struct Service {
    id_tipo_pendenza: String,
    accounting: Accounting,
}

fn check_id(value: &str) -> Result<(), String> {
    let ok = (1..=35).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if ok { Ok(()) } else { Err("must be 1 to 35 letters, digits, `-` or `_`".into()) }
}

fn read_config(tenant_json: &str, service_json: &str) -> Result<(Tenant, Service), Error> {
    let mut t = ConfigReader::parse("tenant", tenant_json);
    let base_url = t.required_url("base_url");
    let id_a2a = t.required_checked("id_a2a", check_id);
    let id_dominio = t.required_checked("id_dominio", check_body_fiscal_code);
    let username = t.required_str("username");
    t.required_str("password");
    let mut s = ConfigReader::parse("service", service_json);
    let id_tipo_pendenza = s.required_checked("id_tipo_pendenza", |v| {
        let ok = (1..=35).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok { Ok(()) } else { Err("must be 1 to 35 letters, digits, `-`, `_` or `.`".into()) }
    });
    let accounting = match s.optional_str("cod_entrata") {
        Some(code) => Accounting::Entrata(code),
        None => {
            let iban = s.optional_checked("iban", check_iban);
            let codice = s.optional_str("codice_contabilita");
            let tipo = s.optional_str("tipo_contabilita").unwrap_or_else(|| "ALTRO".into());
            if !["CAPITOLO", "SPECIALE", "SIOPE", "ALTRO"].contains(&tipo.as_str()) {
                s.error("tipo_contabilita", "must be CAPITOLO, SPECIALE, SIOPE or ALTRO");
            }
            match (iban, codice) {
                (Some(iban), Some(codice)) => Accounting::Inline { iban, tipo, codice },
                _ => {
                    s.error("cod_entrata", "is required, or else iban and codice_contabilita");
                    Accounting::Entrata(String::new())
                }
            }
        }
    };
    t.finish([s])?;
    Ok((Tenant { base_url, id_a2a, id_dominio, username }, Service { id_tipo_pendenza, accounting }))
}

// ---- the requests (`NuovaPendenza`) ----

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NuovaPendenza {
    id_tipo_pendenza: String,
    id_dominio: String,
    causale: String,
    soggetto_pagatore: Soggetto,
    importo: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_scadenza: Option<String>,
    voci: Vec<Voce>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Soggetto {
    tipo: &'static str,
    identificativo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    anagrafica: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    indirizzo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    civico: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    localita: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provincia: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nazione: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

/// `NuovaVocePendenza`: exactly one of `codEntrata` or the inline accounting.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Voce {
    id_voce_pendenza: &'static str,
    importo: f64,
    descrizione: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cod_entrata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iban_accredito: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tipo_contabilita: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    codice_contabilita: Option<String>,
}

/// `PendenzaCreata`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendenzaCreata {
    numero_avviso: String,
}

/// The parts of `Pendenza` this connector reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pendenza {
    stato: String,
    importo: f64,
    numero_avviso: Option<String>,
    data_pagamento: Option<String>,
    #[serde(default)]
    rpp: Vec<Value>,
}

// ---- pure decisions ----

fn clip(text: &str, max: usize) -> Option<String> {
    let clipped: String = text.chars().take(max).collect();
    (!clipped.is_empty()).then_some(clipped)
}

/// Cents as the JSON number of euros GovPay wants (exact for two decimals).
fn euros(cents: u64) -> f64 {
    cents as f64 / 100.0
}

/// A JSON number of euros as cents; more than two decimals is a protocol error.
fn to_cents(euros: f64) -> Result<u64, Error> {
    cassa_sdk::money::from_f64_euros(euros).map_err(|e| Error::Protocol(format!("importo {euros}: {e}")))
}

fn nuova_pendenza(tenant: &Tenant, service: &Service, position: &DebtPosition) -> Result<NuovaPendenza, Error> {
    let p = position.debtor.as_ref().unwrap_or(&position.payer);
    let name = match &p.family_name {
        Some(family) if !family.is_empty() => format!("{} {family}", p.name),
        _ => p.name.clone(),
    };
    let two_upper =
        |v: &Option<String>| v.clone().filter(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()));
    let causale = clip(&position.reason, 140).unwrap_or_else(|| position.iud.clone());
    let (cod_entrata, iban_accredito, tipo_contabilita, codice_contabilita) = match &service.accounting {
        Accounting::Entrata(code) => (Some(code.clone()), None, None, None),
        Accounting::Inline { iban, tipo, codice } => {
            let iban = position.receiver.as_ref().and_then(|r| r.iban.clone()).unwrap_or_else(|| iban.clone());
            (None, Some(iban.replace(' ', "").to_ascii_uppercase()), Some(tipo.clone()), Some(codice.clone()))
        }
    };
    let data_scadenza = match &position.expire_at {
        Some(at) => {
            Some(time::rome_local(time::epoch_seconds(at, Naive::Utc).map_err(Error::Rejected)?)[..10].to_owned())
        }
        None => None,
    };
    if !(2..=16).contains(&p.tax_id.len()) {
        return Err(Error::Rejected(format!("GovPay wants a payer id of 2 to 16 characters, not `{}`", p.tax_id)));
    }
    Ok(NuovaPendenza {
        id_tipo_pendenza: service.id_tipo_pendenza.clone(),
        id_dominio: tenant.id_dominio.clone(),
        causale: causale.clone(),
        soggetto_pagatore: Soggetto {
            tipo: match p.kind {
                PartyKind::Human => "F",
                PartyKind::Legal => "G",
            },
            identificativo: p.tax_id.clone(),
            anagrafica: clip(&name, 70),
            indirizzo: p.street_name.as_deref().and_then(|v| clip(v, 70)),
            civico: p.building_number.as_deref().and_then(|v| clip(v, 16)),
            cap: p.postal_code.as_deref().and_then(|v| clip(v, 16)),
            localita: p.town_name.as_deref().and_then(|v| clip(v, 35)),
            provincia: p.country_subdivision.as_deref().and_then(|v| clip(v, 35)),
            nazione: two_upper(&p.country),
            email: p.email.clone().filter(|e| e.contains('@') && !e.contains(char::is_whitespace)),
        },
        importo: euros(position.amount),
        data_scadenza,
        voci: vec![Voce {
            id_voce_pendenza: "1",
            importo: euros(position.amount),
            descrizione: causale,
            cod_entrata,
            iban_accredito,
            tipo_contabilita,
            codice_contabilita,
        }],
    })
}

/// The receipt id (IUR) and contesto (`ccp`) of the first accepted RT of a pendenza.
fn receipt_refs(pendenza: &Pendenza) -> Option<(String, String)> {
    pendenza.rpp.iter().find_map(|rpp| {
        let dati = rpp.pointer("/rt/datiPagamento")?;
        let ccp = dati.get("CodiceContestoPagamento").or_else(|| dati.get("codiceContestoPagamento"))?.as_str()?;
        let iur = dati.pointer("/datiSingoloPagamento/0/identificativoUnivocoRiscossione")?.as_str()?;
        Some((iur.to_owned(), ccp.to_owned()))
    })
}

/// GovPay's statuses onto cassa's: the one table of this connector.
///
/// | `stato` | cassa |
/// |---|---|
/// | `NON_ESEGUITA`, `ESEGUITA_PARZIALE` | pending |
/// | `ESEGUITA`, `INCASSATA` | paid (`dataPagamento`, the RT's IUR, `importo`) |
/// | `ANNULLATA` | canceled |
/// | `SCADUTA` | expired |
/// | `ANOMALA` | failed |
fn map_status(pendenza: &Pendenza) -> Result<PaymentStatus, Error> {
    Ok(match pendenza.stato.as_str() {
        "NON_ESEGUITA" | "ESEGUITA_PARZIALE" => PaymentStatus::Pending,
        "ESEGUITA" | "INCASSATA" => {
            let paid_at = pendenza
                .data_pagamento
                .as_deref()
                .ok_or_else(|| Error::Protocol("a paid pendenza without dataPagamento".into()))
                .and_then(|d| time::to_timestamp(d, Naive::Rome).map_err(Error::Protocol))?;
            let (iur, _) =
                receipt_refs(pendenza).ok_or_else(|| Error::Protocol("a paid pendenza without an RT".into()))?;
            PaymentStatus::Paid(PaidDetails { paid_at, transaction_id: iur, amount: to_cents(pendenza.importo)? })
        }
        "ANNULLATA" => PaymentStatus::Canceled,
        "SCADUTA" => PaymentStatus::Expired,
        "ANOMALA" => PaymentStatus::Failed("GovPay marks the pendenza as anomalous (ANOMALA)".into()),
        other => return Err(Error::Protocol(format!("unknown stato `{other}`"))),
    })
}

// ---- I/O ----

fn authed(request: Request, tenant: &Tenant) -> Request {
    request.header("Authorization", &basic_auth(&tenant.username, &secret("password")))
}

fn pendenza_url(tenant: &Tenant, debt_iud: &str) -> String {
    format!("{}/pendenze/{}/{debt_iud}", tenant.base_url, tenant.id_a2a)
}

/// GovPay's errors: the `FaultBean` when there is one, else the status alone.
fn checked(reply: Response) -> Result<Response, Error> {
    if reply.status < 400 {
        return Ok(reply);
    }
    let detail = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .map(|f| {
            format!(
                "{} {}: {} {}",
                f["categoria"].as_str().unwrap_or_default(),
                f["codice"].as_str().unwrap_or_default(),
                f["descrizione"].as_str().unwrap_or_default(),
                f["dettaglio"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let text = format!("HTTP {} {detail}", reply.status);
    Err(match reply.status {
        404 => Error::NotFound(text),
        408 | 429 | 500..=599 => Error::Unavailable(text),
        _ => Error::Rejected(text),
    })
}

/// The position GovPay assigned notice number `numero_avviso`.
fn created_with(numero_avviso: String) -> Result<Created, Error> {
    let iuv = cassa_sdk::iuv::iuv_from_notice_code(&numero_avviso)
        .map_err(|e| Error::Protocol(format!("GovPay returned an invalid notice number {numero_avviso}: {e}")))?;
    Ok(Created { iuv, notice_code: numero_avviso, remote_ref: None, online_url: None })
}

fn fetch(tenant: &Tenant, iud: &str) -> Result<Pendenza, Error> {
    checked(authed(Request::get(&pendenza_url(tenant, iud)), tenant).header("Accept", "application/json").send()?)?
        .json()
}

impl cassa_sdk::Connector for Govpay {
    type Config = (Tenant, Service);

    fn info() -> ConnectorInfo {
        cassa_sdk::connector_info!(
            name: "govpay",
            description: "GovPay (Link.it) API Pendenze v2: pendenze, notices and receipts",
            capabilities: Capabilities::NOTICE | Capabilities::RECEIPT | Capabilities::CANCEL,
        )
    }

    fn read_config(tenant_config: &str, service_config: &str) -> Result<Self::Config, Error> {
        read_config(tenant_config, service_config)
    }

    fn create((tenant, service): Self::Config, position: DebtPosition) -> Result<Created, Error> {
        check_id(&position.iud).map_err(|why| Error::Rejected(format!("IUD `{}` {why}", position.iud)))?;
        let body = nuova_pendenza(&tenant, &service, &position)?;
        // PUT is idempotent: the same IUD again updates the pendenza and keeps its notice number.
        let url = format!("{}?stampaAvviso=false", pendenza_url(&tenant, &position.iud));
        let reply =
            checked(authed(Request::put(&url), &tenant).header("Accept", "application/json").json(&body)?.send()?)?;
        let created: PendenzaCreata = reply.json()?;
        created_with(created.numero_avviso)
    }

    fn find((tenant, _): Self::Config, _payment_id: String, iud: String) -> Result<Option<Created>, Error> {
        check_id(&iud).map_err(|why| Error::Rejected(format!("IUD `{iud}` {why}")))?;
        match fetch(&tenant, &iud) {
            Ok(pendenza) => {
                let notice = pendenza
                    .numero_avviso
                    .ok_or_else(|| Error::Protocol(format!("GovPay holds pendenza {iud} without a notice number")))?;
                created_with(notice).map(Some)
            }
            Err(Error::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn status((tenant, _): Self::Config, debt: DebtRef) -> Result<PaymentStatus, Error> {
        map_status(&fetch(&tenant, &debt.iud)?)
    }

    fn notice((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let url = format!("{}/avvisi/{}/{}", tenant.base_url, tenant.id_dominio, debt.notice_code);
        let reply = checked(authed(Request::get(&url), &tenant).header("Accept", "application/pdf").send()?)?;
        if !reply.body.starts_with(b"%PDF-") {
            return Err(Error::Protocol("the notice is not a PDF".into()));
        }
        Ok(Document {
            content_type: "application/pdf".into(),
            filename: format!("avviso-{}.pdf", debt.notice_code),
            body: reply.body,
        })
    }

    fn receipt((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let pendenza = fetch(&tenant, &debt.iud)?;
        let (_, ccp) = receipt_refs(&pendenza).ok_or_else(|| Error::NotFound("no receipt yet".into()))?;
        let ccp = percent_encode(&ccp);
        let iuv = pendenza.numero_avviso.as_deref().and_then(|n| n.get(1..)).unwrap_or(&debt.iuv).to_owned();
        let url = format!("{}/rpp/{}/{iuv}/{ccp}/rt", tenant.base_url, tenant.id_dominio);
        let reply = checked(authed(Request::get(&url), &tenant).header("Accept", "application/xml").send()?)?;
        Ok(Document {
            content_type: "application/xml".into(),
            filename: format!("ricevuta-{}.xml", debt.notice_code),
            body: reply.body,
        })
    }

    fn cancel((tenant, _): Self::Config, debt: DebtRef) -> Result<(), Error> {
        let ops = serde_json::json!([
            {"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"},
            {"op": "REPLACE", "path": "/descrizioneStato", "value": "Annullata da cassa"},
        ]);
        let reply = authed(Request::patch(&pendenza_url(&tenant, &debt.iud)), &tenant)
            .header("Content-Type", "application/json-patch+json")
            .body(ops.to_string())
            .send()?;
        if reply.status == 422 && fetch(&tenant, &debt.iud).is_ok_and(|p| p.stato == "ANNULLATA") {
            // Cancelled before (a retry).
            return Ok(());
        }
        checked(reply).map(|_| ())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn pendenza(stato: &str) -> Pendenza {
        serde_json::from_value(serde_json::json!({
            "stato": stato, "importo": 16.0, "numeroAvviso": "301000000000123468", "dataPagamento": "2026-07-01",
            "rpp": [{"stato": "RT_ACCETTATA_PA", "rt": {"datiPagamento": {"CodiceContestoPagamento": "c1",
                "datiSingoloPagamento": [{"identificativoUnivocoRiscossione": "IUR1"}]}}}]
        }))
        .unwrap()
    }

    #[test]
    fn maps_every_govpay_stato() {
        for s in ["NON_ESEGUITA", "ESEGUITA_PARZIALE"] {
            assert!(matches!(map_status(&pendenza(s)).unwrap(), PaymentStatus::Pending), "{s}");
        }
        for s in ["ESEGUITA", "INCASSATA"] {
            let PaymentStatus::Paid(paid) = map_status(&pendenza(s)).unwrap() else { panic!("{s}") };
            assert_eq!(
                (paid.paid_at.as_str(), paid.transaction_id.as_str(), paid.amount),
                ("2026-06-30T22:00:00Z", "IUR1", 1600)
            );
        }
        assert!(matches!(map_status(&pendenza("ANNULLATA")).unwrap(), PaymentStatus::Canceled));
        assert!(matches!(map_status(&pendenza("SCADUTA")).unwrap(), PaymentStatus::Expired));
        assert!(matches!(map_status(&pendenza("ANOMALA")).unwrap(), PaymentStatus::Failed(_)));
        assert!(matches!(map_status(&pendenza("BOH")), Err(Error::Protocol(_))));
        assert_eq!(receipt_refs(&pendenza("ESEGUITA")), Some(("IUR1".into(), "c1".into())));
    }

    #[test]
    fn amounts_are_euros_with_two_decimals() {
        assert_eq!(euros(1600), 16.0);
        assert_eq!(euros(1999), 19.99);
        assert_eq!(to_cents(19.99).unwrap(), 1999);
        assert_eq!(serde_json::to_string(&euros(1050)).unwrap(), "10.5");
    }

    #[test]
    fn validates_configuration_field_by_field() {
        let Err(Error::InvalidConfig(errors)) =
            read_config(r#"{"base_url": "x", "id_a2a": "a b", "id_dominio": "1"}"#, r#"{"iban": "IT00"}"#)
        else {
            panic!()
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tenant.base_url",
                "tenant.id_a2a",
                "tenant.id_dominio",
                "tenant.username",
                "tenant.password",
                "service.id_tipo_pendenza",
                "service.iban",
                "service.cod_entrata"
            ]
        );
    }
}
