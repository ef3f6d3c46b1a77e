//! Unit tests of issue 17's classes: objects named by text, system columns,
//! sizes the server would hold, and the lists read from the catalog.

use super::*;
use crate::manifest::Grants;

/// A tier that may draw from and set one sequence, read a table and insert
/// into another, and call the functions that take names.
fn tier() -> Grants {
    Grants {
        read: vec!["app.team".into()],
        insert: vec!["app.label".into()],
        update: vec!["app.label_id_seq".into()],
        sequences: vec!["app.label_id_seq".into()],
        functions: [
            "setval",
            "nextval",
            "currval",
            "pg_relation_size",
            "pg_table_size",
            "has_table_privilege",
            "brin_summarize_new_values",
            "to_tsvector",
            "pg_import_system_collations",
            "repeat",
            "regexp_replace",
        ]
        .iter()
        .map(|f| format!("pg_catalog.{f}"))
        .collect(),
        ..Grants::default()
    }
}

fn answer(g: &Grants, read_only: bool, sql: &str) -> Result<Checked, String> {
    Checker::new(g, read_only).check(sql, 1).map_err(|r| r.to_string())
}

fn refused(g: &Grants, read_only: bool, sql: &str, why: &str) {
    let got = answer(g, read_only, sql);
    assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{sql}: {got:?}, expected a refusal saying {why}");
}

fn passes(g: &Grants, read_only: bool, sql: &str) {
    if let Err(e) = answer(g, read_only, sql) {
        panic!("{sql}: refused: {e}");
    }
}

