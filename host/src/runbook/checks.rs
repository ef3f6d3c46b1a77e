//! Check plugins (gate, verify, probes) on the work session, and the steps
//! run and dry run share: the gate with its verdict, and verify then the
//! probes. A run gives each check a read-only transaction of its own; a dry
//! run and a full rollback run them in the transaction they hold open.

use super::context::Context;
use super::control::Control;
use super::work::WorkSession;
use crate::bindings::types::Phase;
use crate::db;
use crate::error::Failure;
use crate::ledger::{Event, TierEvent, Verdict};
use crate::plan::{Plan, Plugin};
use crate::report::CheckTable;
use crate::sandbox::Call;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// A check plugin's table, with what its SQL did and how long it took.
pub(super) struct CheckRun {
    pub table: CheckTable,
    pub statements: u64,
    pub duration_ms: u128,
}

/// Where checks run.
pub(super) enum Within<'a> {
    /// Each in a read-only transaction of its own on the work session (a run).
    Own(&'a mut WorkSession),
    /// All in the transaction open on that session (a full rollback's, a dry run's).
    Open(&'a Arc<Client>),
}

/// The rollout's row a check's verdict goes to (a run's, a dry run's).
pub(super) struct RolloutRow<'a> {
    pub control: &'a Control,
    pub rollout_id: i64,
}

/// The gate: its table shown and reported, its verdict on the rollout's
/// row when there is one; BLOCKED stops the command.
pub(super) async fn gate(
    ctx: &Context,
    plan: &Plan,
    within: &mut Within<'_>,
    row: Option<&RolloutRow<'_>>,
) -> Result<CheckTable, Failure> {
    let table = check(ctx, plan, &plan.gate, Phase::Gate, "Gate", within).await?.table;
    ctx.reporter().set_gate(&table);
    ctx.reporter().table(&table);
    ctx.reporter().result(&format!("GATE {}", Verdict::of(table.passed).as_str()));
    if let Some(row) = row {
        row.control.record_gate(row.rollout_id, Verdict::of(table.passed)).await?;
    }
    if !table.passed {
        return Err(Failure::Blocked(table.failures()));
    }
    Ok(table)
}

/// Verify, then every probe: a run writes verify's event on its row.
pub(super) async fn verify_and_probes(
    ctx: &Context,
    plan: &Plan,
    mut within: Within<'_>,
    row: Option<&RolloutRow<'_>>,
) -> Result<(), Failure> {
    let verify = check(ctx, plan, &plan.verify, Phase::Verify, "Verify", &mut within).await?;
    let n = plan.verify.ordinal();
    ctx.reporter().table(&verify.table);
    ctx.reporter().set_verify(&verify.table);
    let passed = verify.table.passed;
    if let Some(row) = row {
        let message = (!passed).then(|| verify.table.failures());
        let event = Event {
            rollout_id: row.rollout_id,
            plugin: &plan.verify.manifest.name,
            ordinal: n as i32,
            sha256: &plan.verify.sha256,
            event: if passed { TierEvent::Verified } else { TierEvent::Failed },
            duration_ms: verify.duration_ms as i64,
            statements: verify.statements as i64,
            rows_changed: 0,
            message: message.as_deref(),
            replaces: None,
        };
        row.control.record(&event).await?;
    }
    if !passed {
        ctx.reporter().result(&format!("TIER {n} VERIFY FAIL"));
        return Err(Failure::TierFailed { label: format!("tier {n} verify"), cause: verify.table.failures() });
    }
    ctx.reporter().result(&format!("TIER {n} VERIFY PASS"));
    probes(ctx, plan, Phase::AfterRun, within).await?;
    Ok(())
}

/// Every probe in order, shown and reported; the first failing one stops.
pub(super) async fn probes(
    ctx: &Context,
    plan: &Plan,
    phase: Phase,
    mut within: Within<'_>,
) -> Result<Vec<CheckTable>, Failure> {
    let mut tables = Vec::new();
    for probe in &plan.probes {
        let title = format!("Probe {}", probe.manifest.name);
        let table = check(ctx, plan, probe, phase, &title, &mut within).await?.table;
        ctx.reporter().table(&table);
        ctx.reporter().add_probe(&table);
        if !table.passed {
            return Err(Failure::TierFailed { label: probe.label(), cause: table.failures() });
        }
        tables.push(table);
    }
    Ok(tables)
}

/// Runs a check plugin `within`: on the work session, clean for it, in a
/// read-only transaction of its own that is always rolled back (under
/// roles the transaction is read-write for the host's own membership
/// grant, and the plugin's call runs in a read-only savepoint:
/// [`super::calls::Calls::table`]); or inside the transaction open there,
/// under the plugin's own timeouts.
async fn check(
    ctx: &Context,
    plan: &Plan,
    plugin: &Plugin,
    phase: Phase,
    title: &str,
    within: &mut Within<'_>,
) -> Result<CheckRun, Failure> {
    match within {
        Within::Open(client) => {
            db::limit(client, &plugin.manifest.limits).await.map_err(Failure::Database)?;
            table_of(ctx, plan, plugin, phase, title, client).await
        }
        Within::Own(work) => {
            let client = work.next(ctx).await?;
            let read_only = !ctx.calls().behind_wall();
            db::open(&client, &plugin.manifest.limits, read_only).await.map_err(Failure::Database)?;
            let checked = table_of(ctx, plan, plugin, phase, title, &client).await;
            db::rollback(&client).await;
            checked
        }
    }
}

/// The check plugin's call and table, under the limits already set.
async fn table_of(
    ctx: &Context,
    plan: &Plan,
    plugin: &Plugin,
    phase: Phase,
    title: &str,
    client: &Arc<Client>,
) -> Result<CheckRun, Failure> {
    let started = Instant::now();
    let calls = ctx.calls();
    let sql = calls.sql_access(plugin, client);
    let title = format!("{title} — {}", plugin.manifest.name);
    let table = calls.table(plan, plugin, Call::Check(phase), client, &sql, &plugin.manifest.metrics, &title).await?;
    let statements = sql.lock().await.stats.statements;
    Ok(CheckRun { table, statements, duration_ms: started.elapsed().as_millis() })
}
