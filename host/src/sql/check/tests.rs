//! Unit tests of the grants check: what passes, what is refused, and that
//! refusals name what would allow them.

use super::*;

fn grants() -> Grants {
    Grants {
        read: vec!["app.team".into(), "app.Secret Case".into()],
        insert: vec!["app.label".into()],
        ..Grants::default()
    }
}

fn allowed(sql: &str) -> bool {
    Checker::new(&grants(), false).check(sql, 0).is_ok()
}

#[test]
fn granted_reads_and_writes_pass_and_are_classified() {
    let c = Checker::new(&grants(), false).check("INSERT INTO app.label SELECT code FROM app.team", 0).unwrap();
    assert_eq!(c.accesses, vec![("app.label".into(), Op::Insert), ("app.team".into(), Op::Read)]);
    assert_eq!(c.kind, StatementKind::Insert);
    assert_eq!(c.kind.to_string(), "InsertStmt");
}

#[test]
fn names_are_resolved_as_the_server_resolves_them() {
    assert!(allowed("SELECT * FROM APP.TEAM"));
    assert!(allowed(r#"SELECT * FROM "app"."team""#));
    assert!(allowed(r#"SELECT * FROM U&"\0061pp".team"#));
    assert!(!allowed(r#"SELECT * FROM "APP".team"#), "quoted upper case is another schema");
    assert!(allowed(r#"SELECT * FROM app."Secret Case""#));
    assert!(!allowed("SELECT * FROM directus.app.team"), "three-part names");
    assert!(!allowed("SELECT * FROM team"), "unqualified names");
}

#[test]
fn ctes_are_scoped_like_postgresql_scopes_them() {
    assert!(allowed("WITH t AS (SELECT code FROM app.team) SELECT * FROM t"));
    assert!(allowed("WITH pg_authid AS (SELECT 1) SELECT * FROM (SELECT 1) s, LATERAL (SELECT * FROM pg_authid) x"));
    assert!(!allowed("SELECT (WITH pg_authid AS (SELECT 1) SELECT 1), * FROM pg_authid"), "out of scope");
    assert!(
        !allowed("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a"),
        "a later sibling is not in scope"
    );
    assert!(allowed("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"));
    assert!(!allowed("WITH team AS (SELECT * FROM app.secret) SELECT * FROM team"), "the body is still checked");
}

#[test]
fn statement_kinds_the_host_owns_are_refused() {
    for sql in [
        "COMMIT",
        "SET ROLE postgres",
        "RESET ALL",
        "DO $$ BEGIN END $$",
        "COPY app.team TO PROGRAM 'id'",
        "LISTEN x",
        "PREPARE p AS SELECT 1",
        "DISCARD ALL",
        "LOCK app.team",
        "EXPLAIN ANALYZE DELETE FROM app.label",
        "SELECT * INTO app.copy FROM app.team",
        "TRUNCATE app.label",
        "SELECT 1; SELECT 2",
        "WITH d AS (DELETE FROM app.label RETURNING *) SELECT * FROM d",
        "SELECT code FROM app.team FOR UPDATE",
    ] {
        assert!(!allowed(sql), "{sql} was allowed");
    }
}

#[test]
fn functions_need_the_safe_list_or_a_grant() {
    assert!(allowed("SELECT count(*), lower(code) FROM app.team"));
    assert!(!allowed("SELECT pg_sleep(1)"));
    assert!(!allowed("SELECT query_to_xml('select * from app.secret', true, true, '')"));
    assert!(!allowed("SELECT * FROM app.team WHERE code = (SELECT set_config('role', 'postgres', true))"));
    assert!(!allowed("SELECT public.lower(code) FROM app.team"));
    let g = Grants { functions: vec!["pg_catalog.pg_sleep".into()], ..grants() };
    assert!(Checker::new(&g, false).check("SELECT pg_sleep(1)", 0).is_ok());
}

#[test]
fn read_only_plugins_cannot_write_whatever_they_are_granted() {
    let g = grants();
    let c = Checker::new(&g, true);
    assert!(c.check("SELECT code FROM app.team", 0).is_ok());
    assert!(c.check("INSERT INTO app.label VALUES (1)", 0).is_err());
}

#[test]
fn a_refusal_names_the_manifest_line_that_would_grant_it() {
    let r = Checker::new(&grants(), false).check("UPDATE app.team SET code = 'x'", 0).unwrap_err();
    assert_eq!(
        r.to_string(),
        "update on app.team is not granted; to allow it, add to plugin.toml under [grants]: update = [\"app.team\"]"
    );
}

#[test]
fn every_one_roof_shape_survives_the_round_trip() {
    for sql in [
        "SELECT count(*) FROM app.team WHERE code = ANY (ARRAY[$1, $2, $3])",
        "SELECT count(*) FILTER (WHERE code IS NULL) AS n FROM app.team",
        "SELECT code FROM app.team t WHERE NOT EXISTS (SELECT 1 FROM app.team u WHERE u.code = t.code) ORDER BY 1",
    ] {
        assert!(allowed(sql), "{sql}");
    }
}

#[test]
fn writes_that_read_their_target_need_a_read_grant() {
    let g = Grants { update: vec!["app.label".into()], delete: vec!["app.label".into()], ..grants() };
    let c = Checker::new(&g, false);
    assert!(c.check("UPDATE app.label SET text = 'x'", 0).is_ok());
    assert!(c.check("DELETE FROM app.label", 0).is_ok());
    for sql in [
        "UPDATE app.label SET text = 'x' WHERE id = 1",
        "DELETE FROM app.label RETURNING *",
        "INSERT INTO app.label VALUES (1) RETURNING *",
    ] {
        assert!(c.check(sql, 0).unwrap_err().to_string().contains("reading app.label is not granted"), "{sql}");
    }
}

#[test]
fn a_new_table_cannot_reach_other_tables_rows() {
    let g = Grants { create: vec!["app.t".into()], ..grants() };
    assert!(Checker::new(&g, false).check("CREATE TABLE app.t (a int)", 0).is_ok());
    assert!(Checker::new(&g, false).check("CREATE TABLE app.t () INHERITS (app.team)", 0).is_err());
}

#[test]
fn what_is_sent_is_the_checked_tree() {
    let c = Checker::new(&grants(), false).check("select /* hi */ code from APP.team where code = $1", 1).unwrap();
    assert_eq!(c.sql, "SELECT code FROM app.team WHERE code = $1");
}

#[test]
fn statement_kinds_keep_libpg_query_names() {
    for (kind, name) in [
        (StatementKind::Select, "SelectStmt"),
        (StatementKind::CreateTable, "CreateStmt"),
        (StatementKind::Drop, "DropStmt"),
        (StatementKind::CreateTableAs, "CreateTableAsStmt"),
        (StatementKind::VariableShow, "VariableShowStmt"),
        (StatementKind::GrantRole, "GrantRoleStmt"),
        (StatementKind::Other("VacuumStmt".into()), "VacuumStmt"),
    ] {
        assert_eq!(kind.name(), name);
        assert_eq!(kind.to_string(), name);
        assert_eq!(StatementKind::from_name(name), kind);
    }
    let c = Checker::new(&grants(), false).check("SELECT code FROM app.team", 0).unwrap();
    assert_eq!((c.kind.name(), &c.kind), ("SelectStmt", &StatementKind::Select));
}

#[test]
fn statement_kind_refusals_are_worded_as_before() {
    let refusal = |sql: &str, read_only: bool| Checker::new(&grants(), read_only).check(sql, 0).unwrap_err().reason;
    assert_eq!(
        refusal("COMMIT", false),
        "TransactionStmt is never allowed: transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT): the host owns the transaction"
    );
    assert_eq!(
        refusal("SHOW search_path", false),
        "VariableShowStmt is never allowed: SET/RESET/SHOW: session settings and role belong to the host"
    );
    assert_eq!(refusal("VACUUM app.team", false), "VacuumStmt is not a statement kind plugins may send");
    assert_eq!(
        refusal("CREATE SCHEMA x", true),
        "CreateSchemaStmt writes, and this call is read-only (gate, verify and probe plugins and every tier's post-conditions may only SELECT)"
    );
    assert_eq!(
        refusal("COPY app.team TO STDOUT", true),
        "CopyStmt is never allowed: COPY reaches server files and programs"
    );
    assert_eq!(
        refusal("WITH d AS (DELETE FROM app.label RETURNING *) SELECT * FROM d", false),
        "a data-modifying statement (DeleteStmt) inside WITH is not allowed"
    );
    assert_eq!(refusal("DROP VIEW app.v", false), "only DROP TABLE is allowed");
}
