//! Tier 3, axis: the third classification axis, `release_scope`.

use one_roof_common as m;
use rollout_sdk::{execute, query, Metric, Result, Tier};

struct Axis;

impl Tier for Axis {
    fn apply() -> Result<()> {
        execute(
            "INSERT INTO one_roof.classification_axis (code, title, status) VALUES ('release_scope', 'Release scope', 'active')",
            &[],
        )?;
        execute(
            "INSERT INTO one_roof.axis_node (axis_code, code)
             SELECT DISTINCT 'release_scope', domain FROM one_roof.resp_area ORDER BY 2",
            &[],
        )?;
        Ok(())
    }

    fn post_conditions() -> Result<Vec<Metric>> {
        let nodes: i64 =
            query("SELECT count(*) FROM one_roof.axis_node WHERE axis_code = 'release_scope'", &[])?.scalar()?;
        Ok(vec![Metric::equals("active_axes", 3, m::active_axes()?), Metric::equals("release_scope_nodes", 3, nodes)])
    }

    fn rollback() -> Result<()> {
        execute("DELETE FROM one_roof.axis_node WHERE axis_code = 'release_scope'", &[])?;
        execute("DELETE FROM one_roof.classification_axis WHERE code = 'release_scope'", &[])?;
        Ok(())
    }
}

rollout_sdk::export_tier!(Axis);
