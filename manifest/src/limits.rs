//! A plugin's resource limits: every one has a default and a bound, so a
//! plugin is never unbounded.

use super::ManifestError;
use serde::{Deserialize, Serialize};

/// Resource limits; every one has a default so a plugin is never unbounded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall time of one call into the plugin, host calls included.
    pub wall_time_ms: u64,
    /// Linear memory of the plugin.
    pub memory_mib: u64,
    /// Statements per transaction (a tier's apply and post-conditions
    /// together; a check plugin's one call).
    pub statements: u64,
    /// Rows returned to the plugin per transaction.
    pub rows_returned: u64,
    /// Rows inserted, updated or deleted per transaction (0: none may be).
    pub rows_changed: u64,
    /// `SET LOCAL statement_timeout` of the tier's transaction.
    pub statement_timeout_ms: u64,
    /// `SET LOCAL lock_timeout` of the tier's transaction.
    pub lock_timeout_ms: u64,
    /// The lock wait of one attempt of a DDL statement (ALTER, CREATE
    /// INDEX, …): while a DDL statement waits for its lock every later query
    /// on the table queues behind it, so it waits briefly and retries.
    pub ddl_lock_timeout_ms: u64,
    /// Attempts after the first of a DDL statement whose lock wait ran out;
    /// the waits between attempts grow, with jitter. When they are spent the
    /// tier fails naming the sessions that held the lock.
    pub ddl_lock_retries: u64,
    /// Lines a plugin may log in one call: its `log` messages (a message of
    /// n lines counts n) and its stdout/stderr lines together. Every line
    /// reaches the operator's terminal and `rollout.log` with its tag, so
    /// this bounds how many there are; 10,000 is far more than any runbook
    /// step says (a One-Roof tier logs a few).
    pub log_lines: u64,
    /// Bytes a plugin may log in one call, as it sent them, before the host
    /// escapes them (a byte shows as at most 4) and cuts each line at 4 KiB.
    /// A message that would pass it is refused whole and the plugin
    /// stopped: with 1 MiB, one call writes at most ~4 MiB plus the tags.
    pub log_bytes: u64,
    /// Metrics (check table rows) one call may return. `report.json` keeps
    /// every one; One-Roof's largest table has 17, and no operator reads
    /// 1,000.
    pub metrics: u64,
    /// Bytes of metric text one call may return: every metric's name,
    /// expected and actual value together. A total, not a per-field cap,
    /// because `report.json` keeps the text exact: the total is what bounds
    /// it (a 4 KiB field cap would still let 1,000 metrics bring 12 MiB).
    /// 64 KiB is 64 bytes a metric at the full count; One-Roof's largest
    /// table has 302.
    pub metric_text: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time_ms: 60_000,
            memory_mib: 64,
            statements: 1_000,
            rows_returned: 100_000,
            rows_changed: 100_000,
            statement_timeout_ms: 30_000,
            lock_timeout_ms: 5_000,
            ddl_lock_timeout_ms: 200,
            ddl_lock_retries: 10,
            log_lines: 10_000,
            log_bytes: 1024 * 1024,
            metrics: 1_000,
            metric_text: 64 * 1024,
        }
    }
}

impl Limits {
    /// Every limit within its bounds (and none but `rows_changed` 0).
    pub(super) fn validate(&self) -> Result<(), ManifestError> {
        let l = self;
        let day = 24 * 3600 * 1000;
        for (name, value, min, max) in [
            ("wall_time_ms", l.wall_time_ms, 1, day),
            ("memory_mib", l.memory_mib, 1, 4096),
            ("statement_timeout_ms", l.statement_timeout_ms, 1, day),
            ("lock_timeout_ms", l.lock_timeout_ms, 1, day),
            ("ddl_lock_timeout_ms", l.ddl_lock_timeout_ms, 1, 60_000),
            ("ddl_lock_retries", l.ddl_lock_retries, 0, 1_000),
            ("statements", l.statements, 1, u32::MAX as u64),
            ("rows_returned", l.rows_returned, 1, u32::MAX as u64),
            ("rows_changed", l.rows_changed, 0, u32::MAX as u64),
            // What a plugin makes the host write and keep: bounded low
            // enough that the worst case fits a terminal and a disk.
            ("log_lines", l.log_lines, 1, 1_000_000),
            ("log_bytes", l.log_bytes, 1, 64 * 1024 * 1024),
            ("metrics", l.metrics, 1, 100_000),
            ("metric_text", l.metric_text, 1, 16 * 1024 * 1024),
        ] {
            if value < min || value > max {
                return Err(ManifestError::Invalid(format!(
                    "limit {name}={value} must be between {min} and {max}; every limit is bounded"
                )));
            }
        }
        Ok(())
    }
}
