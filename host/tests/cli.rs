//! The `cassa` binary as an operator or connector author uses it: `connector inspect`,
//! `connector test` (the conformance suite, ending in `N passed, M failed`), and `run` serving
//! the sandbox intermediary and the embedded connector.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{CASSA, host, host_with};

const SANDBOX_WASM: &str = env!("CASSA_CONNECTOR_SANDBOX_WASM");

#[test]
fn connector_inspect_prints_what_the_connector_declares() {
    let output = Command::new(CASSA).args(["connector", "inspect", SANDBOX_WASM]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        "name:             sandbox",
        "contract version: 0.1.0",
        "capabilities:     begin-online, notice, receipt, cancel",
        "declared hosts:   *",
        "\"x-secret\": true",
        "tenant schema:",
        "service schema:",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing:\n{stdout}");
    }
}

#[test]
fn connector_test_runs_the_conformance_suite_and_ends_with_the_tally() {
    let output = Command::new(CASSA).args(["connector", "test", SANDBOX_WASM]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    let passed: usize = last.strip_suffix(" passed, 0 failed").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(passed >= 8, "last line `{last}`:\n{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok    ")).count(), passed);
}

#[test]
fn connector_test_fails_with_a_clear_message_for_a_missing_file() {
    let output = Command::new(CASSA).args(["connector", "test", "/nonexistent/connector.wasm"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot read /nonexistent/connector.wasm"), "{stderr}");
}

#[test]
fn run_serves_health_the_embedded_connector_and_the_sandbox_intermediary() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(CASSA)
        .arg("run")
        .env("CASSA_LISTEN", format!("127.0.0.1:{port}"))
        .env("CASSA_DATA_DIR", std::env::temp_dir().join(format!("cassa-cli-{port}")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = rt.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            match client.get(format!("{base}/healthz")).send().await {
                Ok(r) if r.status().is_success() => break,
                _ if started.elapsed() > Duration::from_secs(30) => return Err("cassa run did not come up".to_owned()),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let body = client.get(format!("{base}/connectors")).send().await.unwrap().bytes().await.unwrap();
        let connectors: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // Every bundled connector, by name, stored in the registry, active and running.
        let names: Vec<&str> = connectors.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        for c in connectors.as_array().unwrap() {
            assert!(c["active"].is_string() && c["active"] == c["running"], "{c}");
            assert_eq!(c["artifacts"].as_array().unwrap().len(), 1, "{c}");
        }
        let mut bundled: Vec<&str> = cassa::embedded::BUNDLED.iter().map(|(name, _)| *name).collect();
        bundled.sort_unstable();
        assert_eq!(names, bundled);
        assert!(names.contains(&"sandbox") && names.len() >= 5, "{names:?}");
        // The sandbox intermediary answers under /sandbox and wants its API key.
        let reply =
            client.get(format!("{base}/sandbox/organizations/80001234568/debt-positions/x")).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 401);
        Ok(())
    });
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}

#[test]
fn payments_import_sends_a_csv_and_summarises_accepted_and_rejected_rows() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = std::env::temp_dir().join(format!("cassa-cli-import-{port}"));
    let mut child = Command::new(CASSA)
        .args(["run", "--demo"])
        .env("CASSA_LISTEN", format!("127.0.0.1:{port}"))
        .env("CASSA_DATA_DIR", &data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "cassa run did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let tenant = "60e35f02-1509-408c-b101-3b1a28109329";
    let service = "df171f10-bea7-4701-afd5-797693fd3b08";
    let mut csv = String::from("remote_id,tenant_id,service_id,reason,amount,expire_at,payer_tax_id,payer_name\n");
    for i in 0..5 {
        csv.push_str(&format!(
            "{},{tenant},{service},Rata {i},12.50,2026-12-31T00:00:00+01:00,CLNVTR76P01G822Q,Vittorino\n",
            uuid::Uuid::new_v4()
        ));
    }
    csv.push_str(&format!(
        "{},{tenant},{service},Rata 6,zero,2026-12-31T00:00:00+01:00,CLNVTR76P01G822Q,Vittorino\n",
        uuid::Uuid::new_v4()
    ));
    let file = data.join("import.csv");
    std::fs::write(&file, csv).unwrap();
    let output = Command::new(CASSA)
        .args(["payments", "import"])
        .arg(&file)
        .args(["--url", &base, "--chunk", "2"])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "rejected rows make the exit code 2:\n{stdout}");
    assert!(stdout.contains("6 rows: 5 accepted, 0 already present, 1 rejected"), "{stdout}");
    assert!(stdout.contains("line 7: amount"), "the rejected row is named by its line:\n{stdout}");
}

/// A fresh directory with `cassa.toml` holding `settings`.
fn settings_dir(settings: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("cassa-settings-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cassa.toml"), settings).unwrap();
    dir
}

