//! The `iris` connector: IRIS (Regione Toscana, TAS "IdP"), `tests/specs/iris/` (GATEWAYS.md
//! §5): four SOAP 1.1 services.
//!
//! | operation | request |
//! |---|---|
//! | `create` | (with `iuv_source` `iris`: `GeneraIUV`) then `IdpAllineamentoPendenzeEnteOTF`, a `Pendenza` `Insert` whose payment carries the IUV as its `CIP` |
//! | `status` | `IdpVerificaStatoPagamenti` with `richiestaInformazioniPagamento` |
//! | `receipt` | the same call's `Pagamento/Allegato` of type `Ricevuta` |
//! | `notice` | `GeneraAvviso` |
//! | `cancel` | `IdpAllineamentoPendenzeEnteOTF`, an `UpdateStatus` to `Chiusa` with the payment `Non Pagabile` |
//!
//! **Idempotent create.** `IdPendenza` and `IdPagamento` are cassa's IUD. By default
//! (`iuv_source` `connector`) the connector chooses the IUV — segregation code, 13 digits of a
//! hash of the IUD, mod-93 check digits — so a repeated create sends the same IUV and a
//! pendenza IRIS already holds (`PEN_DUP`) is the one it made. With `iuv_source` `iris` the IUV
//! comes from `GeneraIUV`, which hands out a new one each time; IRIS never tells an unpaid
//! pendenza's IUV back, so a create finding its pendenza already there (a retry after a lost
//! reply) is refused for an operator to resolve rather than guessed.
//!
//! **Namespaces.** IRIS's schemas are qualified (an element takes the namespace of the schema
//! that defines its type: `CIP` children are `IdpInclude`), TAS's are not.

use cassa_sdk::config::{ConfigReader, check_body_fiscal_code};
use cassa_sdk::soap::SoapRequest;
use cassa_sdk::time::{self, Naive};
use cassa_sdk::xml::{Element, XmlWriter};
use cassa_sdk::{
    Capabilities, ConnectorInfo, Created, DebtPosition, DebtRef, Document, Error, PaidDetails, PaymentStatus,
};

/// The connector.
pub struct Iris;

cassa_sdk::export_connector!(Iris);

const NS_PROXY: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/proxy";
const NS_AP: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpAllineamentoPendenze";
const NS_HEADER: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpHeader";
const NS_INFO: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpInformativaPagamento";
const NS_INCLUDE: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpInclude";
const NS_TAS_IUV: &str = "http://idp.tasgroup.it/GenerazioneIUV/";
const NS_TAS_AVVISI: &str = "http://idp.tasgroup.it/GenerazioneAvvisi/";

/// The tenant configuration.
#[derive(Debug)]
pub struct Tenant {
    allineamento_url: String,
    verifica_url: String,
    iuv_url: String,
    avvisi_url: String,
    ente: String,
    fiscal_code: String,
    segregation_code: u8,
    iuv_from_iris: bool,
    sender_sys: String,
    receiver_id: String,
    receiver_sys: String,
}

/// The service configuration.
#[derive(Debug)]
pub struct Service {
    tipo_pendenza: String,
}

/// IRIS's identifiers: `[a-zA-Z0-9._]{1,35}`.
fn check_idp_id(value: &str) -> Result<(), String> {
    let ok = (1..=35).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b));
    if ok { Ok(()) } else { Err("must be 1 to 35 letters, digits, `.` or `_`".into()) }
}

