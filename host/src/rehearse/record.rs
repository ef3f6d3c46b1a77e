//! What a rehearsal shows and keeps: a line per step as it happens, the
//! step table at the end, the verdict line, and `report.json` /
//! `report.md` in the rehearsal's own report directory (each step's own
//! command report lies under `steps/`). It fills the typed report
//! ([`Rehearsal`]); the report module renders it.

use super::row::{Equal, Row};
use crate::digest::{Difference, Move, Reach, Scope, State};
use crate::error::Failure;
use crate::report::rehearsal::{Moved, Rehearsal};
use crate::report::statements::{self, StepSql};
use crate::report::Reporter;
use std::sync::Arc;

/// The baseline's size, as the verdict says it.
#[derive(Debug, Clone)]
struct Baseline {
    relations: usize,
    rows: u64,
    net_relations: usize,
    net_rows: u64,
    large_objects: usize,
    digest: String,
}

/// The rehearsal's record.
pub struct Book {
    reporter: Arc<Reporter>,
    rows: Vec<Row>,
    scope: Vec<String>,
    net: Vec<String>,
    excluded: Vec<String>,
    baseline: Option<Baseline>,
    failed_step: Option<String>,
    /// Each difference found, as shown.
    differences: Vec<String>,
    /// Every sequence a step moved, and the warnings among them.
    sequences: Vec<Moved>,
    warnings: Vec<String>,
    /// What each step's tiers sent, from its report.
    sql: Vec<StepSql>,
}

impl Book {
    pub fn new(reporter: Arc<Reporter>, scope: &Scope) -> Book {
        let mut exact = vec![format!("every object in the schemas {}", scope.schemas.join(", "))];
        exact.extend(scope.relations.iter().map(|(s, n)| format!("the relation {s}.{n}")));
        reporter.status("Scope", &format!("exactly, row by row: {}", exact.join("; ")));
        let excluded: Vec<String> =
            crate::digest::HOST_SCHEMAS.iter().map(|(s, why)| format!("schema {s}: {why}")).collect();
        for e in &excluded {
            reporter.status("Excluded", e);
        }
        Book {
            reporter,
            rows: Vec::new(),
            scope: exact,
            net: Vec::new(),
            excluded,
            baseline: None,
            failed_step: None,
            differences: Vec::new(),
            sequences: Vec::new(),
            warnings: Vec::new(),
            sql: Vec::new(),
        }
    }

    /// The baseline the rollbacks must restore; its sequences are listed
    /// apart, since their positions never roll back.
    pub fn set_baseline(&mut self, state: &State) {
        self.baseline = Some(Baseline {
            relations: state.relations(Reach::Exact),
            rows: state.rows(Reach::Exact),
            net_relations: state.relations(Reach::Net),
            net_rows: state.rows(Reach::Net),
            large_objects: state.large_objects(),
            digest: state.digest().to_string(),
        });
        let everywhere = if state.net_schemas.is_empty() { "none".to_string() } else { state.net_schemas.join(", ") };
        let net = format!(
            "the whole-database net: every other object of every user schema ({everywhere}): its shape, and per \
             relation a row count and a hash"
        );
        self.reporter.status("Scope", &net);
        self.net = state.net_schemas.clone();
        let e = format!(
            "the positions of {} sequences from equality: they never roll back; each step shows the ones it moved \
             and the margin left, and one set back behind the baseline fails the rehearsal",
            state.sequences.len()
        );
        self.reporter.status("Excluded", &e);
        self.excluded.push(e);
        for (name, object) in &state.objects {
            if object.kind == crate::digest::Kind::ForeignTable {
                let e =
                    format!("the rows of foreign table {name}: they live on another server (its shape is compared)");
                self.reporter.status("Excluded", &e);
                self.excluded.push(e);
            }
        }
    }

    /// The sequences the step `step` moved: each shown, a danger warned.
    pub fn sequences(&mut self, step: &str, moves: &[Move]) {
        for m in moves {
            self.reporter.status("Sequence", &m.to_string());
            let warning = m.warning().map(|w| format!("after `{step}`: {w}"));
            if let Some(w) = &warning {
                self.reporter.status("WARNING", w);
                self.warnings.push(w.clone());
            }
            let n = |v: i128| v.to_string();
            self.sequences.push(Moved {
                step: step.to_string(),
                sequence: m.sequence.clone(),
                before: m.before.map(|s| s.position()),
                after: m.after.map(|s| s.position()),
                drawn: n(m.drawn()),
                left: m.after.map(|s| n(s.left())),
                range: m.after.map(|s| n(s.range())),
                warning,
            });
        }
    }

