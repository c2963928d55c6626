//! What the binary's test suites share: starting `cassa run` processes.

#![allow(dead_code, reason = "each suite uses part of it")]

use std::process::{Command, Stdio};

/// The binary under test.
pub const CASSA: &str = env!("CARGO_BIN_EXE_cassa");

/// `cassa run --demo` on `data` at `port`, its log in `data/<name>.log`.
pub fn host(data: &std::path::Path, port: u16, name: &str) -> std::process::Child {
    host_with(data, port, name, &[])
}

/// [`host`] with more environment variables.
pub fn host_with(data: &std::path::Path, port: u16, name: &str, env: &[(&str, &str)]) -> std::process::Child {
    std::fs::create_dir_all(data).unwrap();
    let log = std::fs::File::create(data.join(format!("{name}.log"))).unwrap();
    Command::new(CASSA)
        .args(["run", "--demo"])
        .env("CASSA_LISTEN", format!("127.0.0.1:{port}"))
        .env("CASSA_DATA_DIR", data)
        .env("CASSA_SHUTDOWN_TIMEOUT_MS", "15000")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}
