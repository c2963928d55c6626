//! A fake of IRIS (Regione Toscana, TAS "IdP"), from `tests/specs/iris/`: four SOAP 1.1
//! services on one server.
//!
//! | path | `SOAPAction` | body element | schema |
//! |---|---|---|---|
//! | `/iris/ComunicazionePosizioniDebitorie` | `IdpAllineamentoPendenzeEnteOTF` | `proxy:IdpAllineamentoPendenzeEnteOTF` | the WSDL's inline schema + `IdP.AllineamentoPendenze.xsd` |
//! | `/iris/InvioNotificaPagamento` | `IdpVerificaStatoPagamenti` | `proxy:IdpVerificaStatoPagamenti` | the WSDL's + `IdP.InformativaPagamento.xsd` |
//! | `/tas/GenerazioneIUV` | `http://idp.tasgroup.it/GenerazioneIUV/GeneraIUV` | `GeneraIUVRequest` | the WSDL's |
//! | `/tas/GenerazioneAvvisi` | `http://idp.tasgroup.it/GenerazioneAvvisi/GeneraAvviso` | `GeneraAvvisoRequest` | the WSDL's |
//!
//! A request with the wrong `SOAPAction`, body element or namespace, or one `xmllint` finds
//! invalid against its schema, gets a SOAP `Client` fault. Then IRIS's own rules: the sender and
//! the creditor those of the ente (`Mittente`, `IdentificativoDominio`), an IUV (`CIP` of type
//! `IUV`) with valid check digits on every payment inserted, no second pendenza with the same
//! `IdPendenza`, no cancellation of a paid one. The schemas have no catalogue of error codes;
//! the fake's (`PEN_DUP`, `PEN_IUV`, `PEN_PAG`, `PEN_ENTE`, `PEN_NONE`) are its own.

use std::collections::BTreeMap;
use std::sync::Mutex;

use cassa_sdk::soap::SOAP_ENV_NS;
use cassa_sdk::xml::{Element, XmlWriter};
use chrono::{DateTime, Utc};

use crate::xsd::{Xsd, serialize};
use crate::{Conformance, DebtRef, Intermediary, Recorded, Reply};

/// IRIS's namespaces.
pub mod ns {
    /// The proxy (SOAP body wrappers).
    pub const PROXY: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/proxy";
    /// Pendenze.
    pub const AP: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpAllineamentoPendenze";
    /// The IdP header.
    pub const HEADER: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpHeader";
    /// Outcomes.
    pub const ESITO: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpEsito";
    /// Payment information.
    pub const INFO: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpInformativaPagamento";
    /// Common types (`CIP`, `Allegato` children).
    pub const INCLUDE: &str = "http://www.cart.rete.toscana.it/servizi/iris_1_1/IdpInclude";
    /// TAS IUV generation.
    pub const TAS_IUV: &str = "http://idp.tasgroup.it/GenerazioneIUV/";
    /// TAS notice generation.
    pub const TAS_AVVISI: &str = "http://idp.tasgroup.it/GenerazioneAvvisi/";
}

/// The service paths.
pub const PATH_ALLINEAMENTO: &str = "/iris/ComunicazionePosizioniDebitorie";
/// Payment status.
pub const PATH_VERIFICA: &str = "/iris/InvioNotificaPagamento";
/// IUV generation.
pub const PATH_IUV: &str = "/tas/GenerazioneIUV";
/// Notice generation.
pub const PATH_AVVISI: &str = "/tas/GenerazioneAvvisi";

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct IrisSettings {
    /// The ente's code as sender (`Mittente/Id`, `SenderId`).
    pub ente: String,
    /// The ente's fiscal code (`IdentificativoDominio`).
    pub fiscal_code: String,
    /// Segregation code of the IUVs `GeneraIUV` gives out.
    pub segregation_code: u8,
}

