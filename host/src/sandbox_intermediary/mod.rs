//! The sandbox intermediary: a small REST payment intermediary with GPD-like semantics that the
//! host can serve, so the whole payment cycle runs with nothing else installed — for demos, for
//! the embedded default and as the conformance suite's first fake.
//!
//! API (every route under `/organizations` needs `X-Api-Key`):
//!
//! | request | reply |
//! |---|---|
//! | `POST /organizations/{fc}/debt-positions` | 201 position; 409 when the `iud` exists; 400 invalid |
//! | `GET /organizations/{fc}/debt-positions/{iud}` | 200 position; 404 |
//! | `POST /organizations/{fc}/debt-positions/{iud}/cancel` | 200 position; 409 when not unpaid |
//! | `GET /organizations/{fc}/debt-positions/{iud}/notice` | 200 `application/pdf` |
//! | `GET /organizations/{fc}/debt-positions/{iud}/receipt` | 200 `application/xml`; 404 until paid |
//! | `GET /pay/{fc}/{iud}?ok=&cancel=` | HTML page where the citizen pays |
//! | `POST /pay/{fc}/{iud}` (form `action=pay|cancel`, `ok`, `cancel`) | pays; 303 to `ok`/`cancel` or a result page |
//!
//! Positions live in memory. IUVs are aux-digit-3 IUVs with the configured segregation code and
//! valid mod-93 check digits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// Settings of a sandbox intermediary.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The API key every API request must carry in `X-Api-Key`.
    pub api_key: String,
    /// The segregation code of the IUVs it hands out.
    pub segregation_code: u8,
    /// The absolute URL it is reachable at, for the `pay_url` of positions.
    pub public_url: String,
}

/// A debt position as the sandbox intermediary shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxPosition {
    /// The creditor's id.
    pub iud: String,
    /// IUV.
    pub iuv: String,
    /// Notice code.
    pub notice_code: String,
    /// Amount in cents.
    pub amount: u64,
    /// Causale.
    pub description: String,
    /// Due date.
    pub due_date: Option<String>,
    /// Debtor's fiscal code.
    pub debtor_fiscal_code: String,
    /// Debtor's name.
    pub debtor_name: String,
    /// `UNPAID`, `PAID`, `CANCELED`, `EXPIRED`.
    pub status: String,
    /// When it was paid.
    pub paid_at: Option<String>,
    /// Receipt id.
    pub transaction_id: Option<String>,
    /// Where a citizen pays it.
    pub pay_url: String,
}

#[derive(Default)]
struct Book {
    positions: HashMap<(String, String), SandboxPosition>,
    next_base: u64,
    creates: u64,
}

/// A running sandbox intermediary: its state, its address and what tests may do to it.
#[derive(Clone)]
pub struct SandboxIntermediary {
    settings: Arc<SandboxSettings>,
    book: Arc<Mutex<Book>>,
}

#[derive(Deserialize)]
struct NewPosition {
    iud: String,
    amount: u64,
    description: String,
    due_date: Option<String>,
    debtor_fiscal_code: String,
    debtor_name: String,
}

/// An error reply in the `ProblemJson` shape pagoPA uses: `{title, status, detail}`.
#[derive(Serialize)]
struct Problem {
    title: &'static str,
    status: u16,
    detail: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self)).into_response()
    }
}

fn problem_of(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
    Problem { title, status: status.as_u16(), detail: detail.into() }
}

