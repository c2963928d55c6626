//! The `mypay` connector: MyPay (Regione Veneto), service `PagamentiTelematiciDovutiPagati`
//! (`tests/specs/mypay/pa-per-ente.wsdl`, GATEWAYS.md §4), SOAP 1.1 document/literal with the
//! operation name as `SOAPAction`.
//!
//! | operation | request |
//! |---|---|
//! | `create` | `paaSILImportaDovuto`, `Versamento` with `azione` `I` and the IUV this connector derives |
//! | `status` | `paaSILChiediPagatiConRicevuta` by IUD: faults say unpaid, in progress, cancelled, expired; `pagati` once paid |
//! | `receipt` | the same call's `rt` |
//! | `notice` | `paaSILImportaDovuto` with `azione` `S`: `base64ZipAvviso`, a ZIP holding the PDF |
//! | `cancel` | `paaSILImportaDovuto` with `azione` `A` |
//!
//! **Idempotent create.** MyPay4 refuses a second active due with the same IUD
//! (`PAA_IMPORT_IUD_DUPLICATO`) and tells nothing of the first, so the IUV cannot be learnt
//! back from MyPay: the connector chooses it — application code, 13 digits of a hash of the
//! IUD, mod-93 check digits — and sends it with `flagGeneraIuv` false. A retry sends the same
//! IUV, and `PAA_IMPORT_IUD_DUPLICATO` means the due exists with it. Should the IUV be taken by
//! another due (`PAA_IMPORT_IUV_DUPLICATO`) the next candidate (`IUD#1`, …) is tried. Known
//! limit: a retry of a create that had to move to a later candidate would report the first one.
//!
//! **What later calls need.** `Versamento` requires amount, type, reason and collection data
//! even to cancel or print; the amount is kept in `remote-ref` (as MyPay writes it, `16.00`).
//! MyPay4 refuses IUDs starting with `000`: such an IUD is sent as `X` + IUD.

use cassa_sdk::config::ConfigReader;
use cassa_sdk::http::secret;
use cassa_sdk::soap::{SoapError, SoapRequest};
use cassa_sdk::time::{self, Naive};
use cassa_sdk::xml::{Element, XmlWriter};
use cassa_sdk::{
    Capabilities, ConnectorInfo, Created, DebtPosition, DebtRef, Document, Error, PaidDetails, Party, PartyKind,
    PaymentStatus,
};

/// The connector.
pub struct Mypay;

cassa_sdk::export_connector!(Mypay);

/// SOAP body wrappers; their children are unqualified.
const NS_ENTE: &str = "http://www.regione.veneto.it/pagamenti/ente/";
/// The `intestazionePPT` header.
const NS_PPTHEAD: &str = "http://www.regione.veneto.it/pagamenti/ente/ppthead";
/// The base64-embedded documents, every element qualified.
const NS_DOCUMENTS: &str = "http://www.regione.veneto.it/schemas/2012/Pagamenti/Ente/";
/// The version of `PagInf_Dovuti_Pagati` this connector writes.
const VERSIONE_OGGETTO: &str = "6.2";
/// IUV candidates tried before a create gives up on collisions.
const IUV_ATTEMPTS: u32 = 4;

/// The tenant configuration.
#[derive(Debug)]
pub struct Tenant {
    endpoint_url: String,
    cod_ipa_ente: String,
    application_code: u8,
}

/// The service configuration.
#[derive(Debug)]
pub struct Service {
    tipo_dovuto: String,
    dati_specifici_riscossione: Option<String>,
}

fn check_dati_specifici(value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    let ok = b.len() >= 5
        && b.len() <= 140
        && b"0129".contains(&b[0])
        && b[1] == b'/'
        && !value.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err("must match [0129]/ followed by 3 to 138 non-blank characters, e.g. 9/0101108TS/".into())
    }
}

