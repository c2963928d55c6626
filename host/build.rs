//! Builds the connectors under `connectors/` for wasm32-wasip2, so the binary can embed the
//! `sandbox` connector and `cargo run` needs nothing installed by hand.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest_dir).join("..");
    let result = cassa_guest_build::build_for_build_script(
        &root.join("connectors"),
        &[&root.join("sdk"), &root.join("wit"), &root.join("Cargo.toml")],
        "CASSA_CONNECTOR",
    );
    if let Err(error) = result {
        println!("cargo:warning={error}");
        std::process::exit(1);
    }
}
