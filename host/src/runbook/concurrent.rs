//! A concurrent tier (`mode = "concurrent"`): its apply sends `CREATE
//! INDEX CONCURRENTLY` / `DROP INDEX CONCURRENTLY` (and reads) through the
//! same `sql.query`; PostgreSQL refuses those in a transaction block, so the
//! host runs the call in autocommit on the work session, each such
//! statement a step recorded in the ledger ([`steps`]), every other
//! statement read-only (the checker's rule and the session's
//! `default_transaction_read_only`). Then the tier closes like any other:
//! one transaction that checks its post-conditions (read-only, as every
//! check) and writes its `applied` row, committed only if they pass — so
//! the ledger says applied exactly when the conditions held in the same
//! snapshot the row was written in.
//!
//! Recovery: before a concurrent tier's apply or rollback, the INVALID
//! indexes its earlier steps left (a host killed, a connection lost, a
//! build failed) are dropped, matched by name and by the sha256 of the
//! plugin that started them; each step is idempotent when the plugin
//! writes `IF NOT EXISTS` / `IF EXISTS`, and an INVALID index of the
//! step's name that its steps left is dropped before it is sent, so `IF
//! NOT EXISTS` never keeps one (one they did not leave fails the step).
//!
//! Rollback: `host rollback` is one proven transaction, and a concurrent
//! drop cannot be in it. So the rollback calls of the concurrent tiers it
//! undoes run first, newest first, as steps before that transaction (their
//! lock footprint sampled as an apply's steps are, on the tier's row); each
//! tier's rollback conditions are then checked inside the transaction with
//! the others, and its `rolled_back` row is committed only with them. A
//! later failure leaves those indexes dropped and the ledger saying
//! applied: the state the ledger names is "applied, its index gone", which
//! a rerun of `host rollback` finishes (its drops are idempotent) and a
//! rerun of `host run` cannot hide (the tier is applied, so it is skipped,
//! but its post-conditions would say so in a verify). The alternative, a
//! drop after the COMMIT, would record a tier rolled back while its index
//! still stands if the drop then failed: worse, since the ledger would
//! then say something false.

mod steps;

use super::calls::{outcome, SqlAccess};
use super::commit::commit;
use super::context::Context;
use super::control::{CommitMark, Control};
use super::footprint::Footprint;
use super::tier::{ledger_event, locked, same_transaction, TierError, TierRecord, TierTransaction};
use crate::db;
use crate::error::Failure;
use crate::ledger::TierEvent;
use crate::manifest::{Limits, Mode};
use crate::plan::{Plan, Plugin};
use crate::report::footprint::LockHeld;
use crate::sandbox::Call;
use crate::sql::{Stats, Steps};
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

pub(crate) use steps::Phase;

/// Whether `tier` runs its apply and rollback as steps outside a transaction.
pub(super) fn is_concurrent(tier: &Plugin) -> bool {
    tier.manifest.mode == Mode::Concurrent
}

/// What a failed concurrent tier kept, for its status line.
pub(super) fn not_undone(tier: &Plugin) -> String {
    format!(
        "{} — its closing transaction was rolled back; indexes its steps built or dropped outside a transaction \
         are kept (rollout_ledger.step lists them); `host run` again repeats them (each is idempotent)",
        tier.label()
    )
}

/// A concurrent tier's apply, steps first, then its closing transaction.
pub(super) async fn apply(
    t: &TierTransaction<'_>,
    client: &Arc<Client>,
    started: Instant,
) -> Result<TierRecord, TierError> {
    let (ctx, tier) = (t.ctx, t.tier);
    let fail = |failure: Failure, record: &TierRecord| TierError { failure, record: record.clone() };
    let mut record = TierRecord::default();
    prepare(ctx, t.control, tier, client).await.map_err(|f| fail(f, &record))?;
    t.control.hold(ctx.calls(), client, t.rollout_id).await.map_err(|f| fail(f, &record))?;
    let steps = runner(ctx, t.control, t.rollout_id, tier, Phase::Apply);
    let sql = ctx.calls().sql_access(tier, client);
    let result = call(ctx, t.plan, tier, Call::Apply, client, &sql, steps).await;
    record.stats = sql.lock().await.stats.clone();
    result.map_err(|f| fail(f, &record))?;
    // The closing transaction: post-conditions and the applied row.
    let before =
        db::begin(client, &tier.manifest.limits, false).await.map_err(|e| fail(Failure::Database(e), &record))?;
    t.control.hold(ctx.calls(), client, t.rollout_id).await.map_err(|f| fail(f, &record))?;
    let title = format!("Post-conditions — {}", tier.label());
    let declared = &tier.manifest.post_conditions;
    let calls = ctx.calls();
    let table = calls.table(t.plan, tier, Call::PostConditions, client, &sql, declared, &title).await;
    sql.lock().await.close_streams().await;
    record.stats = sql.lock().await.stats.clone();
    let table = table.map_err(|f| fail(f, &record))?;
    record.conditions = Some(table.clone());
    if !table.passed {
        let cause = format!("post-conditions not met: {}", table.failures());
        return Err(fail(Failure::TierFailed { label: tier.label(), cause }, &record));
    }
    same_transaction(client, &before, &tier.label()).await.map_err(|f| fail(f, &record))?;
    let last = db::last_count(client).await.map_err(|e| fail(Failure::Database(e.into()), &record))?;
    if ctx.step().fail_at == Some(tier.ordinal()) {
        return Err(fail(Failure::Injected { label: tier.label() }, &record));
    }
    if ctx.interrupt().is_set() {
        return Err(fail(ctx.stopped(format!("{} stopped before COMMIT", tier.label())), &record));
    }
    let ms = started.elapsed().as_millis();
    let e = ledger_event(t.rollout_id, tier, TierEvent::Applied, ms, &record.stats, None);
    if let Err(err) = calls.record_in(client, &e).await {
        return Err(fail(Failure::Database(anyhow::anyhow!("cannot write the ledger row: {err}")), &record));
    }
    let row = super::tier::tier_row(tier, Call::Apply, TierEvent::Applied, ms, &record);
    ctx.reporter().pending_tier(row);
    let mark = CommitMark { rollout_id: t.rollout_id, plugin: &tier.manifest.name, event: TierEvent::Applied };
    commit(ctx, client, t.control, &tier.label(), mark, last).await.map_err(|f| fail(f, &record))?;
    Ok(record)
}