fn read_config(tenant_json: &str, service_json: &str) -> Result<(Tenant, Service), Error> {
    let mut t = ConfigReader::parse("tenant", tenant_json);
    let endpoint_url = t.required_url("endpoint_url");
    let cod_ipa_ente = t.required_str("cod_ipa_ente");
    if cod_ipa_ente.chars().count() > 35 {
        t.error("cod_ipa_ente", "must be at most 35 characters");
    }
    let application_code = t
        .required_checked("application_code", |v| {
            if v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err("must be 2 digits".into()) }
        })
        .parse()
        .unwrap_or(0);
    t.required_str("password");
    let mut s = ConfigReader::parse("service", service_json);
    let tipo_dovuto = s.required_str("tipo_dovuto");
    if tipo_dovuto.chars().count() > 64 {
        s.error("tipo_dovuto", "must be at most 64 characters");
    }
    let dati_specifici_riscossione = s.optional_checked("dati_specifici_riscossione", check_dati_specifici);
    t.finish([s])?;
    Ok((Tenant { endpoint_url, cod_ipa_ente, application_code }, Service { tipo_dovuto, dati_specifici_riscossione }))
}

// ---- pure decisions ----

/// The IUV candidate number `attempt` for `iud`.
fn iuv_for(application_code: u8, iud: &str, attempt: u32) -> Result<String, Error> {
    cassa_sdk::iuv::derived_iuv(application_code, iud, attempt)
        .map_err(|e| Error::Protocol(format!("cannot derive an IUV: {e}")))
}

/// The IUD as MyPay gets it (MyPay4 refuses IUDs starting with `000`).
fn mypay_iud(iud: &str) -> Result<String, Error> {
    let iud = if iud.starts_with("000") { format!("X{iud}") } else { iud.to_owned() };
    if iud.is_empty() || iud.chars().count() > 35 {
        return Err(Error::Rejected(format!("IUD `{iud}` does not fit MyPay's 1 to 35 characters")));
    }
    Ok(iud)
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A business fault MyPay puts in a reply's `fault` element.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    code: String,
    string: String,
}

/// Why a call did not give the reply element.
#[derive(Debug)]
enum Failure {
    /// A `faultBean` in the reply.
    Fault(Fault),
    /// Anything else, already an error value.
    Other(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Other(error)
    }
}

/// MyPay's fault codes onto the contract's errors: a system error may pass, the rest is a
/// refusal.
fn fault_error(fault: &Fault) -> Error {
    let text = format!("{}: {}", fault.code, fault.string);
    match fault.code.as_str() {
        "PAA_SYSTEM_ERROR" => Error::Unavailable(text),
        "PAA_IMPORT_DOVUTO_NON_PRESENTE" => Error::NotFound(text),
        _ => Error::Rejected(text),
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Fault(fault) => fault_error(&fault),
            Failure::Other(error) => error,
        }
    }
}

