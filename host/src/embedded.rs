//! Connectors built into the binary, so `cassa run` works with nothing else installed.
//! `build.rs` compiles every member of `connectors/` for wasm32-wasip2.

/// The `sandbox` connector component.
pub const SANDBOX_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_CONNECTOR_SANDBOX_WASM"));

/// The `pagopa-gpd` connector component.
pub const PAGOPA_GPD_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_CONNECTOR_PAGOPA_GPD_WASM"));

/// The `mypay` connector component.
pub const MYPAY_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_CONNECTOR_MYPAY_WASM"));

/// The `govpay` connector component.
pub const GOVPAY_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_CONNECTOR_GOVPAY_WASM"));

/// The `iris` connector component.
pub const IRIS_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_CONNECTOR_IRIS_WASM"));

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
