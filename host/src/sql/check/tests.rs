//! Unit tests of the grants check: what passes, what is refused, and that
//! refusals name what would allow them.

use super::*;
use crate::manifest::Grants;

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
    assert_eq!(
        refusal("VACUUM app.team", false),
        "VacuumStmt is not a statement kind plugins may send: maintenance belongs to the operator"
    );
    assert_eq!(refusal("LISTEN x", true), "ListenStmt is never allowed: LISTEN/NOTIFY outlive the transaction");
    assert_eq!(
        refusal("CREATE DOMAIN app.d AS int", false),
        "CreateDomainStmt is not a statement kind plugins may send: types, domains, operators and aggregates belong \
         to the operator (a type's functions run on every use); an existing enum may grow with ALTER TYPE … ADD \
         VALUE under an alter grant naming it"
    );
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
    assert_eq!(
        refusal("DROP SEQUENCE app.s", false),
        "only DROP TABLE, DROP VIEW and DROP INDEX are allowed: other objects (types, functions, sequences, schemas) \
         belong to the operator"
    );
}

/// The checker's answer for `sql` under `g`: `Ok` or the refusal's text.
fn answer(g: &Grants, sql: &str) -> Result<(), String> {
    Checker::new(g, false).check(sql, 0).map(|_| ()).map_err(|r| r.to_string())
}

#[test]
fn every_object_a_create_table_names_is_built_in_or_granted() {
    let g = Grants { create: vec!["app.t".into(), "app.t_b_seq".into()], ..grants() };
    for sql in [
        "CREATE TABLE app.t (a int4range, c text COLLATE \"C\", EXCLUDE USING gist (a range_ops WITH &&))",
        "CREATE TABLE app.t (a int, EXCLUDE USING btree (a pg_catalog.int4_ops WITH pg_catalog.=))",
        "CREATE TABLE app.t (c text COLLATE pg_catalog.\"default\", PRIMARY KEY (c))",
        "CREATE TABLE app.t (a int, b serial)",
        "CREATE TABLE app.t (a int, b bigint GENERATED ALWAYS AS IDENTITY)",
        "CREATE TABLE app.t (a int) USING heap",
        "CREATE TABLE app.t (c text COMPRESSION pglz)",
    ] {
        assert_eq!(answer(&g, sql), Ok(()), "{sql}");
    }
    for (sql, why) in [
        ("CREATE TABLE app.t (a int, EXCLUDE USING gist (a x.opc WITH =))", "operator class x.opc is not built in"),
        ("CREATE TABLE app.t (a int, EXCLUDE USING gist (a WITH x.=))", "operator in schema x"),
        ("CREATE TABLE app.t (a int, EXCLUDE USING gist (a COLLATE x.c WITH =))", "collation x.c is not built in"),
        ("CREATE TABLE app.t (c text COLLATE x.c)", "collation x.c is not built in"),
        ("CREATE TABLE app.t (c text CHECK (c COLLATE x.c > ''))", "collation x.c is not built in"),
        ("CREATE TABLE app.t (a int, EXCLUDE USING my_am (a WITH =))", "access method `my_am` is not built in"),
        ("CREATE TABLE app.t (a int) USING my_table_am", "access method `my_table_am` is not built in"),
        ("CREATE TABLE app.t (a int PRIMARY KEY USING INDEX TABLESPACE x)", "naming a tablespace (`x`)"),
        ("CREATE TABLE app.t (a int, PRIMARY KEY (a) WITH (fillfactor = 50))", "DefElem"),
        ("CREATE TABLE app.t (a int CHECK (x.f(a)))", "calling function x.f is not granted"),
        ("CREATE TABLE app.t (a int DEFAULT pg_sleep(1))", "calling function pg_catalog.pg_sleep"),
        ("CREATE TABLE app.t (a int GENERATED ALWAYS AS (x.f(1)) STORED)", "calling function x.f"),
        ("CREATE TABLE app.t (a int, EXCLUDE USING gist ((x.f(a)) WITH =))", "calling function x.f"),
        ("CREATE TABLE app.t (a x.mytype)", "type in schema x"),
        ("CREATE TABLE app.t (a serial)", "create on app.t_a_seq is not granted"),
        ("CREATE TABLE app.t (a int GENERATED BY DEFAULT AS IDENTITY)", "create on app.t_a_seq is not granted"),
        ("CREATE TABLE app.t (a int REFERENCES app.secret (id))", "reading app.secret is not granted"),
        // A named index-backed constraint creates a relation of that name.
        ("CREATE TABLE app.t (a int CONSTRAINT future_table PRIMARY KEY)", "create on app.future_table"),
        ("CREATE TABLE app.t (a int, CONSTRAINT later UNIQUE (a))", "create on app.later"),
        ("CREATE TABLE app.t (a int, CONSTRAINT x EXCLUDE USING btree (a WITH =))", "create on app.x"),
    ] {
        let got = answer(&g, sql);
        assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{sql}: {got:?}, expected a refusal saying {why}");
    }
}

#[test]
fn a_write_that_reads_its_target_needs_read_wherever_it_reads() {
    let g = Grants {
        read: vec!["app.team".into()],
        insert: vec!["app.label".into()],
        update: vec!["app.label".into()],
        ..Grants::default()
    };
    for sql in [
        "UPDATE app.label SET text = 'x'",
        "UPDATE app.label SET text = $1",
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT DO NOTHING",
    ] {
        let sql = sql.replace("$1", "'y'");
        assert_eq!(answer(&g, &sql), Ok(()), "{sql}");
    }
    for sql in [
        "UPDATE app.label SET text = text",
        "UPDATE app.label SET text = upper(text) || 'x'",
        "UPDATE app.label SET text = CASE WHEN id = 1 THEN 'a' ELSE 'b' END",
        "UPDATE app.label SET (text, id) = (SELECT text, id)",
        // Without the catalog the checker cannot tell `code` of app.team
        // from a column of the target (a correlated reference): any column
        // named in SET counts as a read.
        "UPDATE app.label SET text = (SELECT code FROM app.team LIMIT 1)",
        "UPDATE app.label AS l SET text = l.text",
        // The conflict target is read to find the arbiter row.
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING",
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET note = excluded.note",
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET text = label.text || 'x'",
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET text = text",
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET text = 'y' WHERE label.text = 'z'",
        "INSERT INTO app.label AS excluded (id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET note = excluded.note",
        // An arbiter reads the target: PostgreSQL asks SELECT for it.
        "INSERT INTO app.label (id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET note = excluded.note",
    ] {
        let got = answer(&g, sql);
        assert!(got.as_ref().is_err_and(|e| e.contains("reading app.label is not granted")), "{sql}: {got:?}");
    }
}

#[test]
fn attribute_notation_is_refused_for_every_function_one_argument_can_call() {
    // From the server's catalog, not a hand-written list: a name the old
    // deny list missed is refused too.
    for name in ["row_to_json", "quote_literal", "to_json", "pg_typeof", "textlen", "hashtext", "name", "length"] {
        let sql = format!("SELECT t.{name} FROM app.team t");
        let got = answer(&grants(), &sql);
        assert!(got.as_ref().is_err_and(|e| e.contains("attribute notation")), "{sql}: {got:?}");
    }
    assert_eq!(answer(&grants(), "SELECT t.code, t.team_code FROM app.team t"), Ok(()));
    assert!(built_lists().0.lines().count() > 500, "the list comes from the catalog");
}
