//! Test fixture: tier 4 applied right, rolled back as the `undo` parameter
//! says, to prove the host keeps only a rollback its checks prove.

use one_roof_common as m;
use rollout_sdk::{execute, param, Metric, Result};

/// What `stray` adds besides the tier's change, and its rollback leaves
/// behind: a containment of responsibility 1 under the `lifecycle` axis,
/// which no post-condition, rollback condition or probe looks at.
const STRAY: &str = "INSERT INTO one_roof.containment (responsibility_id, node_id)
     SELECT 1, n.id FROM one_roof.axis_node n WHERE n.axis_code = 'lifecycle' AND n.code = 'build'";

fn apply() -> Result<()> {
    if param("undo")? == "stray" {
        execute(STRAY)?;
    }
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
    let undo = param("undo")?;
    let only = match undo.as_str() {
        "ok" | "lying" | "stray" | "greedy" => "",
        "partial" => " AND n.code = 'core'",
        _ => return Ok(()),
    };
    let undone = execute(&format!(
        "DELETE FROM one_roof.containment c USING one_roof.axis_node n
         WHERE n.id = c.node_id AND n.axis_code = 'release_scope'{only}"
    ))?;
    if undo == "greedy" && undone == 0 {
        // A rollback written for one call: with nothing of its own left
        // to undo, it deletes the baseline's first lifecycle containment.
        execute(
            "DELETE FROM one_roof.containment c USING one_roof.axis_node n
             WHERE n.id = c.node_id AND n.axis_code = 'lifecycle'
               AND c.responsibility_id = (SELECT min(c2.responsibility_id) FROM one_roof.containment c2
                                          JOIN one_roof.axis_node n2 ON n2.id = c2.node_id
                                          WHERE n2.axis_code = 'lifecycle')",
        )?;
    }
    if undo == "lying" {
        // Undoes its change, and also does what no rollback condition of
        // its own looks at: an event in the outbox. Only the probes see it.
        execute("INSERT INTO one_roof.gov_outbox (event_type, payload) VALUES ('ownership.assigned', '{}')")?;
    }
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::CONTAINMENT_GAP.equals(m::BASELINE_GAP, m::containment_gap()?)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
