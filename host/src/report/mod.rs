//! Operator output and the published report.
//!
//! Status lines go to stderr (cargo style, the verb right-aligned), tables
//! and verdicts to stdout; everything also goes, timestamped, to the run's
//! `rollout.log`. At the end, `report.json` and `report.md` are written
//! beside it under `--reports/<time>-<verb>/`, ready to publish as they are.
//! Both are a pure function of the [`Summary`], which the ledger stores when
//! the rollout closes ([`stored`]).
//!
//! Plugin text is data: every line printed here goes through
//! [`text::terminal`] (a plugin's log message through [`text::terminal_lines`],
//! each line tagged `[plugin] level:`), every table cell too, and
//! `report.md` through [`text::markdown`]; `report.json` keeps the exact text.

mod markdown;
pub mod stored;
mod tables;

pub use tables::{status, CheckTable, MetricResult, MetricRow, TierRow};

use crate::bindings::types::Level;
use crate::ledger::Outcome;
use crate::plan::{Plan, Plugin, Record};
use crate::sandbox::LogSink;
use crate::text;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Everything the report says about one command, and nothing else:
/// `report.json` and `report.md` are rendered from it alone, and the ledger
/// stores it, so nothing here may come from the moment of rendering (no
/// clock read then, no exit code, no path). Strings and integers only, no
/// float and no untyped map, so that it reads back from jsonb unchanged.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub verb: String,
    pub rollout_id: Option<i64>,
    pub database: String,
    pub operator: String,
    pub params: BTreeMap<String, String>,
    pub plugins: Vec<Record>,
    pub started_at: String,
    pub ended_at: String,
    pub gate: Option<CheckTable>,
    pub tiers: Vec<TierRow>,
    pub verify: Option<CheckTable>,
    pub probes: Vec<CheckTable>,
    pub outcome: String,
    pub message: String,
}

/// The printer and recorder of one host command.
pub struct Reporter {
    log: Mutex<Option<File>>,
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

/// The summary being recorded, then sealed: from the moment the ledger is
/// given it, nothing changes it, so the files are what the ledger holds.
#[derive(Default)]
struct State {
    summary: Summary,
    sealed: bool,
    /// The storable form given to the ledger (`None` before the seal, or
    /// if it could not be made).
    stored: Option<serde_json::Value>,
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
        Ok(Reporter { log: Mutex::new(log), dir, state: Mutex::new(State { summary, ..Default::default() }) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the summary half
        // written in a way that matters more than losing the report.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the summary, unless it is sealed (then the ledger has it and
    /// the files must show exactly that).
    fn edit(&self, change: impl FnOnce(&mut Summary)) {
        let mut state = self.state();
        if state.sealed {
            tracing::debug!("the report is sealed; a later change is not recorded");
        } else {
            change(&mut state.summary);
        }
    }

    /// The database the command connected to.
    pub fn set_database(&self, database: &str) {
        self.edit(|s| s.database = database.into());
    }

    /// Who runs which plugins with which parameters.
    pub fn record_plan(&self, operator: &str, params: &BTreeMap<String, String>, plan: &Plan) {
        self.edit(|s| {
            s.operator = operator.into();
            s.params = params.clone();
            s.plugins = plan.all().map(Plugin::record).collect();
        });
    }

    /// The ledger's id of this rollout.
    pub fn set_rollout_id(&self, id: i64) {
        self.edit(|s| s.rollout_id = Some(id));
    }

    pub fn set_gate(&self, table: &CheckTable) {
        self.edit(|s| s.gate = Some(table.clone()));
    }

    pub fn set_verify(&self, table: &CheckTable) {
        self.edit(|s| s.verify = Some(table.clone()));
    }

    pub fn add_probe(&self, table: &CheckTable) {
        self.edit(|s| s.probes.push(table.clone()));
    }

    pub fn add_tier(&self, row: TierRow) {
        self.edit(|s| s.tiers.push(row));
    }

    /// Ends the summary with the command's outcome and message, once (a
    /// later call keeps the first), and returns the value for the ledger's
    /// `rollout.report`. From here on the summary is the one read back from
    /// that value ([`stored::storable`]), so the files are what it holds.
    pub fn seal(&self, outcome: Outcome, message: &str) -> Option<serde_json::Value> {
        let mut state = self.state();
        if !state.sealed {
            state.sealed = true;
            let s = &mut state.summary;
            s.outcome = outcome.as_str().into();
            s.message = message.into();
            s.ended_at = chrono::Utc::now().to_rfc3339();
            match stored::storable(s) {
                Ok((summary, value)) => {
                    state.summary = summary;
                    state.stored = Some(value);
                }
                Err(e) => tracing::warn!("the report cannot be stored in the ledger: {e:#}"),
            }
        }
        state.stored.clone()
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

    /// Seals the summary (if the ledger did not already) and writes
    /// `report.json` and `report.md` from it; returns the directory.
    pub fn finish(&self, outcome: Outcome, message: &str) -> Option<PathBuf> {
        self.seal(outcome, message);
        let dir = self.dir.clone()?;
        let summary = self.state().summary.clone();
        let failed = stored::write_files(&dir, &summary);
        if !failed.is_empty() {
            let why = format!("cannot write the report in {}: {}", dir.display(), failed.join("; "));
            eprintln!("warning: {}", text::terminal(&why));
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
