//! One-Roof gate (runbook §1): the pre-check every rollout must pass.

use one_roof_common as m;
use rollout_sdk::{param, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    let apr = param("ratified_apr")?;
    let db = m::database()?;
    let ospa = m::ospa()?;
    let ratified = m::apr_ratified(&apr)?;
    Ok(vec![
        Metric::equals("db", "directus", &db),
        Metric::holds("ospa", "≥ 1", ospa, ospa >= 1),
        Metric::holds("apr", format!("{apr} ratified"), if ratified { "ratified" } else { "not ratified" }, ratified),
        Metric::equals("gap", m::BASELINE_GAP, m::gap()?),
        Metric::equals("ownership", 0, m::ownership()?),
        Metric::equals("conflict", 0, m::conflict()?),
        Metric::equals("gov_emit", 0, m::gov_emit()?),
        Metric::equals("axis", "absent", m::axis()?),
        Metric::equals("prereq_views", "present", m::prereq_views()?),
    ])
}

rollout_sdk::check!(check);
