//! The citizen's side in a real browser: headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` over WebDriver) opens the page of two dues of two municipalities on two
//! intermediaries, pays both in one pagoPA Checkout cart on the fake Checkout, comes back and
//! sees both paid; a second run cancels and sees both payable again. Screenshots of the payment
//! page and of each result page are written to `target/test-artifacts/browser/`.
//!
//! `.ci/run` installs Chromium and ChromeDriver; elsewhere the test says plainly that they are
//! missing and passes without running, except in CI, where that is a failure.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cassa_tests::checkout_host::CheckoutHost;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use uuid::Uuid;

const CHROMIUM: &str = "/usr/bin/chromium";

/// `chromedriver` on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_driver() -> Option<PathBuf> {
    let named = std::env::var_os("CASSA_CHROMEDRIVER").map(PathBuf::from);
    let candidates = named.into_iter().chain(["/usr/bin/chromedriver".into(), "/usr/lib/chromium/chromedriver".into()]);
    candidates.into_iter().find(|p: &PathBuf| p.exists())
}

/// The driver, or `None` (said plainly; a failure in CI) when Chromium is not installed.
async fn driver() -> Option<Driver> {
    let found = find_driver().filter(|_| Path::new(CHROMIUM).exists());
    let Some(binary) = found else {
        let why = "Chromium or ChromeDriver is not installed (apt-get install chromium chromium-driver; .ci/run does)";
        assert!(std::env::var_os("CI").is_none(), "{why}: the browser test must run in CI");
        eprintln!("SKIPPED: {why}");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(Driver { child, url: format!("http://127.0.0.1:{port}") })
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
            "--disable-gpu", "--window-size=1280,1000", "--lang=it-IT"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a Chromium session")
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = artifacts().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// Waits until the browser's page contains `text`.
async fn wait_text(client: &Client, text: &str) -> String {
    let started = Instant::now();
    loop {
        let source = client.source().await.unwrap();
        if source.contains(text) {
            return source;
        }
        let url = client.current_url().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(30), "`{text}` never appeared at {url}: {source}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn id(payment: &Value) -> Uuid {
    payment["id"].as_str().unwrap().parse().unwrap()
}

/// Every visible control of the page has a label, the page declares its language, and the
/// main content has a level-one heading.
async fn assert_accessible_basics(client: &Client) {
    let report = client
        .execute(
            "const unlabeled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
               .filter(e => e.labels.length === 0).map(e => e.name);\
             return {lang: document.documentElement.lang, unlabeled,\
               h1: document.querySelectorAll('main h1').length,\
               buttons: [...document.querySelectorAll('button')].map(b => b.textContent.trim())};",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(report["lang"], "it");
    assert_eq!(report["unlabeled"], json!([]), "every control has a label");
    assert_eq!(report["h1"], 1);
    assert!(report["buttons"].as_array().unwrap().iter().all(|b| !b.as_str().unwrap().is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_pays_two_dues_of_two_municipalities_in_one_cart_then_cancels_another() {
    let Some(driver) = driver().await else { return };
    let host = CheckoutHost::start(true).await;
    let client = browser(&driver).await;

    // Run 1: pay both.
    let a = host.pending_payment(0, "Diritti di segreteria").await;
    let b = host.pending_payment(1, "Mensa scolastica, ottobre").await;
    client.goto(&host.page_url(&[id(&a), id(&b)]).await).await.unwrap();
    wait_text(&client, "Paga online con pagoPA").await;
    assert_accessible_basics(&client).await;
    screenshot(&client, "payment-page.png").await;
    // The payer's e-mail is filled in; by keyboard, the citizen types another and presses Enter.
    let email = client.find(Locator::Id("email_notice")).await.unwrap();
    assert_eq!(email.prop("value").await.unwrap().as_deref(), Some("vittorino.coliandro@example.org"));
    email.clear().await.unwrap();
    email.send_keys("vittorino@example.org\u{E007}").await.unwrap();
    wait_text(&client, "pagoPA Checkout (fake)").await;
    client.find(Locator::Css("button[value=pay]")).await.unwrap().click().await.unwrap();
    let result = wait_text(&client, "Pagamento eseguito").await;
    assert!(result.contains("Scarica la ricevuta"));
    screenshot(&client, "result-paid.png").await;
    for payment in [&a, &b] {
        assert_eq!(host.payment(id(payment)).await["status"], "COMPLETE");
    }
    let carts = host.checkout.fake.carts();
    assert_eq!(carts.len(), 1);
    let cart = carts.values().next().unwrap();
    assert_eq!(cart.request["paymentNotices"].as_array().unwrap().len(), 2);
    assert_eq!(cart.request["emailNotice"], "vittorino@example.org");

    // Run 2: two new dues, cancelled at Checkout.
    let c = host.pending_payment(0, "Occupazione suolo pubblico").await;
    let d = host.pending_payment(1, "Trasporto scolastico").await;
    client.goto(&host.page_url(&[id(&c), id(&d)]).await).await.unwrap();
    wait_text(&client, "Paga online con pagoPA").await;
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_text(&client, "pagoPA Checkout (fake)").await;
    client.find(Locator::Css("button[value=cancel]")).await.unwrap().click().await.unwrap();
    let result = wait_text(&client, "Pagamento annullato").await;
    assert!(result.contains("Torna al pagamento"));
    screenshot(&client, "result-cancelled.png").await;
    for payment in [&c, &d] {
        assert_eq!(host.payment(id(payment)).await["status"], "PAYMENT_PENDING");
    }
    // "Back to the payment" leads to the page of both dues, payable again.
    client.find(Locator::LinkText("Torna al pagamento")).await.unwrap().click().await.unwrap();
    let page = wait_text(&client, "Paga online con pagoPA").await;
    assert_eq!(page.matches("name=\"payment\"").count(), 2);
    client.close().await.unwrap();
}
