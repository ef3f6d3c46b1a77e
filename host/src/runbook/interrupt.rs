//! Ctrl-C during a command: how long it has to wind down on its own, and
//! what is cancelled on the server once that time is up.

use super::context::Context;
use crate::error::Failure;

/// The command, boxed: it runs until it ends or is given up on.
pub(super) type Command<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Failure>> + 'a>>;

/// How long a command has, after Ctrl-C, to wind down on its own: stop the
/// plugin (its statement is cancelled at once), roll back its transaction,
/// record it. Past that, the host is waiting on the server for itself.
const GRACE: std::time::Duration = std::time::Duration::from_millis(300);

/// How much longer a command that heard the interrupt (its plugin stopped,
/// its tier rolling back) has to record it and close its rollout with the
/// report, on a loaded machine or behind a briefly locked ledger, before
/// its waits are cancelled too.
const WIND_DOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `work` until it ends, or until Ctrl-C plus [`GRACE`] (plus
/// [`WIND_DOWN`] if the work heard the interrupt and is recording it, or
/// waits for the answer to a COMMIT): then every statement the command's
/// connections still wait on (a lock, the ledger) is cancelled on the
/// server and the command ends as interrupted (exit 130). A COMMIT in
/// flight is never abandoned blind: once its wait is cancelled the server
/// answers (committed or not) and the command records what it learned;
/// only a server that still does not answer leaves the outcome UNKNOWN
/// (exit 8), for `host status` to settle from the ledger.
pub(super) async fn interruptible(ctx: &Context, mut work: Command<'_>) -> Result<(), Failure> {
    tokio::select! {
        r = &mut work => return r,
        _ = ctx.interrupt().wait() => {}
    }
    if let Ok(r) = tokio::time::timeout(GRACE, &mut work).await {
        return r;
    }
    let winding = ctx.interrupt().heard() || ctx.interrupt().critical_step().is_some();
    if winding {
        if let Ok(r) = tokio::time::timeout(WIND_DOWN, &mut work).await {
            return r;
        }
    }
    ctx.connections().cancel_all().await;
    if let Some(step) = ctx.interrupt().critical_step() {
        if let Ok(r) = tokio::time::timeout(WIND_DOWN, &mut work).await {
            return r;
        }
        return Err(Failure::CommitUnknown(format!(
            "interrupted while waiting for the answer to {step}, which did not come within {} s even after its \
             wait was cancelled on the server: the database kept either all of it or none of it, and the host \
             cannot tell which. Run `host status` with the same connection options: it settles the outcome from \
             the ledger before anything else",
            (GRACE + WIND_DOWN + WIND_DOWN).as_secs()
        )));
    }
    let doing = if winding {
        format!(
            "the host stopped its plugin but could not record that within {} s (the server did not answer)",
            (GRACE + WIND_DOWN).as_secs()
        )
    } else {
        "the host was waiting on the server".to_string()
    };
    Err(Failure::Interrupted(format!(
        "{doing}; that wait was cancelled there and nothing more was sent \
         (a rollout already begun stays marked running until the next command settles it)"
    )))
}
