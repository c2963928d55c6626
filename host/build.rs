//! Builds the connectors under `connectors/` for wasm32-wasip2, so the binary can embed them
//! (`embedded::BUNDLED`: every member of that workspace, `sandbox` among them) and `cargo run`
//! needs nothing installed by hand.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest_dir).join("..");
    let result = cassa_guest_build::build_for_build_script(
        &root.join("connectors"),
        &[&root.join("sdk"), &root.join("wit"), &root.join("Cargo.toml")],
        "CASSA_CONNECTOR",
    );
    let built = match result {
        Ok(built) => built,
        Err(error) => {
            println!("cargo:warning={error}");
            std::process::exit(1);
        }
    };
    // `embedded::BUNDLED`, one entry per connector.
    let entries: Vec<String> = built
        .iter()
        .map(|guest| format!("    ({:?}, include_bytes!({:?})),\n", guest.name, guest.path.display().to_string()))
        .collect();
    let source = format!(
        "/// Every connector of `connectors/`, by name.\npub const BUNDLED: [(&str, &[u8]); {}] = [\n{}];\n",
        entries.len(),
        entries.concat()
    );
    let out = std::env::var("OUT_DIR").map(std::path::PathBuf::from).unwrap_or_default().join("bundled.rs");
    if let Err(error) = std::fs::write(&out, source) {
        println!("cargo:warning=cannot write {}: {error}", out.display());
        std::process::exit(1);
    }
}
