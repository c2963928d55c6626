//! A small owned XML element tree for reading intermediaries' replies, and a string writer for
//! building requests.
//!
//! [`Element::parse`] reads a whole document (already bounded in size by the caller) into a tree
//! of [`Element`]s with namespaces resolved, entities and character references unescaped, and
//! CDATA merged into text. Document type declarations are refused: a DTD can declare entities
//! (billion laughs, external entities) and no intermediary needs one. Nesting is capped at
//! [`MAX_DEPTH`].
//!
//! [`XmlWriter`] appends escaped markup to a `String`; element names are written as given and
//! must be valid XML names chosen by the caller, text and attribute values are escaped.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Deepest element nesting [`Element::parse`] accepts (the root is depth 1).
pub const MAX_DEPTH: usize = 64;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The document is not well-formed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Malformed {
        /// Byte offset in the input where the problem was detected.
        position: u64,
        /// What the parser found wrong.
        message: String,
    },
    /// The document contains a document type declaration, which is refused because it can
    /// declare entities.
    #[error("XML document type declarations (DOCTYPE/ENTITY) are not accepted")]
    Doctype,
    /// An entity reference other than the five predefined ones (`&amp;` …) or a character
    /// reference.
    #[error("undeclared XML entity reference &{0};")]
    UnknownEntity(String),
    /// An element or attribute uses a namespace prefix that is not declared.
    #[error("undeclared XML namespace prefix {0:?}")]
    UnknownPrefix(String),
    /// Elements are nested deeper than [`MAX_DEPTH`].
    #[error("XML elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// The document has no root element.
    #[error("XML document has no root element")]
    NoRoot,
    /// The document ends before the root element is closed.
    #[error("XML document ends inside element <{0}>")]
    Unclosed(String),
    /// Elements or text after the root element.
    #[error("XML content after the root element")]
    TrailingContent,
}

/// An element of a parsed document, owning its attributes, text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name, without prefix.
    pub name: String,
    /// Resolved namespace URI, `None` when the element is in no namespace.
    pub namespace: Option<String>,
    /// Attributes as (local name, unescaped value), namespace declarations excluded.
    pub attributes: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Unescaped text and CDATA directly inside this element, concatenated, untrimmed.
    pub text: String,
}

impl Element {
    /// Parses a whole document and returns its root element.
    pub fn parse(xml: &str) -> Result<Element, XmlError> {
        let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
        let mut reader = NsReader::from_str(xml);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let event = reader.read_event().map_err(|e| malformed(&reader, &e))?;
            match event {
                Event::Start(start) => {
                    let element = open_element(&reader, &start, root.is_some(), stack.len())?;
                    stack.push(element);
                }
                Event::Empty(start) => {
                    let element = open_element(&reader, &start, root.is_some(), stack.len())?;
                    close_element(&mut stack, &mut root, element);
                }
                Event::End(_) => match stack.pop() {
                    Some(element) => close_element(&mut stack, &mut root, element),
                    None => return Err(malformed_msg(&reader, "unmatched end tag")),
                },
                Event::Text(text) => {
                    let text = text.xml10_content().map_err(|e| malformed(&reader, &e))?;
                    append_text(&mut stack, root.is_some(), &text)?;
                }
                Event::CData(cdata) => {
                    let text = cdata.xml10_content().map_err(|e| malformed(&reader, &e))?;
                    append_text(&mut stack, root.is_some(), &text)?;
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = reference.decode().map_err(|e| malformed(&reader, &e))?;
                            resolve_predefined_entity(&name)
                                .ok_or_else(|| XmlError::UnknownEntity(name.into_owned()))?
                                .to_owned()
                        }
                        Err(e) => return Err(malformed(&reader, &e)),
                    };
                    append_text(&mut stack, root.is_some(), &resolved)?;
                }
                Event::DocType(_) => return Err(XmlError::Doctype),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(open) = stack.last() {
            return Err(XmlError::Unclosed(open.name.clone()));
        }
        root.ok_or(XmlError::NoRoot)
    }

    /// True if this element has local name `local` in namespace `namespace`.
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.name == local && self.namespace.as_deref() == Some(namespace)
    }

    /// The first child element with local name `local`, in any namespace.
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == local)
    }

    /// The child elements with local name `local`, in any namespace, in document order.
    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == local)
    }

    /// Descends through first children with the given local names; an empty path is `self`.
    pub fn path(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |element, local| element.child(local))
    }

    /// The first descendant (depth-first, document order, `self` excluded) with local name
    /// `local`.
    pub fn find(&self, local: &str) -> Option<&Element> {
        let mut pending: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(element) = pending.pop() {
            if element.name == local {
                return Some(element);
            }
            pending.extend(element.children.iter().rev());
        }
        None
    }

    /// The trimmed text of the element at `path` (see [`Element::path`]).
    pub fn text_of(&self, path: &[&str]) -> Option<&str> {
        self.path(path).map(|element| element.text.trim())
    }

    /// The unescaped value of the attribute with local name `local`.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attributes.iter().find(|(name, _)| name == local).map(|(_, value)| value.as_str())
    }
}

