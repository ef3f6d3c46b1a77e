//! `host roles apply|prove`: the plan's roles, without an engine.

use super::args::RolesAction;
use crate::error::Failure;
use crate::plan;
use crate::roles::{apply, Roles};

pub async fn roles(action: RolesAction) -> Result<(), Failure> {
    let (args, operator) = match action {
        RolesAction::Apply { roles, operator_role } => (roles, Some(operator_role)),
        RolesAction::Prove(roles) => (roles, None),
    };
    let plugins = plan::read_all(&args.plugins, args.data_dir.as_deref()).map_err(Failure::Plan)?;
    let roles = Roles::with_runner(&plugins, &args.runner_role).map_err(Failure::Plan)?;
    let target = args.conn.target()?;
    match operator {
        Some(operator) => apply::apply(&target, &roles, operator.as_deref()).await,
        None => apply::prove(&target, &roles).await,
    }
}
