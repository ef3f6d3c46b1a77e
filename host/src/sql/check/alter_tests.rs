//! DDL on existing relations: each form allowed with its grant and refused
//! without, the forms that stay refused with their reason, and the lock
//! each takes.

use super::*;
use crate::manifest::Grants;

fn grants() -> Grants {
    Grants {
        read: vec!["app.team".into()],
        references: vec!["app.team".into()],
        alter: vec!["app.finding".into()],
        index: vec!["app.finding".into()],
        drop: vec!["app.finding_team_idx".into()],
        create: vec!["app.finding_id2_seq".into()],
        functions: vec!["app.granted_fn".into()],
        ..Grants::default()
    }
}

fn check(sql: &str) -> Result<Checked, Refusal> {
    Checker::new(&grants(), false).check(sql, 0)
}

fn refused(sql: &str) -> String {
    match check(sql) {
        Ok(c) => panic!("allowed: {sql} (sent as {})", c.sql),
        Err(r) => r.to_string(),
    }
}

#[test]
fn the_changes_a_schema_change_is_made_of_pass_with_the_alter_grant() {
    for sql in [
        "ALTER TABLE app.finding ADD COLUMN reviewed_at timestamptz",
        "ALTER TABLE app.finding ADD COLUMN state text NOT NULL DEFAULT 'new'",
        "ALTER TABLE app.finding DROP COLUMN state",
        "ALTER TABLE app.finding ALTER COLUMN state TYPE varchar(20)",
        "ALTER TABLE app.finding ALTER COLUMN n TYPE bigint USING n::bigint",
        "ALTER TABLE app.finding ALTER COLUMN state SET DEFAULT 'new'",
        "ALTER TABLE app.finding ALTER COLUMN state DROP DEFAULT",
        "ALTER TABLE app.finding ALTER COLUMN state SET NOT NULL",
        "ALTER TABLE app.finding ALTER COLUMN state DROP NOT NULL",
        "ALTER TABLE app.finding ADD CONSTRAINT state_known CHECK (state IN ('new', 'done')) NOT VALID",
        "ALTER TABLE app.finding VALIDATE CONSTRAINT state_known",
        "ALTER TABLE app.finding ADD CONSTRAINT finding_team FOREIGN KEY (team) REFERENCES app.team (code) NOT VALID",
        "ALTER TABLE app.finding DROP CONSTRAINT state_known",
        "ALTER TABLE app.finding RENAME COLUMN state TO status",
        "ALTER TABLE app.finding RENAME CONSTRAINT state_known TO status_known",
        "ALTER TABLE app.finding ADD COLUMN score int DEFAULT app.granted_fn()",
        "ALTER TABLE app.finding ADD COLUMN id2 serial",
        "ALTER TABLE app.finding ADD CONSTRAINT finding_pk PRIMARY KEY (id)",
        "COMMENT ON TABLE app.finding IS 'findings'",
        "COMMENT ON COLUMN app.finding.state IS 'the review state'",
        "CREATE INDEX finding_team_idx ON app.finding (team)",
        "CREATE UNIQUE INDEX IF NOT EXISTS finding_open ON app.finding (team, lower(state)) WHERE state <> 'done'",
        "CREATE INDEX finding_gin ON app.finding USING gin (tags jsonb_path_ops)",
        "DROP INDEX app.finding_team_idx",
    ] {
        if let Err(r) = check(sql) {
            panic!("refused: {sql}: {r}");
        }
    }
}

