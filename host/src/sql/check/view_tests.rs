//! Views, an enum's new value, DROP VIEW and COMMENT ON the objects an
//! alter grant names: each allowed with its grant and refused without,
//! and every name inside (a view's query) a grant question.

use super::*;
use crate::manifest::Grants;

fn grants() -> Grants {
    Grants {
        read: vec!["app.team".into(), "app.finding".into()],
        create: vec!["app.open_finding".into()],
        drop: vec!["app.open_finding".into()],
        alter: vec!["app.state".into(), "app.open_finding".into(), "app.finding".into(), "app.finding_idx".into()],
        functions: vec!["app.granted_fn".into()],
        ..Grants::default()
    }
}

fn check_with(g: &Grants, sql: &str) -> Result<Checked, Refusal> {
    Checker::new(g, false).check(sql, 0)
}

fn refused_with(g: &Grants, sql: &str) -> String {
    match check_with(g, sql) {
        Ok(c) => panic!("allowed: {sql} (sent as {})", c.sql),
        Err(r) => r.to_string(),
    }
}

fn refused(sql: &str) -> String {
    refused_with(&grants(), sql)
}

#[test]
fn a_view_its_replacement_its_drop_and_an_enum_value_pass_with_their_grants() {
    for sql in [
        "CREATE VIEW app.open_finding AS SELECT id, team FROM app.finding WHERE state <> 'done'",
        "CREATE OR REPLACE VIEW app.open_finding AS SELECT f.id, t.code FROM app.finding f JOIN app.team t ON t.code = f.team",
        "CREATE VIEW app.open_finding (finding, team) AS SELECT id, team FROM app.finding",
        "CREATE VIEW app.open_finding WITH (security_barrier) AS SELECT id FROM app.finding WHERE id > 0",
        "CREATE VIEW app.open_finding AS SELECT id FROM app.finding WHERE id > 0 WITH LOCAL CHECK OPTION",
        "CREATE VIEW app.open_finding AS SELECT id FROM app.finding WITH CASCADED CHECK OPTION",
        "CREATE VIEW app.open_finding AS WITH t AS (SELECT id FROM app.finding) SELECT id, app.granted_fn() FROM t",
        "CREATE RECURSIVE VIEW app.open_finding (n) AS VALUES (1) UNION ALL SELECT n + 1 FROM open_finding WHERE n < 5",
        "DROP VIEW app.open_finding",
        "DROP VIEW IF EXISTS app.open_finding",
        "ALTER TYPE app.state ADD VALUE 'reviewed'",
        "ALTER TYPE app.state ADD VALUE IF NOT EXISTS 'reviewed' BEFORE 'done'",
        "ALTER TYPE app.state ADD VALUE 'reviewed' AFTER 'new'",
        "COMMENT ON VIEW app.open_finding IS 'open findings'",
        "COMMENT ON TYPE app.state IS 'review state'",
        "COMMENT ON INDEX app.finding_idx IS 'by team'",
        "COMMENT ON CONSTRAINT finding_pkey ON app.finding IS 'the id'",
    ] {
        if let Err(r) = check_with(&grants(), sql) {
            panic!("refused: {sql}: {r}");
        }
    }
    let replaced = check_with(&grants(), "CREATE OR REPLACE VIEW app.open_finding AS SELECT id FROM app.finding");
    let lock = replaced.expect("granted").lock.expect("a replacement locks the view");
    assert_eq!(lock.mode, LockMode::AccessExclusive);
    let new = check_with(&grants(), "CREATE VIEW app.open_finding AS SELECT id FROM app.finding").expect("granted");
    assert!(new.lock.is_none(), "{:?}", new.lock);
    assert!(new.accesses.contains(&("app.finding".into(), Op::Read)), "{:?}", new.accesses);
}

