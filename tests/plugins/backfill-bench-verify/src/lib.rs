//! Bench fixture: the verify of bench_backfill's plan (a rollout needs
//! one): every order has a region.

use rollout_sdk::{count, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_MISSING.equals(0, count("SELECT count(*) FROM shop.orders WHERE region IS NULL")?)])
}

rollout_sdk::check! { check: check }
