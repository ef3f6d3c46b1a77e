//! Test fixture: a rehearsal tier meant for the clone, never production.

use rollout_sdk::{Metric, Result};

fn apply() -> Result<()> {
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::FIXTURE.equals("no change", "no change")])
}

fn rollback() -> Result<()> {
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    post_conditions()
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
