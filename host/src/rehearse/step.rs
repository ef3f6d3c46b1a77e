//! One step of a rehearsal: this very `host` binary, run as the operator
//! would run it (`host run …`, `host rollback …`) against the copy, with
//! the same plugins, lock file and parameters. Its screen output goes to a
//! log file and its own report into the step's directory, so every step is
//! exactly the command production will see, and leaves the same evidence.

use crate::rehearsal_copy::Identity;
use crate::signal::Interrupt;
use anyhow::{Context as _, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// The verb a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Run,
    Rollback,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Run => "run",
            Verb::Rollback => "rollback",
        }
    }
}

/// How to start the host against the copy: the binary, and the plan's
/// arguments shared by every step (`--tiers …`, `--param …`, `--lock …`).
pub struct Launcher {
    pub exe: PathBuf,
    pub plan_args: Vec<OsString>,
    pub copy_url: String,
    /// The copy's server and database, as the rehearsal's digests read it.
    pub copy: Identity,
    pub interrupt: Interrupt,
}

/// What a step's command did.
#[derive(Debug)]
pub struct Ran {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub ms: u128,
    /// Everything it printed.
    pub log: PathBuf,
    /// Its `report.json`, read as the typed summary it wrote.
    pub report: Option<crate::report::Summary>,
}

impl Ran {
    /// The verify table of a run, as its report recorded it.
    pub fn verify(&self) -> Option<&crate::report::CheckTable> {
        self.report.as_ref().and_then(|r| r.verify.as_ref())
    }

    /// The last lines the command printed, for a step that went wrong.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Launcher {
    /// Runs `host <verb> <plan args> <extra> --reports <dir>` on the copy and
    /// waits for it. Ctrl-C reaches it as it reaches this process (one
    /// process group); a SIGTERM sent to this process alone is passed on
    /// as SIGINT, so the step winds down as an interrupted command does.
    pub async fn run(&self, verb: Verb, extra: &[String], dir: &Path) -> Result<Ran> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let log = dir.join("output.log");
        let out = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot share the step's log file")?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&self.exe)
            .arg(verb.as_str())
            .args(&self.plan_args)
            .args(extra)
            // Every connection of the step proves it stands on this server
            // and database, marked as a copy, before it runs anything.
            .arg("--rehearsal-copy")
            .arg(self.copy.to_arg())
            .arg("--reports")
            .arg(dir)
            .env("HOST_DATABASE_URL", &self.copy_url)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        let status = tokio::select! {
            s = child.wait() => s,
            _ = self.interrupt.wait() => {
                if let Some(pid) = child.id() {
                    // SAFETY: kill(2) with a pid this process started and has not reaped.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                }
                child.wait().await
            }
        }
        .with_context(|| format!("waiting for `host {}`", verb.as_str()))?;
        let report = report_of(dir);
        Ok(Ran { code: status.code(), ms: started.elapsed().as_millis(), log, report })
    }
}

/// The `report.json` the command wrote in its own directory under `dir`,
/// as the typed summary (a file that does not read as one is no report).
fn report_of(dir: &Path) -> Option<crate::report::Summary> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("report.json"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}
