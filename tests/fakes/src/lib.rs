//! Strict fakes of the payment intermediaries cassa's connectors speak to, each built from the
//! intermediary's official interface definition (`tests/specs/`): a fake refuses what the real
//! service refuses — undescribed paths, missing or mistyped fields, wrong check digits, bad
//! credentials — and keeps state (create → unpaid → paid through a test hook → receipt).
//!
//! Every fake serves, besides the intermediary's own API, the **test-kit protocol** under
//! `/_fake/`, which `cassa connector test --against <URL>` and the test suites drive:
//!
//! | request | reply |
//! |---|---|
//! | `GET /_fake/conformance` | `{name, tenant_config, service_config}`: a working configuration for a connector |
//! | `POST /_fake/pay` `{iud, iuv, notice_code}` | 204 once the position is paid as a citizen would; 404 unknown |
//! | `GET /_fake/positions?iud=…` | `{iud, positions}`: how many debt positions the fake holds for that IUD |
//! | `GET /_fake/requests` | every request received on the intermediary's API, in order |
//! | `DELETE /_fake/requests` | forgets them |
//! | `POST /_fake/fail` `{status, times}` | the next `times` API requests get `status` (an outage, a refusal) |

pub mod checkout;
pub mod govpay;
pub mod gpd;
pub mod iris;
pub mod mypay;
pub mod openapi;
pub mod xsd;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request the fake received on the intermediary's API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    /// Headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// Body as text (the APIs faked here are JSON and XML).
    pub body: String,
}

impl Recorded {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The reply to a request on the intermediary's API.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
    /// `Location`, for a redirect.
    pub location: Option<String>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::bytes(status, "application/json", body.to_string().into_bytes())
    }

    /// A reply of any type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self { status, content_type: content_type.into(), body, location: None }
    }

    /// A `302` to `location`.
    pub fn redirect(location: &str) -> Self {
        Self { location: Some(location.to_owned()), ..Self::bytes(302, "text/plain", Vec::new()) }
    }
}

/// A debt position as the test-kit protocol names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DebtRef {
    /// The creditor's id of the debt.
    pub iud: String,
    /// The IUV.
    pub iuv: String,
    /// The notice code.
    pub notice_code: String,
}

/// A configuration that makes a connector work against the fake.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conformance {
    /// A short name for reports.
    pub name: String,
    /// The tenant configuration, secrets in clear.
    pub tenant_config: Value,
    /// The service configuration.
    pub service_config: Value,
}

/// What a fake intermediary does; [`serve`] adds the HTTP plumbing and the test-kit protocol.
pub trait Intermediary: Send + Sync + 'static {
    /// A working configuration for a connector, the fake being at `base_url`.
    fn conformance(&self, base_url: &str) -> Conformance;
    /// Answers one request on the intermediary's API.
    fn handle(&self, request: &Recorded) -> Reply;
    /// Pays a debt position as a citizen would; `Err` when the fake does not know it.
    fn pay(&self, debt: &DebtRef) -> Result<(), String>;
    /// How many debt positions the fake holds for `iud`.
    fn positions_for(&self, iud: &str) -> usize;
}

/// A fake listening on a loopback port.
pub struct Running<F> {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The fake, with its state.
    pub fake: Arc<F>,
    journal: Arc<Mutex<Vec<Recorded>>>,
    failures: Arc<Mutex<Option<(u16, u32)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<F> Running<F> {
    /// Every request received on the intermediary's API so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// Answers the next `times` requests on the intermediary's API with `status`.
    pub fn fail(&self, status: u16, times: u32) {
        if let Ok(mut failures) = self.failures.lock() {
            *failures = (times > 0).then_some((status, times));
        }
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        if let Ok(mut journal) = self.journal.lock() {
            journal.clear();
        }
    }
}

impl<F> Drop for Running<F> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared<F> {
    fake: Arc<F>,
    journal: Arc<Mutex<Vec<Recorded>>>,
    base_url: String,
    /// Injected failures: the status and how many requests still get it.
    failures: Arc<Mutex<Option<(u16, u32)>>>,
}

impl<F> Clone for Shared<F> {
    fn clone(&self) -> Self {
        Self {
            fake: self.fake.clone(),
            journal: self.journal.clone(),
            base_url: self.base_url.clone(),
            failures: self.failures.clone(),
        }
    }
}

/// The body of `POST /_fake/fail`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Failure {
    /// The status to answer with.
    pub status: u16,
    /// For how many requests.
    pub times: u32,
}

