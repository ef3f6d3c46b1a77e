//! Command-line interface: what the operator types, validated, then
//! dispatched to one function per verb.

use crate::error::Failure;
use crate::ledger::Outcome;
use crate::plan::{self, Calls, Plan};
use crate::report::Reporter;
use crate::runbook::{self, Context};
use crate::sandbox::Sandbox;
use crate::signal::Interrupt;
use crate::{db, grants, inspect};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

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
        /// Rehearsal only (`host rehearse` passes it to its steps): fail
        /// tier N after its apply and post-conditions, before its COMMIT,
        /// as a tier failure would, so the FAIL path is rehearsed.
        #[arg(long, value_name = "N", hide = true, conflicts_with = "dry_run")]
        fail_at: Option<i64>,
        /// Rehearsal only: every connection must stand on this copy (the
        /// server and database `host rehearse` reads), marked as one.
        #[arg(long, value_name = "IDENTITY", hide = true)]
        rehearsal_copy: Option<crate::rehearsal_copy::Identity>,
    },
    /// Roll back what the ledger says is applied, newest tier first.
    Rollback {
        #[command(flatten)]
        args: RunArgs,
        /// Roll back only this tier (refused while a later tier is applied).
        #[arg(long)]
        tier: Option<u32>,
        /// Rehearsal only (`host rehearse` passes it to its second
        /// rollback): call every tier's rollback, applied or not, to prove
        /// each one idempotent.
        #[arg(long, hide = true, conflicts_with = "tier")]
        every_tier: bool,
        /// Rehearsal only: every connection must stand on this copy (the
        /// server and database `host rehearse` reads), marked as one.
        #[arg(long, value_name = "IDENTITY", hide = true)]
        rehearsal_copy: Option<crate::rehearsal_copy::Identity>,
    },
    /// Prove on a copy of production what the runbook asserts: run, roll
    /// back to the exact baseline (by content digest), idempotently, and
    /// run again; with --fail-at, every tier's FAIL path too.
    Rehearse {
        #[command(flatten)]
        plan: PlanArgs,
        /// The copy to rehearse on: another server, the source's database
        /// name, marked `ALTER DATABASE … SET host.rehearsal_copy = on`, the
        /// same state (proven by digest before the first step).
        #[arg(long, value_name = "URL", env = "HOST_COPY_URL", hide_env_values = true)]
        copy_url: String,
        /// The source (production), only read, in one snapshot, a relation
        /// at a time: the copy must be another database holding its exact
        /// state.
        #[arg(long, value_name = "URL", env = "HOST_DATABASE_URL", hide_env_values = true)]
        from: String,
        /// Also rehearse the FAIL path: a run failing at tier N (or at each
        /// tier: `all`), each followed by a rollback to the exact baseline.
        #[arg(long, value_name = "N|all")]
        fail_at: Option<crate::rehearse::FailAt>,
    },
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
    /// Show plugins' manifests, WIT imports/exports and sha256 (no database).
    Inspect(PluginArgs),
    /// Print every plugin's grants (stable text or JSON), write a lock file,
    /// or print the SQL of restricted roles (no database).
    Grants {
        #[command(flatten)]
        args: PluginArgs,
        /// Write the lock file of these plugins (for `run --lock`).
        #[arg(long, value_name = "FILE")]
        lock: Option<PathBuf>,
        /// Print the SQL of the restricted roles and the role wall (what
        /// `host roles apply` runs, less what only the catalog says); the
        /// role runs `host` (its control connection registers the key).
        #[arg(long, value_name = "OPERATOR_ROLE")]
        role_sql: Option<String>,
        /// With --role-sql: the runner's name.
        #[arg(long, value_name = "ROLE", default_value = crate::roles::DEFAULT_RUNNER)]
        runner_role: String,
        /// With --lock: the plan was reviewed to run under its restricted
        /// roles; `run --lock` then runs under them (`roles = true`).
        #[arg(long, requires = "lock")]
        roles: bool,
        /// Also audit this database's catalog (read-only): the objects that
        /// run code no statement names and every relation the plugins'
        /// writes reach; with --lock, record those objects as reviewed.
        /// Only when given (the environment is not read for it).
        #[arg(long, short = 'd', visible_alias = "dbname", value_name = "URL", conflicts_with = "role_sql")]
        database_url: Option<String>,
    },
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
                | Command::Grants { .. }
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