/// MyPay's answers about a due onto cassa's statuses: the one table of this connector.
///
/// | `paaSILChiediPagatiConRicevuta` answers | cassa |
/// |---|---|
/// | fault `PAA_PAGAMENTO_NON_INIZIATO` | pending |
/// | fault `PAA_PAGAMENTO_IN_CORSO` | started |
/// | fault `PAA_PAGAMENTO_ANNULLATO` | canceled |
/// | fault `PAA_PAGAMENTO_SCADUTO` | expired |
/// | fault `PAA_IUD_NON_VALIDO` (no such due) | `not-found` |
/// | `pagati` with `codiceEsitoPagamento` `0` or `2` | paid |
/// | `pagati` with `codiceEsitoPagamento` `1` (the attempt failed; the due stays payable) | pending |
/// | `pagati` with `codiceEsitoPagamento` `3` or `4` (time limit passed) | expired |
fn map_status(answer: Result<&Element, &Fault>) -> Result<PaymentStatus, Error> {
    let reply = match answer {
        Err(fault) => {
            return match fault.code.as_str() {
                "PAA_PAGAMENTO_NON_INIZIATO" => Ok(PaymentStatus::Pending),
                "PAA_PAGAMENTO_IN_CORSO" => Ok(PaymentStatus::Started),
                "PAA_PAGAMENTO_ANNULLATO" => Ok(PaymentStatus::Canceled),
                "PAA_PAGAMENTO_SCADUTO" => Ok(PaymentStatus::Expired),
                // Asked by IUD: MyPay does not know the due.
                "PAA_IUD_NON_VALIDO" => Err(Error::NotFound(format!("{}: {}", fault.code, fault.string))),
                _ => Err(fault_error(fault)),
            };
        }
        Ok(reply) => reply,
    };
    let pagati = pagati_document(reply)?;
    let dati = pagati.child("datiPagamento").ok_or_else(|| Error::Protocol("pagati without datiPagamento".into()))?;
    let esito = dati.text_of(&["codiceEsitoPagamento"]).unwrap_or_default();
    match esito {
        "0" | "2" => {
            let amount = dati
                .text_of(&["importoTotalePagato"])
                .ok_or_else(|| Error::Protocol("pagati without importoTotalePagato".into()))
                .and_then(|a| cassa_sdk::money::parse_euros(a).map_err(|e| Error::Protocol(e.to_string())))?;
            let single = dati
                .child("datiSingoloPagamento")
                .ok_or_else(|| Error::Protocol("a paid due without datiSingoloPagamento".into()))?;
            let paid_at = single
                .text_of(&["dataEsitoSingoloPagamento"])
                .ok_or_else(|| Error::Protocol("no dataEsitoSingoloPagamento".into()))
                .and_then(|d| time::to_timestamp(d, Naive::Rome).map_err(Error::Protocol))?;
            let transaction_id = single
                .text_of(&["identificativoUnivocoRiscossione"])
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::Protocol("no identificativoUnivocoRiscossione".into()))?
                .to_owned();
            Ok(PaymentStatus::Paid(PaidDetails { paid_at, transaction_id, amount }))
        }
        "1" => Ok(PaymentStatus::Pending),
        "3" | "4" => Ok(PaymentStatus::Expired),
        other => Err(Error::Protocol(format!("unknown codiceEsitoPagamento `{other}`"))),
    }
}

/// Decodes an embedded document that may have been base64-encoded twice (MyPay4 encodes
/// `pagati` before its SOAP stack encodes the `base64Binary` again).
fn embedded_xml(b64: &str) -> Result<String, Error> {
    let protocol = |e: SoapError| Error::Protocol(format!("embedded document: {e}"));
    let once = cassa_sdk::soap::decode_embedded(b64).map_err(protocol)?;
    if once.trim_start().starts_with('<') {
        Ok(once)
    } else {
        cassa_sdk::soap::decode_embedded(&once).map_err(protocol)
    }
}

fn pagati_document(reply: &Element) -> Result<Element, Error> {
    let b64 = reply.text_of(&["pagati"]).ok_or_else(|| Error::Protocol("reply without pagati nor fault".into()))?;
    let xml = embedded_xml(b64)?;
    let document = Element::parse(&xml).map_err(|e| Error::Protocol(format!("pagati: {e}")))?;
    if document.namespace.as_deref() != Some(NS_DOCUMENTS) {
        return Err(Error::Protocol(format!("pagati root {} is not in {NS_DOCUMENTS}", document.name)));
    }
    Ok(document)
}

/// What a `Versamento` carries besides the action.
struct Due<'a> {
    iud: &'a str,
    iuv: &'a str,
    importo: &'a str,
    causale: &'a str,
    data_esecuzione: Option<String>,
    pagatore: Option<&'a Party>,
}