/// What one concurrent tier's rollback steps did, for its row: its
/// plugin, the steps' counts, and their lock footprint, sampled on the
/// server as an apply's steps are ([`Footprint`]).
pub(super) type Stepped = (String, Stats, Vec<LockHeld>);

/// `host rollback`, before its transaction: every concurrent tier of the
/// plan has what its interrupted steps left dropped, and each concurrent
/// tier in `todo` (newest first) has its rollback call run as steps.
pub(super) async fn before_rollback(
    ctx: &Context,
    plan: &Plan,
    control: &Control,
    rollout_id: i64,
    todo: &[&Plugin],
    client: &Arc<Client>,
) -> Result<Vec<Stepped>, Failure> {
    let mut done = Vec::new();
    if !plan.tiers.iter().any(is_concurrent) {
        return Ok(done);
    }
    for tier in plan.tiers.iter().filter(|t| is_concurrent(t)) {
        prepare(ctx, control, tier, client).await?;
    }
    for tier in todo.iter().filter(|t| is_concurrent(t)) {
        if ctx.interrupt().is_set() {
            return Err(ctx.stopped(format!("stopped before rolling back {}", tier.label())));
        }
        let what = "its steps, outside the rollback's transaction; its rollback conditions are checked inside it";
        ctx.reporter().status("Rolling back", &format!("{} — {what}", tier.label()));
        control.hold(ctx.calls(), client, rollout_id).await?;
        let started = Instant::now();
        let footprint = Footprint::start(control, tier, client, false).await;
        let steps = runner(ctx, control, rollout_id, tier, Phase::Rollback);
        let sql = ctx.calls().sql_access(tier, client);
        let result = call(ctx, plan, tier, Call::Rollback, client, &sql, steps).await;
        let stats = sql.lock().await.stats.clone();
        let record = TierRecord { footprint: footprint.end(&stats).await, ..Default::default() };
        locked(ctx, &record);
        if let Err(f) = result {
            let (message, ms) = (f.to_string(), started.elapsed().as_millis());
            control.record_failure(&ledger_event(rollout_id, tier, f.event(), ms, &stats, Some(&message))).await;
            return Err(f);
        }
        done.push((tier.manifest.name.clone(), stats, record.footprint));
    }
    // The rollback's transaction sets its own limits, from a clean session.
    db::reset_session(client, db::Plans::Discard).await.map_err(|e| Failure::Database(e.into()))?;
    Ok(done)
}

/// The dry run's apply of a concurrent tier, inside its one transaction:
/// each step is checked and shown, not sent; its other statements run
/// read-only, as the run sends them ([`call`]), so a write the run's
/// server would refuse (a granted function's INSERT, a `nextval`) fails
/// the dry run too: in the read-only scope a check runs in
/// ([`db::read_only_scope`]), rolled back after (the statements only
/// read), so the tiers after it write as they will.
/// Its post-conditions are not called: without the steps they would test
/// a database the run would not leave, so the dry run says they were not
/// proven.
pub(super) async fn dry_apply(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    client: &Arc<Client>,
    before: &db::Identity,
) -> Result<TierRecord, TierError> {
    let fail = |failure: Failure, record: &TierRecord| TierError { failure, record: record.clone() };
    let mut record = TierRecord::default();
    let calls = ctx.calls();
    let sql = calls.sql_access(tier, client);
    let steps: Arc<dyn Steps> = Arc::new(steps::NotSent { reporter: ctx.reporter().clone() });
    sql.lock().await.run_steps_with(steps);
    db::read_only_scope(client).await.map_err(|e| fail(Failure::Database(e.into()), &record))?;
    let (result, stats) = calls.call_closed(plan, tier, Call::Apply, client, &sql).await;
    let writable = db::end_read_only_scope(client).await;
    record.stats = stats;
    let result = result.map_err(|f| fail(f, &record))?;
    writable.map_err(|e| fail(Failure::Database(e.into()), &record))?;
    outcome(tier, &Call::Apply, result, &record.stats).map_err(|f| fail(f, &record))?;
    same_transaction(client, before, &tier.label()).await.map_err(|f| fail(f, &record))?;
    let why = "its steps run outside a transaction and were not sent in the dry run";
    ctx.reporter().warning("Not proven", &format!("post-conditions of {}: {why}", tier.label()));
    Ok(record)
}

