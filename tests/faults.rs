//! The pipeline against an intermediary having a bad day: a fault-injecting proxy in front of
//! the sandbox intermediary fails requests before doing the work, fails them after doing it,
//! hangs, and answers garbage under a 200. Over a thousand applications, some paid by a
//! citizen while the run goes on, cassa must lose track of no debt position: at the end every
//! position at the intermediary belongs to a payment that is `PAYMENT_PENDING` or `COMPLETE`,
//! none is doubled, no paid position is behind a failed payment, and every paid one is notified.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::HashSet;
use std::time::Duration;

use cassa::bus::Topics;
use cassa::conformance::{Fake, SandboxFake};
use cassa::domain::PaymentStatus;
use cassa::pipeline::poller;
use cassa::runtime::{Limits, debt_ref};
use cassa::store::Store;
use cassa_tests::*;

const APPLICATIONS: usize = 1_000;
/// About one payment in this many is paid by a citizen during the run (by its id).
const PAID_EVERY: u128 = 10;

async fn a_bad_day(store: Store) {
    let fake = SandboxFake::start().await.unwrap();
    // 15% 503 before the work, 15% 502 after it, 5% hang, 5% garbage 200.
    let proxy = FaultyProxy::start(&fake.base_url, [15, 15, 5, 5], Duration::from_secs(5)).await;
    let core = EchoServer::start().await;
    let bus = std::sync::Arc::new(cassa::bus::embedded::EmbeddedBus::new(store.clone()));
    let limits = Limits { wall_ms: 1_000, ..Limits::default() };
    let host =
        TestPipeline::start_tuned(store.clone(), &fake, bus, Topics::default(), limits, Some(&proxy.url()), |c| {
            c.retry_max_ms = 300;
        })
        .await;
    let mut applications = Vec::new();
    for _ in 0..APPLICATIONS {
        let (id, bytes) = application(&core.url());
        host.pipeline.bus.publish(&host.pipeline.config.topics.applications, SERVICE, &bytes).await.unwrap();
        applications.push(id);
    }

    // A citizen pays some payments as soon as they can be paid, while the rest are created.
    let mut paid: HashSet<uuid::Uuid> = HashSet::new();
    let started = std::time::Instant::now();
    loop {
        let pending = in_status(&store, PaymentStatus::PaymentPending).await;
        for event in pending.iter().filter(|e| e.id.as_u128() % PAID_EVERY == 0) {
            if paid.insert(event.id) {
                fake.pay(&debt_ref(event).unwrap()).await.unwrap();
            }
        }
        let waiting = in_status(&store, PaymentStatus::CreationPending).await.len();
        let failed = in_status(&store, PaymentStatus::CreationFailed).await.len();
        let created = in_status(&store, PaymentStatus::PaymentPending).await.len()
            + in_status(&store, PaymentStatus::Complete).await.len()
            + in_status(&store, PaymentStatus::PaymentStarted).await.len();
        if waiting == 0 && created + failed >= APPLICATIONS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "still {waiting} CREATION_PENDING ({failed} failed) after 4 minutes; faults {:?}",
            proxy.faults()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The citizen lands back after paying: each paid payment is checked until it is COMPLETE
    // (the check itself goes through the faulty proxy).
    for id in &paid {
        wait_for("a paid payment COMPLETE", Duration::from_secs(60), || async {
            let _ = poller::check(&host.pipeline, *id).await;
            store.payment(*id).await.unwrap().unwrap().event.status == PaymentStatus::Complete
        })
        .await;
    }
    wait_for("every paid payment notified", Duration::from_secs(60), || async { core.received().len() >= paid.len() })
        .await;

    let faults = proxy.faults();
    eprintln!("faults injected: {faults:?}; {} paid", paid.len());
    assert!(faults.failed_after > 50 && faults.garbage > 10 && faults.hung > 10, "too few faults: {faults:?}");
    let notified: HashSet<String> = core.received().into_iter().map(|r| r.line).collect();
    let mut statuses = std::collections::HashMap::<PaymentStatus, usize>::new();
    for application in &applications {
        let payment = store.payment_by_remote_id(*application).await.unwrap().expect("a payment per application").event;
        *statuses.entry(payment.status).or_default() += 1;
        let positions = fake.positions_for(&payment.payment.iud).await.unwrap_or(0);
        // Every position belongs to a payment that can be paid or is paid, and is never doubled.
        assert_eq!(positions, 1, "payment {} ({}) has {positions} positions upstream", payment.id, payment.status);
        assert!(
            matches!(payment.status, PaymentStatus::PaymentPending | PaymentStatus::Complete),
            "payment {} is {} with a live position",
            payment.id,
            payment.status
        );
        if paid.contains(&payment.id) {
            assert_eq!(payment.status, PaymentStatus::Complete);
            let line = format!("POST /lang/api/applications/{application}/payment");
            assert!(notified.contains(&line), "paid payment {} not notified", payment.id);
        }
    }
    eprintln!("statuses at the end: {statuses:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_intermediary_leaves_no_position_behind_a_payment_on_sqlite() {
    a_bad_day(Store::connect(&sqlite_url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_intermediary_leaves_no_position_behind_a_payment_on_postgres() {
    let Some(url) = postgres_url().await else { return };
    a_bad_day(Store::connect(&url).await.unwrap()).await;
}
