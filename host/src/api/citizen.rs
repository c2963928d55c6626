//! The per-payment endpoints placed in a payment's `links` (DOMAIN.md §7.2, with the team's
//! choices for what §13 leaves open): `/online-payment` redirects (303) to the intermediary's
//! page and marks the payment started; `/landing` checks the status at once and redirects to the
//! core's page; `/notice` and `/receipt` stream the documents; `/update` is the poller's check.
//! An unknown id is 404; a receipt of an unpaid payment is 409.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::openapi::{Binary, Conflict, Internal, NotFound, Unauthorized, Upstream};
use super::payments::PaymentId;
use super::{ApiError, AppState, Problem, parse_id};
use crate::domain::cart::{Locale, OnlineRoute, online_route};
use crate::domain::payment::{PaymentEvent, PaymentStatus, Timestamp};
use crate::domain::transitions;
use crate::pipeline::change::{Next, update_with_retry};
use crate::pipeline::{Pipeline, poller};
use crate::runtime::{debt_ref, wit};
use crate::store::StoredPayment;
use uuid::Uuid;

async fn payment(p: &Pipeline, id: &str) -> Result<StoredPayment, ApiError> {
    let id = parse_id(id)?;
    p.store.payment(id).await?.ok_or_else(|| ApiError::not_found(format!("no payment {id}")))
}

/// Stores a citizen-driven change of payment `id` and emits it, applied to the newest state
/// when the payment changed meanwhile (each of these changes only records a link's use, or
/// moves `PAYMENT_PENDING` to `PAYMENT_STARTED`).
async fn record(p: &Pipeline, id: Uuid, change: fn(&PaymentEvent, Timestamp) -> PaymentEvent) -> Result<(), ApiError> {
    let decide = |stored: StoredPayment| {
        std::future::ready(Ok(Some(Next::emitted(change(&stored.event, Timestamp::now()), None))))
    };
    update_with_retry(p, id, decide).await?;
    Ok(())
}

/// `GET /online-payment/{id}`: the citizen's "pay online" link. Redirects to the
/// intermediary's portal or to a pagoPA Checkout cart (the service's `online_payment`), or to
/// the landing when the payment is no longer open. Checkout's failures are pages, the others
/// problems.
#[utoipa::path(get, path = "/online-payment/{id}", tag = "citizen", params(PaymentId), responses(
    (status = 303, description = "To the intermediary, to pagoPA Checkout, or to the landing when no longer payable",
        headers(("location" = String, description = "Where"))),
    NotFound,
    (status = 409, description = "Not payable online now (being created, not configured, no online route)",
        content((Problem = "application/problem+json"), (String = "text/html"))),
    (status = 422, description = "pagoPA Checkout cannot take the payment's data", content_type = "text/html", body = String),
    (status = 502, description = "The intermediary or pagoPA refused",
        content((Problem = "application/problem+json"), (String = "text/html"))),
    (status = 503, description = "The intermediary or pagoPA is not reachable now",
        content((Problem = "application/problem+json"), (String = "text/html"))),
    (status = 500, description = "A fault of this host; see its log",
        content((Problem = "application/problem+json"), (String = "text/html"))),
))]
pub async fn online_payment(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = &app.pipeline;
    let stored = payment(p, &id).await?;
    let event = &stored.event;
    match event.status {
        PaymentStatus::PaymentPending | PaymentStatus::PaymentStarted => {}
        PaymentStatus::CreationPending => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_ready",
                "the payment is being created; try again in a moment",
            ));
        }
        _ => return Ok(Redirect::to(&landing_target(p, event)).into_response()),
    }
    let (Some(configured), Some(debt)) = (p.configured(event).await?, debt_ref(event)) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_configured",
            "the payment's service is not configured here",
        ));
    };
    let setting = configured.service.config.get("online_payment").and_then(serde_json::Value::as_str);
    let route = online_route(setting, configured.connector.info().can("begin-online"), app.checkout.is_some());
    match route {
        Ok(OnlineRoute::Intermediary) => {}
        Ok(OnlineRoute::Checkout) => {
            let locale = Locale::choose(None, event.locale.as_deref());
            return Ok(match crate::checkout::carts::cart_of_one(p, app.checkout.as_ref(), event.id, locale).await {
                Ok(opened) => Redirect::to(&opened.location).into_response(),
                Err(error) => ApiError::from(error).page(locale, None),
            });
        }
        Err(why) => return Err(ApiError::new(StatusCode::CONFLICT, "no_online_payment", why)),
    }
    let landing = format!("{}/landing/{}", p.config.public_base(), event.id);
    let urls = wit::ReturnUrls {
        ok: format!("{landing}?outcome=ok"),
        cancel: format!("{landing}?outcome=cancel"),
        error: format!("{landing}?outcome=error"),
    };
    let scope = p.scope(&configured, Some(event.id));
    let url = configured.connector.begin_online(&scope, debt, urls).await.map_err(|e| ApiError::upstream(&e))?;
    record(p, event.id, transitions::online_payment_opened).await?;
    Ok(Redirect::to(&url).into_response())
}

