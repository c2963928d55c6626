//! Paying through pagoPA Checkout (GATEWAYS.md §2, DOMAIN.md §11) and the citizen's pages.
//!
//! - `GET /pay/{token}` is a payment's page, `GET /pay/{t1}.{t2}…` the page of several dues
//!   (possibly of different tenants and intermediaries); a token is the payment's id signed with
//!   the host's link key, so a page is reachable only through its link
//!   (`GET /payments/{id}/page` gives it).
//! - `POST /checkout` takes 1–5 payable payments — a form from those pages (`payment` tokens,
//!   `email_notice`, `lang`), or JSON `{payment_ids, email_notice?, locale?}` — sends pagoPA one
//!   cart and redirects the citizen (303) to the `Location` pagoPA answers; JSON gets `201` with
//!   that URL. The payments become `PAYMENT_STARTED`.
//! - The cart's return URLs, `GET /checkout/{cart}/{ok|cancel|error|waiting}`: ok checks every
//!   payment at its intermediary at once; cancel and error put started payments back to
//!   `PAYMENT_PENDING` with the reason in their history; waiting leaves them to the checks. Each
//!   redirects to the cart's result page, `GET /checkout/{cart}`, which checks again while the
//!   outcome is unknown.
//!
//! Every failure is a page (forms, links) or a JSON error (JSON requests) with its status:
//! 404 unknown payment or link, 422 a cart of the wrong shape or with invalid data, 409 a payment
//! that cannot be paid, 502 pagoPA refused, 503 Checkout not configured or unreachable.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::openapi::{BadRequest, Internal, NotFound, PageErrors, Unauthorized};
use super::pages::{self, Due, Ending};
use super::payments::PaymentId;
use super::{ApiError, ApiQuery, Body, Problem as ApiProblem};
use crate::checkout::carts::{self, CartError};
use crate::checkout::looks_like_email;
use crate::domain::cart::{
    CartStatus, Locale, NotPayable, Outcome, TOKEN_SEPARATOR, check_shape, is_payable, notice_of, page_payment,
    page_token,
};
use crate::domain::{PaymentEvent, PaymentStatus};
use crate::pipeline::Pipeline;

/// What a cart's failure is to API clients (problem details) and to citizens (a page).
impl From<CartError> for ApiError {
    fn from(error: CartError) -> Self {
        match error {
            CartError::NotFound(what) => ApiError::not_found(what),
            CartError::NotPayable { event, why } => not_payable(&event, &why),
            CartError::Shape(why) => cart_shape(why),
            CartError::Invalid(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", why.clone()).telling(
                format!("I dati del pagamento non sono validi: {why}"),
                format!("The payment data are not valid: {why}"),
            ),
            CartError::Refused(detail) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "checkout_refused",
                format!("pagoPA Checkout refused the cart: {detail}"),
            )
            .telling(
                format!("pagoPA non ha accettato il pagamento ({detail})."),
                format!("pagoPA did not accept the payment ({detail})."),
            ),
            CartError::Unavailable(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "checkout_unavailable", why)
                .telling(
                    "Il pagamento online non è disponibile in questo momento. Riprova più tardi, oppure paga con l'avviso.",
                    "Online payment is not available right now. Try again later, or pay with the notice.",
                ),
            CartError::Pipeline(error) => ApiError::internal(error),
        }
    }
}