/// Before a concurrent tier's call: refused under roles (the wall switches
/// roles inside the host's transaction, and there is none), then what its
/// earlier steps left is recovered, then the session's limits.
async fn prepare(ctx: &Context, control: &Control, tier: &Plugin, client: &Client) -> Result<(), Failure> {
    if ctx.calls().under_roles() {
        return Err(Failure::Roles(format!(
            "{} is a concurrent tier, which runs outside a transaction; the role wall switches roles only inside \
             the host's transaction (and PostgreSQL lets only a table's owner index it): run this plan without roles",
            tier.label()
        )));
    }
    let plugin = (tier.manifest.name.as_str(), tier.sha256.as_str());
    steps::recover(control.client(), client, ctx.reporter(), plugin, &reach(tier))
        .await
        .map_err(|why| Failure::TierFailed { label: tier.label(), cause: why })?;
    session_limits(client, &tier.manifest.limits).await.map_err(Failure::Database)
}

/// The tier's limits for the session (there is no transaction to make them
/// local; the work session is reset before the next plugin), and
/// `client_connection_check_interval`, so that a step whose host is gone
/// is ended by the server within a second rather than building on alone.
async fn session_limits(client: &Client, limits: &Limits) -> anyhow::Result<()> {
    let sql = format!(
        "SET statement_timeout = '{}ms'; SET lock_timeout = '{}ms'; SET search_path = pg_catalog, pg_temp; \
         SET idle_in_transaction_session_timeout = 0; SET client_connection_check_interval = '1s'",
        limits.statement_timeout_ms, limits.lock_timeout_ms
    );
    use anyhow::Context as _;
    client.batch_execute(&sql).await.context("cannot set the concurrent tier's session limits")
}

fn runner(ctx: &Context, control: &Control, rollout_id: i64, tier: &Plugin, phase: Phase) -> Arc<dyn Steps> {
    let owner = steps::Owner {
        rollout_id,
        plugin: tier.manifest.name.clone(),
        ordinal: tier.ordinal() as i32,
        sha256: tier.sha256.clone(),
        phase,
    };
    let limits = tier.manifest.limits.clone();
    Arc::new(steps::Runner::new(control.client().clone(), ctx.reporter().clone(), owner, limits, reach(tier)))
}

/// What the tier's steps may drop: its `index` tables' indexes and its `drop` grant's.
fn reach(tier: &Plugin) -> steps::Reach {
    let g = &tier.manifest.grants;
    steps::Reach { tables: g.index.clone(), indexes: g.drop.clone() }
}

/// One call of a concurrent tier in autocommit, its steps through `steps`;
/// a swallowed SQL error or refusal still fails it.
async fn call(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    which: Call,
    client: &Arc<Client>,
    sql: &SqlAccess,
    steps: Arc<dyn Steps>,
) -> Result<(), Failure> {
    sql.lock().await.run_steps_with(steps);
    // Read-only but for the steps, which switch it off for themselves.
    client.batch_execute("SET default_transaction_read_only = on").await?;
    let (result, stats) = ctx.calls().call_closed(plan, tier, which.clone(), client, sql).await;
    let writable = client.batch_execute("SET default_transaction_read_only = off").await;
    outcome(tier, &which, result?, &stats)?;
    Ok(writable?)
}

/// Whether `tier` is a concurrent tier whose apply steps did something no
/// later event settled (it failed after them): `host rollback` undoes it
/// like an applied tier, so FULL ROLLBACK OK never stands beside an index
/// its steps left.
pub(super) async fn unsettled(control: &Control, tier: &Plugin) -> Result<bool, Failure> {
    if !is_concurrent(tier) {
        return Ok(false);
    }
    let row = control
        .client()
        .query_one(include_str!("concurrent/step_unsettled.sql"), &[&tier.manifest.name, &tier.sha256])
        .await
        .map_err(|e| Failure::Database(anyhow::anyhow!("cannot read {}'s steps from the ledger: {e}", tier.label())))?;
    row.try_get(0).map_err(|e| Failure::Database(anyhow::anyhow!("the ledger's steps of {}: {e}", tier.label())))
}
