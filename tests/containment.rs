//! Containment: purpose-built hostile guests must not hurt the host, other connectors, or the
//! next call of the same connector. Each test provokes one misbehaviour, asserts the error and
//! its blame, and then asserts that the same connector answers a normal call.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cassa::registry::Connectors;
use cassa::runtime::{AdmissionError, Blame, CallError, CallScope, Connector, Gate, LimitPolicy, Limits, wit};
use cassa_tests::*;

/// After a hostile call, the same connector must still serve a normal one.
async fn still_serves(connector: &Connector) {
    let status = connector.status(&hostile_scope("noop", "", &[]), any_debt()).await;
    assert!(matches!(status, Ok(wit::PaymentStatus::Pending)), "next call failed: {status:?}");
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_cpu_deadline() {
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    let started = Instant::now();
    let error = connector.status(&hostile_scope("loop", "", &[]), any_debt()).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, CallError::CpuLimit { limit_ms: 300 }), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    // 300 ms of CPU, measured in 5 ms epochs: well under a second of wall time.
    assert!(elapsed < Duration::from_secs(2), "stopped after {elapsed:?}");
    still_serves(&connector).await;
}

/// A hostile scope for `tenant`, with the limits and gate the operator's policy gives it.
fn limited_scope(connectors: &Connectors, connector: &Connector, tenant: &str, mode: &str) -> CallScope {
    let (limits, gate) = connectors.limits_for(connector, tenant);
    CallScope { tenant_id: tenant.into(), limits: Some(limits), gate, ..hostile_scope(mode, "", &[]) }
}

