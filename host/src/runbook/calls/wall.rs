//! The call side's role wall: the proof before the gate and
//! again inside each tier's transaction, the work session authenticated
//! as the runner, each plugin call inside the role wall
//! ([`crate::roles::wall`]: the runner made a member of that plugin's role
//! alone, for that call, in the host's transaction), and the host's own
//! ledger statements on the work session as the ledger writer. Without
//! roles every function here is the plain path.

use super::{Calls, SqlAccess};
use crate::db;
use crate::error::Failure;
use crate::plan::{Plan, Plugin};
use crate::roles::wall::{self, Wall};
use crate::roles::{proof, WRITER};
use crate::sandbox::{Call, CallError, Returned};
use std::sync::Arc;
use tokio_postgres::Client;

impl Calls {
    /// The work session's connection: under roles, authenticated as the
    /// runner (same settings, that user), and proven to be it.
    pub async fn connect_work(&self, verb: &str) -> Result<Arc<Client>, Failure> {
        let Some(wall) = self.wall.get() else {
            if self.roles.is_some() {
                return Err(Failure::Roles("under roles, but no key was registered before the work session".into()));
            }
            return self.connections.connect(verb).await;
        };
        let target = self.connections.target().as_user(wall.runner());
        let client = self.connections.connect_as(verb, &target).await?;
        let who = db::identity(&client).await.map_err(Failure::Database)?;
        if who.session_user != wall.runner() || who.current_user != wall.runner() {
            return Err(Failure::Roles(format!(
                "the work session connected as {} (current user {}), not as the runner {}; check the connection's \
                 `options` and the server's settings for that role",
                who.session_user,
                who.current_user,
                wall.runner()
            )));
        }
        Ok(client)
    }

    /// Under roles, before anything is written: every plugin's role must
    /// exist and hold exactly its grants, and the wall must hold, or the
    /// command is refused with the SQL that fixes it (exit 2). Then the
    /// command's key is registered on the control connection.
    pub async fn prove_roles(&self, control: &Arc<Client>) -> Result<(), Failure> {
        let Some(roles) = &self.roles else {
            return Ok(());
        };
        if let Some(why) = roles.impossible.first() {
            return Err(Failure::Roles(format!("this plan cannot run under roles: {why}")));
        }
        let operator = db::identity(control).await.map_err(Failure::Database)?.session_user;
        control.batch_execute(proof::ON_CONTROL).await?;
        let findings = proof::prove(control, roles, proof::Scope { operator: &operator, before_gate: true }).await?;
        if findings.is_empty() {
            self.reporter.set_roles(roles.map());
            let n = roles.plugins.len();
            self.reporter.status("Proven", &format!("{n} restricted roles hold exactly their plugins' grants"));
            let wall = Wall::register(control.clone(), &roles.runner, &operator).await.map_err(Failure::Database)?;
            let _ = self.wall.set(wall);
            let runner = &roles.runner;
            self.reporter.status("Wall", &format!("the plugins' session logs in as {runner}, a member of no role"));
            return Ok(());
        }
        self.refuse_roles(&findings)
    }

    /// The proof failed: each problem, the SQL that fixes them, exit 2.
    fn refuse_roles(&self, findings: &[proof::Finding]) -> Result<(), Failure> {
        let (problems, fix) = proof::message(findings);
        for p in &problems {
            self.reporter.status("Role", p);
        }
        self.reporter.result("-- The SQL that fixes it (as a superuser, or the owner of the roles and objects):");
        for s in &fix {
            self.reporter.result(s);
        }
        let shown: Vec<&str> = fix.iter().take(12).map(String::as_str).collect();
        let more = fix.len().saturating_sub(shown.len());
        let more = if more > 0 { format!(" … and {more} more, printed above") } else { String::new() };
        Err(Failure::Roles(format!(
            "refusing to run under roles: {} problem(s) with the plan's restricted roles, nothing was written \
             (first: role {}: {}); run this SQL, then run again: {}{more}",
            problems.len(),
            findings[0].role,
            findings[0].what,
            shown.join(" ")
        )))
    }

    /// Under roles, inside the transaction open on `client` (a tier's, a
    /// rollback's, a dry run's), after the plugin's calls and before the
    /// host writes its ledger row: the proof again, as the runner, which
    /// sees what the transaction changed. A tier that changed what any role
    /// holds (a default privilege, a grant, an object it should not own)
    /// fails, and nothing of it is kept.
    pub async fn prove_in(&self, client: &Client, label: &str) -> Result<(), Failure> {
        let Some(roles) = &self.roles else {
            return Ok(());
        };
        let Some(wall) = self.wall.get() else {
            return Err(Failure::Roles(format!("{label}: under roles, but no key was registered")));
        };
        // The host's own bound, not the plugin's (which may be short).
        client.batch_execute(proof::IN_TRANSACTION).await?;
        let scope = proof::Scope { operator: wall.operator(), before_gate: false };
        let started = std::time::Instant::now();
        let findings = proof::prove(client, roles, scope).await?;
        tracing::debug!("role proof inside {label}'s transaction: {} µs", started.elapsed().as_micros());
        let Some(first) = findings.first() else {
            return Ok(());
        };
        let (problems, fix) = proof::message(&findings);
        for p in &problems {
            self.reporter.status("Role", p);
        }
        self.reporter.result("-- What it changed is rolled back; were it committed, this SQL would fix it:");
        for s in &fix {
            self.reporter.result(s);
        }
        Err(Failure::TierFailed {
            label: label.to_string(),
            cause: format!(
                "the role proof after it failed: {} problem(s) (first: {}: {}); it changed what a role holds, \
                 and nothing of its transaction is kept",
                problems.len(),
                first.role,
                first.what
            ),
        })
    }

