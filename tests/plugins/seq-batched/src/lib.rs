//! Sequence watch fixture, batched: the apply batches run the statements of
//! its data file `apply.sql`, the rollback batches those of `rollback.sql`
//! (one a line), stopping at the first error, so a test can set a sequence
//! back (`setval`) inside a batch's transaction. A line `-- batch` starts
//! the next batch's statements (none: one batch).

use rollout_sdk::{data_file, query, Batch, Metric, Result};

fn run(file: &str, position: Option<String>) -> Result<Batch> {
    let text = data_file(file)?;
    let batches: Vec<&str> = text.split("-- batch\n").collect();
    let at: usize = position.and_then(|p| p.parse().ok()).unwrap_or(0);
    let part = batches.get(at).copied().unwrap_or("");
    for stmt in part.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")) {
        query(stmt)?;
    }
    let next = (at + 1 < batches.len()).then(|| (at + 1).to_string());
    Ok(Batch { rows: 0, next, total: Some(batches.len() as u64) })
}

fn apply_batch(position: Option<String>, _size: u32) -> Result<Batch> {
    run("apply.sql", position)
}

fn rollback_batch(position: Option<String>, _size: u32) -> Result<Batch> {
    run("rollback.sql", position)
}

fn check() -> Result<Vec<Metric>> {
    Ok(vec![metric::STATEMENTS.equals(1, 1)])
}

rollout_sdk::batched_tier! {
    apply_batch: apply_batch,
    post_conditions: check,
    rollback_batch: rollback_batch,
    rollback_conditions: check,
}