/// Serves `fake` on `addr` (port 0 for a free one).
pub async fn serve<F: Intermediary>(fake: F, addr: SocketAddr) -> anyhow::Result<Running<F>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base_url = format!("http://{local}");
    let fake = Arc::new(fake);
    let journal = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(None));
    let shared =
        Shared { fake: fake.clone(), journal: journal.clone(), base_url: base_url.clone(), failures: failures.clone() };
    let app = Router::new()
        .route("/_fake/conformance", get(conformance::<F>))
        .route("/_fake/pay", axum::routing::post(pay::<F>))
        .route("/_fake/positions", get(positions::<F>))
        .route("/_fake/requests", get(requests::<F>).delete(clear::<F>))
        .route("/_fake/fail", axum::routing::post(fail::<F>))
        .fallback(intermediary::<F>)
        .with_state(shared);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "fake intermediary stopped");
        }
    });
    Ok(Running { base_url, fake, journal, failures, task })
}

async fn conformance<F: Intermediary>(State(s): State<Shared<F>>) -> Response {
    axum::Json(s.fake.conformance(&s.base_url)).into_response()
}

async fn pay<F: Intermediary>(State(s): State<Shared<F>>, axum::Json(debt): axum::Json<DebtRef>) -> Response {
    match s.fake.pay(&debt) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(why) => (StatusCode::NOT_FOUND, why).into_response(),
    }
}

#[derive(Deserialize)]
struct IudQuery {
    iud: String,
}

async fn positions<F: Intermediary>(State(s): State<Shared<F>>, Query(q): Query<IudQuery>) -> Response {
    axum::Json(serde_json::json!({"iud": q.iud, "positions": s.fake.positions_for(&q.iud)})).into_response()
}

async fn requests<F: Intermediary>(State(s): State<Shared<F>>) -> Response {
    let journal = s.journal.lock().map(|j| j.clone()).unwrap_or_default();
    axum::Json(journal).into_response()
}

async fn clear<F: Intermediary>(State(s): State<Shared<F>>) -> StatusCode {
    if let Ok(mut journal) = s.journal.lock() {
        journal.clear();
    }
    StatusCode::NO_CONTENT
}

async fn fail<F: Intermediary>(State(s): State<Shared<F>>, axum::Json(failure): axum::Json<Failure>) -> StatusCode {
    if let Ok(mut failures) = s.failures.lock() {
        *failures = (failure.times > 0).then_some((failure.status, failure.times));
    }
    StatusCode::NO_CONTENT
}

/// Takes one injected failure, if any is left.
fn injected<F>(s: &Shared<F>) -> Option<u16> {
    let mut failures = s.failures.lock().ok()?;
    let (status, times) = (*failures)?;
    *failures = (times > 1).then_some((status, times - 1));
    Some(status)
}

async fn intermediary<F: Intermediary>(
    State(s): State<Shared<F>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Ok(mut journal) = s.journal.lock() {
        journal.push(request.clone());
    }
    let reply = match injected(&s) {
        Some(status) => Reply::json(status, &serde_json::json!({"status": status, "title": "injected failure"})),
        None => s.fake.handle(&request),
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(axum::http::header::CONTENT_TYPE, reply.content_type)], reply.body).into_response();
    if let Some(location) = reply.location.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(axum::http::header::LOCATION, location);
    }
    response
}

/// The value of query parameter `name` in a raw query string (no percent-decoding beyond `+`;
/// the values the fakes read are plain).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.replace('+', " "))
}
