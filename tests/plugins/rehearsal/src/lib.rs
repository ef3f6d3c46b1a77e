//! Test fixture: a rehearsal tier meant for the clone, never production.

use rollout_sdk::{Metric, Result, Tier};

struct Rehearsal;

impl Tier for Rehearsal {
    fn apply() -> Result<()> {
        Ok(())
    }
    fn post_conditions() -> Result<Vec<Metric>> {
        Ok(vec![])
    }
    fn rollback() -> Result<()> {
        Ok(())
    }
}

rollout_sdk::export_tier!(Rehearsal);