fn malformed(reader: &NsReader<&[u8]>, error: &dyn std::fmt::Display) -> XmlError {
    XmlError::Malformed { position: reader.error_position().max(reader.buffer_position()), message: error.to_string() }
}

fn malformed_msg(reader: &NsReader<&[u8]>, message: &str) -> XmlError {
    XmlError::Malformed { position: reader.buffer_position(), message: message.to_owned() }
}

fn open_element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    after_root: bool,
    depth: usize,
) -> Result<Element, XmlError> {
    if after_root {
        return Err(XmlError::TrailingContent);
    }
    if depth >= MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    let decode = |bytes: &[u8]| std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| malformed(reader, &e));
    let (resolved, local) = reader.resolve_element(start.name());
    let namespace = match resolved {
        ResolveResult::Bound(ns) => Some(decode(ns.as_ref())?),
        ResolveResult::Unbound => None,
        ResolveResult::Unknown(prefix) => {
            return Err(XmlError::UnknownPrefix(String::from_utf8_lossy(&prefix).into_owned()));
        }
    };
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| malformed(reader, &e))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attribute.unescape_value().map_err(|e| malformed(reader, &e))?;
        attributes.push((decode(attribute.key.local_name().as_ref())?, value.into_owned()));
    }
    Ok(Element { name: decode(local.as_ref())?, namespace, attributes, children: Vec::new(), text: String::new() })
}

fn close_element(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(stack: &mut [Element], after_root: bool, text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(element) => element.text.push_str(text),
        None if text.trim().is_empty() => {}
        None if after_root => return Err(XmlError::TrailingContent),
        None => return Err(XmlError::NoRoot),
    }
    Ok(())
}

/// Builds an XML document in a `String`, escaping text and attribute values.
///
/// Element and attribute names are written verbatim: they come from the connector's code, not
/// from data, and must be valid XML names (with a prefix where one is wanted, e.g. `ente:dovuto`).
#[derive(Debug, Clone, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the XML declaration `<?xml version="1.0" encoding="UTF-8"?>`.
    pub fn declaration(&mut self) -> &mut Self {
        self.out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        self
    }

    /// Writes a start tag with attributes given as (name, unescaped value).
    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            push_escaped(&mut self.out, value, true);
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    /// Writes an end tag.
    pub fn end(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Writes `<name>text</name>` with `text` escaped.
    pub fn text_element(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name, &[]).text(text).end(name)
    }

    /// Writes `<name>text</name>` if `text` is `Some`, nothing otherwise.
    pub fn optional_element(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text_element(name, text),
            None => self,
        }
    }

    /// Writes escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        push_escaped(&mut self.out, text, false);
        self
    }

    /// Writes already serialised XML verbatim (e.g. the output of another writer).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    /// Returns the document written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Appends `text` escaped: `<`, `>` and `&` always, quotes too inside attribute values. Finds
