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
//! `@/path/to/key.pem`. Tokens must be unexpired (`exp`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, constant_time_eq};
use crate::pipeline::Pipeline;

/// One key the core signs with, and the algorithms it may be used with.
struct CoreKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The keys of the core's JWTs.
#[derive(Default)]
pub struct CoreKeys(Vec<CoreKey>);

impl std::fmt::Debug for CoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CoreKeys({} key(s))", self.0.len())
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
        Ok(Self(keys))
    }

    /// Whether no key is configured (the APIs are open).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tenant a valid, unexpired token acts for.
    fn tenant_of(&self, token: &str) -> Result<Uuid, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "the bearer token is not a JWT")?;
        if !self.0.iter().any(|k| k.algorithms.contains(&header.alg)) {
            return Err("the token's algorithm is not one of the configured keys'");
        }
        let mut validation = Validation::new(header.alg);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        let mut last = "the token's signature is not valid";
        for key in self.0.iter().filter(|k| k.algorithms.contains(&header.alg)) {
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

impl FromRequestParts<Pipeline> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, p: &Pipeline) -> Result<Self, Response> {
        let keys = p.core_keys();
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
        if p.config.admin_tokens.iter().any(|t| constant_time_eq(t.as_bytes(), token.as_bytes())) {
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
