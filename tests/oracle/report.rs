//! The oracle's output: the counts per corpus × grant set, and the
//! findings file the checker's authors read (one block per disagreement).

use super::corpus::Corpus;
use super::exec::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

/// What happened to one corpus's statements under one grant set.
#[derive(Default)]
pub struct Counts {
    pub statements: usize,
    pub allowed: usize,
    pub ok: usize,
    pub other: usize,
    pub disagreements: usize,
}

/// One disagreement: the checker allowed `statement` (sent as `sent`) and
/// PostgreSQL or the tripwire said otherwise.
pub struct Finding {
    pub corpus: Corpus,
    pub origin: String,
    pub set: &'static str,
    pub statement: String,
    pub sent: String,
    pub outcome: Outcome,
}

pub fn table(counts: &BTreeMap<(Corpus, &str), Counts>) -> String {
    let mut out = format!(
        "{:<10} {:<14} {:>10} {:>8} {:>7} {:>11} {:>13}\n",
        "corpus", "grant set", "statements", "allowed", "ran OK", "other error", "disagreements"
    );
    for ((corpus, set), n) in counts {
        let _ = writeln!(
            out,
            "{:<10} {:<14} {:>10} {:>8} {:>7} {:>11} {:>13}",
            corpus.to_string(),
            set,
            n.statements,
            n.allowed,
            n.ok,
            n.other,
            n.disagreements
        );
    }
    out
}

fn what(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Denied(e) => format!("PostgreSQL refused it: {e}"),
        Outcome::Tripped { hits, catalog, notices, ledger } => format!(
            "tripwire: {hits} trap function call(s) {notices:?}, {catalog} new catalog reference(s) to trap objects{}",
            if *ledger { ", the ledger changed" } else { "" }
        ),
        Outcome::Memory { peak_mib } => format!(
            "the server process held {peak_mib} MiB more for it (more than memory_mib + {} MiB)",
            super::exec::MEMORY_SLACK_MIB
        ),
        Outcome::Ok => "ran".into(),
        Outcome::OtherError(e) => format!("error: {e}"),
    }
}

fn block(f: &Finding) -> String {
    format!(
        "corpus:    {} ({})\ngrant set: {}\nstatement: {}\nsent:      {}\nresult:    {}\n",
        f.corpus,
        f.origin,
        f.set,
        f.statement.replace('\n', "\n           "),
        f.sent,
        what(&f.outcome)
    )
}

/// How many findings say the same (trap names kept, counts dropped), and
/// under which grant sets.
fn classes(findings: &[Finding]) -> BTreeMap<String, (usize, Vec<&'static str>)> {
    let mut out: BTreeMap<String, (usize, Vec<&'static str>)> = BTreeMap::new();
    for f in findings {
        let class = match &f.outcome {
            Outcome::Tripped { hits, catalog, notices, ledger } => {
                let mut names: Vec<&String> = notices.iter().collect();
                names.dedup();
                let calls = if *hits > 0 { format!("trap calls {names:?}") } else { "no trap call".into() };
                let objects = if *catalog > 0 { ", new catalog references to trap objects" } else { "" };
                let ledger = if *ledger { ", the ledger changed" } else { "" };
                format!("tripwire: {calls}{objects}{ledger}")
            }
            Outcome::Memory { .. } => "the server held more memory than memory_mib allows".into(),
            other => what(other),
        };
        let entry = out.entry(class).or_default();
        entry.0 += 1;
        if !entry.1.contains(&f.set) {
            entry.1.push(f.set);
        }
    }
    out
}

/// The first `most` findings, for the failure message.
pub fn summary(findings: &[Finding], most: usize) -> String {
    let mut out: String = findings.iter().take(most).map(|f| block(f) + "\n").collect();
    if findings.len() > most {
        let _ = writeln!(out, "… and {} more", findings.len() - most);
    }
    out
}

/// Rewrites the findings file (ORACLE_FINDINGS, default
/// target/oracle-findings.txt in the workspace) with every finding; returns its path.
pub fn write_findings(findings: &[Finding], table: &str) -> PathBuf {
    let path = std::env::var_os("ORACLE_FINDINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::root().join("target/oracle-findings.txt"));
    let mut text = format!(
        "Grants oracle findings: {} disagreement(s) between the checker and PostgreSQL.\n\
         Each block: the corpus and where the statement comes from, the grant set, the\n\
         statement, the deparsed text the host sends, what PostgreSQL or the tripwire said.\n\n{table}\n",
        findings.len()
    );
    text.push_str("By result:\n");
    for (class, (n, sets)) in classes(findings) {
        let _ = writeln!(text, "{n:>6}  {class}  [{}]", sets.join(", "));
    }
    text.push('\n');
    for f in findings {
        text.push_str(&block(f));
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write the findings to {}: {e}", path.display());
    }
    path
}
