//! The loop every bus-consuming stage runs, and the waits every stage uses.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Pipeline, PipelineError};
use crate::bus::Message;

/// Waits `delay` unless `stop` is cancelled first; returns whether to go on.
pub async fn pause(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Batches of one stage in flight at once: a stage waits on its database and its intermediary
/// far more than it computes, so the next batch is read and handled while earlier ones are.
/// SQLite has one writer: at most two there (one calling intermediaries, one writing).
pub fn batches_in_flight(pipeline: &Pipeline) -> usize {
    let configured = pipeline.config.batches_in_flight.max(1);
    match pipeline.store.backend() {
        crate::store::Backend::Sqlite => configured.min(2),
        crate::store::Backend::Postgres => configured,
    }
}

/// A batch being handled, and its handling.
type InFlight = (Vec<Message>, tokio::task::JoinHandle<Result<(), PipelineError>>);

/// The loop every bus-consuming stage runs: poll a batch, hand it to `handle` (up to
/// [`batches_in_flight`] at once, each in a task of its own), commit batches in the order they
/// were read, each once its handling made its effects durable and every earlier one is
/// committed. A failed batch is not committed: the batches after it are abandoned, and after a
/// pause the stage subscribes again and reads them anew (effects are idempotent). On `stop`,
/// batches in flight finish and are committed.
pub async fn consume<F, Fut>(pipeline: &Pipeline, group: &str, topic: &str, stop: &CancellationToken, mut handle: F)
where
    F: FnMut(Vec<Message>) -> Fut,
    Fut: std::future::Future<Output = Result<(), PipelineError>> + Send + 'static,
{
    let depth = batches_in_flight(pipeline);
    'subscription: while let Some(mut consumer) = subscribe(pipeline, group, topic, stop).await {
        let mut in_flight: std::collections::VecDeque<InFlight> = std::collections::VecDeque::new();
        loop {
            // Commit, in order, every batch at the front that is done; wait for the oldest when
            // there is no room for another (or when stopping).
            while let Some((_, task)) = in_flight.front() {
                let must_wait = in_flight.len() >= depth || stop.is_cancelled();
                if !task.is_finished() && !must_wait {
                    break;
                }
                let Some((batch, task)) = in_flight.pop_front() else { break };
                let outcome = match task.await {
                    Ok(outcome) => outcome,
                    Err(join) => {
                        tracing::error!(error = %join, group, topic, "a batch's handling panicked");
                        Err(PipelineError::Aborted)
                    }
                };
                if let Err(error) = outcome {
                    tracing::warn!(%error, group, topic, "a batch failed; reading it again");
                    crate::metrics::processing_error(&crate::metrics::stage_of(group), "batch_failed");
                    for (_, later) in in_flight.drain(..) {
                        later.abort();
                    }
                    if !pause(stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'subscription;
                }
                if let Err(error) = consumer.commit(&batch).await {
                    tracing::warn!(%error, group, topic, "cannot commit the position; the batch may be read again");
                }
            }
            if stop.is_cancelled() {
                return;
            }
            // Poll briefly while batches are in flight, so finished ones are committed promptly.
            let wait = if in_flight.is_empty() { Duration::from_millis(500) } else { Duration::from_millis(5) };
            let batch = tokio::select! {
                _ = stop.cancelled() => continue,
                batch = consumer.poll(500, wait) => batch,
            };
            match batch {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    crate::metrics::consumed(&crate::metrics::stage_of(group), batch.len());
                    let task = tokio::spawn(handle(batch.clone()));
                    in_flight.push_back((batch, task));
                }
                Err(error) => {
                    tracing::warn!(%error, group, topic, "cannot read the topic; subscribing again");
                    for (_, later) in in_flight.drain(..) {
                        later.abort();
                    }
                    if !pause(stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'subscription;
                }
            }
        }
    }
}

/// Subscribes, retrying until it works or `stop` is cancelled.
pub async fn subscribe(
    pipeline: &Pipeline,
    group: &str,
    topic: &str,
    stop: &CancellationToken,
) -> Option<Box<dyn crate::bus::Consumer>> {
    loop {
        match pipeline.bus.subscribe(group, topic).await {
            Ok(consumer) => return Some(consumer),
            Err(error) => {
                tracing::warn!(%error, group, topic, "cannot subscribe; retrying");
                if !pause(stop, Duration::from_secs(1)).await {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::bus::Bus;
    use crate::pipeline::PipelineConfig;
    use crate::registry::Connectors;
    use crate::store::Store;

    /// A bus whose one topic holds the messages `0..n` (one per poll) and which records the
    /// offsets committed, in order.
    struct ScriptedBus {
        messages: i64,
        commits: Arc<std::sync::Mutex<Vec<i64>>>,
    }

    struct ScriptedConsumer {
        next: i64,
        last: i64,
        commits: Arc<std::sync::Mutex<Vec<i64>>>,
    }

    #[async_trait::async_trait]
    impl Bus for ScriptedBus {
        async fn publish(&self, _: &str, _: &str, _: &[u8]) -> Result<(), crate::bus::BusError> {
            Ok(())
        }
        async fn subscribe(&self, _: &str, _: &str) -> Result<Box<dyn crate::bus::Consumer>, crate::bus::BusError> {
            let next = self.commits.lock().unwrap().last().map_or(0, |last| last + 1);
            Ok(Box::new(ScriptedConsumer { next, last: self.messages, commits: self.commits.clone() }))
        }
        fn outbox_is_log(&self) -> bool {
            true
        }
        async fn lag(&self, _: &str, _: &str) -> Result<i64, crate::bus::BusError> {
            Ok(0)
        }
        async fn size(&self, _: &str) -> Result<i64, crate::bus::BusError> {
            Ok(0)
        }
    }

    #[async_trait::async_trait]
    impl crate::bus::Consumer for ScriptedConsumer {
        async fn poll(&mut self, _: usize, wait: Duration) -> Result<Vec<Message>, crate::bus::BusError> {
            if self.next >= self.last {
                tokio::time::sleep(wait).await;
                return Ok(Vec::new());
            }
            let offset = self.next;
            self.next += 1;
            Ok(vec![Message { topic: "t".into(), partition: 0, offset, key: String::new(), payload: Vec::new() }])
        }
        async fn commit(&mut self, messages: &[Message]) -> Result<(), crate::bus::BusError> {
            self.commits.lock().unwrap().extend(messages.iter().map(|m| m.offset));
            Ok(())
        }
    }

    async fn scripted(messages: i64) -> (Pipeline, Arc<std::sync::Mutex<Vec<i64>>>) {
        let path = std::env::temp_dir().join(format!("cassa-consume-{}.db", Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        let commits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let bus = Arc::new(ScriptedBus { messages, commits: commits.clone() });
        let pipeline = Pipeline::new(store, bus, Connectors::default(), PipelineConfig::default()).unwrap();
        (pipeline, commits)
    }

    #[tokio::test]
    async fn batches_in_flight_are_committed_in_the_order_they_were_read() {
        let (pipeline, commits) = scripted(6).await;
        assert_eq!(batches_in_flight(&pipeline), 2, "SQLite keeps two in flight");
        let stop = CancellationToken::new();
        let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
        let runner = {
            let (pipeline, stop, handled) = (pipeline.clone(), stop.clone(), handled.clone());
            tokio::spawn(async move {
                consume(&pipeline, "g", "t", &stop, |batch| {
                    let handled = handled.clone();
                    async move {
                        // Even batches are slow: the odd one read after each finishes first.
                        let offset = batch[0].offset;
                        if offset % 2 == 0 {
                            tokio::time::sleep(Duration::from_millis(60)).await;
                        }
                        handled.lock().unwrap().push(offset);
                        Ok(())
                    }
                })
                .await;
            })
        };
        let started = tokio::time::Instant::now();
        while commits.lock().unwrap().len() < 6 {
            assert!(started.elapsed() < Duration::from_secs(10), "{:?}", commits.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        runner.await.unwrap();
        // Handled out of order, committed in order.
        assert_ne!(*handled.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(*commits.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_failed_batch_and_those_after_it_are_read_again_and_nothing_is_committed_past_it() {
        let (pipeline, commits) = scripted(4).await;
        let stop = CancellationToken::new();
        let failures = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let runner = {
            let (pipeline, stop, failures) = (pipeline.clone(), stop.clone(), failures.clone());
            tokio::spawn(async move {
                consume(&pipeline, "g", "t", &stop, |batch| {
                    let failures = failures.clone();
                    async move {
                        // Offset 1 fails the first time it is handled.
                        if batch[0].offset == 1 && failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            return Err(PipelineError::Aborted);
                        }
                        Ok(())
                    }
                })
                .await;
            })
        };
        let started = tokio::time::Instant::now();
        while commits.lock().unwrap().len() < 4 {
            assert!(started.elapsed() < Duration::from_secs(10), "{:?}", commits.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        runner.await.unwrap();
        // 0 committed, 1 failed and was read again after the pause, then 1, 2, 3.
        assert_eq!(*commits.lock().unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
