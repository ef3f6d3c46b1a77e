//! A dry run's tiers' SQL in report.md: every distinct statement each tier
//! sent, as checked and sent, its parameters as `$n type`, how many times,
//! rows and time. The text is the plugin's: it goes through
//! [`text::markdown`](crate::text::markdown) like any other plugin string.

use crate::sql::sent::{Sent, MAX_BYTES, MAX_STATEMENTS, MAX_TEXT};
use crate::text::markdown as md;

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
