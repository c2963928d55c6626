//! The OpenCity payment domain as cassa models it (DOMAIN.md): the payment event 2.0, the
//! application event and the dispatcher's decision, the poll schedule, and the state
//! transitions of a payment. Pure logic, no I/O.

pub mod application;
pub mod cart;
pub mod creation;
pub mod payment;
pub mod request;
pub mod schedule;
pub mod transitions;

pub use application::{Dispatch, dispatch, payment_id_for};
pub use payment::{Amount, PaymentEvent, PaymentStatus, Timestamp};
pub use schedule::{NextCheck, next_check};
