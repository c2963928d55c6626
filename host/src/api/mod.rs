//! The HTTP API (axum): application ingest, the payments API, the proxy's configuration API and
//! per-payment endpoints, the citizen's pages and pagoPA Checkout, dead letters, health and
//! metrics. Errors are `application/problem+json` (RFC 9457): a stable `type`
//! (`https://cassa.opencity.dev/problems/<code>`), `title`, `status` and `detail`, plus `error`
//! (the code), `message` (the detail) and `fields` when a request's fields are wrong. They
//! never carry internal details (those go to the log).

pub mod auth;
pub mod checkout;
pub mod citizen;
pub mod config;
pub mod connectors;
pub mod dlq;
pub mod error;
pub mod health;
pub mod openapi;
pub mod pages;
pub mod payments;
pub mod state;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, FieldProblem, PROBLEM_BASE, Problem};
pub use state::{Access, ApiConfig, AppState};

/// A query string, refused as a problem (400) when it does not fit `T`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// A request body as bytes, refused as a problem when it cannot be read (413 when larger than
/// [`MAX_BODY`]).
#[derive(Debug)]
pub struct Body(pub bytes::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match bytes::Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", rejection.body_text()))
            }
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Largest request body accepted, in bytes (CSV imports included).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Lets a request to an operators' endpoint through when no admin token is configured, or when
/// it carries one (`Authorization: Bearer <token>`, compared in constant time); 401 otherwise.
async fn admin_only(
    axum::extract::State(access): axum::extract::State<Access>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tokens = &access.admin_tokens;
    if tokens.is_empty() {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let known = tokens.iter().any(|t| constant_time_eq(t.as_bytes(), given.as_bytes()));
    if known {
        next.run(request).await
    } else {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "an operator's bearer token is required")
                .into_response();
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"cassa-admin\""),
        );
        response
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every route of the API over `state`, `/openapi.json` included.
pub fn router(state: AppState) -> Router {
    let (router, document) = routes(state).split_for_parts();
    let document = openapi::Document(openapi::to_json(&document).into());
    router.layer(axum::Extension(document))
}

/// Every route of the API over `state`, each with its part of the OpenAPI document.
pub fn routes(state: AppState) -> OpenApiRouter {
    let operators = OpenApiRouter::new()
        .routes(routes!(dlq::list))
        .routes(routes!(dlq::show))
        .routes(routes!(dlq::replay))
        .routes(routes!(connectors::list, connectors::push))
        .routes(routes!(connectors::activate))
        .routes(routes!(connectors::rollback))
        .routes(routes!(connectors::activations))
        .routes(routes!(connectors::remove))
        .routes(routes!(connectors::pin, connectors::unpin))
        .route_layer(axum::middleware::from_fn_with_state(state.access.clone(), admin_only));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(operators)
        .routes(routes!(health::healthz))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(payments::ingest_application))
        .routes(routes!(payments::create, payments::list))
        .routes(routes!(payments::bulk))
        .routes(routes!(payments::import))
        .routes(routes!(payments::get_one))
        .routes(routes!(payments::history))
        .routes(routes!(checkout::page_link))
        .routes(routes!(checkout::pay_page))
        .routes(routes!(checkout::post_checkout))
        .routes(routes!(checkout::cart_result))
        .routes(routes!(checkout::cart_return))
        .routes(routes!(config::tenant_schema))
        .routes(routes!(config::service_schema))
        .routes(routes!(config::post_tenant))
        .routes(routes!(config::post_service))
        .routes(routes!(config::get_tenant, config::put_tenant, config::patch_tenant, config::delete_tenant))
        .routes(routes!(config::get_service, config::put_service, config::patch_service, config::delete_service))
        .routes(routes!(citizen::online_payment))
        .routes(routes!(citizen::landing))
        .routes(routes!(citizen::notice))
        .routes(routes!(citizen::receipt))
        .routes(routes!(citizen::update))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Parses a path id as a UUID.
pub fn parse_id(id: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(format!("no payment or configuration `{id}`")))
}
