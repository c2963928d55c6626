//! cassa: the payment cycle of an Italian municipal e-services platform in one host, with every
//! payment intermediary's dialect in a sandboxed WebAssembly connector.
//!
//! | module | responsibility |
//! |---|---|
//! | [`domain`] | the payment event 2.0, application events, dispatcher rules, poll schedule |
//! | [`api`] | the HTTP API: ingest, payments, configuration, per-payment endpoints |
//! | [`bus`] | topics behind one trait: the embedded log in the store, or Kafka |
//! | [`checkout`] | pagoPA Checkout carts v2: a cart of 1–5 notices → the URL to send the citizen to |
//! | [`pipeline`] | dispatcher, proxy, view, poller, updater |
//! | [`runtime`] | wasmtime engine, connector admission, the per-call sandbox, egress, blame |
//! | [`sandbox_intermediary`] | a small REST intermediary the host serves for demos and tests |
//! | [`conformance`] | the suite every connector must pass (`cassa connector test`) |
//! | [`scaffold`] | `cassa connector new`: a connector crate from the template |
//! | [`embedded`] | connectors built into the binary (`sandbox`, `pagopa-gpd`) |
//! | [`cli`] | the `cassa` command line |
//! | [`serve`] | `cassa run`: the long-running host |
//! | [`store`] | sqlx over SQLite or PostgreSQL: payments, history, configurations, outbox/log, offsets |
//! | [`telemetry`] | one tracing initialisation |

pub mod api;
pub mod bus;
pub mod checkout;
pub mod cli;
pub mod conformance;
pub mod domain;
pub mod embedded;
pub mod metrics;
pub mod pipeline;
pub mod registry;
pub mod runtime;
pub mod sandbox_intermediary;
pub mod scaffold;
pub mod serve;
pub mod settings;
pub mod store;
pub mod telemetry;
