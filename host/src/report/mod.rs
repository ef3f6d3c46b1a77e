//! Operator output and the published report.
//!
//! Status lines go to stderr (cargo style, the verb right-aligned), tables
//! and verdicts to stdout; everything also goes, timestamped, to the run's
//! `rollout.log`. At the end, `report.json` and `report.md` are written
//! beside it under `--reports/<time>-<verb>/`, ready to publish as they are.
//!
//! Plugin text is data: every line printed here goes through
//! [`text::terminal`] (a plugin's log message through [`text::terminal_lines`],
//! each line tagged `[plugin] level:`), every table cell too, and
//! `report.md` through [`text::markdown`]; `report.json` keeps the exact text.

mod markdown;
mod tables;

pub use tables::{status, CheckTable, MetricResult, MetricRow, TierRow};

use crate::bindings::types::Level;
use crate::ledger::Outcome;
use crate::plan::{Plan, Plugin};
use crate::sandbox::LogSink;
use crate::text;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Everything the report says about one command.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub verb: String,
    pub rollout_id: Option<i64>,
    pub database: String,
    pub operator: String,
    pub params: BTreeMap<String, String>,
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
    summary: Mutex<Summary>,
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

    fn summary(&self) -> std::sync::MutexGuard<'_, Summary> {
        // A panic while holding the lock cannot leave the summary half
        // written in a way that matters more than losing the report.
        self.summary.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The database the command connected to.
    pub fn set_database(&self, database: &str) {
        self.summary().database = database.into();
    }

    /// Who runs which plugins with which parameters.
    pub fn record_plan(&self, operator: &str, params: &BTreeMap<String, String>, plan: &Plan) {
        let mut s = self.summary();
        s.operator = operator.into();
        s.params = params.clone();
        s.plugins = plan.all().map(Plugin::record).collect();
    }

    /// The ledger's id of this rollout.
    pub fn set_rollout_id(&self, id: i64) {
        self.summary().rollout_id = Some(id);
    }

    pub fn set_gate(&self, table: &CheckTable) {
        self.summary().gate = Some(table.clone());
    }

    pub fn set_verify(&self, table: &CheckTable) {
        self.summary().verify = Some(table.clone());
    }

    pub fn add_probe(&self, table: &CheckTable) {
        self.summary().probes.push(table.clone());
    }

    pub fn add_tier(&self, row: TierRow) {
        self.summary().tiers.push(row);
    }

    fn to_log(&self, text: &str) {
        if let Some(f) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let now = chrono::Utc::now().format("%H:%M:%S%.3f");
            for line in text.lines() {
                let _ = writeln!(f, "{now} {line}");
            }
        }
    }

    /// A progress line on stderr: `     Applied tier 1 …`.
    pub fn status(&self, verb: &str, message: &str) {
        let line = format!("{verb:>12} {}", text::terminal(message));
        say(&mut std::io::stderr(), &line);
        self.to_log(&line);
    }

    /// A result line on stdout (verdicts, PASS, the rollback line).
    pub fn result(&self, line: &str) {
        let line = text::terminal(line);
        say(&mut std::io::stdout(), &line);
        self.to_log(&line);
    }

    /// An error on stderr.
    pub fn error(&self, message: &str) {
        let line = format!("error: {}", text::terminal(message));
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
        // Every line carries the tag and none can move the cursor, so a
        // plugin cannot print, erase or overwrite host lines.
        let plugin = text::terminal(plugin);
        for shown in text::terminal_lines(message) {
            let line = format!("{:>12} [{plugin}] {tag}: {shown}", "");
            if !matches!(level, Level::Debug) {
                say(&mut std::io::stderr(), &line);
            }
            self.to_log(&line);
        }
    }

    /// Writes `report.json` and `report.md`; returns the directory.
    pub fn finish(&self, outcome: Outcome, message: &str, exit_code: u8) -> Option<PathBuf> {
        let dir = self.dir.clone()?;
        let mut s = self.summary();
        s.outcome = outcome.as_str().into();
        s.message = message.into();
        s.exit_code = exit_code;
        s.ended_at = chrono::Utc::now().to_rfc3339();
        let md = markdown::render(&s);
        let written = serde_json::to_string_pretty(&*s).map_err(anyhow::Error::from).and_then(|json| {
            drop(s);
            crate::outfile::write_atomic(&dir.join("report.json"), json.as_bytes())
        });
        let written = written.and_then(|_| crate::outfile::write_atomic(&dir.join("report.md"), md.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: {}", text::terminal(&format!("cannot write the report in {}: {e:#}", dir.display())));
        }
        Some(dir)
    }
}

/// Writes a line to a terminal stream; a closed pipe (`| head`) must not
/// stop a rollout, and the log file keeps everything anyway.
fn say(out: &mut dyn Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

impl LogSink for Reporter {
    fn plugin_log(&self, plugin: &str, level: Level, line: &str) {
        Reporter::plugin_log(self, plugin, level, line)
    }
}
