//! pagoPA Checkout (carts v2, GATEWAYS.md §2, DOMAIN.md §11): one cart of 1–5 payment notices,
//! possibly of different creditors and intermediaries, paid in one Checkout session.
//!
//! | module | what |
//! |---|---|
//! | [`client`] | the carts v2 client: a checked cart → the URL to send the citizen to |
//! | [`carts`] | what cassa does with carts: open, reuse, apply a return, check open payments |
//!
//! The decisions without I/O (which payments go in a cart as which notice, what a return does)
//! are in [`crate::domain::cart`]; the pages and endpoints in `api::checkout`.

pub mod carts;
pub mod client;

pub use client::{
    Cart, CheckoutClient, CheckoutConfig, CheckoutError, MAX_NOTICES, Notice, ReturnUrls, looks_like_email, validate,
};
