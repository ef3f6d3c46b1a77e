//! Online tier 5: an index built concurrently. The host runs the statement
//! on its own (it cannot run in a transaction block), records it in the
//! ledger before and after, and drops an INVALID index an interrupted build
//! left before trying again.

use rollout_sdk::{execute, scalar, Metric, Result};

/// `absent`, `invalid` or `valid`.
fn region_index() -> Result<String> {
    scalar(
        "SELECT coalesce(max(CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END), 'absent')
         FROM pg_catalog.pg_index
         WHERE indrelid = 'shop.orders'::regclass
           AND indexrelid IN (SELECT oid FROM pg_catalog.pg_class WHERE relname = 'orders_region_idx')",
    )
}

fn apply() -> Result<()> {
    execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_region_idx ON shop.orders (region)")?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_INDEX.equals("valid", region_index()?)])
}

fn rollback() -> Result<()> {
    execute("DROP INDEX CONCURRENTLY IF EXISTS shop.orders_region_idx")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_INDEX.equals("absent", region_index()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
