//! What the operator types: the verbs and their options, as clap parses
//! them. The options of a command on a plan are the runbook's own
//! ([`crate::runbook::RunArgs`]), which a rehearsal's steps share.

use crate::rehearse::RehearseArgs;
use crate::runbook::{ConnArgs, RunArgs};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Gated PostgreSQL rollouts with sandboxed WebAssembly tiers.
#[derive(Parser, Debug)]
#[command(name = "host", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub output: crate::printer::Options,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gate alone (read-only): print its table and READY or BLOCKED.
    Gate(RunArgs),
    /// Run the rollout: gate, tiers in order, verify, probes, report.
    Run {
        #[command(flatten)]
        args: RunArgs,
        /// Preview: the whole run inside one transaction that is always
        /// rolled back; shows what each tier would change. Takes the lock
        /// and records one `dry_run` row in the ledger; marks nothing applied.
        #[arg(long)]
        dry_run: bool,
    },
    /// Roll back what the ledger says is applied, newest tier first.
    Rollback {
        #[command(flatten)]
        args: RunArgs,
        /// Roll back only this tier (refused while a later tier is applied).
        #[arg(long)]
        tier: Option<u32>,
    },
    /// Prove on a copy of production what the runbook asserts: run, roll
    /// back to the exact baseline (by content digest), idempotently, and
    /// run again; with --fail-at, every tier's FAIL path too.
    Rehearse(RehearseArgs),
    /// One step of a rehearsal (`host rehearse` starts it, its options in
    /// the environment): a `run` or `rollback` on the copy.
    #[command(hide = true)]
    RehearsalStep,
    /// Show the ledger: what is applied, by whom, under which approval.
    Status {
        #[command(flatten)]
        conn: ConnArgs,
        /// How many past rollouts to list.
        #[arg(long, default_value_t = 10)]
        limit: i64,
    },
    /// Write a rollout's report.json and report.md again, from the ledger
    /// (reads only: no lock, no plugin; byte for byte what the rollout wrote).
    Report {
        /// The rollout's id in the ledger (`host status` lists them).
        rollout_id: i64,
        #[command(flatten)]
        conn: ConnArgs,
        /// Write into a new directory of its own under this one.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// Write into exactly this directory (created if missing); refused
        /// if either file is there already.
        #[arg(long, value_name = "DIR", conflicts_with = "reports")]
        out: Option<PathBuf>,
    },
    /// Show plugins' manifests, WIT imports/exports and sha256 (no
    /// database); with --sql, the SQL each sent in its last run, rollback
    /// or dry run the ledger recorded (reads only).
    Inspect(InspectArgs),
    /// Print every plugin's grants (stable text or JSON), write a lock file,
    /// or print the SQL of restricted roles (no database).
    Grants(GrantsArgs),
    /// Set up or prove the plan's restricted roles and the role wall.
    Roles {
        #[command(subcommand)]
        action: RolesAction,
    },
    /// Say whether each statement is allowed for a plugin, and why (no database).
    Explain {
        /// The plugin whose grants apply.
        plugin: PathBuf,
        /// Statements to check; with none, read them from --file.
        statements: Vec<String>,
        /// A file of statements, one per line (blank lines and `--` lines skipped).
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// `host inspect …`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub args: PluginArgs,
    /// List the SQL each plugin (matched by sha256) sent in the last run,
    /// rollback or dry run recorded in the ledger of --db (a rehearsal's
    /// steps: the copy's ledger), instead of its manifest.
    #[arg(long)]
    pub sql: bool,
    /// With --sql: the database whose ledger to read.
    #[arg(long, value_name = "URL", visible_alias = "database-url", env = "HOST_DATABASE_URL", hide_env_values = true)]
    pub db: Option<String>,
    /// With --sql: only a rollout of this verb (default: the last of any).
    #[arg(long, value_enum, requires = "sql")]
    pub verb: Option<SqlOf>,
}

/// The verb whose recorded SQL `host inspect --sql --verb` reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlOf {
    DryRun,
    Run,
    Rollback,
}

