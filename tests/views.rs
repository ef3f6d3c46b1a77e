//! Views and an enum's new value on a real server through the real binary:
//! a tier defines a view over the tables it may read, replaces it, adds a
//! value to an enum the operator made and comments on both, with the
//! `create`, `drop` and `alter` grants of its manifest; without them each
//! statement is refused naming the line, and a view's query reading a table
//! the grants do not name is refused though the view itself is granted.
//! `host grants` says which wall holds each line, and `host explain` never
//! suggests a grant the loader refuses (the ledger).

mod support;

use support::audit::Fixture;
use support::*;

const TABLES: &str = "CREATE SCHEMA app;
CREATE TYPE app.state AS ENUM ('new', 'done');
CREATE TABLE app.finding (id int PRIMARY KEY, team text, state app.state NOT NULL DEFAULT 'new');
CREATE TABLE app.secret (k text);
INSERT INTO app.finding SELECT g, 'a', CASE WHEN g % 2 = 0 THEN 'new' ELSE 'done' END::app.state
  FROM generate_series(1, 10) g;";

const CHANGE: [&str; 5] = [
    "CREATE VIEW app.open_finding AS SELECT id, team FROM app.finding WHERE state = 'new'",
    "CREATE OR REPLACE VIEW app.open_finding WITH (security_barrier) AS SELECT id, team, state FROM app.finding \
     WHERE state = 'new' WITH LOCAL CHECK OPTION",
    "ALTER TYPE app.state ADD VALUE IF NOT EXISTS 'reviewed' BEFORE 'done'",
    "COMMENT ON VIEW app.open_finding IS 'findings still open'",
    "COMMENT ON TYPE app.state IS 'a finding''s review state'",
];

fn granted() -> String {
    "read = [\"app.finding\"]\ncreate = [\"app.open_finding\"]\ndrop = [\"app.open_finding\"]\n\
     alter = [\"app.state\", \"app.open_finding\"]"
        .to_string()
}

fn host_in(f: &Fixture, verb: &str, extra: &[&str]) -> Run {
    let data = f.dir.path().join("data");
    let mut a = vec![verb, f.tier.as_str(), "--data-dir", data.to_str().unwrap()];
    a.extend_from_slice(extra);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_host"))
        .current_dir(root())
        .args(&a)
        .env("HOST_COMPILE_CACHE", compile_cache())
        .output()
        .unwrap();
    Run::from(out)
}

#[test]
fn a_view_and_an_enum_value_run_with_their_grants_and_the_view_goes_again() {
    let c = Cluster::start("views-change");
    c.psql(TABLES);
    let f = Fixture::new(&CHANGE, &granted());
    c.host(&f.args("run", false, &[])).expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql("SELECT count(*) FROM app.open_finding"), "5");
    assert_eq!(c.psql("SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'app.state'::regtype"), "new,reviewed,done");
    assert_eq!(c.psql("SELECT obj_description('app.open_finding'::regclass, 'pg_class')"), "findings still open");
    assert_eq!(c.psql("SELECT obj_description('app.state'::regtype, 'pg_type')"), "a finding's review state");
    assert_eq!(
        c.psql("SELECT reloptions::text FROM pg_class WHERE oid = 'app.open_finding'::regclass"),
        "{security_barrier=true,check_option=local}"
    );
    // A tier that drops it again under its drop grant.
    let c = Cluster::start("views-drop");
    c.psql(TABLES);
    let f = Fixture::new(&[CHANGE[0], "DROP VIEW app.open_finding"], &granted());
    c.host(&f.args("run", false, &[])).expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'open_finding'"), "0");
}

#[test]
fn without_their_grants_or_reading_past_them_each_is_refused_naming_the_line() {
    let c = Cluster::start("views-refused");
    c.psql(TABLES);
    for (statement, grants, line) in [
        (CHANGE[0], "read = [\"app.finding\"]", "create = [\"app.open_finding\"]"),
        (CHANGE[2], "read = [\"app.finding\"]", "alter = [\"app.state\"]"),
        (
            "CREATE VIEW app.open_finding AS SELECT f.id, s.k FROM app.finding f, app.secret s",
            &granted(),
            "read = [\"app.secret\"]",
        ),
        (
            "DROP VIEW app.open_finding",
            "read = [\"app.finding\"]\ncreate = [\"app.open_finding\"]",
            "drop = [\"app.open_finding\"]",
        ),
    ] {
        let f = Fixture::new(&[statement], grants);
        c.host(&f.args("run", false, &[])).expect_code(4).expect(line);
    }
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'open_finding'"), "0");
    assert_eq!(c.psql("SELECT count(*) FROM pg_enum WHERE enumtypid = 'app.state'::regtype"), "2");
}

#[test]
fn grants_shows_the_enum_line_held_by_the_checker_alone_and_roles_refuse_the_plan() {
    let f = Fixture::new(&CHANGE, &granted());
    host_in(&f, "grants", &[])
        .expect_code(0)
        .expect("alter     app.state  (checker only: PostgreSQL lets only the owner ALTER or index)")
        .expect("create    app.open_finding");
    let c = Cluster::start("views-roles");
    c.psql(TABLES);
    let mut a = vec!["roles", "apply"];
    a.extend(f.plan.iter().map(String::as_str));
    c.host(&a).expect_code(2).expect("alters or indexes app.state, which it does not create");
}

