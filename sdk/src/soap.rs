//! SOAP 1.1 envelopes over [`crate::xml`]: building requests, reading replies and faults, and the
//! base64-embedded XML documents MyPay and IRIS carry inside SOAP elements.
//!
//! - [`SoapRequest`] serialises a document/literal request and its HTTP headers.
//! - [`parse_envelope`] checks a reply is a SOAP 1.1 envelope, turns a `Fault` into
//!   [`SoapError::Fault`] and otherwise returns the operation's response element. Replies are
//!   matched by namespace, never by prefix (servers use `soap`, `SOAP-ENV`, `S`, …).
//! - [`encode_embedded`] / [`decode_embedded`] handle whole XML documents sent base64-encoded in
//!   an element (MyPay's `dovuto`, `pagati`).
//!
//! Errors other than [`SoapError::Fault`] mean the intermediary sent something that is not the
//! SOAP it promised; a fault is the intermediary's own answer.

use std::fmt;

use crate::xml::{Element, XmlError, XmlWriter};

/// Namespace of the SOAP 1.1 envelope.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// What went wrong reading a SOAP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// The reply (or an embedded document) is not well-formed or acceptable XML.
    #[error("invalid XML: {0}")]
    Xml(#[from] XmlError),
    /// The reply is XML but not the SOAP 1.1 the intermediary should send.
    #[error("SOAP protocol error: {0}")]
    Protocol(String),
    /// The intermediary answered with a SOAP fault (boxed: it carries the `detail` tree).
    #[error("{0}")]
    Fault(Box<Fault>),
    /// An embedded document is not valid base64 or not UTF-8.
    #[error("invalid embedded document: {0}")]
    Base64(String),
}

/// A SOAP 1.1 fault (`soapenv:Fault`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode`, as sent (a QName such as `soap:Server`).
    pub code: String,
    /// `faultstring`, the human-readable reason.
    pub string: String,
    /// `faultactor`, if sent.
    pub actor: Option<String>,
    /// `detail`, if sent: application-specific fault elements are its children.
    pub detail: Option<Element>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SOAP fault {}: {}", self.code, self.string)?;
        if let Some(actor) = &self.actor {
            write!(f, " (actor {actor})")?;
        }
        Ok(())
    }
}

/// A SOAP 1.1 request ready to be serialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapRequest<'a> {
    /// The SOAPAction (for MyPay the operation name), sent quoted in the `SOAPAction` header.
    pub action: &'a str,
    /// Namespace declarations (prefix, URI) put on the `Envelope` for header and body content.
    pub namespaces: &'a [(&'a str, &'a str)],
    /// Serialised XML of the `Header` children; no `Header` element when `None`.
    pub header: Option<String>,
    /// Serialised XML of the `Body` children.
    pub body: String,
}

impl SoapRequest<'_> {
    /// Serialises the envelope, with the XML declaration and the `soapenv` prefix.
    pub fn to_xml(&self) -> String {
        let declarations: Vec<(String, &str)> =
            self.namespaces.iter().map(|(prefix, uri)| (format!("xmlns:{prefix}"), *uri)).collect();
        let mut attrs: Vec<(&str, &str)> = vec![("xmlns:soapenv", SOAP_ENV_NS)];
        attrs.extend(declarations.iter().map(|(name, uri)| (name.as_str(), *uri)));

        let mut writer = XmlWriter::new();
        writer.declaration().start("soapenv:Envelope", &attrs);
        if let Some(header) = &self.header {
            writer.start("soapenv:Header", &[]).raw(header).end("soapenv:Header");
        }
        writer.start("soapenv:Body", &[]).raw(&self.body).end("soapenv:Body").end("soapenv:Envelope");
        writer.finish()
    }

    /// The HTTP headers of the request: `Content-Type` and the quoted `SOAPAction`.
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("Content-Type".to_owned(), "text/xml; charset=utf-8".to_owned()),
            ("SOAPAction".to_owned(), format!("\"{}\"", self.action)),
        ]
    }
}

