//! Paying through pagoPA Checkout (DOMAIN.md §11, GATEWAYS.md §2), the decisions without the I/O:
//! which payments can go in a cart and as which notice, what a cart's return does to it, the
//! citizen's language, and the signed tokens that make a payment page's link unguessable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use super::payment::{PaymentEvent, PaymentStatus, Receiver};

/// Most notices in one cart.
pub const MAX_NOTICES: usize = 5;

/// One payment notice of a cart (`PaymentNotice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The 18-digit notice number.
    pub notice_number: String,
    /// The creditor's 11-digit fiscal code.
    pub fiscal_code: String,
    /// Amount in cents.
    pub amount: u64,
    /// The creditor's name.
    pub company_name: String,
    /// What the payment is for.
    pub description: String,
}

/// Where a cart stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartStatus {
    /// pagoPA accepted it and the citizen was sent to its page.
    Redirected,
    /// pagoPA refused it (4xx).
    Refused,
    /// pagoPA could not be reached or failed (5xx, time-out).
    Unavailable,
    /// The citizen came back through the ok URL: paid.
    Ok,
    /// The citizen cancelled.
    Cancel,
    /// Checkout reported an error.
    Error,
    /// Checkout does not know the outcome yet.
    Waiting,
}

impl CartStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirected => "redirected",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
            Self::Ok => "ok",
            Self::Cancel => "cancel",
            Self::Error => "error",
            Self::Waiting => "waiting",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Redirected, Self::Refused, Self::Unavailable, Self::Ok, Self::Cancel, Self::Error, Self::Waiting]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// The status after the citizen comes back through `outcome`'s return URL, or `None` when
    /// the cart has already ended and stays as it is (a second visit, the browser's back
    /// button): only a cart still at Checkout, or waiting, takes an outcome.
    pub fn after(self, outcome: Outcome) -> Option<Self> {
        match self {
            Self::Redirected | Self::Waiting => Some(match outcome {
                Outcome::Ok => Self::Ok,
                Outcome::Cancel => Self::Cancel,
                Outcome::Error => Self::Error,
                Outcome::Waiting => Self::Waiting,
            }),
            _ => None,
        }
    }
}

/// Which of the cart's return URLs brought the citizen back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `returnOkUrl`.
    Ok,
    /// `returnCancelUrl`.
    Cancel,
    /// `returnErrorUrl`.
    Error,
    /// `returnWaitingUrl`.
    Waiting,
}

impl Outcome {
    /// The path segment of its return URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Cancel => "cancel",
            Self::Error => "error",
            Self::Waiting => "waiting",
        }
    }

    /// Parses a path segment.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Ok, Self::Cancel, Self::Error, Self::Waiting].into_iter().find(|o| o.as_str() == text)
    }
}

/// The language of the citizen's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    /// Italian, the default.
    #[default]
    It,
    /// English.
    En,
}

impl Locale {
    /// `it` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::It => "it",
            Self::En => "en",
        }
    }

    /// A language tag (`en`, `en-GB`, `it_IT`); `None` for languages without pages.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "it" => Some(Self::It),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The first language with pages among `asked` (an explicit choice), then the payment's
    /// `locale`, else Italian.
    pub fn choose(asked: Option<&str>, payment: Option<&str>) -> Self {
        asked.and_then(Self::parse).or_else(|| payment.and_then(Self::parse)).unwrap_or_default()
    }
}

/// Why a payment cannot go in a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotPayable {
    /// Its status is not one a citizen can pay in (paid, expired, being created, …).
    Status(PaymentStatus),
    /// It has no notice code yet.
    NoNotice,
    /// It has no amount, or zero.
    NoAmount,
    /// No creditor with an 11-digit fiscal code is known for it.
    NoCreditor,
}

impl std::fmt::Display for NotPayable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(status) => write!(f, "it is {status}, not waiting for payment"),
            Self::NoNotice => f.write_str("it has no notice code yet"),
            Self::NoAmount => f.write_str("it has no amount"),
            Self::NoCreditor => f.write_str("its creditor has no 11-digit fiscal code"),
        }
    }
}

/// Whether a citizen can pay a payment in `status` online: waiting for payment, or started at a
/// checkout the citizen left without coming back.
pub fn is_payable(status: PaymentStatus) -> bool {
    matches!(status, PaymentStatus::PaymentPending | PaymentStatus::PaymentStarted)
}

/// Text cut to pagoPA's 140 characters.
fn cut(text: &str) -> String {
    text.chars().take(140).collect()
}

