//! A whole host (`cassa run`, built in-process on a free port) with pagoPA Checkout configured
//! against the strict Checkout fake, and two municipalities on two intermediaries: Bugliano on
//! pagoPA GPD, Prova on MyPay, each configured through the configuration API. When the citizen
//! pays a cart on the fake Checkout page, each creditor's intermediary fake is told, as pagoPA's
//! Node tells them (`paSendRT`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cassa::serve::Settings;
use cassa_fakes::checkout::{BASE, Checkout};
use cassa_fakes::gpd::{Gpd, GpdSettings};
use cassa_fakes::mypay::{Mypay, MypaySettings};
use cassa_fakes::{DebtRef, Intermediary, Running};
use serde_json::Value;
use uuid::Uuid;

/// The Checkout subscription key the host is given.
pub const CHECKOUT_KEY: &str = "checkout-key-of-the-test-host";

/// One municipality.
#[derive(Debug, Clone)]
pub struct Municipality {
    /// Tenant id.
    pub tenant: Uuid,
    /// Its one service.
    pub service: Uuid,
    /// Its name.
    pub name: &'static str,
    /// Its fiscal code.
    pub fiscal_code: &'static str,
}

/// Which intermediary fake holds each notice, and the debt to pay there.
type Ledger = Arc<Mutex<HashMap<String, (usize, DebtRef)>>>;

