//! Per-call resource limits: memory across every memory of the instance, table growth, and the
//! numbers of instances, memories and tables a component may create.

use serde::Deserialize;
use std::time::Duration;

/// The limits one connector call runs under.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory of all memories of the instance together, in bytes.
    pub memory_bytes: usize,
    /// Time the guest may spend executing, in milliseconds (epoch-based, coarse).
    pub cpu_ms: u64,
    /// Time the whole call may take, including HTTP waits, in milliseconds.
    pub wall_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory_bytes: 64 * 1024 * 1024, cpu_ms: 2_000, wall_ms: 30_000 }
    }
}

impl Limits {
    /// The wall-clock limit.
    pub fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }
}

/// Counts every memory of one instance against a single budget.
#[derive(Debug)]
pub struct SandboxLimiter {
    memory_limit: usize,
    memory_used: usize,
    /// Set when a growth was refused because of the budget.
    pub memory_exceeded: bool,
}

impl SandboxLimiter {
    /// A limiter with `memory_limit` bytes for all memories.
    pub fn new(memory_limit: usize) -> Self {
        Self { memory_limit, memory_used: 0, memory_exceeded: false }
    }

    /// Bytes of linear memory in use across all memories.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

/// Most tables, memories and instances one connector instance may create: generous for
/// components built by wit-bindgen/wasm-component-ld (a handful each), small enough to stop abuse.
const MAX_OBJECTS: usize = 64;
/// Most elements of one table.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for SandboxLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let total = self.memory_used.saturating_add(desired.saturating_sub(current));
        if total > self.memory_limit {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        MAX_OBJECTS
    }

    fn tables(&self) -> usize {
        MAX_OBJECTS
    }

    fn memories(&self) -> usize {
        MAX_OBJECTS
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn counts_all_memories_against_one_budget() {
        let mut limiter = SandboxLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        // A second memory: 60 + 30 fits.
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        // Growing the first from 60 to 80 would make 110.
        assert!(!limiter.memory_growing(60, 80, None).unwrap());
        assert!(limiter.memory_exceeded);
        assert_eq!(limiter.memory_used(), 90);
    }
}
