//! Concurrent tier fixture (`mode = "concurrent"`): its apply and rollback
//! send the statements of their data files, in order, stopping at the
//! first error, so a test gives it any CREATE / DROP INDEX CONCURRENTLY;
//! its conditions are one-row SELECTs from data files, expected to say 1.

use rollout_sdk::{data_file, log, query, scalar, Metric, Result};

fn statements(file: &str) -> Result<Vec<String>> {
    let text = data_file(file)?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")).map(String::from).collect())
}

fn send(file: &str) -> Result<()> {
    for (i, stmt) in statements(file)?.iter().enumerate() {
        query(stmt)?;
        log::info(format!("STATEMENT {} of {file} ran", i + 1));
    }
    Ok(())
}

fn apply() -> Result<()> {
    send("apply.sql")
}

fn rollback() -> Result<()> {
    send("rollback.sql")
}

fn one(file: &str) -> Result<i64> {
    let text = data_file(file)?;
    scalar(text.trim())
}

fn valid() -> Result<Vec<Metric>> {
    Ok(vec![metric::INDEX_VALID.equals(1, one("valid.sql")?)])
}

fn gone() -> Result<Vec<Metric>> {
    Ok(vec![metric::INDEX_GONE.equals(1, one("gone.sql")?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: valid, rollback: rollback, rollback_conditions: gone }