fn read_config(tenant_json: &str, service_json: &str) -> Result<(Tenant, Service), Error> {
    let mut t = ConfigReader::parse("tenant", tenant_json);
    let allineamento_url = t.required_url("allineamento_url");
    let verifica_url = t.required_url("verifica_url");
    let iuv_url = t.required_url("iuv_url");
    let avvisi_url = t.required_url("avvisi_url");
    let ente = t.required_checked("ente", check_idp_id);
    let fiscal_code = t.required_checked("fiscal_code", check_body_fiscal_code);
    let segregation_code = t
        .required_checked("segregation_code", |v| {
            if v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit()) { Ok(()) } else { Err("must be 2 digits".into()) }
        })
        .parse()
        .unwrap_or(0);
    let iuv_from_iris = match t.optional_str("iuv_source").as_deref() {
        None | Some("connector") => false,
        Some("iris") => true,
        Some(_) => {
            t.error("iuv_source", "must be connector or iris");
            false
        }
    };
    let sender_sys = t.optional_str("sender_sys").unwrap_or_else(|| "SIL".into());
    let receiver_id = t.optional_str("receiver_id").unwrap_or_else(|| "iris".into());
    let receiver_sys = t.optional_str("receiver_sys").unwrap_or_else(|| "SIL_iris_ITR".into());
    let mut s = ConfigReader::parse("service", service_json);
    let tipo_pendenza = s.required_str("tipo_pendenza");
    if tipo_pendenza.chars().count() > 35 {
        s.error("tipo_pendenza", "must be at most 35 characters");
    }
    t.finish([s])?;
    Ok((
        Tenant {
            allineamento_url,
            verifica_url,
            iuv_url,
            avvisi_url,
            ente,
            fiscal_code,
            segregation_code,
            iuv_from_iris,
            sender_sys,
            receiver_id,
            receiver_sys,
        },
        Service { tipo_pendenza },
    ))
}

// ---- pure decisions ----

