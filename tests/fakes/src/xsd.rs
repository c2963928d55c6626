//! XML documents judged against an intermediary's official XSD with `xmllint --schema`
//! (Debian's libxml2-utils; `.ci/run` installs it). Where `xmllint` is missing, [`Xsd::validate`]
//! answers `None` and callers fall back to their own structural checks — tests that need the
//! real validator say so, and fail in CI.
//!
//! The schemas are written once per process to a temporary directory, adapted where libxml2
//! cannot read the official files as they are (see `tests/specs/README.md`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use cassa_sdk::xml::{Element, XmlWriter};

/// `tests/specs/mypay/pa-per-ente.wsdl`.
pub const MYPAY_WSDL: &str = include_str!("../../specs/mypay/pa-per-ente.wsdl");
/// `tests/specs/mypay/PagInf_Dovuti_Pagati_6_2_0.xsd`.
pub const MYPAY_XSD: &str = include_str!("../../specs/mypay/PagInf_Dovuti_Pagati_6_2_0.xsd");

/// MyPay's namespaces.
pub mod ns {
    /// SOAP body wrappers (`paaSIL…` and `…Risposta`); their children are unqualified.
    pub const ENTE: &str = "http://www.regione.veneto.it/pagamenti/ente/";
    /// The SOAP header `intestazionePPT`.
    pub const PPTHEAD: &str = "http://www.regione.veneto.it/pagamenti/ente/ppthead";
    /// The base64-embedded documents (`Versamento`, `PagatiConRicevuta`, …), qualified.
    pub const DOCUMENTS: &str = "http://www.regione.veneto.it/schemas/2012/Pagamenti/Ente/";
}

/// IRIS's files: the four WSDLs (their inline schemas are written out) and the XSDs they import.
const IRIS_FILES: [(&str, &str); 10] = [
    ("ComunicazionePosizioniDebitorie.wsdl", include_str!("../../specs/iris/ComunicazionePosizioniDebitorie.wsdl")),
    ("InvioNotificaPagamento.wsdl", include_str!("../../specs/iris/InvioNotificaPagamento.wsdl")),
    ("GenerazioneIUV.wsdl", include_str!("../../specs/iris/GenerazioneIUV.wsdl")),
    ("GenerazioneAvvisi.wsdl", include_str!("../../specs/iris/GenerazioneAvvisi.wsdl")),
    ("IdP.AllineamentoPendenze.xsd", include_str!("../../specs/iris/IdP.AllineamentoPendenze.xsd")),
    ("IdP.Esito.xsd", include_str!("../../specs/iris/IdP.Esito.xsd")),
    ("IdP.Esito.Verifica.xsd", include_str!("../../specs/iris/IdP.Esito.Verifica.xsd")),
    ("IdP.Header.xsd", include_str!("../../specs/iris/IdP.Header.xsd")),
    ("IdP.Include.xsd", include_str!("../../specs/iris/IdP.Include.xsd")),
    ("IdP.InformativaPagamento.xsd", include_str!("../../specs/iris/IdP.InformativaPagamento.xsd")),
];

/// The first inline schema of `wsdl` as a stand-alone `.xsd`: with every namespace declaration
/// of `wsdl:definitions` it does not make itself.
pub fn standalone_schema(wsdl: &str) -> Option<String> {
    let root_start = wsdl.find("<wsdl:definitions").or_else(|| wsdl.find("<definitions"))?;
    let root = &wsdl[root_start..root_start + wsdl[root_start..].find('>')?];
    let start = wsdl.find("<xsd:schema")?;
    let end = start + wsdl[start..].find("</xsd:schema>")? + "</xsd:schema>".len();
    let schema = &wsdl[start..end];
    let open_end = schema.find('>')?;
    let open = &schema[..open_end];
    let mut declarations = String::new();
    for token in root.split_whitespace() {
        let Some((name, value)) = token.split_once('=') else { continue };
        if (name == "xmlns" || name.starts_with("xmlns:")) && !open.contains(&format!("{name}=")) {
            declarations.push(' ');
            declarations.push_str(name);
            declarations.push('=');
            declarations.push_str(value.trim_end_matches('/'));
        }
    }
    Some(format!("{open}{declarations}{}", &schema[open_end..]))
}

