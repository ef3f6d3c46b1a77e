//! Creating the ledger, and upgrading one an older host created.

use tokio_postgres::{Client, Error};

const SCHEMA: &str = include_str!("../../sql/ledger.sql");
const EXISTS: &str = "SELECT to_regclass('rollout_ledger.tier_event') IS NOT NULL";
/// The newest change ledger.sql makes is there: the ledger is current.
const CURRENT: &str = "
    SELECT to_regclass('rollout_ledger.statement') IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('rollout_ledger.tier_event') AND attname = 'replaces' AND NOT attisdropped)";

/// Creates the ledger, or upgrades one an older host created, when it is
/// not current (call under the lock). `ledger.sql` is idempotent and runs
/// whole, in one implicit transaction, only then: a current ledger sees no
/// DDL.
pub async fn ensure(client: &Client) -> Result<(), Error> {
    if !client.query_one(CURRENT, &[]).await?.get::<_, bool>(0) {
        client.batch_execute(SCHEMA).await?;
    }
    Ok(())
}

/// True once some `run` or `rollback` has created the ledger.
pub async fn exists(client: &Client) -> Result<bool, Error> {
    Ok(client.query_one(EXISTS, &[]).await?.get(0))
}
