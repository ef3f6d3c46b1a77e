//! The call side of a command: a plugin's SQL access on the work session,
//! the call into the plugin, its table, and the rule every call's result
//! goes through (a swallowed SQL error still fails). Under roles each call
//! runs behind the role wall ([`super::wall`]).

mod wall;

use super::connections::Connections;
use crate::bindings::types::Metric;
use crate::error::Failure;
use crate::manifest::Limits;
use crate::plan::{Plan, Plugin};
use crate::report::{CheckTable, Reporter};
use crate::roles::wall::Wall;
use crate::roles::Roles;
use crate::sandbox::{Call, CallError, CallSpec, Returned, Sandbox};
use crate::signal::Interrupt;
use crate::sql::check::Catalog;
use crate::sql::{SqlSession, Stats, Stop};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::Mutex;
use tokio_postgres::Client;

/// A plugin's SQL access for one call (or an apply and its table).
pub(super) type SqlAccess = Arc<Mutex<SqlSession>>;

/// How a command calls its plugins.
pub(super) struct Calls {
    sandbox: Sandbox,
    reporter: Arc<Reporter>,
    interrupt: Interrupt,
    params: BTreeMap<String, String>,
    /// Under roles (`--roles`, or a lock file reviewed with roles): each
    /// plugin's calls run as its own restricted role, proven first.
    roles: Option<Arc<Roles>>,
    /// Under roles, once proven: the command's key, registered on its
    /// control connection; the work session is the runner's.
    wall: OnceLock<Wall>,
    /// The checker's catalog lists as the server has them, read once per
    /// command when its work session connects ([`super::work::WorkSession::open`]).
    catalog: OnceLock<Arc<Catalog>>,
    connections: Arc<Connections>,
}

impl Calls {
    pub fn new(
        sandbox: Sandbox,
        reporter: Arc<Reporter>,
        interrupt: Interrupt,
        params: BTreeMap<String, String>,
        roles: Option<Arc<Roles>>,
        connections: Arc<Connections>,
    ) -> Calls {
        Calls {
            sandbox,
            reporter,
            interrupt,
            params,
            roles,
            wall: OnceLock::new(),
            catalog: OnceLock::new(),
            connections,
        }
    }

    /// Every plugin runs as its own restricted role.
    pub fn under_roles(&self) -> bool {
        self.roles.is_some()
    }

    /// Under roles, once the wall holds the command's key.
    pub fn behind_wall(&self) -> bool {
        self.wall.get().is_some()
    }

    /// The checker's catalog lists, read from the server the first time
    /// the command's work session connects (one round trip): a newer
    /// server's functions are in them, which a list built into the host
    /// would miss.
    pub async fn read_catalog_once(&self, client: &Client) -> Result<(), Failure> {
        if self.catalog.get().is_none() {
            let catalog = Catalog::read(client).await.map_err(|e| Failure::Database(e.into()))?;
            let _ = self.catalog.set(Arc::new(catalog));
        }
        Ok(())
    }

    /// A plugin's SQL access on `client`, shared with the sandbox call,
    /// checked against the server's catalog lists (every plugin's client
    /// comes from the work session, which read them when it connected).
    pub fn sql_access(&self, plugin: &Plugin, client: &Arc<Client>) -> SqlAccess {
        self.sql_access_within(plugin, client, plugin.manifest.limits.clone())
    }

    /// [`Calls::sql_access`] under `limits` instead of the manifest's own
    /// (one batch of a batched tier: its own row and time bounds).
    pub fn sql_access_within(&self, plugin: &Plugin, client: &Arc<Client>, limits: Limits) -> SqlAccess {
        let m = &plugin.manifest;
        let catalog = self.catalog.get().cloned().unwrap_or_else(Catalog::built);
        let target = self.connections.target();
        Arc::new(Mutex::new(
            SqlSession::new(
                client.clone(),
                target.canceller(client),
                m.grants.clone(),
                m.kind.read_only(),
                limits,
                Instant::now(),
                self.interrupt.clone(),
            )
            .in_mode(m.mode)
            .in_phases(&m.phases)
            .running_as(self.roles.as_ref().and_then(|r| r.role_of(&m.name)))
            .on_wire(target.wire(client))
            .with_catalog(catalog)
            .on_lock_wait(waiting(self.reporter.clone())),
        ))
    }

    /// One call into `plugin` with its SQL access on `client` and a fresh
    /// copy of its data files. Under roles the call runs as the plugin's
    /// role, switched in the host's transaction just before and back just
    /// after (the host's own statements never run as a plugin); a call that
    /// ended as anyone else fails (the outer error).
    pub async fn call(
        &self,
        plan: &Plan,
        plugin: &Plugin,
        call: Call,
        client: &Client,
        sql: &SqlAccess,
    ) -> Result<Result<Returned, CallError>, Failure> {
        self.call_scoped(plan, plugin, call, client, sql, false).await
    }

