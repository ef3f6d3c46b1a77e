//! Role-wall fixture: runs the statements of its data file and logs what
//! each returned in its `got` column, so a test can see whether anything
//! a function read after leaving the plugin's role reached the plugin.

use rollout_sdk::{data_file, log, query, Metric, Result};

fn apply() -> Result<()> {
    let statements = data_file("wall.sql")?;
    for sql in statements.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")) {
        for row in query(sql)?.iter() {
            let got: Option<String> = row.get("got")?;
            log::info(format!("WALL GOT: {}", got.unwrap_or_default()));
        }
    }
    Ok(())
}

fn check() -> Result<Vec<Metric>> {
    Ok(vec![metric::WALL.equals("ran", "ran")])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
