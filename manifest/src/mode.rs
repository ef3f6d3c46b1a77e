//! How the host runs a tier: the whole apply in one transaction (the
//! default), statements that PostgreSQL refuses inside a transaction
//! (`CREATE INDEX CONCURRENTLY`) each as a step of its own, or a backfill
//! the host drives one committed batch at a time.

use super::{Kind, ManifestError};
use serde::{Deserialize, Serialize};

/// A tier's mode (`mode = "…"` in `plugin.toml`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Apply, post-conditions and the ledger row in one transaction.
    #[default]
    Transaction,
    /// Each statement that cannot run in a transaction block (an index
    /// built or dropped concurrently) runs on its own, recorded in the
    /// ledger before and after; the post-conditions then run read-only.
    Concurrent,
    /// The plugin makes one batch per call (world `batched-tier`); the host
    /// commits each batch with its ledger checkpoint, and resumes from the
    /// last one committed.
    Batched,
}

impl Mode {
    /// The default, which the manifest need not spell.
    pub fn is_transaction(&self) -> bool {
        *self == Mode::Transaction
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Transaction => "transaction",
            Mode::Concurrent => "concurrent",
            Mode::Batched => "batched",
        })
    }
}

/// The bounds of a batched tier (`[batches]`). The host starts at `size`,
/// halves it on a statement or lock timeout, and after each batch scales
/// it so that the next holds its rows about nine tenths of `target_ms`
/// (at once when slower; by half at most when under four fifths of it),
/// never outside `min_size..=max_size`. The tier's
/// `[limits]` `rows_changed` is the total for the whole tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batches {
    /// Rows the host asks for in the first batch.
    pub size: u64,
    pub min_size: u64,
    pub max_size: u64,
    /// Pause between two batches, so that production writes get the table.
    pub pause_ms: u64,
    /// `SET LOCAL statement_timeout` of one batch's transaction.
    pub statement_timeout_ms: u64,
    /// How long one batch should hold the rows it changes: production's
    /// writes to those rows wait for its commit.
    pub target_ms: u64,
    /// Rows one batch may insert, update or delete.
    pub rows_changed: u64,
    /// Wait before a batch while a replica's replay lag
    /// (`pg_stat_replication`) is above this; none: do not wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replica_lag_ms: Option<u64>,
}

impl Default for Batches {
    fn default() -> Self {
        Batches {
            size: 1_000,
            min_size: 100,
            max_size: 10_000,
            pause_ms: 0,
            statement_timeout_ms: 5_000,
            target_ms: 100,
            rows_changed: 10_000,
            max_replica_lag_ms: None,
        }
    }
}

/// `mode` and `[batches]` fit the kind and each other.
pub(super) fn validate(kind: Kind, mode: Mode, batches: Option<&Batches>) -> Result<(), ManifestError> {
    let bad = |s: String| Err(ManifestError::Invalid(s));
    if kind != Kind::Tier && mode != Mode::Transaction {
        return bad(format!("a {kind} plugin has no `mode`: only a tier runs in steps or batches"));
    }
    let Some(b) = batches else {
        if mode == Mode::Batched {
            return bad(
                "a tier with `mode = \"batched\"` needs a `[batches]` table (size, min_size, max_size, …)".into()
            );
        }
        return Ok(());
    };
    if mode != Mode::Batched {
        return bad("`[batches]` is for a tier with `mode = \"batched\"`: add that line, or remove the table".into());
    }
    let day = 24 * 3600 * 1000;
    for (name, value, min, max) in [
        ("size", b.size, 1, 1_000_000),
        ("min_size", b.min_size, 1, 1_000_000),
        ("max_size", b.max_size, 1, 1_000_000),
        ("pause_ms", b.pause_ms, 0, 3_600_000),
        ("statement_timeout_ms", b.statement_timeout_ms, 1, day),
        ("target_ms", b.target_ms, 1, day),
        ("rows_changed", b.rows_changed, 1, u32::MAX as u64),
        ("max_replica_lag_ms", b.max_replica_lag_ms.unwrap_or(1), 1, day),
    ] {
        if value < min || value > max {
            return bad(format!("batches.{name} = {value} is outside {min}..={max}"));
        }
    }
    if !(b.min_size <= b.size && b.size <= b.max_size) {
        return bad(format!(
            "batches: min_size ({}) <= size ({}) <= max_size ({}) must hold",
            b.min_size, b.size, b.max_size
        ));
    }
    Ok(())
}
