//! Findings of an attacker's review of the grants check (issue 9 item 2):
//! statements the checker allowed that reached what no grant names.

use super::*;
use crate::manifest::Grants;

/// A write-only plugin: insert and update on app.label, no read of it.
fn writer() -> Grants {
    Grants {
        read: vec!["app.team".into()],
        insert: vec!["app.label".into()],
        update: vec!["app.label".into()],
        create: vec!["app.t".into()],
        ..Grants::default()
    }
}

fn answer(g: &Grants, sql: &str) -> Result<(), String> {
    Checker::new(g, false).check(sql, 0).map(|_| ()).map_err(|r| r.to_string())
}

fn refused_saying(g: &Grants, sql: &str, why: &str) {
    let got = answer(g, sql);
    assert!(got.as_ref().is_err_and(|e| e.contains(why)), "{sql}: {got:?}, expected a refusal saying {why}");
}

/// An arbiter (`ON CONFLICT (id)`, `ON CONFLICT ON CONSTRAINT c`) looks the
/// proposed key up among the existing rows: PostgreSQL 15 refuses each of
/// these with "permission denied for table label" to a role holding INSERT
/// and UPDATE but not SELECT, and the row count (0 or 1) says whether the key
/// exists. Only `ON CONFLICT DO NOTHING` without an arbiter passes there.
#[test]
fn an_on_conflict_arbiter_reads_the_target() {
    let g = writer();
    for sql in [
        "INSERT INTO app.label (id) VALUES (1) ON CONFLICT (id) DO NOTHING",
        "INSERT INTO app.label (id) VALUES (1) ON CONFLICT ON CONSTRAINT label_pkey DO NOTHING",
        "INSERT INTO app.label (id) VALUES (1) ON CONFLICT (id) WHERE id > 0 DO NOTHING",
        "INSERT INTO app.label (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET note = 'x'",
        "INSERT INTO app.label (id, note) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET note = excluded.note",
        "INSERT INTO app.label (id) VALUES (1) ON CONFLICT ON CONSTRAINT label_pkey DO UPDATE SET note = 'x'",
    ] {
        refused_saying(&g, sql, "reading app.label is not granted");
    }
    assert_eq!(answer(&g, "INSERT INTO app.label (id) VALUES (1) ON CONFLICT DO NOTHING"), Ok(()));
    let reader = Grants { read: vec!["app.label".into()], ..writer() };
    assert_eq!(answer(&reader, "INSERT INTO app.label (id) VALUES (1) ON CONFLICT (id) DO NOTHING"), Ok(()));
}

/// An exclusion constraint that names no operator class takes the column
/// type's default one for the access method, and for gist, gin, spgist and
/// brin that default often comes from an extension: with btree_gist in
/// `public`, `EXCLUDE USING gist (a WITH =)` on an int column made an index
/// over `public.gist_int4_ops`, and every later INSERT ran
/// `public.gbt_int4_*` (a role without EXECUTE on them, PostgreSQL 15). The
/// statement names nothing outside pg_catalog, so the name rules passed it.
#[test]
fn an_exclusion_constraint_names_its_operator_class_unless_btree_or_hash() {
    let g = writer();
    for sql in [
        "CREATE TABLE app.t (a int, EXCLUDE USING gist (a WITH =))",
        "CREATE TABLE app.t (a int, b int, EXCLUDE USING gist (a int4range_ops WITH =, b WITH =))",
        "CREATE TABLE app.t (a int, EXCLUDE USING gin ((a + 1) WITH =))",
        "CREATE TABLE app.t (a int, EXCLUDE USING spgist (a WITH =))",
        "CREATE TABLE app.t (a int, EXCLUDE USING brin (a WITH =))",
    ] {
        refused_saying(&g, sql, "operator class");
    }
    for sql in [
        "CREATE TABLE app.t (r int4range, EXCLUDE USING gist (r pg_catalog.range_ops WITH &&))",
        "CREATE TABLE app.t (r int4range, EXCLUDE USING gist (r range_ops WITH &&))",
        "CREATE TABLE app.t (a int, EXCLUDE (a WITH =))",
        "CREATE TABLE app.t (a int, EXCLUDE USING btree (a WITH =))",
        "CREATE TABLE app.t (a int, EXCLUDE USING hash (a WITH =))",
    ] {
        assert_eq!(answer(&g, sql), Ok(()), "{sql}");
    }
}

/// `SET arr[1] = …`, `SET j['k'] = …` and `SET comp.f = …` start from the
/// column's old value: no column is named, yet the server reads it, and its
/// errors describe it ("wrong number of array subscripts" when a row holds
/// a 2-D array, "path element at position 1 is not an integer" when a row's
/// jsonb is an array — PostgreSQL 15, to a role with UPDATE only).
#[test]
fn a_subscript_or_field_assignment_reads_the_old_value() {
    let g = writer();
    for sql in [
        "UPDATE app.label SET arr[1] = 5",
        "UPDATE app.label SET arr[1:2] = '{1,2}'",
        "UPDATE app.label SET j['a'] = '1'",
        "UPDATE app.label SET comp.f = 1",
        "UPDATE app.label SET (note, arr[1]) = ('x', 5)",
        "UPDATE app.label SET (note, arr[1]) = (SELECT 'x', 5)",
    ] {
        refused_saying(&g, sql, "reading app.label is not granted");
    }
    assert_eq!(answer(&g, "UPDATE app.label SET arr = '{5}', note = 'x'"), Ok(()));
    assert_eq!(answer(&g, "INSERT INTO app.label (id, arr[1]) VALUES (1, 5)"), Ok(()), "an INSERT has no old value");
    let reader = Grants { read: vec!["app.label".into()], ..writer() };
    assert_eq!(answer(&reader, "UPDATE app.label SET arr[1] = 5"), Ok(()));
}
