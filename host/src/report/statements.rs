//! The tiers' SQL in report.md (a run's, a rollback's, a dry run's, and a
//! rehearsal's steps'): every distinct statement each tier sent, as checked
//! and sent, its parameters as `$n type`, how many times, rows and time.
//! The text is the plugin's: it goes through
//! [`text::markdown`](crate::text::markdown) like any other plugin string.
//! The same listing goes to the ledger with the rollout's close ([`listings`]).

use super::Summary;
use crate::ledger::statements::Listing;
use crate::sql::sent::{Sent, MAX_BYTES, MAX_STATEMENTS, MAX_TEXT};
use crate::text::markdown as md;
use serde::{Deserialize, Serialize};

/// What each tier of the report sent, with the sha256 of the plugin that
/// ran it (from the report's plugins: a reviewed replacement's own), for
/// the ledger. A tier whose plugin the report does not list is left out:
/// the ledger keys the listing by sha256.
pub fn listings(s: &Summary) -> Vec<Listing> {
    s.tiers
        .iter()
        .filter_map(|t| {
            let sent = t.sql.as_ref()?;
            let ran = s.plugins.iter().find(|p| p.name == t.plugin && p.ordinal == Some(t.ordinal))?;
            let ordinal = i32::try_from(t.ordinal).ok()?;
            Some(Listing { plugin: t.plugin.clone(), ordinal, sha256: ran.sha256.clone(), sent: sent.clone() })
        })
        .collect()
}

/// What one tier sent in one step of a rehearsal (the step's own report
/// has it too, under `steps/`; the copy's ledger while the copy lives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSql {
    pub step: String,
    pub ordinal: u32,
    pub plugin: String,
    /// `apply` or `rollback`.
    pub action: String,
    pub sql: Sent,
}

/// What each tier of a step's command (its report) sent.
pub fn of_step(step: &str, report: &Summary) -> Vec<StepSql> {
    let tiers = report.tiers.iter();
    tiers
        .filter_map(|t| {
            let sql = t.sql.clone()?;
            Some(StepSql {
                step: step.into(),
                ordinal: t.ordinal,
                plugin: t.plugin.clone(),
                action: t.action.clone(),
                sql,
            })
        })
        .collect()
}

/// The rehearsal's section: per step, each tier's listing.
pub fn rehearsal_markdown(sent: &[StepSql]) -> String {
    let mut out = String::new();
    let mut step = None;
    for s in sent {
        if step != Some(&s.step) {
            out.push_str(&format!("\n## The SQL of step {}\n", md(&s.step)));
            step = Some(&s.step);
        }
        out.push_str(&markdown(s.ordinal, &format!("{} ({})", s.plugin, s.action), &s.sql));
    }
    out
}

/// The section of one tier.
pub fn markdown(ordinal: u32, plugin: &str, sent: &Sent) -> String {
    let mut out = format!(
        "\n### Tier {ordinal} — {}: the SQL it sent\n\n| # | statement | parameters | calls | failed | rows | ms |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        md(plugin)
    );
    for (i, s) in sent.statements.iter().enumerate() {
        let cut = if s.cut { format!(" … (cut at {MAX_TEXT} bytes)") } else { String::new() };
        out.push_str(&format!(
            "| {} | {}{cut} | {} | {} | {} | {} | {} |\n",
            i + 1,
            md(&s.sql),
            md(&s.params.join(", ")),
            s.calls,
            s.failed,
            s.rows,
            millis(s.time_us)
        ));
    }
    if sent.statements.is_empty() {
        out.push_str("| — | (no statement) | | | | | |\n");
    }
    if sent.left_out_calls > 0 {
        out.push_str(&format!(
            "\n**{} more send(s) of plain reads past the first {MAX_STATEMENTS} distinct statements are not listed** \
             (every statement that may change rows or schema, or failed, is).\n",
            sent.left_out_calls
        ));
    }
    if sent.left_out_changes > 0 {
        out.push_str(&format!(
            "\n**{} send(s) of statements that may change rows or schema are NOT listed: the listing reached its \
             {} KiB; do not accept this tier's SQL as reviewed.**\n",
            sent.left_out_changes,
            MAX_BYTES / 1024
        ));
    }
    out
}

/// Microseconds as milliseconds with three decimals, without a float.
pub fn millis(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}
