//! A fake of pagoPA Checkout, carts v2 (`tests/specs/pagopa/checkout_v2.json`), under
//! `/checkout/ec/v2`, with the citizen's side at `/c/{cartId}`.
//!
//! `POST /checkout/ec/v2/carts` passes, in order: the subscription key (header
//! `Ocp-Apim-Subscription-Key` or query `subscription-key`, else 401), the OpenAPI document
//! (else 400 `ProblemJson` naming every violation), then the service's rules the document does
//! not state (422 as pagoPA's service answers): no notice twice in a cart, notice numbers with
//! valid check digits. It answers `302` with `Location: {base}/c/{cartId}?clientId=CHECKOUT_CART`.
//! `GET /c/{cartId}` is the page where a test "pays" or cancels; `POST /c/{cartId}` with
//! `action=pay|cancel` records the outcome and redirects to the cart's matching return URL.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::openapi::{Spec, Unrouted};
use crate::{Conformance, DebtRef, Intermediary, Recorded, Reply, query_param};

/// `tests/specs/pagopa/checkout_v2.json`.
pub const CHECKOUT_SPEC: &str = include_str!("../../specs/pagopa/checkout_v2.json");

/// Where carts v2 is served.
pub const BASE: &str = "/checkout/ec/v2";

/// What became of a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The citizen has not acted yet.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Cancelled,
    /// The payment failed at a creditor's intermediary.
    Failed,
}

/// A cart the fake received.
#[derive(Debug, Clone)]
pub struct StoredCart {
    /// The request body.
    pub request: Value,
    /// What the citizen did.
    pub outcome: Outcome,
}

/// What happens at the creditors' intermediaries when the citizen pays a cart: pagoPA's Node
/// tells each one (`paSendRT`). A test wires it to its intermediary fakes; an error sends the
/// citizen to the cart's error URL, as a failed payment would.
pub type PayHook = Box<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

/// The fake Checkout.
pub struct Checkout {
    subscription_key: String,
    spec: Spec,
    carts: Mutex<BTreeMap<String, StoredCart>>,
    on_pay: Mutex<Option<PayHook>>,
}

fn problem(status: u16, title: &str, detail: impl Into<String>) -> Reply {
    Reply::json(status, &json!({"title": title, "status": status, "detail": detail.into()}))
}

