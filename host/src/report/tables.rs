//! The tables an operator reads: check tables (gate, post-conditions,
//! verify, probes), tier rows, and `host status`.

use crate::bindings::types::Metric;
use crate::ledger::{Applied, Past};
use crate::printer::new_table;
use crate::text;
use comfy_table::{Cell, Table};
use serde::{Deserialize, Serialize};

/// A check table as reported (and stored in the ledger with the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckTable {
    pub plugin: String,
    pub title: String,
    pub passed: bool,
    pub metrics: Vec<MetricRow>,
    /// The host's own findings about the table as a whole (empty, a
    /// declared metric missing, one repeated or undeclared); any one fails it.
    pub problems: Vec<String>,
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
    /// A table from a plugin's metrics, held to the names its manifest
    /// `declared`: it passes only when it is complete (every declared name
    /// exactly once, no other) and no non-info metric failed. An empty table
    /// never passes: a check that says nothing has not checked anything.
    pub fn new(plugin: &str, title: &str, declared: &[String], metrics: &[Metric]) -> Self {
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
        let problems = incomplete(declared, metrics);
        CheckTable {
            plugin: plugin.into(),
            title: title.into(),
            passed: problems.is_empty() && metrics.iter().all(|m| m.info || m.passed),
            metrics: rows,
            problems,
        }
    }

    /// A tier's own conditions (post-conditions, rollback conditions) are
    /// assertions: an `info` metric there proves nothing, so it fails the
    /// table, named (a table of info lines would always pass).
    pub fn require_assertions(&mut self) {
        for m in self.metrics.iter().filter(|m| m.result == MetricResult::Info) {
            let name = shortened(&m.name);
            self.problems.push(format!("metric `{name}` is information only; a tier's conditions must assert"));
        }
        self.passed &= self.problems.is_empty();
    }

    /// What fails the table: the host's problems with it, then the failing
    /// metrics as `name=actual (expected …)`.
    pub fn failures(&self) -> String {
        let f: Vec<String> = self
            .problems
            .iter()
            .cloned()
            .chain(
                self.metrics
                    .iter()
                    .filter(|m| m.result == MetricResult::Fail)
                    .map(|m| format!("{}={} (expected {})", m.name, m.actual, m.expected)),
            )
            .collect();
        f.join(", ")
    }

    /// The actual value of a metric.
    pub fn actual(&self, name: &str) -> Option<&str> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.actual.as_str())
    }

    /// The table as the printer shows it: its title, the table (every
    /// plugin-controlled cell on one line, inert and capped:
    /// [`text::cell`]; the printer fits it to the width), and the host's
    /// findings under it.
    pub fn parts(&self) -> (String, Table, Vec<String>) {
        let mut t = new_table(&["metric", "expected", "actual", "result"]);
        for m in &self.metrics {
            t.add_row(vec![
                Cell::new(cell(&m.name)),
                Cell::new(cell(&m.expected)),
                Cell::new(cell(&m.actual)),
                Cell::new(m.result.as_str()),
            ]);
        }
        let footer = self.problems.iter().map(|p| format!("FAIL (host): {}", text::terminal(p))).collect();
        (self.title.clone(), t, footer)
    }

    /// The table as text at the default width (tests, and wherever no
    /// printer is involved).
    pub fn render(&self) -> String {
        let (title, mut t, footer) = self.parts();
        t.set_width(crate::printer::DEFAULT_WIDTH);
        let mut out = format!("{}\n{t}", text::terminal(&title));
        for line in footer {
            out.push_str(&format!("\n{line}"));
        }
        out
    }
}

/// A plugin's metric name in a host finding: cut at 80 characters with a
/// marker (it is the plugin's text; made inert where it is shown).
fn shortened(name: &str) -> String {
    let short: String = name.chars().take(80).collect();
    if short.len() < name.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// How a table falls short of the names its manifest declares, in words
/// naming each metric; empty when it is complete.
fn incomplete(declared: &[String], metrics: &[Metric]) -> Vec<String> {
    let mut problems = Vec::new();
    if metrics.is_empty() {
        problems.push("the plugin returned no metrics; an empty table never passes".to_string());
    }
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for m in metrics {
        *seen.entry(m.name.as_str()).or_default() += 1;
    }
    for name in declared {
        if !seen.contains_key(name.as_str()) {
            problems.push(format!("declared metric `{name}` is missing"));
        }
    }
    for (name, n) in &seen {
        if !declared.iter().any(|d| d == name) {
            problems.push(format!("metric `{}` is not declared in the manifest", shortened(name)));
        } else if *n > 1 {
            problems.push(format!("metric `{name}` was returned {n} times"));
        }
    }
    problems
}

/// A table cell of text the host does not control.
fn cell(s: &str) -> String {
    text::cell(s, text::CELL_BYTES)
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
    /// The tier's own check: post-conditions of an apply, rollback
    /// conditions of a rollback (its title says which).
    pub conditions: Option<CheckTable>,
    /// A dry run's record of every statement that changed something (a
    /// run commits them, and the ledger counts them instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::sql::Change>,
    /// Every relation whose rows the server counted the tier changing
    /// (`pg_stat_xact_user_tables`), cascades and rules included, with the
    /// changes no grant of the plugin names; a committed tier's or a dry
    /// run's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<crate::audit::Changed>,
    /// Its DDL attempts whose short lock wait ran out and were retried.
    #[serde(default)]
    pub lock_retries: u64,
    /// The locks its transaction took, measured on the server
    /// ([`super::footprint`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footprint: Vec<super::footprint::LockHeld>,
    /// A batched tier's batches (`mode = "batched"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<super::BatchRecord>,
    /// Every distinct statement the tier sent ([`super::statements`]); the
    /// ledger keeps it too (`host inspect --sql`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<crate::sql::sent::Sent>,
}

/// A ledger timestamp (`2026-12-06 21:00:25.452498+00`) to the second, as
/// the status table shows it (the JSON keeps it whole).
fn to_the_second(at: &str) -> &str {
    at.split_once('.').map_or(at, |(second, _)| second)
}

/// `host status`'s result: what the ledger shows applied, the latest
/// rollouts, and what this command settled or could not settle.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub database: String,
    pub applied: Vec<Applied>,
    pub history: Vec<Past>,
    /// Rollouts this command found still marked running with no host
    /// holding the lock, recorded as abandoned: `rollout N: what the ledger
    /// shows of it`.
    pub settled: Vec<String>,
    /// Rollouts still marked running whose transaction is still open.
    pub not_settled: Option<String>,
    /// Batched tiers with batches committed that no event settled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<String>,
    /// Tiers a reviewed replacement rolled back, with both sha256s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<crate::ledger::Replaced>,
}

