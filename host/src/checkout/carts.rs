//! What cassa does with a cart: opens one for 1–5 payable payments (checked, recorded before
//! pagoPA is asked, the payments `PAYMENT_STARTED` once pagoPA accepts it), reuses a recent
//! one for a link followed twice, applies the citizen's return (ok: each payment checked at its
//! intermediary at once; cancel and error: started payments back to `PAYMENT_PENDING` unless a
//! newer cart holds them; waiting: left to the checks), and checks a cart's open payments again
//! while its outcome is unknown. The HTTP handlers in `api::checkout` only read requests and
//! render what these return.

use uuid::Uuid;

use super::client::{Cart, CheckoutClient, CheckoutError, ReturnUrls, looks_like_email, validate};
use crate::domain::cart::{CartStatus, Locale, NotPayable, Outcome, check_shape, is_payable, new_cart_id, notice_of};
use crate::domain::payment::Receiver;
use crate::domain::{PaymentEvent, PaymentStatus, Timestamp, transitions};
use crate::pipeline::change::{Next, update_with_retry};
use crate::pipeline::{Pipeline, PipelineError, poller};
use crate::store::{StoreError, StoredCart, StoredPayment};

/// How long after a check a cart's result does not check a payment again, in milliseconds.
const RECHECK_MS: i64 = 3_000;

/// How long `/online-payment` sends the citizen back to the same Checkout cart rather than
/// opening a new one, in milliseconds (pagoPA keeps a cart's session for longer).
const REUSE_CART_MS: i64 = 10 * 60_000;

/// Why a cart could not be opened or followed.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// No such payment or cart.
    #[error("{0}")]
    NotFound(String),
    /// A payment of the cart cannot be paid.
    #[error("payment {} cannot be paid: {why}", event.id)]
    NotPayable {
        /// The payment.
        event: Box<PaymentEvent>,
        /// Why not.
        why: NotPayable,
    },
    /// Not 1 to 5 different payments.
    #[error("{0}")]
    Shape(String),
    /// Data pagoPA cannot take (the cart's own checks, or pagoPA's 400).
    #[error("{0}")]
    Invalid(String),
    /// pagoPA Checkout refused the cart.
    #[error("pagoPA Checkout refused the cart: {0}")]
    Refused(String),
    /// pagoPA Checkout is not configured or not reachable.
    #[error("{0}")]
    Unavailable(String),
    /// The store or a status check failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

impl From<StoreError> for CartError {
    fn from(error: StoreError) -> Self {
        Self::Pipeline(error.into())
    }
}

/// A cart pagoPA accepted.
#[derive(Debug)]
pub struct Opened {
    /// cassa's id of the cart.
    pub cart_id: String,
    /// pagoPA's page for it.
    pub location: String,
}

/// Applies `change` to payment `id` and stores the result with `note` in its history (see
/// [`update_with_retry`]); nothing when `change` has nothing to do.
async fn change_payment(
    p: &Pipeline,
    id: Uuid,
    note: &str,
    change: impl Fn(&PaymentEvent) -> Option<PaymentEvent>,
) -> Result<(), PipelineError> {
    let decide = |stored: StoredPayment| {
        let next = change(&stored.event).map(|next| Next::emitted(next, Some(note)));
        std::future::ready(Ok(next))
    };
    update_with_retry(p, id, decide).await.map(drop)
}

/// The creditor of a payment for a cart: its tenant's name and fiscal code.
pub async fn creditor_of(p: &Pipeline, event: &PaymentEvent) -> Result<Option<Receiver>, PipelineError> {
    Ok(p.configured(event).await?.and_then(|c| Pipeline::receiver_of(&c.tenant)))
}