/// 409: a payment of the cart cannot be paid, and why, in the citizen's words.
fn not_payable(event: &PaymentEvent, why: &NotPayable) -> ApiError {
    let reason = event.reason.clone().unwrap_or_default();
    let (it, en) = match why {
        NotPayable::Status(PaymentStatus::Complete) => ("è già stato pagato", "has already been paid"),
        NotPayable::Status(PaymentStatus::Expired) => ("è scaduto", "has expired"),
        NotPayable::Status(PaymentStatus::CreationPending) | NotPayable::NoNotice => {
            ("è ancora in preparazione: riprova tra poco", "is still being prepared: try again shortly")
        }
        NotPayable::Status(_) => ("non è più da pagare", "is no longer to be paid"),
        NotPayable::NoAmount | NotPayable::NoCreditor => {
            ("non può essere pagato online: usa l'avviso", "cannot be paid online: use the notice")
        }
    };
    ApiError::new(StatusCode::CONFLICT, "not_payable", format!("payment {} cannot be paid: {why}", event.id))
        .telling(format!("Il pagamento «{reason}» {it}."), format!("The payment “{reason}” {en}."))
}

/// 422: not 1 to 5 different payments.
fn cart_shape(why: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "cart_shape", why).telling(
        "Si possono pagare insieme da 1 a 5 pagamenti diversi.",
        "From 1 to 5 different payments can be paid together.",
    )
}

/// `?lang=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// The page's language, `it` or `en` (otherwise the payment's, otherwise Italian).
    lang: Option<String>,
}

/// The `{tokens}` of a page: page tokens joined by `.`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PageTokens {
    /// One to five page tokens (from `GET /payments/{id}/page`), joined by `.`.
    pub tokens: String,
}

/// The `{cart}` of a Checkout cart.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CartId {
    /// The cart's id (cassa's `idCart`).
    pub cart: String,
}

/// The `{cart}/{outcome}` of a return from Checkout.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CartReturn {
    /// The cart's id (cassa's `idCart`).
    pub cart: String,
    /// What Checkout says: `ok`, `cancel`, `error` or `waiting`.
    pub outcome: String,
}

/// The page tokens of a `/pay/{…}` path, checked: the payments they name.
async fn payments_of_tokens(app: &AppState, tokens: &str) -> Result<Vec<Uuid>, ApiError> {
    let key = app.link_key().await?;
    let ids: Option<Vec<Uuid>> = tokens.split(TOKEN_SEPARATOR).map(|t| page_payment(&key, t)).collect();
    let ids = ids.ok_or_else(|| ApiError::not_found("a page link is not valid"))?;
    check_shape(&ids).map_err(|why| cart_shape(why.to_string()))?;
    Ok(ids)
}

/// The dues of `ids` for a page, in order; with their tokens when `with_tokens` and payable.
async fn dues(app: &AppState, ids: &[Uuid], with_tokens: bool) -> Result<Vec<(PaymentEvent, Due)>, ApiError> {
    let p = &app.pipeline;
    let key = app.link_key().await?;
    let stored = p.store.payments_by_ids(ids).await?;
    let mut dues = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(payment) = stored.iter().find(|s| s.event.id == *id) else {
            return Err(ApiError::not_found(format!("no payment {id}")));
        };
        let event = payment.event.clone();
        let creditor = carts::creditor_of(p, &event).await?;
        let receiver = event.payment.receiver.clone().or(creditor.clone());
        let payable = notice_of(&event, creditor.as_ref()).is_ok();
        let due = Due {
            reason: event.reason.clone().unwrap_or_default(),
            amount: event.payment.amount,
            expire_at: event.payment.expire_at,
            notice_code: event.payment.notice_code.clone(),
            creditor: receiver.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            creditor_code: receiver.map(|r| r.tax_identification_number).unwrap_or_default(),
            status: event.status,
            notice_url: (event.payment.notice_code.is_some() && !event.status.is_final())
                .then(|| format!("{}/notice/{}", p.config.public_base(), event.id)),
            receipt_url: (event.status == PaymentStatus::Complete)
                .then(|| format!("{}/receipt/{}", p.config.public_base(), event.id)),
            token: (with_tokens && payable).then(|| page_token(&key, event.id)),
        };
        dues.push((event, due));
    }
    Ok(dues)
}

fn lang_links(path: &str, current: Locale) -> Vec<(Locale, String)> {
    [Locale::It, Locale::En]
        .into_iter()
        .filter(|l| *l != current)
        .map(|l| (l, format!("{path}?lang={}", l.as_str())))
        .collect()
}