/// Where the database is. `Debug` never shows the connection string (it
/// may hold a password).
#[derive(Args, Clone)]
pub struct ConnArgs {
    /// Where to connect: a `postgres://` URL or a libpq `key=value` string
    /// (`host=db port=5432 dbname=directus sslmode=verify-full …`). What it
    /// leaves out comes from the service file, the PG* variables and
    /// libpq's defaults, as in psql.
    #[arg(long, short = 'd', visible_alias = "dbname", env = "HOST_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// A command on one database with a plan: `gate`, `run`, `rollback`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Plugins, parameters and where reports go.
#[derive(Args, Debug, Clone)]
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
    /// The same plan, as arguments to another `host` command (a rehearsal's
    /// steps): every plugin, parameter, data directory, lock, roles, operator.
    fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = vec!["--tiers".into()];
        a.extend(self.tiers.iter().map(|t| t.clone().into_os_string()));
        for (k, v) in &self.params {
            a.extend(["--param".into(), format!("{k}={v}").into()]);
        }
        if let Some(d) = &self.data_dir {
            a.extend(["--data-dir".into(), d.clone().into_os_string()]);
        }
        if let Some(l) = &self.lock {
            a.extend(["--lock".into(), l.clone().into_os_string()]);
        }
        if self.roles {
            a.push("--roles".into());
        }
        a.extend(["--runner-role".into(), self.runner_role.clone().into()]);
        if let Some(o) = &self.operator {
            a.extend(["--operator".into(), o.into()]);
        }
        a
    }
}

impl std::fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnArgs").field("database_url", &self.database_url.as_ref().map(|_| "<redacted>")).finish()
    }
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not name=value")),
    }
}

