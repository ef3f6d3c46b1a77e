//! Tier 2, ownership: the 30 assignments become real, under the approval.

use one_roof_common as m;
use rollout_sdk::{execute, execute_with, log, param, Metric, Result};

fn apply() -> Result<()> {
    let apr = param("ratified_apr")?;
    let n = execute_with(
        "INSERT INTO one_roof.resp_ownership (area_id, team_code, approval_ref)
         SELECT a.id, s.team_code, $1
         FROM one_roof.resp_ownership_shadow s JOIN one_roof.resp_area a ON a.code = s.area_code
         ORDER BY a.id",
        &[&apr],
    )?;
    let resolved = execute(
        "UPDATE one_roof.drift_finding SET status = 'resolved'
         WHERE subject = 'unowned_area' AND severity = 'critical' AND status = 'open'",
    )?;
    log::info(format!("{n} ownership rows under {apr}; {resolved} unowned_area findings resolved"));
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    let apr = param("ratified_apr")?;
    Ok(vec![
        metric::OWNERSHIP.equals(30, m::ownership()?),
        metric::GAP.equals(0, m::gap()?),
        metric::CONFLICT.equals(0, m::conflict()?),
        metric::CARRY_RATIFIED_APR.equals(30, m::ownership_with_approval(&apr)?),
    ])
}

fn rollback() -> Result<()> {
    // The gate proved ownership = 0 before the run: every row is this tier's.
    execute("DELETE FROM one_roof.resp_ownership")?;
    execute(
        "UPDATE one_roof.drift_finding SET status = 'open'
         WHERE subject = 'unowned_area' AND severity = 'critical' AND status = 'resolved'",
    )?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    Ok(vec![
        metric::OWNERSHIP.equals(0, m::ownership()?),
        metric::GAP.equals(m::BASELINE_GAP, m::gap()?),
        metric::CRITICAL_DRIFT.equals(2, m::critical_drift()?),
    ])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
