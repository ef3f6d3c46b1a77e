//! DDL on tables that exist: a tier adds a column, backfills it, adds a
//! foreign key NOT VALID and validates it, indexes and comments it, with
//! the `alter` and `index` grants of its manifest, on a real server through
//! the real binary; without those grants each statement is refused naming
//! the line; `host explain` says, without a database, which statements
//! hold production up and the safer form; `host grants` says the checker
//! alone holds these lines; and such a plan cannot run under roles.

mod support;

use support::audit::Fixture;
use support::*;

const TABLES: &str = "CREATE SCHEMA app;
CREATE TABLE app.team (code text PRIMARY KEY);
INSERT INTO app.team VALUES ('a'), ('b');
CREATE TABLE app.finding (id int PRIMARY KEY, team text, n int);
INSERT INTO app.finding SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g FROM generate_series(1, 1000) g;";

const CHANGE: [&str; 6] = [
    "ALTER TABLE app.finding ADD COLUMN reviewed_at timestamptz",
    "UPDATE app.finding SET reviewed_at = '2026-01-01' WHERE n <= 10",
    "ALTER TABLE app.finding ADD CONSTRAINT finding_team FOREIGN KEY (team) REFERENCES app.team (code) NOT VALID",
    "ALTER TABLE app.finding VALIDATE CONSTRAINT finding_team",
    "CREATE INDEX finding_reviewed ON app.finding (reviewed_at) WHERE reviewed_at IS NOT NULL",
    "COMMENT ON COLUMN app.finding.reviewed_at IS 'when a person reviewed it'",
];

const READS: &str = "read = [\"app.team\", \"app.finding\"]\nupdate = [\"app.finding\"]\nreferences = [\"app.team\"]";

fn granted() -> String {
    format!("{READS}\nalter = [\"app.finding\"]\nindex = [\"app.finding\"]")
}

#[test]
fn a_schema_change_runs_with_its_alter_and_index_grants() {
    let c = Cluster::start("ddl-change");
    c.psql(TABLES);
    let f = Fixture::new(&CHANGE, &granted());
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql("SELECT count(*) FROM app.finding WHERE reviewed_at IS NOT NULL"), "10");
    assert_eq!(c.psql("SELECT convalidated FROM pg_constraint WHERE conname = 'finding_team'"), "t");
    assert_eq!(c.psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.finding_reviewed'::regclass"), "t");
    assert_eq!(c.psql("SELECT col_description('app.finding'::regclass, 4)"), "when a person reviewed it");
}

#[test]
fn without_its_alter_grant_the_change_is_refused_naming_the_line() {
    let c = Cluster::start("ddl-refused");
    c.psql(TABLES);
    let f = Fixture::new(&CHANGE, READS);
    let r = c.host(&f.args("run", false, &[]));
    r.expect_code(4).expect("alter on app.finding is not granted").expect("alter = [\"app.finding\"]");
    assert_eq!(
        c.psql(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'app.finding'::regclass AND attname = 'reviewed_at'"
        ),
        "0"
    );
    // The index alone, with alter but not index: refused too.
    let f = Fixture::new(&[CHANGE[4]], &format!("{READS}\nalter = [\"app.finding\"]"));
    c.host(&f.args("run", false, &[])).expect_code(4).expect("index = [\"app.finding\"]");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'finding_reviewed'"), "0");
}

#[test]
fn explain_names_the_lock_each_statement_holds_production_up_with_and_the_safer_form() {
    let f = Fixture::new(&CHANGE, &granted());
    let explain = |sql: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_host"))
            .current_dir(root())
            .args(["explain", &f.tier, "--data-dir", f.dir.path().join("data").to_str().unwrap(), sql])
            .env("HOST_COMPILE_CACHE", compile_cache())
            .output()
            .unwrap();
        Run::from(out)
    };
    explain("ALTER TABLE app.finding ALTER COLUMN n TYPE bigint")
        .expect_code(0)
        .expect("LOCK ACCESS EXCLUSIVE lock on app.finding, rewrites the table: every read and write on it waits")
        .expect("safer: add a column of the new type, backfill it in batches");
    explain("ALTER TABLE app.finding ADD CONSTRAINT c CHECK (n > 0)")
        .expect_code(0)
        .expect("reads every row under it")
        .expect("safer: add it NOT VALID, then VALIDATE CONSTRAINT in a later tier");
    explain("CREATE INDEX i ON app.finding (n)").expect_code(0).expect("LOCK SHARE lock on app.finding");
    // A validation holds no query up: no LOCK line.
    let v = explain("ALTER TABLE app.finding VALIDATE CONSTRAINT c");
    v.expect_code(0);
    assert!(!v.stdout.contains("LOCK "), "{}", v.stdout);
    // The reviewer reads which wall holds these lines.
    let g = std::process::Command::new(env!("CARGO_BIN_EXE_host"))
        .current_dir(root())
        .args(["grants", &f.tier, "--data-dir", f.dir.path().join("data").to_str().unwrap()])
        .env("HOST_COMPILE_CACHE", compile_cache())
        .output()
        .unwrap();
    Run::from(g)
        .expect_code(0)
        .expect("alter     app.finding  (checker only: PostgreSQL lets only the owner ALTER or index)");
}

#[test]
fn a_plan_altering_a_table_it_did_not_create_cannot_run_under_roles() {
    let c = Cluster::start("ddl-roles");
    c.psql(TABLES);
    let f = Fixture::new(&CHANGE, &granted());
    let mut a = vec!["roles", "apply"];
    a.extend(f.plan.iter().map(String::as_str));
    c.host(&a).expect_code(2).expect("alters or indexes app.finding, which it does not create");
}
