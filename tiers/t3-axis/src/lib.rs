//! Tier 3, axis: the third classification axis, `release_scope`.

use one_roof_common::{active_axes, axis};
use rollout_sdk::{count, execute, Metric, Result};

fn apply() -> Result<()> {
    execute("INSERT INTO one_roof.classification_axis (code, title, status) VALUES ('release_scope', 'Release scope', 'active')")?;
    execute("INSERT INTO one_roof.axis_node (axis_code, code) SELECT DISTINCT 'release_scope', domain FROM one_roof.resp_area ORDER BY 2")?;
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    let nodes = count("SELECT count(*) FROM one_roof.axis_node WHERE axis_code = 'release_scope'")?;
    Ok(vec![Metric::equals("active_axes", 3, active_axes()?), Metric::equals("release_scope_nodes", 3, nodes)])
}

fn rollback() -> Result<()> {
    execute("DELETE FROM one_roof.axis_node WHERE axis_code = 'release_scope'")?;
    execute("DELETE FROM one_roof.classification_axis WHERE code = 'release_scope'")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    let nodes = count("SELECT count(*) FROM one_roof.axis_node WHERE axis_code = 'release_scope'")?;
    Ok(vec![
        Metric::equals("axis", "absent", axis()?),
        Metric::equals("active_axes", 2, active_axes()?),
        Metric::equals("release_scope_nodes", 0, nodes),
    ])
}

rollout_sdk::tier!(apply, post_conditions, rollback, rollback_conditions);
