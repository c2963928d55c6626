//! The `cassa` binary.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cassa::cli::Cli::parse();
    cassa::telemetry::init(cassa::cli::json_logs(&cli));
    match cassa::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