fn problem(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Response {
    problem_of(status, title, detail).into_response()
}

impl SandboxIntermediary {
    /// A sandbox intermediary with no positions.
    pub fn new(settings: SandboxSettings) -> Self {
        Self { settings: Arc::new(settings), book: Arc::new(Mutex::new(Book { next_base: 1, ..Book::default() })) }
    }

    /// Binds `addr` (port 0 for any free one) and serves until the process ends; returns the
    /// running intermediary and its address. `public_url` in the settings is replaced by
    /// `http://<addr>` when empty.
    pub async fn start(mut settings: SandboxSettings, addr: SocketAddr) -> anyhow::Result<(Self, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        if settings.public_url.is_empty() {
            settings.public_url = format!("http://{addr}");
        }
        let intermediary = Self::new(settings);
        let router = intermediary.router();
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "sandbox intermediary stopped");
            }
        });
        Ok((intermediary, addr))
    }

    /// The routes, for mounting in a larger router or serving alone.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/organizations/{fc}/debt-positions", post(create))
            .route("/organizations/{fc}/debt-positions/{iud}", get(read))
            .route("/organizations/{fc}/debt-positions/{iud}/cancel", post(cancel))
            .route("/organizations/{fc}/debt-positions/{iud}/notice", get(notice))
            .route("/organizations/{fc}/debt-positions/{iud}/receipt", get(receipt))
            .route("/pay/{fc}/{iud}", get(pay_page).post(pay))
            .with_state(self.clone())
    }

    /// The position with this `iud`, if any (test hook).
    pub fn position(&self, fiscal_code: &str, iud: &str) -> Option<SandboxPosition> {
        self.lock().positions.get(&(fiscal_code.to_owned(), iud.to_owned())).cloned()
    }

    /// How many positions exist for this `iud` — at most one by construction; tests assert it.
    pub fn positions_for(&self, iud: &str) -> usize {
        self.lock().positions.keys().filter(|(_, i)| i == iud).count()
    }

    /// How many create requests were accepted or refused as duplicates.
    pub fn create_requests(&self) -> u64 {
        self.lock().creates
    }

    /// Marks a position paid, as if a citizen had paid it (test hook). `false` when it is not
    /// unpaid.
    pub fn mark_paid(&self, fiscal_code: &str, iud: &str) -> bool {
        let mut book = self.lock();
        match book.positions.get_mut(&(fiscal_code.to_owned(), iud.to_owned())) {
            Some(p) if p.status == "UNPAID" => {
                p.status = "PAID".into();
                p.paid_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                p.transaction_id = Some(format!("SBX-{}", p.iuv));
                true
            }
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        // A poisoned lock only means a handler panicked mid-update; the book is still usable.
        self.book.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn authorised(&self, headers: &HeaderMap) -> Result<(), Problem> {
        match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(key) if key == self.settings.api_key => Ok(()),
            Some(_) => Err(problem_of(StatusCode::UNAUTHORIZED, "Unauthorized", "wrong API key")),
            None => Err(problem_of(StatusCode::UNAUTHORIZED, "Unauthorized", "missing X-Api-Key")),
        }
    }
}

fn valid_fiscal_code(fc: &str) -> bool {
    fc.len() == 11 && fc.bytes().all(|b| b.is_ascii_digit())
}

async fn create(
    State(s): State<SandboxIntermediary>,
    Path(fc): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = s.authorised(&headers) {
        return r.into_response();
    }
    if !valid_fiscal_code(&fc) {
        return problem(StatusCode::BAD_REQUEST, "Bad Request", "organization fiscal code must be 11 digits");
    }
    let new: NewPosition = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return problem(StatusCode::BAD_REQUEST, "Bad Request", format!("invalid body: {e}"));
        }
    };
    if new.iud.is_empty() || new.iud.len() > 50 {
        return problem(StatusCode::BAD_REQUEST, "Bad Request", "iud must be 1-50 characters");
    }
    if new.amount == 0 {
        return problem(StatusCode::BAD_REQUEST, "Bad Request", "amount must be at least 1 cent");
    }
    if new.description.is_empty() || new.description.chars().count() > 140 {
        return problem(StatusCode::BAD_REQUEST, "Bad Request", "description must be 1-140 characters");
    }
    let mut book = s.lock();
    book.creates += 1;
    let key = (fc.clone(), new.iud.clone());
    if let Some(existing) = book.positions.get(&key) {
        let existing = existing.clone();
        return (StatusCode::CONFLICT, Json(existing)).into_response();
    }
    let base = book.next_base;
    book.next_base += 1;
    let (iuv, notice_code) = match (
        cassa_sdk::iuv::new_iuv(s.settings.segregation_code, base),
        cassa_sdk::iuv::new_notice_code(s.settings.segregation_code, base),
    ) {
        (Ok(iuv), Ok(nav)) => (iuv, nav),
        _ => {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", "IUV space exhausted");
        }
    };
    let position = SandboxPosition {
        pay_url: format!("{}/pay/{fc}/{}", s.settings.public_url, new.iud),
        iud: new.iud,
        iuv,
        notice_code,
        amount: new.amount,
        description: new.description,
        due_date: new.due_date,
        debtor_fiscal_code: new.debtor_fiscal_code,
        debtor_name: new.debtor_name,
        status: "UNPAID".into(),
        paid_at: None,
        transaction_id: None,
    };
    book.positions.insert(key, position.clone());
    (StatusCode::CREATED, Json(position)).into_response()
}

fn find(s: &SandboxIntermediary, headers: &HeaderMap, fc: &str, iud: &str) -> Result<SandboxPosition, Problem> {
    s.authorised(headers)?;
    s.position(fc, iud).ok_or_else(|| {
        problem_of(StatusCode::NOT_FOUND, "Not Found", format!("no debt position for organization {fc} and iud {iud}"))
    })
}