/// `GET /pay/{tokens}`: the page of one due, or of several paid together.
#[utoipa::path(get, path = "/pay/{tokens}", tag = "citizen", params(PageTokens, LangQuery), responses(
    (status = 200, description = "The page: each due, the notice links, the e-mail field and \"Paga online con pagoPA\"",
        content_type = "text/html", body = String),
    PageErrors, BadRequest,
))]
pub async fn pay_page(
    State(app): State<AppState>,
    Path(tokens): Path<String>,
    ApiQuery(q): ApiQuery<LangQuery>,
) -> Response {
    let asked = q.lang.as_deref();
    let ids = match payments_of_tokens(&app, &tokens).await {
        Ok(ids) => ids,
        Err(error) => return error.page(Locale::choose(asked, None), None),
    };
    let dues = match dues(&app, &ids, true).await {
        Ok(dues) => dues,
        Err(error) => return error.page(Locale::choose(asked, None), None),
    };
    let locale = Locale::choose(asked, dues.first().and_then(|(e, _)| e.locale.as_deref()));
    let email = dues.iter().find_map(|(e, _)| e.payer.email.clone().filter(|m| looks_like_email(m)));
    let views: Vec<Due> = dues.into_iter().map(|(_, d)| d).collect();
    let html = pages::payment_page(
        locale,
        &views,
        &lang_links(&format!("/pay/{tokens}"), locale),
        email.as_deref(),
        app.checkout.as_ref().is_some(),
    );
    Html(html).into_response()
}

/// `POST /checkout` as JSON.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// 1–5 payment ids.
    payment_ids: Vec<Uuid>,
    /// Where pagoPA mails the receipt.
    #[serde(default)]
    email_notice: Option<String>,
    /// `it` or `en`.
    #[serde(default)]
    locale: Option<String>,
}

/// `POST /checkout` as a form, from a payment page.
#[derive(Debug, utoipa::ToSchema)]
pub struct CheckoutForm {
    /// A page token, once for each payment (1–5).
    pub payment: Vec<String>,
    /// Where pagoPA mails the receipt.
    pub email_notice: Option<String>,
    /// `it` or `en`.
    pub lang: Option<String>,
}

/// A cart pagoPA accepted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartOpened {
    /// The cart's id.
    pub id: String,
    /// Where the citizen pays (pagoPA's `Location`).
    pub checkout_url: String,
    /// cassa's result page of the cart.
    pub result_url: String,
    /// The payments, now `PAYMENT_STARTED`.
    pub payment_ids: Vec<Uuid>,
}

/// The link to a payment's page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageLink {
    /// The page, for the citizen.
    pub url: String,
    /// The page token (the last segment of `url`).
    pub token: String,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// `POST /checkout`.
#[utoipa::path(post, path = "/checkout", tag = "checkout",
    request_body(content((CheckoutRequest = "application/json"), (CheckoutForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 201, description = "JSON: the cart is open at pagoPA", body = CartOpened,
            headers(("location" = String, description = "Where the citizen pays"))),
        (status = 303, description = "Form: to pagoPA Checkout", headers(("location" = String, description = "Where the citizen pays"))),
        (status = 400, description = "JSON that is not a checkout request", content_type = "application/problem+json", body = ApiProblem),
        (status = 401, description = "JSON without a valid token, when the core's APIs need one", content_type = "application/problem+json", body = ApiProblem),
        (status = 404, description = "An unknown payment or a forged link",
            content((ApiProblem = "application/problem+json"), (String = "text/html"))),
        (status = 409, description = "A payment cannot be paid (paid, expired, being created)",
            content((ApiProblem = "application/problem+json"), (String = "text/html"))),
        (status = 413, description = "The body is larger than 16 MiB", content_type = "application/problem+json", body = ApiProblem),
        (status = 422, description = "None, more than 5 or the same payment twice, or an invalid e-mail",
            content((ApiProblem = "application/problem+json"), (String = "text/html"))),
        (status = 502, description = "pagoPA refused the cart",
            content((ApiProblem = "application/problem+json"), (String = "text/html"))),
        (status = 503, description = "pagoPA Checkout is not reachable or not configured",
            content((ApiProblem = "application/problem+json"), (String = "text/html"))),
        (status = 500, description = "A fault of this host; see its log",
            content((ApiProblem = "application/problem+json"), (String = "text/html"))),
    ))]