#[test]
fn each_needs_the_grant_of_its_table_and_a_refusal_names_the_line() {
    let ungranted = [
        ("ALTER TABLE app.team ADD COLUMN x int", "alter = [\"app.team\"]"),
        ("COMMENT ON TABLE app.team IS 'x'", "alter = [\"app.team\"]"),
        ("ALTER TABLE app.team RENAME COLUMN a TO b", "alter = [\"app.team\"]"),
        ("CREATE INDEX t_idx ON app.team (code)", "index = [\"app.team\"]"),
        ("DROP INDEX app.team_pkey", "drop = [\"app.team_pkey\"]"),
    ];
    for (sql, line) in ungranted {
        let r = refused(sql);
        assert!(r.contains(line), "{sql}: {r}");
    }
    // What the definition names is a grant question too.
    let inside = [
        ("ALTER TABLE app.finding ADD COLUMN x int DEFAULT app.other_fn()", "functions = [\"app.other_fn\"]"),
        ("ALTER TABLE app.finding ALTER COLUMN n TYPE int USING app.other_fn(n)", "functions"),
        ("ALTER TABLE app.finding ADD CONSTRAINT c CHECK (app.other_fn(n) > 0)", "functions"),
        (
            "ALTER TABLE app.finding ADD CONSTRAINT f FOREIGN KEY (t) REFERENCES app.secret (id)",
            "references = [\"app.secret\"]",
        ),
        ("ALTER TABLE app.finding ADD COLUMN t2 text REFERENCES app.secret (id)", "references = [\"app.secret\"]"),
        ("CREATE INDEX i ON app.finding (app.other_fn(n))", "functions"),
        ("CREATE INDEX i ON app.finding (n) WHERE n > (SELECT max(x) FROM app.secret)", "app.secret"),
        ("ALTER TABLE app.finding ADD COLUMN id3 serial", "create = [\"app.finding_id3_seq\"]"),
    ];
    for (sql, needs) in inside {
        let r = refused(sql);
        assert!(r.contains(needs), "{sql}: {r}");
    }
    // A foreign key needs references, not read: it installs triggers on
    // the table it points at and holds that table's writes.
    let read_only = Grants { read: vec!["app.team".into()], alter: vec!["app.finding".into()], ..Grants::default() };
    let r = Checker::new(&read_only, false)
        .check("ALTER TABLE app.finding ADD CONSTRAINT f FOREIGN KEY (team) REFERENCES app.team (code) NOT VALID", 0)
        .unwrap_err();
    assert!(r.to_string().contains("references = [\"app.team\"]"), "{r}");
    // A PRIMARY KEY builds an index: the index grant too.
    let only_alter = Grants { alter: vec!["app.finding".into()], ..Grants::default() };
    let r = Checker::new(&only_alter, false).check("ALTER TABLE app.finding ADD PRIMARY KEY (id)", 0).unwrap_err();
    assert!(r.to_string().contains("index = [\"app.finding\"]"), "{r}");
    let r = Checker::new(&only_alter, false).check("ALTER TABLE app.finding ADD COLUMN k int UNIQUE", 0).unwrap_err();
    assert!(r.to_string().contains("index = [\"app.finding\"]"), "{r}");
}

