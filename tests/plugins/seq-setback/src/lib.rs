//! Sequence watch fixture: its apply runs the statements of its data file
//! `apply.sql`, its rollback those of `rollback.sql` (one a line), stopping
//! at the first error, so a test can set a sequence back (`setval`) or draw
//! from it in any phase.

use rollout_sdk::{data_file, log, query, Metric, Result};

fn statements(file: &str) -> Result<Vec<String>> {
    let text = data_file(file)?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")).map(String::from).collect())
}

fn run(file: &str) -> Result<()> {
    for (i, stmt) in statements(file)?.iter().enumerate() {
        let rows = query(stmt)?;
        log::info(format!("{file} {} ran: {} rows", i + 1, rows.len()));
    }
    Ok(())
}

fn apply() -> Result<()> {
    run("apply.sql")
}

fn check() -> Result<Vec<Metric>> {
    Ok(vec![metric::STATEMENTS.equals(1, 1)])
}

fn rollback() -> Result<()> {
    run("rollback.sql")
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
