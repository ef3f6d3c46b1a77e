//! Bench fixture: the per-statement cost as a plugin sees it, from the
//! call into the host to the rows back, for a repeated text and for texts
//! seen once (`make bench`, beside tokio-postgres `query_typed`).

use rollout_sdk::__bindings::tier::rollout::plugin::{sql, types::SqlValue};
use rollout_sdk::{param, query_with, stream, Error, Metric, Phase, Result};
use std::time::Instant;

/// The statement the bench sends (host/examples/bench_statement.rs sends
/// the same one): one row by primary key.
const SAME: &str = "SELECT status FROM one_roof.approval WHERE code = $1";

fn check(_: Phase) -> Result<Vec<Metric>> {
    let distinct = param("mode")? == "distinct";
    let count: u64 = param("count")?.parse().map_err(|_| Error::msg("count is not a number"))?;
    if param("mode")? == "read" {
        return read(count);
    }
    let code = "APR-2026-0412";
    let start = Instant::now();
    for i in 0..count {
        let rows = if distinct {
            query_with(&format!("SELECT status, {i} AS n FROM one_roof.approval WHERE code = $1"), &[&code])?
        } else {
            query_with(SAME, &[&code])?
        };
        if rows.len() != 1 {
            return Err(Error::msg(format!("expected one approval row, got {}", rows.len())));
        }
    }
    let ns = start.elapsed().as_nanos() as u64 / count;
    // The contract gives a result's columns even when no row came back
    // (the SDK's `Rows` hides them, so this asks the import itself).
    let empty =
        sql::query("SELECT status, code FROM one_roof.approval WHERE code = $1", &[SqlValue::Text("none".into())])
            .map_err(|e| Error::msg(e.message))?;
    let names: Vec<String> = empty.columns.into_iter().map(|c| format!("{} {}", c.name, c.type_name)).collect();
    Ok(vec![
        metric::STATEMENTS.info(count),
        metric::NS_PER_STATEMENT.info(ns),
        metric::EMPTY_RESULT_COLUMNS.info(names.join(", ")),
    ])
}

/// Streams every row of public.bench_rows (make bench fills it with
/// `count` rows), touching each value, in the plugin's 64 MiB.
fn read(count: u64) -> Result<Vec<Metric>> {
    let start = Instant::now();
    let (mut rows, mut bytes) = (0u64, 0usize);
    for batch in stream("SELECT id, label FROM public.bench_rows")? {
        for row in batch?.iter() {
            rows += row.get::<i64>("id")?.min(1) as u64;
            bytes += row.get::<String>("label")?.len();
        }
    }
    if rows != count {
        return Err(Error::msg(format!("read {rows} rows, expected {count}")));
    }
    Ok(vec![
        metric::STATEMENTS.info(rows),
        metric::NS_PER_STATEMENT.info(start.elapsed().as_nanos() as u64 / rows.max(1)),
        metric::EMPTY_RESULT_COLUMNS.info(format!("{bytes} label bytes")),
    ])
}

rollout_sdk::check! { check: check }
