//! Online tier 2: the backfill of `region`, one committed batch of
//! primary-key range at a time (the host commits each with its ledger
//! checkpoint, resumes from the last one, shrinks a batch that times out),
//! so a writer waits for one batch's row locks at most, never the whole
//! backfill's.

use rollout_sdk::{count, execute_with, scalar_with, Batch, Error, Metric, Result};

const MISSING: &str = "SELECT count(*) FROM shop.orders WHERE region IS NULL";
const FILLED: &str = "SELECT count(*) FROM shop.orders WHERE region IS NOT NULL";

/// The batch after `position` (the last id done) of `size` ids: `set` on
/// the rows of `id` in (from, from + size].
fn batch(position: Option<String>, size: u32, set: &str) -> Result<Batch> {
    let from: i64 = match position {
        None => 0,
        Some(p) => p.parse().map_err(|_| Error::msg(format!("not a position of this tier: {p:?}")))?,
    };
    let last: i64 = scalar_with("SELECT coalesce(max(id), 0)::int8 FROM shop.orders WHERE id > $1", &[&from])?;
    let total = (from == 0).then_some(last as u64);
    if last <= from {
        return Ok(Batch { rows: 0, next: None, total });
    }
    let to = from.saturating_add(i64::from(size));
    let rows = execute_with(&format!("UPDATE shop.orders SET {set} WHERE id > $1 AND id <= $2"), &[&from, &to])?;
    Ok(Batch { rows, next: Some(to.to_string()), total })
}

fn apply_batch(position: Option<String>, size: u32) -> Result<Batch> {
    batch(position, size, "region = (ARRAY['north', 'south', 'east', 'west'])[customer_id % 4 + 1]")
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_MISSING.equals(0, count(MISSING)?)])
}

fn rollback_batch(position: Option<String>, size: u32) -> Result<Batch> {
    batch(position, size, "region = NULL")
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::REGION_FILLED.equals(0, count(FILLED)?)])
}

rollout_sdk::batched_tier! {
    apply_batch: apply_batch,
    post_conditions: post_conditions,
    rollback_batch: rollback_batch,
    rollback_conditions: rollback_conditions,
}
