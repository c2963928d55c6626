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

// ---------------------------------------------------------------------------------------------
// The host: POST /checkout, the return endpoints, the citizen's pages and every failure.
// ---------------------------------------------------------------------------------------------

mod host {
    use cassa_fakes::checkout::{BASE, CHECKOUT_SPEC, Outcome};
    use cassa_fakes::openapi::Spec;
    use cassa_tests::checkout_host::CheckoutHost;
    use serde_json::{Value, json};
    use uuid::Uuid;

    fn id(payment: &Value) -> Uuid {
        payment["id"].as_str().unwrap().parse().unwrap()
    }

    fn location(reply: &reqwest::Response) -> String {
        reply.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned()
    }

    /// Every carts request the host sent, judged again against `checkout_v2.json`.
    fn assert_every_cart_request_valid(host: &CheckoutHost) -> Vec<Value> {
        let spec = Spec::from_json(CHECKOUT_SPEC, BASE).unwrap();
        let mut carts = Vec::new();
        for request in host.checkout.requests().into_iter().filter(|r| r.path.ends_with("/carts")) {
            let judged = spec
                .judge(&request.method, &request.path, &request.query, &request.headers, request.body.as_bytes())
                .unwrap();
            assert_eq!(judged.violations, Vec::<String>::new(), "{}", request.body);
            carts.push(serde_json::from_str(&request.body).unwrap());
        }
        carts
    }

    /// Posts the payment page's form for `page` (its tokens) as the browser would.
    async fn post_form(host: &CheckoutHost, page: &str, email: &str) -> reqwest::Response {
        let tokens = page.rsplit('/').next().unwrap().split('.').map(|t| ("payment", t.to_owned()));
        let mut form: Vec<(&str, String)> = tokens.collect();
        form.push(("email_notice", email.into()));
        form.push(("lang", "it".into()));
        host.client.post(format!("{}/checkout", host.base)).form(&form).send().await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_dues_of_two_municipalities_paid_in_one_cart_are_both_complete_on_return() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let b = host.pending_payment(1, "Mensa scolastica").await;
        let page_url = host.page_url(&[id(&a), id(&b)]).await;

        let page = host.client.get(&page_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        for text in
            ["Diritti di segreteria", "Mensa scolastica", "Comune di Bugliano", "Comune di Prova", "Totale: 20,00"]
        {
            assert!(html.contains(text), "{text} missing from the page");
        }

        let reply = post_form(&host, &page_url, "vittorino@example.org").await;
        assert_eq!(reply.status(), 303);
        let checkout_page = location(&reply);
        assert!(checkout_page.starts_with(&format!("{}/c/", host.checkout.base_url)), "{checkout_page}");
        // One cart of two notices, each with its own creditor, sent as checkout_v2.json says.
        let carts = assert_every_cart_request_valid(&host);
        assert_eq!(carts.len(), 1);
        let notices = carts[0]["paymentNotices"].as_array().unwrap();
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0]["noticeNumber"], a["payment"]["notice_code"]);
        assert_eq!(
            (notices[0]["fiscalCode"].as_str(), notices[0]["amount"].as_u64()),
            (Some("80001234568"), Some(1000))
        );
        assert_eq!(notices[1]["fiscalCode"], "00000000001");
        assert_eq!(notices[1]["companyName"], "Comune di Prova");
        assert_eq!(notices[1]["description"], "Mensa scolastica");
        assert_eq!(carts[0]["emailNotice"], "vittorino@example.org");
        let cart_id = carts[0]["idCart"].as_str().unwrap().to_owned();
        assert_eq!(carts[0]["returnUrls"]["returnOkUrl"], format!("{}/checkout/{cart_id}/ok", host.base));
        for payment in [&a, &b] {
            assert_eq!(host.payment(id(payment)).await["status"], "PAYMENT_STARTED");
        }