impl SqlOf {
    /// The rollout's `verb` in the ledger.
    pub fn ledger_name(self) -> &'static str {
        match self {
            SqlOf::DryRun => "dry_run",
            SqlOf::Run => "run",
            SqlOf::Rollback => "rollback",
        }
    }
}

/// `host grants …`: what the reviewer reads, pins or sets up.
#[derive(Args, Debug)]
pub struct GrantsArgs {
    #[command(flatten)]
    pub args: PluginArgs,
    /// Write the lock file of these plugins (for `run --lock`).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Print the SQL of the restricted roles and the role wall (what
    /// `host roles apply` runs, less what only the catalog says); the
    /// role runs `host` (its control connection registers the key).
    #[arg(long, value_name = "OPERATOR_ROLE")]
    pub role_sql: Option<String>,
    /// With --role-sql: the runner's name.
    #[arg(long, value_name = "ROLE", default_value = crate::roles::DEFAULT_RUNNER)]
    pub runner_role: String,
    /// With --lock: the plan was reviewed to run under its restricted
    /// roles; `run --lock` then runs under them (`roles = true`).
    #[arg(long, requires = "lock")]
    pub roles: bool,
    /// With --lock: the plugin NAME (the fixed one, given among the
    /// plugins) replaces the one with SHA256 for the rollback of the tier
    /// that one applied (repeatable; `host rollback --lock` then accepts it).
    #[arg(long, value_name = "NAME=SHA256", requires = "lock")]
    pub replaces: Vec<crate::grants::Replaces>,
    /// Also audit this database's catalog (read-only): the objects that
    /// run code no statement names and every relation the plugins'
    /// writes reach; with --lock, record those objects as reviewed.
    /// Only when given (the environment is not read for it).
    #[arg(long, short = 'd', visible_alias = "dbname", value_name = "URL", conflicts_with = "role_sql")]
    pub database_url: Option<String>,
}

/// `host roles …`.
#[derive(Subcommand, Debug)]
pub enum RolesAction {
    /// Create or put right every plugin's role, the runner, the admin and
    /// writer roles and schema rollout_roles, in one transaction under the
    /// rollout lock (reading the catalog for what the grants imply), then
    /// prove them. Run it as a superuser (or a CREATEROLE owner of the objects).
    Apply {
        #[command(flatten)]
        roles: RolesArgs,
        /// The role that runs `host` (its control connection registers the
        /// key) [default: the role applying].
        #[arg(long, value_name = "ROLE")]
        operator_role: Option<String>,
    },
    /// Prove the roles and the wall as a run would, before its gate (reads only).
    Prove(RolesArgs),
}

/// The plan whose roles `host roles` sets up or proves, and where.
#[derive(Args, Debug)]
pub struct RolesArgs {
    /// Plugin files (.wasm).
    #[arg(required = true)]
    pub plugins: Vec<PathBuf>,
    /// Directory of the plugins' data files [default: <plugin dir>/data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The login role the plugins' session authenticates as.
    #[arg(long, value_name = "ROLE", default_value = crate::roles::DEFAULT_RUNNER)]
    pub runner_role: String,
    #[command(flatten)]
    pub conn: ConnArgs,
}

impl Command {
    /// Verbs that change nothing anywhere (no ledger, no report).
    pub fn read_only(&self) -> bool {
        matches!(
            self,
            Command::Status { .. }
                | Command::Inspect(_)
                | Command::Grants(_)
                | Command::Explain { .. }
                | Command::Roles { action: RolesAction::Prove(_) }
        )
    }
}

/// Plugin files to read without a database.
#[derive(Args, Debug, Clone)]
pub struct PluginArgs {
    /// Plugin files (.wasm).
    #[arg(required = true)]
    pub plugins: Vec<PathBuf>,
    /// Directory of the plugins' data files [default: <plugin dir>/data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of text (the same as `--format json`).
    #[arg(long)]
    pub json: bool,
}
