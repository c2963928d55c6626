//! The `cassa` command line: `run` (the default), `connector build|inspect|test`, `sandbox`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::conformance::{self, RemoteFake, SandboxFake};
use crate::runtime::{EgressConfig, Runtime, RuntimeConfig};

/// cassa runs the payment cycle of a municipal e-services platform, with every payment
/// intermediary in a sandboxed WebAssembly connector.
#[derive(Debug, Parser)]
#[command(name = "cassa", version, about)]
pub struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "CASSA_JSON_LOGS")]
    pub json_logs: bool,
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: HTTP API, the sandbox intermediary and the embedded connectors.
    Run(crate::serve::RunArgs),
    /// Apply the database migrations and exit.
    Migrate(crate::serve::RunArgs),
    /// Check a settings file and print the effective settings, or the reference of them all.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Read and replay the dead letters of a running host.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Build, inspect and test connectors.
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Work with payments of a running host.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Serve the sandbox intermediary alone.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// API key clients must send in `X-Api-Key`.
        #[arg(long, env = "CASSA_SANDBOX_API_KEY", default_value = "sandbox-demo-key")]
        api_key: String,
    },
}

/// `cassa config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the settings (file, environment, flags) and print the effective ones as
    /// `cassa.toml` would write them, secrets masked; exit 1 with the reason when invalid.
    Check(Box<crate::serve::RunArgs>),
    /// Print the reference of every setting (Markdown).
    Reference,
}

