//! Outbound HTTP on behalf of connectors: the `http` import of the contract.
//!
//! A request goes out only when
//! 1. its host matches a pattern the connector declared in `info().hosts` **and** a pattern the
//!    tenant's configuration allows ([`HostPolicy`]);
//! 2. every address the name resolves to (or the literal address) is public, unless the operator
//!    allows loopback ([`EgressConfig::allow_loopback`]) or all private networks
//!    ([`EgressConfig::allow_private_networks`]) — checked after resolution, inside the
//!    connection pool's resolver, so DNS tricks cannot bypass it;
//! 3. the request body is within the size cap; the response is read up to the cap;
//! 4. it finishes within the time cap. Redirects are not followed: the connector sees them.
//!
//! Secret placeholders `{{secret:<field>}}` in the URL, header values and body are replaced with
//! the secret's value on the way out, and secret values in the reply are replaced back with their
//! placeholder, so a connector never holds a secret. Nothing here logs a secret: URLs are logged
//! as the connector wrote them (with placeholders).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// Operator settings for all outbound connector traffic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Allow loopback, private (RFC 1918, ULA), link-local and other non-public addresses.
    /// Off in production; on for tests whose intermediaries' fakes run on loopback.
    pub allow_private_networks: bool,
    /// Allow loopback addresses (127.0.0.0/8, ::1) only: the embedded sandbox intermediary,
    /// served by this host, without opening the private networks around it.
    pub allow_loopback: bool,
    /// Largest request body a connector may send, in bytes.
    pub max_request_bytes: usize,
    /// Largest response body a connector may receive, in bytes.
    pub max_response_bytes: usize,
    /// Longest a single request may take, whatever the connector asks for, in milliseconds.
    pub max_timeout_ms: u64,
    /// Time allowed to open a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Idle pooled connections kept per intermediary host.
    pub pool_idle_per_host: usize,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_loopback: false,
            max_request_bytes: 4 * 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
            max_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            pool_idle_per_host: 16,
        }
    }
}

/// One allowed host: `*`, `name`, `*.domain`, each optionally with `:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    Suffix(String),
}

impl HostPattern {
    /// Parses a pattern; `None` when it is not one.
    pub fn parse(pattern: &str) -> Option<Self> {
        let pattern = pattern.trim().to_ascii_lowercase();
        if pattern.is_empty() {
            return None;
        }
        let (host, port) = match pattern.rsplit_once(':') {
            // Bracketed IPv6 literals keep their colons.
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h.to_owned(), Some(p.parse::<u16>().ok()?)),
            _ => (pattern.clone(), None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return None;
            }
            HostMatch::Suffix(format!(".{domain}"))
        } else if host.contains('*') || host.contains('/') {
            return None;
        } else {
            HostMatch::Exact(host)
        };
        Some(Self { host, port })
    }

    /// Whether `host:port` matches.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => *h == host,
            HostMatch::Suffix(s) => host.ends_with(s.as_str()),
        };
        host_ok && self.port.is_none_or(|p| p == port)
    }
}

/// The hosts one call may reach: declared by the connector ∩ allowed by the tenant.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    declared: Arc<[HostPattern]>,
    allowed: Vec<HostPattern>,
}

impl HostPolicy {
    /// The policy for a connector's declared patterns and a tenant's allowed ones. Allowed
    /// patterns that do not parse allow nothing.
    pub fn new(declared: Arc<[HostPattern]>, allowed: &[String]) -> Self {
        Self { declared, allowed: allowed.iter().filter_map(|p| HostPattern::parse(p)).collect() }
    }

    /// Like [`HostPolicy::new`] with declared patterns still to parse.
    pub fn parse(declared: &[String], allowed: &[String]) -> Self {
        Self::new(declared.iter().filter_map(|p| HostPattern::parse(p)).collect(), allowed)
    }

    /// `Ok` when `host:port` may be reached, else why not.
    pub fn check(&self, host: &str, port: u16) -> Result<(), String> {
        if !self.declared.iter().any(|p| p.matches(host, port)) {
            return Err(format!("{host}:{port} is not among the hosts the connector declares"));
        }
        if !self.allowed.iter().any(|p| p.matches(host, port)) {
            return Err(format!("{host}:{port} is not among the hosts the tenant's configuration allows"));
        }
        Ok(())
    }
}

/// Whether an address is one connectors may reach without `allow_private_networks`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                // 100.64/10 carrier-grade NAT, 192.0.0/24 protocol assignments, 198.18/15 benchmarking, 240/4 reserved
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

impl EgressConfig {
    /// Whether connectors may reach `ip`.
    pub fn reachable(&self, ip: IpAddr) -> bool {
        self.allow_private_networks || is_public(ip) || (self.allow_loopback && ip.to_canonical().is_loopback())
    }
}