#[test]
fn a_name_given_as_text_is_checked_like_the_object_it_names() {
    let g = tier();
    // The finding: a granted setval reached the ledger.
    refused(&g, false, "SELECT setval('rollout_ledger.rollout_id_seq', 1)", "names the ledger");
    refused(&g, false, r#"SELECT setval('"rollout_ledger".rollout_id_seq', 1)"#, "names the ledger");
    refused(&g, false, "SELECT setval(' ROLLOUT_LEDGER . x ', 1)", "names the ledger");
    refused(&g, false, "SELECT to_regclass('rollout_ledger.rollout')", "names the ledger");
    refused(&g, false, "SELECT 'rollout_ledger.rollout'::regclass", "names the ledger");
    refused(&g, false, "SELECT nextval('app.other_seq')", "sequences = [\"app.other_seq\"]");
    refused(&g, false, "SELECT setval('label_id_seq', 1)", "unqualified relation `label_id_seq`");
    refused(&g, false, "SELECT setval('directus.app.label_id_seq', 1)", "name the relation as schema.name");
    refused(&g, false, "SELECT setval('16384', 1)", "by number");
    refused(&g, false, "SELECT setval(16384, 1)", "is not a constant");
    refused(&g, false, "SELECT setval($1, 1)", "is not a constant");
    refused(&g, false, "SELECT setval(code, 1) FROM app.team", "is not a constant");
    refused(&g, false, "SELECT setval(('app.' || 'label_id_seq')::regclass, 1)", "is not a constant");
    refused(&g, false, "SELECT nextval(VARIADIC ARRAY['app.label_id_seq'])", "VARIADIC");
    // What the function does decides the grant: a read, a draw, a set.
    passes(&g, false, "SELECT nextval('app.label_id_seq'), currval('app.label_id_seq')");
    passes(&g, false, "SELECT setval('APP.label_id_seq'::regclass, 1)");
    refused(&g, true, "SELECT nextval('app.label_id_seq')", "this call is read-only");
    refused(&g, true, "SELECT setval('app.label_id_seq', 1)", "this call is read-only");
    let no_update = Grants { update: vec![], ..tier() };
    refused(&no_update, false, "SELECT setval('app.label_id_seq', 1)", "update = [\"app.label_id_seq\"]");
    passes(&g, true, "SELECT pg_relation_size('app.team'), pg_table_size('\"app\".team')");
    refused(&g, true, "SELECT pg_relation_size('app.label')", "read = [\"app.label\"]");
    // A function the policy does not know is refused on a relation.
    refused(&g, false, "SELECT brin_summarize_new_values('app.team')", "does not know what the function does");
    refused(&g, false, "SELECT pg_import_system_collations('app')", "does not know what the function does");
    // An untyped name (a text twin of an oid argument) cannot be checked.
    refused(&g, true, "SELECT has_table_privilege('app.team', 'SELECT')", "kind the catalog does not say");
    // Built-in objects by name are fine; others are not.
    passes(&g, true, "SELECT to_tsvector('english', code) FROM app.team");
    passes(&g, true, "SELECT to_tsvector('pg_catalog.english', 'x'), 'int4[]'::regtype, 'pg_catalog.+'::regoper");
    refused(&g, true, "SELECT to_tsvector('trap.cfg', 'x')", "not built in");
    refused(&g, true, "SELECT 'trap.dom'::regtype", "not built in");
    refused(&g, true, "SELECT 'postgres'::regrole", "roles belong to the operator");
    refused(&g, true, "SELECT 'abs(int4)'::regprocedure", "regproc");
    refused(&g, true, "SELECT '{app.team}'::regclass[]", "cast each name");
    passes(&g, true, "SELECT 'abs'::regproc, 'pg_catalog.setval'::regproc");
    refused(&g, true, "SELECT 'trap.f'::regproc", "functions = [\"trap.f\"]");
    let create = Grants { create: vec!["app.t".into()], ..tier() };
    refused(&create, false, "CREATE TABLE app.t (r regclass)", "store the name as text");
}

#[test]
fn a_lookup_needs_a_schema_the_grants_name_as_postgresql_asks_usage() {
    let g = Grants { read: vec!["one_roof.team".into()], ..Grants::default() };
    // The gate's own shape: views it has no grant on, in its schema.
    passes(&g, true, "SELECT count(*) FROM (VALUES (to_regclass('one_roof.v_resp_gap'))) AS v (r) WHERE r IS NOT NULL");
    passes(&g, true, "SELECT to_regclass('pg_temp.leaked_temp'), to_regclass('pg_catalog.pg_class')");
    passes(&g, true, "SELECT to_regclass(NULL), CAST(NULL AS regclass)");
    refused(&g, true, "SELECT to_regclass('vault.t')", "in a schema none of the plugin's grants names");
    refused(&g, true, "SELECT 'vault.t'::pg_catalog.regclass", "in a schema none of the plugin's grants names");
    refused(&g, true, "SELECT to_regclass(code) FROM one_roof.team", "is not a constant");
    refused(&g, true, "SELECT 'vault'::regnamespace", "which none of the plugin's grants names");
    passes(&g, true, "SELECT 'one_roof'::regnamespace");
}

#[test]
fn system_columns_are_refused_in_every_position() {
    let g = Grants {
        read: vec!["app.team".into()],
        update: vec!["app.team".into()],
        create: vec!["app.t".into()],
        ..Grants::default()
    };
    for sql in [
        "SELECT xmin FROM app.team",
        "SELECT t.xmin FROM app.team t",
        "SELECT \"xmin\" FROM app.team",
        "SELECT XMIN FROM app.team",
        "SELECT code FROM app.team WHERE ctid = '(0,1)'",
        "SELECT code FROM app.team ORDER BY tableoid",
        "SELECT count(*) FROM app.team GROUP BY xmax",
        "SELECT (SELECT max(cmin::text) FROM app.team)",
        "UPDATE app.team SET code = 'x' RETURNING xmin",
        "UPDATE app.team SET code = 'x' WHERE cmax = 0",
        "CREATE TABLE app.t (a int CHECK (tableoid <> 0))",
        "CREATE TABLE app.t (a int, UNIQUE (ctid))",
        "CREATE TABLE app.t (a int, EXCLUDE USING btree (xmin WITH =))",
    ] {
        refused(&g, false, sql, "system column");
    }
    refused(&g, false, "SELECT (t).xmin FROM app.team t", "field selection");
    passes(&g, false, "SELECT \"XMIN\", \"Ctid\" FROM app.team");
}

#[test]
fn sizes_that_are_not_constants_are_refused() {
    let g = tier();
    for (sql, why) in [
        ("SELECT length(rpad('', abs(250000000), 'x'))", "rpad(…)'s length is not a constant"),
        ("SELECT lpad(code, length(code) * 1000) FROM app.team", "lpad(…)'s length is not a constant"),
        ("SELECT repeat(code, $1) FROM app.team", "repeat(…)'s count is not a constant"),
        ("SELECT replace(code, 'a', code) FROM app.team", "replace(…)'s replacement is not a constant"),
        ("SELECT regexp_replace(code, 'a', code) FROM app.team", "replacement is not a constant"),
        ("SELECT format($1, code) FROM app.team", "format(…)'s format string is not a constant"),
        ("SELECT format('%*s', $1, code) FROM app.team", "format(…)'s width is not a constant"),
        ("SELECT count(*) FROM generate_series(1, $1)", "constant numbers"),
        ("SELECT generate_series(1, (SELECT count(*) FROM app.team))", "constant numbers"),
        ("SELECT count(*) FROM generate_series(now(), now() + interval '1 day', interval '1 s')", "constant numbers"),
    ] {
        refused(&g, true, sql, why);
    }
}

#[test]
fn amplifiers_are_bounded_by_the_memory_limit_or_the_copies() {
    let g = tier();
    // Nested growing replacements of a constant: 4 MB × 8 × 8 × 6.
    let nested = "SELECT length(replace(replace(replace(rpad('', 1000000, 'x'), 'x', 'xxxxxxxx'), 'x', 'xxxxxxxx'), \
                  'x', 'xxxxxx'))";
    refused(&g, true, nested, "memory_mib = 64");
    // The same of a column: its copies multiply.
    let nested = "SELECT replace(replace(replace(replace(code, 'x', 'xxxxxxxx'), 'x', 'xxxxxxxx'), 'x', 'xxxxxxxx'), \
                  'x', 'xxxxxxxx') FROM app.team";
    refused(&g, true, nested, "copies the values it reads more than 1024 times");
    let rows = (0..12).fold("code".to_string(), |e, _| format!("ROW({e}, {e})"));
    refused(&g, true, &format!("SELECT {rows}::text FROM app.team"), "more than 1024 times");
    // A non-growing replacement, concatenation, a row or JSON of columns pass.
    passes(&g, true, "SELECT replace(code, 'abc', 'x'), replace(code, '_', ' - '), code || '/' || code FROM app.team");
    passes(&g, true, "SELECT jsonb_build_object('a', code, 'b', code), ROW(code, code)::text FROM app.team");
    passes(&g, true, "SELECT regexp_replace(code, '\\s+', ' ', 'g'), repeat('-', 80), repeat(code, 3) FROM app.team");
    let checked = answer(&g, true, "SELECT code || code || $1 FROM app.team").unwrap();
    assert_eq!(checked.copies, 5.0, "(code || code) is 2 copies, then || $1 makes 3 more");
}

#[test]
fn values_built_from_every_row_are_refused_whatever_the_grants() {
    let g = Grants { functions: vec!["pg_catalog.string_agg".into()], ..tier() };
    for sql in [
        "SELECT string_agg(code, ',') FROM app.team",
        "SELECT array_agg(code) FROM app.team",
        "SELECT jsonb_agg(t) FROM app.team t",
        "SELECT json_agg(code) OVER () FROM app.team",
        "SELECT jsonb_object_agg(code, code) FROM app.team",
        "SELECT length(string_agg(rpad('', 1000000, 'x'), '')) FROM generate_series(1, 900)",
    ] {
        let got = answer(&g, true, sql);
        assert!(got.as_ref().is_err_and(|e| e.contains("builds one value from every row")), "{sql}: {got:?}");
        assert!(!got.unwrap_err().contains("to allow it"), "no grant would: {sql}");
    }
    refused(&g, true, "SELECT ARRAY(SELECT code FROM app.team)", "ARRAY(SELECT …) builds one value");
    passes(&g, true, "SELECT ARRAY[code, code], count(*) OVER () FROM app.team");
}

#[test]
fn a_recursive_cte_may_not_grow_what_it_carries() {
    let g = tier();
    let doubling =
        "WITH RECURSIVE r(s, n) AS (SELECT 'x'::text, 1 UNION ALL SELECT s || s, n + 1 FROM r WHERE n < 30) SELECT max(length(s)) FROM r";
    refused(&g, true, doubling, "grows with every iteration");
    let laundered = "WITH RECURSIVE r(s, n) AS (SELECT 'x'::text, 1 UNION ALL SELECT x.d, r.n + 1 FROM r, \
                     LATERAL (SELECT r.s || r.s AS d) x WHERE r.n < 30) SELECT 1 FROM r";
    refused(&g, true, laundered, "grows with every iteration");
    refused(
        &g,
        true,
        "WITH RECURSIVE r(s, n) AS (SELECT 'x'::text, 1 UNION ALL SELECT repeat(s, 2), n + 1 FROM r WHERE n < 9) SELECT 1 FROM r",
        "grows with every iteration",
    );
    // A path that adds a stored name at each level grows linearly: fine,
    // once the stored column is qualified.
    passes(
        &g,
        true,
        "WITH RECURSIVE r(p, n) AS (SELECT 'root'::text, 1 UNION ALL SELECT r.p || '/' || t.code, r.n + 1 \
         FROM r JOIN app.team t ON true WHERE r.n < 3) SELECT p FROM r",
    );
    refused(
        &g,
        true,
        "WITH RECURSIVE r(p, n) AS (SELECT 'root'::text, 1 UNION ALL SELECT p || '/' || code, n + 1 \
         FROM r JOIN app.team t ON true WHERE n < 3) SELECT p FROM r",
        "qualify the other columns",
    );
}

#[test]
fn no_safe_function_tells_a_copy_from_production() {
    // The argument-less built-ins that say something about the server, the
    // backend or the transaction: none may be called without a grant.
    for f in [
        "inet_server_addr",
        "inet_server_port",
        "inet_client_addr",
        "pg_postmaster_start_time",
        "pg_conf_load_time",
        "txid_current",
        "pg_current_xact_id",
        "pg_backend_pid",
        "version",
        "pg_current_wal_lsn",
        "pg_is_in_recovery",
        "current_setting",
    ] {
        let sql = format!("SELECT {f}()");
        refused(&Grants::default(), true, &sql, &format!("functions = [\"pg_catalog.{f}\"]"));
    }
}

#[test]
fn the_catalog_a_check_uses_is_the_one_it_is_given() {
    // A function a newer server has and the built list does not: attribute
    // notation calls it only where the server's list is used.
    let g = Grants { read: vec!["app.team".into()], ..Grants::default() };
    let sql = "SELECT t.rl_newer FROM app.team t";
    assert!(Checker::new(&g, true).check(sql, 0).is_ok(), "the built list does not know rl_newer");
    let newer = Catalog::for_tests(&["rl_newer"]);
    let r = Checker::new(&g, true).catalog(newer).check(sql, 0).unwrap_err();
    assert!(r.reason.contains("attribute notation"), "{r}");
}