/// Issue 22 item 6: a statement on the host's ledger gets no suggested
/// grant (the loader would refuse it), but the reason none can allow it.
#[test]
fn explain_never_suggests_a_grant_the_loader_refuses() {
    let f = Fixture::new(&CHANGE, &granted());
    for sql in [
        "SELECT * FROM rollout_ledger.rollout",
        "CREATE VIEW app.open_finding AS SELECT * FROM rollout_ledger.rollout",
        "ALTER TABLE rollout_ledger.rollout ADD COLUMN x int",
        "COMMENT ON TABLE rollout_ledger.rollout IS 'x'",
    ] {
        let r = host_in(&f, "explain", &[sql]);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains("no grant can allow it: the ledger belongs to the host"), "{sql}: {all}");
        assert!(!all.contains("rollout_ledger.rollout\"]"), "{sql} suggested a grant: {all}");
    }
}

/// A second catalog fixture, `test-writer` (tier 2), in `dir`/b with its
/// own data directory: it runs `statements` under `grants`.
fn writer(dir: &std::path::Path, statements: &[&str], grants: &str) -> String {
    let b = dir.join("b");
    std::fs::create_dir_all(b.join("data")).unwrap();
    std::fs::write(b.join("data/statements.sql"), statements.join("\n") + "\n").unwrap();
    let path = b.join("writer.wasm");
    let what = "Writes through what tier 1 created (tests/views.rs).";
    support::audit::write_catalog_tier(&path, "test-writer", 2, what, grants);
    path.display().to_string()
}

/// Plugin A (test-catalog) creates an updatable view over app.finding,
/// which it may read; plugin B (test-writer) holds insert on the view's
/// name only. Each passes its own check; together B's insert would land in
/// app.finding. Refused before B runs, naming both plugins, the view and
/// its base table: in the dry run (nothing kept), in the run (A committed,
/// B refused: exit 4), and by the catalog audit once the view stands
/// (exit 2); granted the base table too, B runs.
#[test]
fn a_write_through_another_plugins_view_is_refused_naming_both_plugins() {
    let c = Cluster::start("views-cross");
    c.psql(TABLES);
    let mut f = Fixture::new(&[CHANGE[0]], &granted());
    let insert = "INSERT INTO app.open_finding (id, team) VALUES (99, 'b')";
    let b = writer(f.dir.path(), &[insert], "insert = [\"app.open_finding\"]");
    f.plan.insert(2, b);
    let path = "app.open_finding → view → app.finding needs insert = [\"app.finding\"] in plugin test-writer";
    let made = "(app.open_finding is what plugin test-catalog may create or alter)";
    let base = "SELECT count(*) FROM app.finding WHERE id = 99";
    c.host(&f.args("run", false, &["--dry-run"]))
        .expect_code(4)
        .expect(path)
        .expect(made)
        .expect("together with test-catalog its write would change relations no grant of test-writer names");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'open_finding'"), "0");
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(4).expect(path).expect(made);
    assert_eq!(c.scalar(base), 0, "{}", r.all());
    assert_eq!(c.tier_states(), "test-catalog=applied test-writer=failed");
    // The view stands now: the catalog audit refuses the plan before
    // anything is written, and names the plugin that made the path.
    c.host(&f.args("run", false, &[]))
        .expect_code(2)
        .expect(path)
        .expect("(through what plugin test-catalog of the plan creates or alters)");
    // Granted the base table too, the write is B's to make: from the
    // baseline again (A's rollback keeps its view: dropped by hand).
    let grants = "insert = [\"app.open_finding\", \"app.finding\"]";
    f.plan[2] = writer(f.dir.path(), &[insert], grants);
    c.host(&f.args("rollback", false, &[])).expect_code(0);
    c.psql("DROP VIEW app.open_finding");
    c.host(&f.args("run", false, &[])).expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(c.scalar(base), 1);
}

/// The same class through a cascading key: plugin A creates a table whose
/// key references app.finding ON DELETE CASCADE; plugin B holds delete on
/// app.finding only. B's delete would reach A's table: refused before B
/// runs, naming both plugins and the table A made.
#[test]
fn a_delete_cascading_into_another_plugins_table_is_refused_naming_both_plugins() {
    let c = Cluster::start("views-cascade");
    c.psql(TABLES);
    let create =
        "CREATE TABLE app.note (id int PRIMARY KEY, finding int REFERENCES app.finding (id) ON DELETE CASCADE)";
    let mut f =
        Fixture::new(&[create], "read = [\"app.finding\"]\ncreate = [\"app.note\"]\nreferences = [\"app.finding\"]");
    let delete = "DELETE FROM app.finding WHERE id = 1";
    f.plan.insert(2, writer(f.dir.path(), &[delete], "delete = [\"app.finding\"]"));
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(4)
        .expect("app.finding → ON DELETE CASCADE → app.note needs delete = [\"app.note\"] in plugin test-writer")
        .expect("(app.note is what plugin test-catalog may create or alter)");
    assert_eq!(c.psql("SELECT count(*) FROM app.finding WHERE id = 1"), "1", "{}", r.all());
    assert_eq!(c.tier_states(), "test-catalog=applied test-writer=failed");
}
