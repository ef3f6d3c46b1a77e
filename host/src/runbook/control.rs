//! The control side of a command: the control connection beside the work
//! session. It applies the identity guard, holds the rollout lock until the
//! command ends, settles rollouts a gone host left running, audits the
//! catalog, and writes the ledger's rollout row and the failures a rolled
//! back transaction cannot hold; it closes the rollout with its report.

use super::calls::Calls;
use super::context::Context;
use crate::audit;
use crate::db;
use crate::error::Failure;
use crate::ledger::{self, Event, Outcome};
use crate::plan::Plan;
use crate::report::Reporter;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;

/// The control connection's own bounds: the host's ledger statements never
/// wait forever on a lock or a slow server. Its prepared statements keep
/// one generic plan: the footprint's sampler (every 50 ms) and the
/// sequence watch (every batch) were planned again at each run, their
/// parameters asking the server for a custom plan (the sampler's about
/// 1.2 ms each time, on the server the batches run on).
pub(crate) const CONTROL_SETTINGS: &str =
    "SET statement_timeout = '30s'; SET lock_timeout = '5s'; SET plan_cache_mode = force_generic_plan";
/// How long the host waits, client side, for a ledger answer that settles a
/// lost COMMIT: past the server's own statement timeout.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(35);

/// A command's control connection.
pub(super) struct Control {
    client: Arc<Client>,
    reporter: Arc<Reporter>,
    operator: String,
    /// The control connection's server process: the rollout lock is its.
    pid: i32,
}

impl Control {
    /// Connects the control connection and applies the identity guard:
    /// every plugin must allow the database it is about to run against.
    pub async fn open(ctx: &Context, verb: &str, plan: &Plan) -> Result<Control, Failure> {
        let reporter = ctx.reporter().clone();
        let client = ctx.connections().connect(verb).await?;
        client.batch_execute(CONTROL_SETTINGS).await?;
        let database = db::current_database(&client).await.map_err(Failure::Database)?;
        reporter.set_database(&database);
        guard_database(&database, plan)?;
        let session = db::connection(&client).await.map_err(Failure::Database)?;
        let target = ctx.connections().target();
        reporter.status("Connected", &session.describe(&database, target.endpoint_of(&client), &target.settings().tls));
        Ok(Control { client, reporter, operator: ctx.operator().to_string(), pid: session.pid })
    }

    /// The control connection itself (the role proof, the ledger's reads).
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The rollout lock, on the control connection, until the command ends.
    pub async fn take_lock(&self) -> Result<(), Failure> {
        match db::try_rollout_lock(&self.client).await.map_err(Failure::Database)? {
            Ok(()) => {
                self.reporter.status("Locked", "out other rollouts of this database until this command ends");
                Ok(())
            }
            Err(holder) => Err(Failure::LockHeld(holder)),
        }
    }