/// The Checkout page of `payment` alone: the cart opened for it in the last minutes and still at
/// Checkout (a link followed twice, a scanner), else a new one.
pub async fn cart_of_one(
    p: &Pipeline,
    client: Option<&CheckoutClient>,
    payment: Uuid,
    locale: Locale,
) -> Result<Opened, CartError> {
    let since = Timestamp::from_millis(Timestamp::now().millis() - REUSE_CART_MS).unwrap_or_else(Timestamp::now);
    if let Some(cart) = p.store.open_cart_of(payment, since).await?
        && let Some(location) = cart.checkout_url
    {
        let still = p.store.payment(payment).await?.is_some_and(|s| is_payable(s.event.status));
        if still {
            return Ok(Opened { cart_id: cart.id, location });
        }
    }
    open_cart(p, client, &[payment], None, locale).await
}

/// Opens a pagoPA Checkout cart for `ids` through `client`: checks them, sends the cart, records
/// it and marks the payments started.
pub async fn open_cart(
    p: &Pipeline,
    client: Option<&CheckoutClient>,
    ids: &[Uuid],
    email: Option<String>,
    locale: Locale,
) -> Result<Opened, CartError> {
    check_shape(ids).map_err(|why| CartError::Shape(why.to_string()))?;
    let stored = p.store.payments_by_ids(ids).await?;
    let mut notices = Vec::with_capacity(ids.len());
    let mut payer_email = None;
    for id in ids {
        let Some(payment) = stored.iter().find(|s| s.event.id == *id) else {
            return Err(CartError::NotFound(format!("no payment {id}")));
        };
        let creditor = creditor_of(p, &payment.event).await?;
        let notice = notice_of(&payment.event, creditor.as_ref())
            .map_err(|why| CartError::NotPayable { event: Box::new(payment.event.clone()), why })?;
        notices.push(notice);
        payer_email = payer_email.or_else(|| payment.event.payer.email.clone().filter(|e| looks_like_email(e)));
    }
    // After the payments are checked: a request naming unknown payments is the caller's fault
    // whether or not Checkout is configured.
    let Some(client) = client else {
        return Err(CartError::Unavailable("pagoPA Checkout is not configured on this host".into()));
    };
    let cart_id = new_cart_id();
    let back = |outcome: Outcome| format!("{}/checkout/{cart_id}/{}", p.config.public_base(), outcome.as_str());
    let email = email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).or(payer_email);
    let cart = Cart {
        payment_notices: notices,
        return_urls: ReturnUrls {
            ok: back(Outcome::Ok),
            cancel: back(Outcome::Cancel),
            error: back(Outcome::Error),
            waiting: back(Outcome::Waiting),
        },
        email_notice: email,
        id_cart: Some(cart_id.clone()),
    };
    validate(&cart).map_err(|e| CartError::Invalid(e.to_string()))?;
    // Recorded before pagoPA is asked, so its return URLs always find the cart.
    let now = Timestamp::now();
    let record = StoredCart {
        id: cart_id.clone(),
        payment_ids: ids.to_vec(),
        status: CartStatus::Unavailable,
        checkout_url: None,
        note: Some("sending to pagoPA".into()),
        locale,
        created_at: now,
        updated_at: now,
    };
    p.store.insert_cart(&record).await?;
    let sent = client.create_cart(&cart).await;
    let (status, note, outcome) = match sent {
        Ok(location) => (CartStatus::Redirected, None, Ok(Opened { cart_id: cart_id.clone(), location })),
        Err(CheckoutError::Invalid(why)) => (CartStatus::Refused, Some(why.clone()), Err(CartError::Invalid(why))),
        Err(CheckoutError::Refused { status, detail }) => {
            (CartStatus::Refused, Some(format!("HTTP {status}: {detail}")), Err(CartError::Refused(detail)))
        }
        Err(CheckoutError::Protocol(why)) => {
            (CartStatus::Refused, Some(why.clone()), Err(CartError::Refused(format!("unexpected answer: {why}"))))
        }
        Err(CheckoutError::Unavailable(why)) => {
            (CartStatus::Unavailable, Some(why.clone()), Err(CartError::Unavailable(why)))
        }
    };
    let url = outcome.as_ref().ok().map(|o| o.location.as_str());
    p.store.answer_cart(&cart_id, status, url, note.as_deref()).await?;
    tracing::info!(cart = %cart_id, payments = ids.len(), status = status.as_str(), note = note.as_deref().unwrap_or("-"), "pagoPA Checkout cart");
    if outcome.is_ok() {
        let note = format!("pagoPA Checkout cart {cart_id}");
        for id in ids {
            change_payment(p, *id, &note, |e| {
                is_payable(e.status).then(|| transitions::online_payment_opened(e, Timestamp::now()))
            })
            .await?;
        }
    }
    outcome
}