/// The `Versamento` document (`PagInf_Dovuti_Pagati_6_2_0.xsd`), every element qualified.
fn versamento(service: &Service, dati_specifici: &str, due: &Due<'_>, azione: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("Versamento", &[("xmlns", NS_DOCUMENTS)]).text_element("versioneOggetto", VERSIONE_OGGETTO);
    if let Some(p) = due.pagatore {
        let name = match &p.family_name {
            Some(family) if !family.is_empty() => format!("{} {family}", p.name),
            _ => p.name.clone(),
        };
        let two_upper =
            |v: &Option<String>| v.clone().filter(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()));
        w.start("soggettoPagatore", &[])
            .start("identificativoUnivocoPagatore", &[])
            .text_element(
                "tipoIdentificativoUnivoco",
                match p.kind {
                    PartyKind::Human => "F",
                    PartyKind::Legal => "G",
                },
            )
            .text_element("codiceIdentificativoUnivoco", &clip(&p.tax_id, 35))
            .end("identificativoUnivocoPagatore")
            .text_element("anagraficaPagatore", &clip(&name, 70))
            .optional_element("indirizzoPagatore", p.street_name.as_deref().map(|v| clip(v, 70)).as_deref())
            .optional_element("civicoPagatore", p.building_number.as_deref().map(|v| clip(v, 16)).as_deref())
            .optional_element("capPagatore", p.postal_code.as_deref().map(|v| clip(v, 16)).as_deref())
            .optional_element("localitaPagatore", p.town_name.as_deref().map(|v| clip(v, 35)).as_deref())
            .optional_element("provinciaPagatore", two_upper(&p.country_subdivision).as_deref())
            .optional_element("nazionePagatore", two_upper(&p.country).as_deref())
            .optional_element(
                "e-mailPagatore",
                p.email.as_deref().filter(|e| e.contains('@') && !e.contains(char::is_whitespace) && e.len() <= 256),
            )
            .end("soggettoPagatore");
    }
    w.start("datiVersamento", &[])
        .optional_element("dataEsecuzionePagamento", due.data_esecuzione.as_deref())
        .text_element("identificativoUnivocoVersamento", due.iuv)
        .text_element("identificativoUnivocoDovuto", due.iud)
        .text_element("importoSingoloVersamento", due.importo)
        .text_element("identificativoTipoDovuto", &service.tipo_dovuto)
        .text_element("causaleVersamento", &clip(due.causale, 1024))
        .text_element("datiSpecificiRiscossione", dati_specifici)
        .end("datiVersamento")
        .text_element("azione", azione)
        .end("Versamento");
    w.finish()
}

// ---- I/O ----

/// Sends `operation` with body children written by `children`; the `intestazionePPT` header
/// when `with_header`. Returns the `…Risposta` element, or its `fault`.
fn call(
    tenant: &Tenant,
    operation: &str,
    with_header: bool,
    children: impl FnOnce(&mut XmlWriter),
) -> Result<Element, Failure> {
    let wrapper = format!("ente:{operation}");
    let mut body = XmlWriter::new();
    body.start(&wrapper, &[]);
    children(&mut body);
    body.end(&wrapper);
    let header = with_header.then(|| {
        let mut h = XmlWriter::new();
        h.start("ppthead:intestazionePPT", &[])
            .text_element("codIpaEnte", &tenant.cod_ipa_ente)
            .end("ppthead:intestazionePPT");
        h.finish()
    });
    let namespaces: &[(&str, &str)] =
        if with_header { &[("ente", NS_ENTE), ("ppthead", NS_PPTHEAD)] } else { &[("ente", NS_ENTE)] };
    let request = SoapRequest { action: operation, namespaces, header, body: body.finish() };
    let element = cassa_sdk::soap::call(&tenant.endpoint_url, &request)?;
    if !element.is(NS_ENTE, &format!("{operation}Risposta")) {
        return Err(Failure::Other(Error::Protocol(format!("expected {operation}Risposta, got {}", element.name))));
    }
    if let Some(fault) = element.child("fault") {
        return Err(Failure::Fault(Fault {
            code: fault.text_of(&["faultCode"]).unwrap_or_default().to_owned(),
            string: fault.text_of(&["faultString"]).unwrap_or_default().to_owned(),
        }));
    }
    Ok(element)
}

