//! Failures of connector loading and calls, and whose fault each one is.

use std::fmt;

use super::wit;

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blame {
    /// The connector: it trapped, panicked, exceeded a limit, broke the egress policy or does
    /// not implement the operation.
    Guest,
    /// cassa itself, or the configuration it handed the connector.
    Host,
    /// The payment intermediary: it refused, failed, was unreachable or answered nonsense.
    Upstream,
    /// The tenant's own traffic: more calls at once or per second than the operator allows it.
    Tenant,
}

impl fmt::Display for Blame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Blame::Guest => "guest",
            Blame::Host => "host",
            Blame::Upstream => "upstream",
            Blame::Tenant => "tenant",
        })
    }
}

/// Why a component was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The bytes are not a valid WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// It does not fit the contract: wrong exports or imports the host does not provide.
    #[error("the component does not fit the cassa:connector contract: {}", .0.join("; "))]
    Contract(Vec<String>),
    /// Its imports could not be linked.
    #[error("the component's imports cannot be satisfied: {0}")]
    Imports(String),
    /// Its exports do not have the contract's types.
    #[error("the component's exports do not match the connector world: {0}")]
    World(String),
    /// `info()` failed or said something unusable.
    #[error("the connector's info() is unusable: {0}")]
    Info(String),
}

/// Why a connector call did not produce its result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The connector returned one of the contract's error values.
    #[error("{}", describe(.0))]
    Connector(wit::Error),
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("the connector trapped: {message}")]
    Trap {
        /// The trap as wasmtime describes it, with the guest backtrace when there is one.
        message: String,
    },
    /// The guest used more CPU time than allowed.
    #[error("the connector exceeded its CPU time limit of {limit_ms} ms")]
    CpuLimit {
        /// The limit.
        limit_ms: u64,
    },
    /// The guest tried to use more memory than allowed.
    #[error("the connector exceeded its memory limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The limit.
        limit_bytes: usize,
    },
    /// The call took longer than its wall-clock limit while the guest was running.
    #[error("the connector call exceeded its time limit of {limit_ms} ms")]
    WallTimeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The call took longer than its wall-clock limit while waiting for the intermediary.
    #[error("the intermediary did not answer within the call's time limit of {limit_ms} ms")]
    UpstreamTimeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The connector sent requests the egress policy refused, and the call failed.
    #[error("the connector tried to reach a host it may not ({denied}) and failed: {}", describe(.error))]
    EgressDenied {
        /// What was refused.
        denied: String,
        /// The error value the connector returned.
        error: wit::Error,
    },
    /// The tenant's calls were over its concurrency or rate limit and this one could not start
    /// within the time it may wait (its wall-time limit).
    #[error("the tenant is over its {limit} limit of {value}: the call could not start within {waited_ms} ms")]
    TenantLimit {
        /// `concurrency` or `calls_per_second`.
        limit: &'static str,
        /// The limit's value.
        value: u64,
        /// How long the call waited.
        waited_ms: u64,
    },
    /// Something failed on cassa's side.
    #[error("host failure: {0}")]
    Host(String),
}

impl CallError {
    /// Whose fault it is.
    pub fn blame(&self) -> Blame {
        match self {
            CallError::Connector(error) => match error {
                wit::Error::InvalidConfig(_) => Blame::Host,
                wit::Error::Unsupported(_) => Blame::Guest,
                wit::Error::Rejected(_)
                | wit::Error::Unavailable(_)
                | wit::Error::NotFound(_)
                | wit::Error::Protocol(_) => Blame::Upstream,
            },
            CallError::Trap { .. }
            | CallError::CpuLimit { .. }
            | CallError::MemoryLimit { .. }
            | CallError::WallTimeout { .. }
            | CallError::EgressDenied { .. } => Blame::Guest,
            CallError::UpstreamTimeout { .. } => Blame::Upstream,
            CallError::TenantLimit { .. } => Blame::Tenant,
            CallError::Host(_) => Blame::Host,
        }
    }

    /// A short machine name of the kind of failure, for metrics and API replies.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Connector(error) => match error {
                wit::Error::InvalidConfig(_) => "invalid_config",
                wit::Error::Rejected(_) => "rejected",
                wit::Error::Unavailable(_) => "unavailable",
                wit::Error::NotFound(_) => "not_found",
                wit::Error::Unsupported(_) => "unsupported",
                wit::Error::Protocol(_) => "protocol",
            },
            CallError::Trap { .. } => "trap",
            CallError::CpuLimit { .. } => "cpu_limit",
            CallError::MemoryLimit { .. } => "memory_limit",
            CallError::WallTimeout { .. } => "wall_timeout",
            CallError::UpstreamTimeout { .. } => "upstream_timeout",
            CallError::EgressDenied { .. } => "egress_denied",
            CallError::TenantLimit { .. } => "tenant_limit",
            CallError::Host(_) => "host",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Connector(wit::Error::Unavailable(_))
                | CallError::UpstreamTimeout { .. }
                | CallError::TenantLimit { .. }
                | CallError::Host(_)
        )
    }

    /// The limit it exceeded, when it is one of the operator's limits: `memory`, `cpu`, `wall`,
    /// `concurrency` or `calls_per_second`.
    pub fn exceeded_limit(&self) -> Option<&'static str> {
        match self {
            CallError::MemoryLimit { .. } => Some("memory"),
            CallError::CpuLimit { .. } => Some("cpu"),
            CallError::WallTimeout { .. } => Some("wall"),
            CallError::TenantLimit { limit, .. } => Some(limit),
            _ => None,
        }
    }
}

fn describe(error: &wit::Error) -> String {
    match error {
        wit::Error::InvalidConfig(fields) => {
            let fields: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            format!("invalid configuration: {}", fields.join("; "))
        }
        wit::Error::Rejected(m) => format!("rejected by the intermediary: {m}"),
        wit::Error::Unavailable(m) => format!("intermediary unavailable: {m}"),
        wit::Error::NotFound(m) => format!("not found at the intermediary: {m}"),
        wit::Error::Unsupported(m) => format!("unsupported: {m}"),
        wit::Error::Protocol(m) => format!("unexpected reply from the intermediary: {m}"),
    }
}
