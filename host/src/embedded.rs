//! Connectors built into the binary, so `cassa run` works with nothing else installed.
//! `build.rs` compiles them from `connectors/` for wasm32-wasip2.

/// The `sandbox` connector component.
pub const SANDBOX_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_CONNECTOR_SANDBOX_WASM"));
