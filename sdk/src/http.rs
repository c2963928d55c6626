//! A small HTTP client over the host-mediated `http` import.
//!
//! The host applies the egress policy (allowed hosts, no private addresses unless configured,
//! size and time caps) and substitutes secret placeholders such as `{{secret:password}}` in the
//! URL, header values and body; the connector never sees the secret itself.
//!
//! ```ignore
//! let reply = cassa_sdk::http::Request::post(&url)
//!     .header("Ocp-Apim-Subscription-Key", &cassa_sdk::http::secret("subscription_key"))
//!     .json(&body)?
//!     .send()?;
//! let reply = reply.error_for_status()?;
//! ```

use crate::Error;
use crate::bindings::cassa::connector::http as wit;

pub use wit::HttpError;

/// The placeholder the host replaces with the secret configuration field `field` on the way out.
pub fn secret(field: &str) -> String {
    format!("{{{{secret:{field}}}}}")
}

/// Percent-encodes `value` for a URL path segment or query value: every byte but ASCII
/// letters, digits and `-_.~`.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `Authorization` header value for HTTP Basic authentication; `user` and `password` may be
/// secret placeholders ([`secret`]): the host fills them in and base64-encodes the pair on the
/// way out (`{{base64:…}}`, header values only).
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {{{{base64:{user}:{password}}}}}")
}

/// An HTTP request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout_ms: Option<u32>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, url: &str) -> Self {
        Self { method: method.to_owned(), url: url.to_owned(), headers: Vec::new(), body: Vec::new(), timeout_ms: None }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: &str) -> Self {
        Self::new("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(url: &str) -> Self {
        Self::new("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: &str) -> Self {
        Self::new("DELETE", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Protocol(format!("cannot serialise request: {e}")))?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// Limits how long the whole exchange may take; the host caps it further.
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Sends the request through the host and waits for the response.
    ///
    /// Transport failures become [`Error`] values with the usual meaning: refused by policy or
    /// malformed → `rejected`, no connection or time-out → `unavailable`, oversized →
    /// `protocol`.
    pub fn send(self) -> Result<Response, Error> {
        self.send_raw().map_err(transport_error)
    }

    /// Like [`Request::send`] but returns the host's transport error as it is.
    pub fn send_raw(self) -> Result<Response, HttpError> {
        let reply = wit::send(&wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout_ms,
        })?;
        Ok(Response { status: reply.status, headers: reply.headers, body: reply.body })
    }
}

/// Maps a transport failure onto the contract's error values.
pub fn transport_error(error: HttpError) -> Error {
    match error {
        HttpError::Denied(why) => Error::Rejected(format!("request refused by the host's egress policy: {why}")),
        HttpError::InvalidRequest(why) => Error::Rejected(format!("invalid request: {why}")),
        HttpError::Connect(why) => Error::Unavailable(format!("intermediary unreachable: {why}")),
        HttpError::Timeout => Error::Unavailable("intermediary did not answer in time".to_owned()),
        HttpError::TooLarge(why) => Error::Protocol(format!("message too large: {why}")),
    }
}

/// A whole HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|_| Error::Protocol("reply body is not UTF-8".to_owned()))
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Protocol(format!("reply is not the expected JSON: {e}")))
    }

    /// `Ok(self)` for 2xx, else the error value the status means: 404 → `not-found`,
    /// 408/429/5xx → `unavailable`, other 4xx → `rejected`, anything else → `protocol`.
    pub fn error_for_status(self) -> Result<Self, Error> {
        match status_error(self.status, &self.body) {
            None => Ok(self),
            Some(error) => Err(error),
        }
    }
}

/// The error value an HTTP status means, or `None` for success (2xx).
pub fn status_error(status: u16, body: &[u8]) -> Option<Error> {
    let detail = || {
        let text = String::from_utf8_lossy(body);
        let text: String = text.chars().take(300).collect();
        format!("HTTP {status}: {text}")
    };
    match status {
        200..=299 => None,
        404 | 410 => Some(Error::NotFound(detail())),
        408 | 425 | 429 | 500..=599 => Some(Error::Unavailable(detail())),
        400..=499 => Some(Error::Rejected(detail())),
        _ => Some(Error::Protocol(detail())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_placeholder_has_the_host_syntax() {
        assert_eq!(secret("password"), "{{secret:password}}");
    }

    #[test]
    fn statuses_map_to_transient_and_permanent_errors() {
        assert!(status_error(201, b"").is_none());
        assert!(matches!(status_error(404, b"x"), Some(Error::NotFound(_))));
        assert!(matches!(status_error(503, b"x"), Some(Error::Unavailable(_))));
        assert!(matches!(status_error(429, b"x"), Some(Error::Unavailable(_))));
        assert!(matches!(status_error(409, b"x"), Some(Error::Rejected(_))));
        assert!(matches!(status_error(302, b"x"), Some(Error::Protocol(_))));
    }
}