/// Runs the command; the error carries the exit code.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    crate::printer::init(&cli.output);
    let json = crate::printer::get().json();
    match cli.command {
        Command::Gate(args) => {
            with_plan("gate", Calls::Gate, &args, Default::default(), |ctx, plan| {
                Box::pin(async move { runbook::gate(ctx, plan).await })
            })
            .await
        }
        Command::Run { args, dry_run: true, .. } => {
            with_plan("dry-run", Calls::Everything, &args, Default::default(), |ctx, plan| {
                Box::pin(async move { runbook::dry_run(ctx, plan).await })
            })
            .await
        }
        Command::Run { args, dry_run: false, fail_at, rehearsal_copy } => {
            with_plan(
                "run",
                Calls::Everything,
                &args,
                runbook::Rehearsal { fail_at, every_tier: false, on_copy: rehearsal_copy },
                |ctx, plan| Box::pin(async move { runbook::run(ctx, plan).await }),
            )
            .await
        }
        Command::Rollback { args, tier, every_tier, rehearsal_copy } => {
            let rehearsal = runbook::Rehearsal { fail_at: None, every_tier, on_copy: rehearsal_copy };
            with_plan("rollback", Calls::Rollback, &args, rehearsal, move |ctx, plan| {
                Box::pin(async move { runbook::rollback(ctx, plan, tier).await })
            })
            .await
        }
        Command::Rehearse { plan, copy_url, from, fail_at } => rehearse(plan, copy_url, from, fail_at).await,
        Command::Status { conn, limit } => {
            let target = db::Target::new(conn.database_url.as_deref()).map_err(Failure::Plan)?;
            runbook::status(&target, limit, Interrupt::install()).await
        }
        Command::Report { rollout_id, conn, reports, out } => {
            let target = db::Target::new(conn.database_url.as_deref()).map_err(Failure::Plan)?;
            let to = out.map(runbook::Destination::Exactly).unwrap_or(runbook::Destination::Under(reports));
            runbook::report(&target, rollout_id, &to).await
        }
        Command::Inspect(args) => {
            let sandbox = Sandbox::new().map_err(Failure::Plan)?;
            let plugins = plan::read_all(&args.plugins, args.data_dir.as_deref()).map_err(Failure::Plan)?;
            inspect::print(&sandbox, &plugins, args.json || json).map_err(Failure::Plan)
        }
        Command::Grants { args, lock, role_sql, runner_role, roles, database_url } => {
            let plugins = plan::read_all(&args.plugins, args.data_dir.as_deref()).map_err(Failure::Plan)?;
            let catalog = match &database_url {
                Some(url) => Some(review_catalog(url, &plugins).await?),
                None if role_sql.is_none() => {
                    let note = crate::audit::NEEDS_A_DATABASE;
                    crate::printer::get().status(crate::printer::Tone::Warning, "Note", note);
                    None
                }
                None => None,
            };
            if let Some(path) = lock {
                let mut lock = grants::Lock::of(&plugins);
                if let Some((audit, _)) = &catalog {
                    lock.catalog = audit.reviewable();
                }
                if roles {
                    // The roles must be possible before the reviewer says so.
                    crate::roles::Roles::of(&plugins).map_err(Failure::Plan)?;
                    lock.roles = true;
                }
                lock.write(&path).map_err(Failure::Plan)?;
                let under = if roles { ", to run under their restricted roles" } else { "" };
                let objects = match &catalog {
                    Some(_) => format!(", {} reviewed catalog object(s)", lock.catalog.len()),
                    None => String::new(),
                };
                let wrote = format!("the lock file {} ({} plugins{under}{objects})", path.display(), plugins.len());
                crate::printer::get().status(crate::printer::Tone::Progress, "Wrote", &wrote);
            } else if let Some(operator) = role_sql {
                crate::roles::check_role_name("the operator role", &operator).map_err(Failure::Plan)?;
                let roles = crate::roles::Roles::with_runner(&plugins, &runner_role).map_err(Failure::Plan)?;
                crate::printer::get().result(&crate::roles::sql::role_sql(&roles, &operator, None).render());
            } else if args.json || json {
                let mut json = grants::json(&plugins);
                if let Some((audit, database)) = &catalog {
                    json["catalog"] = crate::audit::json(audit, &plugins, database);
                }
                crate::printer::get().result_json(&json);
            } else {
                let mut text = grants::text(&plugins);
                if let Some((audit, database)) = &catalog {
                    text.push_str(&format!("\n{}", crate::audit::text(audit, &plugins, database)));
                }
                crate::printer::get().result(&text);
            }
            Ok(())
        }
        Command::Roles { action } => roles(action).await,
        Command::Explain { plugin, statements, file, data_dir } => {
            let loaded = plan::read(&plugin, data_dir.as_deref())
                .with_context(|| format!("plugin {}", plugin.display()))
                .map_err(Failure::Plan)?;
            let mut all = statements;
            if let Some(f) = file {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))
                    .map_err(Failure::Plan)?;
                all.extend(
                    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")).map(String::from),
                );
            }
            inspect::explain(&loaded, &all)
        }
    }
}

/// `host grants … --database-url URL`: the catalog audit of the plugins on
/// that database, read-only, for the reviewer; and the database's name.
async fn review_catalog(url: &str, plugins: &[plan::Plugin]) -> Result<(crate::audit::Audit, String), Failure> {
    let target = db::Target::new(Some(url)).map_err(Failure::Plan)?;
    let name = format!("host grants by {} pid {}", os_user().unwrap_or_default(), std::process::id());
    let client = target.connect(&name.chars().take(63).collect::<String>()).await.map_err(Failure::Database)?;
    client.batch_execute(runbook::CONTROL_SETTINGS).await?;
    let database = db::current_database(&client).await.map_err(Failure::Database)?;
    let all: Vec<&plan::Plugin> = plugins.iter().collect();
    let audit = crate::audit::read(&client, &all).await.map_err(Failure::Database)?;
    Ok((audit, database))
}