    /// Under the lock, with the ledger there: rollouts still marked running
    /// belong to a host that is gone; name them.
    pub async fn settle_stale(&self, verb: &str) -> Result<(), Failure> {
        let by = format!("host {verb} (pid {}, operator {})", std::process::id(), self.operator);
        let stale = ledger::abandon_stale(&self.client, &by).await?;
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

    /// The catalog audit, before the gate and before anything is written:
    /// reads what the catalog makes the plan do beyond what its statements
    /// name, and refuses the plan (exit 2) when any of it is unreviewed
    /// code or a write no grant names; says what passed otherwise.
    pub async fn audit_catalog(&self, plan: &Plan, reviewed: Option<&audit::Reviewed>) -> Result<(), Failure> {
        let plugins: Vec<_> = plan.all().collect();
        let audit = audit::read(&self.client, &plugins).await.map_err(Failure::Database)?;
        let verdict = audit.verdict(reviewed);
        if verdict.passes() {
            self.reporter.status("Audited", &verdict.summary(&audit));
            return Ok(());
        }
        for (verb, line) in verdict.lines() {
            self.reporter.status(verb, &line);
        }
        Err(Failure::Audit(verdict.refusal()))
    }

    /// Opens the command's rollout row in the ledger; its id.
    pub async fn start(&self, row: ledger::Start<'_>) -> Result<i64, Failure> {
        let id = ledger::start(&self.client, row).await?;
        if let Some(l) = self.reporter.lock() {
            let signed =
                ledger::LockSigned { sha256: &l.sha256, signer: &l.signer, key: &l.key, checked_at: &l.checked_at };
            ledger::set_lock(&self.client, id, &signed).await?;
        }
        self.reporter.set_rollout_id(id);
        Ok(id)
    }

    /// Inside a change transaction on `client` (a tier's apply, a
    /// rollback): holds the rollout's ledger row until the transaction
    /// ends, and proves on the server that the control connection's process
    /// still holds the rollout lock and the rollout is still running. A
    /// host whose control connection died lost the lock with it (the server
    /// releases a session's advisory locks when it ends): it commits
    /// nothing more. One round trip, on `client` only.
    pub async fn hold(&self, calls: &Calls, client: &Client, rollout_id: i64) -> Result<(), Failure> {
        let pid = self.pid;
        match calls.as_writer(client, async { Ok(ledger::hold(client, rollout_id, pid).await?) }).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Database(anyhow::anyhow!(
                "rollout {rollout_id} is no longer this host's: its control connection lost the rollout lock, or \
                 another command settled the rollout; nothing more of it is committed"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Records a failed or interrupted step; a ledger that cannot take it
    /// is said, not hidden.
    pub async fn record_failure(&self, event: &Event<'_>) {
        if let Err(err) = ledger::event(&self.client, event).await {
            let what = event.event.as_str();
            self.reporter.error(&format!(
                "could not write the {what} event of {} to the ledger: {}",
                event.plugin,
                db::why(&err)
            ));
        }
    }

    /// A ledger event the command writes on the control connection (the
    /// verify's, which changes nothing).
    pub async fn record(&self, event: &Event<'_>) -> Result<(), Failure> {
        Ok(ledger::event(&self.client, event).await?)
    }

    /// The gate's verdict on the rollout's row.
    pub async fn record_gate(&self, rollout_id: i64, verdict: ledger::Verdict) -> Result<(), Failure> {
        Ok(ledger::set_gate(&self.client, rollout_id, verdict).await?)
    }

    /// Whether a transaction whose COMMIT's answer was lost committed,
    /// from the ledger: once that transaction has ended (it holds the
    /// rollout's row), its `mark` row is there or not. Each read bounded
    /// on the client side.
    pub async fn committed(&self, mark: &CommitMark<'_>) -> Result<bool, Failure> {
        match bounded(ledger::await_end(&self.client, mark.rollout_id)).await {
            Ok(()) => bounded(ledger::has_event(&self.client, mark.rollout_id, mark.plugin, mark.event)).await,
            Err(e) => Err(Failure::Database(anyhow::anyhow!("its transaction is still open on the server: {e}"))),
        }
    }

    /// Closes rollout `id` with the command's result: its outcome and the
    /// report, sealed now (the files the command writes are exactly what
    /// the ledger keeps: `host report ID`). A ledger that refuses the close
    /// is a failure of the command (exit 8) naming the server's reason,
    /// never a success: the ledger would go on saying `running`. A close
    /// that failed turns a success into that failure; a command that failed
    /// keeps its own failure (the close's error is said, not lost).
    pub async fn close<T>(
        &self,
        id: i64,
        result: Result<T, Failure>,
        outcome: Outcome,
        message: &str,
    ) -> Result<T, Failure> {
        let close = self.close_row(id, outcome, message).await;
        match (result, close) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(refused)) => Err(refused),
            (Err(failure), Ok(())) => Err(failure),
            (Err(failure), Err(refused)) => {
                self.reporter.error(&refused.to_string());
                Err(failure)
            }
        }
    }

    async fn close_row(&self, id: i64, outcome: Outcome, message: &str) -> Result<(), Failure> {
        let report = self.reporter.seal(outcome, message);
        let listings = self.reporter.listings();
        let closed = match ledger::finish(&self.client, id, outcome, message, report.as_ref(), &listings).await {
            // The close matters more than the listing: said, and closed without it.
            Err(e) if !listings.is_empty() && !crate::sql::convert::connection_lost(&e) => {
                let why = db::why(&e);
                self.reporter.error(&format!("the ledger refused the SQL the tiers of rollout {id} sent ({why})"));
                ledger::finish(&self.client, id, outcome, message, report.as_ref(), &[]).await
            }
            closed => closed,
        };
        match closed {
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
}

/// The ledger row that exists only if a change's transaction committed.
pub(super) struct CommitMark<'a> {
    pub rollout_id: i64,
    pub plugin: &'a str,
    pub event: ledger::TierEvent,
}

/// A ledger read, bounded on the client side: past the server's own
/// statement timeout.
async fn bounded<T>(read: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, Failure> {
    match tokio::time::timeout(SETTLE_TIMEOUT, read).await {
        Ok(r) => r.map_err(Failure::from),
        Err(_) => Err(Failure::Database(anyhow::anyhow!("no answer in {} s", SETTLE_TIMEOUT.as_secs()))),
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
