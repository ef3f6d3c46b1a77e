//! The runbook, in order: gate, run, rollback, status.
//!
//! `run`: parameters → identity guard → rollout lock → ledger state → gate
//! (read-only) → each tier in its own transaction ([`tier`]) → verify →
//! probes. Any failure rolls back that tier, is written to the ledger, and
//! stops the run; committed tiers stay, and `host rollback` restores the
//! baseline.

mod checks;
mod report;
mod rollback;
mod run;
mod status;
mod tier;

pub use report::{report, Destination};
pub use rollback::rollback;
pub use run::{gate, run};
pub use status::status;

use crate::db::{self, Target};
use crate::error::Failure;
use crate::ledger::{self, Outcome};
use crate::plan::{Plan, Plugin};
use crate::report::Reporter;
use crate::sandbox::{CallSpec, Sandbox};
use crate::signal::Interrupt;
use crate::sql::SqlSession;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
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
}

impl Context {
    /// How the host's connections appear in `pg_stat_activity`.
    fn app_name(&self, verb: &str) -> String {
        let name = format!("host {verb} by {} pid {}", self.operator, std::process::id());
        name.chars().take(63).collect()
    }

    /// Connects the control connection and applies the identity guard.
    async fn control(&self, verb: &str, plan: &Plan) -> Result<Arc<Client>, Failure> {
        let client = self.target.connect(&self.app_name(verb)).await.map_err(Failure::Database)?;
        let database = db::current_database(&client).await.map_err(Failure::Database)?;
        self.reporter.set_database(&database);
        guard_database(&database, plan)?;
        self.reporter.status("Connected", &format!("to database `{database}` as {}", self.operator));
        Ok(client)
    }

    /// The rollout lock, on the control connection, until the command ends.
    async fn lock(&self, control: &Client) -> Result<(), Failure> {
        match db::try_rollout_lock(control).await.map_err(Failure::Database)? {
            Ok(()) => {
                self.reporter.status("Locked", "rollout lock taken (released when this command ends)");
                Ok(())
            }
            Err(holder) => Err(Failure::LockHeld(holder)),
        }
    }

    /// Under the lock, with the ledger there: rollouts still marked running
    /// belong to a host that is gone; name them.
    async fn abandon_stale(&self, control: &Client, verb: &str) -> Result<(), Failure> {
        let by = format!("host {verb} (pid {}, operator {})", std::process::id(), self.operator);
        for id in crate::ledger::abandon_stale(control, &by).await? {
            let why = "was still marked running, but no host held the lock; recorded as abandoned";
            self.reporter.status("Abandoned", &format!("rollout {id} {why}"));
        }
        Ok(())
    }

    /// Closes rollout `id` in the ledger with its outcome and the report,
    /// sealed now: the files the command writes are exactly what the ledger
    /// keeps (`host report ID`).
    async fn close(&self, control: &Client, id: i64, outcome: Outcome, message: &str) {
        let report = self.reporter.seal(outcome, message);
        match ledger::finish(control, id, outcome, message, report.as_ref()).await {
            Ok(()) if report.is_some() => self.reporter.stored_in_ledger(),
            Ok(()) => self.reporter.error(&format!("rollout {id} is closed in the ledger, but without its report")),
            Err(e) => self.reporter.error(&format!("could not close rollout {id} in the ledger: {e}")),
        }
    }

    /// A plugin's SQL access on `client`, shared with the sandbox call.
    fn session(&self, plugin: &Plugin, client: &Arc<Client>) -> Arc<Mutex<SqlSession>> {
        let m = &plugin.manifest;
        Arc::new(Mutex::new(SqlSession::new(
            client.clone(),
            self.target.canceller(client),
            m.grants.clone(),
            m.kind.read_only(),
            m.limits.clone(),
            Instant::now(),
            self.interrupt.clone(),
        )))
    }

    /// What the sandbox needs to call `plugin`: only the parameters its
    /// manifest declares.
    fn spec<'a>(&self, plan: &'a Plan, plugin: &'a Plugin, data_dir: Option<&'a Path>) -> CallSpec<'a> {
        let params = self
            .params
            .iter()
            .filter(|(k, _)| plugin.manifest.params.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        CallSpec {
            name: &plugin.manifest.name,
            component: plan.component(plugin),
            limits: &plugin.manifest.limits,
            data_dir,
            params,
        }
    }
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
