//! One-Roof gate (runbook §1): the pre-check every rollout must pass.

use one_roof_common as m;
use rollout_sdk::{param, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    let apr = param("ratified_apr")?;
    let db = m::database()?;
    let ospa = m::ospa()?;
    let ratified = m::apr_ratified(&apr)?;
    Ok(vec![
        metric::DB.equals("directus", &db),
        metric::OSPA.holds("≥ 1", ospa, ospa >= 1),
        metric::APR.holds(format!("{apr} ratified"), if ratified { "ratified" } else { "not ratified" }, ratified),
        metric::GAP.equals(m::BASELINE_GAP, m::gap()?),
        metric::OWNERSHIP.equals(0, m::ownership()?),
        metric::CONFLICT.equals(0, m::conflict()?),
        metric::GOV_EMIT.equals(0, m::gov_emit()?),
        metric::AXIS.equals("absent", m::axis()?),
        metric::PREREQ_VIEWS.equals("present", m::prereq_views()?),
    ])
}

rollout_sdk::check! { check: check }
