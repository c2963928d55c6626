//! Who is calling the core-facing APIs (configuration, payments, applications).
//!
//! When `core_jwt_keys` is set, every call to those APIs must carry `Authorization: Bearer`
//! with either the core's JWT, signed with one of the keys and carrying the `tenant_id` it acts
//! for, or an operator's token from `admin_tokens` (every tenant). A call may read and write only
//! its own tenant's configuration and payments: naming another tenant is refused (403), and
//! another tenant's configuration or payment is as good as absent (404). Without keys the APIs
//! are open, as on the embedded default.
//!
//! Keys: `hs256:<shared secret>`, a PEM public key (RSA, EC or Ed25519) as text, or
//! `@/path/to/key.pem`. Tokens must be unexpired (`exp`) and already valid (`nbf`, when given);
//! with `core_jwt_audience` / `core_jwt_issuer` set, their `aud` / `iss` must name them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use super::state::Access;
use super::{ApiError, constant_time_eq};

/// One key the core signs with, and the algorithms it may be used with.
struct CoreKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The keys of the core's JWTs, and the audience and issuer its tokens must name when set.
#[derive(Default)]
pub struct CoreKeys {
    keys: Vec<CoreKey>,
    audience: Option<String>,
    issuer: Option<String>,
}

impl std::fmt::Debug for CoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CoreKeys({} key(s))", self.keys.len())
    }
}

/// What cassa reads from the core's JWT.
#[derive(Debug, Deserialize)]
struct Claims {
    /// The tenant the caller acts for.
    tenant_id: Option<String>,
}

impl CoreKeys {
    /// Parses `core_jwt_keys`; the error names the entry (by position, never its value).
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (n, entry) in entries.iter().enumerate().filter(|(_, e)| !e.trim().is_empty()) {
            let which = n + 1;
            let entry = entry.trim();
            if let Some(secret) = entry.strip_prefix("hs256:") {
                if secret.len() < 32 {
                    return Err(format!("core_jwt_keys: key {which}: an HS256 secret needs at least 32 characters"));
                }
                let key = DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|_| format!("core_jwt_keys: key {which}: not a usable HS256 secret"))?;
                keys.push(CoreKey { key, algorithms: vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] });
                continue;
            }
            let pem = match entry.strip_prefix('@') {
                Some(path) => {
                    std::fs::read(path).map_err(|e| format!("core_jwt_keys: key {which}: cannot read `{path}`: {e}"))?
                }
                None => entry.as_bytes().to_vec(),
            };
            let key = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                let algorithms = vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ];
                CoreKey { key, algorithms }
            } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                CoreKey { key, algorithms: vec![Algorithm::ES256, Algorithm::ES384] }
            } else if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
                CoreKey { key, algorithms: vec![Algorithm::EdDSA] }
            } else {
                return Err(format!(
                    "core_jwt_keys: key {which} is neither `hs256:<secret>` nor a PEM public key (RSA, EC, Ed25519)"
                ));
            };
            keys.push(key);
        }
        Ok(Self { keys, audience: None, issuer: None })
    }

    /// These keys, accepting only tokens whose `aud` includes `audience` and whose `iss` is
    /// `issuer`, for those given.
    pub fn expecting(mut self, audience: Option<String>, issuer: Option<String>) -> Self {
        self.audience = audience.filter(|a| !a.trim().is_empty());
        self.issuer = issuer.filter(|i| !i.trim().is_empty());
        self
    }

    /// Whether no key is configured (the APIs are open).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The tenant a valid, unexpired token acts for.
    fn tenant_of(&self, token: &str) -> Result<Uuid, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "the bearer token is not a JWT")?;
        if !self.keys.iter().any(|k| k.algorithms.contains(&header.alg)) {
            return Err("the token's algorithm is not one of the configured keys'");
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let mut last = "the token's signature is not valid";
        for key in self.keys.iter().filter(|k| k.algorithms.contains(&header.alg)) {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    let tenant = data.claims.tenant_id.ok_or("the token names no tenant_id")?;
                    return Uuid::parse_str(&tenant).map_err(|_| "the token's tenant_id is not a UUID");
                }
                Err(error) => {
                    if matches!(error.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) {
                        last = "the token has expired";
                    }
                }
            }
        }
        Err(last)
    }
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No keys are configured: the APIs are open.
    Anyone,
    /// An operator (an admin token): every tenant.
    Operator,
    /// The core acting for one tenant.
    Tenant(Uuid),
}

