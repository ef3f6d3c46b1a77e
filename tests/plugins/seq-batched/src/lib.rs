//! Sequence watch fixture, batched: one apply batch runs the statements of
//! its data file `apply.sql`, one rollback batch those of `rollback.sql`
//! (one a line), stopping at the first error, so a test can set a sequence
//! back (`setval`) inside a batch's transaction.

use rollout_sdk::{data_file, query, Batch, Metric, Result};

fn run(file: &str) -> Result<Batch> {
    let text = data_file(file)?;
    for stmt in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")) {
        query(stmt)?;
    }
    Ok(Batch { rows: 0, next: None, total: Some(1) })
}

fn apply_batch(_position: Option<String>, _size: u32) -> Result<Batch> {
    run("apply.sql")
}

fn rollback_batch(_position: Option<String>, _size: u32) -> Result<Batch> {
    run("rollback.sql")
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