/// the characters with `memchr`, which uses SIMD natively and on wasm32 with simd128, so the
/// common case (nothing to escape) is one scan and one copy.
fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(rest) = bytes.get(start..) {
        let found = if attribute {
            rest.iter().position(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\''))
        } else {
            memchr::memchr3(b'<', b'>', b'&', rest)
        };
        let Some(offset) = found else {
            out.push_str(text.get(start..).unwrap_or_default());
            return;
        };
        let at = start + offset;
        // Every special character is ASCII, so `at` is a character boundary.
        out.push_str(text.get(start..at).unwrap_or_default());
        out.push_str(match bytes.get(at) {
            Some(b'<') => "&lt;",
            Some(b'>') => "&gt;",
            Some(b'&') => "&amp;",
            Some(b'"') => "&quot;",
            _ => "&apos;",
        });
        start = at + 1;
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn resolves_prefixed_namespaces() {
        let root = Element::parse(
            r#"<?xml version="1.0"?>
            <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
              <SOAP-ENV:Body><ns3:risposta xmlns:ns3="urn:ente"><esito>OK</esito></ns3:risposta></SOAP-ENV:Body>
            </SOAP-ENV:Envelope>"#,
        )
        .unwrap();
        assert!(root.is("http://schemas.xmlsoap.org/soap/envelope/", "Envelope"));
        let body = root.child("Body").unwrap();
        assert_eq!(body.namespace.as_deref(), Some("http://schemas.xmlsoap.org/soap/envelope/"));
        let reply = body.child("risposta").unwrap();
        assert_eq!(reply.namespace.as_deref(), Some("urn:ente"));
        let esito = reply.child("esito").unwrap();
        assert_eq!(esito.namespace, None);
        assert_eq!(root.text_of(&["Body", "risposta", "esito"]), Some("OK"));
    }

    #[test]
    fn resolves_default_namespace_and_its_undeclaration() {
        let root = Element::parse(r#"<Pagati xmlns="urn:pagati"><dominio><id>1</id></dominio><x xmlns=""/></Pagati>"#)
            .unwrap();
        assert_eq!(root.namespace.as_deref(), Some("urn:pagati"));
        assert_eq!(root.path(&["dominio", "id"]).unwrap().namespace.as_deref(), Some("urn:pagati"));
        assert_eq!(root.child("x").unwrap().namespace, None);
    }

    #[test]
    fn unescapes_entities_character_references_and_attributes() {
        let root = Element::parse(
            r#"<a k="x &amp; &quot;y&quot;" p:n="v" xmlns:p="urn:p">Tom &amp; Jerry &lt;3 &#233;&#x20AC;</a>"#,
        )
        .unwrap();
        assert_eq!(root.text, "Tom & Jerry <3 é€");
        assert_eq!(root.attr("k"), Some(r#"x & "y""#));
        assert_eq!(root.attr("n"), Some("v"));
        assert_eq!(root.attr("p"), None);
        assert_eq!(root.attributes.len(), 2);
    }

    #[test]
    fn merges_cdata_into_text() {
        let root = Element::parse("<a> one <![CDATA[<b>&amp;</b>]]> two </a>").unwrap();
        assert_eq!(root.text, " one <b>&amp;</b> two ");
        assert!(root.children.is_empty());
        assert_eq!(root.text_of(&[]), Some("one <b>&amp;</b> two"));
    }

    #[test]
    fn navigates_children_paths_and_descendants() {
        let root = Element::parse("<r><a><c>1</c></a><b><c>2</c><d><c>3</c></d></b><b/><!-- c --></r>").unwrap();
        assert_eq!(root.children_named("b").count(), 2);
        assert_eq!(root.find("c").unwrap().text, "1");
        assert_eq!(root.find("d").unwrap().text_of(&["c"]), Some("3"));
        assert_eq!(root.text_of(&["b", "c"]), Some("2"));
        assert!(root.path(&["b", "x"]).is_none());
        assert!(root.find("r").is_none());
        assert!(root.child("c").is_none());
    }

    #[test]
    fn refuses_doctype_and_entity_declarations() {
        let billion_laughs = r#"<?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>
            <lolz>&lol2;</lolz>"#;
        assert_eq!(Element::parse(billion_laughs), Err(XmlError::Doctype));
        assert_eq!(Element::parse(r#"<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>"#), Err(XmlError::Doctype));
    }

    #[test]
    fn refuses_undeclared_entities_and_prefixes() {
        assert_eq!(Element::parse("<a>&nbsp;</a>"), Err(XmlError::UnknownEntity("nbsp".into())));
        assert_eq!(Element::parse("<p:a/>"), Err(XmlError::UnknownPrefix("p".into())));
    }

    #[test]
    fn refuses_malformed_documents() {
        for xml in ["<a><b></a>", "<a></b>", "</a>", "<a attr=1/>", r#"<a x="1" x="2"/>"#, "<a>&amp</a>", "<a"] {
            let error = Element::parse(xml).unwrap_err();
            assert!(matches!(error, XmlError::Malformed { .. } | XmlError::Unclosed(_)), "{xml}: {error:?}");
        }
        assert_eq!(Element::parse("<a><b>"), Err(XmlError::Unclosed("b".into())));
        assert_eq!(Element::parse(""), Err(XmlError::NoRoot));
        assert_eq!(Element::parse("  <!-- x -->  "), Err(XmlError::NoRoot));
        assert_eq!(Element::parse("text"), Err(XmlError::NoRoot));
        assert_eq!(Element::parse("<a/><b/>"), Err(XmlError::TrailingContent));
        assert_eq!(Element::parse("<a/>x"), Err(XmlError::TrailingContent));
        assert!(Element::parse("<a/>\n  ").is_ok());
    }

    #[test]
    fn caps_nesting_depth() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(Element::parse(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(Element::parse(&nested(MAX_DEPTH + 1)), Err(XmlError::TooDeep));
        let empty_too_deep = format!("{}<a/>{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(Element::parse(&empty_too_deep), Err(XmlError::TooDeep));
    }

    #[test]
    fn accepts_a_byte_order_mark() {
        assert_eq!(Element::parse("\u{feff}<a>1</a>").unwrap().text, "1");
    }

    #[test]
    fn writer_escapes_text_and_attributes() {
        let mut writer = XmlWriter::new();
        writer
            .declaration()
            .start("p:root", &[("xmlns:p", "urn:p"), ("q", r#"a<b&c>"d'"#)])
            .text_element("t", r#"<&>"x""#)
            .optional_element("none", None)
            .optional_element("some", Some("1 & 2"))
            .text("tail")
            .raw("<r>&amp;</r>")
            .end("p:root");
        let xml = writer.finish();
        assert_eq!(
            xml,
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<p:root xmlns:p="urn:p" q="a&lt;b&amp;c&gt;&quot;d&apos;">"#,
                r#"<t>&lt;&amp;&gt;"x"</t><some>1 &amp; 2</some>tail<r>&amp;</r></p:root>"#
            )
        );
    }

    #[test]
    fn writer_output_parses_back_to_the_same_values() {
        let text = "Caffè <b>\"quoted\"</b> & 'single' \u{20ac}";
        let mut writer = XmlWriter::new();
        writer.start("doc", &[("xmlns", "urn:d"), ("a", text)]).text_element("v", text).end("doc");
        let root = Element::parse(&writer.finish()).unwrap();
        assert_eq!(root.attr("a"), Some(text));
        assert_eq!(root.child("v").unwrap().text, text);
        assert_eq!(root.child("v").unwrap().namespace.as_deref(), Some("urn:d"));
    }
}
