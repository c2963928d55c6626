//! The API's one error type: [`ApiError`], answered as RFC 9457 problem details
//! (`application/problem+json`) to API clients, or as an error page in the citizen's language
//! where a citizen's browser asked ([`ApiError::page`]). It never carries internal details:
//! those go to the log.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::domain::cart::Locale;

/// A field-level problem in a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// An API error: a status code, a short machine code, a message for API clients and, where a
/// citizen may read it, what the page says in Italian and English.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldProblem>,
    /// What an error page says: Italian, English.
    citizen: Option<(String, String)>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: Vec::new(), citizen: None }
    }

    /// This error with what its page tells a citizen, in Italian and in English.
    pub fn telling(mut self, it: impl Into<String>, en: impl Into<String>) -> Self {
        self.citizen = Some((it.into(), en.into()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what).telling(
            "Il pagamento non esiste oppure il link non è valido.",
            "The payment does not exist, or the link is not valid.",
        )
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422 with field problems.
    pub fn invalid(message: impl Into<String>, fields: Vec<FieldProblem>) -> Self {
        Self { fields, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message) }
    }

    /// 500, logging the cause.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log").telling(
            "Si è verificato un errore interno. Riprova più tardi.",
            "Something went wrong on our side. Try again later.",
        )
    }

    /// 502, for an intermediary failure, with the connector's error (it names no secret).
    pub fn upstream(error: &crate::runtime::CallError) -> Self {
        tracing::warn!(%error, blame = %error.blame(), "intermediary call failed");
        let status = if error.is_transient() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
        Self::new(
            status,
            "intermediary",
            format!("the payment intermediary could not serve the request ({})", error.kind()),
        )
    }
}

impl ApiError {
    /// As an error page in `locale`, with a way `back` when there is one: for citizens.
    pub fn page(self, locale: Locale, back: Option<&str>) -> Response {
        let (it, en) = self.citizen.unwrap_or_else(|| {
            ("Non è stato possibile procedere con la richiesta.".into(), "The request could not be handled.".into())
        });
        let text = if locale == Locale::It { it } else { en };
        (self.status, Html(super::pages::error_page(locale, &text, back))).into_response()
    }
}

/// Where the problem types are named.
pub const PROBLEM_BASE: &str = "https://cassa.opencity.dev/problems/";

/// An error as the API answers it: RFC 9457 problem details, plus `error`, `message` and
/// `fields` under the names cassa's clients read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://cassa.opencity.dev/problems/<error>`: stable, one per kind of error.
    #[serde(rename = "type")]
    #[schema(example = "https://cassa.opencity.dev/problems/not_found")]
    pub kind: String,
    /// The HTTP status' reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// The kind of error, the last segment of `type` (`not_found`, `invalid`, …).
    pub error: String,
    /// Same as `detail`.
    pub message: String,
    /// Each wrong field of the request, when the request's fields are wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub fields: Vec<FieldProblem>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let problem = Problem {
            kind: format!("{PROBLEM_BASE}{}", self.code),
            title: title.to_owned(),
            status: self.status.as_u16(),
            detail: self.message.clone(),
            error: self.code.to_owned(),
            message: self.message,
            fields: self.fields,
        };
        let body = serde_json::to_string(&problem).unwrap_or_default();
        let content_type = [(axum::http::header::CONTENT_TYPE, "application/problem+json")];
        (self.status, content_type, body).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::pipeline::PipelineError> for ApiError {
    fn from(error: crate::pipeline::PipelineError) -> Self {
        Self::internal(error)
    }
}
