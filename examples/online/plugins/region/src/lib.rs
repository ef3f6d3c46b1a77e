//! Online tier 1: a nullable column with no default is a catalog change
//! only; its ACCESS EXCLUSIVE lock is held for milliseconds.

use rollout_sdk::{count, execute, Metric, Result};

/// 1 when shop.orders has the column, 0 when not.
fn region_column() -> Result<i64> {
    count(
        "SELECT count(*) FROM pg_catalog.pg_attribute
         WHERE attrelid = 'shop.orders'::regclass AND attname = 'region' AND NOT attisdropped",
    )
}

fn apply() -> Result<()> {
    execute("ALTER TABLE shop.orders ADD COLUMN region text")?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_COLUMN.equals(1, region_column()?)])
}

fn rollback() -> Result<()> {
    execute("ALTER TABLE shop.orders DROP COLUMN region")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_COLUMN.equals(0, region_column()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
