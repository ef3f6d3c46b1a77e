//! Tier 5, projection: the read model the Directus UI shows.

use one_roof_common as m;
use rollout_sdk::{count, execute, Metric, Result};

fn apply() -> Result<()> {
    execute(
        "INSERT INTO one_roof.ui_projection (responsibility_id, area_code, owner_team, node_code, label)
         SELECT r.id, a.code, o.team_code, n.code, r.title
         FROM one_roof.responsibility r
         JOIN one_roof.resp_area a ON a.id = r.area_id
         JOIN one_roof.resp_ownership o ON o.area_id = r.area_id
         JOIN one_roof.containment c ON c.responsibility_id = r.id
         JOIN one_roof.axis_node n ON n.id = c.node_id AND n.axis_code = 'release_scope'",
    )?;
    execute(
        "INSERT INTO one_roof.label (responsibility_id, text)
         SELECT responsibility_id, label FROM one_roof.ui_projection ORDER BY responsibility_id",
    )?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::PROJECTION_GAP.equals(0, m::projection_gap()?),
        metric::DIVERGENT.equals(0, m::divergent()?),
        metric::LABEL_ORPHANS.equals(0, m::label_orphans()?),
    ])
}

fn rollback() -> Result<()> {
    execute("DELETE FROM one_roof.label")?;
    execute("DELETE FROM one_roof.ui_projection")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::PROJECTION_GAP.equals(m::BASELINE_GAP, m::projection_gap()?),
        metric::LABELS.equals(0, count("SELECT count(*) FROM one_roof.label")?),
    ])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
