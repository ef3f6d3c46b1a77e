//! Catalog audit fixture: runs the statements its data file lists, so a
//! test can try any plain statement against a catalog holding implicit code
//! or a write that reaches past its target; with `tripwire = on`, says after
//! each statement how often the trap functions have run. A line
//! `-- expect <query>` is no statement: a post-condition, a query that
//! must answer true (counted into the `statements` metric).

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

/// The `-- expect` queries of the data file.
fn expectations() -> Result<Vec<String>> {
    let text = data_file("statements.sql")?;
    Ok(text.lines().filter_map(|l| l.trim().strip_prefix("-- expect ")).map(String::from).collect())
}

fn check() -> Result<Vec<Metric>> {
    let n = statements()?.len();
    let mut held = 0;
    let expected = expectations()?;
    for q in &expected {
        if scalar::<bool>(q)? {
            held += 1;
        }
    }
    Ok(vec![metric::STATEMENTS.equals(n + expected.len(), n + held)])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
