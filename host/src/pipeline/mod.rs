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

/// How long a stopping host waits for the connector calls in flight (creations, checks) before
/// it gives them back to their leases.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

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

/// Claims up to `room` due items of a fair runner: oldest first (`all`) while no tenant's
/// queue is full; otherwise, not to read past the full tenants' due rows, tenant by tenant
/// (`per_tenant`, a share of `room` each) for the tenants `probe` names, those found with
/// nothing due left out a while. The list of tenants is read again when stale (a
/// store that cannot answer leaves the old one).
pub(crate) async fn claim_fairly<W>(
    probe: &mut fair::Probe<uuid::Uuid>,
    store: &crate::store::Store,
    skip: &[uuid::Uuid],
    room: usize,
    all: impl AsyncFnOnce(i64) -> Result<Vec<W>, StoreError>,
    per_tenant: impl AsyncFnOnce(i64, &[uuid::Uuid]) -> Result<Vec<W>, StoreError>,
    tenant_of: impl Fn(&W) -> uuid::Uuid,
) -> Result<Vec<W>, StoreError> {
    let room = i64::try_from(room).unwrap_or(i64::MAX);
    if skip.is_empty() {
        return all(room).await;
    }
    let now = std::time::Instant::now();
    if probe.stale(now) {
        match store.tenant_ids().await {
            Ok(tenants) => probe.set_tenants(tenants, now),
            Err(error) => tracing::warn!(%error, "cannot read the tenants to claim their due work"),
        }
    }
    let asked = probe.candidates(skip, now, fair::ASKED_PER_ROUND);
    let per = (room / i64::try_from(asked.len().max(1)).unwrap_or(1)).max(1);
    let claimed = per_tenant(per, &asked).await?;
    let tenants: Vec<uuid::Uuid> = claimed.iter().map(tenant_of).collect();
    probe.found(&asked, &tenants, std::time::Instant::now());
    Ok(claimed)
}
