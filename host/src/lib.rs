//! cassa: the payment cycle of an Italian municipal e-services platform in one host, with every
//! payment intermediary's dialect in a sandboxed WebAssembly connector.
//!
//! | module | responsibility |
//! |---|---|
//! | [`domain`] | the payment event 2.0, application events, dispatcher rules, poll schedule |
//! | [`api`] | the HTTP API over its own [`api::AppState`]: ingest, payments, configuration, per-payment endpoints, citizen pages, operators |
//! | [`bus`] | topics behind one trait: the embedded log in the store, or Kafka |
//! | [`checkout`] | pagoPA Checkout carts v2: a cart of 1–5 notices → the URL to send the citizen to |
//! | [`pipeline`] | the stages (dispatcher, proxy, view, poller, updater, relay), listed in [`pipeline::stage::STAGES`], over their context [`pipeline::Pipeline`] |
//! | [`registry`] | the connector registry (uploads, activations, pins, replicas) and the table of installed connectors ([`registry::Connectors`]) |
//! | [`metrics`] | Prometheus: counters where things happen, gauges read from the store and bus it is given |
//! | [`runtime`] | wasmtime engine, connector admission, the per-call sandbox, egress, blame, the domain ↔ WIT mapping |
//! | [`sandbox_intermediary`] | a small REST intermediary the host serves for demos and tests |
//! | [`conformance`] | the suite every connector must pass (`cassa connector test`) |
//! | [`scaffold`] | `cassa connector new`: a connector crate from the template |
//! | [`embedded`] | connectors built into the binary (`sandbox`, `pagopa-gpd`) |
//! | [`cli`] | the `cassa` command line |
//! | [`serve`] | `cassa run`: the long-running host |
//! | [`store`] | sqlx over SQLite or PostgreSQL: payments, history, configurations, outbox/log, offsets |
//! | [`telemetry`] | one tracing initialisation |
//! | [`settings`] | `cassa.toml`, `CASSA_*` variables and flags, layered |
//!
//! The modules form layers, from `domain` (no I/O) through `store`, `bus`, `runtime`,
//! `registry` and `pipeline` to `api`, `serve` and `cli`; none reaches back to a module that
//! uses it (a test below checks it).

pub mod api;
pub mod bus;
pub mod checkout;
pub mod cli;
pub mod conformance;
pub mod defaults;
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

/// The host's modules form layers: no module reaches, through `crate::` paths in its code, a
/// module that reaches back to it. (Doc comments may name any module.)
#[cfg(test)]
mod layering {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Each top-level module and the top-level modules its code names through `crate::`.
    fn graph() -> BTreeMap<String, BTreeSet<String>> {
        fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, files);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in files {
            let relative = file.strip_prefix(&root).unwrap();
            let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let edges = graph.entry(module.clone()).or_default();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    let is_module = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
                    if is_module && name != module {
                        edges.insert(name);
                    }
                }
            }
        }
        graph
    }

    /// A cycle through `from`, if there is one: the modules along it.
    fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
        let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == from {
                    return Some([path.clone(), vec![from.to_owned()]].concat());
                }
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
                }
            }
        }
        None
    }

    #[test]
    fn no_module_of_the_host_reaches_back_to_one_that_uses_it() {
        let graph = graph();
        assert!(graph.contains_key("pipeline") && graph["api"].contains("pipeline"), "the scan found the modules");
        let cycles: Vec<String> =
            graph.keys().filter_map(|m| cycle_through(&graph, m)).map(|c| c.join(" → ")).collect();
        assert!(cycles.is_empty(), "import cycles between host modules:\n{}", cycles.join("\n"));
    }
}
