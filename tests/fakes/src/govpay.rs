//! A fake of GovPay's "API Pendenze" v2 (`tests/specs/govpay/govpay-api-pendenze-v2.yaml`) under
//! its documented base path `/govpay/backend/api/pendenze/rs/basic/v2`.
//!
//! Every request passes, in order: HTTP Basic credentials (else 401, no body, as the document
//! says), the OpenAPI document (else 400 with a `FaultBean` `RICHIESTA`/`SINTASSI` naming every
//! violation), then GovPay's own rules: the application (`idA2A`) and the creditor (`idDominio`)
//! those of the credentials (403), the pendenza type known (422 `VER_…`), the amount equal to the
//! sum of its voci with at most two decimals (400), a due date not past (422), an update or
//! cancellation only of a pendenza not paid (422).
//!
//! State: `PUT` creates (201) or updates (200) a pendenza and gives it a notice number; the
//! test hook pays it (`ESEGUITA`, with an RPT/RT pair); `PATCH` with `REPLACE /stato ANNULLATA`
//! cancels it; `GET /avvisi/{idDominio}/{numeroAvviso}` serves the notice PDF and
//! `GET /rpp/{idDominio}/{iuv}/{ccp}/rt` the receipt.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::openapi::{Judged, Spec, Unrouted};
use crate::{Conformance, DebtRef, Intermediary, Recorded, Reply};

/// `tests/specs/govpay/govpay-api-pendenze-v2.yaml`.
pub const GOVPAY_SPEC: &str = include_str!("../../specs/govpay/govpay-api-pendenze-v2.yaml");

/// The document's base path.
pub const BASE: &str = "/govpay/backend/api/pendenze/rs/basic/v2";

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct GovpaySettings {
    /// The application (`idA2A`) the credentials belong to.
    pub id_a2a: String,
    /// The creditor it may write for.
    pub id_dominio: String,
    /// HTTP Basic user.
    pub username: String,
    /// HTTP Basic password.
    pub password: String,
    /// Segregation code of the notice numbers the fake gives out.
    pub segregation_code: u8,
    /// Known pendenza types (`idTipoPendenza`).
    pub tipi_pendenza: Vec<String>,
}

impl Default for GovpaySettings {
    fn default() -> Self {
        Self {
            id_a2a: "CASSA".into(),
            id_dominio: "80001234568".into(),
            username: "cassa-a2a".into(),
            password: format!("gp-{}", uuid::Uuid::new_v4().simple()),
            segregation_code: 1,
            tipi_pendenza: vec!["DIRITTI_SEGRETERIA".into(), "LIBERO".into()],
        }
    }
}

#[derive(Debug, Clone)]
struct Paid {
    at: DateTime<Utc>,
    iur: String,
    ccp: String,
}

#[derive(Debug, Clone)]
struct Pendenza {
    id_a2a: String,
    id_pendenza: String,
    body: Value,
    numero_avviso: String,
    stato: &'static str,
    loaded: DateTime<Utc>,
    paid: Option<Paid>,
}

impl Pendenza {
    fn iuv(&self) -> String {
        self.numero_avviso[1..].to_owned()
    }
}

/// The fake GovPay.
pub struct Govpay {
    settings: GovpaySettings,
    spec: Spec,
    /// Pendenze by (idA2A, idPendenza).
    pendenze: Mutex<BTreeMap<(String, String), Pendenza>>,
    next: Mutex<u64>,
}

fn fault(status: u16, categoria: &str, codice: &str, descrizione: &str, dettaglio: impl Into<String>) -> Reply {
    let body =
        json!({"categoria": categoria, "codice": codice, "descrizione": descrizione, "dettaglio": dettaglio.into()});
    Reply::bytes(status, "application/problem+json", body.to_string().into_bytes())
}

fn empty(status: u16) -> Reply {
    Reply::bytes(status, "text/plain", Vec::new())
}