    /// [`Calls::call`], then the streams the plugin left open closed, with
    /// what its statements did: what every call outside a tier's own
    /// transaction (a concurrent tier's, a dry run's batch) ends with.
    pub async fn call_closed(
        &self,
        plan: &Plan,
        plugin: &Plugin,
        call: Call,
        client: &Client,
        sql: &SqlAccess,
    ) -> (Result<Result<Returned, CallError>, Failure>, Stats) {
        let result = self.call(plan, plugin, call, client, sql).await;
        let mut session = sql.lock().await;
        session.close_streams().await;
        (result, session.stats.clone())
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
    pub async fn table(
        &self,
        plan: &Plan,
        plugin: &Plugin,
        call: Call,
        client: &Client,
        sql: &SqlAccess,
        declared: &[String],
        title: &str,
    ) -> Result<CheckTable, Failure> {
        sql.lock().await.read_only_from_now();
        let result = self.call_scoped(plan, plugin, call.clone(), client, sql, true).await?;
        let stats = sql.lock().await.stats.clone();
        let metrics = outcome(plugin, &call, result, &stats)?;
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
            world: plugin.world(),
            limits: &plugin.manifest.limits,
            data_dir,
            params,
        })
    }

    /// A plugin the interrupt stopped: the command winds down from here.
    fn heard(&self, result: Result<Returned, CallError>) -> Result<Returned, CallError> {
        if matches!(result, Err(CallError::Stopped(Stop::Interrupted))) {
            self.interrupt.hear();
        }
        result
    }
}

/// Turns a call's result and the session's record into metrics or a
/// failure: a swallowed SQL error still fails.
pub(super) fn outcome(
    plugin: &Plugin,
    call: &Call,
    result: Result<Returned, CallError>,
    stats: &Stats,
) -> Result<Vec<Metric>, Failure> {
    let fail = |cause: String| Failure::TierFailed { label: format!("{} {}", plugin.label(), call.name()), cause };
    let metrics = match result {
        Ok(Returned::Done) | Ok(Returned::Batch(_)) => Vec::new(),
        Ok(Returned::Metrics(m)) => m,
        Err(CallError::Stopped(Stop::Interrupted)) => {
            return Err(Failure::Interrupted(format!("{} stopped during {}", plugin.label(), call.name())))
        }
        Err(CallError::Stopped(Stop::ConnectionLost(why))) => {
            return Err(Failure::Database(anyhow::anyhow!(
                "{} {}: the database connection was lost: {why}",
                plugin.label(),
                call.name()
            )))
        }
        Err(CallError::Stopped(stop)) => return Err(fail(format!("stopped by the host: {stop}"))),
        Err(e) => return Err(fail(with_first_error(&e.to_string(), stats.errors.first()))),
    };
    if let Some(first) = stats.errors.first() {
        let more = stats.errors.len() - 1;
        let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        return Err(fail(format!("{first}{more}; an SQL error fails the tier even when the plugin ignores it")));
    }
    Ok(metrics)
}

/// A plugin's error, and the first SQL error or refusal of its call said
/// once: when the plugin's text already quotes that error's message (it
/// passed the error on), only where it happened is added.
fn with_first_error(said: &str, first: Option<&String>) -> String {
    let Some(first) = first else {
        return said.to_string();
    };
    // `refused `stmt`: why` / `SQL error X in `stmt`: message`.
    match first.split_once("`: ") {
        Some((at, why)) if said.contains(why) => format!("{said} ({at}`)"),
        _ if said.contains(first.as_str()) => said.to_string(),
        _ => format!("{said} (first SQL error or refusal: {first})"),
    }
}

/// A DDL statement's retry, as a status line: `Waiting  lock on s.t held by pid 123 (app), retry 3/10 in 400 ms`.
fn waiting(reporter: Arc<Reporter>) -> crate::sql::OnWait {
    Arc::new(move |line: &str| reporter.warning("Waiting", line))
}

#[cfg(test)]
mod tests {
    use super::with_first_error;

    #[test]
    fn a_refusal_the_plugin_passed_on_is_said_once() {
        let first = "refused `DELETE FROM t`: no grant allows DELETE on public.t".to_string();
        let said = "plugin error: SQL error RL000: no grant allows DELETE on public.t";
        let shown = with_first_error(said, Some(&first));
        assert_eq!(shown.matches("no grant allows DELETE on public.t").count(), 1, "{shown}");
        assert!(shown.ends_with("(refused `DELETE FROM t`)"), "{shown}");
        // A plugin that said something else keeps the refusal in full.
        let other = with_first_error("plugin error: gave up", Some(&first));
        assert_eq!(other, format!("plugin error: gave up (first SQL error or refusal: {first})"));
        assert_eq!(with_first_error("plugin error: x", None), "plugin error: x");
    }
}
