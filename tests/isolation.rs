//! Tenant isolation over the HTTP API, with `core_jwt_keys` set: the core's JWT carries the
//! tenant it acts for, and that tenant's token can neither read nor write another tenant's
//! configuration or payments; missing, forged, expired and tenant-less tokens are refused; an
//! operator's token reaches every tenant; and no answer ever carries a secret.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, Instant};

use cassa::serve::{DEMO_SERVICE, DEMO_TENANT, Settings};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

const JWT_SECRET: &str = "the-core-signs-its-tokens-with-this-shared-secret";
const ADMIN: &str = "isolation-operator-token";
/// The intermediary's API key in both tenants' configuration: a secret no answer may show.
const API_KEY: &str = "sandbox-key-that-must-never-come-back";
/// Seals configurations at rest (base64 of 32 bytes).
const SECRETS_KEY: &str = "c2VhbHMtY29uZmlndXJhdGlvbnMtYXQtcmVzdC0zMmI=";
const TENANT_B: &str = "0b6a1c9e-5a50-4d6e-9c55-2a4c3c0e0b0b";
const SERVICE_B: &str = "5e1f0b4c-3d2a-4c1b-8a9f-6e7d5c4b3a2b";

fn token(secret: &str, claims: Value) -> String {
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes()).unwrap()).unwrap()
}

fn exp(seconds_from_now: i64) -> i64 {
    chrono::Utc::now().timestamp() + seconds_from_now
}

fn tenant_token(tenant: &str) -> String {
    token(JWT_SECRET, json!({"tenant_id": tenant, "exp": exp(600), "username": "operatore"}))
}

struct Host {
    base: String,
    data_dir: std::path::PathBuf,
    client: reqwest::Client,
    /// Every answer's body, to look for secrets at the end.
    seen: std::sync::Mutex<Vec<String>>,
    _host: cassa_tests::DemoHost,
}

impl Host {
    async fn start() -> Self {
        let settings = Settings {
            secrets_key: Some(SECRETS_KEY.into()),
            sandbox_api_key: API_KEY.into(),
            api: cassa::api::ApiConfig {
                admin_tokens: vec![ADMIN.into()],
                core_jwt_keys: vec![format!("hs256:{JWT_SECRET}")],
                ..Default::default()
            },
            ..Settings::default()
        };
        let host = cassa_tests::DemoHost::start("isolation", settings).await;
        Self {
            base: host.base.clone(),
            data_dir: host.data_dir.clone(),
            client: host.client.clone(),
            seen: Default::default(),
            _host: host,
        }
    }

