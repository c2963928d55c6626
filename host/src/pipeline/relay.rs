//! The outbox relay: with an external bus (Kafka), publishes the rows the store's outbox
//! received — each written in the same transaction as the state change it announces — in
//! order, then removes them. A crash between the two publishes a row again on restart:
//! delivery is at-least-once and every consumer is idempotent.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Pipeline, pause};

/// Most rows relayed per round.
const BATCH: i64 = 500;

/// Relays one batch of the outbox: how many rows went out, `None` when the bus or the store
/// failed (the rows stay and go next time).
async fn relay_round(pipeline: &Pipeline) -> Option<usize> {
    let rows = match pipeline.store.unpublished(BATCH).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "outbox relay cannot read the outbox");
            return None;
        }
    };
    // Consecutive rows of one topic go out as one batch, in outbox order.
    let mut start = 0;
    while start < rows.len() {
        let topic = &rows[start].topic;
        let end = rows[start..].iter().position(|r| &r.topic != topic).map_or(rows.len(), |n| start + n);
        let messages: Vec<(String, Vec<u8>)> =
            rows[start..end].iter().map(|r| (r.key.clone(), r.payload.clone().into_bytes())).collect();
        if let Err(error) = pipeline.bus.publish_batch(topic, &messages).await {
            tracing::warn!(%error, %topic, "outbox relay cannot publish; retrying");
            return None;
        }
        let ids: Vec<i64> = rows[start..end].iter().map(|r| r.id).collect();
        if let Err(error) = pipeline.store.remove_relayed(&ids).await {
            tracing::warn!(%error, "outbox relay cannot remove relayed rows; they will be sent again");
            return None;
        }
        start = end;
    }
    Some(rows.len())
}

/// Runs until `stop`.
pub async fn run(pipeline: Pipeline, stop: CancellationToken) {
    loop {
        match relay_round(&pipeline).await {
            Some(0) => {}
            Some(_) => continue,
            None => {
                if !pause(&stop, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = pipeline.relay_kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// At shutdown, once the stages have stopped: relays what the outbox still holds, until it is
/// empty or the bus fails (the rest goes at the next start).
pub async fn drain(pipeline: &Pipeline) {
    if pipeline.bus.outbox_is_log() {
        return;
    }
    while let Some(relayed) = relay_round(pipeline).await {
        if relayed == 0 {
            return;
        }
    }
}
