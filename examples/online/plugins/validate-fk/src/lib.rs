//! Online tier 4: VALIDATE CONSTRAINT scans the table without blocking
//! writes. Its rollback has nothing to undo: a validated key is the same
//! key, and tier 3's rollback drops it.

use rollout_sdk::{execute, scalar, Metric, Result};

fn customer_fk() -> Result<String> {
    scalar(
        "SELECT coalesce(max(CASE WHEN convalidated THEN 'valid' ELSE 'not valid' END), 'absent')
         FROM pg_catalog.pg_constraint
         WHERE conrelid = 'shop.orders'::regclass AND conname = 'orders_customer_fk'",
    )
}

fn apply() -> Result<()> {
    execute("ALTER TABLE shop.orders VALIDATE CONSTRAINT orders_customer_fk")?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CUSTOMER_FK.equals("valid", customer_fk()?)])
}

fn rollback() -> Result<()> {
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CUSTOMER_FK.equals("valid", customer_fk()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
