//! One tier in its own transaction, step by step as the runbook says:
//! begin, apply (or rollback), post-conditions, assert the session, ledger
//! row, commit. On any failure the transaction is rolled back and the
//! failure is recorded on the control connection.

use super::checks::outcome;
use super::Context;
use crate::db;
use crate::error::Failure;
use crate::ledger::{self, TierEvent};
use crate::plan::{Plan, Plugin};
use crate::report::{CheckTable, TierRow};
use crate::sandbox::{Call, Returned};
use crate::sql::{SqlSession, Stats};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;
use tokio_postgres::Client;

/// Which way a tier goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Apply,
    Rollback,
}

impl Action {
    fn call(self) -> Call {
        match self {
            Action::Apply => Call::Apply,
            Action::Rollback => Call::Rollback,
        }
    }

    fn event(self) -> TierEvent {
        match self {
            Action::Apply => TierEvent::Applied,
            Action::Rollback => TierEvent::RolledBack,
        }
    }

    /// The status verbs: while it runs, and once it committed.
    fn verbs(self) -> (&'static str, &'static str) {
        match self {
            Action::Apply => ("Applying", "Applied"),
            Action::Rollback => ("Rolling back", "Rolled back"),
        }
    }
}

/// What a tier's transaction did, committed or not.
#[derive(Debug, Default, Clone)]
pub struct TierRecord {
    pub stats: Stats,
    pub post_conditions: Option<CheckTable>,
}

/// A tier that did not commit, with what it did before it stopped.
#[derive(Debug)]
pub struct TierError {
    pub failure: Failure,
    pub record: TierRecord,
}

/// One tier's transaction.
pub struct TierTransaction<'a> {
    pub ctx: &'a Context,
    pub plan: &'a Plan,
    pub tier: &'a Plugin,
    pub action: Action,
    pub rollout_id: i64,
    /// The control connection: the ledger row of a failure goes there,
    /// since the tier's transaction is gone.
    pub control: &'a Client,
}

