//! The reporter of one host command: the story printed and logged line by
//! line, the [`Summary`] recorded then sealed for the ledger, and the
//! report files written from it at the end.

use super::rollout_log::RolloutLog;
use super::{logs, statements, stored, CheckTable, Lost, Summary, TierRow};
use crate::bindings::types::Level;
use crate::ledger::Outcome;
use crate::plan::{Plan, Plugin};
use crate::printer::{self, Tone};
use crate::sandbox::LogSink;
use crate::text;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The printer and recorder of one host command.
pub struct Reporter {
    log: RolloutLog,
    dir: Option<PathBuf>,
    state: Mutex<State>,
}

/// The summary being recorded, then sealed: from the moment the ledger is
/// given it, nothing changes it, so the files are what the ledger holds.
#[derive(Default)]
pub(super) struct State {
    pub(super) summary: Summary,
    sealed: bool,
    /// The storable form given to the ledger (`None` before the seal, or
    /// if it could not be made).
    stored: Option<serde_json::Value>,
    /// The ledger accepted it: `host report ID` can write it again.
    in_ledger: bool,
    /// A tier whose COMMIT is in flight, as the report shows it if the
    /// command ends before the answer (outcome unknown).
    pending: Option<TierRow>,
}

impl Reporter {
    /// A reporter writing under `reports/<time>-<verb>/`; `None` prints only.
    ///
    /// The directory is proven writable here, before anything touches the
    /// database: `rollout.log`'s first line is written and synced, so a
    /// read-only or already full directory stops the command now (exit 2)
    /// rather than after a production change.
    pub fn new(reports: Option<&Path>, verb: &str) -> Result<Reporter> {
        let started = chrono::Utc::now();
        let (log, dir) = match reports {
            Some(root) => {
                let (log, dir) = RolloutLog::create(root, verb, started)?;
                (log, Some(dir))
            }
            None => (RolloutLog::default(), None),
        };
        let summary = Summary { verb: verb.into(), started_at: started.to_rfc3339(), ..Default::default() };
        Ok(Reporter { log, dir, state: Mutex::new(State { summary, ..Default::default() }) })
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the summary half
        // written in a way that matters more than losing the report.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the summary, unless it is sealed (then the ledger has it and
    /// the files must show exactly that).
    pub(super) fn edit(&self, change: impl FnOnce(&mut Summary)) {
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

    /// The roles every plugin runs as, once proven.
    pub fn set_roles(&self, roles: BTreeMap<String, String>) {
        self.edit(|s| s.roles = roles);
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
        self.state().pending = None;
        self.edit(|s| s.tiers.push(row));
    }

    /// The row of a tier whose COMMIT is being sent: if the command ends
    /// before the answer (Ctrl-C, a server that does not answer), the
    /// report shows it with outcome `unknown`, never leaves it out.
    pub fn pending_tier(&self, mut row: TierRow) {
        row.outcome = Outcome::Unknown.as_str().into();
        self.state().pending = Some(row);
    }

    /// Ends the summary with the command's outcome and message, once (a
    /// later call keeps the first), and returns the value for the ledger's
    /// `rollout.report`. From here on the summary is the one read back from
    /// that value ([`stored::storable`]), so the files are what it holds.
    pub fn seal(&self, outcome: Outcome, message: &str) -> Option<serde_json::Value> {
        let mut state = self.state();
        if !state.sealed {
            state.sealed = true;
            if let Some(row) = state.pending.take() {
                state.summary.tiers.push(row);
            }
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

    /// What each tier sent, for the ledger, as the report holds it (call
    /// after [`Reporter::seal`]: a tier whose COMMIT was in flight too).
    pub fn listings(&self) -> Vec<crate::ledger::statements::Listing> {
        statements::listings(&self.state().summary)
    }

    /// The ledger stored the sealed report: a lost file can be written again.
    pub fn stored_in_ledger(&self) {
        self.state().in_ledger = true;
    }

    /// A status line of the story: `     Applied tier 1 …`.
    pub fn status(&self, verb: &str, message: &str) {
        let line = printer::get().status(Tone::Progress, verb, message);
        self.log.write(&line);
    }

    /// A status line the operator should read (shown under `--quiet` too).
    pub fn warning(&self, verb: &str, message: &str) {
        let line = printer::get().status(Tone::Warning, verb, message);
        self.log.write(&line);
    }

    /// A verdict line of the story (`GATE READY`, the rollback line).
    pub fn result(&self, line: &str) {
        let line = printer::get().verdict(line);
        self.log.write(&line);
    }

    /// An error, its lines as lines.
    pub fn error(&self, message: &str) {
        let line = printer::get().error(message);
        self.log.write(&line);
    }

    /// A check table of the story.
    pub fn table(&self, table: &CheckTable) {
        let (title, t, footer) = table.parts();
        self.table_of(&title, t, &footer);
    }

    /// Any other table of the story (a rehearsal's steps).
    pub fn table_of(&self, title: &str, table: comfy_table::Table, footer: &[String]) {
        let text = printer::get().table(title, table, footer);
        self.log.write(&text);
    }

    /// A line a plugin logged: the story (not debug) and the log file, and
    /// the report's log section (not debug; capped).
    pub fn plugin_log(&self, plugin: &str, level: Level, message: &str) {
        let tag = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        // Every line carries the tag and none can move the cursor, so a
        // plugin cannot print, erase or overwrite host lines.
        let shown_plugin = text::terminal(plugin);
        for shown in text::terminal_lines(message) {
            let line = format!("{:>12} [{shown_plugin}] {tag}: {shown}", "");
            if !matches!(level, Level::Debug) {
                printer::get().detail(&line);
            }
            self.log.write(&line);
        }
        if !matches!(level, Level::Debug) {
            self.edit(|s| logs::keep(s, plugin, tag, message));
        }
    }

    /// Seals the summary (if the ledger did not already), writes
    /// `report.json` and `report.md`, syncs `rollout.log`, and only then
    /// prints `Report <dir>`. Anything not written, or not wholly, is
    /// [`Lost`]: it says what the command itself did and how to get the
    /// report back.
    ///
    /// With `--format json` the summary is the command's result on stdout,
    /// whatever the outcome.
    pub fn finish(&self, outcome: Outcome, message: &str) -> Result<Option<PathBuf>, Lost> {
        self.seal(outcome, message);
        let (summary, in_ledger) = {
            let state = self.state();
            (state.summary.clone(), state.in_ledger)
        };
        if printer::get().json() {
            printer::get().result_json(&summary);
        }
        let Some(dir) = self.dir.clone() else {
            return Ok(None);
        };
        let failed = stored::write_files(&dir, &summary);
        match self.close(&dir, failed) {
            Ok(()) => Ok(Some(dir)),
            Err(failed) => Err(Lost { dir, failed, summary: Box::new(summary), in_ledger }),
        }
    }

    /// After the report files (`failed`: those not written): syncs
    /// `rollout.log`, and only if everything was written prints `Report
    /// <dir>`; otherwise says what was not.
    fn close(&self, dir: &Path, mut failed: Vec<String>) -> Result<(), Vec<String>> {
        let message = format!("written in {}", dir.display());
        if failed.is_empty() {
            self.log.write(&format!("{:>12} {}", "Report", text::terminal(&message)));
        }
        if let Err(e) = self.log.close() {
            failed.push(format!("rollout.log: {e}"));
        }
        if !failed.is_empty() {
            return Err(failed);
        }
        printer::get().status(Tone::Progress, "Report", &message);
        Ok(())
    }
}

impl Reporter {
    /// The command's own report directory, if it writes one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// For a command whose report is not a rollout's (`host rehearse`):
    /// writes `files` (name, bytes) as new files in its directory, syncs
    /// `rollout.log`, and only then prints `Report <dir>`; what was not
    /// written is returned, one line each.
    pub fn finish_files(&self, files: &[(&str, Vec<u8>)]) -> Result<Option<PathBuf>, Vec<String>> {
        let Some(dir) = self.dir.clone() else {
            return Ok(None);
        };
        let failed: Vec<String> = files
            .iter()
            .filter_map(|(name, bytes)| {
                crate::outfile::write_new(&dir.join(name), bytes).err().map(|e| format!("{name}: {e:#}"))
            })
            .collect();
        self.close(&dir, failed).map(|()| Some(dir))
    }
}

impl LogSink for Reporter {
    fn plugin_log(&self, plugin: &str, level: Level, line: &str) {
        Reporter::plugin_log(self, plugin, level, line)
    }
}
