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
    let history = ledger::history(&client, limit).await?;
    print!("{}", report::status(&database, &applied, &history));
    Ok(())
}
