//! How a payment's state changes: after its debt position is created, after a status check,
//! after the citizen opens a link, after the core was notified. Pure functions from the current
//! state (and what was observed) to the next state; the stages do the I/O around them.

use uuid::Uuid;

use super::payment::{Link, PaymentEvent, PaymentStatus, Receiver, Timestamp, UpdateLink, app_id};
use super::schedule::{NextCheck, next_check};

/// Where cassa's own per-payment endpoints are reachable.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Base of the citizen-facing links (`/online-payment`, `/notice`, `/receipt`).
    pub public_base: String,
    /// Base of the poller's `/update` link (usually an internal host).
    pub internal_base: String,
}

impl Endpoints {
    fn public(&self, path: &str, id: Uuid) -> String {
        format!("{}/{path}/{id}", self.public_base.trim_end_matches('/'))
    }

    fn internal(&self, path: &str, id: Uuid) -> String {
        format!("{}/{path}/{id}", self.internal_base.trim_end_matches('/'))
    }
}

/// A payment's status as an intermediary reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Waiting for the citizen.
    Pending,
    /// The citizen started paying.
    Started,
    /// Paid.
    Paid {
        /// When.
        paid_at: Timestamp,
        /// Receipt id.
        transaction_id: String,
    },
    /// Expired at the intermediary.
    Expired,
    /// Annulled.
    Canceled,
    /// Failed.
    Failed(String),
}

/// The next event of a payment: same state, new event id and times, written by `component`.
fn successor(event: &PaymentEvent, now: Timestamp, component: &str) -> PaymentEvent {
    let mut next = event.clone();
    next.event_id = Uuid::new_v4();
    next.updated_at = now.max(event.updated_at);
    next.event_created_at = now;
    next.app_id = app_id(component);
    next
}

/// Applies the poll schedule to a check made at `now`.
fn schedule(next: &mut PaymentEvent, now: Timestamp) {
    next.links.update.last_check_at = Some(now);
    match next_check(next.created_at.0, Some(now.0), now.0) {
        NextCheck::At(at) => next.links.update.next_check_at = Some(Timestamp::from_utc(at)),
        NextCheck::Unchanged => {}
        NextCheck::Expired => {
            next.links.update.next_check_at = None;
            if !next.status.is_final() {
                next.status = PaymentStatus::Expired;
            }
        }
    }
    if next.status.is_final() {
        next.links.update.next_check_at = None;
    }
}

/// The debt position was created: `PAYMENT_PENDING` with IUV, notice code, every link and the
/// first check scheduled.
pub fn created(
    event: &PaymentEvent,
    iuv: String,
    notice_code: String,
    receiver: Option<Receiver>,
    pagopa_category: Option<String>,
    endpoints: &Endpoints,
    now: Timestamp,
) -> PaymentEvent {
    let mut next = successor(event, now, "proxy");
    next.status = PaymentStatus::PaymentPending;
    next.payment.iuv = Some(iuv);
    next.payment.notice_code = Some(notice_code);
    if next.payment.receiver.is_none() {
        next.payment.receiver = receiver;
    }
    if next.payment.pagopa_category.is_none() {
        next.payment.pagopa_category = pagopa_category;
    }
    let id = event.id;
    next.links.online_payment_begin = Link::get(endpoints.public("online-payment", id));
    next.links.offline_payment = Link::get(endpoints.public("notice", id));
    next.links.receipt = Link::empty();
    next.links.update = UpdateLink {
        url: Some(endpoints.internal("update", id)),
        method: Some(super::payment::Method::Get),
        last_check_at: None,
        next_check_at: None,
    };
    schedule(&mut next, now);
    next
}

/// The debt position could not be created: `CREATION_FAILED` (final).
pub fn creation_failed(event: &PaymentEvent, now: Timestamp) -> PaymentEvent {
    let mut next = successor(event, now, "proxy");
    next.status = PaymentStatus::CreationFailed;
    next.links.update.next_check_at = None;
    next
}

