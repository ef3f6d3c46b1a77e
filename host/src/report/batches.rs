//! What a batched tier's batches did, for report.json and report.md: every
//! batch's size, rows, duration and what became of it, where a pass
//! resumed, and the slowest batches.

use serde::{Deserialize, Serialize};

/// How many of the slowest batches report.md lists per tier.
const SLOWEST: usize = 5;

/// The batches of one pass (an apply's or a rollback's) of a batched tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// `apply` or `rollback`.
    pub phase: String,
    /// The batch it resumed after and that batch's position, when an
    /// earlier command committed part of the pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<Resumed>,
    /// Rows the plugin said the whole pass touches, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Every batch tried by this command, committed or not, in order.
    pub batches: Vec<BatchLine>,
    /// What the server counted the committed batches changing, summed per
    /// relation (report.json has it as the tier row's `changed`).
    #[serde(skip)]
    pub changed: Vec<crate::audit::Changed>,
}

/// Where a pass resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    /// The last batch committed before (1, 2, …).
    pub batch: u64,
    /// Its position (plugin text, shown inert); none: the pass was done.
    pub position: Option<String>,
    /// Rows committed before.
    pub rows_changed: u64,
}

/// One batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLine {
    /// The batch's number in its pass (a retried batch keeps its number).
    pub batch: u64,
    /// Rows the host asked for.
    pub size: u64,
    /// Rows the server counted it changing (kept only when committed).
    pub rows_changed: u64,
    pub duration_ms: u64,
    /// `committed`, `timed_out` (rolled back and retried smaller) or `failed`.
    pub outcome: String,
}

impl BatchRecord {
    /// Rows committed by this command's batches.
    pub fn rows_committed(&self) -> u64 {
        self.batches.iter().filter(|b| b.outcome == "committed").map(|b| b.rows_changed).sum()
    }

    /// report.md's line for the pass, and its slowest batches.
    pub fn markdown(&self, tier: &str) -> String {
        let committed = self.batches.iter().filter(|b| b.outcome == "committed").count();
        let timed_out = self.batches.iter().filter(|b| b.outcome == "timed_out").count();
        let mut out = format!(
            "- {tier} ({}): {committed} batch(es) committed, {} rows changed, {timed_out} timed out and retried smaller",
            self.phase,
            self.rows_committed()
        );
        if let Some(r) = &self.resumed_at {
            let at = r.position.as_deref().map(crate::text::markdown).unwrap_or_else(|| "the end".into());
            out.push_str(&format!(
                "; resumed after batch {} at position {at} ({} rows before)",
                r.batch, r.rows_changed
            ));
        }
        out.push('\n');
        let mut slow: Vec<&BatchLine> = self.batches.iter().collect();
        slow.sort_by_key(|b| std::cmp::Reverse(b.duration_ms));
        for b in slow.into_iter().take(SLOWEST) {
            out.push_str(&format!(
                "  - batch {}: {} ms, size {}, {} rows, {}\n",
                b.batch, b.duration_ms, b.size, b.rows_changed, b.outcome
            ));
        }
        out
    }
}
