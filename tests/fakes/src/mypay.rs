//! A fake of MyPay (Regione Veneto), `PagamentiTelematiciDovutiPagatiService` of
//! `tests/specs/mypay/pa-per-ente.wsdl`, at `POST /ws/pa/PagamentiTelematiciDovutiPagati`.
//!
//! A request passes, in order: SOAP 1.1 (`text/xml`, an `Envelope` in the SOAP 1.1 namespace),
//! a `SOAPAction` equal to the body element's name, the body element in the WSDL's namespace and
//! valid against the WSDL's schema, the header `intestazionePPT` where the WSDL binds one — a
//! SOAP `Client` fault otherwise. Then, as MyPay4 answers (faults in the reply's `fault` element,
//! `esito` `KO`): the embedded `Versamento` valid against the XSD (`PAA_XML_NON_VALIDO`), the
//! ente and its password (`PAA_ENTE_NON_VALIDO`), the `azione` (`PAA_AZIONE_NON_VALIDO`), the
//! type of due (`PAA_IDENTIFICATIVO_TIPO_DOVUTO_NON_VALIDO`), an IUV the ente may use
//! (`PAA_IUV_NON_VALIDO`, also for wrong check digits), no second active due with the same IUD
//! (`PAA_IMPORT_IUD_DUPLICATO`) or IUV (`PAA_IMPORT_IUV_DUPLICATO`).
//!
//! Operations: `paaSILImportaDovuto` with `azione` `I` (insert; with `flagGeneraIuv` the fake
//! generates the IUV and a `urlFileAvviso`), `M`, `A` (cancel) and `S` (the notice as
//! `base64ZipAvviso`, a ZIP holding `avviso_<CF ente>_<IUV>.pdf`), and
//! `paaSILChiediPagatiConRicevuta` by IUD or IUV (`PAA_PAGAMENTO_NON_INIZIATO`,
//! `PAA_PAGAMENTO_ANNULLATO`, `PAA_IUD_NON_VALIDO`, or `pagati` + `rt` once paid). XSD
//! validation needs `xmllint`; without it the fake checks structure only.
//!
//! Where MyPay4's behaviour is not public (a cancelled due asked for with
//! `paaSILChiediPagatiConRicevuta`), the fake answers `PAA_PAGAMENTO_ANNULLATO`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use cassa_sdk::soap::SOAP_ENV_NS;
use cassa_sdk::xml::{Element, XmlWriter};
use chrono::{DateTime, Utc};

use crate::xsd::{MypaySchema, Xsd, ns, serialize};
use crate::{Conformance, DebtRef, Intermediary, Recorded, Reply};

/// Where the service listens.
pub const PATH: &str = "/ws/pa/PagamentiTelematiciDovutiPagati";

/// Operations whose request carries the `intestazionePPT` header (the WSDL's binding).
const WITH_HEADER: [&str; 11] = [
    "paaSILInviaDovuti",
    "paaSILInviaCarrelloDovuti",
    "paaSILVerificaAvviso",
    "paaSILImportaDovuto",
    "paaSILAutorizzaImportFlusso",
    "paaSILChiediStatoImportFlusso",
    "paaSILPrenotaExportFlusso",
    "paaSILPrenotaExportFlussoScaduti",
    "paaSILPrenotaExportFlussoIncrementaleConRicevuta",
    "paaSILChiediStatoExportFlusso",
    "paaSILChiediStatoExportFlussoScaduti",
];

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct MypaySettings {
    /// The ente's IPA code.
    pub cod_ipa_ente: String,
    /// The ente's fiscal code.
    pub fiscal_code: String,
    /// Its password (8–15 characters).
    pub password: String,
    /// Its application code: the first two digits of the IUVs it may use.
    pub application_code: u8,
    /// The types of due it has (`identificativoTipoDovuto`).
    pub tipi_dovuto: Vec<String>,
}