/// A status check at `now` saw `observed` (`None` when the intermediary could not be asked):
/// the schedule moves on and the status follows what was seen, where the state diagram allows.
pub fn checked(
    event: &PaymentEvent,
    observed: Option<&Observed>,
    endpoints: &Endpoints,
    now: Timestamp,
) -> PaymentEvent {
    let mut next = successor(event, now, "proxy");
    let target = match observed {
        None | Some(Observed::Pending) => None,
        Some(Observed::Started) => Some(PaymentStatus::PaymentStarted),
        Some(Observed::Paid { .. }) => Some(PaymentStatus::Complete),
        Some(Observed::Expired) => Some(PaymentStatus::Expired),
        Some(Observed::Canceled) => Some(PaymentStatus::Canceled),
        Some(Observed::Failed(_)) => Some(PaymentStatus::PaymentFailed),
    };
    if let Some(target) = target
        && target != next.status
        && next.status.can_become(target)
    {
        next.status = target;
    }
    if let (PaymentStatus::Complete, Some(Observed::Paid { paid_at, transaction_id })) = (next.status, observed) {
        next.payment.paid_at = Some(*paid_at);
        next.payment.transaction_id = Some(transaction_id.clone());
        next.links.receipt = Link::get(endpoints.public("receipt", event.id));
    }
    schedule(&mut next, now);
    next
}

/// The citizen opened the online-payment link: `PAYMENT_PENDING → PAYMENT_STARTED`.
pub fn online_payment_opened(event: &PaymentEvent, now: Timestamp) -> PaymentEvent {
    let mut next = successor(event, now, "proxy");
    next.links.online_payment_begin.last_opened_at = Some(now);
    if next.status == PaymentStatus::PaymentPending {
        next.status = PaymentStatus::PaymentStarted;
    }
    next
}

/// The citizen left a pagoPA Checkout cart without paying (cancelled, or Checkout failed):
/// `PAYMENT_STARTED → PAYMENT_PENDING`, so the payment can be paid again. `None` when the
/// payment is no longer started (a check saw it paid meanwhile, say).
pub fn checkout_abandoned(event: &PaymentEvent, now: Timestamp) -> Option<PaymentEvent> {
    if event.status != PaymentStatus::PaymentStarted {
        return None;
    }
    let mut next = successor(event, now, "proxy");
    next.status = PaymentStatus::PaymentPending;
    Some(next)
}

/// The citizen came back from the intermediary.
pub fn landing_opened(event: &PaymentEvent, now: Timestamp) -> PaymentEvent {
    let mut next = successor(event, now, "proxy");
    next.links.online_payment_landing.last_opened_at = Some(now);
    next
}

/// The citizen downloaded the notice.
pub fn notice_opened(event: &PaymentEvent, now: Timestamp) -> PaymentEvent {
    let mut next = successor(event, now, "proxy");
    next.links.offline_payment.last_opened_at = Some(now);
    next
}

/// The core received the outcome at notify link `index`.
pub fn notified(event: &PaymentEvent, index: usize, now: Timestamp) -> PaymentEvent {
    let mut next = successor(event, now, "updater");
    if let Some(link) = next.links.notify.as_mut().and_then(|links| links.get_mut(index)) {
        link.sent_at = Some(now);
    }
    next
}

