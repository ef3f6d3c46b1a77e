//! Baseline probe: every metric. After a rollback each one must be back at
//! its baseline value; otherwise they are information.

use one_roof_common as m;
use rollout_sdk::{Metric, Phase, Result};
use std::fmt::Display;

fn check(phase: Phase) -> Result<Vec<Metric>> {
    let assert = matches!(phase, Phase::AfterRollback);
    let line = |name: &str, baseline: &dyn Display, actual: &dyn Display| {
        if assert {
            Metric::equals(name, baseline, actual)
        } else {
            Metric::info(name, actual)
        }
    };
    Ok(vec![
        line("ownership", &0, &m::ownership()?),
        line("gap", &m::BASELINE_GAP, &m::gap()?),
        line("axis", &"absent", &m::axis()?),
        line("active_axes", &2, &m::active_axes()?),
        line("kg_domain_x", &"draft", &m::kg_domain_x()?),
        line("shadow", &"absent", &m::shadow()?),
        line("critical_drift", &2, &m::critical_drift()?),
        line("conflict", &0, &m::conflict()?),
        line("containment_gap", &m::BASELINE_GAP, &m::containment_gap()?),
        line("projection_gap", &m::BASELINE_GAP, &m::projection_gap()?),
        line("divergent", &0, &m::divergent()?),
        line("label_orphans", &0, &m::label_orphans()?),
        line("emittable_events", &0, &m::emittable_events()?),
        line("event_types", &m::BASELINE_EVENT_TYPES, &m::event_types()?),
        line("gov_emit", &0, &m::gov_emit()?),
        line("gov_outbox", &0, &m::gov_outbox()?),
        Metric::info("ospa", m::ospa()?),
        Metric::info("open_drift", m::open_drift()?),
    ])
}

rollout_sdk::check!(check);
