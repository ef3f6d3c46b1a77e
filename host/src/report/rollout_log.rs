//! `rollout.log`: the first file of a command's report directory, proven
//! writable before anything touches the database, then every line of the
//! story, timestamped.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A command's `rollout.log` (none when the command writes no report).
#[derive(Default)]
pub(super) struct RolloutLog {
    inner: Mutex<Log>,
}

/// `rollout.log`, and the first write to it that failed: after that the
/// log stops (a log with a hole would look whole), and the command says so.
#[derive(Default)]
struct Log {
    file: Option<File>,
    failed: Option<String>,
}

impl RolloutLog {
    /// Creates the report directory `<root>/<time>-<verb>-<pid>/` and its
    /// `rollout.log`, whose first line is written and synced here: a
    /// read-only or already full directory is an error now.
    pub(super) fn create(root: &Path, verb: &str, started: DateTime<Utc>) -> Result<(RolloutLog, PathBuf)> {
        let dir = root.join(format!("{}-{verb}-{}", started.format("%Y%m%dT%H%M%S%.3fZ"), std::process::id()));
        // A new directory of its own: a report never lands in (or over)
        // files that were there before.
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the reports directory {}", root.display()))?;
        std::fs::create_dir(&dir).with_context(|| format!("cannot create the report directory {}", dir.display()))?;
        let header = format!(
            "{} host {verb} {} (pid {}) writes its report here\n",
            started.format("%H:%M:%S%.3f"),
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(dir.join("rollout.log"))
            .and_then(|mut f| f.write_all(header.as_bytes()).and_then(|_| f.sync_data()).map(|_| f));
        match file {
            Ok(f) => Ok((RolloutLog { inner: Mutex::new(Log { file: Some(f), failed: None }) }, dir)),
            Err(e) => {
                // Nothing of it is useful; the error names the directory.
                let _ = std::fs::remove_dir_all(&dir);
                Err(e).with_context(|| {
                    format!(
                        "cannot write in the report directory {}, so the {verb} did not start and nothing touched \
                         the database",
                        dir.display()
                    )
                })
            }
        }
    }

    /// Appends `text`'s lines, each timestamped, in one write; after a
    /// failed write, nothing more.
    pub(super) fn write(&self, text: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let log = &mut *guard;
        if log.failed.is_some() {
            return;
        }
        let Some(f) = log.file.as_mut() else {
            return;
        };
        let now = chrono::Utc::now().format("%H:%M:%S%.3f").to_string();
        // One write per call: a line is never split across writes.
        let lines: String = text.lines().map(|line| format!("{now} {line}\n")).collect();
        if let Err(e) = f.write_all(lines.as_bytes()) {
            log.failed = Some(format!("writing stopped at {now}: {e}"));
        }
    }

    /// Syncs `rollout.log` to disk and closes it; says if any of it was lost.
    pub(super) fn close(&self) -> Result<(), String> {
        let mut log = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(file) = log.file.take() else {
            return Ok(());
        };
        if let Some(failed) = log.failed.take() {
            return Err(failed);
        }
        file.sync_all().map_err(|e| format!("cannot sync it to disk: {e}"))
    }
}
