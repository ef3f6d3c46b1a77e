//! What a rehearsal shows and keeps: a line per step as it happens, the
//! step table at the end, the verdict line, and `report.json` /
//! `report.md` in the rehearsal's own report directory (each step's own
//! command report lies under `steps/`).

use super::step::{Ran, Verb};
use crate::digest::{Difference, State};
use crate::error::Failure;
use crate::report::Reporter;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Whether a step's digest equals the baseline's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Equal {
    /// What the others are compared with.
    Reference,
    Yes,
    No,
    /// Not compared (a run: the change is meant to be there).
    NotCompared,
}

impl Equal {
    pub fn of(same: bool) -> Equal {
        if same {
            Equal::Yes
        } else {
            Equal::No
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Equal::Reference => "reference",
            Equal::Yes => "yes",
            Equal::No => "NO",
            Equal::NotCompared => "—",
        }
    }
}

/// One line of the step table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub step: String,
    pub outcome: String,
    /// The state's digest after the step, if one was taken.
    pub digest: Option<String>,
    pub equal_to_baseline: Equal,
    pub ms: u128,
    /// The step command's output, for the steps that ran one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Row {
    /// A digest taken by the rehearsal itself.
    pub fn digest(step: &str, state: &State, equal: Equal, started: Instant) -> Row {
        let outcome = format!("{} relations, {} rows", state.relations(), state.rows());
        let digest = Some(state.digest().to_string());
        Row {
            step: step.into(),
            outcome,
            digest,
            equal_to_baseline: equal,
            ms: started.elapsed().as_millis(),
            log: None,
        }
    }

    /// A step command that ran; `expected` is the exit code it should have.
    /// The outcome says only what the step's own report shows: a run whose
    /// report has no verify table is not called a verify PASS.
    pub fn ran(step: &str, verb: Verb, ran: &Ran, expected: i32) -> Row {
        let outcome = match (ran.code, verb, expected) {
            (Some(0), Verb::Run, _) if ran.verify().is_some() => "COMPLETE, verify PASS".to_string(),
            (Some(0), Verb::Run, _) => "COMPLETE, no verify table in its report".to_string(),
            (Some(0), Verb::Rollback, _) => "ROLLED BACK".to_string(),
            (Some(4), _, 4) => "FAILED as injected (exit 4)".to_string(),
            (Some(c), _, e) => format!("exit {c}, expected {e}"),
            (None, _, _) => "killed by a signal".to_string(),
        };
        let log = Some(ran.log.display().to_string());
        Row { step: step.into(), outcome, digest: None, equal_to_baseline: Equal::NotCompared, ms: ran.ms, log }
    }
}

/// The rehearsal's record.
pub struct Book {
    reporter: Arc<Reporter>,
    rows: Vec<Row>,
    scope: Vec<String>,
    excluded: Vec<String>,
    baseline: Option<(usize, usize, String)>,
    failed_step: Option<String>,
    /// Each difference found, as shown.
    differences: Vec<String>,
}

#[derive(Serialize)]
struct Stored<'a> {
    verb: &'static str,
    outcome: &'static str,
    message: &'a str,
    scope: &'a [String],
    excluded: &'a [String],
    baseline_digest: Option<&'a str>,
    relations: Option<usize>,
    rows: Option<usize>,
    steps: &'a [Row],
    differences: &'a [String],
}

impl Book {
    pub fn new(reporter: Arc<Reporter>, schemas: &[String], ledger: &str) -> Book {
        reporter.status("Scope", &format!("every relation and function in the schemas {}", schemas.join(", ")));
        let excluded = vec![format!("schema {ledger}: the host's own ledger, which every step adds to")];
        for e in &excluded {
            reporter.status("Excluded", e);
        }
        Book {
            reporter,
            rows: Vec::new(),
            scope: schemas.to_vec(),
            excluded,
            baseline: None,
            failed_step: None,
            differences: Vec::new(),
        }
    }

