//! Tier 4, containment: every responsibility under `release_scope`.

use one_roof_common as m;
use rollout_sdk::{execute, Metric, Result};

fn apply() -> Result<()> {
    execute(
        "INSERT INTO one_roof.containment (responsibility_id, node_id)
         SELECT r.id, n.id
         FROM one_roof.responsibility r
         JOIN one_roof.resp_area a ON a.id = r.area_id
         JOIN one_roof.axis_node n ON n.axis_code = 'release_scope' AND n.code = a.domain",
    )?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CONTAINMENT_GAP.equals(0, m::containment_gap()?)])
}

fn rollback() -> Result<()> {
    execute(
        "DELETE FROM one_roof.containment c USING one_roof.axis_node n
         WHERE n.id = c.node_id AND n.axis_code = 'release_scope'",
    )?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CONTAINMENT_GAP.equals(m::BASELINE_GAP, m::containment_gap()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
