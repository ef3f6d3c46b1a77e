//! Command-line interface: what the operator types ([`args`]), dispatched
//! to one call per verb ([`dispatch`]).

mod args;
mod dispatch;
mod grants;
mod readers;
mod roles;

pub use args::{Cli, Command, PluginArgs, RolesAction, RolesArgs};
pub use dispatch::run;
