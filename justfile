# Named recipes for people and CI. `just` is optional: every recipe is one plain command.

# The host on embedded defaults (SQLite, embedded bus, sandbox intermediary).
run:
    cargo run --release

# The whole test suite (the README's test command).
test:
    cargo test --workspace

# Formatting and lints, host and guests.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    for ws in connectors tests/guests tests/bench-guests; do (cd $ws && cargo fmt --all -- --check && cargo clippy --target wasm32-wasip2 -- -D warnings); done

# Builds every connector for wasm32-wasip2 into target/connectors/<name>.wasm.
connectors:
    cargo run --release -- connector build --workspace connectors --out target/connectors

# Runs the conformance suite on every built connector against its intermediary's fake.
conformance: connectors
    scripts/conformance

# The HTTP API against its OpenAPI document: validator, then schemathesis on a running host.
api-check:
    cargo build --release
    scripts/api-check

# Benchmarks: figures printed as `name: value unit`.
bench:
    cargo bench -p cassa-tests --bench sandbox
    cargo bench -p cassa-tests --bench pipeline
    cargo bench -p cassa-tests --bench load_swap
    cargo bench -p cassa-tests --bench noisy_neighbour
    cargo bench -p cassa-tests --bench slow_intermediary
    cargo bench -p cassa-tests --bench concurrent_slow_calls
    cargo bench -p cassa-tests --bench due_selection

# Soak: 1,000,000 payments through the embedded default (about half an hour): creation rate per 100,000, due selection at the end, database size before and after trimming the log.
soak:
    cargo bench -p cassa-tests --bench soak

# Hot swap under load: 500 connector calls/s for 60 s through a push, an activation and a rollback.
load-swap:
    cargo bench -p cassa-tests --bench load_swap

# Noisy neighbour: tenant B's throughput and p99 alone and while tenant A's connector loops, allocates and floods.
noisy-neighbour:
    cargo bench -p cassa-tests --bench noisy_neighbour