/// Applies a return from Checkout to its cart and payments, once; the cart afterwards, `None`
/// when there is no such cart.
pub async fn apply_return(p: &Pipeline, cart_id: &str, outcome: Outcome) -> Result<Option<StoredCart>, CartError> {
    let Some(cart) = p.store.cart(cart_id).await? else { return Ok(None) };
    let again = CartStatus::Redirected.after(outcome) == Some(cart.status);
    let next = match cart.status.after(outcome) {
        Some(next) => next,
        // The same return again (a reload, or one cut short): its payment changes are
        // idempotent, so they are applied again.
        None if again => cart.status,
        None => {
            tracing::info!(cart = %cart_id, status = cart.status.as_str(), outcome = outcome.as_str(), "cart already ended; return ignored");
            return Ok(Some(cart));
        }
    };
    let note = match outcome {
        Outcome::Ok => format!("pagoPA Checkout cart {cart_id}: paid, checking at the intermediary"),
        Outcome::Cancel => format!("pagoPA Checkout cart {cart_id}: cancelled by the citizen"),
        Outcome::Error => format!("pagoPA Checkout cart {cart_id}: Checkout reported an error"),
        Outcome::Waiting => format!("pagoPA Checkout cart {cart_id}: outcome not known yet"),
    };
    if !again && !p.store.move_cart(cart_id, cart.status, next, Some(&note)).await? {
        return Ok(p.store.cart(cart_id).await?);
    }
    tracing::info!(cart = %cart_id, outcome = outcome.as_str(), "citizen back from pagoPA Checkout");
    for id in &cart.payment_ids {
        match outcome {
            Outcome::Ok => {
                change_payment(p, *id, &note, |e| {
                    (e.status == PaymentStatus::PaymentPending)
                        .then(|| transitions::online_payment_opened(e, Timestamp::now()))
                })
                .await?;
                poller::check(p, *id).await?;
            }
            Outcome::Cancel | Outcome::Error => {
                // A newer cart (another tab) may hold the payment: it stays started for that one.
                if p.store.newer_live_cart(*id, &cart).await? {
                    tracing::info!(payment = %id, cart = %cart_id, "a newer cart holds the payment; left started");
                    continue;
                }
                change_payment(p, *id, &note, |e| transitions::checkout_abandoned(e, Timestamp::now())).await?;
            }
            Outcome::Waiting => {}
        }
    }
    Ok(p.store.cart(cart_id).await?)
}

/// While a cart's outcome is unknown (paid, waiting, or still at Checkout), checks each of its
/// payments still open at its intermediary: at most once every few seconds however often its
/// result is asked for.
pub async fn check_open(p: &Pipeline, cart: &StoredCart) -> Result<(), CartError> {
    if !matches!(cart.status, CartStatus::Ok | CartStatus::Waiting | CartStatus::Redirected) {
        return Ok(());
    }
    let now = Timestamp::now().millis();
    for payment in p.store.payments_by_ids(&cart.payment_ids).await? {
        let event = &payment.event;
        let recent = event.links.update.last_check_at.is_some_and(|at| now - at.millis() < RECHECK_MS);
        if !event.status.is_final() && !recent {
            poller::check(p, event.id).await?;
        }
    }
    Ok(())
}