impl Default for MypaySettings {
    fn default() -> Self {
        let password: String = uuid::Uuid::new_v4().simple().to_string().chars().take(12).collect();
        Self {
            cod_ipa_ente: "c_b885".into(),
            fiscal_code: "80001234568".into(),
            password,
            application_code: 1,
            tipi_dovuto: vec!["DIRITTI_SEGRETERIA".into(), "TARI".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Unpaid,
    Paid { at: DateTime<Utc>, iur: String },
    Cancelled,
}

/// A due (dovuto) the ente holds.
#[derive(Debug, Clone)]
struct Dovuto {
    iud: String,
    iuv: String,
    importo: String,
    causale: String,
    tipo: String,
    dati_specifici: String,
    pagatore: Option<(String, String, String)>,
    state: State,
}

/// The fake MyPay.
pub struct Mypay {
    settings: MypaySettings,
    /// Dues by IUD.
    dovuti: Mutex<BTreeMap<String, Dovuto>>,
    next_iuv: Mutex<u64>,
}

/// A SOAP 1.1 `Client` fault: the request is not what the WSDL describes.
fn client_fault(why: &str) -> Reply {
    let mut w = XmlWriter::new();
    w.declaration()
        .start("SOAP-ENV:Envelope", &[("xmlns:SOAP-ENV", SOAP_ENV_NS)])
        .start("SOAP-ENV:Body", &[])
        .start("SOAP-ENV:Fault", &[])
        .text_element("faultcode", "SOAP-ENV:Client")
        .text_element("faultstring", why)
        .end("SOAP-ENV:Fault")
        .end("SOAP-ENV:Body")
        .end("SOAP-ENV:Envelope");
    Reply::bytes(500, "text/xml; charset=utf-8", w.finish().into_bytes())
}

/// A reply envelope around the `…Risposta` element whose children `body` writes.
fn reply(operation: &str, body: impl FnOnce(&mut XmlWriter)) -> Reply {
    let mut w = XmlWriter::new();
    let element = format!("ns2:{operation}Risposta");
    w.declaration()
        .start("SOAP-ENV:Envelope", &[("xmlns:SOAP-ENV", SOAP_ENV_NS)])
        .start("SOAP-ENV:Header", &[])
        .end("SOAP-ENV:Header")
        .start("SOAP-ENV:Body", &[])
        .start(&element, &[("xmlns:ns2", ns::ENTE)]);
    body(&mut w);
    w.end(&element).end("SOAP-ENV:Body").end("SOAP-ENV:Envelope");
    Reply::bytes(200, "text/xml; charset=utf-8", w.finish().into_bytes())
}

/// A business fault in the reply's `fault` (a `faultBean`), with `esito` `KO` where the reply
/// has one.
fn fault(operation: &str, ente: &str, code: &str, string: &str, with_esito: bool) -> Reply {
    reply(operation, |w| {
        w.start("fault", &[])
            .text_element("faultCode", code)
            .text_element("faultString", string)
            .text_element("id", ente)
            .text_element("serial", "0")
            .end("fault");
        if with_esito {
            w.text_element("esito", "KO");
        }
    })
}

fn is_amount(text: &str) -> bool {
    let Some((units, cents)) = text.split_once('.') else { return false };
    !units.is_empty()
        && units.bytes().all(|b| b.is_ascii_digit())
        && cents.len() == 2
        && cents.bytes().all(|b| b.is_ascii_digit())
}

/// The structural rules of `Versamento` (applied also without `xmllint`).
fn check_versamento(doc: &Element) -> Result<(), String> {
    if !doc.is(ns::DOCUMENTS, "Versamento") {
        return Err(format!("root element {} is not Versamento in {}", doc.name, ns::DOCUMENTS));
    }
    let names: Vec<&str> = doc.children.iter().map(|c| c.name.as_str()).collect();
    let expected: &[&str] = if names.contains(&"soggettoPagatore") {
        &["versioneOggetto", "soggettoPagatore", "datiVersamento", "azione"]
    } else {
        &["versioneOggetto", "datiVersamento", "azione"]
    };
    if names != expected {
        return Err(format!("Versamento has {names:?}, expected {expected:?}"));
    }
    if let Some(bad) = doc.find_all_unqualified() {
        return Err(format!("element {bad} is not in the documents' namespace"));
    }
    let dati = doc.child("datiVersamento").ok_or("no datiVersamento")?;
    let importo = dati.text_of(&["importoSingoloVersamento"]).ok_or("no importoSingoloVersamento")?;
    if !is_amount(importo) || importo == "0.00" {
        return Err(format!("importoSingoloVersamento `{importo}` is not a positive amount with two decimals"));
    }
    for required in ["identificativoTipoDovuto", "causaleVersamento", "datiSpecificiRiscossione"] {
        if dati.text_of(&[required]).is_none_or(str::is_empty) {
            return Err(format!("{required} is missing"));
        }
    }
    let dsr = dati.text_of(&["datiSpecificiRiscossione"]).unwrap_or_default();
    let ok = dsr.len() >= 5
        && dsr.as_bytes()[1] == b'/'
        && b"0129".contains(&dsr.as_bytes()[0])
        && !dsr.contains(char::is_whitespace);
    if !ok {
        return Err(format!("datiSpecificiRiscossione `{dsr}` does not match [0129]/\\S{{3,138}}"));
    }
    Ok(())
}

trait Unqualified {
    fn find_all_unqualified(&self) -> Option<String>;
}

impl Unqualified for Element {
    /// The first descendant outside the documents' namespace (the XSD qualifies every element).
    fn find_all_unqualified(&self) -> Option<String> {
        self.children.iter().find_map(|c| {
            if c.namespace.as_deref() != Some(ns::DOCUMENTS) { Some(c.name.clone()) } else { c.find_all_unqualified() }
        })
    }
}

impl Mypay {
    /// A fake with `settings`.
    pub fn new(settings: MypaySettings) -> Self {
        Self { settings, dovuti: Mutex::new(BTreeMap::new()), next_iuv: Mutex::new(1) }
    }

    /// The ente's password.
    pub fn password(&self) -> &str {
        &self.settings.password
    }

    /// How many dues the fake holds in all.
    pub fn dovuti_count(&self) -> usize {
        self.dovuti.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Validates against the WSDL's or the XSD's schema where `xmllint` is available.
    fn validate(schema: MypaySchema, element: &Element) -> Result<(), String> {
        let xsd = Xsd::mypay()?;
        match xsd.validate(schema, &serialize(element)) {
            None | Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(why),
        }
    }

    fn importa_dovuto(&self, base_url: &str, body: &Element, ente: &str) -> Reply {
        const OP: &str = "paaSILImportaDovuto";
        let ko = |code: &str, why: &str| fault(OP, ente, code, why, true);
        let text = |name: &str| body.text_of(&[name]).unwrap_or_default().to_owned();
        let document = match cassa_sdk::soap::decode_embedded(&text("dovuto"))
            .map_err(|e| e.to_string())
            .and_then(|xml| Element::parse(&xml).map_err(|e| e.to_string()))
        {
            Ok(document) => document,
            Err(why) => return ko("PAA_XML_NON_VALIDO", &format!("XML dei dovuti non valido: {why}")),
        };
        if let Err(why) = check_versamento(&document).and_then(|()| Self::validate(MypaySchema::Document, &document)) {
            return ko("PAA_XML_NON_VALIDO", &format!("XML dei dovuti non valido: {why}"));
        }
        if ente != self.settings.cod_ipa_ente {
            return ko("PAA_ENTE_NON_VALIDO", &format!("codice IPA Ente [{ente}] non valido"));
        }
        if body.text_of(&["password"]) != Some(self.settings.password.as_str()) {
            return ko("PAA_ENTE_NON_VALIDO", &format!("Password non valida per ente [{ente}]"));
        }
        let azione = document.text_of(&["azione"]).unwrap_or_default().to_owned();
        if !["I", "M", "A", "S"].contains(&azione.as_str()) {
            return ko("PAA_AZIONE_NON_VALIDO", &format!("azione [{azione}] non valida"));
        }
        let dati = document.child("datiVersamento").cloned().unwrap_or_default();
        let field = |name: &str| dati.text_of(&[name]).unwrap_or_default().to_owned();
        let flag = body.text_of(&["flagGeneraIuv"]).is_some_and(|f| f == "true" || f == "1");
        let mut iuv = field("identificativoUnivocoVersamento");
        if !iuv.is_empty() {
            let app_ok = iuv.get(..2).and_then(|c| c.parse::<u8>().ok()) == Some(self.settings.application_code);
            let digits_ok = cassa_sdk::iuv::iuv_from_notice_code(&format!("3{iuv}")).is_ok_and(|i| i == iuv);
            if iuv.len() != 17 || !app_ok || !digits_ok {
                return ko("PAA_IUV_NON_VALIDO", &format!("IUV [{iuv}] non valido per ente [{ente}]"));
            }
        }
        let tipo = field("identificativoTipoDovuto");
        if !self.settings.tipi_dovuto.contains(&tipo) {
            return ko(
                "PAA_IDENTIFICATIVO_TIPO_DOVUTO_NON_VALIDO",
                &format!("Error tipo dovuto [{tipo}] non censito per ente [{ente}]"),
            );
        }
        let iud = field("identificativoUnivocoDovuto");
        if iud.is_empty() || iud.starts_with("000") {
            return ko("PAA_IUD_NON_VALIDO", &format!("IUD [{iud}] non valido"));
        }
        let Ok(mut dovuti) = self.dovuti.lock() else { return ko("PAA_SYSTEM_ERROR", "state lock poisoned") };
        let prefix = format!("{OP}: Errore import dovuto IUV [{iuv}] e IUD [{iud}]: ");
        match azione.as_str() {
            "I" => {
                if dovuti.get(&iud).is_some_and(|d| d.state != State::Cancelled) {
                    return ko(
                        "PAA_IMPORT_IUD_DUPLICATO",
                        &format!("{prefix}IUD attivo presente nel database, non si accettano dovuti duplicati"),
                    );
                }
                let generated = iuv.is_empty() && flag;
                if generated {
                    let Ok(mut next) = self.next_iuv.lock() else { return ko("PAA_SYSTEM_ERROR", "lock") };
                    match cassa_sdk::iuv::new_iuv(self.settings.application_code, *next) {
                        Ok(new) => iuv = new,
                        Err(e) => return ko("PAA_SYSTEM_ERROR", &format!("Errore generazione iuv: {e}")),
                    }
                    *next += 1;
                }
                if !iuv.is_empty() && dovuti.values().any(|d| d.iuv == iuv && d.state != State::Cancelled) {
                    return ko("PAA_IMPORT_IUV_DUPLICATO", &format!("{prefix}IUV duplicato"));
                }
                let pagatore = document.child("soggettoPagatore").map(|p| {
                    let text = |path: &[&str]| p.text_of(path).unwrap_or_default().to_owned();
                    (
                        text(&["identificativoUnivocoPagatore", "tipoIdentificativoUnivoco"]),
                        text(&["identificativoUnivocoPagatore", "codiceIdentificativoUnivoco"]),
                        text(&["anagraficaPagatore"]),
                    )
                });
                dovuti.insert(
                    iud.clone(),
                    Dovuto {
                        iud: iud.clone(),
                        iuv: iuv.clone(),
                        importo: field("importoSingoloVersamento"),
                        causale: field("causaleVersamento"),
                        tipo,
                        dati_specifici: field("datiSpecificiRiscossione"),
                        pagatore,
                        state: State::Unpaid,
                    },
                );
                reply(OP, |w| {
                    w.text_element("esito", "OK");
                    if generated {
                        w.text_element("identificativoUnivocoVersamento", &iuv);
                        w.text_element("urlFileAvviso", &format!("{base_url}/public/landing/avviso?iuv={iuv}"));
                    }
                })
            }
            "M" | "A" | "S" => {
                let Some(dovuto) = dovuti.get_mut(&iud).filter(|d| d.state == State::Unpaid) else {
                    return ko(
                        "PAA_IMPORT_DOVUTO_NON_PRESENTE",
                        &format!("{prefix}Dovuto non presente o in pagamento nel database"),
                    );
                };
                match azione.as_str() {
                    "M" => {
                        if !iuv.is_empty() && iuv != dovuto.iuv {
                            return ko(
                                "PAA_IMPORT_IUV_DUPLICATO",
                                &format!("{prefix}Non è possibile modificare il codice iuv di un dovuto"),
                            );
                        }
                        dovuto.importo = field("importoSingoloVersamento");
                        dovuto.causale = field("causaleVersamento");
                        reply(OP, |w| {
                            w.text_element("esito", "OK");
                        })
                    }
                    "A" => {
                        dovuto.state = State::Cancelled;
                        reply(OP, |w| {
                            w.text_element("esito", "OK");
                        })
                    }
                    _ => {
                        if iuv.is_empty() || flag || iuv != dovuto.iuv {
                            return ko("PAA_SYSTEM_ERROR", "azione S: serve lo IUV del dovuto e flagGeneraIuv=false");
                        }
                        let pdf = self.notice_pdf(dovuto);
                        let name = format!("avviso_{}_{}.pdf", self.settings.fiscal_code, dovuto.iuv);
                        let zip = cassa_sdk::zip::write(&[(name.as_str(), pdf.as_slice())]);
                        reply(OP, |w| {
                            w.text_element("esito", "OK");
                            w.text_element("base64ZipAvviso", &cassa_sdk::soap::encode_embedded_bytes(&zip));
                        })
                    }
                }
            }
            _ => ko("PAA_AZIONE_NON_VALIDO", "azione non valida"),
        }
    }

    fn notice_pdf(&self, dovuto: &Dovuto) -> Vec<u8> {
        let amount = cassa_sdk::money::parse_euros(&dovuto.importo).unwrap_or(0);
        cassa_sdk::pdf::text_document(&[
            "Avviso di pagamento pagoPA (MyPay)".to_owned(),
            format!("Ente: {} ({})", self.settings.cod_ipa_ente, self.settings.fiscal_code),
            format!("Causale: {}", dovuto.causale),
            format!("Importo: {}", cassa_sdk::money::format_euros(amount)),
            format!("Codice avviso: 3{}", dovuto.iuv),
        ])
    }

    fn chiedi_pagati(&self, body: &Element) -> Reply {
        const OP: &str = "paaSILChiediPagatiConRicevuta";
        let ente = body.text_of(&["codIpaEnte"]).unwrap_or_default().to_owned();
        let ko = |code: &str, why: &str| fault(OP, &ente, code, why, false);
        if ente != self.settings.cod_ipa_ente {
            return ko("PAA_ENTE_NON_VALIDO", &format!("codice IPA Ente [{ente}] non valido o password errata"));
        }
        if body.text_of(&["password"]) != Some(self.settings.password.as_str()) {
            return ko("PAA_ENTE_NON_VALIDO", &format!("Password non valida per ente [{ente}]"));
        }
        let keys: Vec<&str> = ["idSession", "identificativoUnivocoVersamento", "identificativoUnivocoDovuto"]
            .into_iter()
            .filter(|k| body.child(k).is_some())
            .collect();
        if keys.len() != 1 {
            return ko("PAA_SYSTEM_ERROR", "serve uno solo tra idSession, IUV e IUD");
        }
        let Ok(dovuti) = self.dovuti.lock() else { return ko("PAA_SYSTEM_ERROR", "lock") };
        let wanted = body.text_of(&[keys[0]]).unwrap_or_default();
        let found = match keys[0] {
            "identificativoUnivocoDovuto" => dovuti.get(wanted),
            "identificativoUnivocoVersamento" => dovuti.values().find(|d| d.iuv == wanted),
            _ => None,
        };
        let Some(dovuto) = found else {
            return match keys[0] {
                "identificativoUnivocoVersamento" => {
                    ko("PAA_IUV_NON_VALIDO", &format!("IUV non valido per ente [ {ente} ]."))
                }
                _ => ko("PAA_IUD_NON_VALIDO", &format!("IUD non valido per ente [ {ente} ].")),
            };
        };
        match &dovuto.state {
            State::Unpaid => ko(
                "PAA_PAGAMENTO_NON_INIZIATO",
                &format!("Pagamento non iniziato per ente [ {ente} ], IUD [ {} ]", dovuto.iud),
            ),
            State::Cancelled => {
                ko("PAA_PAGAMENTO_ANNULLATO", &format!("Pagamento annullato per IUD [ {} ]", dovuto.iud))
            }
            State::Paid { at, iur } => {
                let pagati = self.pagati_con_ricevuta(dovuto, *at, iur);
                let rt = format!(
                    "<RT><identificativoUnivocoVersamento>{}</identificativoUnivocoVersamento><importo>{}</importo></RT>",
                    dovuto.iuv, dovuto.importo
                );
                reply(OP, |w| {
                    w.text_element("pagati", &cassa_sdk::soap::encode_embedded(&pagati));
                    w.text_element("tipoFirma", "");
                    w.text_element("rt", &cassa_sdk::soap::encode_embedded(&rt));
                })
            }
        }
    }

    /// The `PagatiConRicevuta` document of a paid due (valid against the XSD).
    fn pagati_con_ricevuta(&self, dovuto: &Dovuto, at: DateTime<Utc>, iur: &str) -> String {
        let date = at.format("%Y-%m-%d").to_string();
        let (kind, code, name) =
            dovuto.pagatore.clone().unwrap_or_else(|| ("F".into(), "ANONIMO".into(), "Anonimo".into()));
        let mut w = XmlWriter::new();
        w.declaration()
            .start("PagatiConRicevuta", &[("xmlns", ns::DOCUMENTS)])
            .text_element("versioneOggetto", "6.2")
            .start("dominio", &[])
            .text_element("identificativoDominio", &self.settings.fiscal_code)
            .end("dominio")
            .text_element("identificativoMessaggioRicevuta", &format!("RT-{iur}"))
            .text_element("dataOraMessaggioRicevuta", &at.format("%Y-%m-%dT%H:%M:%S").to_string())
            .text_element("riferimentoMessaggioRichiesta", &format!("RPT-{}", dovuto.iuv))
            .text_element("riferimentoDataRichiesta", &date)
            .start("istitutoAttestante", &[])
            .start("identificativoUnivocoAttestante", &[])
            .text_element("tipoIdentificativoUnivoco", "B")
            .text_element("codiceIdentificativoUnivoco", "FAKEITMM")
            .end("identificativoUnivocoAttestante")
            .text_element("denominazioneAttestante", "Banca Fittizia S.p.A.")
            .end("istitutoAttestante")
            .start("enteBeneficiario", &[])
            .start("identificativoUnivocoBeneficiario", &[])
            .text_element("tipoIdentificativoUnivoco", "G")
            .text_element("codiceIdentificativoUnivoco", &self.settings.fiscal_code)
            .end("identificativoUnivocoBeneficiario")
            .text_element("denominazioneBeneficiario", &self.settings.cod_ipa_ente)
            .end("enteBeneficiario")
            .start("soggettoPagatore", &[])
            .start("identificativoUnivocoPagatore", &[])
            .text_element("tipoIdentificativoUnivoco", &kind)
            .text_element("codiceIdentificativoUnivoco", &code)
            .end("identificativoUnivocoPagatore")
            .text_element("anagraficaPagatore", &name)
            .end("soggettoPagatore")
            .start("datiPagamento", &[])
            .text_element("codiceEsitoPagamento", "0")
            .text_element("importoTotalePagato", &dovuto.importo)
            .text_element("identificativoUnivocoVersamento", &dovuto.iuv)
            .text_element("codiceContestoPagamento", "n/a")
            .start("datiSingoloPagamento", &[])
            .text_element("identificativoUnivocoDovuto", &dovuto.iud)
            .text_element("singoloImportoPagato", &dovuto.importo)
            .text_element("esitoSingoloPagamento", "ESEGUITO")
            .text_element("dataEsitoSingoloPagamento", &date)
            .text_element("identificativoUnivocoRiscossione", iur)
            .text_element("causaleVersamento", &dovuto.causale.chars().take(140).collect::<String>())
            .text_element("datiSpecificiRiscossione", &dovuto.dati_specifici)
            .end("datiSingoloPagamento")
            .end("datiPagamento")
            .end("PagatiConRicevuta");
        w.finish()
    }

    /// The `tipo` of the due `iud`, for tests.
    pub fn tipo_of(&self, iud: &str) -> Option<String> {
        self.dovuti.lock().ok()?.get(iud).map(|d| d.tipo.clone())
    }
}

impl Intermediary for Mypay {
    fn conformance(&self, base_url: &str) -> Conformance {
        Conformance {
            name: format!("MyPay fake at {base_url}"),
            tenant_config: serde_json::json!({
                "endpoint_url": format!("{base_url}{PATH}"),
                "cod_ipa_ente": self.settings.cod_ipa_ente,
                "application_code": format!("{:02}", self.settings.application_code),
                "password": self.settings.password,
            }),
            service_config: serde_json::json!({
                "tipo_dovuto": self.settings.tipi_dovuto[0],
                "dati_specifici_riscossione": "9/0101108TS/",
            }),
        }
    }

    fn handle(&self, request: &Recorded) -> Reply {
        if request.method == "GET" && request.path == "/public/landing/avviso" {
            let iuv = crate::query_param(&request.query, "iuv").unwrap_or_default();
            let dovuti = self.dovuti.lock().map(|d| d.values().find(|d| d.iuv == iuv).cloned()).ok().flatten();
            return match dovuti {
                Some(d) => Reply::bytes(200, "application/pdf", self.notice_pdf(&d)),
                None => Reply::bytes(404, "text/plain", b"avviso non trovato".to_vec()),
            };
        }
        if request.method != "POST" || request.path != PATH {
            return Reply::bytes(404, "text/plain", b"Not Found".to_vec());
        }
        if !request.header("content-type").is_some_and(|c| c.starts_with("text/xml")) {
            return Reply::bytes(415, "text/plain", b"SOAP 1.1 wants text/xml".to_vec());
        }
        let body = match cassa_sdk::soap::parse_envelope_with_header(&request.body) {
            Ok(parts) => parts,
            Err(why) => return client_fault(&format!("not a SOAP 1.1 request: {why}")),
        };
        let (header, element) = body;
        let action = request.header("soapaction").unwrap_or_default().trim_matches('"');
        if action != element.name {
            return client_fault(&format!("SOAPAction `{action}` does not name the body element `{}`", element.name));
        }
        if element.namespace.as_deref() != Some(ns::ENTE) {
            return client_fault(&format!("{} is not in {}", element.name, ns::ENTE));
        }
        if let Err(why) = Self::validate(MypaySchema::Body, &element) {
            return client_fault(&format!("the request does not follow the WSDL: {why}"));
        }
        let ente = if WITH_HEADER.contains(&element.name.as_str()) {
            let Some(intestazione) = header.iter().find(|h| h.is(ns::PPTHEAD, "intestazionePPT")) else {
                return client_fault("the header intestazionePPT is missing");
            };
            if let Err(why) = Self::validate(MypaySchema::Header, intestazione) {
                return client_fault(&format!("the header does not follow the WSDL: {why}"));
            }
            intestazione.text_of(&["codIpaEnte"]).unwrap_or_default().to_owned()
        } else {
            String::new()
        };
        let base_url = request.header("host").map(|h| format!("http://{h}")).unwrap_or_default();
        match element.name.as_str() {
            "paaSILImportaDovuto" => self.importa_dovuto(&base_url, &element, &ente),
            "paaSILChiediPagatiConRicevuta" => self.chiedi_pagati(&element),
            other => client_fault(&format!("the fake does not implement {other}")),
        }
    }

    fn pay(&self, debt: &DebtRef) -> Result<(), String> {
        let mut dovuti = self.dovuti.lock().map_err(|_| "lock".to_owned())?;
        let dovuto = dovuti
            .values_mut()
            .find(|d| d.iuv == debt.iuv && format!("3{}", d.iuv) == debt.notice_code)
            .ok_or_else(|| format!("no due with IUV {}", debt.iuv))?;
        if dovuto.state != State::Unpaid {
            return Err(format!("the due is {:?}", dovuto.state));
        }
        dovuto.state = State::Paid { at: Utc::now(), iur: format!("IUR{}", uuid::Uuid::new_v4().simple()) };
        Ok(())
    }

    fn positions_for(&self, iud: &str) -> usize {
        // IUDs are mapped only when they start with `000` (see the connector).
        self.dovuti
            .lock()
            .map(|d| d.values().filter(|d| d.iud == iud || d.iud.strip_prefix('X') == Some(iud)).count())
            .unwrap_or(0)
    }
}
