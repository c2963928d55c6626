//! The conformance suite itself: the `sandbox` connector passes all of it against the sandbox
//! intermediary, and a connector that does not work fails it (so the suite is not vacuous).

#![expect(clippy::unwrap_used, reason = "tests")]

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