/// A resolver for the connection pool that drops addresses connectors may not reach, so the
/// check happens after resolution and on every new connection.
struct CheckedResolver {
    config: EgressConfig,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let config = self.config.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.iter().copied().filter(|a| config.reachable(a.ip())).collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = if addrs.is_empty() {
                    format!("{host} does not resolve").into()
                } else {
                    format!("{host} resolves only to non-public addresses").into()
                };
                return Err(err);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Marker placed in resolver errors so a refusal after resolution reads as a denial.
const NON_PUBLIC: &str = "non-public addresses";

/// Secrets shorter than this are not redacted from replies (see [`Secrets::redact`]).
pub const MIN_REDACTED_SECRET: usize = 12;

/// Secret values of one call, by field name.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values never reach a log.
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// Secrets from `(field, value)` pairs.
    pub fn new(entries: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(entries.into_iter().collect())
    }

    /// The placeholder a connector sees instead of the secret `field`.
    pub fn placeholder(field: &str) -> String {
        format!("{{{{secret:{field}}}}}")
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces every placeholder in `input`; an unknown secret name is an error.
    pub fn fill(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        const OPEN: &[u8] = b"{{secret:";
        let mut out = Vec::with_capacity(input.len());
        let mut rest = input;
        while let Some(start) = find(rest, OPEN) {
            out.extend_from_slice(&rest[..start]);
            let after = &rest[start + OPEN.len()..];
            let Some(end) = find(after, b"}}") else {
                out.extend_from_slice(&rest[start..]);
                return Ok(out);
            };
            let name = String::from_utf8_lossy(&after[..end]);
            let value = self.0.get(name.as_ref()).ok_or_else(|| format!("unknown secret `{name}`"))?;
            out.extend_from_slice(value.as_bytes());
            rest = &after[end + 2..];
        }
        out.extend_from_slice(rest);
        Ok(out)
    }

    /// Like [`Secrets::fill`], also expanding `{{base64:<text>}}` to the base64 of `<text>` once
    /// its placeholders are filled: how a connector writes `Authorization: Basic …` from secret
    /// credentials it never holds. Header values only.
    pub fn fill_header(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        const OPEN: &[u8] = b"{{base64:";
        let mut out = Vec::with_capacity(input.len());
        let mut rest = input;
        while let Some(start) = find(rest, OPEN) {
            out.extend(self.fill(&rest[..start])?);
            let inner = &rest[start + OPEN.len()..];
            // The block ends at the first `}}` that does not close a secret placeholder.
            let mut i = 0;
            let end = loop {
                if i >= inner.len() {
                    return Err("unclosed {{base64:".to_owned());
                }
                if inner[i..].starts_with(b"{{secret:") {
                    i += find(&inner[i..], b"}}").ok_or("unclosed {{secret:")? + 2;
                } else if inner[i..].starts_with(b"}}") {
                    break i;
                } else {
                    i += 1;
                }
            };
            let text = self.fill(&inner[..end])?;
            out.extend(base64::engine::general_purpose::STANDARD.encode(text).into_bytes());
            rest = &inner[end + 2..];
        }
        out.extend(self.fill(rest)?);
        Ok(out)
    }

    /// Replaces every secret value in `input` with its placeholder.
    pub fn redact(&self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for (name, value) in &self.0 {
            // Short values would turn ordinary text (a path segment, a word) into placeholders
            // and corrupt the reply; real credentials are longer.
            if value.len() < MIN_REDACTED_SECRET {
                continue;
            }
            let placeholder = Self::placeholder(name);
            out = replace_all(&out, value.as_bytes(), placeholder.as_bytes());
        }
        out
    }

    /// Like [`Secrets::redact`] for text.
    pub fn redact_str(&self, input: &str) -> String {
        String::from_utf8_lossy(&self.redact(input.as_bytes())).into_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn replace_all(input: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = find(rest, from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A request as the connector sent it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// Method.
    pub method: String,
    /// URL, possibly with placeholders.
    pub url: String,
    /// Headers, possibly with placeholders in values.
    pub headers: Vec<(String, String)>,
    /// Body, possibly with placeholders.
    pub body: Vec<u8>,
    /// Requested time-out.
    pub timeout_ms: Option<u32>,
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct InboundResponse {
    /// Status code.
    pub status: u16,
    /// Lower-case header names and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Why a request produced no response; mirrors the contract's `http-error`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EgressError {
    /// Refused by policy.
    #[error("denied: {0}")]
    Denied(String),
    /// Malformed request.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No connection.
    #[error("connect: {0}")]
    Connect(String),
    /// Took too long.
    #[error("timed out")]
    Timeout,
    /// The response was over a size cap.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The request was over a size cap, so it was not sent.
    #[error("request too large: {0}")]
    RequestTooLarge(String),
}

/// Longest URL a connector may send, in bytes: intermediaries' URLs are short, and a refused or
/// failed request's URL goes into logs and errors.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Most headers on one request.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of one request's header names and values together.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Why `request` may not be sent whatever its destination: a URL, headers or body over the caps.
pub fn oversized(request: &OutboundRequest, max_body: usize) -> Option<String> {
    let header_bytes: usize = request.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if request.url.len() > MAX_URL_BYTES {
        Some(format!("URL of {} bytes exceeds {MAX_URL_BYTES} bytes", request.url.len()))
    } else if request.headers.len() > MAX_HEADERS {
        Some(format!("{} headers exceed {MAX_HEADERS}", request.headers.len()))
    } else if header_bytes > MAX_HEADER_BYTES {
        Some(format!("headers of {header_bytes} bytes exceed {MAX_HEADER_BYTES} bytes"))
    } else if request.body.len() > max_body {
        Some(format!("request body of {} bytes exceeds {max_body} bytes", request.body.len()))
    } else {
        None
    }
}

/// The shared outbound client: one connection pool for every connector call.
#[derive(Clone)]
pub struct Egress {
    client: reqwest::Client,
    config: Arc<EgressConfig>,
}

impl Egress {
    /// Builds the client.
    pub fn new(config: EgressConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver { config: config.clone() }))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .pool_max_idle_per_host(config.pool_idle_per_host)
            .user_agent(concat!("cassa/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()?;
        Ok(Self { client, config: Arc::new(config) })
    }

    /// The operator settings.
    pub fn config(&self) -> &EgressConfig {
        &self.config
    }

    /// Sends one request under `policy`, filling and redacting `secrets`.
    pub async fn send(
        &self,
        policy: &HostPolicy,
        secrets: &Secrets,
        request: OutboundRequest,
    ) -> Result<InboundResponse, EgressError> {
        if let Some(why) = oversized(&request, self.config.max_request_bytes) {
            return Err(EgressError::RequestTooLarge(why));
        }
        let url = secrets.fill(request.url.as_bytes()).map_err(EgressError::InvalidRequest)?;
        let url = String::from_utf8(url).map_err(|_| EgressError::InvalidRequest("URL is not UTF-8".into()))?;
        let url = url::Url::parse(&url).map_err(|e| EgressError::InvalidRequest(format!("bad URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::Denied(format!("scheme `{}` is not allowed", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::InvalidRequest("credentials in the URL: use headers and secrets".into()));
        }
        let host = url.host_str().ok_or_else(|| EgressError::InvalidRequest("URL has no host".into()))?.to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        policy.check(&host, port).map_err(EgressError::Denied)?;
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && !self.config.reachable(ip)
        {
            return Err(EgressError::Denied(format!("{ip} is not a public address")));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| EgressError::InvalidRequest(format!("bad method `{}`", request.method)))?;
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            let value = secrets.fill_header(value.as_bytes()).map_err(EgressError::InvalidRequest)?;
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| EgressError::InvalidRequest(format!("bad header name `{name}`")))?;
            let value = reqwest::header::HeaderValue::from_bytes(&value)
                .map_err(|_| EgressError::InvalidRequest(format!("bad value for header `{name}`")))?;
            builder = builder.header(name, value);
        }
        let body = secrets.fill(&request.body).map_err(EgressError::InvalidRequest)?;
        let limit = Duration::from_millis(
            request.timeout_ms.map_or(self.config.max_timeout_ms, |ms| u64::from(ms).min(self.config.max_timeout_ms)),
        );
        let max_response = self.config.max_response_bytes;
        let exchange = async move {
            let mut response = builder.body(body).send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect::<Vec<_>>();
            if response.content_length().is_some_and(|len| len > max_response as u64) {
                return Err(EgressError::TooLarge(format!("response larger than {max_response} bytes")));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max_response {
                    return Err(EgressError::TooLarge(format!("response larger than {max_response} bytes")));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, body))
        };
        let (status, headers, body) =
            tokio::time::timeout(limit, exchange).await.map_err(|_| EgressError::Timeout)??;
        let headers = headers.into_iter().map(|(n, v)| (n, secrets.redact_str(&v))).collect();
        Ok(InboundResponse { status, headers, body: secrets.redact(&body) })
    }
}

fn classify(error: reqwest::Error) -> EgressError {
    if error.is_timeout() {
        return EgressError::Timeout;
    }
    // The resolver's refusal travels as a connect error; find it in the chain.
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains(NON_PUBLIC) {
            return EgressError::Denied(text);
        }
        source = e.source();
    }
    if error.is_builder() {
        return EgressError::InvalidRequest(error.to_string());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    EgressError::Connect(text)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_names_suffixes_and_ports() {
        let p = HostPattern::parse("api.platform.pagopa.it").unwrap();
        assert!(p.matches("API.platform.pagopa.it", 443));
        assert!(!p.matches("evil.it", 443));
        let p = HostPattern::parse("*.pagopa.it").unwrap();
        assert!(p.matches("api.uat.pagopa.it", 443));
        assert!(!p.matches("pagopa.it.evil.com", 443));
        let p = HostPattern::parse("127.0.0.1:8080").unwrap();
        assert!(p.matches("127.0.0.1", 8080));
        assert!(!p.matches("127.0.0.1", 8081));
        assert!(HostPattern::parse("*").unwrap().matches("anything", 1));
        assert!(HostPattern::parse("a*b").is_none());
        assert!(HostPattern::parse("host:notaport").is_none());
    }

    #[test]
    fn policy_is_the_intersection_of_declared_and_allowed() {
        let policy = HostPolicy::parse(&["*".into()], &["mypay.regione.veneto.it".into()]);
        assert!(policy.check("mypay.regione.veneto.it", 443).is_ok());
        assert!(policy.check("attacker.example", 443).unwrap_err().contains("tenant"));
        let policy = HostPolicy::parse(&["*.pagopa.it".into()], &["*".into()]);
        assert!(policy.check("attacker.example", 443).unwrap_err().contains("declares"));
    }

    #[test]
    fn loopback_alone_opens_neither_the_private_networks_nor_the_metadata_address() {
        let loopback = EgressConfig { allow_loopback: true, ..EgressConfig::default() };
        for ip in ["127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1", "93.184.216.34"] {
            assert!(loopback.reachable(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.1.2.3", "192.168.1.1", "169.254.169.254", "fd00::1", "0.0.0.0"] {
            assert!(!loopback.reachable(ip.parse().unwrap()), "{ip}");
        }
        assert!(!EgressConfig::default().reachable("127.0.0.1".parse().unwrap()));
        let all = EgressConfig { allow_private_networks: true, ..EgressConfig::default() };
        assert!(all.reachable("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn private_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2a00:1450:4001::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn secrets_are_filled_on_the_way_out_and_redacted_on_the_way_back() {
        let secrets = Secrets::new([("password".to_owned(), "s3cr3t-value".to_owned())]);
        let filled = secrets.fill(b"<pw>{{secret:password}}</pw>").unwrap();
        assert_eq!(filled, b"<pw>s3cr3t-value</pw>");
        assert!(secrets.fill(b"{{secret:other}}").unwrap_err().contains("unknown secret"));
        assert_eq!(secrets.redact(b"echo s3cr3t-value!"), b"echo {{secret:password}}!");
        assert_eq!(format!("{secrets:?}"), "[\"password\"]");
    }

    #[test]
    fn a_header_can_carry_basic_credentials_built_from_a_secret() {
        let secrets = Secrets::new([("password".to_owned(), "s3cr3t}}value".to_owned())]);
        let filled = secrets.fill_header(b"Basic {{base64:cassa:{{secret:password}}}}").unwrap();
        // base64("cassa:s3cr3t}}value")
        assert_eq!(filled, b"Basic Y2Fzc2E6czNjcjN0fX12YWx1ZQ==");
        assert_eq!(secrets.fill_header(b"plain {{secret:password}}").unwrap(), b"plain s3cr3t}}value");
        assert!(secrets.fill_header(b"Basic {{base64:cassa").is_err());
    }

    #[test]
    fn a_request_over_a_size_cap_is_named_and_one_within_passes() {
        let request = |url: usize, headers: usize, value: usize, body: usize| OutboundRequest {
            method: "GET".into(),
            url: format!("https://gpd.example/{}", "a".repeat(url)),
            headers: (0..headers).map(|i| (format!("x-{i}"), "v".repeat(value))).collect(),
            body: vec![0; body],
            timeout_ms: None,
        };
        assert_eq!(oversized(&request(100, 10, 100, 1000), 4096), None);
        let why = oversized(&request(MAX_URL_BYTES, 0, 0, 0), 4096).unwrap();
        assert!(why.starts_with("URL of 8212 bytes"), "{why}");
        assert!(oversized(&request(10, MAX_HEADERS + 1, 1, 0), 4096).unwrap().contains("65 headers"));
        assert!(oversized(&request(10, 2, MAX_HEADER_BYTES, 0), 4096).unwrap().contains("headers of"));
        assert!(oversized(&request(10, 0, 0, 4097), 4096).unwrap().contains("request body of 4097 bytes"));
    }
}
