//! The connector registry through the operators' API of a whole host: uploads validated and
//! stored by digest, activation swapping the connector that serves new calls (the payment's
//! history names it), rollback, removal, and refusals that leave everything as it was.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, Instant};

use cassa::serve::{DEMO_SERVICE, DEMO_TENANT, Settings};
use cassa_tests::{NOT_A_CONNECTOR, SANDBOX, with_custom_section};
use serde_json::{Value, json};

const TOKEN: &str = "registry-test-admin-token";

struct Host {
    base: String,
    client: reqwest::Client,
    _host: cassa_tests::DemoHost,
}

impl Host {
    async fn start() -> Self {
        Self::start_with(Vec::new(), None).await
    }

    async fn start_with(connector_publisher_keys: Vec<String>, connector_dir: Option<std::path::PathBuf>) -> Self {
        let settings = Settings {
            api: cassa::api::ApiConfig { admin_tokens: vec![TOKEN.into()], ..Default::default() },
            connectors: cassa::registry::ConnectorSettings {
                connector_publisher_keys,
                connector_dir,
                ..Default::default()
            },
            ..Settings::default()
        };
        let host = cassa_tests::DemoHost::start("registry", settings).await;
        Self { base: host.base.clone(), client: host.client.clone(), _host: host }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<(&str, Vec<u8>)>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }

    async fn sandbox_entry(&self) -> Value {
        let (status, list) = self.admin(reqwest::Method::GET, "/connectors", None).await;
        assert_eq!(status, 200, "{list}");
        list.as_array().unwrap().iter().find(|c| c["name"] == "sandbox").cloned().unwrap()
    }

    /// Creates a payment of the demo service and returns the note of its creation in the history.
    async fn creation_note(&self) -> String {
        self.creation_note_of(DEMO_SERVICE).await
    }

