//! The store on SQLite and on PostgreSQL: payments with history and outbox in one transaction,
//! one payment per application, optimistic concurrency, claiming due payments without overlap,
//! consumer offsets and configurations.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashSet;
use std::time::Duration;

use cassa::domain::{Dispatch, PaymentEvent, PaymentStatus, Timestamp, dispatch};
use cassa::store::{Backend, PaymentFilter, StoreError, StoredConfig};
use cassa_tests::stores;
use sqlx::Row;

const APPLICATION: &str = include_str!("examples/application_event.json");

/// A CREATION_PENDING payment for a fresh application id.
fn new_payment() -> PaymentEvent {
    let mut app: serde_json::Value = serde_json::from_str(APPLICATION).unwrap();
    app["id"] = uuid::Uuid::new_v4().to_string().into();
    let Dispatch::Create(event) = dispatch(app.to_string().as_bytes(), Timestamp::now()) else { panic!() };
    *event
}

async fn count(store: &cassa::store::Store, sql: &str) -> i64 {
    sqlx::query(sql).fetch_one(store.pool()).await.unwrap().try_get::<i64, _>(0).unwrap()
}

#[tokio::test]
async fn a_payment_its_history_and_its_event_are_written_together_once() {
    for store in stores().await {
        let event = new_payment();
        assert!(store.insert_payment(&event, "payments", &event.id.to_string()).await.unwrap());
        // Same payment again, and another payment for the same application: nothing written.
        assert!(!store.insert_payment(&event, "payments", &event.id.to_string()).await.unwrap());
        let mut twin = event.clone();
        twin.id = uuid::Uuid::new_v4();
        assert!(!store.insert_payment(&twin, "payments", &twin.id.to_string()).await.unwrap());
        assert_eq!(count(&store, "SELECT COUNT(*) FROM payments").await, 1, "{:?}", store.backend());
        assert_eq!(count(&store, "SELECT COUNT(*) FROM payment_history").await, 1);
        let log = store.read_log("payments", 0, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].key, event.id.to_string());
        assert_eq!(PaymentEvent::from_json(log[0].payload.as_bytes()).unwrap(), event);
        let stored = store.payment_by_remote_id(event.remote_id).await.unwrap().unwrap();
        assert_eq!((stored.event, stored.version), (event, 1));
    }
}

