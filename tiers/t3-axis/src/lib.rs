//! Tier 3, axis: the third classification axis, `release_scope`.

use one_roof_common::{active_axes, axis};
use rollout_sdk::{count, execute, Metric, Result};

const NODES: &str = "SELECT count(*) FROM one_roof.axis_node WHERE axis_code = 'release_scope'";

fn apply() -> Result<()> {
    execute("INSERT INTO one_roof.classification_axis (code, title, status) VALUES ('release_scope', 'Release scope', 'active')")?;
    execute("INSERT INTO one_roof.axis_node (axis_code, code) SELECT DISTINCT 'release_scope', domain FROM one_roof.resp_area ORDER BY 2")?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::ACTIVE_AXES.equals(3, active_axes()?), metric::RELEASE_SCOPE_NODES.equals(3, count(NODES)?)])
}

fn rollback() -> Result<()> {
    execute("DELETE FROM one_roof.axis_node WHERE axis_code = 'release_scope'")?;
    execute("DELETE FROM one_roof.classification_axis WHERE code = 'release_scope'")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::AXIS.equals("absent", axis()?),
        metric::ACTIVE_AXES.equals(2, active_axes()?),
        metric::RELEASE_SCOPE_NODES.equals(0, count(NODES)?),
    ])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
