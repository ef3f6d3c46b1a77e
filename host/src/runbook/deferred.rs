//! What a COMMIT would check — deferred keys, deferred unique and exclusion
//! constraints, constraint triggers `INITIALLY DEFERRED` — checked where the
//! host proves things: after a tier's apply (before its post-conditions
//! and counts), after each batch, after a rollback's undo (before its
//! probes), and after each tier of a dry run, which never commits. A
//! violation is the step's own failure there, not a refused COMMIT after
//! a proof on a state that could not be kept.
//!
//! The check is what the COMMIT would do, done now and kept
//! ([`db::check_deferred`]: a savepoint, released): each deferred trigger
//! fires once, here, and its writes stay, so the post-conditions, counts
//! and probes that follow are proven on the state the COMMIT keeps, and a
//! dry run's next tier on the state the run has. The constraint modes are
//! put back as declared (a batch outside roles leaves them immediate:
//! [`db::Modes::LeaveImmediate`]); the host's own ledger rows, written after
//! the check, fire their deferred triggers at COMMIT, or in that batch at
//! the step row's INSERT, the last write before COMMIT. A row another
//! session holds is waited for as [`Wait`] says; what is left to a COMMIT
//! runs behind its gate, which refuses any row written there.

use super::context::Context;
use crate::db::{self, Deferred};
use crate::error::Failure;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// How the deferred check waits for a row another session holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// As the COMMIT would (the transaction's `lock_timeout`).
    AsCommit,
    /// 50 ms, then the check is the COMMIT's (behind its gate).
    LeaveToCommit,
}

/// Checks now what the COMMIT of the transaction open on `client` would;
/// `label` names the step for the failure. Only after the step's work succeeded:
/// a savepoint in an aborted transaction fails.
///
/// `wait`: a batch's check (and a dry run's) waits as the COMMIT would; a
/// tier's or a rollback's waits briefly and may leave the check to its
/// COMMIT ("Not checked"), whose gate fires it and refuses any row written
/// there ([`db::commit`]): a COMMIT waiting on an application's row is
/// still the COMMIT, and a lost answer to it is settled from the ledger.
pub(super) async fn check(
    ctx: &Context,
    client: &Client,
    label: &str,
    modes: db::Modes,
    wait: Wait,
) -> Result<(), Failure> {
    match db::check_deferred(client, modes, wait == Wait::LeaveToCommit).await {
        Ok(Deferred::Hold) => Ok(()),
        Ok(Deferred::Locked(e)) => {
            let line = format!(
                "{label}'s deferred constraints before its COMMIT: a row they read is locked by another session \
                 ({}); its COMMIT checks them, waits for that row, and keeps nothing they write",
                crate::text::terminal(&db::why(&e))
            );
            ctx.reporter().warning("Not checked", &line);
            Ok(())
        }
        Ok(Deferred::Refused(e)) if cancelled(&e) && ctx.interrupt().is_set() => {
            Err(ctx.stopped(format!("{label} stopped during the check of what its COMMIT would check")))
        }
        Ok(Deferred::Refused(e)) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) => {
            Err(Failure::TierFailed {
                label: label.to_string(),
                cause: crate::text::terminal(&format!(
                    "its deferred checks were ended by the server as one side of a deadlock with another session ({}); run it again when that session is done",
                    db::why(&e)
                )),
            })
        }
        Ok(Deferred::Refused(e)) => Err(refused(label, &e)),
        Err(e) => Err(Failure::Database(e.context(format!("{label}: cannot check what its COMMIT would check")))),
    }
}

/// The server cancelled the statement (the interrupt's cancel, or the
/// `statement_timeout`): not what the COMMIT would refuse.
fn cancelled(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::QUERY_CANCELED)
}

/// The failure of the step `label` whose deferred check the server
/// refused, naming the constraint (or the trigger's own error) as the
/// server did.
fn refused(label: &str, e: &tokio_postgres::Error) -> Failure {
    let what = match e.as_db_error() {
        Some(db) => match (db.constraint(), db.schema(), db.table()) {
            (Some(c), Some(s), Some(t)) => format!("its deferred constraint {c} on {s}.{t}"),
            (Some(c), _, _) => format!("its deferred constraint {c}"),
            _ => match db.where_() {
                Some(w) => format!("a deferred constraint trigger ({})", w.lines().next().unwrap_or_default()),
                None => "a deferred check".to_string(),
            },
        },
        None => "a deferred check".to_string(),
    };
    let cause = format!("{what} fails: {}; it is what its COMMIT would have refused", db::why(e));
    Failure::TierFailed { label: label.to_string(), cause: crate::text::terminal(&cause) }
}
