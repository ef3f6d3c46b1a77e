//! The plugins' log lines as the report keeps them: what the README
//! promises ("plugin logs included") in `report.md` too, not only in
//! `rollout.log`, but bounded: a plugin that logs a lot cannot make the
//! published report (or the ledger row that stores it) grow without end.

use super::Summary;
use serde::{Deserialize, Serialize};

/// Lines of plugin log the report keeps; the rest are counted.
pub const MAX_LINES: usize = 200;
/// Bytes of one kept message (cut with `… [N more bytes]`).
pub const MESSAGE_BYTES: usize = 1024;

/// One message a plugin logged (info, warn or error; debug stays in
/// `rollout.log`). The text is the plugin's, exact but cut: `report.md`
/// escapes it ([`crate::text::markdown`]), `report.json` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginLog {
    pub plugin: String,
    pub level: String,
    pub message: String,
}

/// Keeps one message in the summary, or counts it when the report is full.
pub(super) fn keep(summary: &mut Summary, plugin: &str, level: &str, message: &str) {
    if summary.logs.len() < MAX_LINES {
        summary.logs.push(PluginLog {
            plugin: crate::text::cut(plugin.to_string(), MESSAGE_BYTES),
            level: level.into(),
            message: crate::text::cut(message.to_string(), MESSAGE_BYTES),
        });
    } else {
        summary.logs_left_out += 1;
    }
}

pub(super) fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_keeps_at_most_max_lines_each_cut() {
        let mut s = Summary::default();
        for i in 0..MAX_LINES + 5 {
            keep(&mut s, "p", "info", &format!("{i} {}", "x".repeat(MESSAGE_BYTES)));
        }
        assert_eq!(s.logs.len(), MAX_LINES);
        assert_eq!(s.logs_left_out, 5);
        assert!(s.logs[0].message.len() < MESSAGE_BYTES + 32, "{}", s.logs[0].message.len());
        assert!(s.logs[0].message.ends_with("more bytes]"), "{}", s.logs[0].message);
    }
}
