//! Catalog audit fixture: runs the statements its data file lists, so a
//! test can try any plain statement against a catalog holding implicit code
//! or a write that reaches past its target; with `tripwire = on`, says after
//! each statement how often the trap functions have run.

use rollout_sdk::{data_file, log, param, query, scalar, Metric, Result};

fn statements() -> Result<Vec<String>> {
    let text = data_file("statements.sql")?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")).map(String::from).collect())
}

fn apply() -> Result<()> {
    let tripwire = param("tripwire")? == "on";
    for (i, stmt) in statements()?.iter().enumerate() {
        let rows = query(stmt)?;
        log::info(format!("STATEMENT {} ran: {} rows, {} changed", i + 1, rows.len(), rows.changed));
        if tripwire {
            let hits: i64 = scalar("SELECT hits FROM trap.hits_now")?;
            log::info(format!("TRIPWIRE {} hits={hits}", i + 1));
        }
    }
    Ok(())
}

fn check() -> Result<Vec<Metric>> {
    let n = statements()?.len();
    Ok(vec![metric::STATEMENTS.equals(n, n)])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