pub async fn post_checkout(
    State(app): State<AppState>,
    caller: Result<super::auth::Caller, Response>,
    headers: HeaderMap,
    body: Result<Body, ApiError>,
) -> Response {
    let body = match body {
        Ok(Body(body)) => body,
        Err(error) => return error.into_response(),
    };
    if is_json(&headers) {
        // API clients name payments by id: the core's token must allow each one's tenant. (A
        // form carries page tokens instead, which are the citizen's proof.)
        let caller = match caller {
            Ok(caller) => caller,
            Err(refused) => return refused,
        };
        let request: CheckoutRequest = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return ApiError::bad_request(format!("the body is not a checkout request: {e}")).into_response(),
        };
        if caller.tenant().is_some() {
            for id in &request.payment_ids {
                if let Err(error) = super::payments::visible_payment(&app.pipeline, caller, &id.to_string()).await {
                    return error.into_response();
                }
            }
        }
        let locale = Locale::choose(request.locale.as_deref(), None);
        let opened =
            carts::open_cart(&app.pipeline, app.checkout.as_ref(), &request.payment_ids, request.email_notice, locale);
        return match opened.await {
            Ok(opened) => {
                let result_url = format!("{}/checkout/{}", app.pipeline.config.public_base(), opened.cart_id);
                let body = CartOpened {
                    id: opened.cart_id,
                    checkout_url: opened.location.clone(),
                    result_url,
                    payment_ids: request.payment_ids,
                };
                (StatusCode::CREATED, [(header::LOCATION, opened.location)], Json(body)).into_response()
            }
            Err(error) => ApiError::from(error).into_response(),
        };
    }
    // A form from a payment page: `payment` (repeated page tokens), `email_notice`, `lang`.
    let mut tokens = Vec::new();
    let (mut email, mut lang) = (None, None);
    for (name, value) in url::form_urlencoded::parse(&body) {
        match name.as_ref() {
            "payment" => tokens.push(value.into_owned()),
            "email_notice" => email = Some(value.into_owned()),
            "lang" => lang = Some(value.into_owned()),
            _ => {}
        }
    }
    let locale = Locale::choose(lang.as_deref(), None);
    if tokens.is_empty() {
        return cart_shape("the form names no payment".into()).page(locale, None);
    }
    let joined = tokens.join(&TOKEN_SEPARATOR.to_string());
    let back = Some(format!("/pay/{joined}?lang={}", locale.as_str()));
    let ids = match payments_of_tokens(&app, &joined).await {
        Ok(ids) => ids,
        Err(error) => return error.page(locale, back.as_deref()),
    };
    match carts::open_cart(&app.pipeline, app.checkout.as_ref(), &ids, email, locale).await {
        Ok(opened) => Redirect::to(&opened.location).into_response(),
        Err(error) => ApiError::from(error).page(locale, back.as_deref()),
    }
}