/// Sends `request` to `url` through the host and returns the reply's body element. A SOAP
/// fault becomes `unavailable` when the server blames itself (`…Server`) and `rejected`
/// otherwise; an HTTP failure without a SOAP reply, the error its status means; a reply that
/// is not SOAP, `protocol`.
#[cfg(feature = "guest")]
pub fn call(url: &str, request: &SoapRequest<'_>) -> Result<Element, crate::Error> {
    use crate::Error;
    let mut http = crate::http::Request::post(url);
    for (name, value) in request.headers() {
        http = http.header(&name, &value);
    }
    let reply = http.body(request.to_xml()).send()?;
    let is_xml = reply.header("content-type").is_some_and(|c| c.contains("xml"));
    if !(reply.status == 200 || (reply.status == 500 && is_xml)) {
        return Err(crate::http::status_error(reply.status, &reply.body)
            .unwrap_or_else(|| Error::Protocol(format!("HTTP {} where a SOAP reply was due", reply.status))));
    }
    match parse_envelope(reply.text()?) {
        Ok(element) => Ok(element),
        Err(SoapError::Fault(fault)) if fault.code.ends_with("Server") => Err(Error::Unavailable(fault.to_string())),
        Err(SoapError::Fault(fault)) => Err(Error::Rejected(fault.to_string())),
        Err(other) => Err(Error::Protocol(other.to_string())),
    }
}

/// Reads a SOAP 1.1 reply and returns the first element inside `Body` (the operation's
/// response), or [`SoapError::Fault`] if that element is a `Fault`.
pub fn parse_envelope(xml: &str) -> Result<Element, SoapError> {
    parse_envelope_with_header(xml).map(|(_, body)| body)
}

/// Like [`parse_envelope`], also returning the children of `Header` (empty without one): what a
/// server reads from a request.
pub fn parse_envelope_with_header(xml: &str) -> Result<(Vec<Element>, Element), SoapError> {
    let envelope = Element::parse(xml)?;
    if !envelope.is(SOAP_ENV_NS, "Envelope") {
        return Err(SoapError::Protocol(match envelope.namespace {
            Some(ns) if envelope.name == "Envelope" => {
                format!("envelope in namespace {ns}, expected SOAP 1.1 {SOAP_ENV_NS}")
            }
            _ => format!("root element <{}> is not a SOAP Envelope", envelope.name),
        }));
    }
    let mut header = Vec::new();
    let mut body = None;
    for child in envelope.children {
        if child.is(SOAP_ENV_NS, "Header") {
            header = child.children;
        } else if child.is(SOAP_ENV_NS, "Body") {
            body = Some(child);
        }
    }
    let body = body.ok_or_else(|| SoapError::Protocol("envelope has no Body".to_owned()))?;
    let response = body.children.into_iter().next().ok_or_else(|| SoapError::Protocol("Body is empty".to_owned()))?;
    if response.is(SOAP_ENV_NS, "Fault") {
        return Err(SoapError::Fault(Box::new(fault_from(response))));
    }
    Ok((header, response))
}

fn fault_from(fault: Element) -> Fault {
    let text = |local: &str| fault.text_of(&[local]).map(str::to_owned);
    Fault {
        code: text("faultcode").unwrap_or_default(),
        string: text("faultstring").unwrap_or_default(),
        actor: text("faultactor"),
        detail: fault.child("detail").cloned(),
    }
}

/// Base64-encodes an XML document (standard alphabet, padded, no line breaks) for embedding in
/// an element.
pub fn encode_embedded(xml: &str) -> String {
    base64_simd::STANDARD.encode_to_string(xml.as_bytes())
}