/// `host status` as the printer shows it: each part a title, a table (fit
/// to the width by the printer) and lines under it.
pub fn status(r: &StatusReport) -> Vec<(String, Option<Table>, Vec<String>)> {
    let mut parts = Vec::new();
    let title = format!("Database `{}`: {} tier(s) applied", text::terminal(&r.database), r.applied.len());
    if r.applied.is_empty() {
        parts.push((title, None, Vec::new()));
    } else {
        let mut t = new_table(&["tier", "plugin", "applied at", "by", "approval", "rollout", "sha256"]);
        for a in &r.applied {
            t.add_row(vec![
                a.ordinal.to_string(),
                cell(&a.plugin),
                cell(to_the_second(&a.at)),
                cell(&a.operator),
                cell(&a.approval_ref),
                a.rollout_id.to_string(),
                cell(&a.sha256.chars().take(12).collect::<String>()),
            ]);
        }
        parts.push((title, Some(t), Vec::new()));
    }
    let mut after: Vec<String> = r.batches.clone();
    after.extend(r.replaced.iter().map(|x| {
        format!(
            "Replaced: tier {} ({}) applied from sha256 {} was rolled back in rollout {} by sha256 {}, its reviewed replacement.",
            x.ordinal,
            text::terminal(&x.plugin),
            text::terminal(&x.applied),
            x.rollout_id,
            text::terminal(&x.rolled_back_by)
        )
    }));
    after.extend(r.settled.iter().map(|s| text::terminal(s)));
    after.extend(r.not_settled.iter().map(|s| format!("Not settled: {}.", text::terminal(s))));
    if r.history.is_empty() {
        let mut lines = vec!["No rollout has run here yet.".to_string()];
        lines.extend(after);
        parts.push((String::new(), None, lines));
        return parts;
    }
    // The lock column only when a rollout here ran under a lock file: the
    // table must fit a terminal, and an empty column costs a wrapped message.
    let with_lock = r.history.iter().any(|p| !p.lock.is_empty());
    let mut heads = vec!["rollout", "verb", "operator", "approval", "gate", "outcome", "started", "ended"];
    if with_lock {
        heads.push("lock");
    }
    heads.push("message");
    let mut h = new_table(&heads);
    for p in &r.history {
        let mut row = vec![
            p.id.to_string(),
            cell(&p.verb),
            cell(&p.operator),
            cell(&p.approval_ref),
            cell(&p.gate),
            cell(&p.outcome),
            cell(to_the_second(&p.started)),
            cell(to_the_second(&p.ended)),
        ];
        if with_lock {
            row.push(text::cell(&p.lock, 60));
        }
        row.push(text::cell(&p.message, 80));
        h.add_row(row);
    }
    parts.push(("Latest rollouts:".to_string(), Some(h), after));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, passed: bool) -> Metric {
        Metric { name: name.into(), expected: "1".into(), actual: "1".into(), passed, info: false }
    }

    fn declared(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_table_passes_only_when_it_holds_exactly_the_declared_metrics() {
        let d = declared(&["a", "b"]);
        let ok = CheckTable::new("p", "t", &d, &[metric("a", true), metric("b", true)]);
        assert!(ok.passed && ok.problems.is_empty(), "{ok:?}");
        let cases: [(&[Metric], &str); 4] = [
            (&[], "the plugin returned no metrics"),
            (&[metric("a", true)], "declared metric `b` is missing"),
            (&[metric("a", true), metric("b", true), metric("c", true)], "metric `c` is not declared"),
            (&[metric("a", true), metric("b", true), metric("a", true)], "metric `a` was returned 2 times"),
        ];
        for (metrics, problem) in cases {
            let t = CheckTable::new("p", "t", &d, metrics);
            assert!(!t.passed, "{problem}: {t:?}");
            assert!(t.failures().contains(problem), "{problem}: {}", t.failures());
            assert!(t.render().contains(&format!("FAIL (host): {problem}")), "{}", t.render());
        }
        // Nothing declared (a manifest cannot say that, but the rule holds): empty still fails.
        assert!(!CheckTable::new("p", "t", &[], &[]).passed);
        let failing = CheckTable::new("p", "t", &d, &[metric("a", true), metric("b", false)]);
        assert!(!failing.passed && failing.problems.is_empty());
        // A tier's conditions must assert: an info line fails them.
        let info = Metric { info: true, ..metric("b", true) };
        let mut conditions = CheckTable::new("p", "t", &d, &[metric("a", true), info]);
        assert!(conditions.passed);
        conditions.require_assertions();
        assert!(!conditions.passed);
        assert!(conditions.failures().contains("metric `b` is information only"), "{}", conditions.failures());
    }
}