impl Caller {
    /// Whether the caller may see and change `tenant`'s configuration and payments.
    pub fn may(&self, tenant: Uuid) -> bool {
        match self {
            Self::Anyone | Self::Operator => true,
            Self::Tenant(own) => *own == tenant,
        }
    }

    /// 403 unless the caller may act for `tenant`.
    pub fn check(&self, tenant: Uuid) -> Result<(), ApiError> {
        if self.may(tenant) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("the token does not allow tenant {tenant}")))
        }
    }

    /// The one tenant the caller is limited to, if any.
    pub fn tenant(&self) -> Option<Uuid> {
        match self {
            Self::Tenant(own) => Some(*own),
            _ => None,
        }
    }
}

/// 401 with the challenge.
fn unauthorized(why: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"cassa\""));
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    Access: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let access = <Access as axum::extract::FromRef<S>>::from_ref(state);
        let keys = &access.core_keys;
        if keys.is_empty() {
            return Ok(Self::Anyone);
        }
        let Some(token) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return Err(unauthorized("the core's bearer token (or an operator's) is required"));
        };
        if access.admin_tokens.iter().any(|t| constant_time_eq(t.as_bytes(), token.as_bytes())) {
            return Ok(Self::Operator);
        }
        match keys.tenant_of(token) {
            Ok(tenant) => Ok(Self::Tenant(tenant)),
            Err(why) => {
                tracing::info!(reason = why, "API call refused");
                Err(unauthorized(why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const SECRET: &str = "a-shared-secret-of-the-core-long-enough";

    fn token(claims: serde_json::Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    }

    #[test]
    fn with_an_audience_and_an_issuer_only_tokens_naming_them_pass() {
        let tenant = Uuid::new_v4();
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let keys = CoreKeys::parse(&[format!("hs256:{SECRET}")])
            .unwrap()
            .expecting(Some("cassa".into()), Some("https://core.example.it".into()));
        let good = serde_json::json!({"tenant_id": tenant.to_string(), "exp": exp, "aud": "cassa", "iss": "https://core.example.it"});
        assert_eq!(keys.tenant_of(&token(good.clone())), Ok(tenant));
        for (field, value) in [("aud", "another-service"), ("iss", "https://evil.example")] {
            let mut bad = good.clone();
            bad[field] = value.into();
            assert!(keys.tenant_of(&token(bad)).is_err(), "{field}");
        }
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("aud");
        assert!(keys.tenant_of(&token(missing)).is_err(), "aud is required once configured");
        let mut early = good;
        early["nbf"] = (exp + 3_600).into();
        assert!(keys.tenant_of(&token(early)).is_err(), "not valid yet");
    }

    #[test]
    fn without_them_a_token_needs_its_tenant_and_expiry_only() {
        let tenant = Uuid::new_v4();
        let keys = CoreKeys::parse(&[format!("hs256:{SECRET}")]).unwrap();
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let claims = serde_json::json!({"tenant_id": tenant.to_string(), "exp": exp, "aud": "whatever"});
        assert_eq!(keys.tenant_of(&token(claims)), Ok(tenant));
        assert!(CoreKeys::parse(&["hs256:short".into()]).is_err(), "a short secret is refused");
        assert!(CoreKeys::parse(&["not a key".into()]).is_err());
    }
}
