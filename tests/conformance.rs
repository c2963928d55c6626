//! The conformance suite itself: the `sandbox` connector passes all of it against the sandbox
//! intermediary, and a connector that does not work fails it (so the suite is not vacuous).

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use cassa::conformance::{self, SandboxFake};
use cassa_tests::*;

#[tokio::test]
async fn the_sandbox_connector_passes_the_whole_suite() {
    let runtime = runtime(tight_limits(), false);
    let fake = SandboxFake::start().await.unwrap();
    let report = conformance::run(&runtime, SANDBOX, &fake, &mut |_| {}).await;
    let failures: Vec<String> = report.checks.iter().filter(|c| c.outcome.is_err()).map(|c| c.to_string()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.skipped(), 0, "the sandbox connector implements every optional operation it needs");
    assert!(report.passed() >= 8, "{}", report.summary());
    assert_eq!(report.summary(), format!("{} passed, 0 failed", report.passed()));
    // The suite's effects at the intermediary: positions created, one of them paid, one canceled.
    let local = fake.local.as_ref().unwrap();
    assert!(local.create_requests() >= 3);
}

#[tokio::test]
async fn a_connector_that_cannot_create_fails_the_suite() {
    let runtime = runtime(tight_limits(), false);
    let fake = SandboxFake::start().await.unwrap();
    let mut printed = Vec::new();
    let report = conformance::run(&runtime, HOSTILE, &fake, &mut |c| printed.push(c.to_string())).await;
    assert!(report.failed() > 0);
    assert!(printed.iter().any(|l| l.starts_with("FAIL  create opens a debt position")), "{printed:#?}");
    assert!(report.summary().contains(&format!("{} failed", report.failed())));
}

#[tokio::test]
async fn a_component_that_is_not_a_connector_fails_at_admission() {
    let runtime = runtime(tight_limits(), false);
    let fake = SandboxFake::start().await.unwrap();
    let report = conformance::run(&runtime, NOT_A_CONNECTOR, &fake, &mut |_| {}).await;
    assert_eq!((report.passed(), report.failed()), (0, 1));
}

/// `lookup` is optional: a connector that exports the `gateway` alone (as every one built
/// before it existed) still loads and serves calls; the host knows it cannot find positions.
/// The bundled connectors export it, and the sandbox's finds a position by its IUD.
#[tokio::test]
async fn a_connector_without_lookup_still_loads_and_the_sandbox_finds_positions_by_iud() {
    let runtime = runtime(tight_limits(), false);
    let old = runtime.load(GATEWAY_ONLY).await.expect("a 0.1.0 connector without lookup loads");
    assert!(!old.can_find());
    let scope = cassa::runtime::CallScope::default();
    let created = old.create(&scope, cassa::runtime::debt_position(&sample_payment())).await.unwrap();
    assert_eq!(created.notice_code, "301000000000000014");
    let error = old.find(&scope, "p", "iud").await.unwrap_err();
    assert_eq!(error.kind(), "unsupported", "{error}");

    let sandbox = runtime.load(SANDBOX).await.unwrap();
    assert!(sandbox.can_find());
    let fake = SandboxFake::start().await.unwrap();
    use cassa::conformance::Fake as _;
    let scope = cassa::runtime::CallScope {
        tenant_config: fake.tenant_config(),
        service_config: fake.service_config(),
        allowed_hosts: fake.allowed_hosts(),
        ..Default::default()
    };
    let position = cassa::runtime::debt_position(&sample_payment());
    assert!(sandbox.find(&scope, &position.payment_id, &position.iud).await.unwrap().is_none(), "nothing yet");
    let created = sandbox.create(&scope, position.clone()).await.unwrap();
    let found = sandbox.find(&scope, &position.payment_id, &position.iud).await.unwrap().expect("found by its IUD");
    assert_eq!((found.iuv, found.notice_code), (created.iuv, created.notice_code));
    assert_eq!(fake.positions_for(&position.iud).await, Some(1), "finding created nothing");
}

fn sample_payment() -> cassa::domain::PaymentEvent {
    serde_json::from_str(include_str!("examples/payment_creation_pending.json")).unwrap()
}
