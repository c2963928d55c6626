//! Helpers shared by cassa's cross-crate suites, by purpose:
//!
//! | module | what |
//! |---|---|
//! | [`guests`] | the purpose-built guests, runtimes with test limits, call scopes |
//! | [`servers`] | an echo server that records what reaches it |
//! | [`logs`] | log capture |
//! | [`stores`] | SQLite and PostgreSQL stores to run against |
//! | [`hosts`] | a pipeline on a store and bus, the in-process demo host, waits and requests |
//! | [`checkout_host`] | a host with pagoPA Checkout's fake |
//!
//! Everything is re-exported here: suites `use cassa_tests::*`.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

pub mod checkout_host;
pub mod guests;
pub mod hosts;
pub mod logs;
pub mod servers;
pub mod stores;
mod wasm;

pub use guests::*;
pub use hosts::*;
pub use logs::*;
pub use servers::*;
pub use stores::*;
pub use wasm::with_custom_section;