#[test]
fn forms_that_reach_past_the_table_stay_refused_with_their_reason() {
    let cases = [
        ("ALTER TABLE app.finding OWNER TO postgres", "owner"),
        ("ALTER TABLE app.finding SET TABLESPACE pg_default", "stored"),
        ("ALTER TABLE app.finding SET UNLOGGED", "stored"),
        ("ALTER TABLE app.finding DISABLE TRIGGER ALL", "triggers"),
        ("ALTER TABLE app.finding DISABLE ROW LEVEL SECURITY", "row security"),
        ("ALTER TABLE app.finding ATTACH PARTITION app.team FOR VALUES IN (1)", "relations no grant names"),
        ("ALTER TABLE app.finding INHERIT app.team", "relations no grant names"),
        ("ALTER TABLE app.finding SET (fillfactor = 50)", "storage"),
        ("ALTER TABLE app.finding ALTER COLUMN n SET STATISTICS 1000", "storage"),
        ("ALTER TABLE app.finding REPLICA IDENTITY FULL", "replication"),
        ("ALTER TABLE app.finding DROP COLUMN state CASCADE", "CASCADE"),
        ("ALTER TABLE app.finding DROP CONSTRAINT c CASCADE", "CASCADE"),
        ("ALTER TABLE app.finding ALTER COLUMN n ADD GENERATED ALWAYS AS IDENTITY", "sequence"),
        ("ALTER TABLE app.finding ADD CONSTRAINT k UNIQUE USING INDEX finding_team_idx", "an existing index"),
        ("ALTER TABLE app.finding DROP COLUMN xmin", "system column"),
        ("ALTER INDEX app.finding_team_idx RENAME TO x", "RENAME"),
        ("ALTER INDEX app.finding_team_idx SET (fillfactor = 50)", "only ALTER TABLE"),
        ("ALTER TABLE app.finding RENAME TO finding2", "renaming a table"),
        ("ALTER TABLE app.finding SET SCHEMA public", "another schema"),
        ("COMMENT ON FUNCTION app.granted_fn() IS 'x'", "only COMMENT ON TABLE"),
        ("CREATE INDEX CONCURRENTLY i ON app.finding (n)", "CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY app.finding_team_idx", "CONCURRENTLY"),
        ("DROP INDEX app.finding_team_idx CASCADE", "CASCADE"),
        ("CREATE INDEX i ON app.finding (n) TABLESPACE pg_default", "TABLESPACE"),
        ("CREATE INDEX i ON app.finding (n) WITH (fillfactor = 50)", "storage parameters"),
        ("CREATE INDEX i ON app.finding (n public.my_ops)", "operator class"),
        ("CREATE INDEX i ON app.finding USING my_am (n)", "access method"),
        ("CREATE INDEX i ON app.finding USING gist (n)", "name each element's operator class"),
        ("ALTER TABLE app.finding ADD COLUMN c text STORAGE external", "STORAGE / COMPRESSION"),
        ("ALTER TABLE app.finding ADD COLUMN c text COMPRESSION lz4", "STORAGE / COMPRESSION"),
        ("CREATE INDEX i ON app.finding (ctid)", "system column"),
        ("CREATE VIEW app.v WITH (security_invoker) AS SELECT 1", "security_invoker"),
        ("ALTER TYPE app.state RENAME VALUE 'x' TO 'y'", "RENAME VALUE is not allowed"),
        ("CREATE TRIGGER t BEFORE INSERT ON app.finding FOR EACH ROW EXECUTE FUNCTION app.granted_fn()", "code"),
    ];
    for (sql, why) in cases {
        let r = refused(sql);
        assert!(r.contains(why), "{sql}: {r}");
    }
    // Read-only calls send no DDL at all.
    let r = Checker::new(&grants(), true).check("ALTER TABLE app.finding ADD COLUMN x int", 0).unwrap_err();
    assert!(r.to_string().contains("read-only"), "{r}");
}