/// `host roles apply|prove`: the plan's roles, without an engine.
async fn roles(action: RolesAction) -> Result<(), Failure> {
    let (args, operator) = match action {
        RolesAction::Apply { roles, operator_role } => (roles, Some(operator_role)),
        RolesAction::Prove(roles) => (roles, None),
    };
    let plugins = plan::read_all(&args.plugins, args.data_dir.as_deref()).map_err(Failure::Plan)?;
    let roles = crate::roles::Roles::with_runner(&plugins, &args.runner_role).map_err(Failure::Plan)?;
    let target = db::Target::new(args.conn.database_url.as_deref()).map_err(Failure::Plan)?;
    match operator {
        Some(operator) => crate::roles::apply::apply(&target, &roles, operator.as_deref()).await,
        None => crate::roles::apply::prove(&target, &roles).await,
    }
}

/// `host rehearse`: its own report directory, the steps under it.
async fn rehearse(
    plan: PlanArgs,
    copy_url: String,
    from: String,
    fail_at: Option<crate::rehearse::FailAt>,
) -> Result<(), Failure> {
    let reporter = Arc::new(Reporter::new(Some(&plan.reports), "rehearse").map_err(Failure::Plan)?);
    let r = crate::rehearse::Rehearsal {
        plan_args: plan.to_args(),
        plugins: plan.tiers,
        data_dir: plan.data_dir,
        lock: plan.lock,
        copy_url,
        from,
        fail_at,
    };
    crate::rehearse::rehearse(r, reporter, Interrupt::install()).await
}

type Step<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Failure>> + 'a>>;