    /// Creates a payment of the demo tenant's `service` and returns the note of its creation.
    async fn creation_note_of(&self, service: &str) -> String {
        let request = json!({
            "remote_id": uuid::Uuid::new_v4(),
            "tenant_id": DEMO_TENANT,
            "service_id": service,
            "reason": "TARI 2026",
            "amount": 12.5,
            "expire_at": "2026-12-31T23:59:59+01:00",
            "payer": {"type": "human", "tax_identification_number": "CLNVTR76P01G822Q", "name": "Vittorino"},
        });
        let (status, created) =
            cassa_tests::send_json(&self.client, &self.base, "POST", "/payments", Some(request)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        loop {
            let (_, history) =
                cassa_tests::send_json(&self.client, &self.base, "GET", &format!("/payments/{id}/history"), None).await;
            let note = history.as_array().unwrap().iter().find(|h| h["status"] == "PAYMENT_PENDING");
            if let Some(note) = note {
                return note["note"].as_str().unwrap_or_default().to_owned();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "payment {id} was not created: {history}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_version_serves_new_calls_once_activated_and_a_rollback_restores_the_old_one() {
    let host = Host::start().await;
    let bundled = host.sandbox_entry().await;
    let old = bundled["active"].as_str().unwrap().to_owned();
    assert_eq!(bundled["running"], old.as_str());
    assert!(host.creation_note().await.contains(&format!("connector sandbox 0.1.0 (sha256:{})", &old[..12])));

    // A rebuilt connector: the same component under another digest.
    let wasm = with_custom_section(SANDBOX, "cassa-test-build", b"2");
    let (status, pushed) =
        host.admin(reqwest::Method::POST, "/connectors", Some(("application/wasm", wasm.clone()))).await;
    assert_eq!(status, 201, "{pushed}");
    let new = pushed["artifact"]["digest"].as_str().unwrap().to_owned();
    assert_eq!(new, cassa::registry::digest_of(&wasm));
    assert_eq!((pushed["artifact"]["name"].as_str(), pushed["created"].as_bool()), (Some("sandbox"), Some(true)));
    // Stored, not active yet: new calls still go to the old version.
    let entry = host.sandbox_entry().await;
    assert_eq!((entry["active"].as_str(), entry["artifacts"].as_array().unwrap().len()), (Some(old.as_str()), 2));
    // The same bytes again change nothing.
    let (status, again) = host.admin(reqwest::Method::POST, "/connectors", Some(("application/wasm", wasm))).await;
    assert_eq!((status, again["created"].as_bool()), (200, Some(false)));

    // Activated by a digest prefix: this host runs it at once, and the next payment is created by it.
    let body = serde_json::to_vec(&json!({"artifact": &new[..10]})).unwrap();
    let (status, active) =
        host.admin(reqwest::Method::POST, "/connectors/sandbox/activate", Some(("application/json", body))).await;
    assert_eq!((status, active["digest"].as_str()), (200, Some(new.as_str())), "{active}");
    let entry = host.sandbox_entry().await;
    assert_eq!((entry["active"].as_str(), entry["running"].as_str()), (Some(new.as_str()), Some(new.as_str())));
    assert!(host.creation_note().await.contains(&format!("(sha256:{})", &new[..12])));

    // The active version cannot be removed.
    let (status, refused) =
        host.admin(reqwest::Method::DELETE, &format!("/connectors/sandbox/artifacts/{new}"), None).await;
    assert_eq!((status, refused["error"].as_str()), (409, Some("conflict")), "{refused}");

    // Rolled back: the old version serves again, and the history says how it got there.
    let (status, back) = host.admin(reqwest::Method::POST, "/connectors/sandbox/rollback", None).await;
    assert_eq!((status, back["digest"].as_str()), (200, Some(old.as_str())), "{back}");
    assert_eq!(host.sandbox_entry().await["running"], old.as_str());
    assert!(host.creation_note().await.contains(&format!("(sha256:{})", &old[..12])));
    let (_, history) = host.admin(reqwest::Method::GET, "/connectors/sandbox/activations", None).await;
    let reasons: Vec<&str> = history.as_array().unwrap().iter().filter_map(|a| a["reason"].as_str()).collect();
    assert_eq!(reasons, ["rollback", "activate", "bundled"]);

    // The version no longer active can go; afterwards there is nothing to roll back to.
    let (status, _) = host.admin(reqwest::Method::DELETE, &format!("/connectors/sandbox/artifacts/{new}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(host.sandbox_entry().await["artifacts"].as_array().unwrap().len(), 1);
    let (status, refused) = host.admin(reqwest::Method::POST, "/connectors/sandbox/rollback", None).await;
    assert_eq!(status, 409, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_connectors_are_refused_and_nothing_is_stored() {
    let host = Host::start().await;
    for (what, bytes) in [
        ("random bytes", b"definitely not wasm".to_vec()),
        ("a component that is not a connector", NOT_A_CONNECTOR.to_vec()),
        ("a truncated connector", SANDBOX[..SANDBOX.len() / 2].to_vec()),
    ] {
        let (status, problem) =
            host.admin(reqwest::Method::POST, "/connectors", Some(("application/wasm", bytes))).await;
        assert_eq!((status, problem["error"].as_str()), (422, Some("invalid_connector")), "{what}: {problem}");
    }
    assert_eq!(host.sandbox_entry().await["artifacts"].as_array().unwrap().len(), 1);
    let (status, list) = host.admin(reqwest::Method::GET, "/connectors", None).await;
    assert_eq!(status, 200);
    let stored: usize = list.as_array().unwrap().iter().map(|c| c["artifacts"].as_array().unwrap().len()).sum();
    assert_eq!(stored, cassa::embedded::BUNDLED.len(), "only the bundled connectors are stored");

    // Unknown names and versions are 404; without the operator's token nothing is done.
    let body = || Some(("application/json", serde_json::to_vec(&json!({"artifact": "9.9.9"})).unwrap()));
    let (status, _) = host.admin(reqwest::Method::POST, "/connectors/sandbox/activate", body()).await;
    assert_eq!(status, 404);
    let (status, _) = host.admin(reqwest::Method::POST, "/connectors/nobody/rollback", None).await;
    assert_eq!(status, 404);
    let reply = host
        .client
        .post(format!("{}/connectors", host.base))
        .header("content-type", "application/wasm")
        .body(with_custom_section(SANDBOX, "cassa-test-build", b"unauthorized"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 401);
    assert_eq!(host.sandbox_entry().await["artifacts"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_publisher_keys_only_uploads_signed_by_one_of_them_are_stored() {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let publisher = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let host = Host::start_with(vec![format!("acme:{}", b64(&publisher.verifying_key().to_bytes()))], None).await;
    let wasm = with_custom_section(SANDBOX, "cassa-test-build", b"signed");
    let digest = hex::decode(cassa::registry::digest_of(&wasm)).unwrap();
    let push = |signature: Option<String>| {
        let mut request = host
            .client
            .post(format!("{}/connectors?activate=true", host.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/wasm")
            .body(wasm.clone());
        if let Some(signature) = signature {
            request = request.header("x-cassa-signature", signature);
        }
        async move {
            let reply = request.send().await.unwrap();
            (reply.status().as_u16(), reply.json::<Value>().await.unwrap())
        }
    };
    // Unsigned, signed by a stranger, signed over other bytes, not even a signature: refused.
    for (what, signature) in [
        ("unsigned", None),
        ("a stranger's signature", Some(b64(&stranger.sign(&digest).to_bytes()))),
        ("a signature of other bytes", Some(b64(&publisher.sign(b"something else").to_bytes()))),
        ("not a signature", Some(b64(b"short"))),
    ] {
        let (status, problem) = push(signature).await;
        assert_eq!((status, problem["error"].as_str()), (422, Some("invalid_signature")), "{what}: {problem}");
    }
    assert_eq!(host.sandbox_entry().await["artifacts"].as_array().unwrap().len(), 1, "nothing stored");
    // Signed by the publisher: stored with its name, and active.
    let (status, pushed) = push(Some(b64(&publisher.sign(&digest).to_bytes()))).await;
    assert_eq!(status, 201, "{pushed}");
    assert_eq!((pushed["artifact"]["signed_by"].as_str(), pushed["activated"].as_bool()), (Some("acme"), Some(true)));
    let entry = host.sandbox_entry().await;
    assert_eq!(entry["running"], pushed["artifact"]["digest"]);
    // The bundled version stays trusted: rolling back to it works.
    let bundled = entry["artifacts"].as_array().unwrap().iter().find(|a| a["signed_by"] == "bundled").cloned().unwrap();
    let (status, back) = host.admin(reqwest::Method::POST, "/connectors/sandbox/rollback", None).await;
    assert_eq!((status, back["digest"].as_str()), (200, bundled["digest"].as_str()), "{back}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_file_dropped_into_the_directory_is_validated_stored_and_activated() {
    let dir = std::env::temp_dir().join(format!("cassa-connector-dir-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let host = Host::start_with(Vec::new(), Some(dir.clone())).await;
    let bundled = host.sandbox_entry().await["active"].as_str().unwrap().to_owned();
    // A broken file is refused and changes nothing; the host goes on.
    std::fs::write(dir.join("broken.wasm"), b"not a component").unwrap();
    // A rebuilt connector dropped in: stored and active, as an upload with --activate would be.
    let wasm = with_custom_section(SANDBOX, "cassa-test-build", b"dropped");
    let digest = cassa::registry::digest_of(&wasm);
    std::fs::write(dir.join("sandbox.wasm"), &wasm).unwrap();
    let started = Instant::now();
    while host.sandbox_entry().await["running"] != digest.as_str() {
        assert!(started.elapsed() < Duration::from_secs(10), "the dropped file was never activated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let entry = host.sandbox_entry().await;
    assert_eq!((entry["active"].as_str(), entry["artifacts"].as_array().unwrap().len()), (Some(digest.as_str()), 2));
    let (_, list) = host.admin(reqwest::Method::GET, "/connectors", None).await;
    let stored: usize = list.as_array().unwrap().iter().map(|c| c["artifacts"].as_array().unwrap().len()).sum();
    assert_eq!(stored, cassa::embedded::BUNDLED.len() + 1, "the broken file was not stored");
    // An operator's rollback stands: the file, unchanged, is not activated again.
    let (status, back) = host.admin(reqwest::Method::POST, "/connectors/sandbox/rollback", None).await;
    assert_eq!((status, back["digest"].as_str()), (200, Some(bundled.as_str())));
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(host.sandbox_entry().await["active"], bundled.as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_service_or_tenant_keeps_its_version_while_another_is_active() {
    let host = Host::start().await;
    let old = host.sandbox_entry().await["active"].as_str().unwrap().to_owned();
    // A second service of the demo tenant, never pinned.
    const OTHER: &str = "5e6b7e2a-86f1-4c55-9d0e-0c43f3a1b2c4";
    let other = json!({"id": OTHER, "tenant_id": DEMO_TENANT, "active": true, "reason_prefix": "Other"});
    let (status, saved) =
        cassa_tests::send_json(&host.client, &host.base, "PUT", &format!("/services/{OTHER}"), Some(other)).await;
    assert_eq!(status, 201, "{saved}");
    let wasm = with_custom_section(SANDBOX, "cassa-test-build", b"pinned");
    let new = cassa::registry::digest_of(&wasm);
    let (status, _) =
        host.admin(reqwest::Method::POST, "/connectors?activate=true", Some(("application/wasm", wasm))).await;
    assert_eq!(status, 201);
    let artifact =
        |selector: &str| Some(("application/json", serde_json::to_vec(&json!({"artifact": selector})).unwrap()));

    // The demo service pinned to the old version: its payments are created by it, the other
    // service's by the active one.
    let service_pin = format!("/connectors/sandbox/pins/service/{DEMO_SERVICE}");
    let (status, pin) = host.admin(reqwest::Method::PUT, &service_pin, artifact(&old[..8])).await;
    assert_eq!(
        (status, pin["digest"].as_str(), pin["kind"].as_str()),
        (200, Some(old.as_str()), Some("service")),
        "{pin}"
    );
    assert!(host.creation_note().await.contains(&format!("(sha256:{})", &old[..12])));
    assert!(host.creation_note_of(OTHER).await.contains(&format!("(sha256:{})", &new[..12])));
    let entry = host.sandbox_entry().await;
    assert_eq!(entry["active"], new.as_str(), "a pin does not change the active version");
    assert_eq!(entry["pins"][0]["id"], DEMO_SERVICE, "{entry}");

    // A pinned version cannot be removed; the refusal names who holds it.
    let (status, refused) =
        host.admin(reqwest::Method::DELETE, &format!("/connectors/sandbox/artifacts/{old}"), None).await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains(&format!("service:{DEMO_SERVICE}")), "{refused}");

    // Unpinned, the service follows the active version again.
    let (status, _) = host.admin(reqwest::Method::DELETE, &service_pin, None).await;
    assert_eq!(status, 204);
    assert!(host.creation_note().await.contains(&format!("(sha256:{})", &new[..12])));

    // A tenant's pin holds every service of it.
    let tenant_pin = format!("/connectors/sandbox/pins/tenant/{DEMO_TENANT}");
    let (status, _) = host.admin(reqwest::Method::PUT, &tenant_pin, artifact(&old)).await;
    assert_eq!(status, 200);
    for service in [DEMO_SERVICE, OTHER] {
        let note = host.creation_note_of(service).await;
        assert!(note.contains(&format!("(sha256:{})", &old[..12])), "{service}: {note}");
    }
    let (status, _) = host.admin(reqwest::Method::DELETE, &tenant_pin, None).await;
    assert_eq!(status, 204);

    // Refusals change nothing: a bad kind or id, an unknown version, no pin to remove.
    let bad_kind = format!("/connectors/sandbox/pins/municipality/{DEMO_TENANT}");
    for (method, path, body, expected) in [
        (reqwest::Method::PUT, bad_kind.as_str(), artifact(&old), 400),
        (reqwest::Method::PUT, "/connectors/sandbox/pins/tenant/not-a-uuid", artifact(&old), 400),
        (reqwest::Method::PUT, tenant_pin.as_str(), artifact("9.9.9"), 404),
        (reqwest::Method::DELETE, tenant_pin.as_str(), None, 404),
    ] {
        let (status, problem) = host.admin(method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {problem}");
        assert!(problem["error"].is_string(), "{problem}");
    }
    assert!(host.sandbox_entry().await["pins"].as_array().unwrap().is_empty());
    // Nothing holds the old version any more: it can go.
    let (status, _) = host.admin(reqwest::Method::DELETE, &format!("/connectors/sandbox/artifacts/{old}"), None).await;
    assert_eq!(status, 204);
}
