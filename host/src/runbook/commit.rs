//! COMMIT, and what the host says when its answer is lost.
//!
//! The ledger row that marks a change (`applied`, `rolled_back`) is written
//! in the change's own transaction, so the ledger and the data never
//! disagree. When the answer to COMMIT does not arrive (the connection
//! dropped), the server may or may not have committed: the host asks the
//! ledger on the control connection. If it cannot read the ledger either,
//! it does not guess: the outcome is unknown, said as such, and the next
//! `host status`, `run` or `rollback` settles it from the ledger first.

use super::context::Context;
use super::control::{CommitMark, Control};
use crate::db;
use crate::error::Failure;
use tokio_postgres::Client;

/// Commits the transaction on `client`. `what` names it for the operator;
/// `mark` is its ledger row, which exists only if it committed; `last`
/// the host's last count of it ([`db::last_count`], read where the host
/// last proved it: nothing may write or lock past it, [`db::commit`]).
pub(super) async fn commit(
    ctx: &Context,
    client: &Client,
    control: &Control,
    what: &str,
    mark: CommitMark<'_>,
    last: db::Last,
) -> Result<(), Failure> {
    // Ctrl-C now waits for the answer (runbook::interrupt): it decides
    // what the database kept.
    let _critical = ctx.interrupt().critical(format!("COMMIT of {what}"));
    let err = match db::commit(client, &last).await {
        Ok(()) => return Ok(()),
        Err(e) if db::gate_refused(&e) => {
            return Err(Failure::TierFailed { label: what.to_string(), cause: gated(&e) })
        }
        // The server answered: it did not commit. Ctrl-C cancelled the
        // COMMIT's wait (runbook::interrupt): an interruption, known.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) && ctx.interrupt().is_set() => {
            return Err(ctx.stopped(format!(
                "the COMMIT of {what} was cancelled on the server by the interrupt, and the server answered that \
                 it did not commit: nothing of it was kept"
            )));
        }
        // A deferred constraint, a deferred trigger or its lock wait: the
        // change's own checks ran at COMMIT and refused it.
        Err(e) if e.code().is_some() && !crate::sql::convert::connection_lost(&e) => {
            return Err(Failure::TierFailed {
                label: what.to_string(),
                cause: format!("its COMMIT was refused ({}); nothing of it was kept", db::why(&e)),
            });
        }
        Err(e) if e.code().is_some() => {
            return Err(Failure::Database(anyhow::anyhow!("COMMIT of {what} failed: {}", db::why(&e))));
        }
        Err(e) => e,
    };
    // No answer: the server may have committed, or may still be working on
    // the COMMIT (a synchronous standby, a deferred constraint waiting on a
    // lock, a pooler between): the ledger says which only once that
    // transaction has ended, so wait for it (it holds the rollout's row).
    let settled = control.committed(&mark).await;
    match settled {
        Ok(true) => {
            let line =
                format!("the answer to COMMIT was lost ({}), but the ledger shows {what} committed", db::why(&err));
            ctx.reporter().status("Warning", &line);
            Ok(())
        }
        Ok(false) => Err(Failure::Database(anyhow::anyhow!(
            "the answer to COMMIT of {what} was lost ({}); the ledger shows it did not commit: nothing of it was kept",
            db::why(&err)
        ))),
        Err(ledger_err) => Err(unknown(what, &err, &ledger_err.to_string())),
    }
}

fn unknown(what: &str, commit_err: &tokio_postgres::Error, ledger_err: &str) -> Failure {
    Failure::CommitUnknown(format!(
        "the answer to COMMIT of {what} was lost ({}) and the ledger cannot be read ({ledger_err}): \
         the database kept either all of it or none of it, and the host cannot tell which. \
         Run `host status` with the same connection options: it settles the outcome from the ledger \
         before anything else (so does the next `host run` or `host rollback`)",
        db::why(commit_err)
    ))
}

/// Why a COMMIT its gate refused kept nothing, for the operator.
pub(super) fn gated(e: &tokio_postgres::Error) -> String {
    format!(
        "something still deferred at its COMMIT (a trigger that fired in the deferred check can defer another) \
         wrote rows or locked relations the host had not counted: {}; nothing of it was kept",
        db::refusal(e)
    )
}