/// The host and everything around it.
pub struct CheckoutHost {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    /// The fake Checkout.
    pub checkout: Running<Checkout>,
    /// Bugliano's intermediary.
    pub gpd: Running<Gpd>,
    /// Prova's intermediary.
    pub mypay: Running<Mypay>,
    /// Bugliano (GPD) and Prova (MyPay).
    pub municipalities: [Municipality; 2],
    /// The core, receiving the outcomes.
    pub core: crate::EchoServer,
    ledger: Ledger,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for CheckoutHost {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl CheckoutHost {
    /// Starts it all; `with_checkout: false` leaves Checkout unconfigured on the host.
    pub async fn start(with_checkout: bool) -> Self {
        let checkout =
            cassa_fakes::serve(Checkout::new(CHECKOUT_KEY).unwrap(), ([127, 0, 0, 1], 0).into()).await.unwrap();
        let gpd =
            cassa_fakes::serve(Gpd::new(GpdSettings::default()).unwrap(), ([127, 0, 0, 1], 0).into()).await.unwrap();
        let mypay = cassa_fakes::serve(Mypay::new(MypaySettings::default()), ([127, 0, 0, 1], 0).into()).await.unwrap();
        let ledger: Ledger = Arc::default();
        let fakes: Vec<Arc<dyn Intermediary>> = vec![gpd.fake.clone(), mypay.fake.clone()];
        let hook_ledger = ledger.clone();
        checkout.fake.on_pay(move |notices| {
            for notice in notices.as_array().into_iter().flatten() {
                let number = notice["noticeNumber"].as_str().unwrap_or_default();
                let (fake, debt) = hook_ledger
                    .lock()
                    .map_err(|_| "ledger lock")?
                    .get(number)
                    .cloned()
                    .ok_or_else(|| format!("no intermediary holds notice {number}"))?;
                fakes[fake].pay(&debt)?;
            }
            Ok(())
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data_dir = std::env::temp_dir().join(format!("cassa-checkout-{}", Uuid::new_v4().simple()));
        let args = Settings {
            listen: addr,
            data_dir,
            bus: cassa::bus::BusConfig { kafka_partitions: 1, ..Default::default() },
            api: cassa::api::ApiConfig {
                checkout_url: format!("{}{BASE}", checkout.base_url),
                checkout_subscription_key: with_checkout.then(|| CHECKOUT_KEY.to_owned()),
                ..Default::default()
            },
            ..Settings::default()
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let app = cassa::serve::build(&args, addr, stop.clone()).await.unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let core = crate::EchoServer::start().await;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let municipalities = [
            Municipality {
                tenant: Uuid::new_v4(),
                service: Uuid::new_v4(),
                name: "Comune di Bugliano",
                fiscal_code: "80001234568",
            },
            Municipality {
                tenant: Uuid::new_v4(),
                service: Uuid::new_v4(),
                name: "Comune di Prova",
                fiscal_code: "00000000001",
            },
        ];
        let host =
            Self { base: format!("http://{addr}"), client, checkout, gpd, mypay, municipalities, core, ledger, stop };
        let conformance = [
            (cassa_fakes::Intermediary::conformance(host.gpd.fake.as_ref(), &host.gpd.base_url), "pagopa-gpd"),
            (cassa_fakes::Intermediary::conformance(host.mypay.fake.as_ref(), &host.mypay.base_url), "mypay"),
        ];
        for (m, (c, connector)) in host.municipalities.iter().zip(conformance) {
            let mut tenant = c.tenant_config.clone();
            tenant["id"] = m.tenant.to_string().into();
            tenant["connector"] = connector.into();
            tenant["name"] = m.name.into();
            tenant["tax_identification_number"] = m.fiscal_code.into();
            let (status, body) = host.send("PUT", &format!("/tenants/{}", m.tenant), Some(tenant)).await;
            assert!(status < 300, "tenant {}: {status} {body}", m.name);
            let mut service = c.service_config.clone();
            service["id"] = m.service.to_string().into();
            service["tenant_id"] = m.tenant.to_string().into();
            let (status, body) = host.send("PUT", &format!("/services/{}", m.service), Some(service)).await;
            assert!(status < 300, "service of {}: {status} {body}", m.name);
        }
        host
    }

    /// A JSON request; the status and the body (JSON, or `Null`).
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        crate::send_json(&self.client, &self.base, method, path, body).await
    }

    /// The payment `id` as the API shows it.
    pub async fn payment(&self, id: Uuid) -> Value {
        self.send("GET", &format!("/payments/{id}"), None).await.1
    }

    /// Waits until payment `id` is in `status`.
    pub async fn wait_status(&self, id: Uuid, status: &str) -> Value {
        let started = Instant::now();
        loop {
            let payment = self.payment(id).await;
            if payment["status"] == status {
                return payment;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "payment {id} never became {status}: {payment}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new application of municipality `m` (10 euros for `reason`), created at its
    /// intermediary: the payment in `PAYMENT_PENDING`.
    pub async fn pending_payment(&self, m: usize, reason: &str) -> Value {
        let mut app: Value = serde_json::from_str(include_str!("../examples/application_event.json")).unwrap();
        let application = Uuid::new_v4();
        let municipality = &self.municipalities[m];
        app["id"] = application.to_string().into();
        app["tenant_id"] = municipality.tenant.to_string().into();
        app["service_id"] = municipality.service.to_string().into();
        app["payment_data"]["reason"] = reason.into();
        app["payment_data"]["notify"]["url"] =
            format!("{}/lang/api/applications/{application}/payment", self.core.url()).into();
        let due = chrono::Utc::now() + chrono::Duration::days(90);
        app["payment_data"]["expire_at"] = due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
        let (status, body) = self.send("POST", "/applications", Some(app)).await;
        assert!(status < 300, "application: {status} {body}");
        let id = cassa::domain::payment_id_for(application);
        let payment = self.wait_status(id, "PAYMENT_PENDING").await;
        let p = &payment["payment"];
        let debt = DebtRef {
            iud: p["iud"].as_str().unwrap().into(),
            iuv: p["iuv"].as_str().unwrap().into(),
            notice_code: p["notice_code"].as_str().unwrap().into(),
        };
        self.ledger.lock().unwrap().insert(debt.notice_code.clone(), (m, debt));
        payment
    }

    /// The citizen presses `action` (`pay` or `cancel`) on the fake Checkout page at
    /// `checkout_url`: the fake's cart id, and where Checkout sends the browser back.
    pub async fn act_at_checkout(&self, checkout_url: &str, action: &str) -> (String, String) {
        let key = checkout_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
        let page = format!("{}/c/{key}", self.checkout.base_url);
        let back = self.client.post(page).form(&[("action", action)]).send().await.unwrap();
        assert_eq!(back.status(), 302);
        let location = back.headers()[reqwest::header::LOCATION].to_str().unwrap().to_owned();
        (key, location)
    }

    /// Forgets which intermediary holds each notice: paying a cart then fails at the Node.
    pub fn forget_notices(&self) {
        self.ledger.lock().unwrap().clear();
    }

    /// The link to the page of these payments, as the core would hand it to the citizen.
    pub async fn page_url(&self, ids: &[Uuid]) -> String {
        let mut tokens = Vec::new();
        for id in ids {
            let (status, link) = self.send("GET", &format!("/payments/{id}/page"), None).await;
            assert_eq!(status, 200, "{link}");
            tokens.push(link["token"].as_str().unwrap().to_owned());
        }
        format!("{}/pay/{}", self.base, tokens.join("."))
    }

    /// The notes in payment `id`'s history, oldest first.
    pub async fn history_notes(&self, id: Uuid) -> Vec<String> {
        let (_, history) = self.send("GET", &format!("/payments/{id}/history"), None).await;
        history.as_array().into_iter().flatten().filter_map(|h| h["note"].as_str().map(str::to_owned)).collect()
    }
}
