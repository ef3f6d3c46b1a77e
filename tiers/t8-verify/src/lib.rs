//! Tier 8, verify: the eleven metrics of the runbook's PASS, plus
//! `open_drift` as information.

use one_roof_common as m;
use rollout_sdk::{Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    Ok(vec![
        metric::RESP_OWNERSHIP_GAP.equals(0, m::gap()?),
        metric::RESP_CONFLICT.equals(0, m::conflict()?),
        metric::CONTAINMENT_GAP.equals(0, m::containment_gap()?),
        metric::ACTIVE_AXES.equals(3, m::active_axes()?),
        metric::DIVERGENT.equals(0, m::divergent()?),
        metric::PROJECTION_GAP.equals(0, m::projection_gap()?),
        metric::LABEL_ORPHANS.equals(0, m::label_orphans()?),
        metric::CRITICAL_DRIFT.equals(0, m::critical_drift()?),
        metric::EMITTABLE_EVENTS.equals(0, m::emittable_events()?),
        metric::GOV_OUTBOX.equals(0, m::gov_outbox()?),
        metric::KG_DOMAIN_X.equals("active", m::kg_domain_x()?),
        metric::OPEN_DRIFT.info(m::open_drift()?),
    ])
}

rollout_sdk::check! { check: check }
