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

/// The bundled connector called `name`, empty when there is none (so a test naming a connector
/// that is not in `connectors/` fails at its first load). Usable in constants: a new connector
/// needs no constant of its own here.
pub const fn bundled(name: &str) -> &'static [u8] {
    const fn same(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    let mut i = 0;
    while i < BUNDLED.len() {
        if same(BUNDLED[i].0.as_bytes(), name.as_bytes()) {
            return BUNDLED[i].1;
        }
        i += 1;
    }
    &[]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bundled_connector_is_found_by_its_name_and_an_unknown_name_finds_nothing() {
        assert_eq!(super::bundled("sandbox"), super::SANDBOX_CONNECTOR);
        assert_eq!(super::bundled("mypay"), super::MYPAY_CONNECTOR);
        assert!(super::bundled("nobody").is_empty() && super::bundled("sandbo").is_empty());
    }
}
