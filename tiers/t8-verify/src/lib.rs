//! Tier 8, verify: the eleven metrics of the runbook's PASS, plus
//! `open_drift` as information.

use one_roof_common as m;
use rollout_sdk::{Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    Ok(vec![
        Metric::equals("resp_ownership_gap", 0, m::gap()?),
        Metric::equals("resp_conflict", 0, m::conflict()?),
        Metric::equals("containment_gap", 0, m::containment_gap()?),
        Metric::equals("active_axes", 3, m::active_axes()?),
        Metric::equals("divergent", 0, m::divergent()?),
        Metric::equals("projection_gap", 0, m::projection_gap()?),
        Metric::equals("label_orphans", 0, m::label_orphans()?),
        Metric::equals("critical_drift", 0, m::critical_drift()?),
        Metric::equals("emittable_events", 0, m::emittable_events()?),
        Metric::equals("gov_outbox", 0, m::gov_outbox()?),
        Metric::equals("kg_domain_x", "active", m::kg_domain_x()?),
        Metric::info("open_drift", m::open_drift()?),
    ])
}

rollout_sdk::check!(check);
