//! A tier's lock footprint as the report keeps and shows it: for each
//! relation its transaction locked, the strongest mode, how long it was
//! held, whether it was rewritten, and who waited on it. Measured on the
//! server by `runbook/footprint.rs`.

use crate::text;
use serde::{Deserialize, Serialize};

/// The mode of a relation the tier queued for and never took.
pub const QUEUED: &str = "QUEUED (never taken)";

/// One relation of a tier's lock footprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockHeld {
    /// `schema.name`.
    pub relation: String,
    /// An index rather than a table.
    pub index: bool,
    /// The strongest mode taken, as PostgreSQL's documentation names it
    /// (`ACCESS EXCLUSIVE`).
    pub mode: String,
    /// From when the host first saw it held to the transaction's end (the
    /// dry run: to the tier's end; its transaction goes on).
    pub held_ms: u64,
    /// Its file was written anew (`pg_class.relfilenode` changed); `None`
    /// when the host did not compare (no `alter`/`index` grant names it, or
    /// the tier stopped before COMMIT).
    pub rewritten: Option<bool>,
    /// Other sessions seen waiting on it while the tier ran.
    pub waiters: u32,
    /// The longest of their waits the host saw.
    pub max_wait_ms: u64,
}

impl LockHeld {
    /// `one_roof.x — ACCESS EXCLUSIVE for 120 ms, rewritten; 2 sessions
    /// waited, longest 180 ms`, for a status line (made inert there).
    pub fn line(&self) -> String {
        let what = if self.index { "index " } else { "" };
        let rewritten = match self.rewritten {
            Some(true) => ", rewritten",
            Some(false) => ", not rewritten",
            None => "",
        };
        let waited = match self.waiters {
            0 => "no session waited".to_string(),
            1 => format!("1 session waited {} ms", self.max_wait_ms),
            n => format!("{n} sessions waited, longest {} ms", self.max_wait_ms),
        };
        if self.mode == QUEUED {
            return format!("{what}{} — queued for its lock, never took it; {waited}", self.relation);
        }
        format!("{what}{} — {} for {} ms{rewritten}; {waited}", self.relation, self.mode, self.held_ms)
    }
}

/// The report.md section of one tier's footprint.
pub fn markdown(ordinal: u32, plugin: &str, retries: u64, held: &[LockHeld]) -> String {
    let mut out = format!(
        "\n### Tier {ordinal} — {}: lock footprint, measured on the server ({retries} lock-wait retries)\n\n\
         | relation | kind | strongest mode | held ms | rewritten | sessions waited | longest wait ms |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
        text::markdown(plugin)
    );
    for h in held {
        let rewritten = match h.rewritten {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not compared",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {rewritten} | {} | {} |\n",
            text::markdown(&h.relation),
            if h.index { "index" } else { "table" },
            text::markdown(&h.mode),
            h.held_ms,
            h.waiters,
            h.max_wait_ms
        ));
    }
    out
}
