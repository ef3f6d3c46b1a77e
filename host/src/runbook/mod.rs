//! The runbook, in order: gate, run, rollback, status.
//!
//! `run`: parameters → identity guard → rollout lock → ledger state → gate
//! (read-only) → each tier in its own transaction ([`tier`]) → verify →
//! probes. Any failure rolls back that tier, is written to the ledger, and
//! stops the run; committed tiers stay, and `host rollback` restores the
//! baseline.

mod catalog;
mod checks;
mod commit;
mod dry_run;
mod report;
mod roles;
mod rollback;
mod run;
mod status;
mod tier;
mod work;

pub use dry_run::dry_run;
pub use report::{report, Destination};
pub use rollback::rollback;
pub use run::{gate, run};
pub use status::status;

use crate::connect::Canceller;
use crate::db::{self, Identity, Target};
use crate::error::Failure;
use crate::ledger::{self, Outcome};
use crate::plan::{Plan, Plugin};
use crate::report::{CheckTable, Reporter};
use crate::roles::wall::Wall;
use crate::roles::Roles;
use crate::sandbox::{Call, CallError, CallSpec, Returned, Sandbox};
use crate::signal::Interrupt;
use crate::sql::SqlSession;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_postgres::Client;

/// What every command that runs plugins needs: where, who, with what.
pub struct Context {
    pub target: Target,
    pub sandbox: Sandbox,
    pub reporter: Arc<Reporter>,
    pub interrupt: Interrupt,
    pub operator: String,
    pub client_host: String,
    pub params: BTreeMap<String, String>,
    /// Every connection the command opened, so an interrupt can cancel
    /// whatever the host is waiting on ([`Context::cancel_all`]).
    pub open: Arc<std::sync::Mutex<Vec<Canceller>>>,
    /// Under roles (`--roles`, or a lock file reviewed with roles): each
    /// plugin's calls run as its own restricted role, proven first.
    pub roles: Option<Arc<Roles>>,
    /// Under roles, once proven: the command's key, registered on its
    /// control connection; the work session is the runner's.
    pub wall: std::sync::OnceLock<Wall>,
    /// What a rehearsal's steps ask of `run` and `rollback` (`host
    /// rehearse`); nothing for any other command.
    pub rehearsal: Rehearsal,
    /// The checker's catalog lists as the server has them, read once per
    /// command when its work session connects ([`work::WorkSession::open`]).
    pub catalog: std::sync::OnceLock<Arc<crate::sql::check::Catalog>>,
    /// What the lock file says was reviewed of the catalog (`--lock`);
    /// none without a lock file, and then any implicit code is refused.
    pub reviewed: Option<crate::audit::Reviewed>,
}

/// The hidden switches `host rehearse` passes to its steps.
#[derive(Debug, Clone, Default)]
pub struct Rehearsal {
    /// `run --fail-at N`: tier N fails after its apply and post-conditions,
    /// before its COMMIT, so the FAIL path is rehearsed.
    pub fail_at: Option<i64>,
    /// `rollback --every-tier`: every tier's rollback is called, applied or
    /// not, so a second rollback proves each one idempotent.
    pub every_tier: bool,
    /// `--rehearsal-copy IDENTITY`: every connection of a rehearsal's step
    /// proves it stands on the copy the rehearsal reads, marked as one
    /// ([`crate::rehearsal_copy::prove`]), before anything runs on it.
    pub on_copy: Option<crate::rehearsal_copy::Identity>,
}

/// The control connection's own bounds: the host's ledger statements never
/// wait forever on a lock or a slow server.
pub(crate) const CONTROL_SETTINGS: &str = "SET statement_timeout = '30s'; SET lock_timeout = '5s'";
/// How long the host waits, client side, for a ledger answer that settles a
/// lost COMMIT: past the server's own statement timeout.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(35);

impl Context {
    /// How the host's connections appear in `pg_stat_activity`.
    fn app_name(&self, verb: &str) -> String {
        let name = format!("host {verb} by {} pid {}", self.operator, std::process::id());
        name.chars().take(63).collect()
    }

    /// A new connection for `verb`, registered for [`Context::cancel_all`].
    async fn connect(&self, verb: &str) -> Result<Arc<Client>, Failure> {
        self.connect_as(verb, &self.target).await
    }

