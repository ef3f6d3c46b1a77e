//! Test fixture: a tier whose rollback has a bug that build, inspect, run
//! and dry run never call: it deletes a misspelt team code, so nothing is
//! undone and its rollback conditions fail. Built with the `fixed` feature
//! (tests/plugins/brokenrb-fixed) it deletes the right one: the reviewed
//! replacement `host rollback` may use for a tier the broken one applied.

use rollout_sdk::{count, execute, Metric, Result};

/// The team the tier adds.
const ADDED: &str = "INSERT INTO one_roof.team (code, name) VALUES ('fixture-brokenrb', 'Fixture team')";

/// The rollback: the bug is the code it deletes.
#[cfg(not(feature = "fixed"))]
const UNDO: &str = "DELETE FROM one_roof.team WHERE code = 'fixture-brokenbr'";
#[cfg(feature = "fixed")]
const UNDO: &str = "DELETE FROM one_roof.team WHERE code = 'fixture-brokenrb'";

fn teams() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.team WHERE code = 'fixture-brokenrb'")
}

fn apply() -> Result<()> {
    execute(ADDED)?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::FIXTURE_TEAM.equals(1, teams()?)])
}

fn rollback() -> Result<()> {
    execute(UNDO)?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::FIXTURE_TEAM.equals(0, teams()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
