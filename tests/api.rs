//! The HTTP API of a whole host (`cassa run --demo` built in-process on a free port): the
//! configuration API as the core's back office uses it, the payments API, the per-payment
//! endpoints a citizen follows, and clear errors for bad input.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, Instant};

use cassa::serve::{DEMO_SERVICE, DEMO_TENANT, Settings};
use serde_json::{Value, json};

struct Host {
    base: String,
    client: reqwest::Client,
    _host: cassa_tests::DemoHost,
}

impl Host {
    async fn start() -> Self {
        let settings = Settings {
            sandbox_api_key: "api-test-sandbox-key".into(),
            bus: cassa::bus::BusConfig { kafka_partitions: 1, ..Default::default() },
            ..Settings::default()
        };
        let host = cassa_tests::DemoHost::start("api", settings).await;
        Self { base: host.base.clone(), client: host.client.clone(), _host: host }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        cassa_tests::send_json(&self.client, &self.base, method, path, body).await
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        let started = Instant::now();
        loop {
            let (_, payment) = self.send("GET", &format!("/payments/{id}"), None).await;
            if payment["status"] == status {
                return payment;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "payment {id} never became {status}: {payment}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn request(remote_id: &str) -> Value {
    json!({
        "remote_id": remote_id,
        "tenant_id": DEMO_TENANT,
        "service_id": DEMO_SERVICE,
        "reason": "TARI 2026 - rata unica",
        "amount": "120.50",
        "expire_at": "2026-12-31T23:59:59+01:00",
        "payer": {"type": "human", "tax_identification_number": "CLNVTR76P01G822Q", "name": "Vittorino", "family_name": "Coliandro"},
        "landing_url": "https://servizi.example.it/pratiche/1/detail"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_configures_a_tenant_and_a_service_and_never_sees_the_secret() {
    let host = Host::start().await;
    let (status, form) = host.send("GET", "/tenants/schema", None).await;
    assert_eq!(status, 200);
    assert_eq!(form["display"], "form");
    let components = form["components"].as_array().unwrap();
    let key = |k: &str| components.iter().find(|c| c["key"] == k).cloned().unwrap_or(Value::Null);
    assert_eq!(key("api_key")["type"], "password");
    assert_eq!(key("base_url")["validate"]["required"], true);
    assert_eq!(key("id")["type"], "hidden");

    let tenant = uuid::Uuid::new_v4().to_string();
    let (status, _) = host.send("GET", &format!("/tenants/{tenant}"), None).await;
    assert_eq!(status, 404, "not configured yet");

    let (status, error) = host
        .send("PUT", &format!("/tenants/{tenant}"), Some(json!({"id": tenant, "active": true, "base_url": "ftp://x"})))
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = error["fields"].as_array().unwrap().iter().filter_map(|f| f["field"].as_str()).collect();
    for field in ["name", "tax_identification_number", "base_url", "fiscal_code", "api_key"] {
        assert!(fields.contains(&field), "{field} not reported: {error}");
    }

    let sandbox = format!("{}/sandbox", host.base);
    let good = json!({"id": tenant, "active": true, "name": "Comune di Prova", "tax_identification_number": "80001234568",
        "base_url": sandbox, "fiscal_code": "80001234568", "api_key": "api-test-sandbox-key"});
    let (status, saved) = host.send("PUT", &format!("/tenants/{tenant}"), Some(good.clone())).await;
    assert_eq!(status, 201, "{saved}");
    assert!(saved.get("api_key").is_none(), "the secret came back: {saved}");
    let (status, read) = host.send("GET", &format!("/tenants/{tenant}"), None).await;
    assert_eq!(status, 200);
    assert!(read.get("api_key").is_none(), "{read}");
    assert_eq!(read["name"], "Comune di Prova");
    // The form saved again without the secret keeps it.
    let (status, _) = host.send("PUT", &format!("/tenants/{tenant}"), Some(read.clone())).await;
    assert_eq!(status, 200);

    let service = uuid::Uuid::new_v4().to_string();
    let (status, error) = host.send("PUT", &format!("/services/{service}"), Some(json!({"active": true}))).await;
    assert_eq!(status, 422, "{error}");
    let (status, saved) = host
        .send("PUT", &format!("/services/{service}"), Some(json!({"id": service, "tenant_id": tenant, "active": true})))
        .await;
    assert_eq!(status, 201, "{saved}");

    // A payment of that tenant reaches the sandbox with the kept secret.
    let mut req = request(&uuid::Uuid::new_v4().to_string());
    req["tenant_id"] = tenant.clone().into();
    req["service_id"] = service.clone().into();
    let (status, created) = host.send("POST", "/payments", Some(req)).await;
    assert_eq!(status, 201, "{created}");
    host.wait_status(created["id"].as_str().unwrap(), "PAYMENT_PENDING").await;

    // Soft delete: kept, inactive, no longer used.
    let (status, _) = host.send("DELETE", &format!("/services/{service}"), None).await;
    assert_eq!(status, 204);
    let (_, read) = host.send("GET", &format!("/services/{service}"), None).await;
    assert_eq!(read["active"], false);
    let mut req = request(&uuid::Uuid::new_v4().to_string());
    req["tenant_id"] = tenant.into();
    req["service_id"] = service.clone().into();
    let (status, refused) = host.send("POST", "/payments", Some(req)).await;
    assert_eq!(status, 422, "a deleted service must not be used: {refused}");
    assert!(refused.to_string().contains(&format!("service_id {service} is not active")), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_for_an_unconfigured_service_waits_visibly_and_is_created_once_configured() {
    let host = Host::start().await;
    let tenant = uuid::Uuid::new_v4().to_string();
    let service = uuid::Uuid::new_v4().to_string();
    let sandbox = format!("{}/sandbox", host.base);
    let config = json!({"id": tenant, "active": true, "name": "Comune di Attesa", "tax_identification_number": "80001234568",
        "base_url": sandbox, "fiscal_code": "80001234568", "api_key": "api-test-sandbox-key"});
    let (status, saved) = host.send("PUT", &format!("/tenants/{tenant}"), Some(config)).await;
    assert_eq!(status, 201, "{saved}");

    // The payments API refuses a payment nobody could create, naming the field.
    let mut req = request(&uuid::Uuid::new_v4().to_string());
    req["tenant_id"] = tenant.clone().into();
    req["service_id"] = service.clone().into();
    let (status, refused) = host.send("POST", "/payments", Some(req.clone())).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["fields"][0]["field"], "service_id", "{refused}");
    req["tenant_id"] = uuid::Uuid::new_v4().to_string().into();
    let (status, bulk) =
        host.send("POST", "/payments/bulk", Some(json!([req, request(&uuid::Uuid::new_v4().to_string())]))).await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!((bulk["created"].as_u64(), bulk["rejected"][0]["index"].as_u64()), (Some(1), Some(0)), "{bulk}");
    let reasons = bulk["rejected"][0]["reasons"].to_string();
    assert!(
        reasons.contains("is not a configured tenant") && reasons.contains("is not a configured service"),
        "{reasons}"
    );

    // An application the core sends for that service is accepted and waits, saying why.
    let mut application: Value = serde_json::from_str(include_str!("examples/application_event.json")).unwrap();
    let remote = uuid::Uuid::new_v4().to_string();
    application["id"] = remote.clone().into();
    application["tenant_id"] = tenant.clone().into();
    application["service_id"] = service.clone().into();
    let (status, _) = host.send("POST", "/applications", Some(application)).await;
    assert!(status < 300, "{status}");
    let started = Instant::now();
    let (id, history) = loop {
        let (_, found) = host.send("GET", &format!("/payments?remote_id={remote}"), None).await;
        if let Some(id) = found[0]["id"].as_str() {
            let (_, history) = host.send("GET", &format!("/payments/{id}/history"), None).await;
            if history.to_string().contains("waiting for configuration") {
                break (id.to_owned(), history);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no waiting note for the application's payment");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(history.to_string().contains(&format!("service {service} is not configured")), "{history}");
    let (_, payment) = host.send("GET", &format!("/payments/{id}"), None).await;
    assert_eq!(payment["status"], "CREATION_PENDING");
    let metrics = host.client.get(format!("{}/metrics", host.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("cassa_payments_waiting_config{{tenant=\"{tenant}\"}} 1")), "{metrics}");

    // The configuration arrives: the payment is created at once, not at the next recheck.
    let saved_at = Instant::now();
    let (status, saved) = host
        .send("PUT", &format!("/services/{service}"), Some(json!({"id": service, "tenant_id": tenant, "active": true})))
        .await;
    assert_eq!(status, 201, "{saved}");
    host.wait_status(&id, "PAYMENT_PENDING").await;
    assert!(saved_at.elapsed() < Duration::from_secs(10), "created {:?} after its configuration", saved_at.elapsed());
    let metrics = host.client.get(format!("{}/metrics", host.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("cassa_payments_waiting_config{{tenant=\"{tenant}\"}} 0")), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payments_api_creates_idempotently_and_reports_every_bad_row() {
    let host = Host::start().await;
    let remote = uuid::Uuid::new_v4().to_string();
    let (status, first) = host.send("POST", "/payments", Some(request(&remote))).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "CREATION_PENDING");
    assert_eq!(first["payment"]["amount"], json!(120.5));
    let (status, again) = host.send("POST", "/payments", Some(request(&remote))).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], first["id"]);

    let mut bad = request(&uuid::Uuid::new_v4().to_string());
    bad["amount"] = 0.into();
    bad["reason"] = "".into();
    let (status, error) = host.send("POST", "/payments", Some(bad)).await;
    assert_eq!(status, 422);
    assert_eq!(error["fields"].as_array().unwrap().len(), 2, "{error}");
    let (status, _) = host.send("POST", "/payments", Some(json!({"nonsense": true}))).await;
    assert_eq!(status, 400);

    let (status, outcome) = host
        .send(
            "POST",
            "/payments/bulk",
            Some(json!([request(&uuid::Uuid::new_v4().to_string()), {"x": 1}, request(&remote)])),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!((outcome["created"].as_u64(), outcome["existing"].as_u64()), (Some(1), Some(1)));
    assert_eq!(outcome["rejected"][0]["index"], 1);

    let csv = format!(
        "remote_id,tenant_id,service_id,reason,amount,expire_at,payer_tax_id,payer_name\n\
         {},{DEMO_TENANT},{DEMO_SERVICE},Rata 1,10.00,2026-12-31T00:00:00+01:00,CLNVTR76P01G822Q,Vittorino\n\
         not-a-uuid,{DEMO_TENANT},{DEMO_SERVICE},Rata 2,10.00,2026-12-31T00:00:00+01:00,CLNVTR76P01G822Q,Vittorino\n\
         {},{DEMO_TENANT},{DEMO_SERVICE},Rata 3,dieci,2026-12-31T00:00:00+01:00,CLNVTR76P01G822Q,Vittorino\n",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    let reply = host.client.post(format!("{}/payments/import", host.base)).body(csv).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let outcome: Value = reply.json().await.unwrap();
    assert_eq!(outcome["created"], 1, "{outcome}");
    let lines: Vec<u64> = outcome["rejected"].as_array().unwrap().iter().filter_map(|r| r["index"].as_u64()).collect();
    assert_eq!(lines, vec![3, 4], "{outcome}");
    let reply =
        host.client.post(format!("{}/payments/import", host.base)).body("who,what\n1,2\n").send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 400);

    let (status, found) = host.send("GET", &format!("/payments?remote_id={remote}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (status, _) = host.send("GET", "/payments?status=BOGUS", None).await;
    assert_eq!(status, 400);
    let (status, _) = host.send("GET", &format!("/payments/{}", uuid::Uuid::new_v4()), None).await;
    assert_eq!(status, 404);
    let reply = host.client.post(format!("{}/applications", host.base)).body("not json").send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_pays_online_and_gets_notice_and_receipt() {
    let host = Host::start().await;
    let (_, created) = host.send("POST", "/payments", Some(request(&uuid::Uuid::new_v4().to_string()))).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let pending = host.wait_status(&id, "PAYMENT_PENDING").await;
    assert_eq!(pending["links"]["online_payment_begin"]["url"], format!("{}/online-payment/{id}", host.base));
    assert!(pending["payment"]["notice_code"].as_str().unwrap().len() == 18);

    let reply = host.client.get(format!("{}/receipt/{id}", host.base)).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 409, "no receipt before paying");
    let reply = host.client.get(format!("{}/notice/{id}", host.base)).send().await.unwrap();
    assert_eq!(reply.headers()["content-type"], "application/pdf");
    assert!(reply.bytes().await.unwrap().starts_with(b"%PDF-"));

    let reply = host.client.get(format!("{}/online-payment/{id}", host.base)).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 303);
    let page = reply.headers()["location"].to_str().unwrap().to_owned();
    assert!(page.starts_with(&format!("{}/sandbox/pay/", host.base)), "{page}");
    host.wait_status(&id, "PAYMENT_STARTED").await;
    // The citizen presses "Paga" on the intermediary's page and is sent back to the landing.
    let form_url = page.split('?').next().unwrap();
    let reply = host
        .client
        .post(form_url)
        .form(&[("action", "pay"), ("ok", &format!("{}/landing/{id}?outcome=ok", host.base))])
        .send()
        .await
        .unwrap();
    let landing = reply.headers()["location"].to_str().unwrap().to_owned();
    let reply = host.client.get(&landing).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 303);
    assert_eq!(reply.headers()["location"], "https://servizi.example.it/pratiche/1/detail");
    let complete = host.wait_status(&id, "COMPLETE").await;
    assert!(complete["payment"]["paid_at"].is_string());
    assert_eq!(complete["links"]["receipt"]["url"], format!("{}/receipt/{id}", host.base));

    let reply = host.client.get(format!("{}/receipt/{id}", host.base)).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert!(reply.text().await.unwrap().contains("<receiptId>"));
    let (status, updated) = host.send("GET", &format!("/update/{id}"), None).await;
    assert_eq!((status, updated["status"].as_str()), (200, Some("COMPLETE")));
    let (status, history) = host.send("GET", &format!("/payments/{id}/history"), None).await;
    assert_eq!(status, 200);
    let statuses: Vec<&str> = history.as_array().unwrap().iter().filter_map(|h| h["status"].as_str()).collect();
    assert_eq!(statuses.first(), Some(&"CREATION_PENDING"));
    assert_eq!(statuses.last(), Some(&"COMPLETE"));
    for path in ["online-payment", "landing", "notice", "receipt", "update"] {
        let reply = host.client.get(format!("{}/{path}/{}", host.base, uuid::Uuid::new_v4())).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 404, "/{path} of an unknown payment");
    }
}

/// Every property name under `value` (schemas' `properties`, parameters' `name`).
fn names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                out.extend(properties.keys().cloned());
            }
            // Parameters (headers are HTTP's, not the API's attributes).
            if map.get("in").is_some_and(|i| i != "header")
                && let Some(Value::String(name)) = map.get("name")
            {
                out.push(name.clone());
            }
            map.values().for_each(|v| names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| names(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_the_api_in_snake_case_with_problem_errors() {
    let host = Host::start().await;
    let (status, doc) = host.send("GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    // The operations the core, operators and citizens use are all there; the sandbox is not.
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in [
        ("post", "/applications"),
        ("post", "/payments"),
        ("get", "/payments"),
        ("get", "/payments/{id}"),
        ("get", "/tenants/schema"),
        ("put", "/tenants/{id}"),
        ("patch", "/services/{id}"),
        ("delete", "/services/{id}"),
        ("get", "/online-payment/{id}"),
        ("get", "/notice/{id}"),
        ("post", "/checkout"),
        ("get", "/pay/{tokens}"),
        ("get", "/dlq"),
        ("post", "/dlq/{id}/replay"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    assert!(paths.keys().all(|p| !p.starts_with("/sandbox")), "the sandbox intermediary is not cassa's API");
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert!(operations >= 36, "{operations} operations");
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|o| o["operationId"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "operation ids are unique");

    // snake_case everywhere (the `type` of events and problems is the one exception DOMAIN.md has).
    let mut all = Vec::new();
    names(&doc, &mut all);
    let snake = |n: &str| n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let other: Vec<&String> =
        all.iter().filter(|n| !snake(n) && !["location", "content-disposition"].contains(&n.as_str())).collect();
    assert!(other.is_empty(), "not snake_case: {other:?}");

    // Every JSON error is a Problem, and a real one has what the document requires.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for (code, response) in operation["responses"].as_object().unwrap() {
                if code.starts_with('4') || code.starts_with('5') {
                    if let Some(problem) = response["content"].get("application/problem+json") {
                        assert_eq!(problem["schema"]["$ref"], "#/components/schemas/Problem", "{method} {path} {code}");
                    }
                    // `/readyz` answers 503 with its checks: the one error that is not a problem.
                    assert!(
                        path == "/readyz" || response["content"].get("application/json").is_none(),
                        "{method} {path} {code}: errors are problem+json"
                    );
                }
            }
        }
    }
    let required: Vec<&str> = doc["components"]["schemas"]["Problem"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let reply = host.client.get(format!("{}/payments/{}", host.base, uuid::Uuid::new_v4())).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 404);
    assert_eq!(reply.headers()["content-type"], "application/problem+json");
    let problem: Value = reply.json().await.unwrap();
    for field in &required {
        assert!(problem.get(*field).is_some(), "the problem lacks `{field}`: {problem}");
    }
    assert_eq!(problem["type"], "https://cassa.opencity.dev/problems/not_found");

    // Operators' endpoints say they need the admin token.
    assert_eq!(paths["/dlq"]["get"]["security"][0]["admin_token"], json!([]));
    assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");

    // Every reference resolves: a schema used only in a parameter must still be a component.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("odd $ref {target}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{target} does not exist");
    }
}
