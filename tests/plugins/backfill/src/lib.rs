//! Test fixture: a batched backfill by primary-key ranges, to prove the
//! host commits each batch with its checkpoint, resumes exactly, shrinks a
//! batch on a timeout, rolls a failed pass back batch by batch and stops a
//! pass that would never end.

use rollout_sdk::{count, execute_with, param, scalar_with, Batch, Error, Metric, Result};

/// The last id of the next `size` rows after `from` (-1: none left).
fn range_end(from: i64, size: u32) -> Result<i64> {
    scalar_with(
        "SELECT coalesce(max(id), -1)::int8 FROM (SELECT id FROM app.item WHERE id > $1 ORDER BY id LIMIT $2) s",
        &[&from, &(size as i64)],
    )
}

fn start(position: Option<String>) -> Result<i64> {
    match position {
        None => Ok(i64::MIN),
        Some(p) => p.parse().map_err(|_| Error::msg(format!("not a position of this plugin: {p:?}"))),
    }
}

/// One batch of `set` (an UPDATE's SET list) over the next range.
fn batch(position: Option<String>, size: u32, set: &str) -> Result<Batch> {
    let from = start(position)?;
    let total = if from == i64::MIN { Some(count("SELECT count(*) FROM app.item")? as u64) } else { None };
    let end = range_end(from, size)?;
    if end < 0 {
        return Ok(Batch { rows: 0, next: None, total });
    }
    let rows = execute_with(&format!("UPDATE app.item SET {set} WHERE id > $1 AND id <= $2"), &[&from, &end])?;
    Ok(Batch { rows, next: Some(end.to_string()), total })
}

fn apply_batch(position: Option<String>, size: u32) -> Result<Batch> {
    let from = start(position.clone())?;
    match param("fail")?.as_str() {
        "batch" if from >= 25_000 => Err(Error::msg("the fixture fails this batch, as its `fail` parameter says")),
        // Does its batch, then names a position it was at before.
        "cycle" if from >= 25_000 => Ok(Batch { next: Some("20000".into()), ..batch(position, size, "v = n * 2")? }),
        // Changes nothing and moves on, forever.
        "idle" if from >= 25_000 => {
            Ok(Batch { rows: 0, next: Some((from + i64::from(size)).to_string()), total: None })
        }
        _ => batch(position, size, "v = n * 2"),
    }
}

fn post_conditions() -> Result<Vec<Metric>> {
    let left = count("SELECT count(*) FROM app.item WHERE v IS DISTINCT FROM n * 2")?;
    let done = count("SELECT count(*) FROM app.item WHERE v = n * 2")?;
    let expected = if param("fail")? == "post" { -1 } else { done };
    Ok(vec![metric::ROWS_LEFT.equals(0, left), metric::ROWS_DONE.equals(expected, done)])
}

fn rollback_batch(position: Option<String>, size: u32) -> Result<Batch> {
    batch(position, size, "v = NULL")
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::ROWS_BACKFILLED.equals(0, count("SELECT count(*) FROM app.item WHERE v IS NOT NULL")?)])
}

rollout_sdk::batched_tier! {
    apply_batch: apply_batch,
    post_conditions: post_conditions,
    rollback_batch: rollback_batch,
    rollback_conditions: rollback_conditions,
}