#[tokio::test]
async fn a_stale_update_is_refused_and_a_fresh_one_recorded() {
    for store in stores().await {
        let event = new_payment();
        store.insert_payment(&event, "payments", "k").await.unwrap();
        let mut pending = event.clone();
        pending.status = PaymentStatus::PaymentPending;
        let version = store.update_payment(&pending, 1, Some(("payments", "k")), None).await.unwrap();
        assert_eq!(version, 2);
        let mut stale = event.clone();
        stale.status = PaymentStatus::CreationFailed;
        assert!(matches!(
            store.update_payment(&stale, 1, Some(("payments", "k")), None).await,
            Err(StoreError::Conflict(_))
        ));
        let stored = store.payment(event.id).await.unwrap().unwrap();
        assert_eq!((stored.event.status, stored.version), (PaymentStatus::PaymentPending, 2));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM payment_history").await, 2);
        assert_eq!(store.read_log("payments", 0, 10).await.unwrap().len(), 2);
        let found = store
            .payments(&PaymentFilter {
                remote_id: Some(event.remote_id),
                status: Some(PaymentStatus::PaymentPending),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
    }
}

#[tokio::test]
async fn two_pollers_never_claim_the_same_due_payment() {
    for store in stores().await {
        let now = Timestamp::now();
        for _ in 0..60 {
            let mut event = new_payment();
            event.status = PaymentStatus::PaymentPending;
            event.links.update.next_check_at = Timestamp::from_millis(now.millis() - 1000);
            store.insert_payment(&event, "payments", "k").await.unwrap();
        }
        let claim = |store: cassa::store::Store| async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(Timestamp::now(), Duration::from_secs(60), 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch);
            }
        };
        let (a, b) = tokio::join!(claim(store.clone()), claim(store.clone()));
        let a: HashSet<_> = a.into_iter().collect();
        let b: HashSet<_> = b.into_iter().collect();
        assert!(a.is_disjoint(&b), "{:?}: a payment was claimed twice", store.backend());
        assert_eq!(a.len() + b.len(), 60);
        // Claimed payments are not due again until the lease runs out.
        assert!(store.claim_due(Timestamp::now(), Duration::from_secs(60), 100).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_tenants_due_work_is_claimed_from_its_own_range_past_another_tenants_backlog() {
    for store in stores().await {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let now = Timestamp::now();
        // A's checks are the longest overdue, and A has creations waiting too; B has a few.
        for (tenant, checks, creations, overdue) in [(a, 50, 20, 60_000), (b, 3, 2, 1_000)] {
            for i in 0..checks + creations {
                let mut event = new_payment();
                event.tenant_id = tenant;
                if i < checks {
                    event.status = PaymentStatus::PaymentPending;
                    event.links.update.next_check_at = Timestamp::from_millis(now.millis() - overdue);
                }
                store.insert_payment(&event, "payments", "k").await.unwrap();
            }
        }
        let lease = Duration::from_secs(60);
        let later = now.millis() + 10_000;
        let checks = store.claim_due_for(later, lease, 10, &[b]).await.unwrap();
        assert_eq!(checks.len(), 3, "{:?}", store.backend());
        assert!(checks.iter().all(|(_, tenant)| *tenant == b));
        assert!(store.claim_due_for(later, lease, 10, &[b]).await.unwrap().is_empty(), "claimed once");
        let creations = store.claim_creations_for(later, lease, 10, &[b]).await.unwrap();
        assert_eq!(creations.len(), 2);
        assert!(creations.iter().all(|c| c.tenant_id == b));
        // Per tenant at most the limit, each tenant in turn.
        let both = store.claim_due_for(later, lease, 10, &[a, b]).await.unwrap();
        assert_eq!((both.len(), both.iter().all(|(_, t)| *t == a)), (10, true));
        assert_eq!(store.claim_creations_for(later, lease, 5, &[a, b]).await.unwrap().len(), 5);
        // The tenants asked in turn are the configured ones.
        let config = StoredConfig { id: a, owner: "sandbox".into(), config: serde_json::json!({}), active: true };
        store.put_tenant(&config).await.unwrap();
        let tenants = store.tenant_ids().await.unwrap();
        assert!(tenants.contains(&a) && !tenants.contains(&b), "{tenants:?}");
    }
}

#[tokio::test]
async fn offsets_only_move_forward_and_configs_round_trip() {
    for store in stores().await {
        assert_eq!(store.offset("dispatcher", "applications").await.unwrap(), 0);
        store.commit_offset("dispatcher", "applications", 5).await.unwrap();
        store.commit_offset("dispatcher", "applications", 3).await.unwrap();
        assert_eq!(store.offset("dispatcher", "applications").await.unwrap(), 5);
        let id = uuid::Uuid::new_v4();
        let config = StoredConfig { id, owner: "sandbox".into(), config: serde_json::json!({"a": 1}), active: true };
        store.put_tenant(&config).await.unwrap();
        assert_eq!(store.tenant(id).await.unwrap().unwrap(), config);
        let deleted = StoredConfig { active: false, ..config };
        store.put_tenant(&deleted).await.unwrap();
        assert!(!store.tenant(id).await.unwrap().unwrap().active);
        if store.backend() == Backend::Sqlite {
            assert!(store.pool().size() > 0);
        }
    }
}

#[tokio::test]
async fn a_due_notification_is_claimed_once_then_backs_off() {
    for store in stores().await {
        let mut event = new_payment();
        event.status = PaymentStatus::Complete;
        event.payment.paid_at = Some(Timestamp::now());
        event.payment.transaction_id = Some("T".into());
        store.insert_payment(&event, "payments", "k").await.unwrap();
        let later = Timestamp::from_millis(Timestamp::now().millis() + 10).unwrap();
        let claimed = store.claim_notifications(later, Duration::from_secs(30), 10).await.unwrap();
        assert_eq!(claimed, vec![event.id], "{:?}", store.backend());
        assert!(store.claim_notifications(later, Duration::from_secs(30), 10).await.unwrap().is_empty());
        // Once sent, it is never due again.
        let mut sent = event.clone();
        sent.links.notify.as_mut().unwrap()[0].sent_at = Some(Timestamp::now());
        store.update_payment(&sent, 1, None, None).await.unwrap();
        let much_later = Timestamp::from_millis(Timestamp::now().millis() + 7_200_000).unwrap();
        assert!(store.claim_notifications(much_later, Duration::from_secs(30), 10).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_batch_of_changes_applies_the_fresh_ones_and_skips_the_stale() {
    use cassa::store::Change;
    for store in stores().await {
        let (a, b) = (new_payment(), new_payment());
        store.insert_payments(&[(a.clone(), "ka".into()), (b.clone(), "kb".into())], "payments").await.unwrap();
        let mut a2 = a.clone();
        a2.status = PaymentStatus::PaymentPending;
        let mut b2 = b.clone();
        b2.status = PaymentStatus::CreationFailed;
        let publish = Some(("payments".to_owned(), "k".to_owned()));
        let changes = [
            Change { event: a2, version: 1, publish: publish.clone(), note: None, retry: None, quiet: false },
            // Stale: b is at version 1, not 7.
            Change { event: b2, version: 7, publish, note: Some("stale".into()), retry: None, quiet: false },
        ];
        let outcomes = store.update_payments(&changes).await.unwrap();
        assert!(matches!(outcomes[0], Ok(2)), "{:?}: {outcomes:?}", store.backend());
        assert!(matches!(outcomes[1], Err(StoreError::Conflict(id)) if id == b.id));
        assert_eq!(store.payment(a.id).await.unwrap().unwrap().event.status, PaymentStatus::PaymentPending);
        assert_eq!(store.payment(b.id).await.unwrap().unwrap().event.status, PaymentStatus::CreationPending);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM payment_history").await, 3);
        assert_eq!(store.read_log("payments", 0, 10).await.unwrap().len(), 3);
    }
}

#[tokio::test]
async fn an_artifact_active_or_pinned_is_never_removed_and_a_removed_one_is_never_activated_or_pinned() {
    use cassa::store::{Artifact, Removal};
    for store in stores().await {
        let artifact = |digest: &str| Artifact {
            digest: digest.into(),
            name: "mypay".into(),
            version: "1.0.0".into(),
            size: 3,
            signed_by: None,
            uploaded_at: Timestamp::now(),
        };
        let (one, two) = ("a".repeat(64), "b".repeat(64));
        assert!(store.put_artifact(&artifact(&one), b"one").await.unwrap());
        assert!(store.put_artifact(&artifact(&two), b"two").await.unwrap());
        assert!(store.activate_artifact("mypay", &one, "activate").await.unwrap());
        assert_eq!(store.remove_artifact("mypay", &one).await.unwrap(), Removal::Active, "{:?}", store.backend());

        // Pinned, twice for the same service: the second pin replaces the first.
        assert!(store.pin_artifact("service", "s1", "mypay", &one).await.unwrap());
        assert!(store.pin_artifact("service", "s1", "mypay", &two).await.unwrap());
        assert!(store.pin_artifact("tenant", "t1", "mypay", &two).await.unwrap());
        let pins = store.pins().await.unwrap();
        let held: Vec<(&str, &str, &str)> =
            pins.iter().map(|p| (p.kind.as_str(), p.id.as_str(), p.digest.as_str())).collect();
        assert_eq!(held, [("service", "s1", two.as_str()), ("tenant", "t1", two.as_str())]);
        assert_eq!(
            store.remove_artifact("mypay", &two).await.unwrap(),
            Removal::Pinned(vec!["service:s1".into(), "tenant:t1".into()])
        );

        // Unpinned, it goes; then it can be neither activated nor pinned.
        assert!(store.unpin_artifact("service", "s1", "mypay").await.unwrap().is_some());
        assert!(store.unpin_artifact("service", "s1", "mypay").await.unwrap().is_none(), "unpinned once");
        assert!(store.unpin_artifact("tenant", "t1", "mypay").await.unwrap().is_some());
        assert_eq!(store.remove_artifact("mypay", &two).await.unwrap(), Removal::Removed);
        assert_eq!(store.remove_artifact("mypay", &two).await.unwrap(), Removal::Missing);
        assert!(!store.activate_artifact("mypay", &two, "activate").await.unwrap());
        assert!(!store.pin_artifact("tenant", "t1", "mypay", &two).await.unwrap());
        assert_eq!(store.active_artifacts().await.unwrap()[0].digest, one, "the active version stayed");
        assert!(store.pins().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_log_loses_only_entries_every_consumer_has_passed_past_the_retention_and_payments_stay() {
    for store in stores().await {
        for n in 0..10 {
            store.append("t.a", "k", &format!("{{\"n\": {n}}}")).await.unwrap();
            store.append("t.dlq", "k", "{}").await.unwrap();
        }
        let payment = new_payment();
        store.insert_payment(&payment, "t.a", "k").await.unwrap();
        let ids: Vec<i64> = store.read_log("t.a", 0, 100).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 11);
        // Two consumers of t.a: one at the 8th entry, one at the 4th; nobody consumes t.dlq.
        store.commit_offset("g-one", "t.a", ids[7]).await.unwrap();
        store.commit_offset("g-two", "t.a", ids[3]).await.unwrap();
        let now = cassa::store::now_ms();
        // Within the retention nothing goes.
        assert_eq!(store.trim_log(now - 60_000, 100).await.unwrap(), 0);
        // Past it, only what both consumers passed, in slices of the size asked for.
        assert_eq!(store.trim_log(now + 1_000, 3).await.unwrap(), 3);
        assert_eq!(store.trim_log(now + 1_000, 3).await.unwrap(), 1);
        assert_eq!(store.trim_log(now + 1_000, 3).await.unwrap(), 0);
        let left: Vec<i64> = store.read_log("t.a", 0, 100).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(left, ids[4..].to_vec(), "the slowest consumer's unread entries stay");
        // The consumer still reads on from where it was.
        assert_eq!(store.read_log("t.a", ids[3], 100).await.unwrap().len(), 7);
        assert_eq!(store.log_count("t.dlq").await.unwrap(), 10, "a topic nobody consumes is kept whole");
        // Payments and their history are not the log.
        assert!(store.payment(payment.id).await.unwrap().is_some());
        assert_eq!(store.history(payment.id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_quiet_change_moves_the_payment_on_without_a_history_row() {
    for store in stores().await {
        let payment = new_payment();
        store.insert_payment(&payment, "t.p", "k").await.unwrap();
        let mut checked = payment.clone();
        checked.links.update.next_check_at = Some(Timestamp::now());
        let version = store.update_payment_as(&checked, 1, None, None, true).await.unwrap();
        assert_eq!(version, 2);
        let stored = store.payment(payment.id).await.unwrap().unwrap();
        assert_eq!((stored.version, stored.event.links.update.next_check_at), (2, checked.links.update.next_check_at));
        assert_eq!(store.history(payment.id).await.unwrap().len(), 1, "only the insert is in the history");
        store.update_payment(&checked, 2, None, Some("said")).await.unwrap();
        assert_eq!(store.history(payment.id).await.unwrap().len(), 2);
    }
}