/// The `PaymentOutcome` the core's notify endpoint expects (DOMAIN.md §5), or `None` when the
/// payment's status is not one the core is told about.
pub fn payment_outcome(event: &PaymentEvent) -> Option<serde_json::Value> {
    let (status, message) = match event.status {
        PaymentStatus::Complete => ("OK", "Pagamento eseguito"),
        PaymentStatus::PaymentFailed => ("KO", "Pagamento non riuscito"),
        _ => return None,
    };
    // `data` goes as a JSON-encoded string: the core binds it through a text field.
    let data = serde_json::json!({ "payment_id": event.id, "iuv": event.payment.iuv }).to_string();
    Some(serde_json::json!({
        "status": status,
        "status_code": event.status.as_str(),
        "status_message": message,
        "data": data,
    }))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const CREATION_PENDING: &str = include_str!("../../../tests/examples/payment_creation_pending.json");

    fn endpoints() -> Endpoints {
        Endpoints {
            public_base: "https://pagopa-proxy.example.it".into(),
            internal_base: "http://cassa.internal:8080/".into(),
        }
    }

    fn pending() -> PaymentEvent {
        let event = PaymentEvent::from_json(CREATION_PENDING.as_bytes()).unwrap();
        let now = Timestamp::from_millis(event.created_at.millis() + 2000).unwrap();
        created(&event, "01000000000123468".into(), "301000000000123468".into(), None, None, &endpoints(), now)
    }

    #[test]
    fn creation_sets_every_link_and_schedules_the_first_check() {
        let event = pending();
        assert_eq!(event.status, PaymentStatus::PaymentPending);
        assert_eq!(event.rule_violations(), Vec::<String>::new());
        let id = event.id;
        assert_eq!(
            event.links.online_payment_begin.url,
            Some(format!("https://pagopa-proxy.example.it/online-payment/{id}"))
        );
        assert_eq!(event.links.offline_payment.url, Some(format!("https://pagopa-proxy.example.it/notice/{id}")));
        assert_eq!(event.links.update.url, Some(format!("http://cassa.internal:8080/update/{id}")));
        let last = event.links.update.last_check_at.unwrap();
        assert_eq!(event.links.update.next_check_at.unwrap().millis(), last.millis() + 60_000);
        assert_eq!(event.app_id, app_id("proxy"));
    }

    #[test]
    fn a_paid_check_completes_the_payment_and_stops_polling() {
        let event = pending();
        let now = Timestamp::from_millis(event.updated_at.millis() + 60_000).unwrap();
        let paid = Observed::Paid { paid_at: now, transaction_id: "T-1".into() };
        let next = checked(&event, Some(&paid), &endpoints(), now);
        assert_eq!(next.status, PaymentStatus::Complete);
        assert_eq!(next.payment.transaction_id.as_deref(), Some("T-1"));
        assert!(next.links.receipt.url.is_some());
        assert_eq!(next.links.update.next_check_at, None);
        assert_eq!(next.rule_violations(), Vec::<String>::new());
        let outcome = payment_outcome(&next).unwrap();
        assert_eq!(outcome["status"], "OK");
        assert!(outcome["data"].is_string());
    }

    #[test]
    fn an_unreachable_intermediary_only_moves_the_schedule() {
        let event = pending();
        let now = Timestamp::from_millis(event.created_at.millis() + 10 * 60_000).unwrap();
        let next = checked(&event, None, &endpoints(), now);
        assert_eq!(next.status, PaymentStatus::PaymentPending);
        assert_eq!(next.links.update.next_check_at.unwrap().millis(), now.millis() + 5 * 60_000);
    }

    #[test]
    fn a_year_of_checks_expires_the_payment() {
        let event = pending();
        let now = Timestamp::from_millis(event.created_at.millis() + 366 * 86_400_000).unwrap();
        let next = checked(&event, Some(&Observed::Pending), &endpoints(), now);
        assert_eq!(next.status, PaymentStatus::Expired);
        assert_eq!(next.links.update.next_check_at, None);
    }

    #[test]
    fn a_failed_payment_is_told_to_the_core_as_ko() {
        let event = pending();
        let now = Timestamp::from_millis(event.updated_at.millis() + 60_000).unwrap();
        let failed = checked(&event, Some(&Observed::Failed("rifiutato".into())), &endpoints(), now);
        assert_eq!(failed.status, PaymentStatus::PaymentFailed);
        assert_eq!(failed.links.update.next_check_at, None);
        let outcome = payment_outcome(&failed).unwrap();
        assert_eq!((outcome["status"].as_str(), outcome["status_code"].as_str()), (Some("KO"), Some("PAYMENT_FAILED")));
    }

    #[test]
    fn notify_marks_the_link_sent_and_opening_the_online_link_starts_the_payment() {
        let event = pending();
        let now = Timestamp::now();
        let started = online_payment_opened(&event, now);
        assert_eq!(started.status, PaymentStatus::PaymentStarted);
        assert_eq!(started.links.online_payment_begin.last_opened_at, Some(now));
        let sent = notified(&started, 0, now);
        assert_eq!(sent.links.notify.unwrap()[0].sent_at, Some(now));
        assert!(payment_outcome(&started).is_none());
    }

    #[test]
    fn leaving_a_checkout_unpaid_makes_the_payment_payable_again() {
        let started = online_payment_opened(&pending(), Timestamp::now());
        let back = checkout_abandoned(&started, Timestamp::now()).unwrap();
        assert_eq!(back.status, PaymentStatus::PaymentPending);
        assert_ne!(back.event_id, started.event_id);
        let paid = checked(
            &started,
            Some(&Observed::Paid { paid_at: Timestamp::now(), transaction_id: "T-2".into() }),
            &endpoints(),
            Timestamp::now(),
        );
        assert_eq!(checkout_abandoned(&paid, Timestamp::now()), None);
    }
}
