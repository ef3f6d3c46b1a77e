//! Baseline probe: every metric. After a rollback each one must be back at
//! its baseline value; otherwise they are information.

use one_roof_common as m;
use rollout_sdk::{Metric, MetricName, Phase, Result};
use std::fmt::Display;

fn check(phase: Phase) -> Result<Vec<Metric>> {
    let assert = matches!(phase, Phase::AfterRollback);
    let line = |name: MetricName, baseline: &dyn Display, actual: &dyn Display| {
        if assert {
            name.equals(baseline, actual)
        } else {
            name.info(actual)
        }
    };
    Ok(vec![
        line(metric::OWNERSHIP, &0, &m::ownership()?),
        line(metric::GAP, &m::BASELINE_GAP, &m::gap()?),
        line(metric::AXIS, &"absent", &m::axis()?),
        line(metric::ACTIVE_AXES, &2, &m::active_axes()?),
        line(metric::KG_DOMAIN_X, &"draft", &m::kg_domain_x()?),
        line(metric::SHADOW, &"absent", &m::shadow()?),
        line(metric::CRITICAL_DRIFT, &2, &m::critical_drift()?),
        line(metric::CONFLICT, &0, &m::conflict()?),
        line(metric::CONTAINMENT_GAP, &m::BASELINE_GAP, &m::containment_gap()?),
        line(metric::PROJECTION_GAP, &m::BASELINE_GAP, &m::projection_gap()?),
        line(metric::DIVERGENT, &0, &m::divergent()?),
        line(metric::LABEL_ORPHANS, &0, &m::label_orphans()?),
        line(metric::EMITTABLE_EVENTS, &0, &m::emittable_events()?),
        line(metric::EVENT_TYPES, &m::BASELINE_EVENT_TYPES, &m::event_types()?),
        line(metric::GOV_EMIT, &0, &m::gov_emit()?),
        line(metric::GOV_OUTBOX, &0, &m::gov_outbox()?),
        metric::OSPA.info(m::ospa()?),
        metric::OPEN_DRIFT.info(m::open_drift()?),
    ])
}

rollout_sdk::check! { check: check }