/// The IUV the connector chooses for `iud`.
fn iuv_for(segregation_code: u8, iud: &str) -> Result<String, Error> {
    cassa_sdk::iuv::derived_iuv(segregation_code, iud, 0)
        .map_err(|e| Error::Protocol(format!("cannot derive an IUV: {e}")))
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A message id for the header: `[a-zA-Z0-9._]{1,44}`, the same for the same request.
fn msg_id(iud: &str, operation: &str) -> String {
    clip(&format!("{operation}.{}", iud.replace(|c: char| !c.is_ascii_alphanumeric(), "")), 44)
}

/// The `IdpHeader` of a request.
fn header(w: &mut XmlWriter, tenant: &Tenant, service_name: &str, msg: &str, now: &str) {
    w.start("h:IdpHeader", &[])
        .start("h:TRT", &[])
        .text_element("h:ServiceName", service_name)
        .text_element("h:MsgId", msg)
        .text_element("h:XMLCrtDt", now)
        .start("h:Sender", &[])
        .text_element("h:SenderId", &tenant.ente)
        .text_element("h:SenderSys", &tenant.sender_sys)
        .end("h:Sender")
        .start("h:Receiver", &[])
        .text_element("h:ReceiverId", &tenant.receiver_id)
        .text_element("h:ReceiverSys", &tenant.receiver_sys)
        .end("h:Receiver")
        .end("h:TRT")
        .start("h:E2E", &[])
        .text_element("h:E2ESrvcNm", service_name)
        .text_element("h:E2EMsgId", msg)
        .text_element("h:XMLCrtDt", now)
        .start("h:Sender", &[])
        .text_element("h:E2ESndrId", &tenant.ente)
        .text_element("h:E2ESndrSys", &tenant.sender_sys)
        .end("h:Sender")
        .start("h:Receiver", &[])
        .text_element("h:E2ERcvrId", &tenant.receiver_id)
        .text_element("h:E2ERcvrSys", &tenant.receiver_sys)
        .end("h:Receiver")
        .end("h:E2E")
        .end("h:IdpHeader");
}

/// An `IdpAllineamentoPendenzeEnteOTF` request around one `Pendenza` whose content `pendenza`
/// writes (after `IdPendenza`, `Mittente`, `Destinatari`).
fn allineamento(
    tenant: &Tenant,
    service: &Service,
    iud: &str,
    operation: &str,
    debtor: &str,
    now: &str,
    content: impl FnOnce(&mut XmlWriter),
) -> String {
    let mut w = XmlWriter::new();
    w.start(
        "p:IdpAllineamentoPendenzeEnteOTF",
        &[("xmlns:p", NS_PROXY), ("xmlns:ap", NS_AP), ("xmlns:h", NS_HEADER), ("xmlns:i", NS_INCLUDE)],
    )
    .start("ap:IdpAllineamentoPendenzeOTF", &[("Versione", "01.03-02")]);
    header(&mut w, tenant, "IdpAllineamentoPendenze", &msg_id(iud, operation), now);
    w.start("ap:IdpBody", &[])
        .start("ap:Pendenza", &[("TipoPendenza", &service.tipo_pendenza), ("TipoOperazione", operation)])
        .text_element("ap:IdPendenza", iud)
        .start("ap:Mittente", &[])
        .text_element("ap:Id", &tenant.ente)
        .end("ap:Mittente")
        .start("ap:Destinatari", &[])
        .start("ap:Destinatario", &[("Tipo", "Cittadino")])
        .text_element("ap:Id", debtor)
        .end("ap:Destinatario")
        .end("ap:Destinatari");
    content(&mut w);
    w.end("ap:Pendenza").end("ap:IdpBody").end("ap:IdpAllineamentoPendenzeOTF").end("p:IdpAllineamentoPendenzeEnteOTF");
    w.finish()
}

/// What IRIS said about the pendenze of an `IdpAllineamentoPendenzeEnteOTF`: `Ok` when
/// `Elaborato Correttamente`, else the first discarded pendenza's `(Codice, Descrizione)`.
fn esito(reply: &Element) -> Result<(), (String, String)> {
    let body = reply.find("IdpBody");
    let stato = body.and_then(|b| b.text_of(&["InfoMessaggio", "Stato"])).unwrap_or_default();
    if stato == "Elaborato Correttamente" {
        return Ok(());
    }
    let first = body.and_then(|b| b.path(&["InfoDettaglio", "Dettaglio", "Esiti", "Esito"]));
    let text = |name: &str| first.and_then(|e| e.text_of(&[name])).unwrap_or_default().to_owned();
    Err((if first.is_some() { text("Codice") } else { stato.to_owned() }, text("Descrizione")))
}

/// IRIS's payment statuses onto cassa's: the one table of this connector.
///
/// | `StatoPagamento` | cassa |
/// |---|---|
/// | `Pagamento non eseguito` | pending |
/// | `Pagamento eseguito` | paid (`DataOraPagamento` Rome time, `Transazione/IdTransazione`, `Importo`) |
/// | `Posizione non pagabile` | canceled |
/// | `Posizione non presente` | `not-found` |
fn map_status(reply: &Element, iud: &str) -> Result<PaymentStatus, Error> {
    let body = reply.find("IdpBody").ok_or_else(|| Error::Protocol("reply without IdpBody".into()))?;
    let stato = body
        .children_named("StatoPagamento")
        .find(|s| s.attr("IdPagamento") == Some(iud))
        .map(|s| s.text.trim().to_owned())
        .ok_or_else(|| Error::Protocol(format!("no StatoPagamento for {iud}")))?;
    Ok(match stato.as_str() {
        "Pagamento non eseguito" => PaymentStatus::Pending,
        "Posizione non pagabile" => PaymentStatus::Canceled,
        "Posizione non presente" => return Err(Error::NotFound(format!("IRIS holds no pendenza {iud}"))),
        "Pagamento eseguito" => {
            let pagamento = pagamento(body, iud)?;
            let paid_at = pagamento
                .text_of(&["DataOraPagamento"])
                .ok_or_else(|| Error::Protocol("Pagamento without DataOraPagamento".into()))
                .and_then(|d| time::to_timestamp(d, Naive::Rome).map_err(Error::Protocol))?;
            let amount = pagamento
                .text_of(&["Importo"])
                .ok_or_else(|| Error::Protocol("Pagamento without Importo".into()))
                .and_then(|a| cassa_sdk::money::parse_euros_rounded(a).map_err(|e| Error::Protocol(e.to_string())))?;
            let transaction_id = pagamento
                .text_of(&["Transazione", "IdTransazione"])
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::Protocol("Pagamento without Transazione/IdTransazione".into()))?
                .to_owned();
            PaymentStatus::Paid(PaidDetails { paid_at, transaction_id, amount })
        }
        other => return Err(Error::Protocol(format!("unknown StatoPagamento `{other}`"))),
    })
}