/// Cents of a JSON number of euros with at most two decimals.
fn cents(value: &Value) -> Option<u64> {
    let text = value.as_number()?.to_string();
    let (units, decimals) = text.split_once('.').unwrap_or((&text, ""));
    if decimals.len() > 2 || units.starts_with('-') {
        return None;
    }
    let units: u64 = units.parse().ok()?;
    let decimals: u64 = format!("{decimals:0<2}").parse().ok()?;
    Some(units * 100 + decimals)
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Basic credentials of a request: `(user, password)`.
fn basic(request: &Recorded) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = request.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl Govpay {
    /// A fake with `settings`.
    pub fn new(settings: GovpaySettings) -> anyhow::Result<Self> {
        let mut document: Value = serde_yaml_ng::from_str(GOVPAY_SPEC)?;
        // See tests/specs/README.md: `value` carries strings in GovPay's own use.
        if let Some(value) = document.pointer_mut("/components/schemas/PatchOp/properties/value") {
            *value = json!({
                "description": "a string or an object (the document says object; GovPay takes strings)",
                "anyOf": [{"type": "string"}, {"type": "object"}],
            });
        }
        Ok(Self {
            settings,
            spec: Spec::from_value(document, BASE)?,
            pendenze: Mutex::new(BTreeMap::new()),
            next: Mutex::new(1),
        })
    }

    /// The HTTP Basic password.
    pub fn password(&self) -> &str {
        &self.settings.password
    }

    /// How many pendenze the fake holds.
    pub fn pendenze_count(&self) -> usize {
        self.pendenze.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// The `stato` of a pendenza.
    pub fn stato_of(&self, id_pendenza: &str) -> Option<String> {
        let pendenze = self.pendenze.lock().ok()?;
        pendenze.values().find(|p| p.id_pendenza == id_pendenza).map(|p| p.stato.to_owned())
    }

    /// The GET view of a pendenza (`Pendenza`).
    fn render(&self, p: &Pendenza) -> Value {
        let body = &p.body;
        let voci: Vec<Value> = body["voci"]
            .as_array()
            .map(|voci| {
                voci.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let mut v = v.clone();
                        v["indice"] = json!(i + 1);
                        v["stato"] = json!(if p.paid.is_some() { "Eseguito" } else { "Non eseguito" });
                        v
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut out = json!({
            "idA2A": p.id_a2a,
            "idPendenza": p.id_pendenza,
            "idTipoPendenza": body["idTipoPendenza"],
            "dominio": {"idDominio": self.settings.id_dominio, "ragioneSociale": "Comune di Prova"},
            "stato": p.stato,
            "soggettoPagatore": body["soggettoPagatore"],
            "importo": body["importo"],
            "numeroAvviso": p.numero_avviso,
            "iuvAvviso": p.iuv(),
            "dataCaricamento": date(p.loaded),
            "causale": body["causale"],
            "tipo": "dovuto",
            "voci": voci,
            "rpp": [],
        });
        if let Some(due) = body.get("dataScadenza") {
            out["dataScadenza"] = due.clone();
        }
        if let Some(paid) = &p.paid {
            out["iuvPagamento"] = json!(p.iuv());
            out["dataPagamento"] = json!(date(paid.at));
            let mut index = out.clone();
            index["rpp"] = json!(format!("/rpp?idA2A={}&idPendenza={}", p.id_a2a, p.id_pendenza));
            index["pagamenti"] = json!(format!("/pagamenti?idPendenza={}", p.id_pendenza));
            out["rpp"] = json!([{
                "stato": "RT_ACCETTATA_PA",
                "rpt": {"identificativoDominio": self.settings.id_dominio, "datiVersamento": {
                    "identificativoUnivocoVersamento": p.iuv(), "codiceContestoPagamento": paid.ccp}},
                "rt": self.rt(p, paid),
                "pendenza": index,
            }]);
        }
        out
    }

    /// The RT of a paid pendenza, as GovPay's `rt` object shows it.
    fn rt(&self, p: &Pendenza, paid: &Paid) -> Value {
        let amount = cents(&p.body["importo"]).map_or_else(String::new, cassa_sdk::money::format_euros);
        json!({
            "identificativoMessaggioRicevuta": format!("RT-{}", paid.iur),
            "dataOraMessaggioRicevuta": paid.at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "istitutoAttestante": {"denominazioneAttestante": "Banca Fittizia S.p.A."},
            "datiPagamento": {
                "codiceEsitoPagamento": "0",
                "importoTotalePagato": amount,
                "identificativoUnivocoVersamento": p.iuv(),
                "CodiceContestoPagamento": paid.ccp,
                "datiSingoloPagamento": [{
                    "singoloImportoPagato": amount,
                    "esitoSingoloPagamento": "ESEGUITO",
                    "dataEsitoSingoloPagamento": date(paid.at),
                    "identificativoUnivocoRiscossione": paid.iur,
                }],
            },
        })
    }

    fn put(&self, judged: &Judged, request: &Recorded) -> Reply {
        let (id_a2a, id_pendenza) = (judged.param("idA2A").to_owned(), judged.param("idPendenza").to_owned());
        let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
            return fault(400, "RICHIESTA", "SINTASSI", "Richiesta non valida", "the body is not JSON");
        };
        if body["idDominio"].as_str() != Some(self.settings.id_dominio.as_str()) {
            return empty(403);
        }
        let tipo = body["idTipoPendenza"].as_str().unwrap_or_default();
        if !self.settings.tipi_pendenza.iter().any(|t| t == tipo) {
            return fault(
                422,
                "RICHIESTA",
                "VER_002",
                "Richiesta non valida",
                format!("tipo pendenza {tipo} sconosciuto"),
            );
        }
        let Some(total) = cents(&body["importo"]) else {
            return fault(400, "RICHIESTA", "SINTASSI", "Richiesta non valida", "importo: at most two decimals");
        };
        let mut sum = 0;
        for (i, voce) in body["voci"].as_array().into_iter().flatten().enumerate() {
            match cents(&voce["importo"]) {
                Some(c) => sum += c,
                None => {
                    return fault(
                        400,
                        "RICHIESTA",
                        "SINTASSI",
                        "Richiesta non valida",
                        format!("voci[{i}].importo: at most two decimals"),
                    );
                }
            }
        }
        if sum != total {
            return fault(
                422,
                "RICHIESTA",
                "VER_005",
                "Richiesta non valida",
                format!("the voci add up to {sum} cents, not {total}"),
            );
        }
        if let Some(due) = body["dataScadenza"].as_str()
            && due < date(Utc::now()).as_str()
        {
            return fault(422, "RICHIESTA", "VER_023", "Richiesta non valida", "dataScadenza is past");
        }
        let Ok(mut pendenze) = self.pendenze.lock() else { return empty(500) };
        let key = (id_a2a.clone(), id_pendenza.clone());
        let status = match pendenze.get_mut(&key) {
            Some(existing) if existing.stato != "NON_ESEGUITA" => {
                return fault(
                    422,
                    "OPERAZIONE",
                    "VER_017",
                    "Richiesta non valida",
                    format!("pendenza {}", existing.stato),
                );
            }
            Some(existing) => {
                existing.body = body;
                200
            }
            None => {
                let Ok(mut next) = self.next.lock() else { return empty(500) };
                let Ok(numero_avviso) = cassa_sdk::iuv::new_notice_code(self.settings.segregation_code, *next) else {
                    return empty(500);
                };
                *next += 1;
                pendenze.insert(
                    key.clone(),
                    Pendenza {
                        id_a2a,
                        id_pendenza,
                        body,
                        numero_avviso,
                        stato: "NON_ESEGUITA",
                        loaded: Utc::now(),
                        paid: None,
                    },
                );
                201
            }
        };
        let Some(p) = pendenze.get(&key) else { return empty(500) };
        let mut reply = json!({"idDominio": self.settings.id_dominio, "numeroAvviso": p.numero_avviso, "UUID": uuid::Uuid::new_v4().to_string()});
        if crate::query_param(&request.query, "stampaAvviso").as_deref() == Some("true") {
            reply["pdf"] = json!(cassa_sdk::soap::encode_embedded_bytes(&self.notice_pdf(p)));
        }
        Reply::json(status, &reply)
    }

    fn patch(&self, judged: &Judged, request: &Recorded) -> Reply {
        let key = (judged.param("idA2A").to_owned(), judged.param("idPendenza").to_owned());
        let ops: Vec<Value> = serde_json::from_str(&request.body).unwrap_or_default();
        let Ok(mut pendenze) = self.pendenze.lock() else { return empty(500) };
        let Some(p) = pendenze.get_mut(&key) else { return empty(404) };
        for op in &ops {
            match (op["op"].as_str(), op["path"].as_str(), &op["value"]) {
                (Some("REPLACE"), Some("/stato"), Value::String(stato)) if stato == "ANNULLATA" => {
                    if p.stato != "NON_ESEGUITA" {
                        return fault(
                            422,
                            "OPERAZIONE",
                            "VER_018",
                            "Richiesta non valida",
                            format!("pendenza {}", p.stato),
                        );
                    }
                    p.stato = "ANNULLATA";
                }
                (Some("REPLACE"), Some("/descrizioneStato"), Value::String(_)) => {}
                _ => {
                    return fault(
                        400,
                        "RICHIESTA",
                        "SINTASSI",
                        "Richiesta non valida",
                        format!("unsupported patch {op}"),
                    );
                }
            }
        }
        empty(200)
    }

    fn notice_pdf(&self, p: &Pendenza) -> Vec<u8> {
        let amount = cents(&p.body["importo"]).unwrap_or(0);
        cassa_sdk::pdf::text_document(&[
            "Avviso di pagamento pagoPA (GovPay)".to_owned(),
            format!("Ente creditore: {}", self.settings.id_dominio),
            format!("Causale: {}", p.body["causale"].as_str().unwrap_or_default()),
            format!("Importo: {}", cassa_sdk::money::format_euros(amount)),
            format!("Codice avviso: {}", p.numero_avviso),
        ])
    }

    fn find(&self, pred: impl Fn(&Pendenza) -> bool) -> Option<Pendenza> {
        self.pendenze.lock().ok()?.values().find(|p| pred(p)).cloned()
    }
}

impl Intermediary for Govpay {
    fn conformance(&self, base_url: &str) -> Conformance {
        Conformance {
            name: format!("GovPay fake at {base_url}"),
            tenant_config: json!({
                "base_url": format!("{base_url}{BASE}"),
                "id_a2a": self.settings.id_a2a,
                "id_dominio": self.settings.id_dominio,
                "username": self.settings.username,
                "password": self.settings.password,
            }),
            service_config: json!({"id_tipo_pendenza": self.settings.tipi_pendenza[0], "cod_entrata": "SEGRETERIA"}),
        }
    }

    fn handle(&self, request: &Recorded) -> Reply {
        if basic(request) != Some((self.settings.username.clone(), self.settings.password.clone())) {
            return empty(401);
        }
        if !self.spec.serves(&request.path) {
            return empty(404);
        }
        let body = request.body.as_bytes();
        let judged = match self.spec.judge(&request.method, &request.path, &request.query, &request.headers, body) {
            Ok(judged) => judged,
            Err(Unrouted::NotFound(_)) => return empty(404),
            Err(Unrouted::MethodNotAllowed(_)) => return empty(405),
        };
        if !judged.violations.is_empty() {
            return fault(400, "RICHIESTA", "SINTASSI", "Richiesta non valida", judged.violations.join("; "));
        }
        let own = |id_a2a: &str| id_a2a == self.settings.id_a2a;
        match judged.operation.as_str() {
            "addPendenza" | "getPendenza" | "updatePendenza" if !own(judged.param("idA2A")) => empty(403),
            "addPendenza" => self.put(&judged, request),
            "updatePendenza" => self.patch(&judged, request),
            "getPendenza" => {
                let (a2a, id) = (judged.param("idA2A"), judged.param("idPendenza"));
                match self.find(|p| p.id_a2a == a2a && p.id_pendenza == id) {
                    Some(p) => Reply::json(200, &self.render(&p)),
                    None => empty(404),
                }
            }
            "getAvviso" => {
                let nav = judged.param("numeroAvviso");
                match self.find(|p| p.numero_avviso == nav) {
                    Some(p) if judged.param("idDominio") == self.settings.id_dominio => {
                        if request.header("accept").is_some_and(|a| a.contains("application/pdf")) {
                            Reply::bytes(200, "application/pdf", self.notice_pdf(&p))
                        } else {
                            let stato = if p.stato == "ESEGUITA" { "DUPLICATA" } else { p.stato };
                            Reply::json(
                                200,
                                &json!({"stato": stato, "numeroAvviso": p.numero_avviso, "idDominio": self.settings.id_dominio}),
                            )
                        }
                    }
                    _ => empty(404),
                }
            }
            "getRt" => {
                let (iuv, ccp) = (judged.param("iuv"), judged.param("ccp"));
                match self.find(|p| p.iuv() == iuv && p.paid.as_ref().is_some_and(|paid| paid.ccp == ccp)) {
                    Some(p) => {
                        let paid =
                            p.paid.clone().unwrap_or(Paid { at: Utc::now(), iur: String::new(), ccp: String::new() });
                        if request.header("accept").is_some_and(|a| a.contains("application/xml")) {
                            let mut w = cassa_sdk::xml::XmlWriter::new();
                            w.declaration()
                                .start("RT", &[])
                                .text_element("identificativoUnivocoVersamento", &p.iuv())
                                .text_element("codiceContestoPagamento", &paid.ccp)
                                .text_element("identificativoUnivocoRiscossione", &paid.iur)
                                .end("RT");
                            Reply::bytes(200, "application/xml", w.finish().into_bytes())
                        } else {
                            Reply::json(200, &self.rt(&p, &paid))
                        }
                    }
                    None => empty(404),
                }
            }
            other => fault(
                500,
                "INTERNO",
                "INTERNO",
                "Servizio non disponibile",
                format!("the fake does not implement {other}"),
            ),
        }
    }

    fn pay(&self, debt: &DebtRef) -> Result<(), String> {
        let mut pendenze = self.pendenze.lock().map_err(|_| "lock".to_owned())?;
        let p = pendenze
            .values_mut()
            .find(|p| p.numero_avviso == debt.notice_code && p.iuv() == debt.iuv)
            .ok_or_else(|| format!("no pendenza with notice {}", debt.notice_code))?;
        if p.stato != "NON_ESEGUITA" {
            return Err(format!("the pendenza is {}", p.stato));
        }
        p.stato = "ESEGUITA";
        // Deterministic ids, so the requests that name them are the same run after run.
        let iuv = p.iuv();
        p.paid = Some(Paid { at: Utc::now(), iur: format!("IUR{iuv}"), ccp: format!("ccp-{iuv}") });
        Ok(())
    }

    fn positions_for(&self, iud: &str) -> usize {
        self.pendenze.lock().map(|p| p.values().filter(|p| p.id_pendenza == iud).count()).unwrap_or(0)
    }
}
