//! The stages, registered in one place: [`STAGES`]. A new stage is its own module (with its
//! `run` loop) and one entry in that list; the `stages` setting, [`spawn`] and the consumer-lag
//! gauges all read it.

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::Pipeline;
use crate::bus::Topics;

/// When a stage runs in a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// When the `stages` setting names it; `by_default` says whether its default does.
    Named {
        /// Whether the default `stages` names it.
        by_default: bool,
    },
    /// When the `stages` setting names it, and whenever the bus is an external one (Kafka)
    /// without being named.
    NamedOrExternalBus,
    /// Whenever the bus is an external one; the `stages` setting cannot name it.
    ExternalBus,
    /// Whenever the bus is the store's own log; the `stages` setting cannot name it.
    EmbeddedBus,
}

/// One stage of the pipeline.
pub struct Stage {
    /// Its name: in the `stages` setting, in its consumer group (`<prefix>-<name>`) and in its
    /// metrics' `stage` label.
    pub name: &'static str,
    /// When it runs.
    pub runs: Runs,
    /// The topic it consumes, when it reads the bus: its consumer lag is reported.
    pub consumes: Option<fn(&Topics) -> &str>,
    /// Its loop, until the stop signal and its work in flight are done.
    pub run: fn(Pipeline, CancellationToken) -> BoxFuture<'static, ()>,
}

impl Stage {
    /// Whether it runs in a process whose `stages` setting is `named`, over a bus that is the
    /// store's own log (`outbox_is_log`) or an external one.
    pub fn runs_with(&self, named: &[String], outbox_is_log: bool) -> bool {
        let is_named = named.iter().any(|n| n.trim() == self.name);
        match self.runs {
            Runs::Named { .. } => is_named,
            Runs::NamedOrExternalBus => is_named || !outbox_is_log,
            Runs::ExternalBus => !outbox_is_log,
            Runs::EmbeddedBus => outbox_is_log,
        }
    }

    /// Whether the `stages` setting may name it.
    pub fn nameable(&self) -> bool {
        !matches!(self.runs, Runs::ExternalBus | Runs::EmbeddedBus)
    }
}

/// Every stage, in the order they start.
pub const STAGES: &[Stage] = &[
    Stage {
        name: "dispatcher",
        runs: Runs::Named { by_default: true },
        consumes: Some(|t| t.applications.as_str()),
        run: |pipeline, stop| Box::pin(super::dispatcher::run(pipeline, stop)),
    },
    Stage {
        name: "proxy",
        runs: Runs::Named { by_default: true },
        consumes: Some(|t| t.payments.as_str()),
        run: |pipeline, stop| Box::pin(super::proxy::run(pipeline, stop)),
    },
    Stage {
        name: "view",
        runs: Runs::NamedOrExternalBus,
        consumes: Some(|t| t.payments.as_str()),
        run: |pipeline, stop| Box::pin(super::view::run(pipeline, stop)),
    },
    Stage {
        name: "poller",
        runs: Runs::Named { by_default: true },
        consumes: None,
        run: |pipeline, stop| Box::pin(super::poller::run(pipeline, stop)),
    },
    Stage {
        name: "updater",
        runs: Runs::Named { by_default: true },
        consumes: None,
        run: |pipeline, stop| Box::pin(super::updater::run(pipeline, stop)),
    },
    Stage {
        name: "relay",
        runs: Runs::ExternalBus,
        consumes: None,
        run: |pipeline, stop| Box::pin(super::relay::run(pipeline, stop)),
    },
    Stage {
        name: "trim",
        runs: Runs::EmbeddedBus,
        consumes: None,
        run: |pipeline, stop| Box::pin(super::trim::run(pipeline, stop)),
    },
];

/// The names the `stages` setting may hold.
pub fn nameable() -> Vec<&'static str> {
    STAGES.iter().filter(|s| s.nameable()).map(|s| s.name).collect()
}

/// The default of the `stages` setting.
pub fn default_names() -> Vec<String> {
    STAGES.iter().filter(|s| s.runs == Runs::Named { by_default: true }).map(|s| s.name.to_owned()).collect()
}

/// The stages `pipeline` runs.
pub fn running(pipeline: &Pipeline) -> impl Iterator<Item = &'static Stage> + '_ {
    let outbox_is_log = pipeline.bus.outbox_is_log();
    STAGES.iter().filter(move |s| s.runs_with(&pipeline.config.stages, outbox_is_log))
}

/// Starts the stages `pipeline` runs; they stop when `stop` is cancelled.
pub fn spawn(pipeline: &Pipeline, stop: &CancellationToken) -> Vec<tokio::task::JoinHandle<()>> {
    running(pipeline).map(|stage| tokio::spawn((stage.run)(pipeline.clone(), stop.clone()))).collect()
}

/// The consumer group and topic of each bus-reading stage `pipeline` runs, by stage name: what
/// its consumer lag is measured on.
pub fn lag_sources(pipeline: &Pipeline) -> Vec<(&'static str, String, String)> {
    running(pipeline)
        .filter_map(|stage| {
            let topic = (stage.consumes?)(&pipeline.config.topics);
            Some((stage.name, pipeline.group(stage.name), topic.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_default_stages_are_those_of_the_embedded_host() {
        assert_eq!(default_names(), names(&["dispatcher", "proxy", "poller", "updater"]));
        assert_eq!(nameable(), vec!["dispatcher", "proxy", "view", "poller", "updater"]);
    }

    #[test]
    fn the_view_runs_with_an_external_bus_or_when_named_and_the_relay_only_with_an_external_bus() {
        let run = |name: &str, named: &[&str], log: bool| {
            STAGES.iter().find(|s| s.name == name).is_some_and(|s| s.runs_with(&names(named), log))
        };
        let defaults = ["dispatcher", "proxy", "poller", "updater"];
        assert!(!run("view", &defaults, true));
        assert!(run("view", &defaults, false));
        assert!(run("view", &["view"], true));
        assert!(!run("relay", &["relay"], true));
        assert!(run("relay", &[], false));
        assert!(run("proxy", &[" proxy "], true), "names are trimmed");
        assert!(!run("proxy", &["dispatcher"], false));
        assert!(run("trim", &[], true) && !run("trim", &["trim"], false), "the trim runs with the embedded log only");
    }

    #[test]
    fn stage_names_are_unique() {
        for (n, stage) in STAGES.iter().enumerate() {
            assert!(STAGES[n + 1..].iter().all(|s| s.name != stage.name), "{}", stage.name);
        }
    }
}
