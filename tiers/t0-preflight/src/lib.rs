//! Tier 0, preflight: the canonical baseline, asserted again inside the
//! rollout (the gate ran in its own read-only transaction).

use one_roof_common as m;
use rollout_sdk::{bail, log, Metric, Result};

fn apply() -> Result<()> {
    if m::shadow()? == "present" {
        bail!("one_roof.resp_ownership_shadow already exists: tier 1 was pre-deployed; the canonical preflight aborts (runbook DO NOT)");
    }
    let (ospa, gap, ownership) = (m::ospa()?, m::gap()?, m::ownership()?);
    if ospa < 1 || gap != m::BASELINE_GAP || ownership != 0 || m::axis()? != "absent" || m::gov_emit()? != 0 {
        bail!("not the canonical baseline: ospa={ospa} gap={gap} ownership={ownership}");
    }
    log::info(format!("canonical baseline confirmed: ospa={ospa} gap={gap} ownership={ownership}"));
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::SHADOW.equals("absent", m::shadow()?), metric::OWNERSHIP.equals(0, m::ownership()?)])
}

/// Tier 0 writes nothing: nothing to undo.
fn rollback() -> Result<()> {
    Ok(())
}

/// Rolled back last: every later tier is undone, so the baseline it asserted holds again.
fn rollback_conditions() -> Result<Vec<Metric>> {
    post_conditions()
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