/// The schema files of one intermediary, ready for `xmllint`.
#[derive(Debug)]
pub struct Xsd {
    dir: PathBuf,
}

/// Which MyPay schema a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MypaySchema {
    /// SOAP body elements (`paaSILImportaDovuto`, …Risposta).
    Body,
    /// The SOAP header (`intestazionePPT`).
    Header,
    /// Embedded documents (`Versamento`, `PagatiConRicevuta`).
    Document,
}

/// Serialises an element tree with explicit default-namespace declarations, for `xmllint`.
pub fn serialize(element: &Element) -> String {
    fn write(w: &mut XmlWriter, element: &Element, parent: Option<&str>) {
        let namespace = element.namespace.as_deref();
        let mut attrs: Vec<(&str, &str)> = element.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if namespace != parent {
            attrs.push(("xmlns", namespace.unwrap_or("")));
        }
        w.start(&element.name, &attrs);
        if element.children.is_empty() {
            w.text(&element.text);
        }
        for child in &element.children {
            write(w, child, namespace);
        }
        w.end(&element.name);
    }
    let mut w = XmlWriter::new();
    write(&mut w, element, None);
    w.finish()
}

/// Whether `xmllint` can be run here.
pub fn xmllint_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("xmllint")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The inline `xsd:schema` of `wsdl` whose `targetNamespace` is `namespace`, with the namespace
/// declarations it inherits from `wsdl:definitions` made explicit.
fn inline_schema(wsdl: &str, namespace: &str) -> Option<String> {
    let mut rest = wsdl;
    while let Some(start) = rest.find("<xsd:schema") {
        let end = rest[start..].find("</xsd:schema>")? + start + "</xsd:schema>".len();
        let schema = &rest[start..end];
        let open_end = schema.find('>')?;
        if schema[..open_end].contains(&format!("targetNamespace=\"{namespace}\"")) {
            let declarations = format!(
                " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:ppt=\"{}\" xmlns:ppthead=\"{}\" xmlns:pay_i=\"{}\"",
                ns::ENTE,
                ns::PPTHEAD,
                ns::DOCUMENTS
            );
            return Some(format!("{}{declarations}{}", &schema[..open_end], &schema[open_end..]));
        }
        rest = &rest[end..];
    }
    None
}

