//! `host status`: what the ledger says is applied, and the latest rollouts.
//! Needs a connection, not an engine.

use crate::connect::Target;
use crate::db;
use crate::error::Failure;
use crate::ledger;
use crate::report;

/// Reads the ledger (without creating it) and prints both tables.
pub async fn status(target: &Target, limit: i64) -> Result<(), Failure> {
    let name = format!("host status pid {}", std::process::id());
    let client = target.connect(&name).await.map_err(Failure::Database)?;
    let database = db::current_database(&client).await.map_err(Failure::Database)?;
    let applied = ledger::applied(&client).await?;
    let mut history = ledger::history(&client, limit).await?;
    // A rollout marked running while no host holds the lock is one whose
    // host is gone: say so (the next run or rollback records it).
    let holder = db::lock_holder(&client).await.map_err(Failure::Database)?;
    let mut stale = Vec::new();
    for p in history.iter_mut().filter(|p| p.outcome == "running" && holder.is_none()) {
        p.outcome = "abandoned".into();
        stale.push(p.id.to_string());
    }
    print!("{}", report::status(&database, &applied, &history));
    if !stale.is_empty() {
        println!(
            "Rollout {} is marked running in the ledger, but no host holds the rollout lock: the host that ran it \
             stopped without closing it (killed, crashed or cut off). The next `host run` or `host rollback` records \
             it as abandoned; check what it left with `host status` and roll back.",
            stale.join(", ")
        );
    }
    Ok(())
}
