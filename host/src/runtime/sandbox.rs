//! What one call's sandbox holds, and the host side of the contract's imports.
//!
//! WASI is linked with an empty context: no preopened directories, no environment, no
//! arguments, no sockets, stdin closed. stdout and stderr are captured (up to a cap) and written
//! to `tracing` after the call, tagged like the guest's own log lines.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::cassa::connector::{http, log, types};
use super::egress::{Egress, EgressError, HostPolicy, OutboundRequest, Secrets};
use super::error::CallError;
use super::limits::{Limits, SandboxLimiter};

/// Most log lines one call may write; later ones are counted and dropped.
const MAX_LOG_LINES: usize = 200;
/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 2048;
/// stdout and stderr kept per call, in bytes each.
const MAX_CAPTURED_OUTPUT: usize = 16 * 1024;

/// The fields every log line and metric of a call carries.
#[derive(Debug, Clone)]
pub struct CallFields {
    /// Tenant id.
    pub tenant: String,
    /// Service id.
    pub service: String,
    /// Payment id, empty when the call is not about one payment.
    pub payment: String,
    /// Connector name.
    pub connector: String,
    /// Connector version.
    pub version: String,
    /// The operation called.
    pub operation: &'static str,
}

/// The store data of one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory and object limits.
    pub limiter: SandboxLimiter,
    egress: Egress,
    policy: HostPolicy,
    secrets: Secrets,
    /// Who the call is for.
    pub fields: CallFields,
    /// Epoch ticks the guest has run for.
    pub cpu_ticks_used: u64,
    /// Epoch ticks it may run for.
    pub cpu_ticks_budget: u64,
    /// Set when the CPU budget ran out.
    pub cpu_exceeded: bool,
    /// Whether an outbound request is being waited for.
    pub http_in_flight: bool,
    /// The first requests the egress policy refused ([`DENIED_KEPT`]), as `METHOD url: why`
    /// with the URL cut to [`URL_IN_LOGS`] characters.
    pub denied: Vec<String>,
    /// Requests the egress policy refused in all (the log says the first, then the count).
    pub refused: u32,
    /// Requests sent upstream.
    pub requests: u32,
    /// Whether a request may have reached the intermediary: it was answered, timed out or its
    /// answer was too large (a refused, malformed or unconnectable request reached nobody).
    pub reached: bool,
    log_lines: usize,
    log_dropped: usize,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
}

impl CallState {
    /// A fresh sandbox state.
    pub fn new(
        fields: CallFields,
        memory_limit: usize,
        egress: Egress,
        policy: HostPolicy,
        secrets: Secrets,
        cpu_ticks_budget: u64,
    ) -> Self {
        let stdout = CapturedOutput::new(MAX_CAPTURED_OUTPUT);
        let stderr = CapturedOutput::new(MAX_CAPTURED_OUTPUT);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: SandboxLimiter::new(memory_limit),
            egress,
            policy,
            secrets,
            fields,
            cpu_ticks_used: 0,
            cpu_ticks_budget,
            cpu_exceeded: false,
            http_in_flight: false,
            denied: Vec::new(),
            refused: 0,
            requests: 0,
            reached: false,
            log_lines: 0,
            log_dropped: 0,
            stdout,
            stderr,
        }
    }

    /// Turns a trap into a [`CallError`], using what the sandbox saw to tell limits from bugs.
    pub fn classify_trap(&self, trap: wasmtime::Error, limits: &Limits) -> CallError {
        if self.cpu_exceeded {
            return CallError::CpuLimit { limit_ms: limits.cpu_ms };
        }
        if self.limiter.memory_exceeded {
            // A refused memory.grow makes Rust guests abort; whatever trap follows is the limit.
            return CallError::MemoryLimit { limit_bytes: limits.memory_bytes };
        }
        if trap.downcast_ref::<wasmtime::Trap>().is_some() {
            return CallError::Trap { message: format!("{trap:?}") };
        }
        // Not a wasm trap: instantiation or a host import failed.
        CallError::Host(format!("{trap:#}"))
    }

    /// Writes captured stdout/stderr to the log.
    pub fn flush_output(&mut self) {
        for (stream, captured) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (bytes, dropped) = captured.take();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let f = &self.fields;
                tracing::info!(
                    target: "cassa::guest", stream, tenant = %f.tenant, connector = %f.connector,
                    version = %f.version, payment = %f.payment, operation = f.operation, "{}", truncate(line)
                );
            }
            if dropped > 0 {
                let f = &self.fields;
                tracing::warn!(target: "cassa::guest", stream, connector = %f.connector, dropped, "guest output over the cap was dropped");
            }
        }
        if self.log_dropped > 0 {
            let f = &self.fields;
            tracing::warn!(target: "cassa::guest", connector = %f.connector, dropped = self.log_dropped, "guest log lines over the cap were dropped");
            self.log_dropped = 0;
        }
    }
}