async fn read(
    State(s): State<SandboxIntermediary>,
    Path((fc, iud)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<SandboxPosition>, Problem> {
    find(&s, &headers, &fc, &iud).map(Json)
}

async fn cancel(
    State(s): State<SandboxIntermediary>,
    Path((fc, iud)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = find(&s, &headers, &fc, &iud) {
        return r.into_response();
    }
    let mut book = s.lock();
    let Some(p) = book.positions.get_mut(&(fc, iud)) else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "gone");
    };
    if p.status != "UNPAID" {
        return problem(StatusCode::CONFLICT, "Conflict", format!("a {} position cannot be canceled", p.status));
    }
    p.status = "CANCELED".into();
    Json(p.clone()).into_response()
}

async fn notice(
    State(s): State<SandboxIntermediary>,
    Path((fc, iud)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let p = find(&s, &headers, &fc, &iud)?;
    let lines = [
        "AVVISO DI PAGAMENTO pagoPA (sandbox)".to_owned(),
        format!("Ente creditore: {fc}"),
        format!("Oggetto: {}", p.description),
        format!("Importo: EUR {}", cassa_sdk::money::format_euros(p.amount)),
        format!("Codice avviso: {}", p.notice_code),
        format!("Debitore: {} ({})", p.debtor_name, p.debtor_fiscal_code),
        format!("Scadenza: {}", p.due_date.as_deref().unwrap_or("-")),
    ];
    let body = cassa_sdk::pdf::text_document(&lines);
    let disposition = format!("attachment; filename=\"avviso-{}.pdf\"", p.notice_code);
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

async fn receipt(
    State(s): State<SandboxIntermediary>,
    Path((fc, iud)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let p = find(&s, &headers, &fc, &iud)?;
    let (Some(paid_at), Some(receipt_id)) = (&p.paid_at, &p.transaction_id) else {
        return Err(problem_of(StatusCode::NOT_FOUND, "Not Found", "no receipt: the position is not paid"));
    };
    let mut w = cassa_sdk::xml::XmlWriter::new();
    w.declaration()
        .start("receipt", &[("xmlns", "urn:cassa:sandbox:receipt:1")])
        .text_element("receiptId", receipt_id)
        .text_element("noticeNumber", &p.notice_code)
        .text_element("creditorReferenceId", &p.iuv)
        .text_element("fiscalCode", &fc)
        .text_element("paymentAmount", &cassa_sdk::money::format_euros(p.amount))
        .text_element("description", &p.description)
        .text_element("debtorFiscalCode", &p.debtor_fiscal_code)
        .text_element("paymentDateTime", paid_at)
        .text_element("outcome", "OK")
        .end("receipt");
    Ok(([(header::CONTENT_TYPE, "application/xml")], w.finish()).into_response())
}

#[derive(Deserialize)]
struct Returns {
    ok: Option<String>,
    cancel: Option<String>,
}

#[derive(Deserialize)]
struct PayForm {
    action: String,
    ok: Option<String>,
    cancel: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn pay_page(
    State(s): State<SandboxIntermediary>,
    Path((fc, iud)): Path<(String, String)>,
    Query(r): Query<Returns>,
) -> Response {
    let Some(p) = s.position(&fc, &iud) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><title>Non trovato</title><p>Posizione non trovata.</p>".to_owned()),
        )
            .into_response();
    };
    let hidden = |name: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|v| format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(v)))
            .unwrap_or_default()
    };
    let page = format!(
        r#"<!doctype html><html lang="it"><head><meta charset="utf-8"><title>Sandbox — pagamento</title></head>
<body><main><h1>Intermediario sandbox</h1>
<dl><dt>Causale</dt><dd>{desc}</dd><dt>Importo</dt><dd>€ {amount}</dd><dt>Codice avviso</dt><dd>{nav}</dd><dt>Stato</dt><dd id="status">{status}</dd></dl>
<form method="post" action="">{ok}{cancel}
<button type="submit" name="action" value="pay" id="pay">Paga</button>
<button type="submit" name="action" value="cancel" id="cancel">Annulla</button></form></main></body></html>"#,
        desc = escape(&p.description),
        amount = cassa_sdk::money::format_euros(p.amount),
        nav = p.notice_code,
        status = p.status,
        ok = hidden("ok", &r.ok),
        cancel = hidden("cancel", &r.cancel),
    );
    Html(page).into_response()
}

async fn pay(
    State(s): State<SandboxIntermediary>,
    Path((fc, iud)): Path<(String, String)>,
    Form(form): Form<PayForm>,
) -> Response {
    if s.position(&fc, &iud).is_none() {
        return (StatusCode::NOT_FOUND, Html("<p>Posizione non trovata.</p>".to_owned())).into_response();
    }
    let (done, target) = match form.action.as_str() {
        "pay" => (s.mark_paid(&fc, &iud), form.ok),
        "cancel" => (true, form.cancel),
        _ => {
            return (StatusCode::BAD_REQUEST, Html("<p>Azione sconosciuta.</p>".to_owned())).into_response();
        }
    };
    match target {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Redirect::to(&url).into_response(),
        _ => Html(format!(
            "<!doctype html><title>Esito</title><p id=\"outcome\">{}</p>",
            if done { "Operazione eseguita." } else { "Operazione non possibile." }
        ))
        .into_response(),
    }
}