impl Xsd {
    /// MyPay's schemas: `documents.xsd` (the XSD, `\/` read as `/`), `ppthead.xsd` and
    /// `ppt.xsd` (the WSDL's inline schemas).
    pub fn mypay() -> Result<&'static Xsd, String> {
        static MYPAY: OnceLock<Result<Xsd, String>> = OnceLock::new();
        MYPAY
            .get_or_init(|| {
                let dir = std::env::temp_dir().join(format!("cassa-xsd-mypay-{}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let documents = MYPAY_XSD.replace(r"\/", "/");
                let header = inline_schema(MYPAY_WSDL, ns::PPTHEAD).ok_or("no ppthead schema in the WSDL")?;
                let body = inline_schema(MYPAY_WSDL, ns::ENTE)
                    .ok_or("no body schema in the WSDL")?
                    .replace("schemaLocation=\"PagInf_Dovuti_Pagati_6_2_0.xsd\"", "schemaLocation=\"documents.xsd\"");
                let import = format!("<xsd:import namespace=\"{}\" schemaLocation=\"ppthead.xsd\" />", ns::PPTHEAD);
                let body = body.replacen("<xsd:import ", &format!("{import}\n<xsd:import "), 1);
                for (name, text) in [("documents.xsd", documents), ("ppthead.xsd", header), ("ppt.xsd", body)] {
                    std::fs::write(dir.join(name), text).map_err(|e| e.to_string())?;
                }
                Ok(Xsd { dir })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// IRIS's schemas: the XSDs as they are, and each WSDL's inline schema as `<wsdl name>.xsd`
    /// (e.g. `ComunicazionePosizioniDebitorie.xsd`), next to them so their imports resolve.
    pub fn iris() -> Result<&'static Xsd, String> {
        static IRIS: OnceLock<Result<Xsd, String>> = OnceLock::new();
        IRIS.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("cassa-xsd-iris-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            for (name, text) in IRIS_FILES {
                let (file, content) = match name.strip_suffix(".wsdl") {
                    Some(stem) => {
                        (format!("{stem}.xsd"), standalone_schema(text).ok_or(format!("no inline schema in {name}"))?)
                    }
                    None => (name.to_owned(), text.to_owned()),
                };
                std::fs::write(dir.join(file), content).map_err(|e| e.to_string())?;
            }
            Ok(Xsd { dir })
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Validates `xml` against the schema file `file` of this set (`None` without `xmllint`).
    pub fn validate_file(&self, file: &str, xml: &str) -> Option<Result<(), String>> {
        xmllint_available().then(|| run_xmllint(&self.dir.join(file), xml))
    }

    /// The file of `schema`.
    pub fn path(&self, schema: MypaySchema) -> PathBuf {
        self.dir.join(match schema {
            MypaySchema::Body => "ppt.xsd",
            MypaySchema::Header => "ppthead.xsd",
            MypaySchema::Document => "documents.xsd",
        })
    }

    /// Validates `xml` (one element, with its namespace declarations) against `schema`:
    /// `None` when `xmllint` is not installed, else what it found wrong.
    pub fn validate(&self, schema: MypaySchema, xml: &str) -> Option<Result<(), String>> {
        xmllint_available().then(|| run_xmllint(&self.path(schema), xml))
    }
}

fn run_xmllint(schema: &Path, xml: &str) -> Result<(), String> {
    let mut child = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run xmllint: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(xml.as_bytes()).map_err(|e| format!("cannot feed xmllint: {e}"))?;
    }
    let output = child.wait_with_output().map_err(|e| format!("xmllint failed: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let errors = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = errors.lines().filter(|l| !l.ends_with("fails to validate")).collect();
        Err(lines.join("; ").replace("-:", "line "))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn the_wsdl_inline_schemas_are_extracted_with_their_namespaces() {
        let header = inline_schema(MYPAY_WSDL, ns::PPTHEAD).unwrap();
        assert!(header.contains("intestazionePPT") && header.contains("xmlns:xsd="));
        let body = inline_schema(MYPAY_WSDL, ns::ENTE).unwrap();
        assert!(body.contains("paaSILImportaDovuto") && body.contains("xmlns:ppthead="));
    }

    #[test]
    fn xmllint_judges_a_versamento_against_the_official_xsd() {
        if !xmllint_available() {
            assert!(std::env::var_os("CI").is_none(), "xmllint is missing in CI");
            eprintln!("SKIPPED: xmllint is not installed (apt-get install libxml2-utils)");
            return;
        }
        let xsd = Xsd::mypay().unwrap();
        let good = format!(
            "<Versamento xmlns=\"{}\"><versioneOggetto>6.0</versioneOggetto><datiVersamento>\
             <identificativoUnivocoDovuto>abc</identificativoUnivocoDovuto>\
             <importoSingoloVersamento>10.00</importoSingoloVersamento>\
             <identificativoTipoDovuto>DIRITTI</identificativoTipoDovuto><causaleVersamento>x</causaleVersamento>\
             <datiSpecificiRiscossione>9/0101108TS/</datiSpecificiRiscossione></datiVersamento><azione>I</azione></Versamento>",
            ns::DOCUMENTS
        );
        xsd.validate(MypaySchema::Document, &good).unwrap().unwrap();
        let bad = good.replace("10.00", "10.0");
        let why = xsd.validate(MypaySchema::Document, &bad).unwrap().unwrap_err();
        assert!(why.contains("importoSingoloVersamento"), "{why}");
    }
}
