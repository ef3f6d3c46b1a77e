//! Column grants and phase grants in the checker: every way a statement
//! names a column of a column-limited table is held to the list, and a
//! statement only the other phase may send is refused saying so.

use super::*;
use crate::manifest::Manifest;
use crate::manifest::{Grants, Phase};
use std::sync::Arc;

const TIER: &str = "name = \"t\"\nkind = \"tier\"\nordinal = 1\ndescription = \"d\"\ndatabases = [\"db\"]\npost_conditions = [\"m\"]\nrollback_conditions = [\"m\"]\n";

fn manifest(grants: &str) -> Manifest {
    Manifest::parse(&format!("{TIER}{grants}")).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads a, b and id of app.t, inserts a and b, updates a; app.u whole.
fn columns() -> Grants {
    manifest(
        "[grants]\nread = [\"app.t(a, b, id)\", \"app.u\"]\ninsert = [\"app.t(a, b)\"]\nupdate = [\"app.t(a)\"]\ndelete = [\"app.t\"]\n",
    )
    .grants
}

fn answer(g: &Grants, sql: &str) -> Result<(), String> {
    Checker::new(g, false).check(sql, 0).map(|_| ()).map_err(|r| r.to_string())
}

#[test]
fn an_unlisted_column_is_refused_wherever_a_statement_names_it() {
    let g = columns();
    for (sql, says) in [
        ("UPDATE app.t SET secret = 1 WHERE id = 1", "updating column `secret` of app.t is not granted: its update grant lists only (a); to allow it, list it: update = [\"app.t(a, secret)\"]"),
        ("UPDATE app.t SET b = 1", "updating column `b`"),
        ("UPDATE app.t SET (a, b) = (1, 2)", "updating column `b`"),
        ("UPDATE app.t SET a = 1 WHERE secret = 1", "reading column `secret` of app.t is not granted"),
        ("UPDATE app.t SET a = secret", "reading column `secret`"),
        ("UPDATE app.t SET a = 1 WHERE id = 1 RETURNING secret", "reading column `secret`"),
        ("UPDATE app.t SET a = 1 WHERE id = 1 RETURNING *", "`*` reads every column of app.t"),
        ("INSERT INTO app.t (a, secret) VALUES (1, 2)", "inserting into column `secret` of app.t is not granted"),
        ("INSERT INTO app.t VALUES (1, 2)", "without a column list fills every column"),
        ("INSERT INTO app.t DEFAULT VALUES", "without a column list fills every column"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) RETURNING *", "`*` reads every column of app.t"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) RETURNING secret", "reading column `secret`"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) RETURNING t.*", "`t.*` is the whole row of app.t"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (secret) DO NOTHING", "reading column `secret`"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING", "ON CONFLICT ON CONSTRAINT"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET b = 1", "updating column `b`"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = secret", "reading column `secret`"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.secret", "`excluded.secret` reads column `secret` of the row proposed for app.t (`excluded`), and its insert grant lists only (a, b): use the value itself, or list the column: insert = [\"app.t(a, b, secret)\"]"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = 1 WHERE excluded.id > 0", "`excluded.id` reads column `id` of the row proposed for app.t (`excluded`), and its insert grant lists only (a, b)"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = to_jsonb(excluded)::text::int", "`excluded` as a whole row reads every column of the row proposed for app.t"),
        ("INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = 1 WHERE (excluded.*) IS NULL", "`excluded` as a whole row reads every column"),
        ("SELECT secret FROM app.t", "reading column `secret` of app.t is not granted: its read grant lists only (a, b, id); to allow it, list it: read = [\"app.t(a, b, id, secret)\"]"),
        ("SELECT * FROM app.t", "`*` reads every column of app.t"),
        ("SELECT x.* FROM app.t x", "`x.*` is the whole row of app.t"),
        ("SELECT t FROM app.t", "`t` is the whole row of app.t"),
        ("SELECT to_jsonb(t) FROM app.t", "`t` is the whole row"),
        ("SELECT count(secret) FROM app.t", "reading column `secret`"),
        ("SELECT a FROM app.t ORDER BY secret", "reading column `secret`"),
        ("SELECT a FROM app.t GROUP BY secret", "reading column `secret`"),
        ("SELECT a FROM app.t WHERE t.secret > 0", "reading column `secret`"),
        ("SELECT t.a FROM app.t t JOIN app.u u ON u.id = t.secret", "reading column `secret`"),
        ("SELECT u.id FROM app.u u JOIN app.t t ON u.id = secret", "an unqualified name may be a column of app.t"),
        ("SELECT a FROM app.t NATURAL JOIN app.u", "a NATURAL join"),
        ("SELECT a FROM app.t JOIN app.u USING (secret)", "reading column `secret`"),
        ("SELECT j.a FROM (app.t JOIN app.u USING (id)) AS j", "an alias on a join"),
        ("SELECT x.p FROM app.t AS x(p)", "column aliases on app.t"),
        ("SELECT (SELECT name FROM app.u WHERE u.id = t.id) FROM app.t", "`name`"),
        ("WITH c AS (SELECT * FROM app.t) SELECT a FROM c", "`*` reads every column"),
        ("SELECT a FROM app.u WHERE EXISTS (SELECT * FROM app.t)", "`*` reads every column"),
        ("DELETE FROM app.t WHERE secret = 1", "reading column `secret`"),
        ("DELETE FROM app.t WHERE id = 1 RETURNING *", "`*` reads every column"),
    ] {
        let got = answer(&g, sql);
        assert!(got.as_ref().is_err_and(|e| e.contains(says)), "{sql}: {got:?}, expected a refusal saying {says}");
    }
}

