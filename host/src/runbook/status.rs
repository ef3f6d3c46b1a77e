//! `host status`: what the ledger says is applied, and the latest rollouts.
//! Needs a connection, not an engine.
//!
//! It settles first: when no host holds the rollout lock, a rollout still
//! marked running is one whose host is gone (killed, crashed, cut off, or a
//! COMMIT whose answer was lost). Status takes the lock for a moment,
//! records it as abandoned and says what the ledger shows it committed.

use crate::db;
use crate::error::Failure;
use crate::ledger;
use crate::report;
use crate::signal::Interrupt;
use rollout_connect::Target;
use std::time::Duration;
use tokio_postgres::Client;

/// Settles stale rollouts, then reads the ledger (never creating it) and
/// prints both tables. Ctrl-C cancels its statement on the server.
pub async fn status(target: &Target, limit: i64, interrupt: Interrupt) -> Result<(), Failure> {
    let stopped = || Failure::Interrupted("status stopped; its statement was cancelled on the server".into());
    let name = format!("host status pid {}", std::process::id());
    let client = tokio::select! {
        c = target.connect(&name) => c.map_err(Failure::Database)?,
        _ = interrupt.wait() => return Err(stopped()),
    };
    let cancel = target.canceller(&client);
    tokio::select! {
        r = settle_and_show(&client, limit) => r,
        _ = interrupt.wait() => {
            let _ = tokio::time::timeout(Duration::from_millis(400), cancel.cancel()).await;
            Err(stopped())
        }
    }
}

async fn settle_and_show(client: &Client, limit: i64) -> Result<(), Failure> {
    client.batch_execute(super::CONTROL_SETTINGS).await?;
    let database = db::current_database(client).await.map_err(Failure::Database)?;
    let mut stale = ledger::Stale::default();
    if ledger::exists(client).await? {
        if let Ok(()) = db::try_rollout_lock(client).await.map_err(Failure::Database)? {
            let by = format!("host status (pid {})", std::process::id());
            stale = ledger::abandon_stale(client, &by).await?;
            db::release_rollout_lock(client).await.map_err(Failure::Database)?;
        }
    }
    let settled = stale
        .settled
        .iter()
        .map(|s| {
            format!(
                "Settled rollout {}: it was still marked running, but no host held the rollout lock, so its host \
                 stopped without closing it (killed, crashed, cut off, or a COMMIT whose answer was lost); recorded \
                 as abandoned. {}.",
                s.id,
                s.describe()
            )
        })
        .collect();
    let not_settled = (!stale.busy.is_empty()).then(|| super::busy_message(&stale.busy));
    let applied = ledger::applied(client).await?;
    let history = ledger::history(client, limit).await?;
    let batches = match ledger::exists(client).await? {
        true => super::batched::steps::open_lines(client).await?,
        false => Vec::new(),
    };
    let replaced = ledger::replaced(client, limit).await?;
    let status = report::StatusReport { database, applied, history, settled, not_settled, batches, replaced };
    let printer = crate::printer::get();
    if printer.json() {
        printer.result_json(&status);
    } else {
        for (title, table, lines) in report::status(&status) {
            printer.result_table(&title, table, &lines);
        }
    }
    Ok(())
}
