//! `host report ROLLOUT_ID`: the report the ledger keeps, written again,
//! byte for byte what the command wrote (see `report::stored`). It reads
//! only: no lock, no ledger upgrade, no plugin, no engine, so it works from
//! any machine that can connect while a rollout runs.

use crate::db;
use crate::error::Failure;
use crate::ledger::{self, Stored};
use crate::printer::Tone;
use crate::report::stored;
use anyhow::Context as _;
use rollout_connect::Target;
use std::path::{Path, PathBuf};

/// Where `host report` writes the two files.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A new directory of its own under `--reports`, as every verb makes.
    Under(PathBuf),
    /// `--out DIR`: that directory, created if missing, holding neither file.
    Exactly(PathBuf),
}

/// Reads rollout `id`'s report from the ledger and writes `report.json` and
/// `report.md`. Exit 7 when the ledger has no such report, 2 when a file is
/// there already, 9 when the files cannot be written.
pub async fn report(target: &Target, id: i64, to: &Destination) -> Result<(), Failure> {
    let client = target.connect(&format!("host report pid {}", std::process::id())).await.map_err(Failure::Database)?;
    let database = db::current_database(&client).await.map_err(Failure::Database)?;
    let refuse = |why: String| Err(Failure::LedgerState(why));
    let text = match ledger::stored(&client, id).await? {
        Stored::Report(text) => text,
        Stored::NoLedger => {
            return refuse(format!(
                "database `{database}` has no ledger (no `host run` or `host rollback` ever ran here), so no rollout \
                 {id}; connect to the database the rollout ran against"
            ))
        }
        Stored::NoRollout => {
            return refuse(format!(
                "the ledger of database `{database}` has no rollout {id}; `host status` lists the latest rollouts"
            ))
        }
        Stored::Missing { outcome, host_version } => {
            let why = match outcome.as_str() {
                "running" => "it is still marked running (`host status` says whether a host still runs it); its \
                              report is stored when it closes"
                    .to_string(),
                "abandoned" => "its host stopped without closing it, so no report was stored; `host status` shows \
                                what the ledger knows"
                    .to_string(),
                _ => format!(
                    "it was closed `{outcome}` by host {host_version}, before the ledger stored reports; its report \
                     is only in the report directory that command wrote"
                ),
            };
            return refuse(format!("rollout {id} has no stored report: {why}"));
        }
    };
    let summary = stored::from_ledger(&text).map_err(|e| Failure::LedgerState(format!("rollout {id}: {e:#}")))?;
    let dir = directory(to, id).map_err(Failure::Plan)?;
    let failed = stored::write_files(&dir, &summary);
    if !failed.is_empty() {
        return Err(Failure::ReportLost(format!(
            "the report of rollout {id} was not written in {}: {}; the ledger still keeps it: name another --out",
            dir.display(),
            failed.join("; ")
        )));
    }
    let what = format!("rollout {id} ({}, {}) of database `{}`", summary.verb, summary.outcome, summary.database);
    let printer = crate::printer::get();
    printer.status(Tone::Progress, "Read", &format!("{what} from the ledger"));
    printer.status(Tone::Progress, "Report", &format!("written in {}", dir.display()));
    Ok(())
}

/// The directory to write in: new under `--reports`, or `--out` holding
/// neither file (a report is never written over another file).
fn directory(to: &Destination, id: i64) -> anyhow::Result<PathBuf> {
    match to {
        Destination::Under(root) => {
            let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
            let dir = root.join(format!("{now}-report-{id}-{}", std::process::id()));
            std::fs::create_dir_all(root)
                .with_context(|| format!("cannot create the reports directory {}", root.display()))?;
            std::fs::create_dir(&dir)
                .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
            Ok(dir)
        }
        Destination::Exactly(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the directory {}", dir.display()))?;
            for name in stored::FILES {
                refuse_existing(&dir.join(name))?;
            }
            Ok(dir.clone())
        }
    }
}

fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot check {}", path.display())),
        Ok(_) => anyhow::bail!(
            "refusing to write {}: it exists (a report is never written over a file); name a new --out directory",
            path.display()
        ),
    }
}
