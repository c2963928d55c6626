//! The OpenAPI 3.1 document of the HTTP API, served at `/openapi.json`. It is assembled from
//! the routes themselves (each handler carries its `#[utoipa::path]`, and [`super::router`]
//! registers handlers through `utoipa_axum::routes!`), and bodies are the types the handlers
//! serialize, so the document cannot drift from what is served. The sandbox intermediary under
//! `/sandbox` is not part of it: it plays an intermediary, it is not cassa's API.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::Problem;

/// The document's fixed parts; paths and schemas come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cassa",
        description = "The payment cycle of a municipal e-services platform: payments, the proxy's \
configuration API, the citizen's pages and pagoPA Checkout, dead letters, health and metrics. \
Errors are `application/problem+json` (RFC 9457) with a stable `type`.",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later"),
    ),
    tags(
        (name = "payments", description = "Payments: the core's events and the payments API"),
        (name = "configuration", description = "The proxy's tenant and service configuration (DOMAIN.md)"),
        (name = "citizen", description = "What the citizen opens: payment pages, notices, receipts, returns"),
        (name = "checkout", description = "pagoPA Checkout carts"),
        (name = "connectors", description = "The connector registry: upload, activate, roll back (operators)"),
        (name = "operations", description = "Health, metrics, dead letters and this document"),
    ),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// Name of the operators' bearer scheme.
pub const ADMIN: &str = "admin_token";

/// Name of the core's JWT scheme.
pub const CORE_JWT: &str = "core_jwt";

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An operator's token from `admin_tokens`; required when any is configured"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            CORE_JWT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The core's JWT carrying the `tenant_id` it acts for, signed with a key of `core_jwt_keys`; \
required when any is configured (an admin token also passes, for every tenant)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as served.
pub fn to_json(document: &utoipa::openapi::OpenApi) -> String {
    document.to_pretty_json().unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI document does not serialize");
        "{}".to_owned()
    })
}

/// The document as served, rendered once.
#[derive(Debug, Clone)]
pub struct Document(pub std::sync::Arc<str>);

/// `GET /openapi.json`: this document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object)))]
pub async fn openapi_json(axum::Extension(document): axum::Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document.0.to_string()).into_response()
}

/// Bytes (a document, a component), in the document.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// Declares the documented error responses: an enum per group, a variant per status with its
/// description, each answered as `$content` with a `$body`.
macro_rules! error_responses {
    ($($(#[$meta:meta])* $name:ident($body:ty, $content:tt) { $($variant:ident = $status:tt: $description:tt),+ $(,)? })*) => {
        $(
            $(#[$meta])*
            #[derive(IntoResponses)]
            pub enum $name {
                $(
                    #[doc = $description]
                    #[response(status = $status, description = $description, content_type = $content)]
                    $variant($body),
                )+
            }
        )*
    };
}

error_responses! {
    /// 400: the request cannot be read (not JSON, wrong query parameter …).
    BadRequest(Problem, "application/problem+json") { BadRequest = 400: "The request cannot be read" }
    /// 404: no such payment, configuration, cart or dead letter.
    NotFound(Problem, "application/problem+json") { NotFound = 404: "No such resource" }
    /// 422: the request reads but is not valid; `fields` says where.
    Invalid(Problem, "application/problem+json") { Invalid = 422: "Not valid; `fields` names each problem" }
    /// 409: the payment is not in a state for this.
    Conflict(Problem, "application/problem+json") { Conflict = 409: "Not possible in the current state" }
    /// 401: no valid token (an admin token, or the core's JWT where the core's APIs accept one).
    Unauthorized(Problem, "application/problem+json") { Unauthorized = 401: "An operator's bearer token is required" }
    /// 403: the core's token does not allow the tenant the request names.
    Forbidden(Problem, "application/problem+json") {
        Forbidden = 403: "The token does not allow the tenant the request names"
    }
    /// 413: the body is larger than the API accepts.
    TooLarge(Problem, "application/problem+json") { TooLarge = 413: "The body is larger than 16 MiB" }
    /// 502/503: the intermediary refused or could not be reached.
    Upstream(Problem, "application/problem+json") {
        Refused = 502: "The intermediary refused the request",
        Unavailable = 503: "The intermediary is not reachable now; retry later",
    }
    /// 500: a fault of this host (details are in its log, never in the answer).
    Internal(Problem, "application/problem+json") { Internal = 500: "A fault of this host; see its log" }
    /// The pages' failures: each an error page in the citizen's language.
    PageErrors(String, "text/html") {
        NotFound = 404: "No such payment or cart, or the link is not valid",
        Conflict = 409: "A payment cannot be paid now",
        Invalid = 422: "A cart of the wrong shape, or data pagoPA cannot take",
        Refused = 502: "pagoPA refused the cart",
        Unavailable = 503: "pagoPA Checkout is not reachable or not configured",
        Internal = 500: "A fault of this host; see its log",
    }
}
