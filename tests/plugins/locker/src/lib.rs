//! Lock fixture: runs the statements its data file lists (DDL on a table
//! another session may hold a lock on), so a test can watch the host's
//! short lock waits, its retries and the lock footprint it measures; its
//! rollback runs the lines written `-- rollback: <statement>`.

use rollout_sdk::{data_file, log, query, Metric, Result};

fn statements() -> Result<Vec<String>> {
    let text = data_file("statements.sql")?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")).map(String::from).collect())
}

fn apply() -> Result<()> {
    for (i, stmt) in statements()?.iter().enumerate() {
        let rows = query(stmt)?;
        log::info(format!("STATEMENT {} ran: {} changed", i + 1, rows.changed));
    }
    Ok(())
}

fn check() -> Result<Vec<Metric>> {
    let n = statements()?.len();
    Ok(vec![metric::STATEMENTS.equals(n, n)])
}

/// Its rollback runs the lines of statements.sql written
/// `-- rollback: <statement>` (comments to its apply).
fn rollback() -> Result<()> {
    let text = data_file("statements.sql")?;
    for stmt in text.lines().filter_map(|l| l.trim().strip_prefix("-- rollback: ")) {
        query(stmt)?;
    }
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
