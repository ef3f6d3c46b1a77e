//! `host rehearse`: the runbook's proof, done by the tool. The exact
//! plugins that will run on production run on a copy of it, and content
//! digests ([`crate::digest`]) prove what the runbook asserts:
//!
//! baseline → run (verify PASS) → rollback = baseline → rollback again =
//! baseline (idempotent) → run again (same verify table) → rollback =
//! baseline; and with `--fail-at`, for each tier N a run that fails at
//! tier N (injected after its apply, before its COMMIT) and a rollback that
//! must restore the exact baseline.
//!
//! The copy is one the operator names (`--copy-url`), under the source's
//! own database name and marked in its catalog ([`guard`]); the source
//! (`--from`) is only read, in one exported snapshot a relation at a time,
//! to prove the copy is a different database that holds the same state.
//! With `--make-copy` the host makes the copy itself ([`made`]): a scratch
//! server holding the source's `pg_dump`, removed afterwards unless `--keep`.
//! Each step is this `host` binary run against the copy ([`step`]), pinned
//! to the server the digests read, so what is rehearsed is what production
//! will run, where the digests look.

mod guard;
mod made;
mod record;
mod rehearsal;
mod row;
mod scratch;
mod step;

pub use rehearsal::{rehearse, FailAt, RehearseArgs};
pub use step::{run_step, Spec, Verb as StepVerb};