    /// A new connection to `target` (the operator's, or the runner's).
    async fn connect_as(&self, verb: &str, target: &Target) -> Result<Arc<Client>, Failure> {
        let client = target.connect(&self.app_name(verb)).await.map_err(Failure::Database)?;
        if let Some(copy) = &self.rehearsal.on_copy {
            crate::rehearsal_copy::prove(&client, copy).await.map_err(|e| match e {
                crate::rehearsal_copy::Refused::Unreadable(_) => Failure::Database(e.into()),
                refused => Failure::WrongDatabase(refused.to_string()),
            })?;
        }
        if let Ok(mut open) = self.open.lock() {
            open.push(target.canceller(&client));
        }
        Ok(client)
    }

    /// Cancels on the server whatever statement any of the command's
    /// connections runs (Ctrl-C while the host itself waits: a lock, the
    /// ledger). Bounded: a silent server does not hold the exit.
    pub async fn cancel_all(&self) {
        let all: Vec<Canceller> = self.open.lock().map(|o| o.clone()).unwrap_or_default();
        let cancels = all.iter().map(|c| c.cancel());
        let _ = tokio::time::timeout(Duration::from_millis(300), futures_util::future::join_all(cancels)).await;
    }

    /// A ledger read that settles a lost answer, bounded on the client side.
    async fn bounded<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(SETTLE_TIMEOUT, read).await {
            Ok(r) => r.map_err(Failure::from),
            Err(_) => Err(Failure::Database(anyhow::anyhow!("no answer in {} s", SETTLE_TIMEOUT.as_secs()))),
        }
    }

    /// The command stops on Ctrl-C at `what`, and says so to the signal
    /// watcher: what follows is only its own wind-down (roll back, record).
    fn stopped(&self, what: impl Into<String>) -> Failure {
        self.interrupt.hear();
        Failure::Interrupted(what.into())
    }

    /// Records a failed or interrupted step on the control connection; a
    /// ledger that cannot take it is said, not hidden.
    async fn record_failure(&self, control: &Client, event: &crate::ledger::Event<'_>) {
        if let Err(err) = crate::ledger::event(control, event).await {
            let what = event.event.as_str();
            self.reporter.error(&format!(
                "could not write the {what} event of {} to the ledger: {}",
                event.plugin,
                db::why(&err)
            ));
        }
    }

    /// A plugin the interrupt stopped: the command winds down from here.
    fn heard(&self, result: Result<Returned, CallError>) -> Result<Returned, CallError> {
        if matches!(result, Err(CallError::Stopped(crate::sql::Stop::Interrupted))) {
            self.interrupt.hear();
        }
        result
    }

    /// Connects the control connection and applies the identity guard.
    async fn control(&self, verb: &str, plan: &Plan) -> Result<Arc<Client>, Failure> {
        let client = self.connect(verb).await?;
        client.batch_execute(CONTROL_SETTINGS).await?;
        let database = db::current_database(&client).await.map_err(Failure::Database)?;
        self.reporter.set_database(&database);
        guard_database(&database, plan)?;
        let session = db::connection(&client).await.map_err(Failure::Database)?;
        self.reporter.status(
            "Connected",
            &session.describe(&database, self.target.endpoint_of(&client), &self.target.settings().tls),
        );
        Ok(client)
    }

    /// The rollout lock, on the control connection, until the command ends.
    async fn lock(&self, control: &Client) -> Result<(), Failure> {
        match db::try_rollout_lock(control).await.map_err(Failure::Database)? {
            Ok(()) => {
                self.reporter.status("Locked", "out other rollouts of this database until this command ends");
                Ok(())
            }
            Err(holder) => Err(Failure::LockHeld(holder)),
        }
    }

    /// Under the lock, with the ledger there: rollouts still marked running
    /// belong to a host that is gone; name them.
    async fn abandon_stale(&self, control: &Client, verb: &str) -> Result<(), Failure> {
        let by = format!("host {verb} (pid {}, operator {})", std::process::id(), self.operator);
        let stale = crate::ledger::abandon_stale(control, &by).await?;
        for s in &stale.settled {
            let why = "was still marked running, but no host held the lock; recorded as abandoned";
            self.reporter.status("Abandoned", &format!("rollout {} {why}", s.id));
            self.reporter.status("Settled", &format!("rollout {}: {}", s.id, s.describe()));
        }
        if !stale.busy.is_empty() {
            return Err(Failure::LedgerState(busy_message(&stale.busy)));
        }
        Ok(())
    }

    /// Inside a change transaction on `client` (a tier's apply, a
    /// rollback): holds the rollout's ledger row until the transaction
    /// ends, and proves this host still holds the rollout lock on
    /// `control` and the rollout is still running. A host whose control
    /// connection died lost the lock with it: it commits nothing more.
    async fn hold(&self, client: &Client, control: &Client, rollout_id: i64) -> Result<(), Failure> {
        let pid = db::backend_pid(control).await.map_err(|e| {
            Failure::Database(anyhow::anyhow!("the control connection, and the rollout lock with it, was lost: {e:#}"))
        })?;
        match self.as_writer(client, async { Ok(crate::ledger::hold(client, rollout_id, pid).await?) }).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Database(anyhow::anyhow!(
                "rollout {rollout_id} is no longer this host's: its control connection lost the rollout lock, or \
                 another command settled the rollout; nothing more of it is committed"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Closes rollout `id` in the ledger with its outcome and the report,
    /// sealed now: the files the command writes are exactly what the ledger
    /// keeps (`host report ID`). A ledger that refuses the close is a
    /// failure of the command (exit 8) naming the server's reason, never a
    /// success: the ledger would go on saying `running`.
    async fn close(&self, control: &Client, id: i64, outcome: Outcome, message: &str) -> Result<(), Failure> {
        let report = self.reporter.seal(outcome, message);
        match ledger::finish(control, id, outcome, message, report.as_ref()).await {
            Ok(()) if report.is_some() => self.reporter.stored_in_ledger(),
            Ok(()) => self.reporter.error(&format!("rollout {id} is closed in the ledger, but without its report")),
            Err(e) => {
                return Err(Failure::Database(anyhow::anyhow!(
                    "the ledger refused to close rollout {id} as {} ({}): {message}; the ledger still shows it \
                     running, and the next `host status` settles it from the tier events",
                    outcome.as_str(),
                    db::why(&e)
                )))
            }
        }
        Ok(())
    }

    /// A plugin's SQL access on `client`, shared with the sandbox call,
    /// checked against the server's catalog lists (every plugin's client
    /// comes from the work session, which read them when it connected).
    fn session(&self, plugin: &Plugin, client: &Arc<Client>) -> Arc<Mutex<SqlSession>> {
        let m = &plugin.manifest;
        let catalog = self.catalog.get().cloned().unwrap_or_else(crate::sql::check::Catalog::built);
        Arc::new(Mutex::new(
            SqlSession::new(
                client.clone(),
                self.target.canceller(client),
                m.grants.clone(),
                m.kind.read_only(),
                m.limits.clone(),
                Instant::now(),
                self.interrupt.clone(),
            )
            .as_role(self.roles.as_ref().and_then(|r| r.role_of(&m.name)))
            .on_wire(self.target.wire(client))
            .with_catalog(catalog),
        ))
    }

    /// One call into `plugin` with its SQL session on `client` and a fresh
    /// copy of its data files. Under roles the call runs as the plugin's
    /// role, switched in the host's transaction just before and back just
    /// after (the host's own statements never run as a plugin); a call that
    /// ended as anyone else fails (the outer error).
    async fn call(
        &self,
        plan: &Plan,
        plugin: &Plugin,
        call: Call,
        client: &Client,
        sql: &Arc<Mutex<SqlSession>>,
    ) -> Result<Result<Returned, CallError>, Failure> {
        self.call_scoped(plan, plugin, call, client, sql, false).await
    }

    /// A table call (post-conditions, rollback-conditions, a check) on the
    /// session, read-only whatever the grants: a check never writes. Two
    /// walls: the checker refuses every statement but a read, and the
    /// server runs the call in a read-only savepoint that is rolled back
    /// after it (so a granted function that writes, or `nextval`, fails,
    /// and nothing a check does stays in a tier's or a rollback's
    /// transaction). The table is held to the names `declared`; it is
    /// returned even when it fails, so the caller shows it.
    #[allow(clippy::too_many_arguments)]
    async fn table(
        &self,
        plan: &Plan,
        plugin: &Plugin,
        call: Call,
        client: &Client,
        sql: &Arc<Mutex<SqlSession>>,
        declared: &[String],
        title: &str,
    ) -> Result<CheckTable, Failure> {
        sql.lock().await.read_only_from_now();
        let result = self.call_scoped(plan, plugin, call, client, sql, true).await?;
        let stats = sql.lock().await.stats.clone();
        let metrics = checks::outcome(plugin, call, result, &stats)?;
        let mut table = CheckTable::new(&plugin.manifest.name, title, declared, &metrics);
        if matches!(call, Call::PostConditions | Call::RollbackConditions) {
            table.require_assertions();
        }
        Ok(table)
    }

    /// What the sandbox needs to call `plugin`: only the parameters its
    /// manifest declares. None when the command did not compile it.
    fn spec<'a>(&self, plan: &'a Plan, plugin: &'a Plugin, data_dir: Option<&'a Path>) -> Option<CallSpec<'a>> {
        let params = self
            .params
            .iter()
            .filter(|(k, _)| plugin.manifest.params.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(CallSpec {
            name: &plugin.manifest.name,
            component: plan.component(plugin)?,
            limits: &plugin.manifest.limits,
            data_dir,
            params,
        })
    }
}

/// The transaction on `client` is still the one the host opened, alive,
/// with the same identity: a plugin cannot end it or change who it runs as.
async fn same_session(client: &Client, before: &Identity, label: &str) -> Result<(), Failure> {
    let cause = match db::identity(client).await {
        Ok(after) if &after == before => return Ok(()),
        Ok(after) => format!(
            "the session changed under the plugin: {}; nothing of its transaction is kept",
            crate::text::terminal(&after.changes_from(before).join(", "))
        ),
        Err(e) if e.downcast_ref().is_some_and(crate::sql::convert::connection_lost) => {
            return Err(Failure::Database(anyhow::anyhow!("{label}: the database connection was lost: {e:#}")))
        }
        Err(e) => format!("the transaction is no longer usable: {e:#}"),
    };
    Err(Failure::TierFailed { label: label.to_string(), cause })
}

/// A command's own result and its rollout's close: a close that failed
/// turns a success into that failure; a command that failed keeps its own
/// failure (the close's error is said, not lost).
fn closed<T>(ctx: &Context, result: Result<T, Failure>, close: Result<(), Failure>) -> Result<T, Failure> {
    match (result, close) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(refused)) => Err(refused),
        (Err(failure), Ok(())) => Err(failure),
        (Err(failure), Err(refused)) => {
            ctx.reporter.error(&refused.to_string());
            Err(failure)
        }
    }
}