/// `GET /checkout/{cart}/{outcome}`: the citizen back from pagoPA Checkout.
#[utoipa::path(get, path = "/checkout/{cart}/{outcome}", tag = "checkout", params(CartReturn, LangQuery), responses(
    (status = 303, description = "To the cart's result page", headers(("location" = String, description = "Where"))),
    PageErrors, BadRequest,
))]
pub async fn cart_return(
    State(p): State<Pipeline>,
    Path((cart_id, outcome)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<LangQuery>,
) -> Response {
    let fallback = Locale::choose(q.lang.as_deref(), None);
    let Some(outcome) = Outcome::parse(&outcome) else {
        return ApiError::not_found(format!("no return `{outcome}`")).page(fallback, None);
    };
    match carts::apply_return(&p, &cart_id, outcome).await {
        Ok(Some(cart)) => {
            let locale = Locale::choose(q.lang.as_deref(), Some(cart.locale.as_str()));
            Redirect::to(&format!("/checkout/{cart_id}?lang={}", locale.as_str())).into_response()
        }
        Ok(None) => ApiError::not_found(format!("no cart {cart_id}")).page(fallback, None),
        Err(error) => ApiError::from(error).page(fallback, None),
    }
}

/// `GET /checkout/{cart}`: the result page; while the outcome is unknown, every view checks
/// the payments still open.
#[utoipa::path(get, path = "/checkout/{cart}", tag = "checkout", params(CartId, LangQuery), responses(
    (status = 200, description = "The result page: paid, verifying, cancelled or failed", content_type = "text/html", body = String),
    PageErrors, BadRequest,
))]
pub async fn cart_result(
    State(app): State<AppState>,
    Path(cart_id): Path<String>,
    ApiQuery(q): ApiQuery<LangQuery>,
) -> Response {
    let fallback = Locale::choose(q.lang.as_deref(), None);
    match result(&app, &cart_id, q.lang.as_deref()).await {
        Ok(Some(html)) => Html(html).into_response(),
        Ok(None) => ApiError::not_found(format!("no cart {cart_id}")).page(fallback, None),
        Err(error) => error.page(fallback, None),
    }
}

async fn result(app: &AppState, cart_id: &str, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    let p = &app.pipeline;
    let Some(cart) = p.store.cart(cart_id).await? else { return Ok(None) };
    let locale = Locale::choose(asked, Some(cart.locale.as_str()));
    carts::check_open(p, &cart).await?;
    let shown = dues(app, &cart.payment_ids, false).await?;
    let all_paid = shown.iter().all(|(e, _)| e.status == PaymentStatus::Complete);
    let ending = match cart.status {
        _ if all_paid => Ending::Paid,
        CartStatus::Cancel => Ending::Cancelled,
        CartStatus::Error | CartStatus::Refused | CartStatus::Unavailable => Ending::Failed,
        CartStatus::Ok | CartStatus::Waiting | CartStatus::Redirected => Ending::Verifying,
    };
    let key = app.link_key().await?;
    let payable: Vec<String> =
        shown.iter().filter(|(e, _)| is_payable(e.status)).map(|(e, _)| page_token(&key, e.id)).collect();
    let retry = (!payable.is_empty())
        .then(|| format!("/pay/{}?lang={}", payable.join(&TOKEN_SEPARATOR.to_string()), locale.as_str()));
    let views: Vec<Due> = shown.into_iter().map(|(_, d)| d).collect();
    let path = format!("/checkout/{cart_id}");
    let check = format!("{path}?lang={}", locale.as_str());
    Ok(Some(pages::result_page(locale, ending, &views, &lang_links(&path, locale), retry.as_deref(), &check)))
}

/// `GET /payments/{id}/page`: the link to a payment's page, for the core to hand the citizen.
#[utoipa::path(get, path = "/payments/{id}/page", tag = "citizen", security(("core_jwt" = []), ("admin_token" = [])), params(PaymentId),
    responses((status = 200, description = "The link", body = PageLink), Unauthorized, NotFound, Internal))]
pub async fn page_link(
    State(app): State<AppState>,
    caller: super::auth::Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = super::payments::visible_payment(&app.pipeline, caller, &id).await?.event.id;
    let token = page_token(&app.link_key().await?, id);
    let url = format!("{}/pay/{token}", app.pipeline.config.public_base());
    Ok(Json(PageLink { url, token }).into_response())
}
