//! Builds cassa's WebAssembly guests: the connectors under `connectors/` and the purpose-built
//! test guests under `tests/guests/`.
//!
//! Guests live in cargo workspaces of their own and only compile for `wasm32-wasip2`. This crate
//! is the one place that knows how to build them; it is used by build scripts (so that
//! `cargo run` and `cargo test` work on a fresh machine) and by `cassa connector build`.
//!
//! Convention: every member of a guest workspace is a directory `<name>/` whose library is named
//! `<name>` with `-` replaced by `_`, and builds as a `cdylib`; the component lands at
//! `<target-dir>/wasm32-wasip2/release/<lib>.wasm`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Why a guest build failed.
#[derive(Debug)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// One guest component that was built.
#[derive(Debug, Clone)]
pub struct BuiltGuest {
    /// The directory name of the guest crate, e.g. `sandbox` or `pagopa-gpd`.
    pub name: String,
    /// Where the component file is.
    pub path: PathBuf,
}

/// Adds the `wasm32-wasip2` target to the active toolchain when it is missing.
///
/// `rust-toolchain.toml` lists the target, but rustup installs it on its own only when automatic
/// installs are allowed; machines here run with `RUSTUP_AUTO_INSTALL=0`.
pub fn ensure_guest_target() -> Result<(), BuildError> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    let Ok(installed) = installed else {
        // No rustup: the toolchain was installed some other way; let cargo report a missing
        // target itself.
        return Ok(());
    };
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == GUEST_TARGET) {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", GUEST_TARGET])
        .status()
        .map_err(|e| BuildError(format!("failed to run `rustup target add {GUEST_TARGET}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError(format!("`rustup target add {GUEST_TARGET}` failed ({status})")))
    }
}

/// The members of the guest workspace in `workspace_dir`: every subdirectory with a
/// `Cargo.toml`, sorted by name.
pub fn members(workspace_dir: &Path) -> Result<Vec<String>, BuildError> {
    let entries = std::fs::read_dir(workspace_dir)
        .map_err(|e| BuildError(format!("cannot list {}: {e}", workspace_dir.display())))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir()
            && path.join("Cargo.toml").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds every member of the guest workspace in `workspace_dir` in release mode into
/// `target_dir` and returns where each component is.
pub fn build_workspace(workspace_dir: &Path, target_dir: &Path) -> Result<Vec<BuiltGuest>, BuildError> {
    ensure_guest_target()?;
    // The build runs in the workspace directory (for its `.cargo/config.toml`): paths given
    // relative to the caller's directory must not change meaning.
    let workspace_dir = &std::path::absolute(workspace_dir)
        .map_err(|e| BuildError(format!("bad workspace path {}: {e}", workspace_dir.display())))?;
    let target_dir = &std::path::absolute(target_dir)
        .map_err(|e| BuildError(format!("bad target path {}: {e}", target_dir.display())))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Cargo reads `.cargo/config.toml` from the working directory up: the guest workspace's own
    // settings (target features) must apply.
    cmd.current_dir(workspace_dir);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(GUEST_TARGET)
        .arg("--manifest-path")
        .arg(workspace_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--workspace");
    // CI builds exactly what the lockfile pins; a workspace without one yet (a connector just
    // scaffolded) resolves its dependencies afresh.
    if std::env::var_os("CI").is_some() && workspace_dir.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    // A build script runs with the outer build's settings in its environment; none of them is
    // meant for guest code (clippy's wrapper and -D warnings least of all).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status =
        cmd.status().map_err(|e| BuildError(format!("failed to run cargo for {}: {e}", workspace_dir.display())))?;
    if !status.success() {
        return Err(BuildError(format!(
            "building the guests in {} for {GUEST_TARGET} failed ({status})",
            workspace_dir.display()
        )));
    }
    let out = target_dir.join(GUEST_TARGET).join("release");
    members(workspace_dir)?
        .into_iter()
        .map(|name| {
            let path = out.join(format!("{}.wasm", name.replace('-', "_")));
            if path.is_file() {
                Ok(BuiltGuest { name, path })
            } else {
                Err(BuildError(format!(
                    "guest `{name}` built but {} is missing: is its library named `{}` and a cdylib?",
                    path.display(),
                    name.replace('-', "_")
                )))
            }
        })
        .collect()
}

/// For build scripts: builds the guest workspace at `workspace_dir` into a `guests` directory
/// next to the outer build's profile directories, tells cargo when to run again, and exports
/// each component's path as the compile-time variable `<PREFIX>_<NAME>_WASM` (name upper-cased,
/// `-` as `_`).
///
/// `watch` lists further directories whose changes require a rebuild (the SDK, the WIT).
pub fn build_for_build_script(
    workspace_dir: &Path,
    watch: &[&Path],
    prefix: &str,
) -> Result<Vec<BuiltGuest>, BuildError> {
    let out_dir =
        std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| BuildError("OUT_DIR is not set".into()))?;
    // OUT_DIR is <target>[/<triple>]/<profile>/build/<pkg>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|p| p.join("guests"))
        .ok_or_else(|| BuildError(format!("unexpected OUT_DIR layout: {}", out_dir.display())))?;
    for path in std::iter::once(workspace_dir).chain(watch.iter().copied()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=CI");
    let built = build_workspace(workspace_dir, &target_dir)?;
    for guest in &built {
        println!(
            "cargo:rustc-env={prefix}_{}_WASM={}",
            guest.name.to_uppercase().replace('-', "_"),
            guest.path.display()
        );
    }
    Ok(built)
}
