//! Operator output and the published report.
//!
//! Status lines go to stderr (cargo style, the verb right-aligned), tables
//! and verdicts to stdout; everything also goes, timestamped, to the run's
//! `rollout.log`. At the end, `report.json` and `report.md` are written
//! beside it under `--reports/<time>-<verb>/`, ready to publish as they are.

use crate::sandbox::bindings::rollout::plugin::types::{Level, Metric};
use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A check table as reported.
#[derive(Debug, Clone, Serialize)]
pub struct CheckTable {
    pub plugin: String,
    pub title: String,
    pub passed: bool,
    pub metrics: Vec<MetricRow>,
}

/// One metric line.
#[derive(Debug, Clone, Serialize)]
pub struct MetricRow {
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub result: &'static str,
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
                    "info"
                } else if m.passed {
                    "PASS"
                } else {
                    "FAIL"
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
            .filter(|m| m.result == "FAIL")
            .map(|m| format!("{}={} (expected {})", m.name, m.actual, m.expected))
            .collect();
        f.join(", ")
    }

    /// The actual value of a metric.
    pub fn actual(&self, name: &str) -> Option<&str> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.actual.as_str())
    }

    fn render(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec!["metric", "expected", "actual", "result"]);
        for m in &self.metrics {
            t.add_row(vec![Cell::new(&m.name), Cell::new(&m.expected), Cell::new(&m.actual), Cell::new(m.result)]);
        }
        format!("{}\n{t}", self.title)
    }
}

/// One tier as reported.
#[derive(Debug, Clone, Serialize)]
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

/// Everything the report says about one command.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub verb: String,
    pub rollout_id: Option<i64>,
    pub database: String,
    pub operator: String,
    pub params: std::collections::BTreeMap<String, String>,
    pub plugins: Vec<serde_json::Value>,
    pub started_at: String,
    pub ended_at: String,
    pub gate: Option<CheckTable>,
    pub tiers: Vec<TierRow>,
    pub verify: Option<CheckTable>,
    pub probes: Vec<CheckTable>,
    pub outcome: String,
    pub message: String,
    pub exit_code: u8,
}

/// The printer and recorder of one host command.
pub struct Reporter {
    log: Mutex<Option<File>>,
    dir: Option<PathBuf>,
    pub summary: Mutex<Summary>,
}

impl Reporter {
    /// A reporter writing under `reports/<time>-<verb>/`; `None` prints only.
    pub fn new(reports: Option<&Path>, verb: &str) -> Result<Reporter> {
        let started = chrono::Utc::now();
        let (log, dir) = match reports {
            Some(root) => {
                let dir = root.join(format!("{}-{verb}-{}", started.format("%Y%m%dT%H%M%S%.3fZ"), std::process::id()));
                // A new directory of its own: a report never lands in (or
                // over) files that were there before.
                std::fs::create_dir_all(root)
                    .with_context(|| format!("cannot create the reports directory {}", root.display()))?;
                std::fs::create_dir(&dir)
                    .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
                let file = File::create(dir.join("rollout.log")).context("cannot create rollout.log")?;
                (Some(file), Some(dir))
            }
            None => (None, None),
        };
        let summary = Summary { verb: verb.into(), started_at: started.to_rfc3339(), ..Default::default() };
        Ok(Reporter { log: Mutex::new(log), dir, summary: Mutex::new(summary) })
    }

    fn to_log(&self, text: &str) {
        if let Some(f) = self.log.lock().expect("log lock").as_mut() {
            let now = chrono::Utc::now().format("%H:%M:%S%.3f");
            for line in text.lines() {
                let _ = writeln!(f, "{now} {line}");
            }
        }
    }

    /// A progress line on stderr: `     Applied tier 1 …`.
    pub fn status(&self, verb: &str, message: &str) {
        let line = format!("{verb:>12} {message}");
        say(&mut std::io::stderr(), &line);
        self.to_log(&line);
    }

    /// A result line on stdout (verdicts, PASS, the rollback line).
    pub fn result(&self, line: &str) {
        say(&mut std::io::stdout(), line);
        self.to_log(line);
    }

