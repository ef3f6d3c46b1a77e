//! Test fixture: tier 6 whose rollback leaves its inactive event types
//! behind and whose rollback conditions do not look at them.

use one_roof_common::{self as m, ROLLOUT_EVENT_TYPES};
use rollout_sdk::{execute, execute_with, Metric, Result};

fn apply() -> Result<()> {
    execute("UPDATE one_roof.kg_domain SET status = 'active' WHERE code = 'kg_domain_x'")?;
    for code in ROLLOUT_EVENT_TYPES {
        execute_with("INSERT INTO one_roof.event_type_registry (code, active) VALUES ($1, false)", &[&code])?;
    }
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::KG_DOMAIN_X.equals("active", m::kg_domain_x()?),
        metric::EMITTABLE_EVENTS.equals(0, m::emittable_events()?),
    ])
}

fn rollback() -> Result<()> {
    execute("UPDATE one_roof.kg_domain SET status = 'draft' WHERE code = 'kg_domain_x'")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::KG_DOMAIN_X.equals("draft", m::kg_domain_x()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
