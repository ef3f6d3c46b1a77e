//! Test fixture: a rehearsal tier meant for the clone, never production.

use rollout_sdk::{Metric, Result};

fn apply() -> Result<()> {
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier!(apply, post_conditions, rollback);
