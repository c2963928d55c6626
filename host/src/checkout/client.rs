//! The client of pagoPA Checkout, carts v2 (`tests/specs/pagopa/checkout_v2.json`, GATEWAYS.md §2): one cart
//! of 1–5 payment notices, possibly of different creditors, becomes a Checkout session; pagoPA
//! answers `302` with the URL to send the citizen to, which this client reads and never follows.
//!
//! A cart is checked before it is sent ([`validate`]): 1 to 5 notices, no notice twice, notice
//! numbers with valid check digits, 11-digit creditor fiscal codes, amounts of at least one
//! cent, names and descriptions within 140 characters. pagoPA's own refusals (400, and the 422
//! its service sends for duplicates or a position the Node rejects) come back as
//! [`CheckoutError::Refused`] with pagoPA's detail; 5xx and timeouts as
//! [`CheckoutError::Unavailable`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::domain::cart::{MAX_NOTICES, Notice};

/// Where pagoPA Checkout is and how to reach it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutConfig {
    /// Base URL of carts v2 (production `https://api.platform.pagopa.it/checkout/ec/v2`).
    pub base_url: String,
    /// The `Ocp-Apim-Subscription-Key` (a secret).
    pub subscription_key: String,
    /// Time-out of one request in milliseconds.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for CheckoutConfig {
    /// The subscription key is a secret: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutConfig")
            .field("base_url", &self.base_url)
            .field("subscription_key", &"***")
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.platform.pagopa.it/checkout/ec/v2".into(),
            subscription_key: String::new(),
            timeout_ms: 10_000,
        }
    }
}

/// Where Checkout sends the citizen back to (`returnUrls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnUrls {
    /// After a payment.
    #[serde(rename = "returnOkUrl")]
    pub ok: String,
    /// After the citizen gave up.
    #[serde(rename = "returnCancelUrl")]
    pub cancel: String,
    /// After an error.
    #[serde(rename = "returnErrorUrl")]
    pub error: String,
    /// While the outcome is not known yet.
    #[serde(rename = "returnWaitingUrl")]
    pub waiting: String,
}

/// A cart (`CartRequestV2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    /// 1 to 5 notices.
    pub payment_notices: Vec<Notice>,
    /// The return URLs.
    pub return_urls: ReturnUrls,
    /// Where pagoPA mails the receipt, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_notice: Option<String>,
    /// cassa's id of the cart (the creditor sees it as `paymentNote`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_cart: Option<String>,
}

/// Why a cart did not become a Checkout session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// The cart breaks a rule of pagoPA's; nothing was sent.
    #[error("the cart is not valid: {0}")]
    Invalid(String),
    /// pagoPA refused the cart.
    #[error("pagoPA Checkout refused the cart (HTTP {status}): {detail}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// pagoPA's explanation.
        detail: String,
    },
    /// pagoPA could not be reached or failed; trying again later may work.
    #[error("pagoPA Checkout is unavailable: {0}")]
    Unavailable(String),
    /// pagoPA answered something that is not a redirect to the payment page.
    #[error("pagoPA Checkout answered unexpectedly: {0}")]
    Protocol(String),
}

/// Checks `cart` against pagoPA's rules; the reasons, all of them, in one message.
pub fn validate(cart: &Cart) -> Result<(), CheckoutError> {
    let mut problems = Vec::new();
    let count = cart.payment_notices.len();
    if !(1..=MAX_NOTICES).contains(&count) {
        problems.push(format!("a cart holds 1 to {MAX_NOTICES} notices, not {count}"));
    }
    for (i, notice) in cart.payment_notices.iter().enumerate() {
        if let Err(e) = cassa_sdk::iuv::parse_notice_code(&notice.notice_number) {
            problems.push(format!("notice {}: number {}: {e}", i + 1, notice.notice_number));
        }
        if notice.fiscal_code.len() != 11 || !notice.fiscal_code.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(format!("notice {}: creditor fiscal code `{}` is not 11 digits", i + 1, notice.fiscal_code));
        }
        if notice.amount == 0 {
            problems.push(format!("notice {}: the amount must be at least one cent", i + 1));
        }
        for (what, text) in [("company name", &notice.company_name), ("description", &notice.description)] {
            if text.chars().count() > 140 {
                problems.push(format!("notice {}: the {what} exceeds 140 characters", i + 1));
            }
        }
        let first = cart
            .payment_notices
            .iter()
            .position(|n| n.notice_number == notice.notice_number && n.fiscal_code == notice.fiscal_code);
        if first != Some(i) {
            problems.push(format!("notice {}: {} is in the cart twice", i + 1, notice.notice_number));
        }
    }
    if let Some(email) = &cart.email_notice
        && !looks_like_email(email)
    {
        problems.push(format!("`{email}` is not an e-mail address"));
    }
    if problems.is_empty() { Ok(()) } else { Err(CheckoutError::Invalid(problems.join("; "))) }
}

