//! The report as the ledger keeps it, and its files written from it.
//!
//! When a rollout closes, its [`Summary`] goes to the ledger's
//! `rollout.report` (jsonb), and the command writes `report.json` and
//! `report.md` from the summary read back from that very value. `host report
//! ID` reads the jsonb and renders the same two files, byte for byte: jsonb
//! reorders object keys and rewrites numbers, but the summary is a typed
//! struct of strings and integers, so it reads back into the same fields and
//! serialises again in field order.
//!
//! `rollout.log` is not stored: it is the stream of everything printed,
//! plugin logs included, as long as plugins make it, and the ledger lives in
//! the production database. What the report shows is stored; the log is not
//! part of the byte-for-byte promise.

use super::{markdown, Summary};
use crate::ledger;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The files rendered from a summary, in the order they are written.
pub const FILES: [&str; 2] = ["report.json", "report.md"];

/// The summary as the ledger can hold it (U+0000 shown as U+FFFD, see
/// [`ledger::storable`]) and the value to store. The summary is read back
/// from the value, so what the command writes is what the ledger holds.
pub fn storable(summary: &Summary) -> Result<(Summary, serde_json::Value)> {
    let value = ledger::storable_json(serde_json::to_value(summary).context("the report does not serialise")?);
    let summary = serde_json::from_value(value.clone()).context("the report does not read back")?;
    Ok((summary, value))
}

/// A summary from the ledger's jsonb text. A field this host does not know
/// is refused, never dropped: the files would no longer be what was stored.
pub fn from_ledger(text: &str) -> Result<Summary> {
    serde_json::from_str(text).context("this host cannot read the stored report (another host version stored it?)")
}

/// `report.json` and `report.md`: a pure function of the summary.
pub fn render(summary: &Summary) -> Result<[String; 2]> {
    let json = serde_json::to_string_pretty(summary).context("the report does not serialise")?;
    Ok([json, markdown::render(summary)])
}

/// Writes the files into `dir`, each whole, synced, and never over an
/// existing file; returns what could not be written, by its cause
/// (`report.json: No space left on device (os error 28)`).
pub fn write_files(dir: &Path, summary: &Summary) -> Vec<String> {
    let rendered = match render(summary) {
        Ok(r) => r,
        Err(e) => return vec![format!("{}: {e:#}", FILES.join(" and "))],
    };
    FILES
        .iter()
        .zip(rendered)
        .filter_map(|(name, text)| {
            crate::outfile::write_new(&dir.join(name), text.as_bytes())
                .err()
                .map(|e| format!("{name}: {}", e.root_cause()))
        })
        .collect()
}

