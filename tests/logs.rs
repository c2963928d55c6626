//! Log lines about a payment carry its tenant, service, payment and event ids. Alone in its
//! binary: it reads what the whole process logged, and no other test's lines should mix in.

#![expect(clippy::unwrap_used, reason = "tests")]

#[tokio::test]
async fn log_lines_about_a_payment_carry_its_tenant_service_payment_and_event_ids() {
    let (logs, _guard) = cassa_tests::CapturedLogs::start();
    let store = cassa::store::Store::connect(&cassa_tests::sqlite_url()).await.unwrap();
    let fake = cassa::conformance::SandboxFake::start().await.unwrap();
    let host = cassa_tests::TestPipeline::start(store.clone(), &fake).await;
    let (application, bytes) = cassa_tests::application("http://127.0.0.1:9");
    cassa::bus::Bus::publish(host.pipeline.bus.as_ref(), "applications", "k", &bytes).await.unwrap();
    let payment =
        cassa_tests::wait_for_payment(&store, application, cassa::domain::PaymentStatus::PaymentPending).await;
    cassa::pipeline::poller::check(&host.pipeline, payment.id).await.unwrap();
    host.shutdown().await;
    let text = logs.text();
    let about: Vec<&str> = text.lines().filter(|l| l.contains(&payment.id.to_string())).collect();
    assert!(about.len() >= 2, "{text}");
    for line in about {
        for field in [
            format!("tenant={}", payment.tenant_id),
            format!("service={}", payment.service_id),
            format!("payment={}", payment.id),
            "event=".to_owned(),
        ] {
            assert!(line.contains(&field), "`{field}` missing from: {line}");
        }
    }
}
