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
use super::openapi::{BadRequest, Internal, NotFound, Unauthorized};
use super::pages::{self, Due, Ending};
use super::payments::PaymentId;
use super::{ApiError, ApiQuery, Body, Problem as ApiProblem};
use crate::checkout::{Cart, CheckoutError, ReturnUrls, looks_like_email, validate};
use crate::domain::cart::{
    CartStatus, Locale, NotPayable, Outcome, TOKEN_SEPARATOR, check_shape, is_payable, new_cart_id, notice_of,
    page_payment, page_token,
};
use crate::domain::payment::Receiver;
use crate::domain::{PaymentEvent, PaymentStatus, Timestamp, transitions};
use crate::pipeline::change::{Next, update_with_retry};
use crate::pipeline::{Pipeline, PipelineError, poller};
use crate::store::{StoreError, StoredCart, StoredPayment};

/// Why a cart could not be opened or a page shown.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    /// For the API and the log.
    message: String,
    /// For the citizen: Italian and English.
    citizen: (String, String),
}

impl Problem {
    fn new(status: StatusCode, code: &'static str, message: String, it: String, en: String) -> Self {
        Self { status, code, message, citizen: (it, en) }
    }

    fn not_found(what: String) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            what,
            "Il pagamento non esiste oppure il link non è valido.".into(),
            "The payment does not exist, or the link is not valid.".into(),
        )
    }

    fn not_payable(event: &PaymentEvent, why: &NotPayable) -> Self {
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
        Self::new(
            StatusCode::CONFLICT,
            "not_payable",
            format!("payment {} cannot be paid: {why}", event.id),
            format!("Il pagamento «{reason}» {it}."),
            format!("The payment “{reason}” {en}."),
        )
    }

    fn shape(why: String) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cart_shape",
            why,
            "Si possono pagare insieme da 1 a 5 pagamenti diversi.".into(),
            "From 1 to 5 different payments can be paid together.".into(),
        )
    }

    fn invalid(why: String) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            why.clone(),
            format!("I dati del pagamento non sono validi: {why}"),
            format!("The payment data are not valid: {why}"),
        )
    }

    fn unavailable(why: String) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "checkout_unavailable",
            why,
            "Il pagamento online non è disponibile in questo momento. Riprova più tardi, oppure paga con l'avviso."
                .into(),
            "Online payment is not available right now. Try again later, or pay with the notice.".into(),
        )
    }

    fn refused(detail: String) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "checkout_refused",
            format!("pagoPA Checkout refused the cart: {detail}"),
            format!("pagoPA non ha accettato il pagamento ({detail})."),
            format!("pagoPA did not accept the payment ({detail})."),
        )
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "checkout request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log".into(),
            "Si è verificato un errore interno. Riprova più tardi.".into(),
            "Something went wrong on our side. Try again later.".into(),
        )
    }

    /// As JSON, for API clients.
    pub fn json(self) -> Response {
        ApiError::new(self.status, self.code, self.message).into_response()
    }

    /// As a page, for citizens.
    pub fn page(self, locale: Locale, back: Option<&str>) -> Response {
        let text = if locale == Locale::It { &self.citizen.0 } else { &self.citizen.1 };
        (self.status, Html(pages::error_page(locale, text, back))).into_response()
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<PipelineError> for Problem {
    fn from(error: PipelineError) -> Self {
        Self::internal(error)
    }
}

/// How long after a check the result page does not check a payment again, in milliseconds.
const RECHECK_MS: i64 = 3_000;

/// How long `/online-payment` sends the citizen back to the same Checkout cart rather than
/// opening a new one, in milliseconds (pagoPA keeps a cart's session for longer).
const REUSE_CART_MS: i64 = 10 * 60_000;

/// A cart pagoPA accepted.
#[derive(Debug)]
pub struct Opened {
    /// cassa's id of the cart.
    pub cart_id: String,
    /// pagoPA's page for it.
    pub location: String,
}

fn public_base(p: &Pipeline) -> &str {
    p.config.public_url.trim_end_matches('/')
}

/// Applies `change` to payment `id` and stores the result with `note` in its history (see
/// [`update_with_retry`]); nothing when `change` has nothing to do.
async fn change_payment(
    p: &Pipeline,
    id: Uuid,
    note: &str,
    change: impl Fn(&PaymentEvent) -> Option<PaymentEvent>,
) -> Result<(), PipelineError> {
    let decide = |stored: StoredPayment| {
        let next = change(&stored.event).map(|next| Next::emitted(next, Some(note)));
        std::future::ready(Ok(next))
    };
    update_with_retry(p, id, decide).await.map(drop)
}

/// The creditor of a payment for the cart: its tenant's name and fiscal code.
async fn creditor_of(p: &Pipeline, event: &PaymentEvent) -> Result<Option<Receiver>, PipelineError> {
    Ok(p.configured(event).await?.and_then(|c| Pipeline::receiver_of(&c.tenant)))
}

/// The Checkout page of `payment` alone: the cart opened for it in the last minutes and still at
/// Checkout (a link followed twice, a scanner), else a new one.
pub async fn cart_of_one(app: &AppState, payment: Uuid, locale: Locale) -> Result<Opened, Problem> {
    let p = &app.pipeline;
    let since = Timestamp::from_millis(Timestamp::now().millis() - REUSE_CART_MS).unwrap_or_else(Timestamp::now);
    if let Some(cart) = p.store.open_cart_of(payment, since).await?
        && let Some(location) = cart.checkout_url
    {
        let still = p.store.payment(payment).await?.is_some_and(|s| is_payable(s.event.status));
        if still {
            return Ok(Opened { cart_id: cart.id, location });
        }
    }
    open_cart(app, &[payment], None, locale).await
}

/// Opens a pagoPA Checkout cart for `ids`: checks them, sends the cart, records it and marks
/// the payments started.
pub async fn open_cart(app: &AppState, ids: &[Uuid], email: Option<String>, locale: Locale) -> Result<Opened, Problem> {
    let p = &app.pipeline;
    check_shape(ids).map_err(|why| Problem::shape(why.to_string()))?;
    let stored = p.store.payments_by_ids(ids).await?;
    let mut notices = Vec::with_capacity(ids.len());
    let mut payer_email = None;
    for id in ids {
        let Some(payment) = stored.iter().find(|s| s.event.id == *id) else {
            return Err(Problem::not_found(format!("no payment {id}")));
        };
        let creditor = creditor_of(p, &payment.event).await?;
        let notice =
            notice_of(&payment.event, creditor.as_ref()).map_err(|why| Problem::not_payable(&payment.event, &why))?;
        notices.push(notice);
        payer_email = payer_email.or_else(|| payment.event.payer.email.clone().filter(|e| looks_like_email(e)));
    }
    // After the payments are checked: a request naming unknown payments is the caller's fault
    // whether or not Checkout is configured.
    let Some(client) = app.checkout.as_ref() else {
        return Err(Problem::unavailable("pagoPA Checkout is not configured on this host".into()));
    };
    let cart_id = new_cart_id();
    let back = |outcome: Outcome| format!("{}/checkout/{cart_id}/{}", public_base(p), outcome.as_str());
    let email = email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).or(payer_email);
    let cart = Cart {
        payment_notices: notices,
        return_urls: ReturnUrls {
            ok: back(Outcome::Ok),
            cancel: back(Outcome::Cancel),
            error: back(Outcome::Error),
            waiting: back(Outcome::Waiting),
        },
        email_notice: email,
        id_cart: Some(cart_id.clone()),
    };
    validate(&cart).map_err(|e| Problem::invalid(e.to_string()))?;
    // Recorded before pagoPA is asked, so its return URLs always find the cart.
    let now = Timestamp::now();
    let record = StoredCart {
        id: cart_id.clone(),
        payment_ids: ids.to_vec(),
        status: CartStatus::Unavailable,
        checkout_url: None,
        note: Some("sending to pagoPA".into()),
        locale,
        created_at: now,
        updated_at: now,
    };
    p.store.insert_cart(&record).await?;
    let sent = client.create_cart(&cart).await;
    let (status, note, outcome) = match sent {
        Ok(location) => (CartStatus::Redirected, None, Ok(Opened { cart_id: cart_id.clone(), location })),
        Err(CheckoutError::Invalid(why)) => (CartStatus::Refused, Some(why.clone()), Err(Problem::invalid(why))),
        Err(CheckoutError::Refused { status, detail }) => {
            (CartStatus::Refused, Some(format!("HTTP {status}: {detail}")), Err(Problem::refused(detail)))
        }
        Err(CheckoutError::Protocol(why)) => {
            (CartStatus::Refused, Some(why.clone()), Err(Problem::refused(format!("unexpected answer: {why}"))))
        }
        Err(CheckoutError::Unavailable(why)) => {
            (CartStatus::Unavailable, Some(why.clone()), Err(Problem::unavailable(why)))
        }
    };
    let url = outcome.as_ref().ok().map(|o| o.location.as_str());
    p.store.answer_cart(&cart_id, status, url, note.as_deref()).await?;
    tracing::info!(cart = %cart_id, payments = ids.len(), status = status.as_str(), note = note.as_deref().unwrap_or("-"), "pagoPA Checkout cart");
    if outcome.is_ok() {
        let note = format!("pagoPA Checkout cart {cart_id}");
        for id in ids {
            change_payment(p, *id, &note, |e| {
                is_payable(e.status).then(|| transitions::online_payment_opened(e, Timestamp::now()))
            })
            .await?;
        }
    }
    outcome
}

