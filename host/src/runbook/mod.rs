//! The runbook, in order: gate, run, rollback, status.
//!
//! `run`: parameters → identity guard → rollout lock → ledger state → gate
//! (read-only) → each tier in its own transaction ([`tier`]) → verify →
//! probes. Any failure rolls back that tier, is written to the ledger, and
//! stops the run; committed tiers stay, and `host rollback` restores the
//! baseline.
//!
//! A command is launched from its options ([`launch`]); its [`prologue`]
//! opens the control side ([`control`]); its plugins run on the call side
//! ([`calls`], behind the role wall under roles) on the work session
//! ([`work`]); [`checks`] holds the gate, verify and the probes.

mod batched;
mod calls;
mod checks;
mod commit;
mod concurrent;
mod connections;
mod context;
mod control;
mod deferred;
mod dry_run;
mod footprint;
mod interrupt;
mod launch;
mod options;
mod params;
mod prologue;
mod reached;
mod report;
mod rollback;
mod run;
mod sequence_watch;
mod status;
mod tier;
mod work;

pub use context::operator_name;
pub(crate) use control::CONTROL_SETTINGS;
pub use launch::launch;
pub use options::{ConnArgs, PlanArgs, RehearsalStep, RunArgs, Verb};
pub use params::check_params;
pub use report::{report, Destination};
pub use status::status;

use control::busy_message;
