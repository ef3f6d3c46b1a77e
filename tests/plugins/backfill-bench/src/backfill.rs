
use rollout_sdk::{count, execute_with, scalar, Batch, Error, Metric, Result};

const SET: &str = "region = (ARRAY['north', 'south', 'east', 'west'])[customer_id % 4 + 1]";

/// `from/last` of `position`, or (0, the largest id) on the first batch.
fn bounds(position: Option<String>) -> Result<(i64, i64)> {
    let Some(p) = position else {
        return Ok((0, scalar("SELECT coalesce(max(id), 0)::int8 FROM shop.orders")?));
    };
    let bad = || Error::msg(format!("not a position of this tier: {p:?}"));
    let (from, last) = p.split_once('/').ok_or_else(bad)?;
    Ok((from.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?))
}

fn batch(position: Option<String>, size: u32, set: &str) -> Result<Batch> {
    let first = position.is_none();
    let (from, last) = bounds(position)?;
    let total = first.then_some(last as u64);
    if from >= last {
        return Ok(Batch { rows: 0, next: None, total });
    }
    let to = from.saturating_add(i64::from(size));
    let rows = execute_with(&format!("UPDATE shop.orders SET {set} WHERE id > $1 AND id <= $2"), &[&from, &to])?;
    Ok(Batch { rows, next: Some(format!("{to}/{last}")), total })
}

fn apply_batch(position: Option<String>, size: u32) -> Result<Batch> {
    batch(position, size, SET)
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_MISSING.equals(0, count("SELECT count(*) FROM shop.orders WHERE region IS NULL")?)])
}

fn rollback_batch(position: Option<String>, size: u32) -> Result<Batch> {
    batch(position, size, "region = NULL")
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_FILLED.equals(0, count("SELECT count(*) FROM shop.orders WHERE region IS NOT NULL")?)])
}

rollout_sdk::batched_tier! {
    apply_batch: apply_batch,
    post_conditions: post_conditions,
    rollback_batch: rollback_batch,
    rollback_conditions: rollback_conditions,
}
