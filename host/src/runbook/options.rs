//! What a command on a plan is given: one set of types that clap parses
//! from the command line and a rehearsal's step launcher hands, serialised,
//! to each step (`host rehearse`), so the two can never drift apart.

use crate::error::Failure;
use clap::Args;
use rollout_connect::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the database is. `Debug` never shows the connection string (it
/// may hold a password).
#[derive(Args, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnArgs {
    /// Where to connect: a `postgres://` URL or a libpq `key=value` string
    /// (`host=db port=5432 dbname=directus sslmode=verify-full …`). What it
    /// leaves out comes from the service file, the PG* variables and
    /// libpq's defaults, as in psql.
    #[arg(long, short = 'd', visible_alias = "dbname", env = "HOST_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl ConnArgs {
    /// The database these options name (settings resolved as libpq does).
    pub fn target(&self) -> Result<Target, Failure> {
        Target::new(self.database_url.as_deref()).map_err(Failure::Plan)
    }
}

impl std::fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnArgs").field("database_url", &self.database_url.as_ref().map(|_| "<redacted>")).finish()
    }
}

/// A command on one database with a plan: `gate`, `run`, `rollback`.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Plugins, parameters and where reports go.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanArgs {
    /// The plan's plugins (.wasm); order comes from their manifests.
    #[arg(long, num_args = 1.., required = true)]
    pub tiers: Vec<PathBuf>,
    /// A rollout parameter, `name=value` (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Directory of the plugins' data files [default: <plugin dir>/data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where each command writes its log and reports.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Refuse any plugin whose bytes, grants or data files differ from this
    /// lock file (written by `host grants --lock`), or that is not in it.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Refuse the lock file unless `FILE.sig` beside it is a good
    /// `ssh-keygen -Y sign -n host-lock` signature of it by a key this
    /// allowed-signers file lists (ssh's format, `man ssh-keygen`).
    #[arg(long, value_name = "FILE", requires = "lock")]
    #[serde(default)]
    pub allowed_signers: Option<PathBuf>,
    /// Run each plugin as its own restricted role (`host roles apply`),
    /// on a session authenticated as the runner, proven before the gate
    /// and after each tier. On by default when the lock file says the plan
    /// was reviewed with roles.
    #[arg(long)]
    pub roles: bool,
    /// Under roles: the login role of the plugins' session (same
    /// connection settings, this user; its password from the password
    /// file, as libpq would).
    #[arg(long, value_name = "ROLE", default_value = crate::roles::DEFAULT_RUNNER)]
    pub runner_role: String,
    /// Who runs this, for the ledger [default: $USER].
    #[arg(long)]
    pub operator: Option<String>,
}

impl PlanArgs {
    /// The parameters, by name (the last of a repeated name wins).
    pub fn param_map(&self) -> BTreeMap<String, String> {
        self.params.iter().cloned().collect()
    }
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not name=value")),
    }
}

/// Which runbook a command on a plan follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verb {
    /// `host gate`: the gate alone, read-only.
    Gate,
    /// `host run`: the whole rollout.
    Run,
    /// `host run --dry-run`: the whole plan in one transaction rolled back.
    DryRun,
    /// `host rollback [--tier N]`.
    Rollback { tier: Option<u32> },
}

impl Verb {
    /// Its name in the report directory and the log (`…-dry-run-…`).
    pub fn name(self) -> &'static str {
        match self {
            Verb::Gate => "gate",
            Verb::Run => "run",
            Verb::DryRun => "dry-run",
            Verb::Rollback { .. } => "rollback",
        }
    }

    /// Its name on the control connection and in the ledger's `verb`.
    pub(super) fn ledger_name(self) -> &'static str {
        match self {
            Verb::DryRun => "dry_run",
            other => other.name(),
        }
    }
}

/// What a rehearsal's step asks of `run` and `rollback` (`host
/// rehearse`); the default, nothing, for every command an operator types.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearsalStep {
    /// Tier N fails after its apply and post-conditions, before its
    /// COMMIT ([`Failure::Injected`]), so the FAIL path is rehearsed.
    pub fail_at: Option<i64>,
    /// Every tier's rollback is called, applied or not, so a second
    /// rollback proves each one idempotent.
    pub every_tier: bool,
    /// Every connection of the step proves it stands on the copy the
    /// rehearsal reads, marked as one ([`crate::rehearsal_copy::prove`]),
    /// before anything runs on it.
    pub on_copy: Option<crate::rehearsal_copy::Identity>,
}
