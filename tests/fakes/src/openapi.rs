//! Requests judged against an intermediary's official OpenAPI document, with
//! [`roas_http_validator`]: the path must be one the document names, the method one it offers,
//! every parameter present and of its declared type, the body what the request body schema
//! says. A fake answers 400 with the violations when a request fails.

use roas_http_validator::{Options, RequestView, Validator};

/// One OpenAPI 3.0 document, ready to judge requests whose paths start with `base_path`.
pub struct Spec {
    validator: Validator,
    base_path: String,
}

/// What the document says about a request it describes.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The matched operation's `operationId`.
    pub operation: String,
    /// Path parameters by name.
    pub path: Vec<(String, String)>,
    /// Everything the request got wrong; empty when it is valid.
    pub violations: Vec<String>,
}

impl Judged {
    /// The path parameter `name`.
    pub fn param(&self, name: &str) -> &str {
        self.path.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }
}

/// Why a request is not one the document describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrouted {
    /// No path of the document matches.
    NotFound(String),
    /// The path exists without this method.
    MethodNotAllowed(String),
}

impl Spec {
    /// Reads an OpenAPI 3.0 document (JSON) whose operations are served under `base_path`.
    ///
    /// One adaptation, made in memory: Java's `\h` (horizontal white space), which some pagoPA
    /// path patterns use and Rust's regex lacks, is read as `[ \t]`. The file itself stays a
    /// byte-for-byte copy of the official one.
    pub fn from_json(text: &str, base_path: &str) -> anyhow::Result<Self> {
        Self::from_value(serde_json::from_str(text)?, base_path)
    }

    /// Like [`Spec::from_json`] for a document already read (from YAML, say).
    pub fn from_value(mut document: serde_json::Value, base_path: &str) -> anyhow::Result<Self> {
        rewrite_patterns(&mut document);
        let spec: roas::v3_0::spec::Spec = serde_json::from_value(document)?;
        let options = Options::new().base_path(base_path).reject_undescribed_query_parameters();
        Ok(Self { validator: Validator::from_v3_0(spec, options), base_path: base_path.to_owned() })
    }

    /// Whether `path` lies under this document's base path.
    pub fn serves(&self, path: &str) -> bool {
        path.strip_prefix(&self.base_path).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Judges one request.
    pub fn judge(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Judged, Unrouted> {
        let mut request = RequestView::new(method.to_owned(), path.to_owned())
            .with_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        if !query.is_empty() {
            request = request.with_query(query.to_owned());
        }
        if !body.is_empty() {
            request = request.with_body(body.to_vec());
        }
        match self.validator.validate(&request) {
            Ok(report) => Ok(Judged {
                operation: report.operation_id.clone().unwrap_or_default(),
                path: report.path_parameters.clone(),
                violations: report.violations().map(ToString::to_string).collect(),
            }),
            Err(error @ roas_http_validator::RoutingError::MethodNotAllowed { .. }) => {
                Err(Unrouted::MethodNotAllowed(error.to_string()))
            }
            Err(error) => Err(Unrouted::NotFound(error.to_string())),
        }
    }
}

/// Reads Java's `\h` in every `pattern` as `[ \t]` (inside a class, as ` \t`).
fn rewrite_patterns(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    serde_json::Value::String(pattern) if key == "pattern" && pattern.contains(r"\h") => {
                        *pattern = pattern.replace(r"\h", r" \t");
                    }
                    other => rewrite_patterns(other),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(rewrite_patterns),
        _ => {}
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn gpd() -> Spec {
        Spec::from_json(crate::gpd::GPD_SPEC, "/gpd/debt-positions-service/v1").unwrap()
    }

    #[test]
    fn a_request_the_document_describes_is_routed_to_its_operation() {
        let judged = gpd()
            .judge("GET", "/gpd/debt-positions-service/v1/organizations/77777777777/debtpositions/IUPD-1", "", &[], &[])
            .unwrap();
        assert_eq!(judged.operation, "getOrganizationDebtPositionByIUPD");
        assert_eq!(judged.param("iupd"), "IUPD-1");
        assert!(judged.violations.is_empty(), "{:?}", judged.violations);
    }

    #[test]
    fn a_body_missing_required_fields_is_a_violation_per_field() {
        let judged = gpd()
            .judge(
                "POST",
                "/gpd/debt-positions-service/v1/organizations/77777777777/debtpositions",
                "toPublish=true",
                &[("content-type".into(), "application/json".into())],
                br#"{"iupd": 3, "type": "X"}"#,
            )
            .unwrap();
        let all = judged.violations.join("\n");
        for needle in ["/companyName", "/fiscalCode", "/fullName", "/switchToExpired", "/iupd", "/type"] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
    }

    #[test]
    fn an_undescribed_query_parameter_or_path_is_refused() {
        let spec = gpd();
        let judged = spec
            .judge(
                "GET",
                "/gpd/debt-positions-service/v1/organizations/77777777777/debtpositions/X",
                "topublish=true",
                &[],
                &[],
            )
            .unwrap();
        assert!(!judged.violations.is_empty());
        assert!(matches!(
            spec.judge("GET", "/gpd/debt-positions-service/v1/nowhere", "", &[], &[]),
            Err(Unrouted::NotFound(_))
        ));
    }
}
