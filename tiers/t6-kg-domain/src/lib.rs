//! Tier 6, kg domain: `kg_domain_x` goes active; event types stay inactive.

use one_roof_common::{self as m, ROLLOUT_EVENT_TYPES};
use rollout_sdk::{execute, execute_with, Metric, Result};

fn apply() -> Result<()> {
    execute("UPDATE one_roof.kg_domain SET status = 'active' WHERE code = 'kg_domain_x'")?;
    for code in ROLLOUT_EVENT_TYPES {
        execute_with(
            "INSERT INTO one_roof.event_type_registry (code, active) VALUES ($1, false) ON CONFLICT (code) DO NOTHING",
            &[&code],
        )?;
    }
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::KG_DOMAIN_X.equals("active", m::kg_domain_x()?),
        metric::EMITTABLE_EVENTS.equals(0, m::emittable_events()?),
        metric::GOV_OUTBOX.equals(0, m::gov_outbox()?),
    ])
}

fn rollback() -> Result<()> {
    for code in ROLLOUT_EVENT_TYPES {
        execute_with("DELETE FROM one_roof.event_type_registry WHERE code = $1", &[&code])?;
    }
    execute("UPDATE one_roof.kg_domain SET status = 'draft' WHERE code = 'kg_domain_x'")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::KG_DOMAIN_X.equals("draft", m::kg_domain_x()?),
        metric::ROLLOUT_EVENT_TYPES.equals(0, m::rollout_event_types()?),
        metric::GOV_OUTBOX.equals(0, m::gov_outbox()?),
    ])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
