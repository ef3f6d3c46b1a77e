//! One tier of a run in its own transaction, step by step as the runbook
//! says: begin, apply, post-conditions, assert the session, ledger row,
//! commit. On any failure the transaction is rolled back and the failure is
//! recorded on the control connection.

use super::calls::outcome;
use super::commit::commit;
use super::context::Context;
use super::control::{CommitMark, Control};
use super::deferred::{self, Wait};
use super::footprint::Footprint;
use super::sequence_watch::Watch;
use super::work::WorkSession;
use crate::audit::plan::Within;
use crate::audit::{Changed, Counts};
use crate::db;
use crate::error::Failure;
use crate::ledger::{self, TierEvent};
use crate::manifest::Mode;
use crate::plan::{Plan, Plugin};
use crate::report::footprint::LockHeld;
use crate::report::{CheckTable, TierRow};
use crate::sandbox::Call;
use crate::sql::Stats;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// What a tier's transaction did, committed or not.
#[derive(Debug, Default, Clone)]
pub struct TierRecord {
    pub stats: Stats,
    pub conditions: Option<CheckTable>,
    /// What the server counted it changing, relation by relation.
    pub changed: Vec<Changed>,
    /// The locks it took, measured on the server ([`Footprint`]).
    pub footprint: Vec<LockHeld>,
}

/// A tier that did not commit, with what it did before it stopped.
#[derive(Debug)]
pub struct TierError {
    pub failure: Failure,
    pub record: TierRecord,
}

/// One tier's apply, in a transaction of its own.
pub(super) struct TierTransaction<'a> {
    pub ctx: &'a Context,
    pub plan: &'a Plan,
    pub tier: &'a Plugin,
    pub rollout_id: i64,
    /// The control connection: the ledger row of a failure goes there,
    /// since the tier's transaction is gone.
    pub control: &'a Control,
    /// The work session the tier's transaction runs on, reset for it.
    pub work: &'a mut WorkSession,
}