/// Where the citizen goes after the landing: the core's page of the application, or cassa's
/// own payment JSON when the payment names none.
fn landing_target(p: &Pipeline, event: &PaymentEvent) -> String {
    event
        .links
        .online_payment_landing
        .url
        .clone()
        .unwrap_or_else(|| format!("{}/payments/{}", p.config.public_base(), event.id))
}

/// What the intermediary said when sending the citizen back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LandingQuery {
    /// `ok`, `cancel` or `error`.
    outcome: Option<String>,
}

/// `GET /landing/{id}`: the citizen back from the intermediary's portal; checks the payment at
/// once and sends the citizen on to the application's page.
#[utoipa::path(get, path = "/landing/{id}", tag = "citizen", params(PaymentId, LandingQuery), responses(
    (status = 303, description = "To the application's page (or the payment's JSON when it names none)",
        headers(("location" = String, description = "Where"))),
    NotFound, Internal,
))]
pub async fn landing(
    State(p): State<Pipeline>,
    Path(id): Path<String>,
    super::ApiQuery(q): super::ApiQuery<LandingQuery>,
) -> Result<Response, ApiError> {
    let stored = payment(&p, &id).await?;
    tracing::info!(payment = %stored.event.id, outcome = q.outcome.as_deref().unwrap_or("-"), "citizen back from the intermediary");
    record(&p, stored.event.id, transitions::landing_opened).await?;
    let event = poller::check(&p, stored.event.id).await?.unwrap_or(stored.event);
    Ok(Redirect::to(&landing_target(&p, &event)).into_response())
}

fn document(doc: wit::Document) -> Response {
    let mut response = (StatusCode::OK, doc.body).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&doc.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let safe: String = doc.filename.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// `GET /notice/{id}`: the printable pagoPA notice.
#[utoipa::path(get, path = "/notice/{id}", tag = "citizen", params(PaymentId), responses(
    (status = 200, description = "The notice, as the intermediary makes it (a PDF)",
        content((Binary = "application/pdf"), (Binary = "application/xml")),
        headers(("content-disposition" = String, description = "attachment; filename=…"))),
    NotFound, Conflict, Upstream, Internal,
))]
pub async fn notice(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let stored = payment(&p, &id).await?;
    let event = &stored.event;
    let (Some(configured), Some(debt)) = (p.configured(event).await?, debt_ref(event)) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "not_ready", "the payment has no notice yet"));
    };
    let scope = p.scope(&configured, Some(event.id));
    let doc = configured.connector.notice(&scope, debt).await.map_err(|e| ApiError::upstream(&e))?;
    record(&p, event.id, transitions::notice_opened).await?;
    Ok(document(doc))
}

/// `GET /receipt/{id}`: the receipt, once paid.
#[utoipa::path(get, path = "/receipt/{id}", tag = "citizen", params(PaymentId), responses(
    (status = 200, description = "The receipt, as the intermediary makes it (a PDF or the pagoPA XML receipt)",
        content((Binary = "application/pdf"), (Binary = "application/xml")),
        headers(("content-disposition" = String, description = "attachment; filename=…"))),
    NotFound, Conflict, Upstream, Internal,
))]
pub async fn receipt(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let stored = payment(&p, &id).await?;
    let event = &stored.event;
    if event.status != PaymentStatus::Complete {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_paid",
            format!("the payment is {}: no receipt yet", event.status),
        ));
    }
    let (Some(configured), Some(debt)) = (p.configured(event).await?, debt_ref(event)) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_configured",
            "the payment's service is not configured here",
        ));
    };
    let scope = p.scope(&configured, Some(event.id));
    let doc = configured.connector.receipt(&scope, debt).await.map_err(|e| ApiError::upstream(&e))?;
    Ok(document(doc))
}

/// `GET /update/{id}`: checks the status now; 200 with the payment.
#[utoipa::path(get, path = "/update/{id}", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), params(PaymentId), responses(
    (status = 200, description = "The payment after the check", body = PaymentEvent),
    Unauthorized, NotFound, Internal,
))]
pub async fn update(
    State(p): State<Pipeline>,
    caller: super::auth::Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = super::payments::visible_payment(&p, caller, &id).await?.event.id;
    let event = poller::check(&p, id).await?.ok_or_else(|| ApiError::not_found(format!("no payment {id}")))?;
    Ok(axum::Json(event).into_response())
}