/// The cart notice of a payment (DOMAIN.md §11): `noticeNumber` ← notice code, `fiscalCode` and
/// `companyName` ← the payment's receiver, else `creditor` (the tenant), `amount` in cents,
/// `description` ← reason.
pub fn notice_of(event: &PaymentEvent, creditor: Option<&Receiver>) -> Result<Notice, NotPayable> {
    if !is_payable(event.status) {
        return Err(NotPayable::Status(event.status));
    }
    let notice_number = event.payment.notice_code.clone().ok_or(NotPayable::NoNotice)?;
    let amount = event.payment.amount.map(|a| a.0).filter(|cents| *cents > 0).ok_or(NotPayable::NoAmount)?;
    let is_code = |r: &&Receiver| {
        r.tax_identification_number.len() == 11 && r.tax_identification_number.bytes().all(|b| b.is_ascii_digit())
    };
    let receiver = event.payment.receiver.as_ref().filter(is_code).or(creditor.filter(is_code));
    let receiver = receiver.ok_or(NotPayable::NoCreditor)?;
    let description = event.reason.as_deref().filter(|r| !r.trim().is_empty()).unwrap_or("Pagamento");
    Ok(Notice {
        notice_number,
        fiscal_code: receiver.tax_identification_number.clone(),
        amount,
        company_name: cut(&receiver.name),
        description: cut(description),
    })
}

/// Why a list of payments cannot make a cart, before any payment is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartShape {
    /// No payment.
    Empty,
    /// More than five.
    TooMany(usize),
    /// A payment named twice.
    Duplicate(Uuid),
}

impl std::fmt::Display for CartShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "a cart holds 1 to {MAX_NOTICES} payments, not 0"),
            Self::TooMany(n) => write!(f, "a cart holds 1 to {MAX_NOTICES} payments, not {n}"),
            Self::Duplicate(id) => write!(f, "payment {id} is named twice"),
        }
    }
}

/// Checks the number of payments and that none is named twice.
pub fn check_shape(ids: &[Uuid]) -> Result<(), CartShape> {
    match ids.len() {
        0 => return Err(CartShape::Empty),
        n if n > MAX_NOTICES => return Err(CartShape::TooMany(n)),
        _ => {}
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(CartShape::Duplicate(*id));
        }
    }
    Ok(())
}

/// How a service's citizens pay online (`/online-payment/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineRoute {
    /// Through pagoPA Checkout, with a cart of this one payment.
    Checkout,
    /// Through the intermediary's own portal (the connector's `begin-online`).
    Intermediary,
}

/// The route of a service: its `online_payment` setting (`checkout` or `intermediary`) when it
/// has one, else the intermediary's portal when the connector offers one, else Checkout. An
/// error says why the service has no way to pay online.
pub fn online_route(
    setting: Option<&str>,
    connector_begins_online: bool,
    checkout_configured: bool,
) -> Result<OnlineRoute, &'static str> {
    match setting {
        Some("checkout") if checkout_configured => Ok(OnlineRoute::Checkout),
        Some("checkout") => Err("the service pays through pagoPA Checkout, which this host has not configured"),
        Some("intermediary") if connector_begins_online => Ok(OnlineRoute::Intermediary),
        Some("intermediary") => {
            Err("the service pays through the intermediary's portal, which its connector does not offer")
        }
        Some(_) => Err("the service's `online_payment` is neither `checkout` nor `intermediary`"),
        None if connector_begins_online => Ok(OnlineRoute::Intermediary),
        None if checkout_configured => Ok(OnlineRoute::Checkout),
        None => Err("neither the intermediary's portal nor pagoPA Checkout is available"),
    }
}

/// Bytes of the MAC kept in a page token: 128 bits, beyond guessing.
const TAG_BYTES: usize = 16;

fn tag(key: &[u8], id: Uuid) -> Option<[u8; TAG_BYTES]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(b"cassa payment page v1\0");
    mac.update(id.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0; TAG_BYTES];
    out.copy_from_slice(full.get(..TAG_BYTES)?);
    Some(out)
}