/// `paaSILImportaDovuto` with `versamento`.
fn importa(tenant: &Tenant, versamento: &str) -> Result<Element, Failure> {
    call(tenant, "paaSILImportaDovuto", true, |w| {
        w.text_element("password", &secret("password"))
            .text_element("dovuto", &cassa_sdk::soap::encode_embedded(versamento))
            .text_element("flagGeneraIuv", "false");
    })
}

fn chiedi_pagati(tenant: &Tenant, iud: &str) -> Result<Element, Failure> {
    call(tenant, "paaSILChiediPagatiConRicevuta", false, |w| {
        w.text_element("codIpaEnte", &tenant.cod_ipa_ente)
            .text_element("password", &secret("password"))
            .text_element("identificativoUnivocoDovuto", iud);
    })
}

fn dati_specifici<'a>(service: &'a Service, category: Option<&'a str>) -> Result<&'a str, Error> {
    service
        .dati_specifici_riscossione
        .as_deref()
        .or(category.filter(|c| check_dati_specifici(c).is_ok()))
        .ok_or_else(|| Error::Rejected("no dati_specifici_riscossione: configure one for the service".into()))
}

/// `Versamento` for an action on an existing due (`S`, `A`): its amount from `remote-ref`.
fn existing_due(tenant: &Tenant, service: &Service, debt: &DebtRef, azione: &str) -> Result<Element, Failure> {
    let importo = debt
        .remote_ref
        .as_deref()
        .filter(|r| cassa_sdk::money::parse_euros(r).is_ok())
        .ok_or_else(|| Error::Rejected("the due's amount is unknown (no remote-ref from create)".into()))?;
    let iud = mypay_iud(&debt.iud)?;
    let causale = format!("Avviso {}", debt.notice_code);
    let due = Due { iud: &iud, iuv: &debt.iuv, importo, causale: &causale, data_esecuzione: None, pagatore: None };
    let dsr = dati_specifici(service, None).unwrap_or("9/0000000000/");
    importa(tenant, &versamento(service, dsr, &due, azione))
}

impl cassa_sdk::Connector for Mypay {
    type Config = (Tenant, Service);

    fn info() -> ConnectorInfo {
        cassa_sdk::connector_info!(
            name: "mypay",
            description: "MyPay (Regione Veneto): dues, notices and receipts over SOAP (PagamentiTelematiciDovutiPagati)",
            capabilities: Capabilities::NOTICE | Capabilities::RECEIPT | Capabilities::CANCEL,
        )
    }

    fn read_config(tenant_config: &str, service_config: &str) -> Result<Self::Config, Error> {
        read_config(tenant_config, service_config)
    }

    fn create((tenant, service): Self::Config, position: DebtPosition) -> Result<Created, Error> {
        let iud = mypay_iud(&position.iud)?;
        let importo = cassa_sdk::money::format_euros(position.amount);
        let dsr = dati_specifici(&service, position.pagopa_category.as_deref())?;
        let data_esecuzione = match &position.expire_at {
            Some(at) => {
                let epoch = time::epoch_seconds(at, Naive::Utc).map_err(Error::Rejected)?;
                Some(time::rome_local(epoch)[..10].to_owned())
            }
            None => None,
        };
        let pagatore = position.debtor.as_ref().unwrap_or(&position.payer);
        for attempt in 0..IUV_ATTEMPTS {
            let iuv = iuv_for(tenant.application_code, &position.iud, attempt)?;
            let due = Due {
                iud: &iud,
                iuv: &iuv,
                importo: &importo,
                causale: &position.reason,
                data_esecuzione: data_esecuzione.clone(),
                pagatore: Some(pagatore),
            };
            let created = || Created {
                iuv: iuv.clone(),
                notice_code: format!("3{iuv}"),
                remote_ref: Some(importo.clone()),
                online_url: None,
            };
            match importa(&tenant, &versamento(&service, dsr, &due, "I")) {
                Ok(reply) if reply.text_of(&["esito"]) == Some("OK") => return Ok(created()),
                Ok(reply) => {
                    return Err(Error::Protocol(format!(
                        "esito `{}` without a fault",
                        reply.text_of(&["esito"]).unwrap_or_default()
                    )));
                }
                Err(Failure::Fault(f)) if f.code == "PAA_IMPORT_IUD_DUPLICATO" => {
                    cassa_sdk::log::info("the due exists already; reusing it");
                    return Ok(created());
                }
                Err(Failure::Fault(f)) if f.code == "PAA_IMPORT_IUV_DUPLICATO" => {
                    cassa_sdk::log::warn(&format!("IUV candidate {attempt} is taken by another due; trying the next"));
                }
                Err(failure) => return Err(failure.into()),
            }
        }
        Err(Error::Rejected(format!("MyPay refused {IUV_ATTEMPTS} IUV candidates as duplicates")))
    }