/// Builds the plan and context, runs `step`, and writes the report whatever
/// the outcome. A report not written makes a success exit 9; a failure keeps
/// its own code, and both say what the command did and where the report is.
async fn with_plan<F>(
    verb: &str,
    calls: Calls,
    args: &RunArgs,
    rehearsal: runbook::Rehearsal,
    step: F,
) -> Result<(), Failure>
where
    F: for<'a> FnOnce(&'a Context, &'a Plan) -> Step<'a>,
{
    let reporter = Arc::new(Reporter::new(Some(&args.plan.reports), verb).map_err(Failure::Plan)?);
    let params: BTreeMap<String, String> = args.plan.params.iter().cloned().collect();
    let result = async {
        let mut ctx = context(&args.conn, args.plan.operator.clone(), params, reporter.clone())?;
        ctx.rehearsal = rehearsal;
        let plan =
            Plan::load(&ctx.sandbox, &args.plan.tiers, args.plan.data_dir.as_deref(), calls).map_err(Failure::Plan)?;
        plan.refuse_unknown_params(&ctx.params).map_err(Failure::Params)?;
        for (plugin, (key, object, why)) in
            plan.all().flat_map(|p| grants::warnings(&p.manifest).into_iter().map(move |w| (p, w)))
        {
            ctx.reporter
                .warning("Warning", &format!("{} holds the acknowledged grant {key} {object}: {why}", plugin.label()));
        }
        let mut roles = args.plan.roles;
        if let Some(path) = &args.plan.lock {
            let lock = grants::Lock::read(path).map_err(Failure::Plan)?;
            lock.verify(&plan.all().collect::<Vec<_>>()).map_err(Failure::Plan)?;
            ctx.reviewed = Some(crate::audit::Reviewed { lock: path.clone(), objects: lock.catalog.clone() });
            ctx.reporter.status("Verified", &format!("every plugin matches the lock file {}", path.display()));
            if lock.roles && !roles {
                ctx.reporter.status("Roles", "the lock file says the plan was reviewed to run under roles");
            }
            roles |= lock.roles;
        }
        if roles {
            let roles = crate::roles::Roles::with_runner(plan.all(), &args.plan.runner_role).map_err(Failure::Plan)?;
            ctx.roles = Some(Arc::new(roles));
        }
        let result = interruptible(&ctx, step(&ctx, &plan)).await;
        if let Some(wall) = ctx.wall.get() {
            // The key dies with the control connection anyway; bounded.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wall.unregister()).await;
        }
        result
    }
    .await;
    let (outcome, message) = match &result {
        Ok(()) => (Outcome::Ok, String::new()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    match (reporter.finish(outcome, &message), result) {
        (Ok(_), result) => result,
        (Err(lost), Ok(())) => Err(Failure::ReportLost(lost.to_string())),
        (Err(lost), Err(failure)) => {
            crate::printer::get().error(&lost.to_string());
            Err(failure)
        }
    }
}

/// How long a command has, after Ctrl-C, to wind down on its own: stop the
/// plugin (its statement is cancelled at once), roll back its transaction,
/// record it. Past that, the host is waiting on the server for itself.
const GRACE: std::time::Duration = std::time::Duration::from_millis(300);

/// How much longer a command that heard the interrupt (its plugin stopped,
/// its tier rolling back) has to record it and close its rollout with the
/// report, on a loaded machine or behind a briefly locked ledger, before
/// its waits are cancelled too.
const WIND_DOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `work` until it ends, or until Ctrl-C plus [`GRACE`] (plus
/// [`WIND_DOWN`] if the work heard the interrupt and is recording it, or
/// waits for the answer to a COMMIT): then every statement the command's
/// connections still wait on (a lock, the ledger) is cancelled on the
/// server and the command ends as interrupted (exit 130). A COMMIT in
/// flight is never abandoned blind: once its wait is cancelled the server
/// answers (committed or not) and the command records what it learned;
/// only a server that still does not answer leaves the outcome UNKNOWN
/// (exit 8), for `host status` to settle from the ledger.
async fn interruptible(ctx: &Context, mut work: Step<'_>) -> Result<(), Failure> {
    tokio::select! {
        r = &mut work => return r,
        _ = ctx.interrupt.wait() => {}
    }
    if let Ok(r) = tokio::time::timeout(GRACE, &mut work).await {
        return r;
    }
    let winding = ctx.interrupt.heard() || ctx.interrupt.critical_step().is_some();
    if winding {
        if let Ok(r) = tokio::time::timeout(WIND_DOWN, &mut work).await {
            return r;
        }
    }
    ctx.cancel_all().await;
    if let Some(step) = ctx.interrupt.critical_step() {
        if let Ok(r) = tokio::time::timeout(WIND_DOWN, &mut work).await {
            return r;
        }
        return Err(Failure::CommitUnknown(format!(
            "interrupted while waiting for the answer to {step}, which did not come within {} s even after its \
             wait was cancelled on the server: the database kept either all of it or none of it, and the host \
             cannot tell which. Run `host status` with the same connection options: it settles the outcome from \
             the ledger before anything else",
            (GRACE + WIND_DOWN + WIND_DOWN).as_secs()
        )));
    }
    let doing = if winding {
        format!(
            "the host stopped its plugin but could not record that within {} s (the server did not answer)",
            (GRACE + WIND_DOWN).as_secs()
        )
    } else {
        "the host was waiting on the server".to_string()
    };
    Err(Failure::Interrupted(format!(
        "{doing}; that wait was cancelled there and nothing more was sent \
         (a rollout already begun stays marked running until the next command settles it)"
    )))
}

fn context(
    conn: &ConnArgs,
    operator: Option<String>,
    params: BTreeMap<String, String>,
    reporter: Arc<Reporter>,
) -> Result<Context, Failure> {
    let target = db::Target::new(conn.database_url.as_deref()).map_err(Failure::Plan)?;
    let operator = operator.or_else(os_user).unwrap_or_else(|| "unknown".into());
    let client_host =
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    Ok(Context {
        target,
        sandbox: Sandbox::new().map_err(Failure::Plan)?,
        reporter,
        interrupt: Interrupt::install(),
        operator,
        client_host,
        params,
        open: Default::default(),
        roles: None,
        wall: Default::default(),
        rehearsal: Default::default(),
        catalog: Default::default(),
        reviewed: None,
    })
}

/// The operating-system user running the host, as the ledger's operator.
fn os_user() -> Option<String> {
    let from_env = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().filter(|u| !u.is_empty());
    from_env.or_else(|| {
        let out = std::process::Command::new("id").arg("-un").output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|u| !u.is_empty())
    })
}
