//! Builds the purpose-built guests under `tests/guests/` and `tests/bench-guests/` for
//! wasm32-wasip2 and exports their paths as `CASSA_TEST_GUEST_<NAME>_WASM`.

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let tests = Path::new(&manifest_dir);
    let root = tests.join("..");
    let watch = [root.join("sdk"), root.join("wit"), root.join("Cargo.toml")];
    let watch: Vec<&Path> = watch.iter().map(|p| p.as_path()).collect();
    for workspace in ["guests", "bench-guests"] {
        if let Err(error) =
            cassa_guest_build::build_for_build_script(&tests.join(workspace), &watch, "CASSA_TEST_GUEST")
        {
            println!("cargo:warning={error}");
            std::process::exit(1);
        }
    }
}
