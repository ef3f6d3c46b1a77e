//! The tables an operator reads: check tables (gate, post-conditions,
//! verify, probes), tier rows, and `host status`.

use crate::bindings::types::Metric;
use crate::ledger::{Applied, Past};
use crate::text;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use serde::{Deserialize, Serialize};

/// A check table as reported (and stored in the ledger with the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckTable {
    pub plugin: String,
    pub title: String,
    pub passed: bool,
    pub metrics: Vec<MetricRow>,
}

/// One metric line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRow {
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub result: MetricResult,
}

/// A metric's verdict; an `info` metric never fails its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricResult {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "info")]
    Info,
}

impl MetricResult {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricResult::Pass => "PASS",
            MetricResult::Fail => "FAIL",
            MetricResult::Info => "info",
        }
    }
}

impl CheckTable {
    /// A table from a plugin's metrics; passes when no non-info metric failed.
    pub fn new(plugin: &str, title: &str, metrics: &[Metric]) -> Self {
        let rows = metrics
            .iter()
            .map(|m| MetricRow {
                name: m.name.clone(),
                expected: m.expected.clone(),
                actual: m.actual.clone(),
                result: if m.info {
                    MetricResult::Info
                } else if m.passed {
                    MetricResult::Pass
                } else {
                    MetricResult::Fail
                },
            })
            .collect();
        CheckTable {
            plugin: plugin.into(),
            title: title.into(),
            passed: metrics.iter().all(|m| m.info || m.passed),
            metrics: rows,
        }
    }

    /// The failing metrics as `name=actual (expected …)`.
    pub fn failures(&self) -> String {
        let f: Vec<String> = self
            .metrics
            .iter()
            .filter(|m| m.result == MetricResult::Fail)
            .map(|m| format!("{}={} (expected {})", m.name, m.actual, m.expected))
            .collect();
        f.join(", ")
    }

    /// The actual value of a metric.
    pub fn actual(&self, name: &str) -> Option<&str> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.actual.as_str())
    }

    /// The table as the terminal shows it: every plugin-controlled cell on
    /// one line, inert and capped ([`text::terminal_within`]).
    pub fn render(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec!["metric", "expected", "actual", "result"]);
        for m in &self.metrics {
            t.add_row(vec![
                Cell::new(cell(&m.name)),
                Cell::new(cell(&m.expected)),
                Cell::new(cell(&m.actual)),
                Cell::new(m.result.as_str()),
            ]);
        }
        format!("{}\n{t}", text::terminal(&self.title))
    }
}

/// A table cell of text the host does not control.
fn cell(s: &str) -> String {
    text::terminal_within(s, text::CELL_BYTES)
}

/// One tier as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRow {
    pub ordinal: u32,
    pub plugin: String,
    pub action: String,
    pub outcome: String,
    pub duration_ms: u128,
    pub statements: u64,
    pub rows_changed: u64,
    pub message: Option<String>,
    pub post_conditions: Option<CheckTable>,
}

/// `host status`: the applied tiers and the latest rollouts, as text.
pub fn status(database: &str, applied: &[Applied], history: &[Past]) -> String {
    let mut out = format!("Database `{}`: {} tier(s) applied\n", text::terminal(database), applied.len());
    if !applied.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec!["tier", "plugin", "applied at", "by", "approval", "rollout", "sha256"]);
        for a in applied {
            t.add_row(vec![
                a.ordinal.to_string(),
                cell(&a.plugin),
                cell(&a.at),
                cell(&a.operator),
                cell(&a.approval_ref),
                a.rollout_id.to_string(),
                cell(&a.sha256.chars().take(12).collect::<String>()),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    if history.is_empty() {
        out.push_str("No rollout has run here yet.\n");
        return out;
    }
    let mut h = Table::new();
    h.load_preset(UTF8_FULL_CONDENSED);
    h.set_header(vec!["rollout", "verb", "operator", "approval", "gate", "outcome", "started", "ended", "message"]);
    for p in history {
        h.add_row(vec![
            p.id.to_string(),
            cell(&p.verb),
            cell(&p.operator),
            cell(&p.approval_ref),
            cell(&p.gate),
            cell(&p.outcome),
            cell(&p.started),
            cell(&p.ended),
            text::terminal_within(&p.message, 80),
        ]);
    }
    out.push_str(&format!("Latest rollouts:\n{h}\n"));
    out
}
