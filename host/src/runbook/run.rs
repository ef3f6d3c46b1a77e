//! `host gate` and `host run`.

use super::batched::steps;
use super::checks::{self, RolloutRow, Within};
use super::context::Context;
use super::control::Control;
use super::options::Verb;
use super::prologue::{from_baseline, prologue, start_rollout};
use super::tier::TierTransaction;
use super::work::WorkSession;
use crate::error::Failure;
use crate::ledger::Outcome;
use crate::plan::Plan;

/// `host gate`: the gate table and verdict, read-only, no ledger write.
pub(super) async fn gate(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    let _opened = prologue(ctx, plan, Verb::Gate).await?;
    let mut work = WorkSession::open(ctx, "check").await?;
    checks::gate(ctx, plan, &mut Within::Own(&mut work), None).await?;
    Ok(())
}

/// `host run`: the whole rollout.
pub(super) async fn run(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    let opened = prologue(ctx, plan, Verb::Run).await?;
    // A batched tier's interrupted apply resumes after the tiers applied before it.
    let skip = steps::resumable_after(opened.control.client(), plan, &opened.applied).await?;
    if skip.is_none() {
        from_baseline(
            &opened,
            "reconcile, then `host rollback` restores the baseline before a new run — never hand-patch",
        )?;
    }
    let control = &opened.control;
    let before = "stopped before the rollout began; no ledger row was written";
    let id = start_rollout(ctx, control, plan, Verb::Run, before).await?;
    ctx.reporter().status("Started", &format!("rollout {id}"));
    let result = steps(ctx, plan, control, id, skip.unwrap_or(0)).await;
    let (outcome, message) = match &result {
        Ok(()) => (Outcome::Complete, "ROLLOUT COMPLETE — ALL TIERS PASSED".to_string()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    control.close(id, result, outcome, &message).await?;
    ctx.reporter().result(&message);
    Ok(())
}

/// Gate, every tier in order, verify, probes: one after the other on one
/// work session, reset between plugins.
async fn steps(ctx: &Context, plan: &Plan, control: &Control, id: i64, skip: usize) -> Result<(), Failure> {
    let work = &mut WorkSession::open(ctx, "apply").await?;
    let row = RolloutRow { control, rollout_id: id };
    checks::gate(ctx, plan, &mut Within::Own(work), Some(&row)).await?;
    for tier in &plan.tiers[..skip] {
        ctx.reporter()
            .status("Applied", &format!("{} in an earlier rollout (kept; the run resumes after it)", tier.label()));
    }
    for tier in &plan.tiers[skip..] {
        if ctx.interrupt().is_set() {
            return Err(ctx.stopped(format!("stopped before {}", tier.label())));
        }
        TierTransaction { ctx, plan, tier, rollout_id: id, control, work }.run().await?;
    }
    checks::verify_and_probes(ctx, plan, Within::Own(work), Some(&row)).await
}