impl TierTransaction<'_> {
    /// Runs the tier, reports it, and records a failure in the ledger.
    pub async fn run(self) -> Result<(), Failure> {
        let (ctx, tier) = (self.ctx, self.tier);
        let reached = super::reached::check(ctx, self.plan, tier, self.control.client(), Within::Snapshot).await;
        if let Err(f) = reached {
            return Err(super::reached::refused(ctx, self.control, self.rollout_id, tier, f).await);
        }
        if tier.manifest.mode == Mode::Batched {
            let (plan, rollout_id, control, work) = (self.plan, self.rollout_id, self.control, self.work);
            return super::batched::Batched { ctx, plan, tier, rollout_id, control, work }.run().await;
        }
        let started = Instant::now();
        ctx.reporter().status("Applying", &tier.label());
        let client = self.work.next(ctx).await?;
        let mut footprint = Footprint::start(self.control, tier, &client, false).await;
        // A concurrent tier's steps commit one by one: not watched here.
        let (watch, result) = match tier.manifest.mode {
            crate::manifest::Mode::Concurrent => (None, super::concurrent::apply(&self, &client, started).await),
            _ => match Watch::begin(self.control.client()).await {
                Ok(w) => {
                    let result = self.transaction(&client, started, &mut footprint, &w).await;
                    (Some(w), result)
                }
                Err(failure) => (None, Err(TierError { failure, record: TierRecord::default() })),
            },
        };
        let ms = started.elapsed().as_millis();
        let mut record = match &result {
            Ok(r) => r.clone(),
            Err(e) => e.record.clone(),
        };
        record.footprint = footprint.end(&record.stats).await;
        if let Some(table) = &record.conditions {
            ctx.reporter().table(table);
        }
        locked(ctx, &record);
        let mut row = tier_row(tier, Call::Apply, TierEvent::Applied, ms, &record);
        let failure = match result {
            Ok(_) => {
                ctx.reporter().status("Applied", &done(tier, ms, &record.stats));
                for line in not_granted(tier, &record.changed) {
                    ctx.reporter().status("Changed", &line);
                }
                ctx.reporter().add_tier(row);
                return Ok(());
            }
            Err(e) => e.failure,
        };
        db::rollback(&client).await;
        let ended = match &watch {
            Some(w) if !matches!(failure, Failure::CommitUnknown(_)) => w.after_rollback(self.control.client()).await,
            _ => Default::default(),
        };
        let failure = ended.amend(failure);
        let event = failure.event();
        let message = failure.to_string();
        if !matches!(failure, Failure::CommitUnknown(_)) {
            let line = match (super::concurrent::is_concurrent(tier), ended.left_behind()) {
                (true, _) => super::concurrent::not_undone(tier),
                (false, Some(left)) => format!("{} — its transaction was rolled back, but {left}", tier.label()),
                (false, None) => format!(
                    "{} — its transaction was rolled back; nothing of it was kept{}",
                    tier.label(),
                    ended.kept_note()
                ),
            };
            ctx.reporter().status("Rolled back", &line);
            let e = ledger_event(self.rollout_id, tier, event, ms, &record.stats, Some(&message));
            self.control.record_failure(&e).await;
        }
        row.message = Some(message);
        if matches!(failure, Failure::CommitUnknown(_)) {
            // Committed or not, nobody knows yet: the rows it changed are
            // shown as what it would have kept.
            row.outcome = ledger::Outcome::Unknown.as_str().into();
        } else {
            row.outcome = event.as_str().into();
            row.rows_changed = 0;
        }
        ctx.reporter().add_tier(row);
        Err(failure)
    }

    /// BEGIN … apply … post-conditions … session check … ledger row … COMMIT;
    /// on error the caller rolls back.
    async fn transaction(
        &self,
        client: &Arc<Client>,
        started: Instant,
        footprint: &mut Footprint,
        watch: &Watch,
    ) -> Result<TierRecord, TierError> {
        let (ctx, tier) = (self.ctx, self.tier);
        let fail = |failure: Failure, record: TierRecord| TierError { failure, record };
        let before = db::begin(client, &tier.manifest.limits, false)
            .await
            .map_err(|e| fail(Failure::Database(e), TierRecord::default()))?;
        self.control.hold(ctx.calls(), client, self.rollout_id).await.map_err(|f| fail(f, TierRecord::default()))?;
        let record = apply_and_check(ctx, self.plan, tier, client, &before, Wait::LeaveToCommit).await?;
        // What it wrote as last counted, proven again by its COMMIT.
        let last = db::last_count(client).await.map_err(|e| fail(Failure::Database(e.into()), record.clone()))?;
        if ctx.step().fail_at == Some(tier.ordinal()) {
            return Err(fail(Failure::Injected { label: tier.label() }, record));
        }
        if ctx.interrupt().is_set() {
            return Err(fail(ctx.stopped(format!("{} stopped before COMMIT", tier.label())), record));
        }
        // The lock proven on the work connection, the sequences read on the
        // control connection, side by side.
        let label = tier.label();
        let (held, watched) = futures_util::join!(
            self.control.hold(ctx.calls(), client, self.rollout_id),
            watch.before_commit(self.control.client(), &label, before.pid)
        );
        held.map_err(|f| fail(f, record.clone()))?;
        watched.map_err(|f| fail(f, record.clone()))?;
        footprint.before_commit(client).await;
        let e =
            ledger_event(self.rollout_id, tier, TierEvent::Applied, started.elapsed().as_millis(), &record.stats, None);
        if let Err(err) = ctx.calls().record_in(client, &e).await {
            return Err(fail(Failure::Database(anyhow::anyhow!("cannot write the ledger row: {err}")), record));
        }
        let ms = started.elapsed().as_millis();
        ctx.reporter().pending_tier(tier_row(tier, Call::Apply, TierEvent::Applied, ms, &record));
        let mark = CommitMark { rollout_id: self.rollout_id, plugin: &tier.manifest.name, event: TierEvent::Applied };
        commit(ctx, client, self.control, &tier.label(), mark, last).await.map_err(|f| fail(f, record.clone()))?;
        Ok(record)
    }
}

/// The tier's apply, its post-conditions and the session left as `before`
/// says, on `client`, inside whatever transaction is open there (a run's
/// own per tier, a dry run's shared one): the dry run checks exactly what
/// the run checks. Every relation the server counted it changing is kept.
pub(super) async fn apply_and_check(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    client: &Arc<Client>,
    before: &db::Identity,
    wait: Wait,
) -> Result<TierRecord, TierError> {
    counted(client, tier, apply_then_check(ctx, plan, tier, client, before, wait)).await
}

/// `work` (a tier's apply on `client`, in the open transaction) with
/// every relation the server counted it changing kept in its record: the
/// run's, and each dry run's (a concurrent tier's; a batched tier's may
/// wrap its own the same way).
pub(super) async fn counted(
    client: &Client,
    tier: &Plugin,
    work: impl std::future::Future<Output = Result<TierRecord, TierError>>,
) -> Result<TierRecord, TierError> {
    let counted = |e: anyhow::Error| Failure::Database(e.context("cannot read the transaction's row counts"));
    let counts =
        Counts::read(client).await.map_err(|e| TierError { failure: counted(e), record: Default::default() })?;
    let grants = &tier.manifest.grants;
    match work.await {
        Ok(mut record) => match Counts::read(client).await {
            Ok(after) => {
                record.changed = after.since(&counts, grants);
                Ok(record)
            }
            Err(e) => Err(TierError { failure: counted(e), record }),
        },
        // A failed apply may have ended the transaction: best effort.
        Err(mut e) => {
            e.record.changed = Counts::read(client).await.map(|a| a.since(&counts, grants)).unwrap_or_default();
            Err(e)
        }
    }
}