/// A report that was not written, or not wholly: what is missing, what
/// the command itself did, and where the report is kept.
#[derive(Debug)]
pub struct Lost {
    pub dir: PathBuf,
    /// `file: why`, one per file not written.
    pub failed: Vec<String>,
    pub summary: Box<Summary>,
    /// The ledger holds the summary (`host report ID` writes it again).
    pub in_ledger: bool,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "the report of this {} was not written in {}: {}. ",
            s.verb,
            self.dir.display(),
            self.failed.join("; ")
        )?;
        let rollout = s.rollout_id.map(|id| format!("rollout {id}: ")).unwrap_or_default();
        // Capped, so that the way back below is never cut off the line.
        let shown = crate::text::terminal_within(s.message.trim(), 400);
        let message = if s.message.is_empty() { String::new() } else { format!(" ({rollout}{shown})") };
        match s.outcome.as_str() {
            "complete" => write!(f, "The database change itself completed{message}. ")?,
            "rolled_back" => write!(f, "The rollback itself completed{message}. ")?,
            "ok" => write!(f, "The {} itself succeeded{message}. ", s.verb)?,
            other => write!(f, "The {} itself ended `{other}`{message}. ", s.verb)?,
        }
        match s.rollout_id {
            Some(id) if self.in_ledger => write!(
                f,
                "The ledger keeps its report: `host report {id}` writes report.json and report.md again, from \
                 this machine or any other (--out DIR says where; rollout.log is not kept in the ledger)"
            ),
            Some(id) => write!(
                f,
                "The ledger could not store the report either (see above): the output above is all that is left of \
                 it; `host status` shows rollout {id} in the ledger"
            ),
            None => write!(f, "Nothing of this {} is in the ledger: the output above is all there is", s.verb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FileRecord, Record};
    use crate::report::{CheckTable, MetricResult, MetricRow, TierRow};

    fn table(name: &str) -> CheckTable {
        let metric = |n: &str, result| MetricRow {
            name: n.into(),
            expected: "0".into(),
            actual: "\x1b[2J\u{202e} | <b>".into(),
            result,
        };
        CheckTable {
            plugin: name.into(),
            title: format!("Probe {name}"),
            passed: false,
            metrics: vec![metric("b", MetricResult::Fail), metric("a", MetricResult::Info)],
            problems: vec!["declared metric `c` is missing".into()],
        }
    }

    fn summary() -> Summary {
        Summary {
            verb: "run".into(),
            rollout_id: Some(i64::MAX),
            database: "directus".into(),
            operator: "op".into(),
            params: [("z".to_string(), "1".to_string()), ("a".to_string(), "\"2\"".to_string())].into(),
            plugins: vec![Record {
                name: "gate".into(),
                kind: "gate".into(),
                ordinal: None,
                sha256: "ab".into(),
                files: vec![FileRecord { name: "f.csv".into(), sha256: "cd".into() }],
            }],
            started_at: "2026-01-01T00:00:00.000001+00:00".into(),
            ended_at: "2026-01-01T00:00:01+00:00".into(),
            gate: Some(table("gate")),
            tiers: vec![TierRow {
                ordinal: u32::MAX,
                plugin: "t".into(),
                action: "apply".into(),
                outcome: "failed".into(),
                duration_ms: u128::from(u64::MAX),
                statements: u64::MAX,
                rows_changed: 0,
                message: Some("nul \0 here".into()),
                conditions: Some(table("t")),
                changes: vec![crate::sql::Change {
                    relation: "s.t".into(),
                    op: crate::sql::check::Op::Insert,
                    rows: u64::MAX,
                }],
                changed: vec![crate::audit::Changed {
                    relation: "crm.child".into(),
                    inserted: 0,
                    updated: 2,
                    deleted: u64::MAX,
                    not_granted: vec![crate::sql::check::Op::Update],
                }],
                lock_retries: u64::MAX,
                footprint: vec![crate::report::footprint::LockHeld {
                    relation: "s.t".into(),
                    index: false,
                    mode: "ACCESS EXCLUSIVE".into(),
                    held_ms: u64::MAX,
                    rewritten: Some(true),
                    waiters: u32::MAX,
                    max_wait_ms: 0,
                    sessions: vec![crate::report::footprint::WaitedBy {
                        pid: i32::MIN,
                        application: "`| \0".into(),
                        lock: "tuple".into(),
                        waited_ms: u64::MAX,
                        behind: Some(i32::MAX),
                    }],
                }],
                batches: None,
                sql: Some({
                    let mut sent = crate::sql::sent::Sent::default();
                    let types = vec!["$1 int8".to_string()];
                    sent.record(
                        "UPDATE s.t SET a = $1 -- |\0",
                        crate::sql::sent::Effect::MayChange,
                        types,
                        false,
                        3,
                        std::time::Duration::from_micros(1500),
                    );
                    sent
                }),
            }],
            verify: None,
            probes: vec![table("p")],
            outcome: "failed".into(),
            message: "tier failed: \0".into(),
            roles: [("gate".to_string(), "rollout_gate".to_string())].into(),
            logs: vec![crate::report::PluginLog {
                plugin: "t".into(),
                level: "warn".into(),
                message: "two\nlines | and \0 a NUL".into(),
            }],
            logs_left_out: u64::MAX,
            lock: Some(crate::report::LockRecord {
                file: "plan|\0.lock".into(),
                sha256: "ef".into(),
                signature: crate::report::Signature::Verified,
                signer: "alice@example.com".into(),
                key: "SHA256:x".into(),
                checked_at: "2026-01-01T00:00:00+00:00".into(),
            }),
        }
    }

    /// What jsonb does to the stored value: keys in its own order (by
    /// length, then bytes), whitespace of its own.
    fn as_jsonb_would(value: &serde_json::Value) -> String {
        fn canon(v: &serde_json::Value) -> String {
            match v {
                serde_json::Value::Object(o) => {
                    let mut keys: Vec<&String> = o.keys().collect();
                    keys.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
                    let fields: Vec<String> =
                        keys.iter().map(|k| format!("{}: {}", serde_json::json!(k), canon(&o[*k]))).collect();
                    format!("{{{}}}", fields.join(", "))
                }
                serde_json::Value::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(", ")),
                other => other.to_string(),
            }
        }
        canon(value)
    }

    #[test]
    fn the_files_read_back_from_the_stored_value_are_the_same_bytes() {
        let (sealed, value) = storable(&summary()).unwrap();
        let again = from_ledger(&as_jsonb_would(&value)).unwrap();
        assert_eq!(again, sealed);
        assert_eq!(render(&again).unwrap(), render(&sealed).unwrap());
        // PostgreSQL cannot hold U+0000: the stored and written text show U+FFFD.
        assert_eq!(sealed.message, "tier failed: \u{fffd}");
        assert_eq!(sealed.tiers[0].message.as_deref(), Some("nul \u{fffd} here"));
        assert!(!value.to_string().contains("\\u0000"), "{value}");
    }

    #[test]
    fn a_field_this_host_does_not_know_is_refused_not_dropped() {
        let (_, mut value) = storable(&summary()).unwrap();
        value["exit_code"] = 0.into();
        let e = format!("{:#}", from_ledger(&value.to_string()).unwrap_err());
        assert!(e.contains("unknown field `exit_code`"), "{e}");
    }

    #[test]
    fn a_lost_report_says_what_the_command_did_and_how_to_get_it_back() {
        let mut s = summary();
        s.outcome = "complete".into();
        s.message = "ROLLOUT COMPLETE — ALL TIERS PASSED".into();
        s.rollout_id = Some(12);
        let lost = Lost {
            dir: "reports/x".into(),
            failed: vec!["report.json: cannot write".into()],
            summary: Box::new(s.clone()),
            in_ledger: true,
        };
        let text = lost.to_string();
        assert!(text.contains("The database change itself completed (rollout 12: ROLLOUT COMPLETE"), "{text}");
        assert!(text.contains("`host report 12`"), "{text}");
        let text = Lost { in_ledger: false, ..lost }.to_string();
        assert!(!text.contains("host report"), "{text}");
        s.rollout_id = None;
        s.outcome = "ok".into();
        s.verb = "gate".into();
        let text = Lost { dir: "d".into(), failed: vec![], summary: Box::new(s), in_ledger: false }.to_string();
        assert!(text.contains("Nothing of this gate is in the ledger"), "{text}");
    }
}