impl Checkout {
    /// A fake expecting `subscription_key`.
    pub fn new(subscription_key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            subscription_key: subscription_key.to_owned(),
            spec: Spec::from_json(CHECKOUT_SPEC, BASE)?,
            carts: Mutex::new(BTreeMap::new()),
            on_pay: Mutex::new(None),
        })
    }

    /// Calls `hook` with each paid cart's notices (`paymentNotices`) before sending the citizen
    /// back.
    pub fn on_pay(&self, hook: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static) {
        if let Ok(mut slot) = self.on_pay.lock() {
            *slot = Some(Box::new(hook));
        }
    }

    /// The cart `id`.
    pub fn cart(&self, id: &str) -> Option<StoredCart> {
        self.carts.lock().ok()?.get(id).cloned()
    }

    /// Every cart, by id.
    pub fn carts(&self) -> BTreeMap<String, StoredCart> {
        self.carts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn post_cart(&self, request: &Recorded, base_url: &str) -> Reply {
        let key_ok = request.header("ocp-apim-subscription-key") == Some(self.subscription_key.as_str())
            || query_param(&request.query, "subscription-key").as_deref() == Some(self.subscription_key.as_str());
        if !key_ok {
            return Reply::json(
                401,
                &json!({"statusCode": 401, "message": "Access denied due to missing or invalid subscription key."}),
            );
        }
        let judged = match self.spec.judge(
            &request.method,
            &request.path,
            &request.query,
            &request.headers,
            request.body.as_bytes(),
        ) {
            Ok(judged) => judged,
            Err(Unrouted::NotFound(why)) => return problem(404, "Not Found", why),
            Err(Unrouted::MethodNotAllowed(why)) => return problem(405, "Method Not Allowed", why),
        };
        if !judged.violations.is_empty() {
            return problem(400, "Bad Request", judged.violations.join("; "));
        }
        let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
        // `format: email`, which the validator leaves unchecked.
        if let Some(email) = body["emailNotice"].as_str() {
            let ok = email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
                && !email.contains(char::is_whitespace);
            if !ok {
                return problem(400, "Bad Request", format!("body at /emailNotice: `{email}` is not an email"));
            }
        }
        let notices = body["paymentNotices"].as_array().cloned().unwrap_or_default();
        let mut seen = Vec::new();
        for notice in &notices {
            let number = notice["noticeNumber"].as_str().unwrap_or_default();
            let key = (number.to_owned(), notice["fiscalCode"].as_str().unwrap_or_default().to_owned());
            if seen.contains(&key) {
                return problem(422, "Unprocessable Entity", "Duplicate payment notice values found.");
            }
            seen.push(key);
            if cassa_sdk::iuv::parse_notice_code(number).is_err() {
                return problem(422, "Unprocessable Entity", format!("Invalid payment notice data: {number}"));
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut carts) = self.carts.lock() {
            carts.insert(id.clone(), StoredCart { request: body, outcome: Outcome::Open });
        }
        Reply::redirect(&format!("{base_url}/c/{id}?clientId=CHECKOUT_CART"))
    }

    fn page(&self, request: &Recorded, id: &str) -> Reply {
        let Ok(mut carts) = self.carts.lock() else { return problem(500, "Internal", "lock") };
        let Some(cart) = carts.get_mut(id) else {
            return Reply::bytes(404, "text/html", b"<p>cart not found</p>".to_vec());
        };
        if request.method == "GET" {
            let html = format!(
                "<!doctype html><html lang=\"it\"><head><title>pagoPA Checkout (fake)</title></head><body>\
                 <h1>Carrello {id}</h1><p>{} avvisi</p>\
                 <form method=\"post\"><button name=\"action\" value=\"pay\">Paga</button>\
                 <button name=\"action\" value=\"cancel\">Annulla</button></form></body></html>",
                cart.request["paymentNotices"].as_array().map_or(0, Vec::len)
            );
            return Reply::bytes(200, "text/html; charset=utf-8", html.into_bytes());
        }
        let action = request.body.split('&').find_map(|p| p.strip_prefix("action=")).unwrap_or_default();
        let (mut outcome, mut url) = match action {
            "pay" => (Outcome::Paid, "returnOkUrl"),
            "cancel" => (Outcome::Cancelled, "returnCancelUrl"),
            _ => return Reply::bytes(400, "text/plain", b"action must be pay or cancel".to_vec()),
        };
        if outcome == Outcome::Paid
            && let Ok(hook) = self.on_pay.lock()
            && let Some(hook) = hook.as_ref()
            && let Err(why) = hook(&cart.request["paymentNotices"])
        {
            eprintln!("fake Checkout: cart {id} could not be paid: {why}");
            (outcome, url) = (Outcome::Failed, "returnErrorUrl");
        }
        cart.outcome = outcome;
        Reply::redirect(cart.request["returnUrls"][url].as_str().unwrap_or_default())
    }
}

impl Intermediary for Checkout {
    fn conformance(&self, base_url: &str) -> Conformance {
        Conformance {
            name: format!("pagoPA Checkout fake at {base_url}"),
            tenant_config: json!({"base_url": format!("{base_url}{BASE}"), "subscription_key": self.subscription_key}),
            service_config: json!({}),
        }
    }

    fn handle(&self, request: &Recorded) -> Reply {
        let base_url = request.header("host").map(|h| format!("http://{h}")).unwrap_or_default();
        if let Some(id) = request.path.strip_prefix("/c/") {
            return self.page(request, id);
        }
        if self.spec.serves(&request.path) {
            return self.post_cart(request, &base_url);
        }
        Reply::bytes(404, "text/plain", b"Not Found".to_vec())
    }

    fn pay(&self, _debt: &DebtRef) -> Result<(), String> {
        Err("Checkout is paid through its page, not the test hook".into())
    }

    fn positions_for(&self, _iud: &str) -> usize {
        0
    }
}
