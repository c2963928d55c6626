//! `cargo bench -p cassa-tests --bench sandbox` (or `just bench`): the figures of the connector
//! platform, one per line as `name: value unit`.
//!
//! - `status_call_p50` / `status_call_p99`: a sandboxed `status` call that does no I/O (the
//!   hostile guest in `noop` mode), each on a fresh store: instantiate from the pre-instance,
//!   call, drop — the whole per-call path of production.
//! - `soap_native_per_message` / `soap_wasm_per_message` / `soap_wasm_native_ratio`: building and
//!   parsing a MyPay-sized SOAP exchange with the SDK (`cassa_sdk::soap::workload`), natively and
//!   inside a component on the host's engine (epoch interruption on), after warm-up.

#![expect(clippy::unwrap_used, reason = "benchmark harness")]

use std::time::{Duration, Instant};

use cassa::runtime::{Limits, Runtime, RuntimeConfig, wit};
use cassa_tests::{HOSTILE, SOAP_BENCH, any_debt, hostile_scope};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const STATUS_WARMUP: usize = 500;
const STATUS_CALLS: usize = 5_000;
const SOAP_ITERATIONS: u32 = 2_000;
const SOAP_ROUNDS: usize = 5;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn status_calls() {
    let runtime = Runtime::new(RuntimeConfig { limits: Limits::default(), ..RuntimeConfig::default() }).unwrap();
    let connector = runtime.load(HOSTILE).await.unwrap();
    let scope = hostile_scope("noop", "", &[]);
    for _ in 0..STATUS_WARMUP {
        connector.status(&scope, any_debt()).await.unwrap();
    }
    let mut samples = Vec::with_capacity(STATUS_CALLS);
    for _ in 0..STATUS_CALLS {
        let debt = any_debt();
        let started = Instant::now();
        let status = connector.status(&scope, debt).await;
        samples.push(started.elapsed());
        assert!(matches!(status, Ok(wit::PaymentStatus::Pending)));
    }
    samples.sort();
    println!("status_call_p50: {:.1} us", micros(percentile(&samples, 0.50)));
    println!("status_call_p99: {:.1} us", micros(percentile(&samples, 0.99)));
    println!("status_call_samples: {STATUS_CALLS} calls");
}

struct BenchState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for BenchState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn best_of(rounds: usize, mut run: impl FnMut() -> Duration) -> Duration {
    (0..rounds).map(|_| run()).min().unwrap()
}

async fn soap_ratio() {
    // The host's own engine configuration: what a connector really runs under.
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let engine = if std::env::var_os("CASSA_BENCH_PLAIN_ENGINE").is_some() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        wasmtime::Engine::new(&config).unwrap()
    } else {
        runtime.engine().clone()
    };
    let component = Component::new(&engine, SOAP_BENCH).unwrap();
    let mut linker = Linker::<BenchState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    let mut store = Store::new(&engine, BenchState { wasi: WasiCtx::builder().build(), table: ResourceTable::new() });
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Continue(1)));
    let instance = linker.instantiate_async(&mut store, &component).await.unwrap();
    let run = instance.get_typed_func::<(u32,), (u64,)>(&mut store, "run").unwrap();

    // Warm-up both sides and check they compute the same thing.
    let (wasm_sum,) = run.call_async(&mut store, (SOAP_ITERATIONS / 10,)).await.unwrap();
    let native_sum: u64 = (0..SOAP_ITERATIONS / 10)
        .map(|i| cassa_sdk::soap::workload::mypay_sized_roundtrip(i) as u64)
        .fold(0, u64::wrapping_add);
    assert_eq!(wasm_sum, native_sum, "the guest and the native build disagree");

    let native = best_of(SOAP_ROUNDS, || {
        let started = Instant::now();
        let mut sum: u64 = 0;
        for i in 0..SOAP_ITERATIONS {
            sum = sum.wrapping_add(std::hint::black_box(cassa_sdk::soap::workload::mypay_sized_roundtrip(i)) as u64);
        }
        std::hint::black_box(sum);
        started.elapsed()
    });
    let mut wasm = Duration::MAX;
    for _ in 0..SOAP_ROUNDS {
        let started = Instant::now();
        let (sum,) = run.call_async(&mut store, (SOAP_ITERATIONS,)).await.unwrap();
        std::hint::black_box(sum);
        wasm = wasm.min(started.elapsed());
    }
    let per = |d: Duration| micros(d) / f64::from(SOAP_ITERATIONS);
    println!("soap_native_per_message: {:.2} us", per(native));
    println!("soap_wasm_per_message: {:.2} us", per(wasm));
    println!("soap_wasm_native_ratio: {:.2} x", wasm.as_secs_f64() / native.as_secs_f64());
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants a quick run.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let only = std::env::var("CASSA_BENCH_ONLY").unwrap_or_default();
        if only.is_empty() || only == "status" {
            status_calls().await;
        }
        if only.is_empty() || only == "soap" {
            soap_ratio().await;
        }
    });
}