#[tokio::test]
async fn the_operators_limits_per_connector_and_tenant_fail_calls_with_blame_and_are_logged_and_counted() {
    let metrics = cassa::metrics::handle().expect("the metrics recorder");
    let (logs, _guard) = CapturedLogs::start();
    const SMALL: &str = "00000000-0000-4000-8000-0000000000a1";
    const SLOW: &str = "00000000-0000-4000-8000-0000000000a2";
    const PACED: &str = "00000000-0000-4000-8000-0000000000a3";
    const SINGLE: &str = "00000000-0000-4000-8000-0000000000a4";
    const OTHER: &str = "00000000-0000-4000-8000-0000000000a5";
    let rules = [
        "connector=hostile cpu_ms=200".to_owned(),
        format!("tenant={SMALL} memory_mb=8"),
        format!("tenant={SLOW} cpu_ms=60000 wall_ms=150"),
        format!("tenant={PACED} calls_per_second=1 wall_ms=300"),
        format!("tenant={SINGLE} concurrency=1 wall_ms=200"),
    ];
    let connectors = Connectors::new(LimitPolicy::parse(&rules).unwrap());
    connectors.install(hostile(&runtime(Limits::default(), false)).await, 8, None);
    let (connector, _) = connectors.get("hostile").unwrap();
    let scope = |tenant: &str, mode: &str| limited_scope(&connectors, &connector, tenant, mode);

    // Memory: the tenant's own 8 MiB, not the runtime's 64.
    let error = connector.status(&scope(SMALL, "memory"), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::MemoryLimit { limit_bytes } if limit_bytes == 8 << 20), "{error:?}");
    // CPU: the connector's 200 ms for a tenant without a rule.
    let error = connector.status(&scope(OTHER, "loop"), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::CpuLimit { limit_ms: 200 }), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    // Wall time: the tenant's 150 ms beats the connector's CPU time it also raised.
    let error = connector.status(&scope(SLOW, "loop"), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::WallTimeout { limit_ms: 150 }), "{error:?}");

    // Calls per second: the first goes, the second's turn (in 1 s) is past its 300 ms wall
    // time, so it is refused at once, blamed on the tenant, and may be tried again.
    connector.status(&scope(PACED, "noop"), any_debt()).await.unwrap();
    let started = Instant::now();
    let error = connector.status(&scope(PACED, "noop"), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::TenantLimit { limit: "calls_per_second", value: 1, .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(150), "refused after {:?}", started.elapsed());
    assert_eq!((error.blame(), error.is_transient()), (Blame::Tenant, true));

    // Concurrency: while the tenant's one call is running, the next waits its wall time. It
    // waits without holding a place at the intermediary (one place here): another tenant's
    // call to the same intermediary goes through meanwhile.
    let (_, gate) = connectors.limits_for(&connector, SINGLE);
    let running = gate.expect("the tenant has a gate").enter(None).await.unwrap();
    let intermediary = Arc::new(Gate::new(Some(1), None));
    let queued = |tenant: &str| CallScope { intermediary: Some(intermediary.clone()), ..scope(tenant, "noop") };
    let started = Instant::now();
    let waiting = {
        let (connector, scope) = (connector.clone(), queued(SINGLE));
        tokio::spawn(async move { connector.status(&scope, any_debt()).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    connector.status(&queued(OTHER), any_debt()).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(150), "the other tenant waited {:?}", started.elapsed());
    let error = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(error, CallError::TenantLimit { limit: "concurrency", value: 1, waited_ms } if waited_ms >= 190),
        "{error:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(190));
    // The tenant's next call goes once it is free.
    drop(running);
    connector.status(&queued(SINGLE), any_debt()).await.unwrap();

    let text = logs.text();
    for limit in ["memory", "cpu", "wall", "calls_per_second", "concurrency"] {
        assert!(text.contains(&format!("limit={limit}")), "no log line names limit {limit}: {text}");
    }
    assert!(text.contains("blame=tenant"), "{text}");
    let rendered = metrics.render();
    for (tenant, limit) in
        [(SMALL, "memory"), (OTHER, "cpu"), (SLOW, "wall"), (PACED, "calls_per_second"), (SINGLE, "concurrency")]
    {
        let counted = rendered.lines().any(|line| {
            line.starts_with("cassa_limit_exceeded_total{")
                && line.contains(&format!("tenant=\"{tenant}\""))
                && line.contains(&format!("limit=\"{limit}\""))
                && line.ends_with(" 1")
        });
        assert!(counted, "{tenant}/{limit} not counted once:\n{rendered}");
    }
}

#[tokio::test]
async fn a_loop_is_also_bounded_by_the_wall_clock() {
    let limits = Limits { cpu_ms: 60_000, wall_ms: 300, ..tight_limits() };
    let runtime = runtime(limits, false);
    let connector = hostile(&runtime).await;
    let started = Instant::now();
    let error = connector.status(&hostile_scope("loop", "", &[]), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::WallTimeout { limit_ms: 300 }), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    assert!(started.elapsed() < Duration::from_secs(2));
    still_serves(&connector).await;
}

#[tokio::test]
async fn memory_growth_past_the_limit_fails_cleanly() {
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    let error = connector.status(&hostile_scope("memory", "", &[]), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::MemoryLimit { limit_bytes } if limit_bytes == 32 * 1024 * 1024), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    still_serves(&connector).await;
}

#[tokio::test]
async fn a_request_outside_the_allow_list_is_refused_and_reported() {
    let echo = EchoServer::start().await;
    let (logs, _guard) = CapturedLogs::start();
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    // The tenant allows only another host: the echo server must never be reached.
    let scope = hostile_scope("egress", &format!("{}/steal", echo.url()), &["mypay.regione.veneto.it"]);
    let error = connector.status(&scope, any_debt()).await.unwrap_err();
    assert!(matches!(&error, CallError::EgressDenied { denied, .. } if denied.contains("/steal")), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    assert!(echo.received().is_empty(), "the refused request reached the server");
    assert!(logs.text().contains("outbound request refused"), "no log line reports the refusal");
    still_serves(&connector).await;
}

/// 400 requests of a 4 MiB URL to a host outside the allow-list in one call: each is refused
/// (over the URL cap, before the destination is even looked at) without the URL going into a
/// log or an error (the first logged, cut short, then one count); to an allowed host the same
/// URL is refused too, never sent, blamed on the connector.
#[tokio::test]
async fn a_flood_of_refused_requests_with_huge_urls_leaves_a_few_lines_and_a_bounded_error() {
    let echo = EchoServer::start().await;
    let (logs, _guard) = CapturedLogs::start();
    // Copying 400 URLs of 4 MiB out of the guest takes more than the tight CPU limit.
    let runtime = runtime(Limits::default(), false);
    let connector = hostile(&runtime).await;
    let scope = hostile_scope("refused_flood", &format!("{}/steal", echo.url()), &["mypay.regione.veneto.it"]);
    let error = connector.status(&scope, any_debt()).await.unwrap_err();
    let CallError::EgressDenied { denied, .. } = &error else { panic!("{error:?}") };
    assert!(denied.len() < 4096, "the error holds {} bytes", denied.len());
    assert!(denied.contains("and 397 more"), "{denied}");
    assert_eq!(error.blame(), Blame::Guest);
    let text = logs.text();
    let mine: Vec<&str> =
        text.lines().filter(|l| l.contains("/steal/aaaa") || l.contains("refused in one call")).collect();
    // The first refusal, the count, and the call's failure (its error names the first three).
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine.iter().all(|l| l.len() < 4096), "a log line holds the URL");
    assert!(mine.iter().any(|l| l.contains("refused=400")), "{mine:?}");
    assert!(echo.received().is_empty());

    // Allowed host, same URL: over the URL cap, so not sent at all.
    let allowed = hostile_scope("refused_flood", &format!("{}/big", echo.url()), &[&echo.addr.to_string()]);
    let error = connector.status(&allowed, any_debt()).await.unwrap_err();
    assert!(matches!(&error, CallError::EgressDenied { denied, .. } if denied.contains("URL of 4194")), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    assert!(echo.received().is_empty(), "an oversized request was sent");
    still_serves(&connector).await;
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused_after_resolution() {
    let echo = EchoServer::start().await;
    // Production egress: loopback is not public. The allow-list lets the name through; the
    // check after resolution must still stop it.
    let runtime = runtime(tight_limits(), true);
    let connector = hostile(&runtime).await;
    let url = format!("http://localhost:{}/metadata", echo.addr.port());
    let error = connector.status(&hostile_scope("egress", &url, &["localhost"]), any_debt()).await.unwrap_err();
    assert!(matches!(&error, CallError::EgressDenied { denied, .. } if denied.contains("non-public")), "{error:?}");
    let literal = format!("http://127.0.0.1:{}/metadata", echo.addr.port());
    let error = connector.status(&hostile_scope("egress", &literal, &["127.0.0.1"]), any_debt()).await.unwrap_err();
    assert!(
        matches!(&error, CallError::EgressDenied { denied, .. } if denied.contains("not a public address")),
        "{error:?}"
    );
    assert!(echo.received().is_empty());
    still_serves(&connector).await;
}

#[tokio::test]
async fn an_allowed_request_goes_through() {
    let echo = EchoServer::start().await;
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    let url = format!("{}/hello", echo.url());
    let error =
        connector.status(&hostile_scope("egress", &url, &[&echo.addr.to_string()]), any_debt()).await.unwrap_err();
    // The guest reports what it reached as a `rejected` value: blame upstream, not an egress denial.
    assert!(matches!(&error, CallError::Connector(wit::Error::Rejected(m)) if m.contains("HTTP 200")), "{error:?}");
    assert_eq!(echo.received().len(), 1);
    assert_eq!(echo.received()[0].line, "GET /hello");
}

fn small_caps_runtime() -> cassa::runtime::Runtime {
    cassa::runtime::Runtime::new(cassa::runtime::RuntimeConfig {
        limits: tight_limits(),
        egress: cassa::runtime::EgressConfig {
            allow_private_networks: true,
            max_request_bytes: 1024,
            max_response_bytes: 1024,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn an_oversized_request_is_not_sent_and_is_blamed_on_the_connector() {
    let echo = EchoServer::start().await;
    let runtime = small_caps_runtime();
    let connector = hostile(&runtime).await;
    let scope = hostile_scope("upload", &format!("{}/upload", echo.url()), &[&echo.addr.to_string()]);
    let error = connector.status(&scope, any_debt()).await.unwrap_err();
    assert!(
        matches!(&error, CallError::EgressDenied { denied, .. } if denied.contains("request body of 65536 bytes")),
        "{error:?}"
    );
    assert_eq!(error.blame(), Blame::Guest, "the connector made the request, not the intermediary");
    assert!(echo.received().is_empty(), "the oversized request went out");
    still_serves(&connector).await;
}

#[tokio::test]
async fn an_oversized_response_is_cut_off_and_reported() {
    let echo = EchoServer::start().await;
    let runtime = small_caps_runtime();
    let connector = hostile(&runtime).await;
    let scope = hostile_scope("egress", &format!("{}/big", echo.url()), &[&echo.addr.to_string()]);
    let error = connector.status(&scope, any_debt()).await.unwrap_err();
    assert!(matches!(&error, CallError::Connector(wit::Error::Protocol(m)) if m.contains("too large")), "{error:?}");
    assert_eq!(error.blame(), Blame::Upstream);
    assert_eq!(echo.received().len(), 1);
}

#[tokio::test]
async fn a_slow_intermediary_hits_the_wall_clock_and_is_blamed() {
    let echo = EchoServer::start().await;
    let limits = Limits { wall_ms: 300, ..tight_limits() };
    let runtime = runtime(limits, false);
    let connector = hostile(&runtime).await;
    let scope = hostile_scope("egress", &format!("{}/slow", echo.url()), &[&echo.addr.to_string()]);
    let started = Instant::now();
    let error = connector.status(&scope, any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::UpstreamTimeout { limit_ms: 300 }), "{error:?}");
    assert_eq!(error.blame(), Blame::Upstream);
    assert!(error.is_transient());
    assert!(started.elapsed() < Duration::from_secs(2));
    still_serves(&connector).await;
}

#[tokio::test]
async fn a_guest_panic_becomes_a_trap_blamed_on_the_guest() {
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    let error = connector.status(&hostile_scope("panic", "", &[]), any_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::Trap { .. }), "{error:?}");
    assert_eq!(error.blame(), Blame::Guest);
    still_serves(&connector).await;
}

#[tokio::test]
async fn a_guest_sees_only_the_placeholder_of_a_secret() {
    let echo = EchoServer::start().await;
    let (logs, _guard) = CapturedLogs::start();
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    let scope = hostile_scope("secret", &format!("{}/echo", echo.url()), &[&echo.addr.to_string()]);
    let error = connector.status(&scope, any_debt()).await.unwrap_err();
    let CallError::Connector(wit::Error::Rejected(report)) = &error else { panic!("{error:?}") };
    // What the guest saw in its configuration, and what came back to it from the echo.
    assert!(report.contains("seen={{secret:api_key}}"), "{report}");
    assert!(report.contains("echoed=key={{secret:api_key}}"), "{report}");
    assert!(!report.contains(SECRET), "the guest got hold of the secret: {report}");
    // The intermediary received the real value, in the header and in the body.
    let received = echo.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, format!("key={SECRET}"));
    assert!(received[0].headers.iter().any(|(n, v)| n == "x-key" && v == SECRET));
    assert!(!logs.text().contains(SECRET), "a secret reached the logs");
    still_serves(&connector).await;
}

#[tokio::test]
async fn guest_stdout_stderr_and_log_lines_reach_tracing_with_call_fields() {
    let (logs, _guard) = CapturedLogs::start();
    let runtime = runtime(tight_limits(), false);
    let connector = hostile(&runtime).await;
    connector.status(&hostile_scope("stdout", "", &[]), any_debt()).await.unwrap();
    let text = logs.text();
    for line in ["hello from the guest's stdout", "hello from the guest's stderr", "hello from the guest's log"] {
        let logged = text.lines().find(|l| l.contains(line)).unwrap_or_else(|| panic!("`{line}` not logged:\n{text}"));
        for field in ["tenant=tenant-a", "connector=hostile", "version=0.0.1", "payment=payment-1"] {
            assert!(logged.contains(field), "`{field}` missing in: {logged}");
        }
    }
}

#[tokio::test]
async fn a_log_flood_is_capped_and_the_call_still_succeeds() {
    let (logs, _guard) = CapturedLogs::start();
    // The cap is what is tested, not the CPU budget: a loaded machine (a build beside the
    // tests) must not turn the flood's CPU time into a limit error.
    let runtime = runtime(Limits { cpu_ms: 3_000, ..tight_limits() }, false);
    let connector = hostile(&runtime).await;
    let status = connector.status(&hostile_scope("flood", "", &[]), any_debt()).await;
    assert!(matches!(status, Ok(wit::PaymentStatus::Pending)), "{status:?}");
    let text = logs.text();
    let flood_lines = text.lines().filter(|l| l.contains("flood line")).count();
    assert!(flood_lines <= 200 + 1000, "{flood_lines} flood lines logged");
    assert!(text.contains("guest log lines over the cap were dropped"));
    assert!(text.contains("guest output over the cap was dropped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_keeps_serving_other_connectors_while_one_loops() {
    let limits = Limits { cpu_ms: 1_500, ..tight_limits() };
    let runtime = runtime(limits, false);
    let hostile_connector = hostile(&runtime).await;
    let sandbox = runtime.load(SANDBOX).await.unwrap();
    let fake = cassa::conformance::SandboxFake::start().await.unwrap();
    let looping = tokio::spawn({
        let hostile_connector = hostile_connector.clone();
        async move { hostile_connector.status(&hostile_scope("loop", "", &[]), any_debt()).await }
    });
    // While the loop burns its CPU budget, the sandbox connector completes create + status.
    let scope = CallScope {
        tenant_id: "tenant-b".into(),
        service_id: "service-b".into(),
        payment_id: None,
        tenant_config: cassa::conformance::Fake::tenant_config(&fake),
        service_config: serde_json::json!({}),
        allowed_hosts: cassa::conformance::Fake::allowed_hosts(&fake),
        ..CallScope::default()
    };
    let mut served = 0;
    while !looping.is_finished() {
        let position = cassa::conformance::sample_position(500);
        let created = sandbox.create(&scope, position.clone()).await.expect("other tenant's create");
        let debt = wit::DebtRef {
            payment_id: position.payment_id,
            iud: position.iud,
            iuv: created.iuv,
            notice_code: created.notice_code,
            remote_ref: created.remote_ref,
        };
        assert!(matches!(sandbox.status(&scope, debt).await, Ok(wit::PaymentStatus::Pending)));
        served += 1;
    }
    let error = looping.await.unwrap().unwrap_err();
    assert!(matches!(error, CallError::CpuLimit { .. }), "{error:?}");
    assert!(served >= 5, "only {served} calls of the other connector completed during the loop");
    still_serves(&hostile_connector).await;
}

#[tokio::test]
async fn a_component_importing_what_the_host_does_not_provide_is_refused() {
    let runtime = runtime(tight_limits(), false);
    let error = runtime.load(NOT_A_CONNECTOR).await.err().expect("must be refused");
    let AdmissionError::Contract(problems) = &error else { panic!("{error:?}") };
    let text = problems.join("\n");
    assert!(text.contains("does not export `cassa:connector/gateway@0.1.0`"), "{text}");
    assert!(text.contains("imports `evil:guest/raw-socket`"), "{text}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let runtime = runtime(tight_limits(), false);
    let error = runtime.load(b"\0asm not really").await.err().expect("must be refused");
    assert!(matches!(error, AdmissionError::NotAComponent(_)), "{error:?}");
    let error = runtime.load(b"").await.err().expect("must be refused");
    assert!(matches!(error, AdmissionError::NotAComponent(_)), "{error:?}");
}
