//! Why and how the host stops a plugin's statement: a limit, the deadline
//! or Ctrl-C ([`Stop`]), and the cancel that makes the server end it too
//! (dropping a future cancels nothing on the server).

use crate::signal::Interrupt;
use rollout_connect::Canceller;
use std::time::{Duration, Instant};

/// Why the host stopped a plugin: a limit it reached or the operator's
/// Ctrl-C. Not a fault the plugin can handle; the call traps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    #[error("limit {name}={value} reached")]
    Limit { name: &'static str, value: u64 },
    #[error("interrupted by the operator (Ctrl-C)")]
    Interrupted,
    /// The database connection is gone: the host, not the plugin, handles it.
    #[error("the database connection was lost: {0}")]
    ConnectionLost(String),
    /// Under roles, a statement left the session as another role than the
    /// plugin's: its result is withheld and the call stops.
    #[error("the statement changed the role it runs as (now {0}); its result is withheld")]
    RoleChanged(String),
}

/// Runs `work` (an exchange with the server) to its end, or until `stop`
/// (the deadline, Ctrl-C) resolves first: then the statement is cancelled
/// on the server and `work` driven until it has ended there (dropping the
/// future cancels nothing on the server).
pub(crate) async fn stoppable<T>(
    work: impl std::future::Future<Output = T>,
    stop: impl std::future::Future<Output = Stop>,
    cancel: &Canceller,
) -> Result<T, Stop> {
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => Ok(r),
        stop = stop => {
            until_ended(cancel, work).await;
            Err(stop)
        }
    }
}

/// How long a stopped statement may take to end on the server once the host
/// asked (a server that does not answer is the connection's problem then).
const CANCEL_SETTLE: Duration = Duration::from_secs(3);

/// Cancels the statement `work` runs and waits until it has ended, asking
/// again every 100 ms: a cancel that reaches the server before the statement
/// has started there is ignored, and the statement would run on (a
/// `pg_sleep` for minutes) with the tier's ROLLBACK queued behind it.
async fn until_ended<F: std::future::Future>(cancel: &Canceller, mut work: std::pin::Pin<&mut F>) {
    let settle = async {
        loop {
            cancel.cancel().await;
            if tokio::time::timeout(Duration::from_millis(100), work.as_mut()).await.is_ok() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(CANCEL_SETTLE, settle).await;
}

/// Resolves when the plugin must stop: deadline passed or Ctrl-C.
pub(super) async fn stop_signal(deadline: Instant, wall_time_ms: u64, interrupt: Interrupt) -> Stop {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => Stop::Limit { name: "wall_time_ms", value: wall_time_ms },
        _ = interrupt.wait() => Stop::Interrupted,
    }
}
