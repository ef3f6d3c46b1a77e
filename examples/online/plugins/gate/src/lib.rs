//! Online example gate: the change needs orders, and no order whose
//! customer is missing (tier 4 validates the foreign key over every row).

use rollout_sdk::{count, scalar, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    let orders = count("SELECT count(*) FROM shop.orders")?;
    let orphans = count(
        "SELECT count(*) FROM shop.orders o WHERE NOT EXISTS (SELECT 1 FROM shop.customers c WHERE c.id = o.customer_id)",
    )?;
    Ok(vec![
        metric::DB.equals("shop", scalar::<String>("SELECT current_database()::text")?),
        metric::ORDERS.holds("≥ 1", orders, orders >= 1),
        metric::ORPHAN_ORDERS.equals(0, orphans),
    ])
}

rollout_sdk::check! { check: check }