#[test]
fn config_check_prints_the_effective_settings_with_the_environment_over_the_file_and_secrets_masked() {
    let dir = settings_dir(
        "listen = \"0.0.0.0:9000\"\ngroup_prefix = \"from-file\"\ncheckout_subscription_key = \"file-secret-1\"\n",
    );
    let output = Command::new(CASSA)
        .args(["config", "check", "--kafka-partitions", "12"])
        .current_dir(&dir)
        .env("CASSA_GROUP_PREFIX", "from-env")
        .env("CASSA_KAFKA_PARTITIONS", "3")
        .env("CASSA_CORE_TOKEN", "env-secret-2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for line in [
        "listen = \"0.0.0.0:9000\"",
        "group_prefix = \"from-env\"",
        "kafka_partitions = 12",
        "checkout_subscription_key = \"***\"",
        "core_token = \"***\"",
        "topic_payments = \"payments\"",
    ] {
        assert!(stdout.lines().any(|l| l == line), "`{line}` missing:\n{stdout}");
    }
    assert!(!stdout.contains("file-secret-1") && !stdout.contains("env-secret-2"));
}

#[test]
fn config_check_and_run_refuse_an_unknown_key_by_name() {
    let dir = settings_dir("listen = \"127.0.0.1:0\"\nkafka_broker = \"k:9092\"\n");
    for command in [&["config", "check"][..], &["run"][..]] {
        let output = Command::new(CASSA).args(command).current_dir(&dir).output().unwrap();
        assert!(!output.status.success(), "{command:?} accepted an unknown key");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("kafka_broker") && stderr.contains("cassa.toml"), "{stderr}");
    }
    let missing =
        Command::new(CASSA).args(["config", "check", "--config", "/nonexistent/cassa.toml"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cassa.toml"));
}

#[test]
fn sigterm_in_the_middle_of_a_run_loses_nothing_and_duplicates_nothing_after_restart() {
    const APPLICATIONS: usize = 3000;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = std::env::temp_dir().join(format!("cassa-cli-sigterm-{port}"));
    let _ = std::fs::remove_dir_all(&data);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let up = |client: &reqwest::Client| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let started = Instant::now();
            while !client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                assert!(started.elapsed() < Duration::from_secs(30), "cassa run did not come up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let count = |client: &reqwest::Client, status: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            // The payments gauge of `/metrics`, read from the database at each scrape.
            let text = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
            let series = format!("cassa_payments{{status=\"{status}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&series)).map_or(0, |v| v.parse::<f64>().unwrap() as usize)
        }
    };

    let mut first = host(&data, port, "first");
    rt.block_on(up(&client));
    let template: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/examples/application_event.json")).unwrap();
    let applications: Vec<serde_json::Value> = (0..APPLICATIONS)
        .map(|_| {
            let mut app = template.clone();
            app["id"] = uuid::Uuid::new_v4().to_string().into();
            app["payment_data"]["notify"]["url"] = "http://127.0.0.1:9/unreachable".into();
            app
        })
        .collect();
    let ids: Vec<uuid::Uuid> = applications.iter().map(|a| a["id"].as_str().unwrap().parse().unwrap()).collect();
    rt.block_on(async {
        let reply = client.post(format!("{base}/applications")).json(&applications).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 202);
        // SIGTERM once some, not all, debt positions exist.
        let started = Instant::now();
        while count(&client, "PAYMENT_PENDING").await == 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "no payment was created");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let terminated = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap().success());
    let status = first.wait().unwrap();
    let took = terminated.elapsed();
    let log = std::fs::read_to_string(data.join("first.log")).unwrap();
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(took < Duration::from_secs(15), "took {took:?}, beyond the bound");
    assert!(log.contains("stopped cleanly"), "{log}");
    let pending_at_stop = rt.block_on(async {
        // What the first host left, read from its database before the second starts.
        let url = format!("sqlite://{}?mode=rw", data.join("cassa.db").display());
        let store = cassa::store::Store::connect(&url).await.unwrap();
        let filter = cassa::store::PaymentFilter {
            status: Some(cassa::domain::PaymentStatus::PaymentPending),
            limit: 100_000,
            ..Default::default()
        };
        let before = store.payments(&filter).await.unwrap().len();
        drop(store);
        let mut second = host(&data, port, "second");
        up(&client).await;
        let started = Instant::now();
        while count(&client, "PAYMENT_PENDING").await < APPLICATIONS {
            assert!(started.elapsed() < Duration::from_secs(120), "not every application became a payment");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(count(&client, "CREATION_PENDING").await + count(&client, "CREATION_FAILED").await, 0);
        let _ = second.kill();
        let _ = second.wait();
        // Every application has exactly one payment, whose debt position was recorded once.
        let store = cassa::store::Store::connect(&url).await.unwrap();
        for id in &ids {
            let payment = store.payment_by_remote_id(*id).await.unwrap().expect("a payment per application");
            let history = store.history(payment.event.id).await.unwrap();
            let statuses: Vec<&str> = history.iter().map(|(_, status, _)| status.as_str()).collect();
            let created = statuses.windows(2).filter(|w| w == &["CREATION_PENDING", "PAYMENT_PENDING"]).count();
            assert_eq!(created, 1, "created once: {statuses:?}");
            assert_eq!(statuses.first(), Some(&"CREATION_PENDING"), "{statuses:?}");
        }
        before
    });
    eprintln!("{pending_at_stop} of {APPLICATIONS} payments were created before SIGTERM; exit took {took:?}");
    assert!(pending_at_stop < APPLICATIONS, "SIGTERM came after the run had ended: make it bigger");
}

#[test]
fn dlq_list_show_and_replay_work_against_a_running_host_for_operators_with_a_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = std::env::temp_dir().join(format!("cassa-cli-dlq-{port}"));
    let mut child = host_with(&data, port, "dlq", &[("CASSA_ADMIN_TOKENS", "first-operator,second-operator")]);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    rt.block_on(async {
        let started = Instant::now();
        while !client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(started.elapsed() < Duration::from_secs(30), "cassa run did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut broken: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/examples/application_event.json")).unwrap();
        broken["tenant_id"] = "not-a-uuid".into();
        client.post(format!("{base}/applications")).json(&broken).send().await.unwrap();
        // Without an operator's token, or with a wrong one: 401, as a problem.
        for token in [None, Some("guess")] {
            let mut request = client.get(format!("{base}/dlq"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let reply = request.send().await.unwrap();
            assert_eq!(reply.status().as_u16(), 401);
            assert_eq!(reply.headers()["content-type"], "application/problem+json");
        }
        let started = Instant::now();
        loop {
            let list: serde_json::Value = client
                .get(format!("{base}/dlq"))
                .bearer_auth("second-operator")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if list.as_array().is_some_and(|l| !l.is_empty()) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "nothing reached the DLQ");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let refused = Command::new(CASSA).args(["dlq", "list", "--url", &base]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{}", String::from_utf8_lossy(&refused.stderr));
    let cassa = |args: &[&str]| {
        let output = Command::new(CASSA)
            .args(args)
            .args(["--url", &base])
            .env("CASSA_ADMIN_TOKEN", "first-operator")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{args:?}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let listed = cassa(&["dlq", "list"]);
    assert!(listed.contains("malformed application event") && listed.ends_with("1 dead letter(s)\n"), "{listed}");
    let id = listed.split_whitespace().next().unwrap().to_owned();
    let shown = cassa(&["dlq", "show", &id]);
    assert!(shown.contains("not-a-uuid") && shown.contains("\"reason\""), "{shown}");
    let replayed = cassa(&["dlq", "replay", "--all"]);
    assert!(replayed.contains(&format!("{id}  replayed to applications")), "{replayed}");
    let all = cassa(&["dlq", "list", "--all"]);
    assert!(all.contains("replayed "), "{all}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn connector_sign_writes_a_signature_of_the_digest_that_the_publishers_key_verifies() {
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let dir = std::env::temp_dir().join(format!("cassa-cli-sign-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    std::fs::write(dir.join("publisher.pem"), pem.as_bytes()).unwrap();
    let file = dir.join("sandbox.wasm");
    std::fs::copy(SANDBOX_WASM, &file).unwrap();
    let output = Command::new(CASSA)
        .args(["connector", "sign", "--key"])
        .arg(dir.join("publisher.pem"))
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let digest = cassa::registry::digest_of(&std::fs::read(&file).unwrap());
    assert!(stdout.contains(&format!("sha256:{digest}")), "{stdout}");
    let written = std::fs::read_to_string(dir.join("sandbox.wasm.sig")).unwrap();
    let bytes: [u8; 64] = base64::engine::general_purpose::STANDARD.decode(written.trim()).unwrap().try_into().unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verifying_key().verify_strict(&hex::decode(&digest).unwrap(), &signature).expect("the signature verifies");
    // A key that is not an Ed25519 private key is refused by name.
    std::fs::write(dir.join("wrong.pem"), "not a key").unwrap();
    let output = Command::new(CASSA)
        .args(["connector", "sign", "--key"])
        .arg(dir.join("wrong.pem"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("wrong.pem is not an Ed25519 PKCS#8 private key"));
}

#[test]
fn kill_9_in_the_middle_of_a_run_with_a_separate_intermediary_loses_nothing_and_doubles_no_position() {
    const APPLICATIONS: usize = 2000;
    const FISCAL_CODE: &str = "80001234568";
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (port, sandbox_port) = (free(), free());
    let data = std::env::temp_dir().join(format!("cassa-cli-kill9-{port}"));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    // The intermediary is its own process: it keeps its positions while the host is killed.
    let mut intermediary = Command::new(support::CASSA)
        .args(["sandbox", "--listen", &format!("127.0.0.1:{sandbox_port}"), "--api-key", "kill9-key"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(data.join("sandbox.log")).unwrap())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let up = |client: &reqwest::Client, url: String| {
        let client = client.clone();
        async move {
            let started = Instant::now();
            while client.get(&url).send().await.is_err() {
                assert!(started.elapsed() < Duration::from_secs(30), "{url} did not come up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let (tenant, service) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    // A short lease: what the killed host had claimed is taken up again soon.
    let lease = [("CASSA_CREATE_LEASE_MS", "5000")];
    let mut first = host_with(&data, port, "first", &lease);
    let ids: Vec<uuid::Uuid> = rt.block_on(async {
        up(&client, format!("{sandbox}/pay/x/y")).await;
        up(&client, format!("{base}/healthz")).await;
        let config = serde_json::json!({"id": tenant, "active": true, "name": "Comune di Uccisione",
            "tax_identification_number": FISCAL_CODE, "base_url": sandbox, "fiscal_code": FISCAL_CODE, "api_key": "kill9-key"});
        let reply = client.put(format!("{base}/tenants/{tenant}")).json(&config).send().await.unwrap();
        assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());
        let config = serde_json::json!({"id": service, "tenant_id": tenant, "active": true});
        let reply = client.put(format!("{base}/services/{service}")).json(&config).send().await.unwrap();
        assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());
        let template: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/examples/application_event.json")).unwrap();
        let applications: Vec<serde_json::Value> = (0..APPLICATIONS)
            .map(|_| {
                let mut app = template.clone();
                app["id"] = uuid::Uuid::new_v4().to_string().into();
                app["tenant_id"] = tenant.clone().into();
                app["service_id"] = service.clone().into();
                app["payment_data"]["notify"]["url"] = "http://127.0.0.1:9/unreachable".into();
                app
            })
            .collect();
        let reply = client.post(format!("{base}/applications")).json(&applications).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 202);
        // Kill once some, not all, debt positions exist.
        let started = Instant::now();
        loop {
            let found = client.get(format!("{base}/payments?status=PAYMENT_PENDING&limit=1")).send().await.unwrap();
            if found.json::<serde_json::Value>().await.unwrap().as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no payment was created");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        applications.iter().map(|a| a["id"].as_str().unwrap().parse().unwrap()).collect()
    });
    first.kill().unwrap();
    first.wait().unwrap();

    let url = format!("sqlite://{}?mode=rw", data.join("cassa.db").display());
    let created_before = rt.block_on(async {
        let store = cassa::store::Store::connect(&url).await.unwrap();
        let filter = cassa::store::PaymentFilter {
            status: Some(cassa::domain::PaymentStatus::PaymentPending),
            limit: 100_000,
            ..Default::default()
        };
        store.payments(&filter).await.unwrap().len()
    });
    let mut second = host_with(&data, port, "second", &lease);
    rt.block_on(async {
        up(&client, format!("{base}/healthz")).await;
        let store = cassa::store::Store::connect(&url).await.unwrap();
        let started = Instant::now();
        loop {
            let counts = store.count_by_status().await.unwrap();
            let pending = counts.iter().find(|(s, _)| s == "PAYMENT_PENDING").map_or(0, |(_, n)| *n);
            // Applications the first host had accepted but not dispatched are read again.
            if pending as usize == APPLICATIONS {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "not every application became a payment: {counts:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for id in &ids {
            // 0 lost: every application has its payment, created once in its history …
            let payment = store.payment_by_remote_id(*id).await.unwrap().expect("a payment per application").event;
            let history = store.history(payment.id).await.unwrap();
            let statuses: Vec<&str> = history.iter().map(|(_, status, _)| status.as_str()).collect();
            let created = statuses.windows(2).filter(|w| w == &["CREATION_PENDING", "PAYMENT_PENDING"]).count();
            assert_eq!(created, 1, "created once: {statuses:?}");
            // … 0 doubled: its position at the intermediary is the one it records.
            let position: serde_json::Value = client
                .get(format!("{sandbox}/organizations/{FISCAL_CODE}/debt-positions/{}", payment.payment.iud))
                .header("x-api-key", "kill9-key")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(position["iuv"].as_str(), payment.payment.iuv.as_deref(), "{position}");
        }
    });
    let _ = second.kill();
    let _ = second.wait();
    let _ = intermediary.kill();
    let _ = intermediary.wait();
    eprintln!("{created_before} of {APPLICATIONS} payments were created before kill -9");
    assert!(created_before < APPLICATIONS, "the kill came after the run had ended: make it bigger");
}
