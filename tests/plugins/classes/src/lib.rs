//! Test fixture: each class of statement issues 9 and 17 found getting
//! through the grants check, tried by a tier whose grants are a write without
//! read, a create, and the functions that take an object's name. The objects named `trap.*` exist (the test makes them) and bump a
//! counter when run; every attempt must be refused by the host (`RL000`),
//! or, with roles on, by PostgreSQL before any trap runs.

use rollout_sdk::{execute, execute_with, log, Metric, Result};

/// Statements that must never reach the server.
const REFUSED: &[&str] = &[
    // Functions, operators, operator classes, collations and access methods
    // reached through a CREATE TABLE clause.
    "CREATE TABLE one_roof.classes_made (a int4, EXCLUDE USING btree (a trap.int4_ops WITH =))",
    "CREATE TABLE one_roof.classes_made (a int4, EXCLUDE USING btree (a WITH trap.===))",
    "CREATE TABLE one_roof.classes_made (a text COLLATE trap.coll)",
    "CREATE TABLE one_roof.classes_made (a text, EXCLUDE USING btree (a COLLATE trap.coll WITH =))",
    "CREATE TABLE one_roof.classes_made (a int4 CHECK (trap.hit(a)))",
    "CREATE TABLE one_roof.classes_made (a int4 DEFAULT trap.hit_int(1))",
    "CREATE TABLE one_roof.classes_made (a int4) USING trap_am",
    "CREATE TABLE one_roof.classes_made (a trap.dom)",
    "CREATE TABLE one_roof.classes_made (a serial)",
    "CREATE TABLE one_roof.classes_made (a int4 GENERATED ALWAYS AS IDENTITY)",
    "CREATE TABLE one_roof.classes_made (a int4 PRIMARY KEY USING INDEX TABLESPACE pg_global)",
    // Reads through writes, with no read grant on the target.
    "UPDATE one_roof.label SET text = text || ''",
    "UPDATE one_roof.label SET text = CASE WHEN text LIKE 'a%' THEN 'a' ELSE 'b' END",
    "UPDATE one_roof.label SET (text) = (SELECT text)",
    "INSERT INTO one_roof.label (id, responsibility_id, text) VALUES (1, 1, 'x') ON CONFLICT (id) DO UPDATE SET text = label.text || 'x'",
    "INSERT INTO one_roof.label (id, responsibility_id, text) VALUES (1, 1, 'x') ON CONFLICT (id) DO UPDATE SET text = 'x' WHERE label.text LIKE 'a%'",
    // Attribute notation on functions the old hand-written list did not name.
    "SELECT t.hashtext FROM one_roof.team t",
    "SELECT t.textlen FROM one_roof.team t",
    "SELECT t.octet_length FROM one_roof.team t",
    // Attribute notation on a function only the server's catalog has (the
    // test makes pg_catalog.rl_newer, as a newer server would have one).
    "SELECT t.rl_newer FROM one_roof.team t",
    // Objects named by text, through granted functions and casts.
    "SELECT setval('rollout_ledger.rollout_id_seq', 1)",
    "SELECT setval('\"rollout_ledger\".rollout_id_seq'::regclass, 1)",
    "SELECT nextval('trap.hits')",
    "SELECT pg_relation_size('one_roof.label')",
    "SELECT to_regclass('rollout_ledger.rollout')",
    "SELECT 'rollout_ledger.tier_event'::regclass::oid",
    // System columns: they tell a restored copy from production.
    "SELECT xmin FROM one_roof.team",
    "SELECT count(*) FROM one_roof.team t WHERE t.ctid > '(0,0)'",
    "SELECT max(tableoid) FROM one_roof.team",
    // Server identity.
    "SELECT pg_postmaster_start_time()",
    "SELECT inet_server_port()",
    // Sizes the checker cannot bound (cheap here, but each shape held GBs).
    "SELECT length(rpad('', abs(10), 'x'))",
    "SELECT length(replace(code, 'a', code)) FROM one_roof.team",
    "SELECT length(string_agg(code, ',')) FROM one_roof.team",
    "SELECT cardinality(ARRAY(SELECT code FROM one_roof.team))",
    "SELECT count(*) FROM generate_series(1, (SELECT count(*) FROM one_roof.team))",
    "WITH RECURSIVE r(s, n) AS (SELECT 'x'::text, 1 UNION ALL SELECT s || s, n + 1 FROM r WHERE n < 3) SELECT max(length(s)) FROM r",
];

fn apply() -> Result<()> {
    let mut refused = 0;
    for sql in REFUSED {
        match execute(sql) {
            Err(e) if e.sqlstate() == Some("RL000") => refused += 1,
            Err(e) => log::error(format!("ESCAPED (reached the server): {sql} -> {e}")),
            Ok(_) => log::error(format!("ESCAPED (ran): {sql}")),
        }
    }
    // A parameter copied past the plugin's memory_mib (64): 1 MiB, 100 times.
    let copies = format!("SELECT length(concat({}))", vec!["$1::text"; 100].join(", "));
    match execute_with(&copies, &[&"x".repeat(1 << 20)]) {
        Err(e) if e.sqlstate() == Some("RL000") => refused += 1,
        Err(e) => log::error(format!("ESCAPED (reached the server): a parameter copied 100 times -> {e}")),
        Ok(_) => log::error("ESCAPED (ran): a parameter copied 100 times"),
    }
    // A write the grants allow, whose error would carry an existing row's
    // contents in its DETAIL ("Failing row contains …").
    match execute("UPDATE one_roof.label SET responsibility_id = NULL") {
        Err(e) if e.to_string().contains("Failing row") => log::error(format!("ESCAPED (DETAIL): {e}")),
        Err(e) => log::info(format!("DETAIL withheld: {e}")),
        Ok(n) => log::error(format!("ESCAPED (the write ran: {n} rows)")),
    }
    log::info(format!("CLASSES: tried {}, refused {refused}", REFUSED.len() + 1));
    Ok(())
}

fn check() -> Result<Vec<Metric>> {
    Ok(vec![metric::CLASSES.equals("refused", "refused")])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