#[test]
fn each_needs_its_grant_and_every_name_in_a_view_query_is_a_read_question() {
    let cases = [
        ("CREATE VIEW app.other AS SELECT id FROM app.finding", "create = [\"app.other\"]"),
        ("CREATE OR REPLACE VIEW app.other AS SELECT id FROM app.finding", "create = [\"app.other\"]"),
        ("DROP VIEW app.other", "drop = [\"app.other\"]"),
        ("ALTER TYPE app.mood ADD VALUE 'x'", "alter = [\"app.mood\"]"),
        ("COMMENT ON VIEW app.other IS 'x'", "alter = [\"app.other\"]"),
        ("COMMENT ON TYPE app.mood IS 'x'", "alter = [\"app.mood\"]"),
        ("COMMENT ON INDEX app.other_idx IS 'x'", "alter = [\"app.other_idx\"]"),
        ("COMMENT ON CONSTRAINT c ON app.team IS 'x'", "alter = [\"app.team\"]"),
        // Inside the view's query: relations, subqueries, CTEs, functions.
        ("CREATE VIEW app.open_finding AS SELECT * FROM app.secret", "read = [\"app.secret\"]"),
        (
            "CREATE VIEW app.open_finding AS SELECT id FROM app.finding WHERE EXISTS (SELECT 1 FROM app.secret)",
            "read = [\"app.secret\"]",
        ),
        (
            "CREATE VIEW app.open_finding AS WITH s AS (SELECT * FROM app.secret) SELECT * FROM s",
            "read = [\"app.secret\"]",
        ),
        ("CREATE VIEW app.open_finding AS SELECT app.other_fn(id) FROM app.finding", "functions = [\"app.other_fn\"]"),
        ("CREATE VIEW app.open_finding AS SELECT id FROM app.finding, app.secret", "read = [\"app.secret\"]"),
    ];
    for (sql, line) in cases {
        let r = refused(sql);
        assert!(r.contains(line), "{sql}: {r}");
    }
    // Names the grants cannot hold.
    for (sql, why) in [
        ("CREATE VIEW app.open_finding AS SELECT id FROM finding", "unqualified relation"),
        ("CREATE VIEW app.open_finding AS SELECT id::app.state FROM app.finding", "type in schema app"),
        ("CREATE VIEW app.open_finding AS SELECT id OPERATOR(app.===) 1 FROM app.finding", "operator in schema app"),
        ("CREATE VIEW app.open_finding AS SELECT team COLLATE app.c FROM app.finding", "collation"),
        ("CREATE VIEW app.open_finding AS SELECT xmin FROM app.finding", "system column"),
        ("CREATE VIEW app.open_finding AS SELECT * FROM rollout_ledger.rollout", "no grant can allow it"),
        ("CREATE TEMP VIEW open_finding AS SELECT id FROM app.finding", "temporary"),
    ] {
        let r = refused(sql);
        assert!(r.contains(why), "{sql}: {r}");
    }
}

#[test]
fn the_forms_that_reach_further_stay_refused_and_say_why() {
    for (sql, why) in [
        ("CREATE VIEW app.open_finding WITH (security_invoker) AS SELECT id FROM app.finding", "security_invoker"),
        ("CREATE VIEW app.open_finding WITH (security_invoker = true) AS SELECT id FROM app.finding", "each reader's"),
        ("CREATE VIEW app.open_finding WITH (fillfactor = 10) AS SELECT id FROM app.finding", "only security_barrier"),
        ("DROP VIEW app.open_finding CASCADE", "CASCADE drops objects no grant names"),
        ("DROP MATERIALIZED VIEW app.open_finding", "only DROP TABLE, DROP VIEW and DROP INDEX"),
        ("DROP TYPE app.state", "only DROP TABLE, DROP VIEW and DROP INDEX"),
        ("ALTER TYPE app.state RENAME VALUE 'new' TO 'fresh'", "add the new value"),
        ("ALTER TYPE state ADD VALUE 'x'", "name the type as schema.name"),
        ("ALTER TYPE app.state RENAME TO mood", "changes what the grants name"),
        ("ALTER TYPE app.state OWNER TO postgres", "owners belong to the operator"),
        ("ALTER VIEW app.open_finding ALTER COLUMN id SET DEFAULT 1", "CREATE OR REPLACE VIEW"),
        ("CREATE MATERIALIZED VIEW app.open_finding AS SELECT id FROM app.finding", "plain CREATE VIEW"),
        ("CREATE TYPE app.mood AS ENUM ('a')", "belong to the operator"),
        ("COMMENT ON FUNCTION app.granted_fn() IS 'x'", "only COMMENT ON TABLE, VIEW"),
        ("COMMENT ON SCHEMA app IS 'x'", "only COMMENT ON TABLE, VIEW"),
    ] {
        let r = refused(sql);
        assert!(r.contains(why), "{sql}: {r}");
    }
}

/// A simple view is updatable: a write to it writes the table it reads,
/// which a grant on the view's name does not name.
#[test]
fn a_view_the_plugin_may_write_is_refused() {
    for key in ["insert", "update", "delete"] {
        let mut g = grants();
        let list = match key {
            "insert" => &mut g.insert,
            "update" => &mut g.update,
            _ => &mut g.delete,
        };
        list.push("app.open_finding".into());
        let r = refused_with(&g, "CREATE VIEW app.open_finding AS SELECT id FROM app.finding");
        assert!(r.contains(&format!("holds {key} on app.open_finding")), "{r}");
    }
}

#[test]
fn read_only_calls_may_not_define_views_or_enum_values() {
    let c = Checker::new(&grants(), true);
    for sql in ["CREATE VIEW app.open_finding AS SELECT id FROM app.finding", "ALTER TYPE app.state ADD VALUE 'x'"] {
        let r = c.check(sql, 0).expect_err("read-only");
        assert!(r.to_string().contains("this call is read-only"), "{sql}: {r}");
    }
}