/// Rollouts left running because a transaction of theirs is still open on
/// the server: said, never settled by guess.
pub(crate) fn busy_message(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("rollout {id}")).collect();
    format!(
        "{} is still marked running and a transaction of it is still open on the server (a COMMIT it is still \
         working on, or a host that lost its rollout lock but not its tier's connection); it cannot be settled \
         until that transaction ends: wait, then run `host status` (pg_stat_activity shows its `host apply` or \
         `host rollback` connection)",
        list.join(", ")
    )
}

/// Every plugin must allow the database it is about to run against.
fn guard_database(database: &str, plan: &Plan) -> Result<(), Failure> {
    for p in plan.all() {
        if !p.manifest.databases.iter().any(|d| d == database) {
            return Err(Failure::WrongDatabase(format!(
                "refusing to run against database `{database}`: plugin {} allows only {:?}; connect to the right database",
                p.label(),
                p.manifest.databases
            )));
        }
    }
    Ok(())
}

/// Every declared parameter must be given and match its pattern.
pub fn check_params(plan: &Plan, params: &BTreeMap<String, String>) -> Result<(), Failure> {
    for p in plan.all() {
        for (name, spec) in &p.manifest.params {
            let Some(value) = params.get(name) else {
                return Err(Failure::Params(format!(
                    "missing parameter `{name}` ({}), required by {}; pass --param {name}=…",
                    spec.description,
                    p.label()
                )));
            };
            let re = regex::Regex::new(&format!("^(?:{})$", spec.pattern))
                .map_err(|e| Failure::Params(format!("parameter `{name}` has an invalid pattern: {e}")))?;
            if !re.is_match(value) {
                return Err(Failure::Params(format!(
                    "parameter `{name}`={value:?} does not match `{}` ({}), required by {}",
                    spec.pattern,
                    spec.description,
                    p.label()
                )));
            }
        }
    }
    Ok(())
}

/// The value of the parameter a manifest marks as the approval reference.
fn approval_ref<'a>(plan: &Plan, params: &'a BTreeMap<String, String>) -> Option<&'a str> {
    plan.all()
        .flat_map(|p| p.manifest.params.iter())
        .find(|(_, spec)| spec.approval)
        .and_then(|(name, _)| params.get(name).map(String::as_str))
}