    fn status((tenant, _): Self::Config, debt: DebtRef) -> Result<PaymentStatus, Error> {
        match chiedi_pagati(&tenant, &mypay_iud(&debt.iud)?) {
            Ok(reply) => map_status(Ok(&reply)),
            Err(Failure::Fault(fault)) => map_status(Err(&fault)),
            Err(Failure::Other(error)) => Err(error),
        }
    }

    fn receipt((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let reply = chiedi_pagati(&tenant, &mypay_iud(&debt.iud)?).map_err(|failure| match failure {
            Failure::Fault(f) if f.code.starts_with("PAA_PAGAMENTO_") => {
                Error::NotFound(format!("no receipt yet: {}", f.string))
            }
            other => other.into(),
        })?;
        let rt = reply
            .text_of(&["rt"])
            .filter(|r| !r.is_empty())
            .ok_or_else(|| Error::NotFound("MyPay sent no receipt (rt)".into()))?;
        let body = cassa_sdk::soap::decode_embedded_bytes(rt).map_err(|e| Error::Protocol(format!("rt: {e}")))?;
        Ok(Document {
            content_type: "application/xml".into(),
            filename: format!("ricevuta-{}.xml", debt.notice_code),
            body,
        })
    }

    fn notice((tenant, service): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let reply = existing_due(&tenant, &service, &debt, "S")?;
        let b64 = reply
            .text_of(&["base64ZipAvviso"])
            .ok_or_else(|| Error::Protocol("no base64ZipAvviso in the reply".into()))?;
        let bytes = cassa_sdk::soap::decode_embedded_bytes(b64).map_err(|e| Error::Protocol(e.to_string()))?;
        // Older MyPay versions send the PDF itself, newer ones a ZIP holding it.
        let pdf = if bytes.starts_with(b"%PDF-") {
            bytes
        } else {
            cassa_sdk::zip::entries(&bytes)
                .map_err(|e| Error::Protocol(format!("base64ZipAvviso: {e}")))?
                .into_iter()
                .find(|e| e.data.starts_with(b"%PDF-"))
                .ok_or_else(|| Error::Protocol("base64ZipAvviso holds no PDF".into()))?
                .data
        };
        Ok(Document {
            content_type: "application/pdf".into(),
            filename: format!("avviso-{}.pdf", debt.notice_code),
            body: pdf,
        })
    }

    fn cancel((tenant, service): Self::Config, debt: DebtRef) -> Result<(), Error> {
        match existing_due(&tenant, &service, &debt, "A") {
            Ok(_) => Ok(()),
            Err(Failure::Fault(f)) if f.code == "PAA_IMPORT_DOVUTO_NON_PRESENTE" => {
                // Cancelled before (a retry), or paid meanwhile.
                match chiedi_pagati(&tenant, &mypay_iud(&debt.iud)?) {
                    Err(Failure::Fault(g)) if g.code == "PAA_PAGAMENTO_ANNULLATO" => Ok(()),
                    _ => Err(Error::Rejected(format!("MyPay cannot cancel the due: {}", f.string))),
                }
            }
            Err(failure) => Err(failure.into()),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn pagati_reply(esito: &str) -> Element {
        let doc = format!(
            "<PagatiConRicevuta xmlns=\"{NS_DOCUMENTS}\"><datiPagamento><codiceEsitoPagamento>{esito}</codiceEsitoPagamento>\
             <importoTotalePagato>16.00</importoTotalePagato><datiSingoloPagamento>\
             <dataEsitoSingoloPagamento>2026-07-01</dataEsitoSingoloPagamento>\
             <identificativoUnivocoRiscossione>IUR1</identificativoUnivocoRiscossione>\
             </datiSingoloPagamento></datiPagamento></PagatiConRicevuta>"
        );
        // Twice encoded, as MyPay4 sends it.
        let twice = cassa_sdk::soap::encode_embedded(&cassa_sdk::soap::encode_embedded(&doc));
        Element::parse(&format!("<r xmlns=\"{NS_ENTE}\"><pagati xmlns=\"\">{twice}</pagati></r>")).unwrap()
    }

    fn fault(code: &str) -> Fault {
        Fault { code: code.into(), string: "x".into() }
    }

    #[test]
    fn maps_every_mypay_answer() {
        assert!(matches!(map_status(Err(&fault("PAA_PAGAMENTO_NON_INIZIATO"))).unwrap(), PaymentStatus::Pending));
        assert!(matches!(map_status(Err(&fault("PAA_PAGAMENTO_IN_CORSO"))).unwrap(), PaymentStatus::Started));
        assert!(matches!(map_status(Err(&fault("PAA_PAGAMENTO_ANNULLATO"))).unwrap(), PaymentStatus::Canceled));
        assert!(matches!(map_status(Err(&fault("PAA_PAGAMENTO_SCADUTO"))).unwrap(), PaymentStatus::Expired));
        assert!(matches!(map_status(Err(&fault("PAA_IUD_NON_VALIDO"))), Err(Error::NotFound(_))));
        assert!(matches!(map_status(Err(&fault("PAA_SYSTEM_ERROR"))), Err(Error::Unavailable(_))));
        assert!(matches!(map_status(Err(&fault("PAA_ENTE_NON_VALIDO"))), Err(Error::Rejected(_))));
        for esito in ["0", "2"] {
            let PaymentStatus::Paid(paid) = map_status(Ok(&pagati_reply(esito))).unwrap() else { panic!("{esito}") };
            // A date in Rome: midnight of 1 July is 22:00 UTC the day before.
            assert_eq!(
                (paid.paid_at.as_str(), paid.transaction_id.as_str(), paid.amount),
                ("2026-06-30T22:00:00Z", "IUR1", 1600)
            );
        }
        assert!(matches!(map_status(Ok(&pagati_reply("1"))).unwrap(), PaymentStatus::Pending));
        assert!(matches!(map_status(Ok(&pagati_reply("3"))).unwrap(), PaymentStatus::Expired));
        assert!(matches!(map_status(Ok(&pagati_reply("7"))), Err(Error::Protocol(_))));
    }

    #[test]
    fn iuds_mypay_refuses_are_mapped() {
        assert_eq!(mypay_iud("000abc").unwrap(), "X000abc");
        assert_eq!(mypay_iud("0452545f").unwrap(), "0452545f");
        assert!(mypay_iud(&"a".repeat(36)).is_err());
    }

    #[test]
    fn validates_configuration_field_by_field() {
        let Err(Error::InvalidConfig(errors)) = read_config(
            r#"{"endpoint_url": "x", "application_code": "1"}"#,
            r#"{"dati_specifici_riscossione": "9/a b"}"#,
        ) else {
            panic!()
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tenant.endpoint_url",
                "tenant.cod_ipa_ente",
                "tenant.application_code",
                "tenant.password",
                "service.tipo_dovuto",
                "service.dati_specifici_riscossione"
            ]
        );
    }
}
