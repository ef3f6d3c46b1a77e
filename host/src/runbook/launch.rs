//! A command on a plan, from its options to its report: the report
//! directory, the plan loaded and held to the lock file, the roles it runs
//! under, the command itself (interruptible), and the report written
//! whatever the outcome.

use super::connections::Connections;
use super::context::{Context, Operator, Parts};
use super::interrupt::interruptible;
use super::options::{RehearsalStep, RunArgs, Verb};
use crate::audit::Reviewed;
use crate::error::Failure;
use crate::grants;
use crate::ledger::Outcome;
use crate::plan::{Calls, Plan};
use crate::report::Reporter;
use crate::roles::Roles;
use crate::sandbox::Sandbox;
use crate::signal::Interrupt;
use std::sync::Arc;

/// Runs `verb` on the plan `args` name, and writes its report whatever the
/// outcome. A report not written makes a success exit 9; a failure keeps
/// its own code, and both say what the command did and where the report is.
pub async fn launch(verb: Verb, args: &RunArgs, step: RehearsalStep) -> Result<(), Failure> {
    let reporter = Arc::new(Reporter::new(Some(&args.plan.reports), verb.name()).map_err(Failure::Plan)?);
    let result = prepared(verb, args, step, reporter.clone()).await;
    let (outcome, message) = match &result {
        Ok(()) => (Outcome::Ok, String::new()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    match (reporter.finish(outcome, &message), result) {
        (Ok(_), result) => result,
        (Err(lost), Ok(())) => Err(Failure::ReportLost(lost.to_string())),
        (Err(lost), Err(failure)) => {
            crate::printer::get().error(&lost.to_string());
            Err(failure)
        }
    }
}

/// The plan, the lock file, the roles, then the command.
async fn prepared(verb: Verb, args: &RunArgs, step: RehearsalStep, reporter: Arc<Reporter>) -> Result<(), Failure> {
    let target = args.conn.target()?;
    let operator = Operator::of(args.plan.operator.clone());
    let sandbox = Sandbox::new().map_err(Failure::Plan)?;
    let interrupt = Interrupt::install();
    let connections = Connections::new(target, &operator.name, step.on_copy);
    let calls = match verb {
        Verb::Gate => Calls::Gate,
        Verb::Run | Verb::DryRun => Calls::Everything,
        Verb::Rollback { .. } => Calls::Rollback,
    };
    let plan = Plan::load(&sandbox, &args.plan.tiers, args.plan.data_dir.as_deref(), calls).map_err(Failure::Plan)?;
    plan.refuse_unknown_params(&args.plan.param_map()).map_err(Failure::Params)?;
    for (plugin, (key, object, why)) in
        plan.all().flat_map(|p| grants::warnings(&p.manifest).into_iter().map(move |w| (p, w)))
    {
        reporter.warning("Warning", &format!("{} holds the acknowledged grant {key} {object}: {why}", plugin.label()));
    }
    let mut under_roles = args.plan.roles;
    let mut reviewed = None;
    let mut replacements = grants::Replacements::default();
    if let Some(path) = &args.plan.lock {
        let (lock, record) = grants::read_lock(path, args.plan.allowed_signers.as_deref()).map_err(Failure::Plan)?;
        lock.verify(&plan.all().collect::<Vec<_>>()).map_err(Failure::Plan)?;
        replacements = grants::Replacements::of(&lock, path);
        reviewed = Some(Reviewed { lock: path.clone(), objects: lock.catalog.clone() });
        reporter.status("Verified", &format!("every plugin matches the lock file {}", path.display()));
        reporter.status("Signature", &record.line(crate::text::terminal));
        reporter.set_lock(record);
        if lock.roles && !under_roles {
            reporter.status("Roles", "the lock file says the plan was reviewed to run under roles");
        }
        under_roles |= lock.roles;
    }
    let roles = match under_roles {
        true => Some(Arc::new(Roles::with_runner(plan.all(), &args.plan.runner_role).map_err(Failure::Plan)?)),
        false => None,
    };
    let ctx = Context::new(Parts {
        reporter,
        interrupt,
        operator,
        params: args.plan.param_map(),
        step,
        reviewed,
        roles,
        connections,
        sandbox,
    });
    let command = async {
        match verb {
            Verb::Gate => super::run::gate(&ctx, &plan).await,
            Verb::Run => super::run::run(&ctx, &plan).await,
            Verb::DryRun => super::dry_run::dry_run(&ctx, &plan).await,
            Verb::Rollback { tier } => super::rollback::rollback(&ctx, &plan, tier, &replacements).await,
        }
    };
    let result = interruptible(&ctx, Box::pin(command)).await;
    ctx.calls().unregister_wall().await;
    result
}
