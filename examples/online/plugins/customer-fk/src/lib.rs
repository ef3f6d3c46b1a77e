//! Online tier 3: NOT VALID makes the key hold for new rows at once, and
//! leaves the scan of the old ones to tier 4, under a lock writers pass.

use rollout_sdk::{execute, scalar, Metric, Result};

/// `absent`, `not valid` or `valid`.
fn customer_fk() -> Result<String> {
    scalar(
        "SELECT coalesce(max(CASE WHEN convalidated THEN 'valid' ELSE 'not valid' END), 'absent')
         FROM pg_catalog.pg_constraint
         WHERE conrelid = 'shop.orders'::regclass AND conname = 'orders_customer_fk'",
    )
}

fn apply() -> Result<()> {
    execute(
        "ALTER TABLE shop.orders ADD CONSTRAINT orders_customer_fk
         FOREIGN KEY (customer_id) REFERENCES shop.customers (id) NOT VALID",
    )?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CUSTOMER_FK.equals("not valid", customer_fk()?)])
}

fn rollback() -> Result<()> {
    execute("ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_fk")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CUSTOMER_FK.equals("absent", customer_fk()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