/// The token of a payment's page: its id and an HMAC of it under the host's link key, in
/// base64url (43 characters). Only who holds the key, or was given the link, can make it.
pub fn page_token(key: &[u8], id: Uuid) -> String {
    let mut raw = id.as_bytes().to_vec();
    raw.extend_from_slice(&tag(key, id).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(raw)
}

/// The payment a page token names, when its MAC is right (compared in constant time).
pub fn page_payment(key: &[u8], token: &str) -> Option<Uuid> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    if raw.len() != 16 + TAG_BYTES {
        return None;
    }
    let id = Uuid::from_slice(raw.get(..16)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(b"cassa payment page v1\0");
    mac.update(id.as_bytes());
    mac.verify_truncated_left(raw.get(16..)?).ok()?;
    Some(id)
}

/// Separates the tokens of a page of several payments (`/pay/{t1}.{t2}`); base64url never
/// contains it.
pub const TOKEN_SEPARATOR: char = '.';

/// A new cart id: 128 random bits in base64url (22 characters). It is the citizen's link to the
/// result page and the `idCart` pagoPA receives.
pub fn new_cart_id() -> String {
    URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::domain::Amount;

    const PENDING: &str = include_str!("../../../tests/examples/payment_creation_pending.json");

    fn payable() -> PaymentEvent {
        let mut event = PaymentEvent::from_json(PENDING.as_bytes()).unwrap();
        event.status = PaymentStatus::PaymentPending;
        event.payment.notice_code = Some("301000000000123468".into());
        event.payment.amount = Some(Amount(1600));
        event.reason = Some("Diritti di segreteria".into());
        event
    }

    fn tenant() -> Receiver {
        Receiver {
            tax_identification_number: "80001234568".into(),
            name: "Comune di Bugliano".into(),
            iban: None,
            other: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_pending_payment_becomes_a_notice_of_its_creditor_in_cents() {
        let mut event = payable();
        event.payment.receiver = None;
        let notice = notice_of(&event, Some(&tenant())).unwrap();
        assert_eq!(notice.notice_number, "301000000000123468");
        assert_eq!((notice.fiscal_code.as_str(), notice.amount), ("80001234568", 1600));
        assert_eq!(notice.company_name, "Comune di Bugliano");
        assert_eq!(notice.description, "Diritti di segreteria");
        // The payment's own receiver wins over the tenant.
        let mut other = tenant();
        other.tax_identification_number = "77777777777".into();
        event.payment.receiver = Some(other);
        assert_eq!(notice_of(&event, Some(&tenant())).unwrap().fiscal_code, "77777777777");
    }

    #[test]
    fn payments_that_cannot_be_paid_say_why() {
        let mut paid = payable();
        paid.status = PaymentStatus::Complete;
        assert_eq!(notice_of(&paid, Some(&tenant())), Err(NotPayable::Status(PaymentStatus::Complete)));
        let mut creating = payable();
        creating.payment.notice_code = None;
        assert_eq!(notice_of(&creating, Some(&tenant())), Err(NotPayable::NoNotice));
        let mut free = payable();
        free.payment.amount = Some(Amount(0));
        assert_eq!(notice_of(&free, Some(&tenant())), Err(NotPayable::NoAmount));
        let mut orphan = payable();
        orphan.payment.receiver = None;
        let mut personal = tenant();
        personal.tax_identification_number = "RSSMRA80A01H501U".into();
        assert_eq!(notice_of(&orphan, Some(&personal)), Err(NotPayable::NoCreditor));
        let mut started = payable();
        started.status = PaymentStatus::PaymentStarted;
        assert!(notice_of(&started, Some(&tenant())).is_ok());
    }

    #[test]
    fn a_cart_takes_one_to_five_distinct_payments() {
        let ids: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
        assert_eq!(check_shape(&[]), Err(CartShape::Empty));
        assert_eq!(check_shape(&ids), Err(CartShape::TooMany(6)));
        assert_eq!(check_shape(&[ids[0], ids[1], ids[0]]), Err(CartShape::Duplicate(ids[0])));
        assert_eq!(check_shape(&ids[..5]), Ok(()));
    }

    #[test]
    fn a_page_token_opens_only_its_own_payment_and_only_under_its_key() {
        let key = b"0123456789abcdef0123456789abcdef";
        let id = Uuid::new_v4();
        let token = page_token(key, id);
        assert_eq!(token.len(), 43);
        assert!(!token.contains(TOKEN_SEPARATOR));
        assert_eq!(page_payment(key, &token), Some(id));
        assert_eq!(page_payment(b"another key, another deployment", &token), None);
        // The bare id, or the id with any other tag, opens nothing.
        assert_eq!(page_payment(key, &URL_SAFE_NO_PAD.encode(id.as_bytes())), None);
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[20] ^= 1;
        assert_eq!(page_payment(key, &URL_SAFE_NO_PAD.encode(forged)), None);
        assert_eq!(page_payment(key, "not base64!"), None);
    }

    #[test]
    fn only_a_cart_still_open_takes_an_outcome() {
        assert_eq!(CartStatus::Redirected.after(Outcome::Ok), Some(CartStatus::Ok));
        assert_eq!(CartStatus::Waiting.after(Outcome::Ok), Some(CartStatus::Ok));
        assert_eq!(CartStatus::Redirected.after(Outcome::Cancel), Some(CartStatus::Cancel));
        assert_eq!(CartStatus::Ok.after(Outcome::Cancel), None);
        assert_eq!(CartStatus::Cancel.after(Outcome::Ok), None);
        for s in ["redirected", "refused", "unavailable", "ok", "cancel", "error", "waiting"] {
            assert_eq!(CartStatus::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn a_service_pays_online_as_it_chose_else_as_its_connector_can() {
        assert_eq!(online_route(Some("checkout"), true, true), Ok(OnlineRoute::Checkout));
        assert_eq!(online_route(Some("intermediary"), true, true), Ok(OnlineRoute::Intermediary));
        assert_eq!(online_route(None, true, true), Ok(OnlineRoute::Intermediary));
        assert_eq!(online_route(None, false, true), Ok(OnlineRoute::Checkout));
        assert!(online_route(Some("checkout"), true, false).is_err());
        assert!(online_route(Some("intermediary"), false, true).is_err());
        assert!(online_route(Some("portal"), true, true).is_err());
        assert!(online_route(None, false, false).is_err());
    }

    #[test]
    fn the_language_is_the_citizens_choice_then_the_payments_then_italian() {
        assert_eq!(Locale::choose(Some("en"), Some("it")), Locale::En);
        assert_eq!(Locale::choose(Some("de"), Some("en_GB")), Locale::En);
        assert_eq!(Locale::choose(None, Some("it-IT")), Locale::It);
        assert_eq!(Locale::choose(None, None), Locale::It);
    }
}
