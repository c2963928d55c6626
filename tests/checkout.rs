//! The pagoPA Checkout client against a strict fake of carts v2: a valid cart becomes the URL to
//! send the citizen to, with the request exactly what the OpenAPI document describes; carts
//! that break pagoPA's rules are refused before anything is sent; pagoPA's refusals and outages
//! come back told apart.

#![expect(clippy::unwrap_used, reason = "tests")]

use cassa::checkout::{Cart, CheckoutClient, CheckoutConfig, CheckoutError, Notice, ReturnUrls};
use cassa_fakes::Running;
use cassa_fakes::checkout::{BASE, Checkout, Outcome};

const KEY: &str = "checkout-subscription-key";

async fn fake() -> Running<Checkout> {
    cassa_fakes::serve(Checkout::new(KEY).unwrap(), ([127, 0, 0, 1], 0).into()).await.unwrap()
}

fn client(running: &Running<Checkout>, key: &str) -> CheckoutClient {
    let config = CheckoutConfig {
        base_url: format!("{}{BASE}", running.base_url),
        subscription_key: key.into(),
        timeout_ms: 5_000,
    };
    CheckoutClient::new(config).unwrap()
}

fn notice(number: &str, fiscal_code: &str) -> Notice {
    Notice {
        notice_number: number.into(),
        fiscal_code: fiscal_code.into(),
        amount: 1600,
        company_name: "Comune di Bugliano".into(),
        description: "Diritti di segreteria".into(),
    }
}

fn cart(notices: Vec<Notice>) -> Cart {
    let url = |o: &str| format!("https://cassa.example/checkout/c1/{o}");
    Cart {
        payment_notices: notices,
        return_urls: ReturnUrls { ok: url("ok"), cancel: url("cancel"), error: url("error"), waiting: url("waiting") },
        email_notice: Some("vittorino@example.org".into()),
        id_cart: Some("c1".into()),
    }
}

#[tokio::test]
async fn a_cart_of_two_creditors_becomes_the_url_of_its_checkout_page() {
    let running = fake().await;
    let two = cart(vec![notice("301000000000123468", "80001234568"), notice("347164993070184562", "77777777777")]);
    let location = client(&running, KEY).create_cart(&two).await.unwrap();
    assert!(location.starts_with(&format!("{}/c/", running.base_url)), "{location}");
    assert!(location.ends_with("?clientId=CHECKOUT_CART"));
    // The fake holds the cart as sent; its page pays it and sends the browser back.
    let carts = running.fake.carts();
    let (id, stored) = carts.iter().next().unwrap();
    assert_eq!(stored.request["paymentNotices"].as_array().unwrap().len(), 2);
    assert_eq!(stored.request["idCart"], "c1");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(&location).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<button name=\"action\" value=\"pay\">"), "{page}");
    let back = browser.post(format!("{}/c/{id}", running.base_url)).form(&[("action", "pay")]).send().await.unwrap();
    assert_eq!(back.status(), 302);
    assert_eq!(back.headers()["location"], "https://cassa.example/checkout/c1/ok");
    assert_eq!(running.fake.cart(id).unwrap().outcome, Outcome::Paid);
}

#[tokio::test]
async fn carts_that_break_pagopa_rules_are_refused_before_anything_is_sent() {
    let running = fake().await;
    let client = client(&running, KEY);
    for bad in [
        cart(vec![]),
        cart(vec![notice("301000000000123468", "80001234568"); 6]),
        cart(vec![notice("301000000000123468", "80001234568"), notice("301000000000123468", "80001234568")]),
        cart(vec![notice("302012387654312384", "80001234568")]),
    ] {
        assert!(matches!(client.create_cart(&bad).await, Err(CheckoutError::Invalid(_))));
    }
    assert!(running.requests().is_empty());
}

#[tokio::test]
async fn pagopa_refusals_and_outages_are_told_apart() {
    let running = fake().await;
    let one = cart(vec![notice("301000000000123468", "80001234568")]);
    let refused = client(&running, "wrong-key").create_cart(&one).await.unwrap_err();
    assert!(matches!(refused, CheckoutError::Refused { status: 401, .. }), "{refused}");
    running.fail(503, 1);
    let down = client(&running, KEY).create_cart(&one).await.unwrap_err();
    assert!(matches!(down, CheckoutError::Unavailable(_)), "{down}");
    // A malformed e-mail: refused by cassa before sending, and by the fake as pagoPA would.
    let mut bad_mail = one.clone();
    bad_mail.email_notice = Some("not an e-mail".into());
    assert!(matches!(client(&running, KEY).create_cart(&bad_mail).await, Err(CheckoutError::Invalid(_))));
    let raw = serde_json::to_value(&bad_mail).unwrap();
    let reply = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{BASE}/carts", running.base_url))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .json(&raw)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    // A notice number with wrong check digits sent anyway: the service's 422.
    let mut wrong = raw.clone();
    wrong["emailNotice"] = serde_json::json!("vittorino@example.org");
    wrong["paymentNotices"][0]["noticeNumber"] = serde_json::json!("302012387654312384");
    let reply = reqwest::Client::new()
        .post(format!("{}{BASE}/carts", running.base_url))
        .header("Ocp-Apim-Subscription-Key", KEY)
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 422);
    assert!(running.fake.carts().is_empty());
}