/// `?lang=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// The page's language, `it` or `en` (otherwise the payment's, otherwise Italian).
    lang: Option<String>,
}

/// The pages' failures: each an error page in the citizen's language.
#[derive(utoipa::IntoResponses)]
pub enum PageErrors {
    /// 404.
    #[response(
        status = 404,
        description = "No such payment or cart, or the link is not valid",
        content_type = "text/html"
    )]
    NotFound(String),
    /// 409.
    #[response(status = 409, description = "A payment cannot be paid now", content_type = "text/html")]
    Conflict(String),
    /// 422.
    #[response(
        status = 422,
        description = "A cart of the wrong shape, or data pagoPA cannot take",
        content_type = "text/html"
    )]
    Invalid(String),
    /// 502.
    #[response(status = 502, description = "pagoPA refused the cart", content_type = "text/html")]
    Refused(String),
    /// 503.
    #[response(
        status = 503,
        description = "pagoPA Checkout is not reachable or not configured",
        content_type = "text/html"
    )]
    Unavailable(String),
    /// 500.
    #[response(status = 500, description = "A fault of this host; see its log", content_type = "text/html")]
    Internal(String),
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
async fn payments_of_tokens(app: &AppState, tokens: &str) -> Result<Vec<Uuid>, Problem> {
    let key = app.link_key().await?;
    let ids: Option<Vec<Uuid>> = tokens.split(TOKEN_SEPARATOR).map(|t| page_payment(&key, t)).collect();
    let ids = ids.ok_or_else(|| Problem::not_found("a page link is not valid".into()))?;
    check_shape(&ids).map_err(|why| Problem::shape(why.to_string()))?;
    Ok(ids)
}