/// `local@domain.tld`, without blanks: what pagoPA's `format: email` takes.
pub fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.contains(char::is_whitespace)
        && !domain.contains('@')
}

/// A client of carts v2.
#[derive(Clone)]
pub struct CheckoutClient {
    http: reqwest::Client,
    config: CheckoutConfig,
}

impl CheckoutClient {
    /// A client for `config`; it never follows redirects.
    pub fn new(config: CheckoutConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(config.timeout_ms))
            .user_agent(concat!("cassa/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, config })
    }

    /// Opens a Checkout session for `cart` and returns the URL to send the citizen to.
    pub async fn create_cart(&self, cart: &Cart) -> Result<String, CheckoutError> {
        validate(cart)?;
        let url = format!("{}/carts", self.config.base_url.trim_end_matches('/'));
        let reply = self
            .http
            .post(&url)
            .header("Ocp-Apim-Subscription-Key", &self.config.subscription_key)
            .json(cart)
            .send()
            .await
            .map_err(|e| CheckoutError::Unavailable(e.to_string()))?;
        let status = reply.status().as_u16();
        match status {
            302 | 303 => {
                let location = reply
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| CheckoutError::Protocol(format!("HTTP {status} without a Location")))?;
                match url::Url::parse(location) {
                    Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => Ok(location.to_owned()),
                    _ => Err(CheckoutError::Protocol(format!("Location `{location}` is not an http(s) URL"))),
                }
            }
            408 | 429 | 500..=599 => Err(CheckoutError::Unavailable(format!("HTTP {status}: {}", detail(reply).await))),
            400..=499 => Err(CheckoutError::Refused { status, detail: detail(reply).await }),
            _ => Err(CheckoutError::Protocol(format!("HTTP {status}: {}", detail(reply).await))),
        }
    }
}

/// pagoPA's explanation: the `ProblemJson` detail (or title) when there is one, else the body.
async fn detail(reply: reqwest::Response) -> String {
    let text = reply.text().await.unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(problem) => problem["detail"]
            .as_str()
            .or_else(|| problem["title"].as_str())
            .map_or_else(|| text.chars().take(300).collect(), str::to_owned),
        Err(_) => text.chars().take(300).collect(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn notice(number: &str) -> Notice {
        Notice {
            notice_number: number.into(),
            fiscal_code: "80001234568".into(),
            amount: 1600,
            company_name: "Comune di Bugliano".into(),
            description: "Diritti di segreteria".into(),
        }
    }

    fn cart(notices: Vec<Notice>) -> Cart {
        let url = |o: &str| format!("https://cassa.example/checkout/c1/{o}");
        Cart {
            payment_notices: notices,
            return_urls: ReturnUrls {
                ok: url("ok"),
                cancel: url("cancel"),
                error: url("error"),
                waiting: url("waiting"),
            },
            email_notice: None,
            id_cart: Some("c1".into()),
        }
    }

    #[test]
    fn a_cart_is_checked_against_pagopa_rules_before_it_is_sent() {
        validate(&cart(vec![notice("301000000000123468"), notice("347164993070184562")])).unwrap();
        let reasons = |c: &Cart| match validate(c) {
            Err(CheckoutError::Invalid(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(reasons(&cart(vec![])).contains("1 to 5"));
        assert!(reasons(&cart(vec![notice("301000000000123468"); 6])).contains("1 to 5"));
        assert!(reasons(&cart(vec![notice("301000000000123468"), notice("301000000000123468")])).contains("twice"));
        // The public spec's own example number fails its check digits.
        assert!(reasons(&cart(vec![notice("302012387654312384")])).contains("302012387654312384"));
        let mut zero = notice("301000000000123468");
        zero.amount = 0;
        zero.fiscal_code = "123".into();
        let why = reasons(&cart(vec![zero]));
        assert!(why.contains("one cent") && why.contains("11 digits"), "{why}");
    }

    #[test]
    fn the_request_body_uses_pagopa_field_names() {
        let body = serde_json::to_value(cart(vec![notice("301000000000123468")])).unwrap();
        assert_eq!(body["paymentNotices"][0]["noticeNumber"], "301000000000123468");
        assert_eq!(body["returnUrls"]["returnWaitingUrl"], "https://cassa.example/checkout/c1/waiting");
        assert_eq!(body["idCart"], "c1");
        assert!(body.get("emailNotice").is_none());
    }
}
