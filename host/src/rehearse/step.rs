//! One step of a rehearsal: this very `host` binary, running the runbook
//! the operator's `host run …` or `host rollback …` runs
//! ([`runbook::launch`]) against the copy, with the same plugins, lock
//! file and parameters. Its screen output goes to a log file and its own
//! report into the step's directory, so every step is exactly the command
//! production will see, and leaves the same evidence.
//!
//! The contract between the rehearsal and its step is one typed value,
//! [`Spec`]: the options `host run` parses ([`RunArgs`]) and what the
//! rehearsal asks of the step ([`RehearsalStep`]), written as JSON into
//! one environment variable by [`Launcher::run`] and read back by
//! [`run_step`] (the hidden verb `host rehearsal-step`). The environment
//! keeps the copy's connection string out of the process list.

use crate::error::Failure;
use crate::rehearsal_copy::Identity;
use crate::runbook::{self, ConnArgs, PlanArgs, RehearsalStep, RunArgs};
use crate::signal::Interrupt;
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// The environment variable a step's [`Spec`] travels in.
const SPEC: &str = "HOST_REHEARSAL_STEP";

/// Everything a step is told.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    verb: Verb,
    args: RunArgs,
    asked: RehearsalStep,
}

impl Spec {
    /// A step that runs `verb` with `args`, as `asked`.
    pub fn new(verb: Verb, args: RunArgs, asked: RehearsalStep) -> Spec {
        Spec { verb, args, asked }
    }

    /// The step's options as [`Spec::env`] wrote them; anything else is refused.
    fn read(text: &str) -> Result<Spec, Failure> {
        serde_json::from_str(text)
            .map_err(|e| Failure::Plan(anyhow::anyhow!("{SPEC} is not a rehearsal step's options: {e}")))
    }

    /// The environment variable and its value that hand this step its
    /// options (`host rehearsal-step` reads them: [`run_step`]).
    pub fn env(&self) -> Result<(&'static str, String)> {
        Ok((SPEC, serde_json::to_string(self).context("cannot write the step's options")?))
    }
}

/// `host rehearsal-step`: the step [`SPEC`] describes, run as its verb is.
pub async fn run_step() -> Result<(), Failure> {
    let text = std::env::var(SPEC).map_err(|_| {
        Failure::Plan(anyhow::anyhow!("`host rehearsal-step` is started by `host rehearse` only (no {SPEC} given)"))
    })?;
    let spec = Spec::read(&text)?;
    let verb = match spec.verb {
        Verb::Run => runbook::Verb::Run,
        Verb::Rollback => runbook::Verb::Rollback { tier: None },
    };
    runbook::launch(verb, &spec.args, spec.asked).await
}

/// The verb a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// How to start the host against the copy: the binary, and the plan every
/// step runs (`--tiers …`, `--param …`, `--lock …`).
pub struct Launcher {
    pub exe: PathBuf,
    pub plan: PlanArgs,
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
    /// Runs `verb` of the plan on the copy, as `asked`, with its reports
    /// under `dir`, and waits for it. Every connection of the step proves
    /// it stands on the copy's server and database, marked as a copy,
    /// before it runs anything. Ctrl-C reaches it as it reaches this process (one
    /// process group); a SIGTERM sent to this process alone is passed on
    /// as SIGINT, so the step winds down as an interrupted command does.
    pub async fn run(&self, verb: Verb, asked: RehearsalStep, dir: &Path) -> Result<Ran> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let log = dir.join("output.log");
        let out = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot share the step's log file")?;
        let plan = PlanArgs { reports: dir.to_path_buf(), ..self.plan.clone() };
        let conn = ConnArgs { database_url: Some(self.copy_url.clone()) };
        let asked = RehearsalStep { on_copy: Some(self.copy), ..asked };
        let (var, spec) = Spec::new(verb, RunArgs { plan, conn }, asked).env()?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&self.exe)
            .arg("rehearsal-step")
            .env(var, spec)
            .env_remove("HOST_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))?;
        let status = tokio::select! {
            s = child.wait() => s,
            _ = self.interrupt.wait() => {
                if let Some(pid) = child.id() {
                    // std's Child::kill sends SIGKILL only; the step must get SIGINT.
                    #[allow(unsafe_code)]
                    // SAFETY: kill(2) with a pid this process started and has not reaped.
                    unsafe {
                        libc::kill(pid as libc::pid_t, libc::SIGINT)
                    };
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

#[cfg(test)]
mod tests {
    use super::{Spec, Verb};
    use crate::rehearsal_copy::Identity;
    use crate::runbook::{ConnArgs, PlanArgs, RehearsalStep, RunArgs};

    fn spec() -> Spec {
        let plan = PlanArgs {
            tiers: vec!["tiers/a b.wasm".into(), "tiers/c.wasm".into()],
            params: vec![("ratified_apr".into(), "APR=1 ; x".into())],
            data_dir: Some("data dir".into()),
            reports: "reports/01-run".into(),
            lock: Some("plan.lock".into()),
            allowed_signers: Some("allowed signers".into()),
            roles: true,
            runner_role: "runner".into(),
            operator: Some("alice".into()),
        };
        let conn = ConnArgs { database_url: Some("host=/tmp dbname=directus password='s p'".into()) };
        let on_copy = Some(Identity { system: -1, database: 16384, started_us: 7 });
        Spec::new(Verb::Run, RunArgs { plan, conn }, RehearsalStep { fail_at: Some(3), every_tier: true, on_copy })
    }

    /// What the launcher writes is what the step reads, field for field.
    #[test]
    fn a_step_reads_back_exactly_the_options_it_was_given() {
        let (_, text) = spec().env().unwrap();
        let read = Spec::read(&text).unwrap();
        assert_eq!(format!("{read:?}"), format!("{:?}", spec()));
        assert_eq!(read.args.conn.database_url, spec().args.conn.database_url);
    }

    /// A field the step does not know, or one missing, is refused, not ignored.
    #[test]
    fn options_a_step_does_not_know_are_refused() {
        let (_, text) = spec().env().unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["asked"]["fail_before_commit"] = true.into();
        assert!(Spec::read(&json.to_string()).is_err());
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["asked"].as_object_mut().unwrap().remove("every_tier");
        assert!(Spec::read(&json.to_string()).is_err());
        assert!(Spec::read("--fail-at 3").is_err());
    }
}