fn pagamento<'a>(body: &'a Element, iud: &str) -> Result<&'a Element, Error> {
    body.children_named("InformazioniPagamento")
        .find(|i| i.text_of(&["IdPagamento"]) == Some(iud))
        .and_then(|i| i.child("Pagamento"))
        .ok_or_else(|| Error::Protocol(format!("no Pagamento for {iud}")))
}

// ---- I/O ----

/// Posts a SOAP 1.1 request whose body element is `body` and returns the reply's body element.
fn call(url: &str, action: &str, body: String) -> Result<Element, Error> {
    cassa_sdk::soap::call(url, &SoapRequest { action, namespaces: &[], header: None, body })
}

/// A TAS reply's `Fault`, as an error.
fn tas_fault(reply: &Element) -> Result<(), Error> {
    match reply.child("Fault") {
        Some(fault) => Err(Error::Rejected(format!(
            "{}: {}",
            fault.text_of(&["FaultCode"]).unwrap_or_default(),
            fault.text_of(&["FaultString"]).unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

fn verifica(tenant: &Tenant, service: &Service, iud: &str) -> Result<Element, Error> {
    let now = time::rome_local(time::now_epoch());
    let mut w = XmlWriter::new();
    w.start("p:IdpVerificaStatoPagamenti", &[("xmlns:p", NS_PROXY), ("xmlns:ip", NS_INFO), ("xmlns:h", NS_HEADER)])
        .start("ip:IdpVerificaStatoPagamento", &[("Versione", "01.03-03")]);
    header(&mut w, tenant, "IdpInformativaPagamento", &msg_id(iud, "Verifica"), &now);
    w.start("ip:IdpBody", &[])
        .start("ip:IdPagamento", &[("TipoPendenza", &service.tipo_pendenza)])
        .text(iud)
        .end("ip:IdPagamento")
        .text_element("ip:richiestaInformazioniPagamento", "true")
        .end("ip:IdpBody")
        .end("ip:IdpVerificaStatoPagamento")
        .end("p:IdpVerificaStatoPagamenti");
    call(&tenant.verifica_url, "IdpVerificaStatoPagamenti", w.finish())
}

fn genera_iuv(tenant: &Tenant, service: &Service) -> Result<(String, String), Error> {
    let mut w = XmlWriter::new();
    w.start("t:GeneraIUVRequest", &[("xmlns:t", NS_TAS_IUV)])
        .text_element("IdentificativoDominio", &tenant.fiscal_code)
        .text_element("TipoDebito", &service.tipo_pendenza)
        .end("t:GeneraIUVRequest");
    let reply = call(&tenant.iuv_url, "http://idp.tasgroup.it/GenerazioneIUV/GeneraIUV", w.finish())?;
    tas_fault(&reply)?;
    let ids = reply
        .path(&["Body", "ElencoIdentificativi"])
        .ok_or_else(|| Error::Protocol("GeneraIUV without ElencoIdentificativi".into()))?;
    let iuv = ids.text_of(&["IdentificativoUnivocoVersamento"]).unwrap_or_default().to_owned();
    let nav = ids.text_of(&["NumeroAvviso"]).unwrap_or_default().to_owned();
    match cassa_sdk::iuv::iuv_from_notice_code(&nav) {
        Ok(from_nav) if from_nav == iuv => Ok((iuv, nav)),
        _ => Err(Error::Protocol(format!("GeneraIUV gave IUV {iuv} and notice number {nav}, which do not match"))),
    }
}

impl cassa_sdk::Connector for Iris {
    type Config = (Tenant, Service);

    fn info() -> ConnectorInfo {
        cassa_sdk::connector_info!(
            name: "iris",
            description: "IRIS (Regione Toscana, TAS IdP): pendenze, payment status, IUVs and notices over SOAP",
            capabilities: Capabilities::NOTICE | Capabilities::RECEIPT | Capabilities::CANCEL,
        )
    }

    fn read_config(tenant_config: &str, service_config: &str) -> Result<Self::Config, Error> {
        read_config(tenant_config, service_config)
    }

    fn create((tenant, service): Self::Config, position: DebtPosition) -> Result<Created, Error> {
        check_idp_id(&position.iud).map_err(|why| Error::Rejected(format!("IUD `{}` {why}", position.iud)))?;
        let debtor = position.debtor.as_ref().unwrap_or(&position.payer);
        check_idp_id(&debtor.tax_id).map_err(|why| Error::Rejected(format!("debtor id `{}` {why}", debtor.tax_id)))?;
        let (iuv, nav) = if tenant.iuv_from_iris {
            genera_iuv(&tenant, &service)?
        } else {
            let iuv = iuv_for(tenant.segregation_code, &position.iud)?;
            let nav = format!("3{iuv}");
            (iuv, nav)
        };
        let epoch = time::now_epoch();
        let now = time::rome_local(epoch);
        let due_epoch = match &position.expire_at {
            Some(at) => time::epoch_seconds(at, Naive::Utc).map_err(Error::Rejected)?,
            None => epoch + 365 * 86_400,
        };
        let due = time::rome_local(due_epoch);
        let importo = cassa_sdk::money::format_euros(position.amount);
        let body = allineamento(&tenant, &service, &position.iud, "Insert", &debtor.tax_id, &now, |w| {
            w.start("ap:Insert", &[])
                .text_element("ap:DescrizioneCausale", &clip(&position.reason, 512))
                .text_element("ap:DataCreazione", &now)
                .text_element("ap:DataEmissione", &now)
                .text_element("ap:DataPrescrizione", &due)
                .text_element("ap:AnnoRiferimento", &now[..4])
                .text_element("ap:Stato", "Aperta")
                .text_element("ap:ImportoTotale", &importo)
                .text_element("ap:Divisa", "EUR")
                .start("ap:InfoPagamento", &[("TipoPagamento", "Pagamento Unico")])
                .start("ap:DettaglioPagamento", &[])
                .text_element("ap:IdPagamento", &position.iud)
                .start("ap:CIP", &[("Tipo", "IUV")])
                .text_element("i:Codice", &iuv)
                .end("ap:CIP")
                .text_element("ap:DataScadenza", &due[..10])
                .text_element("ap:DataFineValidita", &due[..10])
                .text_element("ap:Stato", "Non Pagato")
                .text_element("ap:Importo", &importo)
                .text_element("ap:CausalePagamento", &clip(&position.reason, 256))
                .end("ap:DettaglioPagamento")
                .end("ap:InfoPagamento")
                .end("ap:Insert");
        });
        let reply = call(&tenant.allineamento_url, "IdpAllineamentoPendenzeEnteOTF", body)?;
        match esito(&reply) {
            Ok(()) => {}
            Err((code, _)) if code == "PEN_DUP" && !tenant.iuv_from_iris => {
                cassa_sdk::log::info("the pendenza exists already; reusing it");
            }
            Err((code, why)) if code == "PEN_DUP" => {
                return Err(Error::Rejected(format!(
                    "IRIS already holds pendenza {} and does not tell its IUV ({why}): resolve it at IRIS",
                    position.iud
                )));
            }
            Err((code, why)) => return Err(Error::Rejected(format!("IRIS discarded the pendenza: {code} {why}"))),
        }
        Ok(Created { iuv, notice_code: nav, remote_ref: None, online_url: None })
    }

    fn status((tenant, service): Self::Config, debt: DebtRef) -> Result<PaymentStatus, Error> {
        map_status(&verifica(&tenant, &service, &debt.iud)?, &debt.iud)
    }

    fn receipt((tenant, service): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let reply = verifica(&tenant, &service, &debt.iud)?;
        let body = reply.find("IdpBody").ok_or_else(|| Error::Protocol("reply without IdpBody".into()))?;
        let allegato = pagamento(body, &debt.iud)
            .map_err(|_| Error::NotFound("no receipt yet".into()))?
            .children_named("Allegato")
            .find(|a| a.attr("Tipo") == Some("Ricevuta"))
            .ok_or_else(|| Error::NotFound("IRIS sent no receipt".into()))?;
        let content_type = match allegato.text_of(&["Codifica"]) {
            Some("PDF_") => "application/pdf",
            _ => "application/xml",
        };
        let body = cassa_sdk::soap::decode_embedded_bytes(allegato.text_of(&["Contenuto"]).unwrap_or_default())
            .map_err(|e| Error::Protocol(format!("receipt: {e}")))?;
        let extension = if content_type == "application/pdf" { "pdf" } else { "xml" };
        Ok(Document {
            content_type: content_type.into(),
            filename: format!("ricevuta-{}.{extension}", debt.notice_code),
            body,
        })
    }

    fn notice((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let mut w = XmlWriter::new();
        w.start("t:GeneraAvvisoRequest", &[("xmlns:t", NS_TAS_AVVISI)])
            .text_element("IdentificativoDominio", &tenant.fiscal_code)
            .text_element("IdentificativoUnivocoVersamento", &debt.iuv)
            .end("t:GeneraAvvisoRequest");
        let reply = call(&tenant.avvisi_url, "http://idp.tasgroup.it/GenerazioneAvvisi/GeneraAvviso", w.finish())?;
        tas_fault(&reply)?;
        let b64 =
            reply.text_of(&["Body", "AvvisoAnalogico"]).ok_or_else(|| Error::Protocol("no AvvisoAnalogico".into()))?;
        let pdf = cassa_sdk::soap::decode_embedded_bytes(b64).map_err(|e| Error::Protocol(e.to_string()))?;
        if !pdf.starts_with(b"%PDF-") {
            return Err(Error::Protocol("AvvisoAnalogico is not a PDF".into()));
        }
        Ok(Document {
            content_type: "application/pdf".into(),
            filename: format!("avviso-{}.pdf", debt.notice_code),
            body: pdf,
        })
    }

    fn cancel((tenant, service): Self::Config, debt: DebtRef) -> Result<(), Error> {
        let now = time::rome_local(time::now_epoch());
        // The debtor's id is needed by the envelope only; IRIS matches the pendenza by its id.
        let body = allineamento(&tenant, &service, &debt.iud, "UpdateStatus", &tenant.ente, &now, |w| {
            w.start("ap:UpdateStatus", &[])
                .text_element("ap:DataModificaEnte", &now)
                .text_element("ap:Stato", "Chiusa")
                .start("ap:InfoPagamento", &[("TipoPagamento", "Pagamento Unico")])
                .start("ap:DettaglioPagamento", &[])
                .text_element("ap:IdPagamento", &debt.iud)
                .text_element("ap:Stato", "Non Pagabile")
                .end("ap:DettaglioPagamento")
                .end("ap:InfoPagamento")
                .end("ap:UpdateStatus");
        });
        let reply = call(&tenant.allineamento_url, "IdpAllineamentoPendenzeEnteOTF", body)?;
        match esito(&reply) {
            Ok(()) => Ok(()),
            Err((code, why)) if code == "PEN_NONE" => Err(Error::NotFound(format!("{code} {why}"))),
            Err((code, why)) => Err(Error::Rejected(format!("IRIS refused to close the pendenza: {code} {why}"))),
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn verifica_reply(stato: &str) -> Element {
        let xml = format!(
            "<r xmlns:e=\"x\" xmlns:ip=\"{NS_INFO}\"><e:IdpBody><e:StatoPagamento IdPagamento=\"P1\" TipoPendenza=\"T\">{stato}</e:StatoPagamento>\
             <e:InformazioniPagamento><e:IdPagamento>P1</e:IdPagamento><e:Pagamento><ip:DataOraPagamento>2026-07-01T12:00:00</ip:DataOraPagamento>\
             <ip:Importo>16.00</ip:Importo><ip:Transazione><ip:IdTransazione>IUR1</ip:IdTransazione></ip:Transazione></e:Pagamento>\
             </e:InformazioniPagamento></e:IdpBody></r>"
        );
        Element::parse(&xml).unwrap()
    }

    #[test]
    fn maps_every_iris_status() {
        assert!(matches!(map_status(&verifica_reply("Pagamento non eseguito"), "P1").unwrap(), PaymentStatus::Pending));
        assert!(matches!(
            map_status(&verifica_reply("Posizione non pagabile"), "P1").unwrap(),
            PaymentStatus::Canceled
        ));
        assert!(matches!(map_status(&verifica_reply("Posizione non presente"), "P1"), Err(Error::NotFound(_))));
        let PaymentStatus::Paid(paid) = map_status(&verifica_reply("Pagamento eseguito"), "P1").unwrap() else {
            panic!()
        };
        // Rome summer time: 12:00 local is 10:00 UTC.
        assert_eq!(
            (paid.paid_at.as_str(), paid.transaction_id.as_str(), paid.amount),
            ("2026-07-01T10:00:00Z", "IUR1", 1600)
        );
        assert!(matches!(map_status(&verifica_reply("Boh"), "P1"), Err(Error::Protocol(_))));
        assert!(matches!(map_status(&verifica_reply("Pagamento eseguito"), "P2"), Err(Error::Protocol(_))));
    }

    #[test]
    fn reads_the_outcome_of_an_allineamento() {
        let ok = Element::parse(
            "<r><IdpBody><InfoMessaggio><Stato>Elaborato Correttamente</Stato></InfoMessaggio></IdpBody></r>",
        )
        .unwrap();
        assert!(esito(&ok).is_ok());
        let ko = Element::parse(
            "<r><IdpBody><InfoMessaggio><Stato>Elaborato con Errori</Stato></InfoMessaggio><InfoDettaglio><Dettaglio>\
             <Id>P1</Id><Stato>Scartato</Stato><Esiti><Esito><Codice>PEN_DUP</Codice><Descrizione>dup</Descrizione></Esito>\
             </Esiti></Dettaglio></InfoDettaglio></IdpBody></r>",
        )
        .unwrap();
        assert_eq!(esito(&ko), Err(("PEN_DUP".into(), "dup".into())));
    }

    #[test]
    fn ids_follow_iris_patterns_and_iuvs_are_valid() {
        assert!(check_idp_id("0452545f07e84ed6").is_ok());
        assert!(check_idp_id("a-b").is_err());
        assert_eq!(msg_id("04525-45f", "Insert"), "Insert.0452545f");
        let iuv = iuv_for(1, "0452545f").unwrap();
        assert_eq!(cassa_sdk::iuv::iuv_from_notice_code(&format!("3{iuv}")).unwrap(), iuv);
    }

    #[test]
    fn validates_configuration_field_by_field() {
        let Err(Error::InvalidConfig(errors)) =
            read_config(r#"{"ente": "a-b", "fiscal_code": "1", "iuv_source": "boh"}"#, "{}")
        else {
            panic!()
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tenant.allineamento_url",
                "tenant.verifica_url",
                "tenant.iuv_url",
                "tenant.avvisi_url",
                "tenant.ente",
                "tenant.fiscal_code",
                "tenant.segregation_code",
                "tenant.iuv_source",
                "service.tipo_pendenza"
            ]
        );
    }
}
