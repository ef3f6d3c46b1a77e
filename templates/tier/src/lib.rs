//! Tier 7, __NAME__: what this tier changes and why, in one line.

use rollout_sdk::{count_with, execute_with, Metric, Result};

const FLAG: &str = "__NAME__"; // the example's change: replace it, and the SQL, with yours

/// Makes the change, inside the transaction the host opened.
fn apply() -> Result<()> {
    execute_with("INSERT INTO app.feature_flag (code, enabled) VALUES ($1, true)", &[&FLAG])?;
    Ok(())
}

/// Checked before COMMIT, in the same transaction: a failing metric rolls the tier back.
fn post_conditions() -> Result<Vec<Metric>> {
    let enabled = count_with("SELECT count(*) FROM app.feature_flag WHERE code = $1 AND enabled", &[&FLAG])?;
    Ok(vec![metric::FLAG_ENABLED.equals(1, enabled)])
}

/// Undoes the change; running it twice changes nothing the second time.
fn rollback() -> Result<()> {
    execute_with("DELETE FROM app.feature_flag WHERE code = $1", &[&FLAG])?;
    Ok(())
}

/// What "undone" means, checked after `rollback` in the same transaction:
/// the rollback is kept only when every metric passes.
fn rollback_conditions() -> Result<Vec<Metric>> {
    let rows = count_with("SELECT count(*) FROM app.feature_flag WHERE code = $1", &[&FLAG])?;
    Ok(vec![metric::FLAG_ROWS.equals(0, rows)])
}

// Each entry point by name (key: the export; value: your function). The
// macro also checks plugin.toml with the host's parser and defines
// `metric::NAME` for every metric name it declares.
rollout_sdk::tier! {
    apply: apply,
    post_conditions: post_conditions,
    rollback: rollback,
    rollback_conditions: rollback_conditions,
}