async fn apply_then_check(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    client: &Arc<Client>,
    before: &db::Identity,
    wait: Wait,
) -> Result<TierRecord, TierError> {
    let fail = |failure: Failure, record: TierRecord| TierError { failure, record };
    let calls = ctx.calls();
    let sql = calls.sql_access(tier, client);
    let result = calls.call(plan, tier, Call::Apply, client, &sql).await;
    let mut record = TierRecord { stats: sql.lock().await.stats.clone(), ..Default::default() };
    let result = result.map_err(|f| fail(f, record.clone()))?;
    outcome(tier, &Call::Apply, result, &record.stats).map_err(|f| fail(f, record.clone()))?;
    // What its COMMIT would check, before anything is proved on its state.
    deferred::check(ctx, client, &tier.label(), db::Modes::PutBack, wait).await.map_err(|f| fail(f, record.clone()))?;
    let title = format!("Post-conditions — {}", tier.label());
    let declared = &tier.manifest.post_conditions;
    let table = calls.table(plan, tier, Call::PostConditions, client, &sql, declared, &title).await;
    sql.lock().await.close_streams().await;
    record.stats = sql.lock().await.stats.clone();
    let table = table.map_err(|f| fail(f, record.clone()))?;
    record.conditions = Some(table.clone());
    if !table.passed {
        let cause = format!("post-conditions not met: {}", table.failures());
        return Err(fail(Failure::TierFailed { label: tier.label(), cause }, record));
    }
    same_transaction(client, before, &tier.label()).await.map_err(|f| fail(f, record.clone()))?;
    calls.prove_in(client, &tier.label()).await.map_err(|f| fail(f, record.clone()))?;
    Ok(record)
}

/// The transaction on `client` is still the one the host opened, alive,
/// with the same identity: a plugin cannot end it or change who it runs as.
pub(super) async fn same_transaction(client: &Client, before: &db::Identity, label: &str) -> Result<(), Failure> {
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

/// The changes the server counted that no grant of the tier names (a
/// reviewed trigger's writes, say): said under its status line, and in the
/// report.
pub(super) fn not_granted(tier: &Plugin, changed: &[Changed]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changed {
        for (op, rows) in c.by_op().filter(|(op, _)| c.not_granted.contains(op)) {
            let (op, name) = (op.grant_key(), &tier.manifest.name);
            out.push(format!("{} — {op} {rows} row(s); no {op} grant of {name} names it", c.relation));
        }
    }
    out
}

/// The tier's lock footprint under its status line: each relation it
/// locked in a mode stronger than a write's, rewrote, or made another
/// session wait on (a plain read's or write's lock is in the report).
pub(super) fn locked(ctx: &Context, record: &TierRecord) {
    let plain = |mode: &str| matches!(mode, "ACCESS SHARE" | "ROW SHARE" | "ROW EXCLUSIVE");
    for h in &record.footprint {
        if !plain(&h.mode) || h.rewritten == Some(true) || h.waiters > 0 {
            ctx.reporter().status("Locked", &h.line());
        }
    }
    if record.stats.lock_retries > 0 {
        ctx.reporter().status("Retried", &format!("{} lock wait(s) that ran out", record.stats.lock_retries));
    }
}

/// What a tier did, for its status line: `tier 3 (…) in 4 ms — 5 statements, 4 rows changed`.
pub fn done(tier: &Plugin, ms: u128, s: &Stats) -> String {
    format!("{} in {ms} ms — {} statements, {} rows changed", tier.label(), s.statements, s.rows_changed)
}

/// A tier's report row; rows changed count only once it committed.
pub fn tier_row(tier: &Plugin, call: Call, event: TierEvent, ms: u128, record: &TierRecord) -> TierRow {
    TierRow {
        ordinal: tier.ordinal() as u32,
        plugin: tier.manifest.name.clone(),
        action: call.name().into(),
        outcome: event.as_str().into(),
        duration_ms: ms,
        statements: record.stats.statements,
        rows_changed: if event.committed() { record.stats.rows_changed } else { 0 },
        message: None,
        conditions: record.conditions.clone(),
        changes: Vec::new(),
        changed: if event.committed() { record.changed.clone() } else { Vec::new() },
        lock_retries: record.stats.lock_retries,
        footprint: record.footprint.clone(),
        batches: None,
        // What it sent, for the report and, at the close, the ledger.
        sql: Some(record.stats.sent.clone()),
    }
}

/// A tier's ledger row. Rows changed count only when it committed.
pub fn ledger_event<'e>(
    rollout_id: i64,
    tier: &'e Plugin,
    event: TierEvent,
    ms: u128,
    stats: &Stats,
    message: Option<&'e str>,
) -> ledger::Event<'e> {
    ledger::Event {
        rollout_id,
        plugin: &tier.manifest.name,
        ordinal: tier.ordinal() as i32,
        sha256: &tier.sha256,
        event,
        duration_ms: ms as i64,
        statements: stats.statements as i64,
        rows_changed: if event.committed() { stats.rows_changed as i64 } else { 0 },
        message,
        replaces: None,
    }
}
