//! `host rehearse`'s report: the same pipeline as a rollout's (the printer
//! shows its step table; `report.json` and `report.md` are a pure function
//! of one typed value, [`Rehearsal`], plugin and database text escaped by
//! [`text::markdown`] in the Markdown, exact in the JSON). The rehearsal
//! (`rehearse::record`) fills it; it renders nothing itself.

use crate::printer::new_table;
use crate::text::{self, markdown as md};
use comfy_table::Table;
use serde::{Deserialize, Serialize};

/// Whether a step's digest equals the baseline's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn as_str(self) -> &'static str {
        match self {
            Equal::Reference => "reference",
            Equal::Yes => "yes",
            Equal::No => "NO",
            Equal::NotCompared => "—",
        }
    }
}

/// One line of the step table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub outcome: String,
    /// The state's digest after the step, if one was taken.
    pub digest: Option<String>,
    pub equal_to_baseline: Equal,
    pub ms: u128,
    /// The step command's output, for the steps that ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// A sequence a step moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moved {
    pub step: String,
    pub sequence: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub drawn: String,
    pub left: Option<String>,
    pub range: Option<String>,
    pub warning: Option<String>,
}

/// Everything the rehearsal's report says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rehearsal {
    pub verb: String,
    pub outcome: String,
    pub message: String,
    pub scope: Vec<String>,
    pub net: Vec<String>,
    pub excluded: Vec<String>,
    pub baseline_digest: Option<String>,
    pub relations: Option<usize>,
    pub rows: Option<u64>,
    pub net_relations: Option<usize>,
    pub net_rows: Option<u64>,
    pub steps: Vec<Step>,
    /// The step it failed at, if it failed at one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    pub differences: Vec<String>,
    pub sequences: Vec<Moved>,
    pub warnings: Vec<String>,
    /// What each step's tiers sent, step by step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<super::statements::StepSql>,
}

/// The first 12 hex digits of a digest, as shown.
fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

impl Rehearsal {
    /// The step table, for the printer.
    pub fn table(&self) -> Table {
        let mut t = new_table(&["#", "step", "outcome", "digest", "= baseline", "time"]);
        for (i, r) in self.steps.iter().enumerate() {
            let digest = r.digest.as_deref().map(short).unwrap_or_else(|| "—".into());
            t.add_row(vec![
                (i + 1).to_string(),
                text::cell(&r.step, text::CELL_BYTES),
                text::cell(&r.outcome, text::CELL_BYTES),
                digest,
                r.equal_to_baseline.as_str().into(),
                format!("{} ms", r.ms),
            ]);
        }
        t
    }

    /// `report.json` and `report.md`.
    pub fn files(&self) -> [(&'static str, Vec<u8>); 2] {
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        [("report.json", json), ("report.md", self.markdown().into_bytes())]
    }

    /// `report.md`.
    pub fn markdown(&self) -> String {
        let ok = self.outcome == "ok";
        let mut out = format!("# Rehearsal report — {}\n\n", if ok { "OK" } else { "FAILED" });
        out.push_str(&format!("Scope, exactly: {}.\n\n", md(&self.scope.join("; "))));
        out.push_str(&format!(
            "The whole-database net (a row count and a hash per relation): every other object of the user schemas \
             {}.\n\n",
            md(&self.net.join(", "))
        ));
        out.push_str("Excluded from equality:\n\n");
        for e in &self.excluded {
            out.push_str(&format!("- {}\n", md(e)));
        }
        out.push_str("\n| # | step | outcome | digest | = baseline | time |\n| --- | --- | --- | --- | --- | --- |\n");
        for (i, r) in self.steps.iter().enumerate() {
            let digest = r.digest.as_deref().map(|d| format!("`{}`", md(&short(d)))).unwrap_or_else(|| "—".into());
            out.push_str(&format!(
                "| {} | {} | {} | {digest} | {} | {} ms |\n",
                i + 1,
                md(&r.step),
                md(&r.outcome),
                r.equal_to_baseline.as_str(),
                r.ms
            ));
        }
        if let Some(step) = &self.failed_step {
            out.push_str(&format!("\nFailed at: {}\n", md(step)));
        }
        if !self.sequences.is_empty() {
            out.push_str("\n## Sequences moved\n\n| step | sequence | before → after | drawn | left | range |\n");
            out.push_str("| --- | --- | --- | --- | --- | --- |\n");
            for m in &self.sequences {
                let or = |v: &Option<String>| md(v.as_deref().unwrap_or("—"));
                out.push_str(&format!(
                    "| {} | {} | {} → {} | {} | {} | {} |\n",
                    md(&m.step),
                    md(&m.sequence),
                    or(&m.before),
                    or(&m.after),
                    md(&m.drawn),
                    or(&m.left),
                    or(&m.range)
                ));
            }
        }
        if !self.warnings.is_empty() {
            out.push_str("\n## Warnings\n\n");
            for w in &self.warnings {
                out.push_str(&format!("- **{}**\n", md(w)));
            }
        }
        if !self.differences.is_empty() {
            out.push_str("\n## Differences from the baseline\n\n```\n");
            for d in &self.differences {
                for line in d.lines() {
                    out.push_str(&text::terminal(line).replace("```", "'''"));
                    out.push('\n');
                }
            }
            out.push_str("```\n");
        }
        out.push_str(&super::statements::rehearsal_markdown(&self.sql));
        out.push_str(&format!("\n**{}**\n", md(&self.message)));
        out
    }
}