impl Default for IrisSettings {
    fn default() -> Self {
        Self { ente: "C_B885".into(), fiscal_code: "80001234568".into(), segregation_code: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Unpaid,
    Paid { at: DateTime<Utc>, iur: String },
    Closed,
}

#[derive(Debug, Clone)]
struct Pendenza {
    id: String,
    tipo: String,
    id_pagamento: String,
    iuv: String,
    importo: String,
    causale: String,
    state: State,
}

/// The fake IRIS.
pub struct Iris {
    settings: IrisSettings,
    /// Pendenze by `IdPendenza`.
    pendenze: Mutex<BTreeMap<String, Pendenza>>,
    next_iuv: Mutex<u64>,
}

fn client_fault(why: &str) -> Reply {
    let mut w = XmlWriter::new();
    w.declaration()
        .start("soap:Envelope", &[("xmlns:soap", SOAP_ENV_NS)])
        .start("soap:Body", &[])
        .start("soap:Fault", &[])
        .text_element("faultcode", "soap:Client")
        .text_element("faultstring", why)
        .end("soap:Fault")
        .end("soap:Body")
        .end("soap:Envelope");
    Reply::bytes(500, "text/xml; charset=utf-8", w.finish().into_bytes())
}

fn envelope(body: &str) -> Reply {
    let mut w = XmlWriter::new();
    w.declaration()
        .start("soap:Envelope", &[("xmlns:soap", SOAP_ENV_NS)])
        .start("soap:Body", &[])
        .raw(body)
        .end("soap:Body")
        .end("soap:Envelope");
    Reply::bytes(200, "text/xml; charset=utf-8", w.finish().into_bytes())
}

fn now_text() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The reply's `IdpHeader`: the request's, sender and receiver swapped.
fn reply_header(w: &mut XmlWriter, request: Option<&Element>) {
    let text = |path: &[&str]| request.and_then(|h| h.text_of(path)).unwrap_or("n.d.").to_owned();
    w.start("h:IdpHeader", &[])
        .start("h:TRT", &[])
        .text_element("h:ServiceName", &text(&["TRT", "ServiceName"]))
        .text_element("h:MsgId", &text(&["TRT", "MsgId"]))
        .text_element("h:XMLCrtDt", &now_text())
        .start("h:Sender", &[])
        .text_element("h:SenderId", &text(&["TRT", "Receiver", "ReceiverId"]))
        .text_element("h:SenderSys", &text(&["TRT", "Receiver", "ReceiverSys"]))
        .end("h:Sender")
        .start("h:Receiver", &[])
        .text_element("h:ReceiverId", &text(&["TRT", "Sender", "SenderId"]))
        .text_element("h:ReceiverSys", &text(&["TRT", "Sender", "SenderSys"]))
        .end("h:Receiver")
        .end("h:TRT")
        .start("h:E2E", &[])
        .text_element("h:E2ESrvcNm", &text(&["E2E", "E2ESrvcNm"]))
        .text_element("h:E2EMsgId", &text(&["E2E", "E2EMsgId"]))
        .text_element("h:XMLCrtDt", &now_text())
        .start("h:Sender", &[])
        .text_element("h:E2ESndrId", &text(&["E2E", "Receiver", "E2ERcvrId"]))
        .text_element("h:E2ESndrSys", &text(&["E2E", "Receiver", "E2ERcvrSys"]))
        .end("h:Sender")
        .start("h:Receiver", &[])
        .text_element("h:E2ERcvrId", &text(&["E2E", "Sender", "E2ESndrId"]))
        .text_element("h:E2ERcvrSys", &text(&["E2E", "Sender", "E2ESndrSys"]))
        .end("h:Receiver")
        .end("h:E2E")
        .end("h:IdpHeader");
}

impl Iris {
    /// A fake with `settings`.
    pub fn new(settings: IrisSettings) -> Self {
        Self { settings, pendenze: Mutex::new(BTreeMap::new()), next_iuv: Mutex::new(1) }
    }

    /// How many pendenze the fake holds.
    pub fn pendenze_count(&self) -> usize {
        self.pendenze.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Whether the pendenza `id` is closed (cancelled).
    pub fn is_closed(&self, id: &str) -> bool {
        self.pendenze.lock().is_ok_and(|p| p.get(id).is_some_and(|p| p.state == State::Closed))
    }

    /// `IdpAllineamentoPendenzeEnteOTF`: every pendenza of the body, each accepted or discarded.
    fn allineamento(&self, body: &Element) -> Reply {
        let otf = body.child("IdpAllineamentoPendenzeOTF");
        let header = otf.and_then(|o| o.child("IdpHeader"));
        let mut discarded: Vec<(String, &str, String)> = Vec::new();
        let Ok(mut pendenze) = self.pendenze.lock() else { return client_fault("lock") };
        for p in otf
            .and_then(|o| o.path(&["IdpBody"]))
            .map(|b| b.children_named("Pendenza").collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let id = p.text_of(&["IdPendenza"]).unwrap_or_default().to_owned();
            if p.text_of(&["Mittente", "Id"]) != Some(self.settings.ente.as_str()) {
                discarded.push((id, "PEN_ENTE", "Mittente non abilitato".into()));
                continue;
            }
            match p.attr("TipoOperazione").unwrap_or_default() {
                "Insert" => {
                    if pendenze.contains_key(&id) {
                        discarded.push((id, "PEN_DUP", "Pendenza già presente".into()));
                        continue;
                    }
                    let Some(insert) = p.child("Insert") else {
                        discarded.push((id, "PEN_INS", "Insert senza dati".into()));
                        continue;
                    };
                    let detail = insert.path(&["InfoPagamento", "DettaglioPagamento"]);
                    let iuv = detail
                        .and_then(|d| d.children_named("CIP").find(|c| c.attr("Tipo") == Some("IUV")))
                        .and_then(|c| c.text_of(&["Codice"]))
                        .unwrap_or_default()
                        .to_owned();
                    let valid = cassa_sdk::iuv::iuv_from_notice_code(&format!("3{iuv}")).is_ok_and(|i| i == iuv);
                    if !valid || pendenze.values().any(|q| q.iuv == iuv) {
                        discarded.push((id, "PEN_IUV", format!("IUV [{iuv}] mancante, non valido o già usato")));
                        continue;
                    }
                    pendenze.insert(
                        id.clone(),
                        Pendenza {
                            id: id.clone(),
                            tipo: p.attr("TipoPendenza").unwrap_or_default().to_owned(),
                            id_pagamento: detail
                                .and_then(|d| d.text_of(&["IdPagamento"]))
                                .unwrap_or_default()
                                .to_owned(),
                            iuv,
                            importo: insert.text_of(&["ImportoTotale"]).unwrap_or_default().to_owned(),
                            causale: insert.text_of(&["DescrizioneCausale"]).unwrap_or_default().to_owned(),
                            state: State::Unpaid,
                        },
                    );
                }
                "UpdateStatus" => {
                    let Some(existing) = pendenze.get_mut(&id) else {
                        discarded.push((id, "PEN_NONE", "Pendenza non presente".into()));
                        continue;
                    };
                    let closing = p.text_of(&["UpdateStatus", "Stato"]) == Some("Chiusa");
                    if closing {
                        if matches!(existing.state, State::Paid { .. }) {
                            discarded.push((id, "PEN_PAG", "Pendenza pagata".into()));
                            continue;
                        }
                        existing.state = State::Closed;
                    }
                }
                other => discarded.push((id, "PEN_OP", format!("operazione {other} non gestita dal fake"))),
            }
        }
        let mut w = XmlWriter::new();
        w.start(
            "p:IdpAllineamentoPendenzeEnteOTF.Esito",
            &[("xmlns:p", ns::PROXY), ("xmlns:e", ns::ESITO), ("xmlns:h", ns::HEADER)],
        )
        .start("e:IdpEsitoOTF", &[("Versione", "01.03-02")]);
        reply_header(&mut w, header);
        w.start("e:IdpBody", &[]).start("e:InfoMessaggio", &[]).text_element(
            "e:Stato",
            if discarded.is_empty() { "Elaborato Correttamente" } else { "Elaborato con Errori" },
        );
        w.end("e:InfoMessaggio");
        if !discarded.is_empty() {
            w.start("e:InfoDettaglio", &[]);
            for (id, code, why) in &discarded {
                w.start("e:Dettaglio", &[])
                    .text_element("e:Id", if id.is_empty() { "n.d." } else { id })
                    .text_element("e:Stato", "Scartato")
                    .start("e:Esiti", &[])
                    .start("e:Esito", &[])
                    .text_element("e:Codice", code)
                    .text_element("e:Descrizione", why)
                    .end("e:Esito")
                    .end("e:Esiti")
                    .end("e:Dettaglio");
            }
            w.end("e:InfoDettaglio");
        }
        w.end("e:IdpBody").end("e:IdpEsitoOTF").end("p:IdpAllineamentoPendenzeEnteOTF.Esito");
        envelope(&w.finish())
    }

    /// `IdpVerificaStatoPagamenti`.
    fn verifica(&self, body: &Element) -> Reply {
        let request = body.child("IdpVerificaStatoPagamento");
        let info = request.and_then(|r| r.text_of(&["IdpBody", "richiestaInformazioniPagamento"])) == Some("true");
        let ids: Vec<(String, String)> = request
            .and_then(|r| r.child("IdpBody"))
            .map(|b| {
                b.children_named("IdPagamento")
                    .map(|i| (i.text.trim().to_owned(), i.attr("TipoPendenza").unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let Ok(pendenze) = self.pendenze.lock() else { return client_fault("lock") };
        // A payment is known under its pendenza's type only.
        let find = |id: &str, tipo: &str| pendenze.values().find(|p| p.id_pagamento == id && p.tipo == tipo).cloned();
        let mut w = XmlWriter::new();
        w.start(
            "p:IdpVerificaStatoPagamenti.Esito",
            &[
                ("xmlns:p", ns::PROXY),
                ("xmlns:e", ns::ESITO),
                ("xmlns:ip", ns::INFO),
                ("xmlns:h", ns::HEADER),
                ("xmlns:i", ns::INCLUDE),
            ],
        )
        .start("e:IdpEsitoVerifica", &[("Versione", "01.03-03")]);
        reply_header(&mut w, request.and_then(|r| r.child("IdpHeader")));
        w.start("e:IdpBody", &[]);
        for (id, tipo) in &ids {
            let stato = match find(id, tipo).map(|p| p.state) {
                None => "Posizione non presente",
                Some(State::Unpaid) => "Pagamento non eseguito",
                Some(State::Closed) => "Posizione non pagabile",
                Some(State::Paid { .. }) => "Pagamento eseguito",
            };
            w.start("e:StatoPagamento", &[("IdPagamento", id), ("TipoPendenza", tipo)])
                .text(stato)
                .end("e:StatoPagamento");
        }
        if info {
            for (id, tipo) in &ids {
                let p = find(id, tipo);
                let (stato, descrizione) = match p.as_ref().map(|p| &p.state) {
                    None => ("POSIZIONE_NON_PRESENTE", "Posizione non presente"),
                    Some(State::Unpaid) => ("POSIZIONE_NON_PAGATA", "Posizione non pagata"),
                    Some(State::Closed) => ("POSIZIONE_NON_PAGABILE", "Posizione chiusa"),
                    Some(State::Paid { .. }) => ("POSIZIONE_PAGATA", "Posizione pagata"),
                };
                w.start("e:InformazioniPagamento", &[])
                    .text_element("e:IdPagamento", id)
                    .text_element("e:TipoPendenza", tipo)
                    .text_element("e:Stato", stato)
                    .text_element("e:DescrizioneStato", descrizione);
                if let Some(p @ Pendenza { state: State::Paid { at, iur }, .. }) = p.as_ref() {
                    let at = at.format("%Y-%m-%dT%H:%M:%S").to_string();
                    let receipt =
                        format!("<RT><IUV>{}</IUV><IUR>{iur}</IUR><Importo>{}</Importo></RT>", p.iuv, p.importo);
                    w.start("e:Pagamento", &[])
                        .start("ip:RiferimentoPagamento", &[("TipoPagamento", "Pagamento Unico")])
                        .text_element("ip:IdPagamento", &p.id_pagamento)
                        .end("ip:RiferimentoPagamento")
                        .text_element("ip:DataOraPagamento", &at)
                        .text_element("ip:Importo", &p.importo)
                        .text_element("ip:Esito", "ESEGUITO")
                        .start("ip:Transazione", &[])
                        .start("ip:CanalePagamento", &[("Tipo", "PAGOPA")])
                        .end("ip:CanalePagamento")
                        .start("ip:MezzoPagamento", &[("Tipo", "CP")])
                        .end("ip:MezzoPagamento")
                        .text_element("ip:IdTransazione", iur)
                        .text_element("ip:DataOraTransazione", &at)
                        .text_element("ip:ImportoTransato", &p.importo)
                        .end("ip:Transazione")
                        .start("ip:Allegato", &[("Tipo", "Ricevuta")])
                        .text_element("i:Codifica", "XML_")
                        .text_element("i:Contenuto", &cassa_sdk::soap::encode_embedded(&receipt))
                        .end("ip:Allegato")
                        .text_element("ip:IdentificativoUnivocoVersamento", &p.iuv)
                        .end("e:Pagamento");
                }
                w.end("e:InformazioniPagamento");
            }
        }
        w.end("e:IdpBody").end("e:IdpEsitoVerifica").end("p:IdpVerificaStatoPagamenti.Esito");
        envelope(&w.finish())
    }

    fn tas_fault(element: &str, namespace: &str, code: &str, why: &str) -> Reply {
        let mut w = XmlWriter::new();
        w.start(element, &[("xmlns:t", namespace)])
            .start("Fault", &[])
            .text_element("FaultCode", code)
            .text_element("FaultString", why)
            .text_element("FaultDescription", why)
            .end("Fault")
            .end(element);
        envelope(&w.finish())
    }

    fn genera_iuv(&self, body: &Element) -> Reply {
        const OUT: &str = "t:GeneraIUVResponse";
        let dominio = body.text_of(&["IdentificativoDominio"]).unwrap_or_default();
        if dominio != self.settings.fiscal_code {
            return Self::tas_fault(OUT, ns::TAS_IUV, "DOMINIO", &format!("dominio {dominio} sconosciuto"));
        }
        let Ok(mut next) = self.next_iuv.lock() else { return client_fault("lock") };
        let Ok(iuv) = cassa_sdk::iuv::new_iuv(self.settings.segregation_code, 5_000_000_000_000 + *next) else {
            return client_fault("iuv");
        };
        *next += 1;
        let mut w = XmlWriter::new();
        w.start(OUT, &[("xmlns:t", ns::TAS_IUV)])
            .start("Body", &[])
            .text_element("IdentificativoDominio", dominio)
            .text_element("TipoDebito", body.text_of(&["TipoDebito"]).unwrap_or_default())
            .start("ElencoIdentificativi", &[])
            .text_element("IdentificativoUnivocoVersamento", &iuv)
            .text_element("NumeroAvviso", &format!("3{iuv}"))
            .end("ElencoIdentificativi")
            .end("Body")
            .end(OUT);
        envelope(&w.finish())
    }

    fn genera_avviso(&self, body: &Element) -> Reply {
        const OUT: &str = "t:GeneraAvvisoResponse";
        let iuv = body.text_of(&["IdentificativoUnivocoVersamento"]).unwrap_or_default();
        let found = self.pendenze.lock().ok().and_then(|p| p.values().find(|p| p.iuv == iuv).cloned());
        let Some(p) =
            found.filter(|_| body.text_of(&["IdentificativoDominio"]) == Some(self.settings.fiscal_code.as_str()))
        else {
            return Self::tas_fault(OUT, ns::TAS_AVVISI, "IUV", &format!("IUV {iuv} sconosciuto"));
        };
        let pdf = cassa_sdk::pdf::text_document(&[
            "Avviso di pagamento pagoPA (IRIS)".to_owned(),
            format!("Ente: {} ({})", self.settings.ente, self.settings.fiscal_code),
            format!("Causale: {}", p.causale),
            format!("Importo: {} EUR", p.importo),
            format!("Codice avviso: 3{}", p.iuv),
        ]);
        let mut w = XmlWriter::new();
        w.start(OUT, &[("xmlns:t", ns::TAS_AVVISI)])
            .start("Body", &[])
            .text_element("AvvisoAnalogico", &cassa_sdk::soap::encode_embedded_bytes(&pdf))
            .end("Body")
            .end(OUT);
        envelope(&w.finish())
    }
}

impl Intermediary for Iris {
    fn conformance(&self, base_url: &str) -> Conformance {
        Conformance {
            name: format!("IRIS fake at {base_url}"),
            tenant_config: serde_json::json!({
                "allineamento_url": format!("{base_url}{PATH_ALLINEAMENTO}"),
                "verifica_url": format!("{base_url}{PATH_VERIFICA}"),
                "iuv_url": format!("{base_url}{PATH_IUV}"),
                "avvisi_url": format!("{base_url}{PATH_AVVISI}"),
                "ente": self.settings.ente,
                "fiscal_code": self.settings.fiscal_code,
                "segregation_code": format!("{:02}", self.settings.segregation_code),
            }),
            service_config: serde_json::json!({"tipo_pendenza": "DIRITTI"}),
        }
    }

    fn handle(&self, request: &Recorded) -> Reply {
        let (action, namespace, element, schema) = match request.path.as_str() {
            PATH_ALLINEAMENTO => (
                "IdpAllineamentoPendenzeEnteOTF",
                ns::PROXY,
                "IdpAllineamentoPendenzeEnteOTF",
                "ComunicazionePosizioniDebitorie.xsd",
            ),
            PATH_VERIFICA => {
                ("IdpVerificaStatoPagamenti", ns::PROXY, "IdpVerificaStatoPagamenti", "InvioNotificaPagamento.xsd")
            }
            PATH_IUV => (
                "http://idp.tasgroup.it/GenerazioneIUV/GeneraIUV",
                ns::TAS_IUV,
                "GeneraIUVRequest",
                "GenerazioneIUV.xsd",
            ),
            PATH_AVVISI => (
                "http://idp.tasgroup.it/GenerazioneAvvisi/GeneraAvviso",
                ns::TAS_AVVISI,
                "GeneraAvvisoRequest",
                "GenerazioneAvvisi.xsd",
            ),
            _ => return Reply::bytes(404, "text/plain", b"Not Found".to_vec()),
        };
        if request.method != "POST" {
            return Reply::bytes(405, "text/plain", Vec::new());
        }
        if !request.header("content-type").is_some_and(|c| c.starts_with("text/xml")) {
            return Reply::bytes(415, "text/plain", b"SOAP 1.1 wants text/xml".to_vec());
        }
        if request.header("soapaction").map(|a| a.trim_matches('"')) != Some(action) {
            return client_fault(&format!("SOAPAction must be \"{action}\""));
        }
        let body = match cassa_sdk::soap::parse_envelope(&request.body) {
            Ok(body) => body,
            Err(why) => return client_fault(&format!("not a SOAP 1.1 request: {why}")),
        };
        if !body.is(namespace, element) {
            return client_fault(&format!("the body must be {element} in {namespace}"));
        }
        let verdict =
            Xsd::iris().map_err(|e| e.to_string()).and_then(|xsd| match xsd.validate_file(schema, &serialize(&body)) {
                None | Some(Ok(())) => Ok(()),
                Some(Err(why)) => Err(why),
            });
        if let Err(why) = verdict {
            return client_fault(&format!("the request does not follow the schema: {why}"));
        }
        match request.path.as_str() {
            PATH_ALLINEAMENTO => self.allineamento(&body),
            PATH_VERIFICA => self.verifica(&body),
            PATH_IUV => self.genera_iuv(&body),
            _ => self.genera_avviso(&body),
        }
    }

    fn pay(&self, debt: &DebtRef) -> Result<(), String> {
        let mut pendenze = self.pendenze.lock().map_err(|_| "lock".to_owned())?;
        let p = pendenze
            .values_mut()
            .find(|p| p.iuv == debt.iuv && format!("3{}", p.iuv) == debt.notice_code)
            .ok_or_else(|| format!("no pendenza with IUV {}", debt.iuv))?;
        if p.state != State::Unpaid {
            return Err(format!("the pendenza is {:?}", p.state));
        }
        let iur = format!("IUR{}", p.iuv);
        p.state = State::Paid { at: Utc::now(), iur };
        Ok(())
    }

    fn positions_for(&self, iud: &str) -> usize {
        self.pendenze.lock().map(|p| p.values().filter(|p| p.id == iud).count()).unwrap_or(0)
    }
}