#[test]
fn listed_columns_pass() {
    let g = columns();
    for sql in [
        "SELECT a, b FROM app.t WHERE id = $1 ORDER BY a",
        "SELECT t.a, u.id FROM app.t t JOIN app.u u ON u.id = t.id",
        "SELECT count(*) FROM app.t",
        "SELECT 1 FROM app.t",
        "UPDATE app.t SET a = a + 1 WHERE id = $1",
        "INSERT INTO app.t (a, b) VALUES (1, 2) RETURNING a, t.b",
        "INSERT INTO app.t (a) SELECT name FROM app.u",
        "INSERT INTO app.t (a, b) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET a = excluded.a",
        "DELETE FROM app.t WHERE id = 1 RETURNING id",
        "SELECT * FROM app.u",
    ] {
        let params = sql.matches('$').count();
        let got = Checker::new(&g, false).check(sql, params).map(|_| ()).map_err(|r| r.to_string());
        assert!(got.is_ok(), "{sql}: {got:?}");
    }
}

#[test]
fn a_statement_only_the_other_phase_may_send_is_refused_saying_so() {
    let m = manifest(
        "[grants]\nread = [\"app.u\"]\n[grants.apply]\ncreate = [\"app.new\"]\nupdate = [\"app.t(a)\"]\n[grants.rollback]\ndrop = [\"app.new\"]\nupdate = [\"app.t(b)\"]\n",
    );
    let in_phase = |phase: Phase| {
        let other = Arc::new(m.phases.of(phase.other()).clone());
        Checker::new(m.phases.of(phase), false).in_phase(phase, other)
    };
    let (apply, rollback) = (in_phase(Phase::Apply), in_phase(Phase::Rollback));
    let refused = |c: &Checker, sql: &str| c.check(sql, 0).err().map(|r| r.to_string()).unwrap_or_default();
    assert!(apply.check("CREATE TABLE app.new (id int)", 0).is_ok());
    assert!(rollback.check("DROP TABLE app.new", 0).is_ok());
    let e = refused(&apply, "DROP TABLE app.new");
    assert!(
        e.contains("it is allowed in rollback only ([grants.rollback]); to allow it in apply too, add to [grants.apply]: drop = [\"app.new\"]"),
        "{e}"
    );
    let e = refused(&rollback, "CREATE TABLE app.new (id int)");
    assert!(
        e.contains("allowed in apply only ([grants.apply]); to allow it in rollback too, add to [grants.rollback]"),
        "{e}"
    );
    // Columns too: each phase updates its own.
    assert!(apply.check("UPDATE app.t SET a = 1", 0).is_ok());
    let e = refused(&apply, "UPDATE app.t SET b = 1");
    assert!(e.contains("updating column `b`") && e.contains("allowed in rollback only"), "{e}");
    // Refused in both phases: no word about phases.
    let e = refused(&apply, "DELETE FROM app.u");
    assert!(e.contains("delete on app.u is not granted") && !e.contains("only"), "{e}");
    // Both phases read what [grants] grants.
    assert!(apply.check("SELECT id FROM app.u", 0).is_ok() && rollback.check("SELECT id FROM app.u", 0).is_ok());
}