    /// An error on stderr.
    pub fn error(&self, message: &str) {
        let line = format!("error: {message}");
        say(&mut std::io::stderr(), &line);
        self.to_log(&line);
    }

    /// A check table on stdout.
    pub fn table(&self, table: &CheckTable) {
        let text = table.render();
        say(&mut std::io::stdout(), &text);
        self.to_log(&text);
    }

    /// A line a plugin logged: stderr and the log file (debug: file only).
    pub fn plugin_log(&self, plugin: &str, level: Level, message: &str) {
        let tag = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        // Every line carries the tag, so a plugin cannot print host lines.
        for text in message.lines() {
            let line = format!("{:>12} [{plugin}] {tag}: {text}", "");
            if !matches!(level, Level::Debug) {
                say(&mut std::io::stderr(), &line);
            }
            self.to_log(&line);
        }
    }

    /// Writes `report.json` and `report.md`; returns the directory.
    pub fn finish(&self, outcome: &str, message: &str, exit_code: u8) -> Option<PathBuf> {
        let dir = self.dir.clone()?;
        let mut s = self.summary.lock().expect("summary lock");
        s.outcome = outcome.into();
        s.message = message.into();
        s.exit_code = exit_code;
        s.ended_at = chrono::Utc::now().to_rfc3339();
        let json = serde_json::to_string_pretty(&*s).expect("summary serialises");
        let md = markdown(&s);
        drop(s);
        let written = crate::outfile::write_atomic(&dir.join("report.json"), json.as_bytes())
            .and_then(|_| crate::outfile::write_atomic(&dir.join("report.md"), md.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: cannot write the report in {}: {e:#}", dir.display());
        }
        Some(dir)
    }
}

/// Writes a line to a terminal stream; a closed pipe (`| head`) must not
/// stop a rollout, and the log file keeps everything anyway.
fn say(out: &mut dyn Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

fn md_table(t: &CheckTable) -> String {
    let mut out = format!("| metric | expected | actual | result |\n| --- | --- | --- | --- |\n");
    for m in &t.metrics {
        out.push_str(&format!("| {} | {} | {} | {} |\n", m.name, m.expected, m.actual, m.result));
    }
    out
}

fn markdown(s: &Summary) -> String {
    let mut out = format!("# Rollout report: {} — {}\n\n", s.verb, s.outcome.to_uppercase());
    out.push_str(&format!(
        "- rollout id: {}\n- database: {}\n- operator: {}\n- started: {}\n- ended: {}\n- exit code: {}\n",
        s.rollout_id.map(|i| i.to_string()).unwrap_or_else(|| "—".into()),
        s.database,
        s.operator,
        s.started_at,
        s.ended_at,
        s.exit_code
    ));
    for (k, v) in &s.params {
        out.push_str(&format!("- parameter `{k}`: `{v}`\n"));
    }
    if !s.message.is_empty() {
        out.push_str(&format!("\n**{}**\n", s.message));
    }
    out.push_str("\n## Plugins\n\n| name | kind | ordinal | sha256 |\n| --- | --- | --- | --- |\n");
    for p in &s.plugins {
        let ordinal = p["ordinal"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "—".into());
        out.push_str(&format!("| {} | {} | {ordinal} | `{}` |\n", p["name"], p["kind"], p["sha256"]).replace('"', ""));
    }
    if let Some(g) = &s.gate {
        out.push_str(&format!("\n## Gate — {}\n\n{}", if g.passed { "READY" } else { "BLOCKED" }, md_table(g)));
    }
    if !s.tiers.is_empty() {
        out.push_str("\n## Tiers\n\n| tier | plugin | action | outcome | ms | statements | rows changed | note |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for t in &s.tiers {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                t.ordinal,
                t.plugin,
                t.action,
                t.outcome,
                t.duration_ms,
                t.statements,
                t.rows_changed,
                t.message.clone().unwrap_or_default().replace('|', "\\|")
            ));
        }
    }
    if let Some(v) = &s.verify {
        out.push_str(&format!("\n## Verify — {}\n\n{}", if v.passed { "PASS" } else { "FAIL" }, md_table(v)));
    }
    for p in &s.probes {
        out.push_str(&format!("\n## {}\n\n{}", p.title, md_table(p)));
    }
    out
}
