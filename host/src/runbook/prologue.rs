//! What every command on a plan does before its first plugin, in the
//! runbook's order: the parameters checked and recorded, the control
//! connection with the identity guard, the rollout lock, the roles proven,
//! the catalog audited, the ledger there with stale rollouts settled; then
//! the command's rollout row. `host gate` reads only: no lock, no ledger.

use super::context::Context;
use super::control::Control;
use super::options::Verb;
use super::params::{approval_ref, check_params};
use crate::error::Failure;
use crate::ledger::{self, Applied};
use crate::plan::Plan;

const NOTHING_WILL: &str = "nothing will be committed: every step runs in one transaction that is rolled back";

/// What the prologue opened.
pub(super) struct Opened {
    pub control: Control,
    /// The command created the ledger (a dry run says no rollback removes it).
    pub created_ledger: bool,
    /// What the ledger says is applied (none read for `host gate`).
    pub applied: Vec<Applied>,
}

/// The prologue of `verb` on `plan`.
pub(super) async fn prologue(ctx: &Context, plan: &Plan, verb: Verb) -> Result<Opened, Failure> {
    if !matches!(verb, Verb::Rollback { .. }) {
        check_params(plan, ctx.params())?;
    }
    ctx.record_plan(plan);
    if verb == Verb::DryRun {
        ctx.reporter().status("Previewing", &format!("the run: {NOTHING_WILL}"));
    }
    let name = verb.ledger_name();
    let control = Control::open(ctx, name, plan).await?;
    let rollout = verb != Verb::Gate;
    if rollout {
        control.take_lock().await?;
    }
    ctx.calls().prove_roles(control.client()).await?;
    control.audit_catalog(plan, ctx.reviewed()).await?;
    if !rollout {
        return Ok(Opened { control, created_ledger: false, applied: Vec::new() });
    }
    let created_ledger = !ledger::exists(control.client()).await?;
    ledger::ensure(control.client()).await?;
    control.settle_stale(name).await?;
    let applied = ledger::applied(control.client()).await?;
    Ok(Opened { control, created_ledger, applied })
}

/// A run or a dry run starts from the baseline: nothing applied
/// (`applied_hint` says what to do if something is).
pub(super) fn from_baseline(opened: &Opened, applied_hint: &str) -> Result<(), Failure> {
    if opened.applied.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = opened.applied.iter().map(|a| format!("tier {} ({})", a.ordinal, a.plugin)).collect();
    Err(Failure::LedgerState(format!("a rollout is already applied here ({}); {applied_hint}", list.join(", "))))
}

/// The command's rollout row, unless Ctrl-C came first (`before` says
/// what was stopped); its id.
pub(super) async fn start_rollout(
    ctx: &Context,
    control: &Control,
    plan: &Plan,
    verb: Verb,
    before: &str,
) -> Result<i64, Failure> {
    if ctx.interrupt().is_set() {
        return Err(ctx.stopped(before));
    }
    let approval = match verb {
        Verb::Rollback { .. } => None,
        _ => approval_ref(plan, ctx.params()),
    };
    control.start(ctx.rollout_row(verb.ledger_name(), plan, approval)).await
}