/// Base64-encodes binary content (a ZIP, a PDF) for an `xsd:base64Binary` element.
pub fn encode_embedded_bytes(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// Decodes base64 content of an element. ASCII whitespace (line wrapping) is ignored and
/// padding is optional.
pub fn decode_embedded_bytes(b64: &str) -> Result<Vec<u8>, SoapError> {
    // WHATWG forgiving-base64 (ASCII whitespace ignored, padding optional), after dropping the
    // trailing padding some servers get wrong.
    let unpadded = b64.trim_end_matches(|c: char| c == '=' || c.is_ascii_whitespace());
    base64_simd::forgiving_decode_to_vec(unpadded.as_bytes()).map_err(|e| SoapError::Base64(e.to_string()))
}

/// Decodes a base64-embedded XML document (see [`decode_embedded_bytes`]); the decoded bytes
/// must be UTF-8.
pub fn decode_embedded(b64: &str) -> Result<String, SoapError> {
    let bytes = decode_embedded_bytes(b64)?;
    String::from_utf8(bytes).map_err(|_| SoapError::Base64("decoded document is not UTF-8".to_owned()))
}

/// A deterministic MyPay-shaped workload for benchmarking the SDK natively and inside guests.
#[doc(hidden)]
pub mod workload {
    use super::{SoapError, SoapRequest, decode_embedded, encode_embedded, parse_envelope};
    use crate::iuv::new_iuv;
    use crate::money::{format_euros, parse_euros};
    use crate::xml::{Element, XmlWriter};

    const ENTE_NS: &str = "http://www.regione.veneto.it/pagamenti/ente/";
    const PPTHEAD_NS: &str = "http://www.regione.veneto.it/pagamenti/ente/ppthead";
    const PAGAMENTI_NS: &str = "http://www.regione.veneto.it/schemas/2012/Pagamenti/Ente/";
    const PAYMENTS: u64 = 2;
    const CAPITOLI: u64 = 4;

    const NAMES: [&str; 4] = [
        "Vittorino Coliandro",
        "Maria Grazia Rossi & Figli S.r.l.",
        "Giuseppe Verdi",
        "Anna Bianchi <anna@example.invalid>",
    ];

    /// Builds a `paaSILImportaDovuto` request and parses a `paaSILChiediPagatiConRicevuta` reply,
    /// both around 2–3 KB of embedded XML derived from `seed`; returns a checksum of the work.
    /// No I/O, time or randomness: the same seed gives the same result on every target.
    pub fn mypay_sized_roundtrip(seed: u32) -> usize {
        run(seed).unwrap_or(0)
    }

    /// splitmix64 step: a cheap deterministic spread of the seed.
    fn mix(seed: u32, n: u64) -> u64 {
        let mut z =
            u64::from(seed).wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn amount_cents(seed: u32, n: u64) -> u64 {
        100 + mix(seed, n) % 100_000
    }

    fn iud(seed: u32, n: u64) -> String {
        format!("{:016x}{:016x}", mix(seed, n + 100), mix(seed, n + 200))
    }

    fn pick_name(seed: u32) -> &'static str {
        let index = usize::try_from(seed % 4).unwrap_or(0);
        NAMES.get(index).copied().unwrap_or("Mario Rossi")
    }

    fn soggetto_pagatore(w: &mut XmlWriter, seed: u32) {
        w.start("soggettoPagatore", &[])
            .start("identificativoUnivocoPagatore", &[])
            .text_element("tipoIdentificativoUnivoco", "F")
            .text_element("codiceIdentificativoUnivoco", "CLNVTR76P01G822Q")
            .end("identificativoUnivocoPagatore")
            .text_element("anagraficaPagatore", pick_name(seed))
            .text_element("indirizzoPagatore", "Via della Repubblica")
            .text_element("civicoPagatore", &(1 + seed % 200).to_string())
            .text_element("capPagatore", "40121")
            .text_element("localitaPagatore", "Bologna")
            .text_element("provinciaPagatore", "BO")
            .text_element("nazionePagatore", "IT")
            .text_element("e-mailPagatore", "pagatore@example.invalid")
            .end("soggettoPagatore");
    }

    /// The decoded `dovuto` of `paaSILImportaDovuto`: a `Versamento` with a detailed `bilancio`.
    fn versamento(seed: u32) -> String {
        let total = amount_cents(seed, 0);
        let mut w = XmlWriter::new();
        w.declaration().start("Versamento", &[("xmlns", PAGAMENTI_NS)]).text_element("versioneOggetto", "6.0");
        soggetto_pagatore(&mut w, seed);
        w.start("datiVersamento", &[])
            .text_element("dataEsecuzionePagamento", "2025-06-30")
            .text_element("tipoVersamento", "ALL")
            .text_element("identificativoUnivocoDovuto", &iud(seed, 0))
            .text_element("importoSingoloVersamento", &format_euros(total))
            .text_element("identificativoTipoDovuto", "DIRITTI_SEGRETERIA")
            .text_element(
                "causaleVersamento",
                &format!(
                    "Diritti di segreteria per il rilascio del certificato n. {seed} \
                     richiesto tramite lo sportello telematico del Comune; pratica \
                     protocollata con riferimento {:x} — importo comprensivo di bolli & oneri",
                    mix(seed, 7)
                ),
            )
            .text_element("datiSpecificiRiscossione", "9/0101108TS/");
        // Split the total over the bilancio entries, the last one taking the remainder.
        w.start("bilancio", &[]);
        let share = total / (CAPITOLI * 2);
        for capitolo in 0..CAPITOLI {
            w.start("capitolo", &[])
                .text_element("codCapitolo", &format!("CAP-{:04}", 1000 + capitolo))
                .text_element("codUfficio", &format!("UFF-{capitolo:02}"));
            for accertamento in 0..2 {
                let last = capitolo == CAPITOLI - 1 && accertamento == 1;
                let importo = if last { total - share * (CAPITOLI * 2 - 1) } else { share };
                w.start("accertamento", &[])
                    .text_element(
                        "codAccertamento",
                        &format!("ACC/2025/{:06}", mix(seed, capitolo * 2 + accertamento) % 1_000_000),
                    )
                    .text_element("importo", &format_euros(importo))
                    .end("accertamento");
            }
            w.end("capitolo");
        }
        w.end("bilancio").end("datiVersamento").text_element("azione", "I").end("Versamento");
        w.finish()
    }

    fn importa_dovuto_request(seed: u32) -> String {
        let mut header = XmlWriter::new();
        header.start("ppt:intestazionePPT", &[]).text_element("codIpaEnte", "c_a000").end("ppt:intestazionePPT");
        let mut body = XmlWriter::new();
        body.start("ente:paaSILImportaDovuto", &[])
            .text_element("password", "s3cret&<pw>")
            .text_element("dovuto", &encode_embedded(&versamento(seed)))
            .text_element("flagGeneraIuv", "true")
            .end("ente:paaSILImportaDovuto");
        SoapRequest {
            action: "paaSILImportaDovuto",
            namespaces: &[("ppt", PPTHEAD_NS), ("ente", ENTE_NS)],
            header: Some(header.finish()),
            body: body.finish(),
        }
        .to_xml()
    }

    /// The decoded `pagati` of the reply: a `PagatiConRicevuta` with two single payments.
    fn pagati(seed: u32, iuv: &str) -> String {
        let amounts: Vec<u64> = (1..=PAYMENTS).map(|n| amount_cents(seed, n)).collect();
        let total: u64 = amounts.iter().sum();
        let mut w = XmlWriter::new();
        w.declaration()
            .start("ns2:PagatiConRicevuta", &[("xmlns:ns2", PAGAMENTI_NS)])
            .text_element("ns2:versioneOggetto", "6.2")
            .start("ns2:dominio", &[])
            .text_element("ns2:identificativoDominio", "80007580279")
            .text_element("ns2:identificativoStazioneRichiedente", "80007580279_01")
            .end("ns2:dominio")
            .text_element("ns2:identificativoMessaggioRicevuta", &iud(seed, 10))
            .text_element("ns2:dataOraMessaggioRicevuta", "2025-06-30T10:15:30")
            .text_element("ns2:riferimentoMessaggioRichiesta", &iud(seed, 11))
            .text_element("ns2:riferimentoDataRichiesta", "2025-06-30")
            .start("ns2:istitutoAttestante", &[])
            .start("ns2:identificativoUnivocoAttestante", &[])
            .text_element("ns2:tipoIdentificativoUnivoco", "B")
            .text_element("ns2:codiceIdentificativoUnivoco", "BCITITMM")
            .end("ns2:identificativoUnivocoAttestante")
            .text_element("ns2:denominazioneAttestante", "Banca di Esempio S.p.A.")
            .end("ns2:istitutoAttestante")
            .start("ns2:enteBeneficiario", &[])
            .start("ns2:identificativoUnivocoBeneficiario", &[])
            .text_element("ns2:tipoIdentificativoUnivoco", "G")
            .text_element("ns2:codiceIdentificativoUnivoco", "80007580279")
            .end("ns2:identificativoUnivocoBeneficiario")
            .text_element("ns2:denominazioneBeneficiario", "Comune di Esempio")
            .text_element("ns2:localitaBeneficiario", "Venezia")
            .end("ns2:enteBeneficiario")
            .start("ns2:soggettoPagatore", &[])
            .start("ns2:identificativoUnivocoPagatore", &[])
            .text_element("ns2:tipoIdentificativoUnivoco", "F")
            .text_element("ns2:codiceIdentificativoUnivoco", "CLNVTR76P01G822Q")
            .end("ns2:identificativoUnivocoPagatore")
            .text_element("ns2:anagraficaPagatore", pick_name(seed))
            .end("ns2:soggettoPagatore")
            .start("ns2:datiPagamento", &[])
            .text_element("ns2:codiceEsitoPagamento", "0")
            .text_element("ns2:importoTotalePagato", &format_euros(total))
            .text_element("ns2:identificativoUnivocoVersamento", iuv)
            .text_element("ns2:codiceContestoPagamento", "n/a");
        for (index, amount) in (1u64..).zip(&amounts) {
            w.start("ns2:datiSingoloPagamento", &[])
                .text_element("ns2:identificativoUnivocoDovuto", &iud(seed, index))
                .text_element("ns2:singoloImportoPagato", &format_euros(*amount))
                .text_element("ns2:esitoSingoloPagamento", "ESEGUITO")
                .text_element("ns2:dataEsitoSingoloPagamento", "2025-06-30")
                .text_element("ns2:identificativoUnivocoRiscossione", &format!("{:020}", mix(seed, 20 + index)))
                .text_element("ns2:causaleVersamento", &format!("/RFB/{iuv}/{}", format_euros(*amount)))
                .text_element("ns2:datiSpecificiRiscossione", "9/0101108TS/")
                .end("ns2:datiSingoloPagamento");
        }
        w.end("ns2:datiPagamento").end("ns2:PagatiConRicevuta");
        w.finish()
    }

    /// A reply the way servers write it: other prefixes, line-wrapped base64.
    fn chiedi_pagati_reply(seed: u32, iuv: &str) -> String {
        let encoded = encode_embedded(&pagati(seed, iuv));
        let wrapped: Vec<&str> =
            encoded.as_bytes().chunks(76).filter_map(|chunk| std::str::from_utf8(chunk).ok()).collect();
        let mut w = XmlWriter::new();
        w.declaration()
            .start("SOAP-ENV:Envelope", &[("xmlns:SOAP-ENV", super::SOAP_ENV_NS)])
            .start("SOAP-ENV:Header", &[])
            .end("SOAP-ENV:Header")
            .start("SOAP-ENV:Body", &[])
            .start("ns3:paaSILChiediPagatiConRicevutaRisposta", &[("xmlns:ns3", ENTE_NS)])
            .text_element("pagati", &wrapped.join("\n"))
            .text_element("tipoFirma", "")
            .end("ns3:paaSILChiediPagatiConRicevutaRisposta")
            .end("SOAP-ENV:Body")
            .end("SOAP-ENV:Envelope");
        w.finish()
    }

    fn protocol(message: impl ToString) -> SoapError {
        SoapError::Protocol(message.to_string())
    }

    fn run(seed: u32) -> Result<usize, SoapError> {
        let request = importa_dovuto_request(seed);

        let iuv = new_iuv(47, mix(seed, 30) % 10_000_000_000_000).map_err(protocol)?;
        let reply = chiedi_pagati_reply(seed, &iuv);
        let response = parse_envelope(&reply)?;
        if !response.is(ENTE_NS, "paaSILChiediPagatiConRicevutaRisposta") {
            return Err(protocol("unexpected response element"));
        }
        if let Some(fault) = response.child("fault") {
            return Err(protocol(fault.text_of(&["faultCode"]).unwrap_or("fault")));
        }
        let embedded = response.text_of(&["pagati"]).ok_or_else(|| protocol("no pagati"))?;
        let pagati = Element::parse(&decode_embedded(embedded)?)?;
        let dati = pagati.child("datiPagamento").ok_or_else(|| protocol("no datiPagamento"))?;
        let total =
            parse_euros(dati.text_of(&["importoTotalePagato"]).ok_or_else(|| protocol("no importoTotalePagato"))?)
                .map_err(protocol)?;
        let mut paid = 0u64;
        for single in dati.children_named("datiSingoloPagamento") {
            paid += parse_euros(
                single.text_of(&["singoloImportoPagato"]).ok_or_else(|| protocol("no singoloImportoPagato"))?,
            )
            .map_err(protocol)?;
        }
        if paid != total {
            return Err(protocol("single amounts do not add up to the total"));
        }
        let reply_iuv = dati.text_of(&["identificativoUnivocoVersamento"]).ok_or_else(|| protocol("no IUV"))?;

        let mut checksum = 0u32;
        for part in [request.len(), reply.len(), reply_iuv.len(), pagati.children.len()] {
            checksum = checksum.wrapping_add(u32::try_from(part).unwrap_or(u32::MAX));
        }
        checksum = checksum.wrapping_add(u32::try_from(total).unwrap_or(u32::MAX));
        Ok(usize::try_from(checksum).unwrap_or(usize::MAX))
    }

    #[cfg(test)]
    #[expect(clippy::unwrap_used, reason = "tests")]
    mod tests {
        use super::*;

        #[test]
        fn workload_is_deterministic_and_does_work() {
            for seed in [0, 1, 42, u32::MAX] {
                let first = mypay_sized_roundtrip(seed);
                assert_ne!(first, 0, "seed {seed}");
                assert_eq!(first, mypay_sized_roundtrip(seed), "seed {seed}");
                assert!(run(seed).is_ok());
            }
        }

        #[test]
        fn workload_documents_are_mypay_sized() {
            let versamento = versamento(7);
            assert!((2_000..=3_500).contains(&versamento.len()), "Versamento is {} bytes", versamento.len());
            let pagati = pagati(7, &new_iuv(47, 1).unwrap());
            assert!((2_000..=3_500).contains(&pagati.len()), "PagatiConRicevuta is {} bytes", pagati.len());
        }

        #[test]
        fn workload_request_embeds_a_parseable_versamento() {
            let request = importa_dovuto_request(7);
            let envelope = Element::parse(&request).unwrap();
            let call = envelope.path(&["Body", "paaSILImportaDovuto"]).unwrap();
            assert_eq!(call.namespace.as_deref(), Some(ENTE_NS));
            assert_eq!(call.text_of(&["password"]), Some("s3cret&<pw>"));
            let dovuto = Element::parse(&decode_embedded(call.text_of(&["dovuto"]).unwrap()).unwrap()).unwrap();
            assert!(dovuto.is(PAGAMENTI_NS, "Versamento"));
            assert_eq!(
                parse_euros(dovuto.text_of(&["datiVersamento", "importoSingoloVersamento"]).unwrap()),
                Ok(amount_cents(7, 0))
            );
            let bilancio: u64 = dovuto
                .path(&["datiVersamento", "bilancio"])
                .unwrap()
                .children_named("capitolo")
                .flat_map(|c| c.children_named("accertamento"))
                .map(|a| parse_euros(a.text_of(&["importo"]).unwrap()).unwrap())
                .sum();
            assert_eq!(bilancio, amount_cents(7, 0));
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const MYPAY_ENTE: &str = "http://www.regione.veneto.it/pagamenti/ente/";
    const MYPAY_PPTHEAD: &str = "http://www.regione.veneto.it/pagamenti/ente/ppthead";

    #[test]
    fn request_serialises_envelope_header_and_body() {
        let request = SoapRequest {
            action: "paaSILImportaDovuto",
            namespaces: &[("ppt", MYPAY_PPTHEAD), ("ente", MYPAY_ENTE)],
            header: Some("<ppt:intestazionePPT><codIpaEnte>c_a000</codIpaEnte></ppt:intestazionePPT>".to_owned()),
            body: "<ente:paaSILImportaDovuto><dovuto>AA==</dovuto></ente:paaSILImportaDovuto>".to_owned(),
        };
        assert_eq!(
            request.to_xml(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
                r#" xmlns:ppt="http://www.regione.veneto.it/pagamenti/ente/ppthead""#,
                r#" xmlns:ente="http://www.regione.veneto.it/pagamenti/ente/">"#,
                "<soapenv:Header><ppt:intestazionePPT><codIpaEnte>c_a000</codIpaEnte></ppt:intestazionePPT></soapenv:Header>",
                "<soapenv:Body><ente:paaSILImportaDovuto><dovuto>AA==</dovuto></ente:paaSILImportaDovuto></soapenv:Body>",
                "</soapenv:Envelope>"
            )
        );
        assert_eq!(
            request.headers(),
            vec![
                ("Content-Type".to_owned(), "text/xml; charset=utf-8".to_owned()),
                ("SOAPAction".to_owned(), "\"paaSILImportaDovuto\"".to_owned()),
            ]
        );
    }

    #[test]
    fn request_without_header_omits_the_header_element() {
        let request = SoapRequest {
            action: "paaSILChiediPagati",
            namespaces: &[("ente", MYPAY_ENTE)],
            header: None,
            body: "<ente:paaSILChiediPagati><codIpaEnte>c_a000</codIpaEnte></ente:paaSILChiediPagati>".to_owned(),
        };
        let xml = request.to_xml();
        assert!(!xml.contains("Header"));
        let call = parse_envelope(&xml).unwrap();
        assert!(call.is(MYPAY_ENTE, "paaSILChiediPagati"));
        assert_eq!(call.text_of(&["codIpaEnte"]), Some("c_a000"));
    }

    #[test]
    fn returns_the_operation_response_whatever_the_prefix() {
        let reply = r#"<?xml version="1.0" encoding="UTF-8"?>
            <S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">
              <S:Header/>
              <S:Body>
                <ns3:paaSILImportaDovutoRisposta xmlns:ns3="http://www.regione.veneto.it/pagamenti/ente/">
                  <esito>OK</esito>
                  <identificativoUnivocoVersamento>01000000000123468</identificativoUnivocoVersamento>
                </ns3:paaSILImportaDovutoRisposta>
              </S:Body>
            </S:Envelope>"#;
        let response = parse_envelope(reply).unwrap();
        assert!(response.is(MYPAY_ENTE, "paaSILImportaDovutoRisposta"));
        assert_eq!(response.text_of(&["esito"]), Some("OK"));
        assert_eq!(response.text_of(&["identificativoUnivocoVersamento"]), Some("01000000000123468"));
    }

    #[test]
    fn turns_a_fault_into_an_error() {
        let reply = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
              <soap:Body><soap:Fault>
                <faultcode>soap:Server</faultcode>
                <faultstring>PAA_SYSTEM_ERROR &amp; more</faultstring>
                <faultactor>mypay</faultactor>
                <detail><ns2:err xmlns:ns2="urn:x">42</ns2:err></detail>
              </soap:Fault></soap:Body></soap:Envelope>"#;
        let SoapError::Fault(fault) = parse_envelope(reply).unwrap_err() else {
            panic!("expected a fault");
        };
        assert_eq!(fault.code, "soap:Server");
        assert_eq!(fault.string, "PAA_SYSTEM_ERROR & more");
        assert_eq!(fault.actor.as_deref(), Some("mypay"));
        assert_eq!(fault.detail.unwrap().text_of(&["err"]), Some("42"));

        let minimal = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault><faultcode>e:Client</faultcode><faultstring>bad</faultstring></e:Fault></e:Body></e:Envelope>"#;
        let error = parse_envelope(minimal).unwrap_err();
        assert_eq!(error.to_string(), "SOAP fault e:Client: bad");
        let SoapError::Fault(fault) = error else {
            panic!("expected a fault");
        };
        assert_eq!(fault.actor, None);
        assert_eq!(fault.detail, None);
    }

    #[test]
    fn rejects_what_is_not_a_soap_1_1_envelope() {
        let soap12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x/></env:Body></env:Envelope>"#;
        assert!(matches!(parse_envelope(soap12), Err(SoapError::Protocol(_))));
        let no_ns = "<Envelope><Body><x/></Body></Envelope>";
        assert!(matches!(parse_envelope(no_ns), Err(SoapError::Protocol(_))));
        let html = "<html><body>502 Bad Gateway</body></html>";
        assert!(matches!(parse_envelope(html), Err(SoapError::Protocol(_))));
        let no_body = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>"#;
        assert!(matches!(parse_envelope(no_body), Err(SoapError::Protocol(_))));
        let wrong_body_ns =
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><Body><x/></Body></s:Envelope>"#;
        assert!(matches!(parse_envelope(wrong_body_ns), Err(SoapError::Protocol(_))));
        let empty_body =
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body> </s:Body></s:Envelope>"#;
        assert!(matches!(parse_envelope(empty_body), Err(SoapError::Protocol(_))));
        assert!(matches!(parse_envelope("<s:Envelope"), Err(SoapError::Xml(_))));
    }

    #[test]
    fn embedded_documents_round_trip_and_tolerate_line_wrapping() {
        let xml = r#"<Pagati xmlns="http://www.regione.veneto.it/schemas/2012/Pagamenti/Ente/"><x>è</x></Pagati>"#;
        let encoded = encode_embedded(xml);
        assert_eq!(decode_embedded(&encoded).unwrap(), xml);
        let wrapped: String =
            encoded.as_bytes().chunks(10).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n ");
        assert_eq!(decode_embedded(&format!("\n{wrapped}\n")).unwrap(), xml);
        assert_eq!(decode_embedded("PGEvPg").unwrap(), "<a/>");
        assert_eq!(decode_embedded("PGEvPg==").unwrap(), "<a/>");
        assert_eq!(decode_embedded("PGEvPg=").unwrap(), "<a/>");
        assert_eq!(decode_embedded("").unwrap(), "");
    }

    #[test]
    fn embedded_documents_reject_bad_base64_and_non_utf8() {
        assert!(matches!(decode_embedded("P*Ev"), Err(SoapError::Base64(_))));
        assert!(matches!(decode_embedded("PGEvP"), Err(SoapError::Base64(_))));
        assert!(matches!(decode_embedded("/w=="), Err(SoapError::Base64(_))));
    }
}
