//! Test fixture: a check plugin whose `plugin.toml` says `kind = "tier"`.
//! Built with `check!`, so the component exports the `check` world's
//! `check` and none of a tier's exports; the host must refuse it at load.
//! Never meant to run: if it did, its table would be empty.

use rollout_sdk::{Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    Ok(vec![])
}

rollout_sdk::check!(check);