impl TierTransaction<'_> {
    /// Runs the tier, reports it, and records a failure in the ledger.
    pub async fn run(self) -> Result<(), Failure> {
        let (ctx, tier) = (self.ctx, self.tier);
        let started = Instant::now();
        let (running, done) = self.action.verbs();
        ctx.reporter.status(running, &tier.label());
        let client =
            ctx.target.connect(&ctx.app_name(self.action.event().as_str())).await.map_err(Failure::Database)?;
        let result = self.transaction(&client, started).await;
        let ms = started.elapsed().as_millis();
        let record = match &result {
            Ok(r) => r.clone(),
            Err(e) => e.record.clone(),
        };
        if let Some(table) = &record.post_conditions {
            ctx.reporter.table(table);
        }
        let mut row = TierRow {
            ordinal: tier.ordinal() as u32,
            plugin: tier.manifest.name.clone(),
            action: self.action.call().name().into(),
            outcome: self.action.event().as_str().into(),
            duration_ms: ms,
            statements: record.stats.statements,
            rows_changed: record.stats.rows_changed,
            message: None,
            post_conditions: record.post_conditions.clone(),
        };
        let failure = match result {
            Ok(_) => {
                let s = &record.stats;
                let line = format!(
                    "{} in {ms} ms — {} statements, {} rows changed",
                    tier.label(),
                    s.statements,
                    s.rows_changed
                );
                ctx.reporter.status(done, &line);
                ctx.reporter.add_tier(row);
                return Ok(());
            }
            Err(e) => e.failure,
        };
        db::rollback(&client).await;
        let event = if matches!(failure, Failure::Interrupted(_)) { TierEvent::Interrupted } else { TierEvent::Failed };
        let message = failure.to_string();
        ctx.reporter.status(
            "Rolled back",
            &format!("{} — its transaction was rolled back; nothing of it was kept", tier.label()),
        );
        let e = self.event(event, ms, &record.stats, Some(&message));
        if let Err(err) = ledger::event(self.control, &e).await {
            ctx.reporter.error(&format!("could not write the {} event to the ledger: {err}", event.as_str()));
        }
        row.outcome = event.as_str().into();
        row.rows_changed = 0;
        row.message = Some(message);
        ctx.reporter.add_tier(row);
        Err(failure)
    }

    /// BEGIN … plugin … post-conditions … session check … ledger row … COMMIT;
    /// on error the caller rolls back.
    async fn transaction(&self, client: &Arc<Client>, started: Instant) -> Result<TierRecord, TierError> {
        let (ctx, tier) = (self.ctx, self.tier);
        let fail = |failure: Failure, record: TierRecord| TierError { failure, record };
        let before = db::begin(client, &tier.manifest.limits, false)
            .await
            .map_err(|e| fail(Failure::Database(e), TierRecord::default()))?;
        let sql = ctx.session(tier, client);
        let result = self.call(&sql, self.action.call()).await;
        let mut record = TierRecord { stats: sql.lock().await.stats.clone(), post_conditions: None };
        outcome(tier, self.action.call(), result, &record.stats).map_err(|f| fail(f, record.clone()))?;
        if self.action == Action::Apply {
            // Post-conditions are a check: they read, whatever the grants.
            sql.lock().await.read_only_from_now();
            let result = self.call(&sql, Call::PostConditions).await;
            record.stats = sql.lock().await.stats.clone();
            let metrics =
                outcome(tier, Call::PostConditions, result, &record.stats).map_err(|f| fail(f, record.clone()))?;
            let table = CheckTable::new(&tier.manifest.name, &format!("Post-conditions — {}", tier.label()), &metrics);
            record.post_conditions = Some(table.clone());
            if !table.passed {
                let cause = format!("post-conditions not met: {}", table.failures());
                return Err(fail(Failure::TierFailed { label: tier.label(), cause }, record));
            }
        }
        if ctx.interrupt.is_set() {
            return Err(fail(Failure::Interrupted(format!("{} stopped before COMMIT", tier.label())), record));
        }
        // The transaction must be the one the host opened, alive, same identity.
        let changed = match db::identity(client).await {
            Ok(after) if after == before => None,
            Ok(after) => Some(format!("the session changed under the plugin (before {before:?}, after {after:?})")),
            Err(e) => Some(format!("the transaction is no longer usable: {e}")),
        };
        if let Some(cause) = changed {
            return Err(fail(Failure::TierFailed { label: tier.label(), cause }, record));
        }
        let event = self.action.event();
        let e = self.event(event, started.elapsed().as_millis(), &record.stats, None);
        if let Err(err) = ledger::event(client, &e).await {
            return Err(fail(Failure::Database(anyhow::anyhow!("cannot write the ledger row: {err}")), record));
        }
        if let Err(err) = db::commit(client).await {
            // The answer to COMMIT can be lost after the server committed: the
            // ledger row, written in the same transaction, says which.
            if ledger::has_event(self.control, self.rollout_id, &tier.manifest.name, event).await.unwrap_or(false) {
                let line =
                    format!("the answer to COMMIT was lost ({err}), but the ledger shows {} committed", tier.label());
                ctx.reporter.status("Warning", &line);
                return Ok(record);
            }
            return Err(fail(Failure::Database(anyhow::anyhow!("COMMIT failed: {err}")), record));
        }
        Ok(record)
    }

    /// This tier's ledger row. Rows changed count only when it committed.
    fn event<'e>(&'e self, event: TierEvent, ms: u128, stats: &Stats, message: Option<&'e str>) -> ledger::Event<'e> {
        let committed = matches!(event, TierEvent::Applied | TierEvent::RolledBack);
        ledger::Event {
            rollout_id: self.rollout_id,
            plugin: &self.tier.manifest.name,
            ordinal: self.tier.ordinal() as i32,
            sha256: &self.tier.sha256,
            event,
            duration_ms: ms as i64,
            statements: stats.statements as i64,
            rows_changed: if committed { stats.rows_changed as i64 } else { 0 },
            message,
        }
    }

    /// One call into the tier, with a fresh copy of its data files.
    async fn call(&self, sql: &Arc<Mutex<SqlSession>>, call: Call) -> Result<Returned, crate::sandbox::CallError> {
        let ctx = self.ctx;
        let data = match self.tier.materialize_files() {
            Ok(d) => d,
            Err(e) => return Err(crate::sandbox::CallError::Failed(format!("{e:#}"))),
        };
        let spec = ctx.spec(self.plan, self.tier, data.as_ref().map(|d| d.path()));
        ctx.sandbox.call(spec, call, sql.clone(), ctx.reporter.clone(), ctx.interrupt.clone()).await
    }
}