fn truncate(line: &str) -> &str {
    if line.len() <= MAX_LOG_LINE {
        return line;
    }
    let mut end = MAX_LOG_LINE;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for CallState {}

impl log::Host for CallState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.log_lines >= MAX_LOG_LINES {
            self.log_dropped += 1;
            return;
        }
        self.log_lines += 1;
        let message = truncate(&message);
        let f = &self.fields;
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(
                    target: "cassa::guest", tenant = %f.tenant, connector = %f.connector, version = %f.version,
                    payment = %f.payment, operation = f.operation, "{}", message
                )
            };
        }
        match level {
            log::Level::Trace => emit!(trace),
            log::Level::Debug => emit!(debug),
            log::Level::Info => emit!(info),
            log::Level::Warn => emit!(warn),
            log::Level::Error => emit!(error),
        }
    }
}

/// Refused requests of one call whose URL and reason are kept for its error.
pub const DENIED_KEPT: usize = 3;
/// Characters of a connector's URL that go into a log line or an error.
pub const URL_IN_LOGS: usize = 256;

/// `url` for a log line: at most [`URL_IN_LOGS`] characters, and how long it was when cut.
pub fn url_for_log(url: &str) -> String {
    match url.char_indices().nth(URL_IN_LOGS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &url[..cut], url.len()),
        None => url.to_owned(),
    }
}

impl http::Host for CallState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, http::HttpError> {
        let method = url_for_log(&request.method);
        let url_for_log = url_for_log(&request.url);
        let outbound = OutboundRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout_ms: request.timeout_ms,
        };
        self.http_in_flight = true;
        self.requests += 1;
        let result = self.egress.send(&self.policy, &self.secrets, outbound).await;
        self.http_in_flight = false;
        if matches!(result, Ok(_) | Err(EgressError::Timeout | EgressError::TooLarge(_))) {
            self.reached = true;
        }
        let f = &self.fields;
        match result {
            Ok(response) => {
                tracing::debug!(
                    target: "cassa::egress", tenant = %f.tenant, connector = %f.connector, payment = %f.payment,
                    %method, url = %url_for_log, status = response.status, "request sent"
                );
                Ok(http::Response { status: response.status, headers: response.headers, body: response.body })
            }
            Err(error) => {
                if let EgressError::Denied(why) | EgressError::RequestTooLarge(why) = &error {
                    // The connector's own doing, like a refusal: the first of a call is logged,
                    // the count goes in one line at its end.
                    self.refused = self.refused.saturating_add(1);
                    if self.refused == 1 {
                        tracing::warn!(
                            target: "cassa::egress", tenant = %f.tenant, connector = %f.connector, payment = %f.payment,
                            %method, url = %url_for_log, reason = %why, "outbound request refused"
                        );
                    }
                    if self.denied.len() < DENIED_KEPT {
                        self.denied.push(format!("{method} {url_for_log}: {why}"));
                    }
                } else {
                    tracing::debug!(
                        target: "cassa::egress", tenant = %f.tenant, connector = %f.connector, %method,
                        url = %url_for_log, %error, "request failed"
                    );
                }
                Err(match error {
                    EgressError::Denied(m) => http::HttpError::Denied(m),
                    EgressError::InvalidRequest(m) => http::HttpError::InvalidRequest(m),
                    EgressError::Connect(m) => http::HttpError::Connect(m),
                    EgressError::Timeout => http::HttpError::Timeout,
                    EgressError::TooLarge(m) | EgressError::RequestTooLarge(m) => http::HttpError::TooLarge(m),
                })
            }
        }
    }
}

/// A capped in-memory stdout/stderr for a guest: keeps the first bytes, counts the rest, and
/// never fails a write (a failing stdout would make a guest's `println!` panic).
#[derive(Clone)]
struct CapturedOutput {
    inner: Arc<Mutex<(Vec<u8>, usize)>>,
    cap: usize,
}

impl CapturedOutput {
    fn new(cap: usize) -> Self {
        Self { inner: Arc::new(Mutex::new((Vec::new(), 0))), cap }
    }

    fn take(&self) -> (Vec<u8>, usize) {
        match self.inner.lock() {
            Ok(mut guard) => {
                let (bytes, dropped) = &mut *guard;
                (std::mem::take(bytes), std::mem::take(dropped))
            }
            Err(_) => (Vec::new(), 0),
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Ok(mut guard) = self.inner.lock() {
            let (bytes, dropped) = &mut *guard;
            let room = self.cap.saturating_sub(bytes.len());
            let keep = room.min(buf.len());
            bytes.extend_from_slice(&buf[..keep]);
            *dropped += buf.len() - keep;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