    async fn call(&self, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().await.unwrap();
        self.seen.lock().unwrap().push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn payment(&self, token: &str, tenant: &str, service: &str) -> String {
        let request = json!({
            "remote_id": uuid::Uuid::new_v4(), "tenant_id": tenant, "service_id": service,
            "reason": "TARI 2026", "amount": 10, "expire_at": "2026-12-31T23:59:59+01:00",
            "payer": {"type": "human", "tax_identification_number": "CLNVTR76P01G822Q", "name": "Vittorino"},
        });
        let (status, created) = self.call(Some(token), "POST", "/payments", Some(request)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        loop {
            let (_, payment) = self.call(Some(token), "GET", &format!("/payments/{id}"), None).await;
            if payment["status"] == "PAYMENT_PENDING" {
                return id;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{payment}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn tenant_b(name: &str) -> Value {
    json!({"id": TENANT_B, "active": true, "name": name, "tax_identification_number": "80001234568",
        "base_url": "http://127.0.0.1:9/unused", "fiscal_code": "80001234568", "api_key": API_KEY})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_token_reaches_only_its_own_tenant_and_no_answer_carries_a_secret() {
    let host = Host::start().await;
    let (a, b) = (tenant_token(DEMO_TENANT), tenant_token(TENANT_B));

    // Tenant B and its service, configured by B's own token; a payment of each tenant.
    let sandbox = format!("{}/sandbox", host.base);
    let mut config_b = tenant_b("Comune di Bi");
    config_b["base_url"] = sandbox.into();
    let (status, saved) = host.call(Some(&b), "PUT", &format!("/tenants/{TENANT_B}"), Some(config_b.clone())).await;
    assert_eq!(status, 201, "{saved}");
    let service_b = json!({"id": SERVICE_B, "tenant_id": TENANT_B, "active": true, "reason_prefix": "B"});
    let (status, saved) = host.call(Some(&b), "PUT", &format!("/services/{SERVICE_B}"), Some(service_b.clone())).await;
    assert_eq!(status, 201, "{saved}");
    let payment_a = host.payment(&a, DEMO_TENANT, DEMO_SERVICE).await;
    let payment_b = host.payment(&b, TENANT_B, SERVICE_B).await;

    // Tenant A's token against everything of tenant B: refused, as absent (404) or as not
    // allowed (403), never served.
    let other_service = uuid::Uuid::new_v4().to_string();
    let new_payment_b = json!({
        "remote_id": uuid::Uuid::new_v4(), "tenant_id": TENANT_B, "service_id": SERVICE_B, "reason": "x",
        "amount": 1, "expire_at": "2026-12-31T23:59:59+01:00",
        "payer": {"type": "human", "tax_identification_number": "CLNVTR76P01G822Q", "name": "V"},
    });
    let mut application_b: Value = serde_json::from_str(include_str!("examples/application_event.json")).unwrap();
    application_b["tenant_id"] = TENANT_B.into();
    let matrix: Vec<(&str, String, Option<Value>, u16)> = vec![
        ("GET", format!("/tenants/{TENANT_B}"), None, 404),
        ("PUT", format!("/tenants/{TENANT_B}"), Some(tenant_b("Taken over")), 403),
        ("PATCH", format!("/tenants/{TENANT_B}"), Some(json!({"name": "Taken over"})), 404),
        ("DELETE", format!("/tenants/{TENANT_B}"), None, 404),
        ("POST", "/tenants".into(), Some(tenant_b("Taken over")), 403),
        ("GET", format!("/services/{SERVICE_B}"), None, 404),
        ("PUT", format!("/services/{SERVICE_B}"), Some(service_b.clone()), 404),
        ("PATCH", format!("/services/{SERVICE_B}"), Some(json!({"reason_prefix": "A"})), 404),
        ("DELETE", format!("/services/{SERVICE_B}"), None, 404),
        ("PUT", format!("/services/{other_service}"), Some(json!({"id": other_service, "tenant_id": TENANT_B})), 403),
        ("POST", "/services".into(), Some(json!({"id": other_service, "tenant_id": TENANT_B})), 403),
        ("POST", "/payments".into(), Some(new_payment_b.clone()), 403),
        ("GET", format!("/payments/{payment_b}"), None, 404),
        ("GET", format!("/payments/{payment_b}/history"), None, 404),
        ("GET", format!("/payments/{payment_b}/page"), None, 404),
        ("GET", format!("/update/{payment_b}"), None, 404),
        ("GET", format!("/payments?tenant_id={TENANT_B}"), None, 403),
        ("POST", "/applications".into(), Some(application_b.clone()), 403),
        ("POST", "/checkout".into(), Some(json!({"payment_ids": [payment_b]})), 404),
    ];
    for (method, path, body, expected) in &matrix {
        let (status, answer) = host.call(Some(&a), method, path, body.clone()).await;
        assert_eq!(status, *expected, "tenant A: {method} {path}: {answer}");
        assert!(answer["type"].as_str().unwrap().starts_with("https://cassa.opencity.dev/problems/"), "{answer}");
    }
    // Tenant A's own payment through B's service, or reusing B's remote_id: refused, nothing of
    // B's shown.
    let mut through_b = new_payment_b.clone();
    through_b["tenant_id"] = DEMO_TENANT.into();
    let (status, answer) = host.call(Some(&a), "POST", "/payments", Some(through_b)).await;
    assert_eq!(status, 422, "{answer}");
    let (_, payment) = host.call(Some(&b), "GET", &format!("/payments/{payment_b}"), None).await;
    let mut reuse = new_payment_b.clone();
    reuse["tenant_id"] = DEMO_TENANT.into();
    reuse["service_id"] = DEMO_SERVICE.into();
    reuse["remote_id"] = payment["remote_id"].clone();
    let (status, answer) = host.call(Some(&a), "POST", "/payments", Some(reuse.clone())).await;
    assert_eq!(status, 422, "{answer}");
    assert!(!answer.to_string().contains(&payment_b), "{answer}");
    let (_, outcome) = host.call(Some(&a), "POST", "/payments/bulk", Some(json!([reuse]))).await;
    assert_eq!(outcome["payments"], json!([]), "{outcome}");
    // A batch naming tenant B has that item rejected, the rest go through.
    let (status, outcome) = host.call(Some(&a), "POST", "/payments/bulk", Some(json!([new_payment_b]))).await;
    assert_eq!((status, outcome["created"].as_u64()), (200, Some(0)), "{outcome}");
    assert!(outcome["rejected"][0]["reasons"][0].as_str().unwrap().contains("does not allow"), "{outcome}");
    // A's list is A's alone.
    let (_, listed) = host.call(Some(&a), "GET", "/payments", None).await;
    let tenants: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|p| p["tenant_id"].as_str()).collect();
    assert!(!tenants.is_empty() && tenants.iter().all(|t| *t == DEMO_TENANT), "{tenants:?}");

    // Nothing of B changed: same name, still active, one service, one payment.
    let (status, read) = host.call(Some(&b), "GET", &format!("/tenants/{TENANT_B}"), None).await;
    assert_eq!((status, read["name"].as_str(), read["active"].as_bool()), (200, Some("Comune di Bi"), Some(true)));
    let (status, read) = host.call(Some(&b), "GET", &format!("/services/{SERVICE_B}"), None).await;
    assert_eq!((status, read["reason_prefix"].as_str(), read["active"].as_bool()), (200, Some("B"), Some(true)));
    let (status, _) = host.call(Some(&b), "GET", &format!("/services/{other_service}"), None).await;
    assert_eq!(status, 404);
    let (_, listed) = host.call(Some(&b), "GET", "/payments", None).await;
    let ids: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, [payment_b.as_str()]);
    // B reaches its own; the operator reaches both.
    let (status, _) = host.call(Some(&b), "GET", &format!("/payments/{payment_b}/history"), None).await;
    assert_eq!(status, 200);
    for id in [&payment_a, &payment_b] {
        let (status, _) = host.call(Some(ADMIN), "GET", &format!("/payments/{id}"), None).await;
        assert_eq!(status, 200);
    }

    // Missing, forged, expired, tenant-less or foreign tokens: 401 everywhere, before anything.
    let refused = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(token(
            "another-secret-that-is-long-enough-to-sign-with",
            json!({"tenant_id": DEMO_TENANT, "exp": exp(600)}),
        )),
        Some(token(JWT_SECRET, json!({"tenant_id": DEMO_TENANT, "exp": exp(-600)}))),
        Some(token(JWT_SECRET, json!({"exp": exp(600)}))),
        Some(token(JWT_SECRET, json!({"tenant_id": DEMO_TENANT}))),
    ];
    for bad in &refused {
        for (method, path, body) in [
            ("GET", format!("/tenants/{DEMO_TENANT}"), None),
            ("PUT", format!("/tenants/{DEMO_TENANT}"), Some(json!({"name": "x"}))),
            ("GET", format!("/payments/{payment_a}"), None),
            ("GET", "/payments".into(), None),
            ("POST", "/applications".into(), Some(application_b.clone())),
        ] {
            let (status, answer) = host.call(bad.as_deref(), method, &path, body).await;
            assert_eq!(status, 401, "{bad:?}: {method} {path}: {answer}");
        }
    }

    // The citizen's side stays open: schemas and the notice need no token.
    let (status, _) = host.call(None, "GET", "/tenants/schema", None).await;
    assert_eq!(status, 200);
    let reply = host.client.get(format!("{}/notice/{payment_a}", host.base)).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 200);

    // No answer carried the intermediary's API key.
    {
        let seen = host.seen.lock().unwrap();
        assert!(seen.len() > 60, "{} answers", seen.len());
        assert!(seen.iter().all(|body| !body.contains(API_KEY)), "a secret came back");
    }

    // At rest, every configuration is sealed: the database never holds the key in clear, yet
    // the connectors got it (both tenants' payments were created at the intermediary).
    let url = format!("sqlite://{}?mode=rw", host.data_dir.join("cassa.db").display());
    let store = cassa::store::Store::connect(&url).await.unwrap();
    for table in ["tenants", "services"] {
        let rows = sqlx::query_scalar::<_, String>(&format!("SELECT config FROM {table}"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(rows.len() >= 2, "{table}: {} rows", rows.len());
        for row in rows {
            assert!(row.starts_with("sealed:v1:") && !row.contains(API_KEY), "{table}: {row}");
        }
    }
}
