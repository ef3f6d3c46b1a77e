//! `host gate` and `host run`.

use super::checks::{check, probes, Within};
use super::tier::TierTransaction;
use super::work::WorkSession;
use super::{approval_ref, check_params, Context};
use crate::bindings::types::Phase;
use crate::error::Failure;
use crate::ledger::{self, Outcome, TierEvent, Verdict};
use crate::plan::Plan;
use crate::report::CheckTable;
use std::sync::Arc;
use tokio_postgres::Client;

/// `host gate`: the gate table and verdict, read-only, no ledger write.
pub async fn gate(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    check_params(plan, &ctx.params)?;
    ctx.reporter.record_plan(&ctx.operator, &ctx.params, plan);
    let control = ctx.control("gate", plan).await?;
    ctx.prove_roles(&control).await?;
    ctx.audit_catalog(&control, plan).await?;
    let mut work = WorkSession::open(ctx, "check").await?;
    let table = run_gate(ctx, plan, &mut work).await?;
    if table.passed {
        Ok(())
    } else {
        Err(Failure::Blocked(table.failures()))
    }
}

async fn run_gate(ctx: &Context, plan: &Plan, work: &mut WorkSession) -> Result<CheckTable, Failure> {
    let table = check(ctx, plan, &plan.gate, Phase::Gate, "Gate", work).await?.table;
    ctx.reporter.set_gate(&table);
    ctx.reporter.table(&table);
    ctx.reporter.result(&format!("GATE {}", Verdict::of(table.passed).as_str()));
    Ok(table)
}

/// `host run`: the whole rollout.
pub async fn run(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    check_params(plan, &ctx.params)?;
    ctx.reporter.record_plan(&ctx.operator, &ctx.params, plan);
    let hint = "reconcile, then `host rollback` restores the baseline before a new run — never hand-patch";
    let (control, id, _) = begin_rollout(ctx, plan, "run", hint).await?;
    ctx.reporter.status("Started", &format!("rollout {id}"));
    let result = steps(ctx, plan, &control, id).await;
    let (outcome, message) = match &result {
        Ok(()) => (Outcome::Complete, "ROLLOUT COMPLETE — ALL TIERS PASSED".to_string()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    let close = ctx.close(&control, id, outcome, &message).await;
    super::closed(ctx, result, close)?;
    ctx.reporter.result(&message);
    Ok(())
}

/// What `run` and `run --dry-run` do before their first step: the control
/// connection, the rollout lock, the roles proven, the ledger there with
/// stale rollouts settled and nothing applied (`applied_hint` says what to
/// do if something is), and the command's rollout row (`verb`, as the
/// ledger records it: `run`, `dry_run`); and whether it created the
/// ledger, which no rollback removes.
pub(super) async fn begin_rollout(
    ctx: &Context,
    plan: &Plan,
    verb: &str,
    applied_hint: &str,
) -> Result<(Arc<Client>, i64, bool), Failure> {
    let control = ctx.control(verb, plan).await?;
    ctx.lock(&control).await?;
    ctx.prove_roles(&control).await?;
    ctx.audit_catalog(&control, plan).await?;
    let created = !ledger::exists(&control).await?;
    ledger::ensure(&control).await?;
    ctx.abandon_stale(&control, verb).await?;
    let applied = ledger::applied(&control).await?;
    if !applied.is_empty() {
        let list: Vec<String> = applied.iter().map(|a| format!("tier {} ({})", a.ordinal, a.plugin)).collect();
        return Err(Failure::LedgerState(format!(
            "a rollout is already applied here ({}); {applied_hint}",
            list.join(", ")
        )));
    }
    if ctx.interrupt.is_set() {
        return Err(ctx.stopped("stopped before the rollout began; no ledger row was written"));
    }
    let start = ledger::Start {
        verb,
        operator: &ctx.operator,
        client_host: &ctx.client_host,
        params: &ctx.params,
        approval_ref: approval_ref(plan, &ctx.params),
        plan,
        roles: ctx.roles.is_some(),
    };
    let id = ledger::start(&control, start).await?;
    ctx.reporter.set_rollout_id(id);
    Ok((control, id, created))
}

/// Gate, every tier in order, verify, probes: one after the other on one
/// work session, reset between plugins.
async fn steps(ctx: &Context, plan: &Plan, control: &Client, id: i64) -> Result<(), Failure> {
    let work = &mut WorkSession::open(ctx, "apply").await?;
    let gate = run_gate(ctx, plan, work).await?;
    ledger::set_gate(control, id, Verdict::of(gate.passed)).await?;
    if !gate.passed {
        return Err(Failure::Blocked(gate.failures()));
    }
    for tier in &plan.tiers {
        if ctx.interrupt.is_set() {
            return Err(ctx.stopped(format!("stopped before {}", tier.label())));
        }
        TierTransaction { ctx, plan, tier, rollout_id: id, control, work }.run().await?;
    }
    let verify = check(ctx, plan, &plan.verify, Phase::Verify, "Verify", work).await?;
    let n = plan.verify.ordinal();
    ctx.reporter.table(&verify.table);
    ctx.reporter.set_verify(&verify.table);
    let passed = verify.table.passed;
    let message = (!passed).then(|| verify.table.failures());
    let event = ledger::Event {
        rollout_id: id,
        plugin: &plan.verify.manifest.name,
        ordinal: n as i32,
        sha256: &plan.verify.sha256,
        event: if passed { TierEvent::Verified } else { TierEvent::Failed },
        duration_ms: verify.duration_ms as i64,
        statements: verify.statements as i64,
        rows_changed: 0,
        message: message.as_deref(),
    };
    ledger::event(control, &event).await?;
    if !passed {
        ctx.reporter.result(&format!("TIER {n} VERIFY FAIL"));
        return Err(Failure::TierFailed { label: format!("tier {n} verify"), cause: verify.table.failures() });
    }
    ctx.reporter.result(&format!("TIER {n} VERIFY PASS"));
    probes(ctx, plan, Phase::AfterRun, Within::Own(work)).await?;
    Ok(())
}
