//! The payment pipeline: the stages that replace OpenCity's dispatcher, proxy, view, poller and
//! updater, each a small loop over the bus or the store with the decisions in [`crate::domain`].
//!
//! | stage | reads | writes |
//! |---|---|---|
//! | [`dispatcher`] | `applications` | a `CREATION_PENDING` payment (store + outbox) or the DLQ |
//! | [`proxy`] | `payments` (`CREATION_PENDING`) | `PAYMENT_PENDING` / `CREATION_FAILED` via the connector |
//! | [`view`] | `payments` written by others | the payments table |
//! | [`poller`] | due rows of the payments table | status changes via the connector |
//! | [`updater`] | due notifications | the core's notify endpoint, then `sent_at` |
//! | [`relay`] | the store's outbox (external bus only) | Kafka |
//! | [`trim`] | consumer positions (embedded bus only) | removes log entries every consumer has passed, past `log_retention_ms` |
//!
//! Every effect is idempotent and every consumer commits only after its effect is durable.
//!
//! What the stages stand on:
//!
//! | module | what |
//! |---|---|
//! | [`stage`] | the list of stages ([`stage::STAGES`]): a new stage is its module and one line there |
//! | [`context`] | [`Pipeline`], the stages' context: store, bus, installed connectors, settings, stop signal |
//! | [`config`] | [`PipelineConfig`], the stages' settings |
//! | [`consume`] | the loop every bus-consuming stage runs: batches in flight, committed in order |

pub mod change;
pub mod config;
pub mod consume;
pub mod context;
pub mod dispatcher;
pub mod fair;
pub mod poller;
pub mod proxy;
pub mod relay;
pub mod stage;
pub mod trim;
pub mod updater;
pub mod view;

use crate::domain::payment::PaymentEvent;
use crate::store::StoreError;

pub use config::{KeyBy, PipelineConfig, Unconfigured};
pub use consume::{batches_in_flight, consume, pause, subscribe};
pub use context::{Configured, Pipeline, allowed_hosts, connector_view};

/// Why a stage could not handle a message; the message is retried.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The handling of a batch ended abnormally.
    #[error("the handling of a batch was aborted")]
    Aborted,
}

/// The span every log line about `event` is written in: tenant, service, payment and event ids.
pub fn payment_span(event: &PaymentEvent) -> tracing::Span {
    tracing::info_span!("payment", tenant = %event.tenant_id, service = %event.service_id, payment = %event.id, event = %event.event_id)
}
