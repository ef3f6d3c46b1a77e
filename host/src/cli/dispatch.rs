//! One call per verb: the runbook's, the rehearsal's, or the reviewer's
//! verbs beside them in this module.

use super::args::{Cli, Command};
use super::{grants, readers, roles};
use crate::error::Failure;
use crate::rehearse;
use crate::runbook::{self, RehearsalStep, Verb};

/// Runs the command; the error carries the exit code.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    crate::printer::init(&cli.output);
    match cli.command {
        Command::Gate(args) => runbook::launch(Verb::Gate, &args, RehearsalStep::default()).await,
        Command::Run { args, dry_run: true } => runbook::launch(Verb::DryRun, &args, RehearsalStep::default()).await,
        Command::Run { args, dry_run: false } => runbook::launch(Verb::Run, &args, RehearsalStep::default()).await,
        Command::Rollback { args, tier } => {
            runbook::launch(Verb::Rollback { tier }, &args, RehearsalStep::default()).await
        }
        Command::Rehearse(args) => rehearse::rehearse(args).await,
        Command::RehearsalStep => rehearse::run_step().await,
        Command::Status { conn, limit } => readers::status(&conn, limit).await,
        Command::Report { rollout_id, conn, reports, out } => readers::report(rollout_id, &conn, reports, out).await,
        Command::Inspect(args) if args.sql => readers::inspect_sql(&args).await,
        Command::Inspect(args) => readers::inspect(&args.args),
        Command::Grants(args) => grants::grants(args).await,
        Command::Roles { action } => roles::roles(action).await,
        Command::Explain { plugin, statements, file, data_dir } => {
            readers::explain(&plugin, statements, file.as_deref(), data_dir.as_deref())
        }
    }
}