        // The citizen pays on Checkout and comes back: both are checked at once and complete.
        let (cart_key, back) = host.act_at_checkout(&checkout_page, "pay").await;
        assert_eq!(back, format!("{}/checkout/{cart_id}/ok", host.base));
        assert_eq!(host.checkout.fake.cart(&cart_key).unwrap().outcome, Outcome::Paid);
        let landed = host.client.get(&back).send().await.unwrap();
        assert_eq!(landed.status(), 303);
        assert_eq!(location(&landed), format!("/checkout/{cart_id}?lang=it"));
        for payment in [&a, &b] {
            let now = host.payment(id(payment)).await;
            assert_eq!(now["status"], "COMPLETE", "checked on return, not left to the poller");
            assert!(now["payment"]["transaction_id"].is_string());
        }
        let result = host.client.get(format!("{}/checkout/{cart_id}", host.base)).send().await.unwrap();
        let html = result.text().await.unwrap();
        assert!(html.contains("Pagamento eseguito") && html.contains("Scarica la ricevuta"), "{html}");
        assert!(!html.contains("http-equiv=\"refresh\""));
        // The core hears of both, once each.
        cassa_tests::wait_for("two notifications", std::time::Duration::from_secs(30), || async {
            host.core.received().len() >= 2
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_cart_puts_both_payments_back_to_pending_with_the_reason() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let b = host.pending_payment(1, "Mensa scolastica").await;
        let page_url = host.page_url(&[id(&a), id(&b)]).await;
        let checkout_page = location(&post_form(&host, &page_url, "").await);
        let (_, back) = host.act_at_checkout(&checkout_page, "cancel").await;
        let cancel_url = back;
        assert!(cancel_url.ends_with("/cancel"), "{cancel_url}");
        host.client.get(&cancel_url).send().await.unwrap();
        for payment in [&a, &b] {
            assert_eq!(host.payment(id(payment)).await["status"], "PAYMENT_PENDING");
            let notes = host.history_notes(id(payment)).await;
            assert!(notes.iter().any(|n| n.ends_with("cancelled by the citizen")), "{notes:?}");
        }
        // The result page says so and offers the payment again; a late ok for the ended cart
        // changes nothing.
        let result_url = cancel_url.trim_end_matches("/cancel").to_owned();
        let html = host.client.get(format!("{result_url}?lang=en")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("<html lang=\"en\">") && html.contains("Payment cancelled"), "{html}");
        assert!(html.contains("href=\"/pay/"));
        host.client.get(format!("{result_url}/ok")).send().await.unwrap();
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_PENDING");
        // Nothing reached the core; no email was sent to pagoPA (the payer has none valid).
        assert!(host.core.received().is_empty());
        let carts = assert_every_cart_request_valid(&host);
        assert!(carts[0].get("emailNotice").is_none_or(|e| e.as_str().is_some_and(|e| e.contains('@'))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_return_shows_a_page_that_keeps_checking_until_the_payment_is_seen() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let (status, cart) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
        assert_eq!(status, 201, "{cart}");
        let result_url = cart["result_url"].as_str().unwrap().to_owned();
        let landed = host.client.get(format!("{result_url}/waiting")).send().await.unwrap();
        assert_eq!(landed.status(), 303);
        let html = host.client.get(&result_url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Pagamento in verifica") && html.contains("http-equiv=\"refresh\""), "{html}");
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_STARTED");
        // The Node's receipt reaches the intermediary; the page's next refresh sees it.
        let debt = cassa_fakes::DebtRef {
            iud: a["payment"]["iud"].as_str().unwrap().into(),
            iuv: a["payment"]["iuv"].as_str().unwrap().into(),
            notice_code: a["payment"]["notice_code"].as_str().unwrap().into(),
        };
        cassa_fakes::Intermediary::pay(host.gpd.fake.as_ref(), &debt).unwrap();
        // A view right after the last check does not check again (the page refreshes every
        // 10 s; a check happens at most every 3 s); the next one does.
        let html = host.client.get(&result_url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Pagamento in verifica"), "{html}");
        tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;
        let html = host.client.get(&result_url).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Pagamento eseguito") && !html.contains("http-equiv=\"refresh\""), "{html}");
        assert_eq!(host.payment(id(&a)).await["status"], "COMPLETE");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_that_fails_at_checkout_comes_back_through_the_error_url_payable_again() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let (_, cart) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
        // The fake's Node cannot settle the notice (no intermediary holds it for the fake): the
        // citizen is sent to the error URL.
        host.forget_notices();
        let checkout_page = cart["checkout_url"].as_str().unwrap();
        let (cart_key, back) = host.act_at_checkout(checkout_page, "pay").await;
        let error_url = back;
        assert!(error_url.ends_with("/error"), "{error_url}");
        assert_eq!(host.checkout.fake.cart(&cart_key).unwrap().outcome, Outcome::Failed);
        let page = host.client.get(&error_url).send().await.unwrap();
        let result = host.client.get(format!("{}{}", host.base, location(&page))).send().await.unwrap();
        let html = result.text().await.unwrap();
        assert!(html.contains("Pagamento non riuscito") && html.contains("Torna al pagamento"), "{html}");
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_PENDING");
        let notes = host.history_notes(id(&a)).await;
        assert!(notes.iter().any(|n| n.ends_with("Checkout reported an error")), "{notes:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_online_payment_link_followed_twice_sends_the_citizen_to_the_same_cart() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let link = a["links"]["online_payment_begin"]["url"].as_str().unwrap().to_owned();
        let first = location(&host.client.get(&link).send().await.unwrap());
        let second = location(&host.client.get(&link).send().await.unwrap());
        assert_eq!(first, second, "a scanner or a second click opens no second cart");
        assert_eq!(assert_every_cart_request_valid(&host).len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leaving_an_old_cart_does_not_undo_a_newer_one_holding_the_payment() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let (_, old) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
        let (status, newer) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
        assert_eq!(status, 201, "a started payment can go in a new cart: {newer}");
        // The old tab is cancelled: the payment stays started for the newer cart.
        host.client.get(format!("{}/cancel", old["result_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_STARTED");
        // Cancelling the newer one makes it payable again.
        host.client.get(format!("{}/cancel", newer["result_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_PENDING");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn online_payment_goes_through_checkout_for_intermediaries_without_a_portal() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let reply = host.client.get(a["links"]["online_payment_begin"]["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(reply.status(), 303);
        assert!(location(&reply).starts_with(&host.checkout.base_url));
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_STARTED");
        let carts = assert_every_cart_request_valid(&host);
        assert_eq!(carts[0]["paymentNotices"].as_array().unwrap().len(), 1);
        // A service cannot choose a portal its intermediary does not have, nor an unknown route.
        let service = host.municipalities[0].service;
        let (status, body) =
            host.send("PATCH", &format!("/services/{service}"), Some(json!({"online_payment": "intermediary"}))).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["fields"][0]["field"], "online_payment");
        let (status, _) =
            host.send("PATCH", &format!("/services/{service}"), Some(json!({"online_payment": "bancomat"}))).await;
        assert_eq!(status, 422);
        let (status, body) =
            host.send("PATCH", &format!("/services/{service}"), Some(json!({"online_payment": "checkout"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["online_payment"], "checkout");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn carts_of_the_wrong_shape_are_refused_before_pagopa_is_called() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let six: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": six}))).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("cart_shape")), "{body}");
        // An RFC 9457 problem with a stable type.
        assert_eq!(body["type"], "https://cassa.opencity.dev/problems/cart_shape");
        assert_eq!((body["status"].as_u64(), body["title"].as_str()), (Some(422), Some("Unprocessable Entity")));
        assert_eq!(body["detail"], body["message"]);
        let raw =
            host.client.post(format!("{}/checkout", host.base)).json(&json!({"payment_ids": []})).send().await.unwrap();
        assert_eq!(raw.headers()["content-type"], "application/problem+json");
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": []}))).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("cart_shape")));
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a), id(&a)]}))).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("cart_shape")));
        assert!(body["message"].as_str().unwrap().contains("twice"));
        let (status, body) =
            host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)], "email_notice": "not mail"}))).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("invalid")), "{body}");
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": "nope"}))).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
        assert!(host.checkout.requests().is_empty(), "nothing reached pagoPA");
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_PENDING");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_payments_and_forged_links_are_not_found() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": [Uuid::new_v4()]}))).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
        // The page of a payment opens only with its signed token, not with its id.
        let by_id = host.client.get(format!("{}/pay/{}", host.base, id(&a))).send().await.unwrap();
        assert_eq!(by_id.status(), 404);
        let html = by_id.text().await.unwrap();
        assert!(html.contains("il link non è valido") && html.contains("role=\"alert\""), "{html}");
        let good = host.page_url(&[id(&a)]).await;
        let mut forged = good.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(host.client.get(&forged).send().await.unwrap().status(), 404);
        assert_eq!(host.client.get(&good).send().await.unwrap().status(), 200);
        // A form with a forged token is a page, not a blank error.
        let reply = post_form(&host, &forged, "").await;
        assert_eq!(reply.status(), 404);
        assert!(reply.text().await.unwrap().contains("<html lang=\"it\">"));
        assert_eq!(host.client.get(format!("{}/checkout/no-such-cart", host.base)).send().await.unwrap().status(), 404);
        assert_eq!(
            host.client.get(format!("{}/checkout/no-such-cart/ok", host.base)).send().await.unwrap().status(),
            404
        );
        assert!(host.checkout.requests().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_already_paid_cannot_go_in_a_cart() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let b = host.pending_payment(1, "Mensa scolastica").await;
        let page_url = host.page_url(&[id(&a), id(&b)]).await;
        // Paid at the counter with the notice meanwhile.
        let debt = cassa_fakes::DebtRef {
            iud: a["payment"]["iud"].as_str().unwrap().into(),
            iuv: a["payment"]["iuv"].as_str().unwrap().into(),
            notice_code: a["payment"]["notice_code"].as_str().unwrap().into(),
        };
        cassa_fakes::Intermediary::pay(host.gpd.fake.as_ref(), &debt).unwrap();
        host.send("GET", &format!("/update/{}", id(&a)), None).await;
        host.wait_status(id(&a), "COMPLETE").await;
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a), id(&b)]}))).await;
        assert_eq!((status, body["error"].as_str()), (409, Some("not_payable")), "{body}");
        // The page now offers only the other due; a stale form says what happened.
        let html = host.client.get(&page_url).send().await.unwrap().text().await.unwrap();
        assert_eq!(html.matches("name=\"payment\"").count(), 1);
        assert!(html.contains("Pagato"));
        let stale = post_form(&host, &page_url, "").await;
        assert_eq!(stale.status(), 409);
        assert!(stale.text().await.unwrap().contains("è già stato pagato"));
        assert!(host.checkout.requests().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pagopa_refusals_and_outages_become_clear_errors_and_leave_payments_payable() {
        let host = CheckoutHost::start(true).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        for (fail, status, code) in
            [(400, 502, "checkout_refused"), (422, 502, "checkout_refused"), (503, 503, "checkout_unavailable")]
        {
            host.checkout.fail(fail, 1);
            let (got, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
            assert_eq!((got, body["error"].as_str()), (status, Some(code)), "pagoPA {fail}: {body}");
            assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_PENDING");
        }
        // The citizen sees a page in their language, with the way back.
        host.checkout.fail(500, 1);
        let page_url = host.page_url(&[id(&a)]).await;
        let reply = post_form(&host, &page_url, "").await;
        assert_eq!(reply.status(), 503);
        let html = reply.text().await.unwrap();
        assert!(html.contains("non è disponibile") && html.contains("href=\"/pay/"), "{html}");
        // Once pagoPA is back, the same payment goes through.
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
        assert_eq!(status, 201, "{body}");
        assert!(body["checkout_url"].as_str().unwrap().starts_with(&host.checkout.base_url));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_checkout_configured_online_payment_is_unavailable_not_an_error() {
        let host = CheckoutHost::start(false).await;
        let a = host.pending_payment(0, "Diritti di segreteria").await;
        let (status, body) = host.send("POST", "/checkout", Some(json!({"payment_ids": [id(&a)]}))).await;
        assert_eq!((status, body["error"].as_str()), (503, Some("checkout_unavailable")));
        let reply = host.client.get(a["links"]["online_payment_begin"]["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(reply.status(), 409);
        // The page still shows the due and its notice, without a pay button.
        let html = host.client.get(host.page_url(&[id(&a)]).await).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("<form") && html.contains("Scarica l&#39;avviso") || html.contains("Scarica l'avviso"));
        assert_eq!(host.payment(id(&a)).await["status"], "PAYMENT_PENDING");
    }
}
