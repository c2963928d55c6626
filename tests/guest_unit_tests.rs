//! The connectors' own unit tests (their mapping and XML logic) run natively, from their own
//! workspace: they are part of the project's one test command.

use std::path::Path;
use std::process::Command;

#[test]
fn every_connector_passes_its_native_unit_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("connectors-native");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root.join("connectors")).args(["test", "--lib", "--workspace", "--target-dir"]).arg(&target);
    if std::env::var_os("CI").is_some() {
        command.arg("--locked");
    }
    let output = command.env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS").output();
    let output = match output {
        Ok(output) => output,
        Err(error) => panic!("cannot run cargo for the connectors' unit tests: {error}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "connector unit tests failed:\n{stdout}\n{stderr}");
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed > 0, "no connector unit test ran:\n{stdout}");
}