    /// The host's own ledger statement on the work session (`work`), under
    /// roles as the ledger writer, entered and left around it with no
    /// plugin code in between.
    pub async fn as_writer<T>(
        &self,
        client: &Client,
        work: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let Some(wall) = self.wall.get() else {
            if self.roles.is_some() {
                return Err(Failure::Roles("under roles, but no key was registered for the ledger writer".into()));
            }
            return work.await;
        };
        wall.enter_as(client, WRITER)
            .await
            .map_err(|e| Failure::Database(anyhow::anyhow!("cannot switch to the ledger writer {WRITER}: {e}")))?;
        let done = work.await;
        let back = wall.switch_back_and_leave(client).await;
        let value = done?;
        match back? {
            user if user == WRITER => Ok(value),
            user => Err(Failure::Database(anyhow::anyhow!(
                "the host's ledger statement ended as role {user}, not as {WRITER}"
            ))),
        }
    }

    /// A ledger event written in the transaction open on `client` (as the
    /// ledger writer under roles).
    pub async fn record_in(&self, client: &Client, event: &crate::ledger::Event<'_>) -> Result<(), Failure> {
        self.as_writer(client, async { Ok(crate::ledger::event(client, event).await?) }).await
    }

    /// [`Calls::call`]; `read_only`: inside a read-only savepoint rolled
    /// back after it (a check). Under roles the runner is granted the role
    /// before the savepoint (a read-only transaction refuses GRANT) and
    /// switches to it inside; it switches back and leaves after.
    pub(super) async fn call_scoped(
        &self,
        plan: &Plan,
        plugin: &Plugin,
        call: Call,
        client: &Client,
        sql: &SqlAccess,
        read_only: bool,
    ) -> Result<Result<Returned, CallError>, Failure> {
        let data = match plugin.materialize_files() {
            Ok(d) => d,
            Err(e) => return Ok(Err(CallError::Failed(format!("{e:#}")))),
        };
        let Some(spec) = self.spec(plan, plugin, data.as_ref().map(|d| d.path())) else {
            return Ok(Err(CallError::Failed(format!("{} was not compiled for this command", plugin.label()))));
        };
        let role = self.roles.as_ref().and_then(|r| r.role_of(&plugin.manifest.name));
        let interrupt = self.interrupt.clone();
        let name = call.name();
        let run = || self.sandbox.call(spec, call, sql.clone(), self.reporter.clone(), interrupt.clone());
        if role.is_some() && self.wall.get().is_none() {
            // Under roles a call never runs on the plain path.
            return Err(Failure::Roles(format!("{}: under roles, but no key was registered", plugin.label())));
        }
        let (Some(role), Some(wall)) = (role, self.wall.get()) else {
            if read_only {
                db::read_only_scope(client).await?;
            }
            let result = self.heard(run().await);
            if read_only {
                db::end_read_only_scope(client).await?;
            }
            return Ok(result);
        };
        // Sent together: one round trip each way.
        let switched = if read_only {
            let (a, b, c) =
                futures_util::join!(wall.enter(client, role), db::read_only_scope(client), wall::switch(client, role));
            a.and(b).and(c)
        } else {
            wall.enter_as(client, role).await
        };
        switched.map_err(|e| {
            Failure::Database(anyhow::anyhow!("cannot switch to the role {role} of {}: {e}", plugin.label()))
        })?;
        let result = self.heard(run().await);
        let (back, scope, left) = if read_only {
            futures_util::join!(wall::switch_back(client), db::end_read_only_scope(client), wall.leave(client))
        } else {
            let (back, left) = futures_util::join!(wall::switch_back(client), wall.leave(client));
            (back, Ok(()), left)
        };
        match back {
            Ok(user) if user == role => {
                scope?;
                left?;
                Ok(result)
            }
            Ok(user) => {
                let stopped = result.err().map(|e| format!(" ({e})")).unwrap_or_default();
                Err(Failure::TierFailed {
                    label: format!("{} {name}", plugin.label()),
                    cause: format!(
                        "its call ended as role {user}, not as its own role {role}: the plugin changed its role{stopped}; \
                         nothing of its transaction is kept"
                    ),
                })
            }
            // The plugin's SQL error aborted the transaction (or, in a
            // check, its savepoint, rolled back just after: the role and
            // the read-only scope end with it). The error is recorded and
            // fails the call; an aborted transaction is rolled back next.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION) => {
                if read_only {
                    scope?;
                    left?;
                }
                Ok(result)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the command's key off the wall at its end. The key dies with
    /// the control connection anyway; bounded.
    pub async fn unregister_wall(&self) {
        if let Some(wall) = self.wall.get() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), wall.unregister()).await;
        }
    }
}