/// The dues of `ids` for a page, in order; with their tokens when `with_tokens` and payable.
async fn dues(app: &AppState, ids: &[Uuid], with_tokens: bool) -> Result<Vec<(PaymentEvent, Due)>, Problem> {
    let p = &app.pipeline;
    let key = app.link_key().await?;
    let stored = p.store.payments_by_ids(ids).await?;
    let mut dues = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(payment) = stored.iter().find(|s| s.event.id == *id) else {
            return Err(Problem::not_found(format!("no payment {id}")));
        };
        let event = payment.event.clone();
        let creditor = creditor_of(p, &event).await?;
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
                .then(|| format!("{}/notice/{}", public_base(p), event.id)),
            receipt_url: (event.status == PaymentStatus::Complete)
                .then(|| format!("{}/receipt/{}", public_base(p), event.id)),
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
        Err(problem) => return problem.page(Locale::choose(asked, None), None),
    };
    let dues = match dues(&app, &ids, true).await {
        Ok(dues) => dues,
        Err(problem) => return problem.page(Locale::choose(asked, None), None),
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
        return match open_cart(&app, &request.payment_ids, request.email_notice, locale).await {
            Ok(opened) => {
                let result_url = format!("{}/checkout/{}", public_base(&app.pipeline), opened.cart_id);
                let body = CartOpened {
                    id: opened.cart_id,
                    checkout_url: opened.location.clone(),
                    result_url,
                    payment_ids: request.payment_ids,
                };
                (StatusCode::CREATED, [(header::LOCATION, opened.location)], Json(body)).into_response()
            }
            Err(problem) => problem.json(),
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
        return Problem::shape("the form names no payment".into()).page(locale, None);
    }
    let joined = tokens.join(&TOKEN_SEPARATOR.to_string());
    let back = Some(format!("/pay/{joined}?lang={}", locale.as_str()));
    let ids = match payments_of_tokens(&app, &joined).await {
        Ok(ids) => ids,
        Err(problem) => return problem.page(locale, back.as_deref()),
    };
    match open_cart(&app, &ids, email, locale).await {
        Ok(opened) => Redirect::to(&opened.location).into_response(),
        Err(problem) => problem.page(locale, back.as_deref()),
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
        return Problem::not_found(format!("no return `{outcome}`")).page(fallback, None);
    };
    match returned(&p, &cart_id, outcome).await {
        Ok(Some(cart)) => {
            let locale = Locale::choose(q.lang.as_deref(), Some(cart.locale.as_str()));
            Redirect::to(&format!("/checkout/{cart_id}?lang={}", locale.as_str())).into_response()
        }
        Ok(None) => Problem::not_found(format!("no cart {cart_id}")).page(fallback, None),
        Err(problem) => problem.page(fallback, None),
    }
}

