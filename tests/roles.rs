//! PostgreSQL as the second wall: under `--roles` every plugin runs as its
//! own restricted role on a session authenticated as the runner, and the
//! host proves, before the gate, that each role and the wall hold exactly
//! what they should — refusing with the SQL that fixes it.

mod support;

use support::*;

/// The roles of `plan` and the wall, set up by `host roles apply`.
fn create_roles(c: &Cluster, plan: &[String]) {
    create_roles_with(c, plan, &[]);
}

fn create_roles_with(c: &Cluster, plan: &[String], extra: &[&str]) {
    let mut a = vec!["roles", "apply"];
    a.extend(plan.iter().map(String::as_str));
    a.extend_from_slice(extra);
    c.host(&a).expect_code(0).expect("Proven");
}

/// The ledger's `roles` of every rollout, oldest first: `run=t rollback=t`.
fn ledger_roles(c: &Cluster) -> String {
    c.psql("SELECT string_agg(verb || '=' || roles, ' ' ORDER BY id) FROM rollout_ledger.rollout")
}

#[test]
fn one_roof_runs_and_rolls_back_under_roles_and_the_ledger_says_so() {
    let c = Cluster::start("roles-run");
    c.ratify();
    let plan = one_roof();
    create_roles(&c, &plan);
    let r = c.host(&args("run", &plan, &["--param", APR, "--roles"]));
    r.expect_code(0).expect("Proven 11 restricted roles hold exactly their plugins' grants");
    r.expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
    // Tier 1 created its table as its role: that role owns it, and tier 2's
    // role read it through the hand-off alone.
    assert_eq!(
        c.psql("SELECT relowner::regrole::text FROM pg_class WHERE oid = 'one_roof.resp_ownership_shadow'::regclass"),
        "rollout_one_roof_shadow"
    );
    let report = std::fs::read_to_string(c.reports().last().unwrap().join("report.json")).unwrap();
    assert!(report.contains(r#""one-roof-shadow": "rollout_one_roof_shadow""#), "{report}");
    let r = c.host(&args("rollback", &plan, &["--roles"]));
    r.expect_code(0).expect("FULL ROLLBACK OK: ownership=0 gap=210 axis=absent");
    assert_eq!(c.baseline_line(), BASELINE);
    // A lock written with --roles runs under roles without the flag.
    let lock = c.dir.join("one-roof.lock");
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--lock", lock.to_str().unwrap(), "--roles"]);
    c.host(&a).expect_code(0);
    assert!(std::fs::read_to_string(&lock).unwrap().contains("roles = true"));
    let r = c.host(&args("run", &plan, &["--param", APR, "--lock", lock.to_str().unwrap()]));
    r.expect_code(0).expect("the lock file says the plan was reviewed to run under roles").expect("Proven 11");
    c.host(&args("rollback", &plan, &[])).expect_code(0);
    assert_eq!(ledger_roles(&c), "run=true rollback=true run=true rollback=false");
    let md = std::fs::read_to_string(c.reports().last().unwrap().join("report.md")).unwrap();
    assert!(!md.contains("PostgreSQL roles"), "a rollback without roles says none:\n{md}");
}

/// A run under roles refused before the gate: exit 2, the SQL that fixes it
/// in the message, and nothing written (`host roles apply` made the ledger;
/// no rollout row is in it).
fn refused(c: &Cluster, plan: &[String], fix: &str) {
    let r = c.host(&args("run", plan, &["--param", APR, "--roles"]));
    r.expect_code(2).expect("refusing to run under roles");
    assert!(r.stderr.contains(fix), "expected {fix:?} in the error:\n{}", r.all());
    assert!(r.stderr.lines().any(|l| l == fix), "expected the line {fix:?} in the fix:\n{}", r.stderr);
    assert!(!r.all().contains("GATE"), "the gate ran:\n{}", r.all());
    assert_eq!(c.psql("SELECT count(*) FROM rollout_ledger.rollout"), "0", "something was written");
}

/// An undo that is `host roles apply` again.
const APPLY: &str = "host roles apply";

#[test]
fn a_role_holding_more_or_less_than_its_grants_is_refused_before_the_gate_with_the_fix() {
    let c = Cluster::start("roles-proof");
    c.ratify();
    let plan = one_roof();
    create_roles(&c, &plan);
    // (what breaks the role, the statement the host must give, what undoes it)
    let cases = [
        (
            "GRANT SELECT ON one_roof.team TO rollout_one_roof_axis",
            r#"REVOKE SELECT ON TABLE one_roof.team FROM "rollout_one_roof_axis";"#,
            "REVOKE SELECT ON one_roof.team FROM rollout_one_roof_axis",
        ),
        (
            "GRANT UPDATE (title) ON one_roof.classification_axis TO rollout_one_roof_axis",
            r#"REVOKE UPDATE (title) ON TABLE one_roof.classification_axis FROM "rollout_one_roof_axis";"#,
            "REVOKE UPDATE (title) ON one_roof.classification_axis FROM rollout_one_roof_axis",
        ),
        (
            "GRANT pg_read_all_data TO rollout_one_roof_gate",
            r#"REVOKE "pg_read_all_data" FROM "rollout_one_roof_gate";"#,
            "REVOKE pg_read_all_data FROM rollout_one_roof_gate",
        ),
        (
            "ALTER ROLE rollout_one_roof_verify SUPERUSER",
            r#"ALTER ROLE "rollout_one_roof_verify" NOSUPERUSER;"#,
            "ALTER ROLE rollout_one_roof_verify NOSUPERUSER",
        ),
        (
            "GRANT SELECT ON one_roof.approval TO PUBLIC",
            "REVOKE SELECT ON TABLE one_roof.approval FROM PUBLIC;",
            "REVOKE SELECT ON one_roof.approval FROM PUBLIC",
        ),
        (
            "CREATE FUNCTION one_roof.leak() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "REVOKE EXECUTE ON ROUTINE one_roof.leak() FROM PUBLIC;",
            "DROP FUNCTION one_roof.leak()",
        ),
        (
            "GRANT CREATE ON SCHEMA one_roof TO rollout_one_roof_projection",
            r#"REVOKE CREATE ON SCHEMA one_roof FROM "rollout_one_roof_projection";"#,
            "REVOKE CREATE ON SCHEMA one_roof FROM rollout_one_roof_projection",
        ),
        (
            "ALTER DEFAULT PRIVILEGES IN SCHEMA one_roof GRANT SELECT ON TABLES TO rollout_one_roof_gate",
            r#"ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "one_roof" REVOKE SELECT ON TABLES FROM "rollout_one_roof_gate";"#,
            "ALTER DEFAULT PRIVILEGES IN SCHEMA one_roof REVOKE SELECT ON TABLES FROM rollout_one_roof_gate",
        ),
        // Less than its grants: tier 2 could not insert (the serial's sequence),
        // tier 2 could not read what tier 1 creates (the hand-off).
        (
            "REVOKE USAGE ON SEQUENCE one_roof.resp_ownership_id_seq FROM rollout_one_roof_ownership",
            r#"GRANT USAGE ON SEQUENCE one_roof.resp_ownership_id_seq TO "rollout_one_roof_ownership";"#,
            "GRANT USAGE ON SEQUENCE one_roof.resp_ownership_id_seq TO rollout_one_roof_ownership",
        ),
        (
            "ALTER DEFAULT PRIVILEGES FOR ROLE rollout_one_roof_shadow IN SCHEMA one_roof REVOKE SELECT ON TABLES FROM rollout_one_roof_ownership",
            r#"ALTER DEFAULT PRIVILEGES FOR ROLE "rollout_one_roof_shadow" IN SCHEMA "one_roof" GRANT SELECT ON TABLES TO "rollout_one_roof_ownership";"#,
            "ALTER DEFAULT PRIVILEGES FOR ROLE rollout_one_roof_shadow IN SCHEMA one_roof GRANT SELECT ON TABLES TO rollout_one_roof_ownership",
        ),
        (
            "DROP OWNED BY rollout_one_roof_ui_read_contract; DROP ROLE rollout_one_roof_ui_read_contract",
            r#"CREATE ROLE "rollout_one_roof_ui_read_contract" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS;"#,
            "CREATE ROLE rollout_one_roof_ui_read_contract NOLOGIN; GRANT USAGE ON SCHEMA one_roof TO rollout_one_roof_ui_read_contract; GRANT SELECT ON one_roof.ui_projection TO rollout_one_roof_ui_read_contract; GRANT rollout_one_roof_ui_read_contract TO rollout_roles_admin WITH ADMIN OPTION",
        ),
        // Default privileges set FOR a plugin's role: what it creates would
        // go to PUBLIC (issue 17: it passed the proof and stayed).
        (
            "ALTER DEFAULT PRIVILEGES FOR ROLE rollout_one_roof_shadow GRANT ALL ON TABLES TO PUBLIC",
            r#"ALTER DEFAULT PRIVILEGES FOR ROLE "rollout_one_roof_shadow" REVOKE TRUNCATE ON TABLES FROM PUBLIC;"#,
            "ALTER DEFAULT PRIVILEGES FOR ROLE rollout_one_roof_shadow REVOKE ALL ON TABLES FROM PUBLIC",
        ),
        (
            "ALTER DEFAULT PRIVILEGES FOR ROLE rollout_one_roof_shadow IN SCHEMA one_roof GRANT SELECT ON TABLES TO rollout_one_roof_gate",
            r#"ALTER DEFAULT PRIVILEGES FOR ROLE "rollout_one_roof_shadow" IN SCHEMA "one_roof" REVOKE SELECT ON TABLES FROM "rollout_one_roof_gate";"#,
            "ALTER DEFAULT PRIVILEGES FOR ROLE rollout_one_roof_shadow IN SCHEMA one_roof REVOKE SELECT ON TABLES FROM rollout_one_roof_gate",
        ),
        // PUBLIC on a table the plan grants: every role holds it, the runner too.
        (
            "GRANT UPDATE ON one_roof.drift_finding TO PUBLIC",
            "REVOKE UPDATE ON TABLE one_roof.drift_finding FROM PUBLIC;",
            "REVOKE UPDATE ON one_roof.drift_finding FROM PUBLIC",
        ),
        // The wall: the runner holds nothing and is a member of nothing; the
        // admin role has no member; the writer holds only its ledger rows;
        // the functions, the key table and the trigger are the host's.
        (
            "GRANT SELECT ON one_roof.team TO rollout_runner",
            r#"REVOKE SELECT ON TABLE one_roof.team FROM "rollout_runner";"#,
            "REVOKE SELECT ON one_roof.team FROM rollout_runner",
        ),
        (
            "GRANT rollout_one_roof_gate TO rollout_runner",
            r#"REVOKE "rollout_one_roof_gate" FROM "rollout_runner";"#,
            "REVOKE rollout_one_roof_gate FROM rollout_runner",
        ),
        (
            "ALTER ROLE rollout_runner INHERIT",
            r#"ALTER ROLE "rollout_runner" NOINHERIT;"#,
            "ALTER ROLE rollout_runner NOINHERIT",
        ),
        (
            "CREATE ROLE intruder; GRANT rollout_roles_admin TO intruder",
            r#"REVOKE "rollout_roles_admin" FROM "intruder";"#,
            "DROP ROLE intruder",
        ),
        (
            "GRANT SELECT ON rollout_ledger.rollout TO rollout_ledger_writer",
            r#"REVOKE SELECT ON TABLE rollout_ledger.rollout FROM "rollout_ledger_writer";"#,
            "REVOKE SELECT ON rollout_ledger.rollout FROM rollout_ledger_writer; GRANT SELECT (id, outcome) ON rollout_ledger.rollout TO rollout_ledger_writer",
        ),
        (
            "GRANT EXECUTE ON FUNCTION rollout_roles.enter(bytea, name) TO PUBLIC",
            r#"REVOKE ALL ON FUNCTION "rollout_roles"."enter"(bytea, name) FROM PUBLIC;"#,
            "REVOKE EXECUTE ON FUNCTION rollout_roles.enter(bytea, name) FROM PUBLIC",
        ),
        (
            "GRANT SELECT ON rollout_roles.key TO rollout_one_roof_gate",
            r#"REVOKE ALL ON TABLE "rollout_roles"."key" FROM "rollout_one_roof_gate";"#,
            "REVOKE SELECT ON rollout_roles.key FROM rollout_one_roof_gate",
        ),
        (
            "CREATE OR REPLACE FUNCTION rollout_roles.leave(key bytea) RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
             SET search_path = pg_catalog, pg_temp AS 'BEGIN END'",
            r#"ALTER FUNCTION "rollout_roles"."leave"(bytea) OWNER TO "rollout_roles_admin";"#,
            APPLY,
        ),
        (
            "ALTER TABLE rollout_roles.entry DISABLE TRIGGER left_nothing",
            r#"DROP TRIGGER IF EXISTS "left_nothing" ON "rollout_roles"."entry";"#,
            "ALTER TABLE rollout_roles.entry ENABLE TRIGGER left_nothing",
        ),
    ];
    for (breaks, fix, undo) in cases {
        c.psql(breaks);
        refused(&c, &plan, fix);
        if undo == APPLY {
            create_roles(&c, &plan);
        } else {
            c.psql(undo);
        }
    }
    // Put right, the same run passes under the same roles.
    let r = c.host(&args("run", &plan, &["--param", APR, "--roles"]));
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
    assert_eq!(ledger_roles(&c), "run=true");
}

#[test]
fn each_plugin_runs_as_its_own_role_as_the_server_sees_it() {
    let c = Cluster::start("roles-who");
    c.ratify();
    let plan = one_roof();
    create_roles(&c, &plan);
    // The gate's reads: a row-level policy hides the approvals from the
    // gate's role alone. As the operator (no roles) the gate is READY; as
    // its role, the server shows it no approval.
    c.psql(
        "ALTER TABLE one_roof.approval ENABLE ROW LEVEL SECURITY;
         CREATE POLICY everyone ON one_roof.approval USING (true);
         CREATE POLICY hide ON one_roof.approval AS RESTRICTIVE FOR SELECT TO rollout_one_roof_gate USING (false)",
    );
    c.host(&args("gate", &plan, &["--param", APR])).expect_code(0).expect("GATE READY");
    c.host(&args("gate", &plan, &["--param", APR, "--roles"])).expect_code(3).expect("GATE BLOCKED");
    c.psql("DROP POLICY hide ON one_roof.approval");
    // A tier's writes: a column default records who inserted each row.
    c.psql("ALTER TABLE one_roof.axis_node ADD COLUMN made_by text DEFAULT current_user");
    c.host(&args("run", &plan, &["--param", APR, "--roles"])).expect_code(0);
    assert_eq!(
        c.psql("SELECT string_agg(DISTINCT made_by, ' ') FROM one_roof.axis_node WHERE axis_code = 'release_scope'"),
        "rollout_one_roof_axis"
    );
}

#[test]
fn a_plugin_that_changes_its_role_fails_and_keeps_nothing() {
    // A function the reviewer granted that switches role (what a checker
    // miss of SET ROLE would be). To the operator: the server refuses it
    // (the session user is the runner, a member of nothing but the
    // plugin's role for this call). Back to the session user: the host
    // sees the statement end as the runner and withholds its result.
    let c = Cluster::start("roles-escape");
    c.ratify();
    c.psql(
        "CREATE FUNCTION one_roof.become(r text) RETURNS text LANGUAGE sql AS $$ SELECT set_config('role', r, true) $$;
         REVOKE EXECUTE ON FUNCTION one_roof.become(text) FROM PUBLIC",
    );
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("tests/plugins/hostile.wasm")).unwrap();
    let mut doc: toml::Table = toml::from_str(&manifest_of(&wasm)).unwrap();
    let grants = doc.get_mut("grants").and_then(|g| g.as_table_mut()).unwrap();
    grants.insert("functions".into(), toml::Value::Array(vec!["one_roof.become".into()]));
    grants.insert("insert".into(), toml::Value::Array(vec!["one_roof.team".into()]));
    let hostile = dir.path().join("hostile.wasm");
    std::fs::write(&hostile, with_manifest(&wasm, &toml::to_string(&doc).unwrap())).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut plan: Vec<String> =
        one_roof().into_iter().filter(|p| p.ends_with("/gate.wasm") || p.ends_with("/t8-verify.wasm")).collect();
    plan.push(hostile.to_str().unwrap().into());
    std::fs::write(data.join("hostile-corpus.sql"), "").unwrap();
    create_roles_with(&c, &plan, &["--data-dir", data.to_str().unwrap()]);
    let extra = ["--param", APR, "--param", "escape=sql", "--roles", "--data-dir", data.to_str().unwrap()];
    for (to, says) in [
        ("postgres", r#"permission denied to set role "postgres""#),
        ("rollout_one_roof_gate", r#"permission denied to set role "rollout_one_roof_gate""#),
        ("none", "the statement changed the role it runs as (now rollout_runner); its result is withheld"),
    ] {
        std::fs::write(
            data.join("hostile-corpus.sql"),
            format!("SELECT one_roof.become('{to}')\nINSERT INTO one_roof.team (code, name) VALUES ('X1', 'as another role')\n"),
        )
        .unwrap();
        let r = c.host(&args("run", &plan, &extra));
        r.expect_code(4).expect(says);
        if to == "none" {
            // Stopped at the statement that switched, before the plugin saw
            // its result: the plugin could report nothing.
            assert!(!r.all().contains("ESCAPED"), "{}", r.all());
        }
        assert_eq!(c.scalar("SELECT count(*) FROM one_roof.team WHERE code = 'X1'"), 0, "the write stayed");
        assert_eq!(c.tier_states(), "test-hostile=failed");
    }
}

/// What PUBLIC holds outside the database's own relations and functions,
/// and the server settings that act like a grant to PUBLIC: each one
/// refuses the run before the gate, with its fix (attacker review: each
/// passed the proof while a tier could overwrite a large object).
#[test]
fn public_grants_outside_the_schemas_and_lo_compat_privileges_are_refused_before_the_gate() {
    let c = Cluster::start("roles-public");
    c.ratify();
    let plan = one_roof();
    let blob = c.scalar("SELECT lo_from_bytea(0, '\\x0102'::bytea)::bigint");
    create_roles(&c, &plan);
    // (what breaks the proof, the statement the host must give, what undoes it)
    let grant_lo = format!("GRANT SELECT, UPDATE ON LARGE OBJECT {blob} TO PUBLIC");
    let revoke_lo = format!("REVOKE UPDATE ON LARGE OBJECT {blob} FROM PUBLIC;");
    let undo_lo = format!("REVOKE ALL ON LARGE OBJECT {blob} FROM PUBLIC");
    let cases: Vec<(&str, &str, &str)> = vec![
        (&grant_lo, &revoke_lo, &undo_lo),
        (
            "ALTER DATABASE directus SET lo_compat_privileges = on",
            "ALTER DATABASE \"directus\" RESET lo_compat_privileges;",
            "ALTER DATABASE directus RESET lo_compat_privileges",
        ),
        (
            "ALTER ROLE rollout_runner SET lo_compat_privileges = 'true'",
            "ALTER ROLE \"rollout_runner\" RESET lo_compat_privileges;",
            "ALTER ROLE rollout_runner RESET lo_compat_privileges",
        ),
        (
            "GRANT SET ON PARAMETER session_replication_role TO PUBLIC",
            "REVOKE SET ON PARAMETER \"session_replication_role\" FROM PUBLIC;",
            "REVOKE SET ON PARAMETER session_replication_role FROM PUBLIC",
        ),
        (
            "CREATE FOREIGN DATA WRAPPER leaky; GRANT USAGE ON FOREIGN DATA WRAPPER leaky TO PUBLIC",
            "REVOKE USAGE ON FOREIGN DATA WRAPPER leaky FROM PUBLIC;",
            "DROP FOREIGN DATA WRAPPER leaky",
        ),
        (
            "CREATE FOREIGN DATA WRAPPER w; CREATE SERVER elsewhere FOREIGN DATA WRAPPER w; GRANT USAGE ON FOREIGN SERVER elsewhere TO PUBLIC",
            "REVOKE USAGE ON FOREIGN SERVER elsewhere FROM PUBLIC;",
            "DROP FOREIGN DATA WRAPPER w CASCADE",
        ),
        (
            "CREATE TABLE information_schema.stash (note text); GRANT SELECT, INSERT ON information_schema.stash TO PUBLIC",
            "REVOKE INSERT ON TABLE information_schema.stash FROM PUBLIC;",
            "DROP TABLE information_schema.stash",
        ),
        (
            "CREATE FUNCTION pg_catalog.helper() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "REVOKE EXECUTE ON ROUTINE pg_catalog.helper() FROM PUBLIC;",
            "DROP FUNCTION pg_catalog.helper()",
        ),
    ];
    for (breaks, fix, undo) in cases {
        c.psql(breaks);
        refused(&c, &plan, fix);
        c.psql(undo);
    }
    // `host roles prove` says the same (the attacker's second route).
    c.psql("GRANT SET ON PARAMETER session_replication_role TO PUBLIC");
    let mut prove = vec!["roles", "prove"];
    prove.extend(plan.iter().map(String::as_str));
    let again = c.host(&prove);
    assert_ne!(again.code, 0, "{}", again.all());
    again.expect("PUBLIC").expect("holds SET on parameter session_replication_role");
    assert!(!again.all().contains("Proven"), "{}", again.all());
    c.psql("REVOKE SET ON PARAMETER session_replication_role FROM PUBLIC");
    // Put right, the same run passes under the same roles.
    let r = c.host(&args("run", &plan, &["--param", APR, "--roles"]));
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
}
