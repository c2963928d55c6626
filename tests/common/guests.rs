//! The purpose-built guests, runtimes with test limits, and the call scopes they are called in.

use cassa::runtime::{CallScope, Connector, EgressConfig, Limits, Runtime, RuntimeConfig, wit};
use serde_json::json;

/// The hostile guest (see `tests/guests/hostile`).
pub const HOSTILE: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_HOSTILE_WASM"));

/// A component that is no connector and imports an interface the host does not provide.
pub const NOT_A_CONNECTOR: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_NOT_A_CONNECTOR_WASM"));

/// A contract 0.1.0 connector built before `lookup` existed: it exports the `gateway` alone.
pub const GATEWAY_ONLY: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_GATEWAY_ONLY_WASM"));

/// The SOAP workload guest for the Wasm/native benchmark.
pub const SOAP_BENCH: &[u8] = include_bytes!(env!("CASSA_TEST_GUEST_SOAP_BENCH_WASM"));

/// The `sandbox` connector, as embedded in the binary.
pub const SANDBOX: &[u8] = cassa::embedded::SANDBOX_CONNECTOR;

/// The secret value tests give the hostile guest's tenant.
pub const SECRET: &str = "s3cr3t-api-key-of-tenant-a";

/// A runtime whose calls have these limits; loopback allowed unless `public_only`.
pub fn runtime(limits: Limits, public_only: bool) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits,
        egress: EgressConfig { allow_private_networks: !public_only, ..EgressConfig::default() },
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Test limits: small and quick to hit.
pub fn tight_limits() -> Limits {
    Limits { memory_bytes: 32 * 1024 * 1024, cpu_ms: 300, wall_ms: 5_000 }
}

/// Loads the hostile guest.
pub async fn hostile(runtime: &Runtime) -> Connector {
    runtime.load(HOSTILE).await.expect("the hostile guest is a valid connector")
}

/// A scope for the hostile guest in `mode`, with `url` and the allowed hosts.
pub fn hostile_scope(mode: &str, url: &str, allowed_hosts: &[&str]) -> CallScope {
    CallScope {
        tenant_id: "tenant-a".into(),
        service_id: "service-a".into(),
        payment_id: Some("payment-1".into()),
        tenant_config: json!({ "api_key": SECRET }),
        service_config: json!({ "mode": mode, "url": url }),
        allowed_hosts: allowed_hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..CallScope::default()
    }
}

/// Any debt reference; the hostile guest ignores it.
pub fn any_debt() -> wit::DebtRef {
    wit::DebtRef {
        payment_id: "payment-1".into(),
        iud: "iud".into(),
        iuv: "01000000000123468".into(),
        notice_code: "301000000000123468".into(),
        remote_ref: None,
    }
}
