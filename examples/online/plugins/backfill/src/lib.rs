//! Online tier 2: the backfill of `region`.

use rollout_sdk::{count, execute, Metric, Result};

const MISSING: &str = "SELECT count(*) FROM shop.orders WHERE region IS NULL";
const FILLED: &str = "SELECT count(*) FROM shop.orders WHERE region IS NOT NULL";

fn apply() -> Result<()> {
    execute("UPDATE shop.orders SET region = (ARRAY['north', 'south', 'east', 'west'])[customer_id % 4 + 1] WHERE region IS NULL")?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_MISSING.equals(0, count(MISSING)?)])
}

fn rollback() -> Result<()> {
    execute("UPDATE shop.orders SET region = NULL WHERE region IS NOT NULL")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_FILLED.equals(0, count(FILLED)?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