#[test]
fn each_statement_says_the_lock_it_takes_and_what_it_costs() {
    let lock = |sql: &str| check(sql).unwrap().lock.expect("a DDL lock");
    let l = lock("ALTER TABLE app.finding ALTER COLUMN n TYPE bigint");
    assert_eq!((l.mode, l.rewrite), (LockMode::AccessExclusive, true));
    assert!(l.holds_production_up() && l.safer.is_some());
    assert!(l.describe().starts_with("ACCESS EXCLUSIVE lock on app.finding, rewrites the table"), "{}", l.describe());
    let l = lock("ALTER TABLE app.finding ADD COLUMN reviewed_at timestamptz");
    assert_eq!((l.mode, l.rewrite, l.scan), (LockMode::AccessExclusive, false, false));
    let l = lock("ALTER TABLE app.finding ADD COLUMN at timestamptz DEFAULT now()");
    assert!(l.rewrite, "a default that calls a function may rewrite the table");
    let l = lock("ALTER TABLE app.finding VALIDATE CONSTRAINT c");
    assert_eq!(l.mode, LockMode::ShareUpdateExclusive);
    assert!(!l.holds_production_up());
    let l = lock("ALTER TABLE app.finding ADD CONSTRAINT f FOREIGN KEY (team) REFERENCES app.team (code) NOT VALID");
    assert_eq!((l.mode, l.scan), (LockMode::ShareRowExclusive, false));
    assert_eq!(l.relation, "app.finding and app.team", "the referenced table's writes wait too");
    let l = lock("ALTER TABLE app.finding ADD COLUMN z int DEFAULT 0 CHECK (z >= 0)");
    assert!(l.scan, "a column's CHECK reads every row");
    let l = lock("ALTER TABLE app.finding ADD COLUMN z text REFERENCES app.team (code)");
    assert!(l.scan && l.relation == "app.finding and app.team", "{l:?}");
    let l = lock("ALTER TABLE app.finding ADD CONSTRAINT c CHECK (n > 0)");
    assert!(l.scan && l.safer.is_some_and(|s| s.contains("NOT VALID")), "{l:?}");
    let l = lock("CREATE INDEX i ON app.finding (n)");
    assert_eq!((l.mode, l.scan), (LockMode::Share, true));
    // The strongest of several sub-commands.
    let l = lock("ALTER TABLE app.finding VALIDATE CONSTRAINT c, ALTER COLUMN n SET NOT NULL");
    assert_eq!(l.mode, LockMode::AccessExclusive);
    assert!(check("SELECT code FROM app.team").unwrap().lock.is_none());
}

/// The worked examples of docs/tier-author.md pass with the grants they
/// show, and each refused without its line.
#[test]
fn the_tier_author_guides_worked_examples_pass_with_their_grants() {
    let column = Grants {
        read: vec!["app.finding".into()],
        update: vec!["app.finding".into()],
        alter: vec!["app.finding".into()],
        index: vec!["app.finding".into()],
        drop: vec!["app.finding_reviewed".into()],
        ..Grants::default()
    };
    let key = Grants {
        read: vec!["app.finding".into(), "app.team".into()],
        references: vec!["app.team".into()],
        alter: vec!["app.finding".into()],
        ..Grants::default()
    };
    let cases: [(&Grants, &str, bool); 9] = [
        (&column, "ALTER TABLE app.finding ADD COLUMN reviewed_at timestamptz", false),
        (&column, "UPDATE app.finding SET reviewed_at = '2026-01-01' WHERE state = 'done'", false),
        (&column, "CREATE INDEX finding_reviewed ON app.finding (reviewed_at) WHERE reviewed_at IS NOT NULL", false),
        (&column, "SELECT count(*) FROM app.finding WHERE state = 'done' AND reviewed_at IS NULL", true),
        (&column, "DROP INDEX IF EXISTS app.finding_reviewed", false),
        (&column, "ALTER TABLE app.finding DROP COLUMN IF EXISTS reviewed_at", false),
        (&column, "SELECT count(*) FROM app.finding f WHERE to_jsonb(f) ? 'reviewed_at'", true),
        (
            &key,
            "ALTER TABLE app.finding ADD CONSTRAINT finding_team FOREIGN KEY (team) REFERENCES app.team (code) NOT VALID",
            false,
        ),
        (&key, "ALTER TABLE app.finding VALIDATE CONSTRAINT finding_team", false),
    ];
    for (g, sql, read_only) in cases {
        if let Err(r) = Checker::new(g, read_only).check(sql, 0) {
            panic!("refused: {sql}: {r}");
        }
        if !read_only {
            assert!(Checker::new(&Grants::default(), false).check(sql, 0).is_err(), "{sql} passed without grants");
        }
    }
    let orphans = "SELECT count(*) FROM app.finding f WHERE f.team IS NOT NULL \
                   AND NOT EXISTS (SELECT 1 FROM app.team t WHERE t.code = f.team)";
    if let Err(r) = Checker::new(&key, true).check(orphans, 0) {
        panic!("refused: {orphans}: {r}");
    }
}
