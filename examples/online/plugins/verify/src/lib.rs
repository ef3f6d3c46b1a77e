//! Online example verify: the change as a whole.

use rollout_sdk::{count, scalar, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    Ok(vec![
        metric::REGION_MISSING.equals(0, count("SELECT count(*) FROM shop.orders WHERE region IS NULL")?),
        metric::CUSTOMER_FK.equals(
            "valid",
            scalar::<String>(
                "SELECT coalesce(max(CASE WHEN convalidated THEN 'valid' ELSE 'not valid' END), 'absent')
                 FROM pg_catalog.pg_constraint
                 WHERE conrelid = 'shop.orders'::regclass AND conname = 'orders_customer_fk'",
            )?,
        ),
        metric::REGION_INDEX.equals(
            "valid",
            scalar::<String>(
                "SELECT coalesce(max(CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END), 'absent')
                 FROM pg_catalog.pg_index
                 WHERE indrelid = 'shop.orders'::regclass
                   AND indexrelid IN (SELECT oid FROM pg_catalog.pg_class WHERE relname = 'orders_region_idx')",
            )?,
        ),
    ])
}

rollout_sdk::check! { check: check }