    pub fn starting(&self, step: &str) {
        self.reporter.status("Rehearsing", step);
    }

    pub fn push(&mut self, row: Row) {
        let digest = row.digest.as_deref().map(|d| format!(", digest {}", &d[..12])).unwrap_or_default();
        self.reporter.status("Finished", &format!("step `{}`: {}{digest} ({} ms)", row.step, row.outcome, row.ms));
        self.rows.push(row);
    }

    /// What the step `step`'s tiers sent, as its report says.
    pub fn sent(&mut self, step: &str, ran: &super::step::Ran) {
        if let Some(report) = &ran.report {
            self.sql.extend(statements::of_step(step, report));
        }
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

    /// The step `step` refused the database it reached: the rehearsal is
    /// refused, as its own connections would have been.
    pub fn refused(&mut self, step: &str, why: &str) -> Failure {
        self.failed_step = Some(step.to_string());
        Failure::WrongDatabase(format!("rehearsal refused at `{step}`: {why}"))
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
    /// the command's, or exit 9 if only the report was lost. With
    /// `--format json` the report is also the result on stdout.
    pub fn finish(self, result: Result<(), Failure>) -> Result<(), Failure> {
        let verdict = match (&result, self.baseline.as_ref()) {
            (Ok(()), Some(b)) => {
                let failing = self.rows.iter().any(|r| r.outcome.starts_with("FAILED as injected"));
                let fail_path = if failing { "; every injected tier failure rolled back to the baseline" } else { "" };
                let warned = match self.warnings.len() {
                    0 => String::new(),
                    1 => "; WARNING: a sequence is near its bound (above)".to_string(),
                    n => format!("; WARNING: {n} sequence positions near their bound (above)"),
                };
                // What the digest does not read is said on the line itself:
                // "exactly" holds for what it compares, no further.
                format!(
                    "REHEARSAL OK: rollback restores the baseline exactly ({} relations, {} rows; the whole-database \
                     net: {} relations, {} rows; {} large objects; not compared: {}); idempotent; run \
                     repeatable{fail_path}{warned}",
                    b.relations,
                    b.rows,
                    b.net_relations,
                    b.net_rows,
                    b.large_objects,
                    crate::digest::NOT_COMPARED
                )
            }
            (Ok(()), None) => "REHEARSAL OK".into(),
            (Err(f), _) => f.to_string(),
        };
        let rehearsal = Rehearsal {
            verb: "rehearse".into(),
            outcome: if result.is_ok() { "ok" } else { "failed" }.into(),
            message: verdict.clone(),
            scope: self.scope,
            net: self.net,
            excluded: self.excluded,
            baseline_digest: self.baseline.as_ref().map(|b| b.digest.clone()),
            relations: self.baseline.as_ref().map(|b| b.relations),
            rows: self.baseline.as_ref().map(|b| b.rows),
            net_relations: self.baseline.as_ref().map(|b| b.net_relations),
            net_rows: self.baseline.as_ref().map(|b| b.net_rows),
            steps: self.rows,
            failed_step: self.failed_step,
            differences: self.differences,
            sequences: self.sequences,
            warnings: self.warnings,
            sql: self.sql,
        };
        if !rehearsal.sql.is_empty() {
            let at = match self.reporter.dir() {
                Some(dir) => format!("{} (\"The SQL of step …\")", dir.join("report.md").display()),
                None => "no report directory: the steps' reports only".into(),
            };
            let line = format!(
                "what each step's tiers sent: {at}; while the copy lives, its ledger has it too: \
                 `host inspect --sql PLUGIN --db COPY`"
            );
            self.reporter.status("SQL", &crate::text::terminal(&line));
        }
        self.reporter.table_of("Rehearsal", rehearsal.table(), &[]);
        for w in &rehearsal.warnings {
            self.reporter.result(&format!("WARNING: {w}"));
        }
        if result.is_ok() {
            self.reporter.result(&verdict);
        }
        if crate::printer::get().json() {
            crate::printer::get().result_json(&rehearsal);
        }
        match (self.reporter.finish_files(&rehearsal.files()), result) {
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
}