/// Applies a return to its cart and payments, once.
async fn returned(p: &Pipeline, cart_id: &str, outcome: Outcome) -> Result<Option<StoredCart>, Problem> {
    let Some(cart) = p.store.cart(cart_id).await? else { return Ok(None) };
    let again = CartStatus::Redirected.after(outcome) == Some(cart.status);
    let next = match cart.status.after(outcome) {
        Some(next) => next,
        // The same return again (a reload, or one cut short): its payment changes are
        // idempotent, so they are applied again.
        None if again => cart.status,
        None => {
            tracing::info!(cart = %cart_id, status = cart.status.as_str(), outcome = outcome.as_str(), "cart already ended; return ignored");
            return Ok(Some(cart));
        }
    };
    let note = match outcome {
        Outcome::Ok => format!("pagoPA Checkout cart {cart_id}: paid, checking at the intermediary"),
        Outcome::Cancel => format!("pagoPA Checkout cart {cart_id}: cancelled by the citizen"),
        Outcome::Error => format!("pagoPA Checkout cart {cart_id}: Checkout reported an error"),
        Outcome::Waiting => format!("pagoPA Checkout cart {cart_id}: outcome not known yet"),
    };
    if !again && !p.store.move_cart(cart_id, cart.status, next, Some(&note)).await? {
        return Ok(p.store.cart(cart_id).await?);
    }
    tracing::info!(cart = %cart_id, outcome = outcome.as_str(), "citizen back from pagoPA Checkout");
    for id in &cart.payment_ids {
        match outcome {
            Outcome::Ok => {
                change_payment(p, *id, &note, |e| {
                    (e.status == PaymentStatus::PaymentPending)
                        .then(|| transitions::online_payment_opened(e, Timestamp::now()))
                })
                .await?;
                poller::check(p, *id).await?;
            }
            Outcome::Cancel | Outcome::Error => {
                // A newer cart (another tab) may hold the payment: it stays started for that one.
                if p.store.newer_live_cart(*id, &cart).await? {
                    tracing::info!(payment = %id, cart = %cart_id, "a newer cart holds the payment; left started");
                    continue;
                }
                change_payment(p, *id, &note, |e| transitions::checkout_abandoned(e, Timestamp::now())).await?;
            }
            Outcome::Waiting => {}
        }
    }
    Ok(p.store.cart(cart_id).await?)
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
        Ok(None) => Problem::not_found(format!("no cart {cart_id}")).page(fallback, None),
        Err(problem) => problem.page(fallback, None),
    }
}

async fn result(app: &AppState, cart_id: &str, asked: Option<&str>) -> Result<Option<String>, Problem> {
    let p = &app.pipeline;
    let Some(cart) = p.store.cart(cart_id).await? else { return Ok(None) };
    let locale = Locale::choose(asked, Some(cart.locale.as_str()));
    let mut shown = dues(app, &cart.payment_ids, false).await?;
    let open = |d: &Vec<(PaymentEvent, Due)>| d.iter().any(|(e, _)| !e.status.is_final());
    if matches!(cart.status, CartStatus::Ok | CartStatus::Waiting | CartStatus::Redirected) && open(&shown) {
        // At most one check per payment every few seconds, however often the page is viewed.
        let now = Timestamp::now().millis();
        for (event, _) in &shown {
            let recent = event.links.update.last_check_at.is_some_and(|at| now - at.millis() < RECHECK_MS);
            if !event.status.is_final() && !recent {
                poller::check(p, event.id).await?;
            }
        }
        shown = dues(app, &cart.payment_ids, false).await?;
    }
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
    let url = format!("{}/pay/{token}", public_base(&app.pipeline));
    Ok(Json(PageLink { url, token }).into_response())
}
