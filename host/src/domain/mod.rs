//! The OpenCity payment domain as cassa models it (DOMAIN.md): the payment event 2.0, the
//! application event and the dispatcher's decision, the poll schedule. Pure logic, no I/O.

pub mod application;
pub mod payment;
pub mod schedule;

pub use application::{Dispatch, dispatch, payment_id_for};
pub use payment::{Amount, PaymentEvent, PaymentStatus, Timestamp};
pub use schedule::{NextCheck, next_check};
