//! The One-Roof metrics of ONE-ROOF.md, one definition each, shared by the
//! gate, the tiers' post-conditions, the verify plugin and the probes.

use rollout_sdk::{count, count_with, scalar, Result};

/// Event types the rollout registers (inactive) in tier 6.
pub const ROLLOUT_EVENT_TYPES: [&str; 3] =
    ["ownership.assigned", "axis.release_scope.activated", "kg_domain.activated"];

/// Responsibilities per area times areas: the gap before the rollout.
pub const BASELINE_GAP: i64 = 210;

/// Event types registered before the rollout (all inactive).
pub const BASELINE_EVENT_TYPES: i64 = 3;

/// `ospa`: ratified approvals of kind `ospa`.
pub fn ospa() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.approval WHERE kind = 'ospa' AND status = 'ratified'")
}

/// `apr`: whether `code` names a ratified `ospa` approval.
pub fn apr_ratified(code: &str) -> Result<bool> {
    let n = count_with(
        "SELECT count(*) FROM one_roof.approval WHERE code = $1 AND kind = 'ospa' AND status = 'ratified'",
        &[&code],
    )?;
    Ok(n == 1)
}

/// `gap` / `resp_ownership_gap`: responsibilities whose area has no ownership row.
pub fn gap() -> Result<i64> {
    count(
        "SELECT count(*) FROM one_roof.responsibility r
         WHERE NOT EXISTS (SELECT 1 FROM one_roof.resp_ownership o WHERE o.area_id = r.area_id)",
    )
}

/// `ownership`: rows in `resp_ownership`.
pub fn ownership() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.resp_ownership")
}

/// `conflict` / `resp_conflict`: areas owned by more than one team.
pub fn conflict() -> Result<i64> {
    count(
        "SELECT count(*) FROM (SELECT area_id FROM one_roof.resp_ownership
                               GROUP BY area_id HAVING count(DISTINCT team_code) > 1) AS c",
    )
}

/// `gov_emit`: active rows in `event_type_registry`.
pub fn gov_emit() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.event_type_registry WHERE active")
}

/// `axis`: whether `release_scope` exists, as `present` / `absent`.
pub fn axis() -> Result<&'static str> {
    let n = count("SELECT count(*) FROM one_roof.classification_axis WHERE code = 'release_scope'")?;
    Ok(if n > 0 { "present" } else { "absent" })
}

/// The prerequisite views, as `present` / `missing`.
pub fn prereq_views() -> Result<&'static str> {
    let n = count(
        "SELECT count(*) FROM (VALUES (to_regclass('one_roof.v_resp_gap')), (to_regclass('one_roof.v_axis_active'))) AS v (r)
         WHERE r IS NOT NULL",
    )?;
    Ok(if n == 2 { "present" } else { "missing" })
}

/// Tier 1's shadow table, as `present` / `absent`.
pub fn shadow() -> Result<&'static str> {
    let n = count(
        "SELECT count(*) FROM (VALUES (to_regclass('one_roof.resp_ownership_shadow'))) AS v (r) WHERE r IS NOT NULL",
    )?;
    Ok(if n > 0 { "present" } else { "absent" })
}

/// `containment_gap`: responsibilities with no containment under a `release_scope` node.
pub fn containment_gap() -> Result<i64> {
    count(
        "SELECT count(*) FROM one_roof.responsibility r
         WHERE NOT EXISTS (SELECT 1 FROM one_roof.containment c
                           JOIN one_roof.axis_node n ON n.id = c.node_id
                           WHERE c.responsibility_id = r.id AND n.axis_code = 'release_scope')",
    )
}

/// `active_axes`: axes with status `active`.
pub fn active_axes() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.classification_axis WHERE status = 'active'")
}

/// `divergent`: projection rows whose owner or node differs from ownership/containment.
pub fn divergent() -> Result<i64> {
    count(
        "SELECT count(*) FROM one_roof.ui_projection p
         JOIN one_roof.responsibility r ON r.id = p.responsibility_id
         LEFT JOIN one_roof.resp_ownership o ON o.area_id = r.area_id
         LEFT JOIN (SELECT c.responsibility_id, n.code FROM one_roof.containment c
                    JOIN one_roof.axis_node n ON n.id = c.node_id
                    WHERE n.axis_code = 'release_scope') AS rs ON rs.responsibility_id = p.responsibility_id
         WHERE o.team_code IS DISTINCT FROM p.owner_team OR rs.code IS DISTINCT FROM p.node_code",
    )
}

/// `projection_gap`: responsibilities with no `ui_projection` row.
pub fn projection_gap() -> Result<i64> {
    count(
        "SELECT count(*) FROM one_roof.responsibility r
         WHERE NOT EXISTS (SELECT 1 FROM one_roof.ui_projection p WHERE p.responsibility_id = r.id)",
    )
}

/// `label_orphans`: labels whose responsibility has no projection row.
pub fn label_orphans() -> Result<i64> {
    count(
        "SELECT count(*) FROM one_roof.label l
         WHERE NOT EXISTS (SELECT 1 FROM one_roof.ui_projection p WHERE p.responsibility_id = l.responsibility_id)",
    )
}

/// `critical_drift`: open critical drift findings.
pub fn critical_drift() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.drift_finding WHERE status = 'open' AND severity = 'critical'")
}

/// `open_drift`: open info and warning drift findings.
pub fn open_drift() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.drift_finding WHERE status = 'open' AND severity IN ('info', 'warning')")
}

/// `emittable_events`: rollout event types that are active.
pub fn emittable_events() -> Result<i64> {
    count_with(
        "SELECT count(*) FROM one_roof.event_type_registry WHERE active AND code = ANY (ARRAY[$1, $2, $3])",
        &[&ROLLOUT_EVENT_TYPES[0], &ROLLOUT_EVENT_TYPES[1], &ROLLOUT_EVENT_TYPES[2]],
    )
}

/// Rollout event types registered at all (active or not): tier 6 adds them.
pub fn rollout_event_types() -> Result<i64> {
    count_with(
        "SELECT count(*) FROM one_roof.event_type_registry WHERE code = ANY (ARRAY[$1, $2, $3])",
        &[&ROLLOUT_EVENT_TYPES[0], &ROLLOUT_EVENT_TYPES[1], &ROLLOUT_EVENT_TYPES[2]],
    )
}

/// `event_types`: every row of `event_type_registry`, active or not (3 at
/// the baseline): a rollback that leaves tier 6's inactive types behind, or
/// removes one it did not add, changes it.
pub fn event_types() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.event_type_registry")
}

/// `gov_outbox`: rows in `gov_outbox`.
pub fn gov_outbox() -> Result<i64> {
    count("SELECT count(*) FROM one_roof.gov_outbox")
}

/// `kg_domain_x`: the status of that domain.
pub fn kg_domain_x() -> Result<String> {
    scalar("SELECT status FROM one_roof.kg_domain WHERE code = 'kg_domain_x'")
}

/// `ospa` approval reference rows carry: ownership rows with this approval.
pub fn ownership_with_approval(code: &str) -> Result<i64> {
    count_with("SELECT count(*) FROM one_roof.resp_ownership WHERE approval_ref = $1", &[&code])
}

/// The current database's name.
pub fn database() -> Result<String> {
    scalar("SELECT current_database()::text")
}