/// `cassa dlq …`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// The dead letters not replayed yet (`--all`: every one), oldest first.
    List {
        /// Also those already replayed.
        #[arg(long)]
        all: bool,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// One dead letter with its message.
    Show {
        /// Its id.
        id: String,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Sends dead letters again to the topics they came from, after the cause was fixed;
    /// processing is idempotent, so no payment is made twice.
    Replay {
        /// Their ids.
        ids: Vec<String>,
        /// Every dead letter not replayed yet.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

/// `cassa payments …`
#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Import payments from a CSV file into a running host (`POST /payments/import`), showing
    /// progress and a summary of accepted and rejected rows with reasons.
    Import {
        /// The CSV file (header line with the column names, see the README).
        file: PathBuf,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Rows per request.
        #[arg(long, default_value_t = 200)]
        chunk: usize,
    },
}

/// `cassa connector …`
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Build every connector of a connector workspace for wasm32-wasip2 and copy the components
    /// to `<out>/<name>.wasm`.
    Build {
        /// The connector workspace.
        #[arg(long, default_value = "connectors")]
        workspace: PathBuf,
        /// Where the components go.
        #[arg(long, default_value = "target/connectors")]
        out: PathBuf,
    },
    /// Scaffold a new connector crate from the template (the `sandbox` connector, renamed: it
    /// passes the conformance suite as it is).
    New {
        /// The connector's name: lower-case letters, digits and `-`.
        name: String,
        /// The connector workspace to add it to; created, with a workspace of its own, when it
        /// is not one.
        #[arg(long, default_value = "connectors")]
        dir: PathBuf,
        /// cassa's `sdk/` directory, for a new workspace outside cassa's own.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Print a connector's name, versions, capabilities, declared hosts and schemas.
    Inspect {
        /// The component file.
        file: PathBuf,
    },
    /// Run the conformance suite on a connector.
    Test {
        /// The component file.
        file: PathBuf,
        /// The fake to test against: `sandbox` (started here), or the URL of a fake that speaks
        /// the test-kit protocol (`cassa-fake gpd`, …) or of a running sandbox intermediary.
        #[arg(long, default_value = "sandbox")]
        against: String,
        /// The API key of a running sandbox intermediary given with `--against URL`.
        #[arg(long, env = "CASSA_SANDBOX_API_KEY", default_value = "sandbox-demo-key")]
        api_key: String,
    },
    /// Upload a component to a running host's registry: validated, stored by digest; `--activate`
    /// also makes it the active version of its name (on every replica within a second).
    Push {
        /// The component file.
        file: PathBuf,
        /// Also activate it.
        #[arg(long)]
        activate: bool,
        /// Its signature (from `cassa connector sign`); default `<file>.sig` when it exists.
        #[arg(long)]
        signature: Option<PathBuf>,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Sign a component for hosts that require signed uploads: writes `<file>.sig`, the base64
    /// ed25519 signature of its sha256 digest, with a PKCS#8 PEM private key
    /// (`openssl genpkey -algorithm ed25519 -out publisher.pem`).
    Sign {
        /// The component file.
        file: PathBuf,
        /// The publisher's private key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
    },
    /// The connectors of a running host: each name's active version and the stored ones.
    List {
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Make a stored version the active one of its name.
    Activate {
        /// The connector's name.
        name: String,
        /// A digest, a digest prefix of at least 8 characters, or a version.
        artifact: String,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Activate again the version that was active before the current one.
    Rollback {
        /// The connector's name.
        name: String,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Pin a tenant (all its services) or one service to a stored version: its calls use it
    /// whatever version is active.
    Pin {
        /// The connector's name.
        name: String,
        /// A digest, a digest prefix of at least 8 characters, or a version.
        artifact: String,
        /// Whom to pin.
        #[command(flatten)]
        subject: PinSubject,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Remove a tenant's or service's pin: its calls use the active version again.
    Unpin {
        /// The connector's name.
        name: String,
        /// Whom to unpin.
        #[command(flatten)]
        subject: PinSubject,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Delete a stored version that is neither active nor pinned.
    Remove {
        /// The connector's name.
        name: String,
        /// A digest, a digest prefix of at least 8 characters, or a version.
        artifact: String,
        /// The host's base URL.
        #[arg(long, env = "CASSA_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

/// Whom a pin holds: a tenant (all its services) or one service.
#[derive(Debug, clap::Args)]
pub struct PinSubject {
    /// The tenant.
    #[arg(long, conflicts_with = "service", required_unless_present = "service")]
    tenant: Option<uuid::Uuid>,
    /// The service.
    #[arg(long)]
    service: Option<uuid::Uuid>,
}

impl PinSubject {
    /// `tenant` or `service`, and the id.
    fn kind_and_id(&self) -> anyhow::Result<(&'static str, uuid::Uuid)> {
        match (self.tenant, self.service) {
            (Some(id), None) => Ok(("tenant", id)),
            (None, Some(id)) => Ok(("service", id)),
            _ => anyhow::bail!("give either --tenant or --service"),
        }
    }
}

/// Whether to log as JSON: `--json-logs`, or `log_format = "json"` in the settings of `run`
/// and `migrate` (settings that do not load are reported by the command itself).
pub fn json_logs(cli: &Cli) -> bool {
    let settings = match &cli.command {
        Some(Command::Run(args) | Command::Migrate(args)) => crate::serve::Settings::load(args).ok(),
        None => crate::serve::RunArgs::from_env().ok().and_then(|args| crate::serve::Settings::load(&args).ok()),
        _ => None,
    };
    cli.json_logs || settings.is_some_and(|s| s.log_format == "json")
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = match cli.command {
        Some(command) => command,
        None => Command::Run(crate::serve::RunArgs::from_env()?),
    };
    match command {
        Command::Run(args) => crate::serve::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Sandbox { listen, api_key } => {
            let settings = crate::sandbox_intermediary::SandboxSettings {
                api_key,
                segregation_code: 1,
                public_url: String::new(),
            };
            let (_sandbox, addr) = crate::sandbox_intermediary::SandboxIntermediary::start(settings, listen).await?;
            tracing::info!(%addr, "sandbox intermediary listening");
            tokio::signal::ctrl_c().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check(args)) => {
            let settings = crate::serve::Settings::load(&args)?;
            print!("{}", settings.masked_toml()?);
            eprintln!("settings are valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Reference) => {
            print!("{}", crate::settings::reference());
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq(command) => dlq(command).await,
        Command::Connector(command) => connector(command).await,
        Command::Migrate(args) => crate::serve::migrate(args).await.map(|()| ExitCode::SUCCESS),
        Command::Payments(PaymentsCommand::Import { file, url, chunk }) => import(&file, &url, chunk).await,
    }
}

async fn connector(command: ConnectorCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConnectorCommand::Push { file, activate, signature, url } => {
            let wasm = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let endpoint = format!("{}/connectors?activate={activate}", url.trim_end_matches('/'));
            let default_sig = PathBuf::from(format!("{}.sig", file.display()));
            let signature = match signature {
                Some(path) => {
                    Some(std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?)
                }
                None => std::fs::read_to_string(&default_sig).ok(),
            };
            let done = send_signed(&endpoint, wasm, signature.as_deref().map(str::trim)).await?;
            let a = &done["artifact"];
            let what = if done["created"] == true { "stored" } else { "already stored" };
            let active = if done["activated"] == true { ", active" } else { "" };
            println!(
                "{} {}  sha256:{}  {what}{active}",
                a["name"].as_str().unwrap_or_default(),
                a["version"].as_str().unwrap_or_default(),
                a["digest"].as_str().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Sign { file, key } => {
            use base64::Engine as _;
            use ed25519_dalek::Signer as _;
            use ed25519_dalek::pkcs8::DecodePrivateKey as _;
            let wasm = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let pem = std::fs::read_to_string(&key).with_context(|| format!("cannot read {}", key.display()))?;
            let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 private key: {e}", key.display()))?;
            let digest = crate::registry::digest_of(&wasm);
            let signature = signing.sign(&hex::decode(&digest)?);
            let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
            let out = PathBuf::from(format!("{}.sig", file.display()));
            std::fs::write(&out, format!("{encoded}\n")).with_context(|| format!("cannot write {}", out.display()))?;
            let public = base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().to_bytes());
            println!("sha256:{digest} signed into {} (public key {public})", out.display());
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::List { url } => {
            let list = call(reqwest::Method::GET, &format!("{}/connectors", url.trim_end_matches('/'))).await?;
            for entry in list.as_array().into_iter().flatten() {
                println!("{}", entry["name"].as_str().unwrap_or_default());
                for a in entry["artifacts"].as_array().into_iter().flatten() {
                    let digest = a["digest"].as_str().unwrap_or_default();
                    let mut marks = Vec::new();
                    if entry["active"].as_str() == Some(digest) {
                        marks.push("active");
                    }
                    if entry["running"].as_str() == Some(digest) {
                        marks.push("running here");
                    }
                    let pinned: Vec<String> = entry["pins"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["digest"].as_str() == Some(digest))
                        .map(|p| {
                            format!(
                                "pinned by {} {}",
                                p["kind"].as_str().unwrap_or_default(),
                                p["id"].as_str().unwrap_or_default()
                            )
                        })
                        .collect();
                    marks.extend(pinned.iter().map(String::as_str));
                    println!(
                        "  {:<12} sha256:{}  {}  {}",
                        a["version"].as_str().unwrap_or_default(),
                        digest,
                        a["uploaded_at"].as_str().unwrap_or_default(),
                        marks.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Activate { name, artifact, url } => {
            let endpoint = format!("{}/connectors/{name}/activate", url.trim_end_matches('/'));
            let body = serde_json::to_vec(&serde_json::json!({ "artifact": artifact }))?;
            let a = send(reqwest::Method::POST, &endpoint, Some(("application/json", body))).await?;
            println!(
                "{name}: {} sha256:{} active",
                a["version"].as_str().unwrap_or_default(),
                a["digest"].as_str().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Rollback { name, url } => {
            let endpoint = format!("{}/connectors/{name}/rollback", url.trim_end_matches('/'));
            let a = call(reqwest::Method::POST, &endpoint).await?;
            println!(
                "{name}: rolled back to {} sha256:{}",
                a["version"].as_str().unwrap_or_default(),
                a["digest"].as_str().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Pin { name, artifact, subject, url } => {
            let (kind, id) = subject.kind_and_id()?;
            let endpoint = format!("{}/connectors/{name}/pins/{kind}/{id}", url.trim_end_matches('/'));
            let body = serde_json::to_vec(&serde_json::json!({ "artifact": artifact }))?;
            let pin = send(reqwest::Method::PUT, &endpoint, Some(("application/json", body))).await?;
            println!("{name}: {kind} {id} pinned to sha256:{}", pin["digest"].as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Unpin { name, subject, url } => {
            let (kind, id) = subject.kind_and_id()?;
            let endpoint = format!("{}/connectors/{name}/pins/{kind}/{id}", url.trim_end_matches('/'));
            call(reqwest::Method::DELETE, &endpoint).await?;
            println!("{name}: {kind} {id} unpinned, on the active version again");
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Remove { name, artifact, url } => {
            let endpoint = format!("{}/connectors/{name}/artifacts/{artifact}", url.trim_end_matches('/'));
            call(reqwest::Method::DELETE, &endpoint).await?;
            println!("{name}: {artifact} removed");
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Build { workspace, out } => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| "target".into())
                .join("guests");
            let built = cassa_guest_build::build_workspace(&workspace, &target)?;
            std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
            for guest in built {
                let dest = out.join(format!("{}.wasm", guest.name));
                std::fs::copy(&guest.path, &dest).with_context(|| format!("cannot copy to {}", dest.display()))?;
                println!("{}", dest.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::New { name, dir, sdk } => {
            for file in crate::scaffold::new_connector(&dir, &name, sdk.as_deref())? {
                println!("wrote {}", file.display());
            }
            println!(
                "\nnext: cassa connector build --workspace {dir} --out target/connectors\n      \
                 cassa connector test target/connectors/{name}.wasm   (docs/CONNECTORS.md walks through the rest)",
                dir = dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Inspect { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let runtime = Runtime::new(RuntimeConfig::default())?;
            let connector = runtime.load(&bytes).await?;
            let info = connector.info();
            println!("name:             {}", info.name);
            println!("version:          {}", info.version);
            println!("contract version: {}", info.contract_version);
            println!("description:      {}", info.description);
            println!("digest:           sha256:{}", connector.digest());
            println!(
                "capabilities:     {}",
                if info.capabilities.is_empty() { "-".into() } else { info.capabilities.join(", ") }
            );
            println!("declared hosts:   {}", if info.hosts.is_empty() { "-".into() } else { info.hosts.join(", ") });
            println!("tenant schema:\n{}", serde_json::to_string_pretty(&info.tenant_schema)?);
            println!("service schema:\n{}", serde_json::to_string_pretty(&info.service_schema)?);
            Ok(ExitCode::SUCCESS)
        }
        ConnectorCommand::Test { file, against, api_key } => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // The fakes run on loopback.
            let config = RuntimeConfig {
                egress: EgressConfig { allow_private_networks: true, ..EgressConfig::default() },
                ..RuntimeConfig::default()
            };
            let runtime = Runtime::new(config)?;
            println!("conformance of {}", file.display());
            let report = if against == "sandbox" {
                let fake = SandboxFake::start().await?;
                println!("against the {}", conformance::Fake::name(&fake));
                conformance::run(&runtime, &bytes, &fake, &mut |check| println!("{check}")).await
            } else if let Some(fake) =
                RemoteFake::connect(&against).await.with_context(|| format!("cannot reach the fake at {against}"))?
            {
                println!("against the {}", conformance::Fake::name(&fake));
                conformance::run(&runtime, &bytes, &fake, &mut |check| println!("{check}")).await
            } else {
                let fake = SandboxFake::remote(&against, &api_key);
                println!("against the {}", conformance::Fake::name(&fake));
                conformance::run(&runtime, &bytes, &fake, &mut |check| println!("{check}")).await
            };
            if let Some(line) = report.skipped_line() {
                println!("{line}");
            }
            println!("{}", report.summary());
            Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

/// `POST` of a component with its signature (base64) in `x-cassa-signature`.
async fn send_signed(url: &str, wasm: Vec<u8>, signature: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let mut request =
        reqwest::Client::new().post(url).header(reqwest::header::CONTENT_TYPE, "application/wasm").body(wasm);
    if let Some(signature) = signature {
        request = request.header(crate::api::connectors::SIGNATURE_HEADER, signature);
    }
    answer(request, url).await
}

/// `tenant` or `service` and its id, from the flags of `pin` and `unpin`.
/// A JSON request to a running host, with the operator's token `CASSA_ADMIN_TOKEN` when set;
/// its body, or the host's message as the error.
async fn call(method: reqwest::Method, url: &str) -> anyhow::Result<serde_json::Value> {
    send(method, url, None).await
}

/// [`call`] with a body and its content type.
async fn send(
    method: reqwest::Method,
    url: &str,
    body: Option<(&'static str, Vec<u8>)>,
) -> anyhow::Result<serde_json::Value> {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some((content_type, bytes)) = body {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
    }
    answer(request, url).await
}

/// Sends `request` with the operator's token `CASSA_ADMIN_TOKEN` when set; the JSON answer, or
/// the host's message as the error.
async fn answer(mut request: reqwest::RequestBuilder, url: &str) -> anyhow::Result<serde_json::Value> {
    if let Ok(token) = std::env::var("CASSA_ADMIN_TOKEN")
        && !token.is_empty()
    {
        request = request.bearer_auth(token);
    }
    let reply = request.send().await.with_context(|| format!("cannot reach {url}"))?;
    let status = reply.status();
    let body: serde_json::Value = reply.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("{url}: {status}: {}", body["message"].as_str().unwrap_or("no message"));
    }
    Ok(body)
}

async fn dlq(command: DlqCommand) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::List { all, url } => {
            let list =
                call(reqwest::Method::GET, &format!("{}/dlq?all={all}&limit=10000", url.trim_end_matches('/'))).await?;
            let letters = list.as_array().cloned().unwrap_or_default();
            for l in &letters {
                let replayed = l["replayed_at"].as_str().map_or(String::new(), |at| format!("  replayed {at}"));
                println!(
                    "{}  {}  {}  {}{replayed}",
                    l["id"].as_str().unwrap_or_default(),
                    l["created_at"].as_str().unwrap_or_default(),
                    l["topic"].as_str().unwrap_or_default(),
                    l["reason"].as_str().unwrap_or_default(),
                );
            }
            println!("{} dead letter(s)", letters.len());
        }
        DlqCommand::Show { id, url } => {
            let letter = call(reqwest::Method::GET, &format!("{}/dlq/{id}", url.trim_end_matches('/'))).await?;
            println!("{}", serde_json::to_string_pretty(&letter)?);
        }
        DlqCommand::Replay { ids, all, url } => {
            let base = url.trim_end_matches('/');
            let ids: Vec<String> = if all {
                let list = call(reqwest::Method::GET, &format!("{base}/dlq?limit=10000")).await?;
                list.as_array().into_iter().flatten().filter_map(|l| l["id"].as_str().map(str::to_owned)).collect()
            } else {
                ids
            };
            if ids.is_empty() {
                anyhow::bail!("nothing to replay: name dead letters, or --all");
            }
            for id in &ids {
                let done = call(reqwest::Method::POST, &format!("{base}/dlq/{id}/replay")).await?;
                println!("{id}  replayed to {}", done["topic"].as_str().unwrap_or_default());
            }
            println!("{} dead letter(s) replayed", ids.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends a CSV file to `POST /payments/import` in chunks of `chunk` rows.
async fn import(file: &std::path::Path, url: &str, chunk: usize) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| anyhow::anyhow!("{} is empty", file.display()))?;
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let client = reqwest::Client::new();
    let endpoint = format!("{}/payments/import", url.trim_end_matches('/'));
    let (mut created, mut existing) = (0u64, 0u64);
    let mut rejected: Vec<(usize, String)> = Vec::new();
    for (n, part) in rows.chunks(chunk.max(1)).enumerate() {
        let body = std::iter::once(header).chain(part.iter().copied()).collect::<Vec<_>>().join("\n");
        let reply = client
            .post(&endpoint)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {endpoint}"))?;
        let status = reply.status();
        let outcome: serde_json::Value = reply.json().await.unwrap_or_default();
        if !status.is_success() {
            bar.abandon();
            anyhow::bail!(
                "the host refused the import ({status}): {}",
                outcome["message"].as_str().unwrap_or("no message")
            );
        }
        created += outcome["created"].as_u64().unwrap_or(0);
        existing += outcome["existing"].as_u64().unwrap_or(0);
        for r in outcome["rejected"].as_array().into_iter().flatten() {
            // The host numbers lines within the chunk (its header is line 1).
            let line = r["index"].as_u64().unwrap_or(0) as usize + n * chunk.max(1);
            let reasons: Vec<&str> = r["reasons"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
            rejected.push((line, reasons.join("; ")));
        }
        bar.inc(part.len() as u64);
    }
    bar.finish_and_clear();
    println!("{} rows: {created} accepted, {existing} already present, {} rejected", rows.len(), rejected.len());
    for (line, reason) in &rejected {
        println!("  line {line}: {reason}");
    }
    Ok(if rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
