//! Grants per phase and per column, end to end: a statement only the
//! other phase may send is refused in a real run and rollback, with roles
//! on and off; column grants hold the tier to its columns, and the role
//! wall holds them as column privileges; `host grants` prints both.

mod support;

use support::*;

/// The undo fixture (tier 4) with its `[grants]` replaced by `grants`.
fn undo_with(c: &Cluster, name: &str, grants: &str) -> Vec<String> {
    let undo = std::fs::read(root().join("tests/plugins/undo.wasm")).unwrap();
    let m = manifest_of(&undo);
    let at = m.find("[grants]").expect("the fixture has [grants]");
    let end = m.find("[limits]").expect("the fixture has [limits]");
    let m = format!("{}{grants}\n{}", &m[..at], &m[end..]);
    let path = c.dir.join(format!("{name}.wasm"));
    std::fs::write(&path, with_manifest(&undo, &m)).unwrap();
    plan_with(Some("t4-containment"), &[path.to_str().unwrap()])
}

const READS: &str = "read = [\"one_roof.responsibility\", \"one_roof.resp_area\", \"one_roof.axis_node\", \"one_roof.containment\"]\nsequences = [\"one_roof.gov_outbox_id_seq\"]\n";

fn roles_apply(c: &Cluster, plan: &[String]) {
    let mut a = vec!["roles", "apply"];
    a.extend(plan.iter().map(String::as_str));
    c.host(&a).expect_code(0).expect("Proven");
}

#[test]
fn a_statement_allowed_in_rollback_only_is_refused_in_apply_with_roles_on_and_off() {
    let grants = format!(
        "[grants]\n{READS}[grants.apply]\ndelete = [\"one_roof.containment\"]\n[grants.rollback]\ninsert = [\"one_roof.containment\", \"one_roof.gov_outbox\"]\n"
    );
    for roles in [false, true] {
        let c = Cluster::start(&format!("phase-apply-{roles}"));
        c.ratify();
        let plan = undo_with(&c, "swapped", &grants);
        let containment = "SELECT count(*) FROM one_roof.containment";
        let before = c.scalar(containment);
        let mut extra = vec!["--param", APR, "--param", "undo=ok"];
        if roles {
            roles_apply(&c, &plan);
            extra.push("--roles");
        }
        let r = c.host(&args("run", &plan, &extra));
        assert_ne!(r.code, 0, "{}", r.all());
        r.expect("insert on one_roof.containment is not granted")
            .expect("it is allowed in rollback only ([grants.rollback]); to allow it in apply too, add to [grants.apply]: insert = [\"one_roof.containment\"]");
        assert_eq!(c.scalar(containment), before, "roles={roles}: tier 4 kept something");
        assert!(c.tier_states().contains("test-undo=failed"), "{}", c.tier_states());
    }
}

#[test]
fn a_statement_allowed_in_apply_only_is_refused_in_rollback_with_roles_on_and_off() {
    let grants = format!(
        "[grants]\n{READS}insert = [\"one_roof.gov_outbox\"]\n[grants.apply]\ninsert = [\"one_roof.containment\"]\ndelete = [\"one_roof.containment\"]\n"
    );
    for roles in [false, true] {
        let c = Cluster::start(&format!("phase-rollback-{roles}"));
        c.ratify();
        let plan = undo_with(&c, "apply-only", &grants);
        let mut extra = vec!["--param", APR, "--param", "undo=ok"];
        if roles {
            roles_apply(&c, &plan);
            extra.push("--roles");
        }
        c.host(&args("run", &plan, &extra)).expect_code(0).expect("ROLLOUT COMPLETE");
        let applied = c.state_digest();
        let r = c.host(&args("rollback", &plan, &extra));
        assert_ne!(r.code, 0, "{}", r.all());
        r.expect("delete on one_roof.containment is not granted")
            .expect("it is allowed in apply only ([grants.apply]); to allow it in rollback too, add to [grants.rollback]: delete = [\"one_roof.containment\"]");
        assert_eq!(c.state_digest(), applied, "roles={roles}: the failed rollback changed data");
    }
}

/// Tier 4 limited to the columns it uses: runs and rolls back under roles,
/// whose role holds column privileges only; a role given the whole table
/// is refused before the gate.
#[test]
fn column_grants_run_under_roles_as_column_privileges_and_host_grants_prints_them() {
    let c = Cluster::start("phase-columns");
    c.ratify();
    let grants = "[grants]\nread = [\"one_roof.responsibility(id, area_id)\", \"one_roof.resp_area(id, domain)\", \"one_roof.axis_node(id, axis_code, code)\", \"one_roof.containment(responsibility_id, node_id)\"]\nsequences = [\"one_roof.gov_outbox_id_seq\"]\ninsert = [\"one_roof.containment(responsibility_id, node_id)\", \"one_roof.gov_outbox(event_type, payload)\"]\n[grants.rollback]\ndelete = [\"one_roof.containment\"]\n";
    let plan = undo_with(&c, "columns", grants);
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    let r = c.host(&a);
    r.expect_code(0)
        .expect("read      one_roof.resp_area(id, domain)")
        .expect("insert    one_roof.containment(responsibility_id, node_id)")
        .expect("delete    one_roof.containment  (rollback only; checker only for the phase: the role holds both phases' grants)");
    let mut sql = a.clone();
    sql.extend(["--role-sql", "postgres"]);
    c.host(&sql).expect_code(0).expect("GRANT SELECT (\"id\", \"domain\") ON TABLE");
    roles_apply(&c, &plan);
    let held = c.psql("SELECT has_table_privilege('rollout_test_undo', 'one_roof.resp_area', 'SELECT')::text || ' ' || has_column_privilege('rollout_test_undo', 'one_roof.resp_area', 'domain', 'SELECT')::text");
    assert_eq!(held, "false true");
    let extra = ["--param", APR, "--param", "undo=ok", "--roles"];
    c.host(&args("run", &plan, &extra)).expect_code(0).expect("ROLLOUT COMPLETE");
    c.host(&args("rollback", &plan, &extra)).expect_code(0).expect("FULL ROLLBACK OK");
    // The whole table is more than the column grant: the proof says so.
    c.psql("GRANT SELECT ON one_roof.resp_area TO rollout_test_undo");
    let r = c.host(&args("run", &plan, &extra));
    r.expect_code(2).expect("holds SELECT on table one_roof.resp_area, which its grants do not name");
}