    /// The baseline the rollbacks must restore; its sequences are listed
    /// apart, since their positions never roll back.
    pub fn set_baseline(&mut self, state: &State) {
        self.baseline = Some((state.relations(), state.rows(), state.digest().to_string()));
        for (name, (value, called)) in &state.sequences {
            let e = format!(
                "sequence {name} (at {value}{}): positions never roll back",
                if *called { "" } else { ", unused" }
            );
            self.reporter.status("Excluded", &e);
            self.excluded.push(e);
        }
        for (name, object) in &state.objects {
            if object.kind == crate::digest::Kind::ForeignTable {
                let e =
                    format!("the rows of foreign table {name}: they live on another server (its shape is compared)");
                self.reporter.status("Excluded", &e);
                self.excluded.push(e);
            }
        }
    }

    pub fn starting(&self, step: &str) {
        self.reporter.status("Rehearsing", step);
    }

    pub fn push(&mut self, row: Row) {
        let digest = row.digest.as_deref().map(|d| format!(", digest {}", &d[..12])).unwrap_or_default();
        self.reporter.status("Step", &format!("{}: {}{digest} ({} ms)", row.step, row.outcome, row.ms));
        self.rows.push(row);
    }

    /// The digest taken after the last step.
    pub fn digested(&mut self, state: &State, equal: Equal, ms: u128) {
        if let Some(row) = self.rows.last_mut() {
            let d = state.digest();
            row.digest = Some(d.to_string());
            row.equal_to_baseline = equal;
            row.ms = ms;
            self.reporter
                .status("Digest", &format!("{}: {} — equal to the baseline: {}", row.step, &d[..12], equal.as_str()));
        }
    }

    /// The rehearsal failed at `step`.
    pub fn fail(&mut self, step: &str, why: &str) -> Failure {
        self.failed_step = Some(step.to_string());
        Failure::Rehearsal(format!("at `{step}`: {why}"))
    }

    /// The rehearsal failed: `what`. Each difference is shown (the first
    /// ten, each with its lines) and kept in the report; the error names
    /// the first.
    pub fn differs(&mut self, what: &str, diff: &[Difference]) -> Failure {
        let step = self.rows.last().map(|r| r.step.clone()).unwrap_or_default();
        for d in diff.iter().take(10) {
            let text = d.to_string();
            for (i, line) in text.lines().enumerate() {
                self.reporter.status(if i == 0 { "Differs" } else { "" }, line);
            }
            self.differences.push(text);
        }
        if diff.len() > 10 {
            self.reporter.status("Differs", &format!("… and {} more objects", diff.len() - 10));
        }
        let why = match diff.first() {
            Some(first) => {
                let more = if diff.len() > 1 {
                    format!(" (and {} more objects, above)", diff.len() - 1)
                } else {
                    String::new()
                };
                format!("{what}: {}", first.to_string().lines().next().unwrap_or_default()) + &more
            }
            None => format!("{what}: the digests differ, but no single object does (did a change race the reading?)"),
        };
        self.fail(&step, &why)
    }

    /// Prints the table and the verdict, writes the report; the result is
    /// the command's, or exit 9 if only the report was lost.
    pub fn finish(self, result: Result<(), Failure>) -> Result<(), Failure> {
        for line in self.table().lines() {
            self.reporter.result(line);
        }
        let verdict = match (&result, self.baseline.as_ref()) {
            (Ok(()), Some((relations, rows, _))) => {
                let failing = self.rows.iter().any(|r| r.outcome.starts_with("FAILED as injected"));
                let fail_path = if failing { "; every injected tier failure rolled back to the baseline" } else { "" };
                format!(
                    "REHEARSAL OK: rollback restores the baseline exactly ({relations} relations, {rows} rows); \
                     idempotent; run repeatable{fail_path}"
                )
            }
            (Ok(()), None) => "REHEARSAL OK".into(),
            (Err(f), _) => f.to_string(),
        };
        if result.is_ok() {
            self.reporter.result(&verdict);
        }
        let stored = Stored {
            verb: "rehearse",
            outcome: if result.is_ok() { "ok" } else { "failed" },
            message: &verdict,
            scope: &self.scope,
            excluded: &self.excluded,
            baseline_digest: self.baseline.as_ref().map(|b| b.2.as_str()),
            relations: self.baseline.as_ref().map(|b| b.0),
            rows: self.baseline.as_ref().map(|b| b.1),
            steps: &self.rows,
            differences: &self.differences,
        };
        let json = serde_json::to_vec_pretty(&stored).unwrap_or_default();
        let md = self.markdown(&verdict);
        match (self.reporter.finish_files(&[("report.json", json), ("report.md", md.into_bytes())]), result) {
            (Ok(_), Ok(())) => Ok(()),
            (Err(lost), Ok(())) => Err(Failure::ReportLost(format!(
                "{verdict}; but the rehearsal's report was not written: {}",
                lost.join("; ")
            ))),
            (Err(lost), Err(f)) => {
                self.reporter.error(&format!("the rehearsal's report was not written: {}", lost.join("; ")));
                Err(f)
            }
            (Ok(_), Err(f)) => Err(f),
        }
    }

    fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(["#", "step", "outcome", "digest", "= baseline", "time"]);
        for (i, r) in self.rows.iter().enumerate() {
            let digest = r.digest.as_deref().map(|d| d[..12].to_string()).unwrap_or_else(|| "—".into());
            let time = format!("{} ms", r.ms);
            t.add_row([
                (i + 1).to_string(),
                r.step.clone(),
                r.outcome.clone(),
                digest,
                r.equal_to_baseline.as_str().into(),
                time,
            ]);
        }
        format!("Rehearsal\n{t}")
    }

    fn markdown(&self, verdict: &str) -> String {
        let mut md =
            format!("# Rehearsal report — {}\n\n", if verdict.starts_with("REHEARSAL OK") { "OK" } else { "FAILED" });
        md.push_str(&format!("Scope: every relation and function in the schemas {}.\n\n", self.scope.join(", ")));
        md.push_str("Excluded from equality:\n\n");
        for e in &self.excluded {
            md.push_str(&format!("- {}\n", crate::text::markdown(e)));
        }
        md.push_str("\n| # | step | outcome | digest | = baseline | time |\n| --- | --- | --- | --- | --- | --- |\n");
        for (i, r) in self.rows.iter().enumerate() {
            let digest = r.digest.as_deref().map(|d| format!("`{}`", &d[..12])).unwrap_or_else(|| "—".into());
            md.push_str(&format!(
                "| {} | {} | {} | {digest} | {} | {} ms |\n",
                i + 1,
                crate::text::markdown(&r.step),
                crate::text::markdown(&r.outcome),
                r.equal_to_baseline.as_str(),
                r.ms
            ));
        }
        if let Some(step) = &self.failed_step {
            md.push_str(&format!("\nFailed at: {}\n", crate::text::markdown(step)));
        }
        if !self.differences.is_empty() {
            md.push_str("\n## Differences from the baseline\n\n```\n");
            for d in &self.differences {
                for line in d.lines() {
                    md.push_str(&crate::text::terminal(line).replace("```", "'''"));
                    md.push('\n');
                }
            }
            md.push_str("```\n");
        }
        md.push_str(&format!("\n**{}**\n", crate::text::markdown(verdict)));
        md
    }
}

#[cfg(test)]
mod tests {
    use super::{Row, Verb};
    use crate::rehearse::step::Ran;

    fn ran(code: i32, report: Option<serde_json::Value>) -> Ran {
        Ran { code: Some(code), ms: 1, log: "output.log".into(), report }
    }

    #[test]
    fn a_run_without_a_verify_table_is_not_called_rolled_back_or_a_pass() {
        let complete = Row::ran("run", Verb::Run, &ran(0, Some(serde_json::json!({"verify": null}))), 0);
        assert_eq!(complete.outcome, "COMPLETE, no verify table in its report");
        let passed = Row::ran("run", Verb::Run, &ran(0, Some(serde_json::json!({"verify": {"rows": []}}))), 0);
        assert_eq!(passed.outcome, "COMPLETE, verify PASS");
        assert_eq!(Row::ran("rollback", Verb::Rollback, &ran(0, None), 0).outcome, "ROLLED BACK");
    }
}
