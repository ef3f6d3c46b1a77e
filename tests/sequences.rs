//! The sequence watch: a sequence's position is not transactional, so no
//! proof line ("nothing of it was kept", "nothing was committed", ROLLBACK
//! OK) may stand beside a sequence a plugin's transaction set back. Each
//! case runs the `seq-setback` fixture (its apply runs `apply.sql`, its
//! rollback `rollback.sql`) under grants that allow `setval` on
//! `app.label_id_seq`, whose table holds ids 1..100.

mod support;

use support::audit::VERIFY;
use support::*;

const SETUP: &str = "CREATE SCHEMA app;
CREATE TABLE app.label (id serial PRIMARY KEY, name text);
INSERT INTO app.label (name) SELECT 'l' || g FROM generate_series(1, 100) g;";

const GRANTS: &str = r#"read = ["app.label"]
insert = ["app.label"]
update = ["app.label_id_seq"]
sequences = ["app.label_id_seq"]
functions = ["pg_catalog.setval", "pg_catalog.nextval"]"#;

const SET_BACK: &str = "SELECT pg_catalog.setval('app.label_id_seq', 1)";
const DRAW: &str = "SELECT pg_catalog.nextval('app.label_id_seq')";
/// Fails the tier: id 1 exists.
const COLLIDE: &str = "INSERT INTO app.label (id, name) VALUES (1, 'again')";

/// A plan (verdict gate, the fixture, verdict verify) in a directory of its own.
struct Plan {
    _dir: tempfile::TempDir,
    paths: Vec<String>,
}

impl Plan {
    fn new(apply: &[&str], rollback: &[&str], grants: &str) -> Plan {
        Plan::of("seq-setback", apply, rollback, grants)
    }

    /// The same, with the tier the fixture `fixture` (`seq-batched`: one batch each way).
    fn of(fixture: &str, apply: &[&str], rollback: &[&str], grants: &str) -> Plan {
        let dir = tempfile::tempdir().expect("a plan directory");
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/apply.sql"), apply.join("\n") + "\n").unwrap();
        std::fs::write(dir.path().join("data/rollback.sql"), rollback.join("\n") + "\n").unwrap();
        let verdict = std::fs::read(root().join("tests/plugins/verdict.wasm")).expect("make test-plugins");
        let verify = dir.path().join("verify.wasm");
        std::fs::write(&verify, with_manifest(&verdict, VERIFY)).unwrap();
        let tier = dir.path().join("seq.wasm");
        let wasm = std::fs::read(root().join(format!("tests/plugins/{fixture}.wasm"))).expect("make test-plugins");
        let manifest = manifest_of(&wasm).replace("[limits]", &format!("[grants]\n{grants}\n\n[limits]"));
        std::fs::write(&tier, with_manifest(&wasm, &manifest)).unwrap();
        let paths = [root().join("tests/plugins/verdict.wasm"), tier, verify];
        Plan { paths: paths.iter().map(|p| p.display().to_string()).collect(), _dir: dir }
    }

    fn args<'a>(&'a self, verb: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = args(verb, &self.paths, &["--param", "verdict=ok"]);
        a.extend_from_slice(extra);
        a
    }
}

fn cluster(name: &str) -> Cluster {
    let c = Cluster::start(name);
    c.psql(SETUP);
    c
}

/// The sequence's position as `last_value/is_called`.
fn position(c: &Cluster) -> String {
    c.psql("SELECT last_value || '/' || is_called FROM app.label_id_seq")
}

/// No line says nothing was kept or committed, or ROLLBACK OK, unless it
/// also names the sequence the host moved forward again.
fn no_bare_proof(r: &Run) {
    for line in r.all().lines() {
        let proof = ["nothing of it was kept", "nothing was committed", "ROLLBACK OK", "nothing changed"];
        if proof.iter().any(|p| line.contains(p)) {
            assert!(line.contains("app.label_id_seq"), "a proof line without the sequence set back:\n{line}");
        }
    }
}

#[test]
fn a_tier_that_sets_a_sequence_back_then_fails_has_it_moved_forward_and_says_so() {
    let c = cluster("seq-fail");
    let plan = Plan::new(&[SET_BACK, COLLIDE], &[], GRANTS);
    let r = c.host(&plan.args("run", &[]));
    r.expect_code(4).expect("duplicate key").expect("it set back sequence app.label_id_seq from 100 to 1");
    r.expect("the host moved each forward again to its position at BEGIN");
    no_bare_proof(&r);
    assert_eq!(position(&c), "100/true", "the sequence is where it was at BEGIN");
    assert_eq!(c.psql("INSERT INTO app.label (name) VALUES ('next') RETURNING id"), "101");
    // The ledger's failure row carries it.
    let message = c.psql("SELECT message FROM rollout_ledger.tier_event WHERE plugin = 'test-seq-setback'");
    assert!(message.contains("app.label_id_seq from 100 to 1"), "{message}");
}

#[test]
fn a_tier_that_sets_a_sequence_back_and_would_commit_fails_and_is_not_applied() {
    let c = cluster("seq-commit");
    let plan = Plan::new(&[SET_BACK], &[], GRANTS);
    let r = c.host(&plan.args("run", &[]));
    r.expect_code(4).expect("a set-back sequence is never committed");
    no_bare_proof(&r);
    assert_eq!(position(&c), "100/true");
    assert_eq!(c.tier_states(), "test-seq-setback=failed");
}

#[test]
fn a_dry_run_that_sets_a_sequence_back_fails_and_moves_it_forward() {
    let c = cluster("seq-dry");
    let plan = Plan::new(&[SET_BACK], &[], GRANTS);
    let r = c.host(&plan.args("run", &["--dry-run"]));
    r.expect_code(4).expect("the dry run failed: it set a sequence back");
    assert!(!r.all().contains("DRY RUN COMPLETE"), "{}", r.all());
    no_bare_proof(&r);
    assert_eq!(position(&c), "100/true");
}

#[test]
fn values_drawn_in_a_rolled_back_tier_are_said_as_gaps() {
    let c = cluster("seq-gaps");
    let plan = Plan::new(&[DRAW, DRAW, DRAW, COLLIDE], &[], GRANTS);
    let r = c.host(&plan.args("run", &[]));
    r.expect_code(4).expect("nothing of it was kept; sequences drew 3 values (gaps)");
    assert_eq!(position(&c), "103/true");
    let r = c.host(&plan.args("run", &["--dry-run"]));
    r.expect("sequence app.label_id_seq drew 3 values: 103 → 106 (gaps: sequences do not roll back)");
}

#[test]
fn a_rollback_that_sets_a_sequence_back_is_not_rollback_ok() {
    let c = cluster("seq-rollback");
    let plan = Plan::new(&[DRAW, DRAW], &[SET_BACK], GRANTS);
    c.host(&plan.args("run", &[])).expect_code(0);
    assert_eq!(position(&c), "102/true");
    let r = c.host(&plan.args("rollback", &[]));
    r.expect_code(4).expect("the rollback failed: it set back sequence app.label_id_seq from 102 to 1");
    no_bare_proof(&r);
    assert_eq!(position(&c), "102/true", "moved forward to where production was, not to the tier's start");
    let states = "test-seq-setback=applied test-verdict-verify=verified";
    assert_eq!(c.tier_states(), states, "the rollback did not commit");
}

#[test]
fn a_batch_that_sets_a_sequence_back_fails_the_pass_in_apply_and_in_rollback() {
    let c = cluster("seq-batch");
    let plan = Plan::of("seq-batched", &[SET_BACK], &[], GRANTS);
    let r = c.host(&plan.args("run", &[]));
    r.expect_code(4).expect("batch 1 failed: it set back sequence app.label_id_seq from 100 to 1");
    r.expect("the host moved app.label_id_seq forward again to its position at BEGIN");
    assert_eq!(position(&c), "100/true");
    // A batched rollback: its batch sets the sequence back.
    let plan = Plan::of("seq-batched", &[DRAW], &[SET_BACK], GRANTS);
    c.host(&plan.args("run", &[])).expect_code(0);
    assert_eq!(position(&c), "101/true");
    let r = c.host(&plan.args("rollback", &[]));
    r.expect_code(4).expect("it set back sequence app.label_id_seq from 101 to 1");
    no_bare_proof(&r);
    assert_eq!(position(&c), "101/true");
}

#[test]
fn a_sequence_set_forward_passes_in_the_run_and_the_rollback() {
    let c = cluster("seq-forward");
    let forward = "SELECT pg_catalog.setval('app.label_id_seq', 500)";
    let plan = Plan::new(&[forward], &["SELECT pg_catalog.setval('app.label_id_seq', 600)"], GRANTS);
    c.host(&plan.args("run", &[])).expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!(position(&c), "500/true");
    c.host(&plan.args("rollback", &[])).expect_code(0).expect("ROLLBACK OK");
    assert_eq!(position(&c), "600/true");
}

/// A repair that cannot run: the host logs in as `operator`, who may read
/// the sequence but not set it; the tier sets it back through a reviewed
/// SECURITY DEFINER function. Production's sequence stays set back, and the
/// host says so with the SQL that fixes it and exit code 12.
#[test]
fn a_sequence_the_host_cannot_move_forward_is_said_with_the_sql_and_its_own_exit_code() {
    let c = cluster("seq-stuck");
    c.psql(
        "CREATE ROLE operator LOGIN;
         GRANT CREATE, CONNECT ON DATABASE directus TO operator;
         GRANT USAGE ON SCHEMA app TO operator;
         GRANT SELECT, INSERT ON app.label TO operator;
         GRANT SELECT, USAGE ON app.label_id_seq TO operator;
         CREATE FUNCTION app.set_label_back() RETURNS bigint LANGUAGE sql SECURITY DEFINER
           AS $$ SELECT pg_catalog.setval('app.label_id_seq', 1) $$;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO operator;
         DO $$ DECLARE s text; BEGIN
           FOR s IN SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' LOOP
             EXECUTE format('GRANT USAGE ON SCHEMA %I TO operator', s);
             EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO operator', s);
           END LOOP; END $$;",
    );
    let grants = format!("{GRANTS}\n").replace(
        "functions = [\"pg_catalog.setval\", \"pg_catalog.nextval\"]",
        "functions = [\"pg_catalog.setval\", \"pg_catalog.nextval\", \"app.set_label_back\"]",
    );
    let plan = Plan::new(&["SELECT app.set_label_back()", COLLIDE], &[], &grants);
    let mut cmd = c.host_cmd(&plan.args("run", &[]));
    cmd.env("PGUSER", "operator");
    let r = Run::from(cmd.output().expect("run host"));
    r.expect_code(12).expect("production's sequence app.label_id_seq is set back at 1");
    let oid = c.psql("SELECT 'app.label_id_seq'::regclass::oid");
    r.expect(&format!(
        "SELECT pg_catalog.setval({oid}::pg_catalog.regclass, 100, true) WHERE \
         pg_catalog.to_regclass('\"app\".\"label_id_seq\"') = {oid}::pg_catalog.regclass;"
    ));
    assert!(!r.all().contains("nothing of it was kept"), "{}", r.all());
    assert_eq!(position(&c), "1/true", "the host could not move it");
}

/// Grants that also allow `pg_sleep`, so a test can act while the tier runs.
fn sleepy() -> String {
    GRANTS.replace("\"pg_catalog.nextval\"]", "\"pg_catalog.nextval\", \"pg_catalog.pg_sleep\"]")
}

/// Waits until a session other than psql's runs a statement containing `text`.
fn wait_for_statement(c: &Cluster, text: &str) {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%{text}%' \
         AND state = 'active'"
    );
    for _ in 0..600 {
        if c.scalar(&sql) > 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no session ran {text}");
}

/// A sequence read at BEGIN that another session holds in ACCESS EXCLUSIVE
/// mode before COMMIT cannot be read: the step cannot be proven and fails
/// as a set-back does, naming the sequence and the session holding it.
#[test]
fn a_sequence_another_session_holds_before_commit_fails_the_step_as_unread() {
    let c = cluster("seq-held");
    let plan = Plan::new(&["SELECT pg_catalog.pg_sleep(3)::text"], &[], &sleepy());
    let host = c.spawn(&plan.args("run", &[]));
    wait_for_statement(&c, "pg_sleep(3)");
    // A DBA's rename, held open: ACCESS EXCLUSIVE on the sequence.
    let mut holder = c
        .psql_cmd()
        .args(["-c", "BEGIN; ALTER SEQUENCE app.label_id_seq RENAME TO held; SELECT pg_sleep(30); ROLLBACK;"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let r = Run::from(host.wait_with_output().expect("host"));
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%RENAME TO held%' AND pid <> pg_backend_pid()");
    let _ = holder.wait();
    r.expect_code(4).expect("sequence app.label_id_seq could not be read (backend pid");
    r.expect("the step cannot prove it did not set it back, so it is not committed");
    assert!(!r.all().contains("ROLLOUT COMPLETE"), "{}", r.all());
    assert_eq!(c.tier_states(), "test-seq-setback=failed");
}

/// An interrupted tier that set a sequence back: the interrupt's failure
/// (exit 130, not a tier failure) says the host moved it forward again.
#[test]
fn an_interrupted_tier_that_set_a_sequence_back_says_it_was_moved_forward() {
    let c = cluster("seq-interrupt");
    let plan = Plan::new(&[SET_BACK, "SELECT pg_catalog.pg_sleep(30)::text"], &[], &sleepy());
    let host = c.spawn(&plan.args("run", &[]));
    wait_for_statement(&c, "pg_sleep(30)");
    assert_eq!(position(&c), "1/true", "set back while the tier runs");
    let ok = std::process::Command::new("kill").args(["-INT", &host.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let r = Run::from(host.wait_with_output().expect("host"));
    r.expect_code(130).expect("interrupted by the operator");
    let last = r.all().lines().rfind(|l| l.contains("interrupted by the operator")).unwrap_or("").to_string();
    assert!(last.contains("the host moved each forward again to its position at BEGIN"), "{last}");
    assert_eq!(position(&c), "100/true");
    let message = c.psql("SELECT message FROM rollout_ledger.tier_event WHERE plugin = 'test-seq-setback'");
    assert!(message.contains("app.label_id_seq from 100 to 1"), "{message}");
}

/// A hostile sequence name (quotes, a newline, a terminal escape) in the
/// SQL the host prints when it cannot move the sequence forward: the SQL
/// is printable, names the sequence by oid, and run as printed it moves
/// exactly that sequence forward.
#[test]
fn the_repair_sql_of_a_hostile_sequence_name_is_printable_and_moves_that_sequence() {
    let c = cluster("seq-hostile");
    c.psql(
        "DO $$ BEGIN EXECUTE format('CREATE SEQUENCE app.%I', E'it''s\"\\n\\x1b[31mred'); END $$;
         CREATE ROLE operator LOGIN;
         GRANT CREATE, CONNECT ON DATABASE directus TO operator;
         GRANT USAGE ON SCHEMA app TO operator;
         GRANT SELECT, INSERT ON app.label TO operator;
         CREATE FUNCTION app.set_hostile_back() RETURNS bigint LANGUAGE sql SECURITY DEFINER
           AS $$ SELECT pg_catalog.setval(pg_catalog.format('app.%I', E'it''s\"\\n\\x1b[31mred')::regclass, 1) $$;
         SELECT pg_catalog.setval(pg_catalog.format('app.%I', E'it''s\"\\n\\x1b[31mred')::regclass, 500);
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO operator;
         DO $$ DECLARE s text; BEGIN
           FOR s IN SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' LOOP
             EXECUTE format('GRANT USAGE ON SCHEMA %I TO operator', s);
             EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO operator', s);
           END LOOP; END $$;",
    );
    let grants = GRANTS.replace("\"pg_catalog.nextval\"]", "\"pg_catalog.nextval\", \"app.set_hostile_back\"]");
    let plan = Plan::new(&["SELECT app.set_hostile_back()", COLLIDE], &[], &grants);
    let mut cmd = c.host_cmd(&plan.args("run", &[]));
    cmd.env("PGUSER", "operator");
    let r = Run::from(cmd.output().expect("run host"));
    r.expect_code(12);
    assert!(!r.all().contains('\u{1b}'), "a raw escape reached the terminal:\n{}", r.all());
    let oid = c.psql("SELECT oid FROM pg_class WHERE relname = E'it''s\"\\n\\x1b[31mred'");
    let sql = format!(
        "SELECT pg_catalog.setval({oid}::pg_catalog.regclass, 500, true) WHERE \
         pg_catalog.to_regclass(E'\"app\".\"it''s\"\"\\n\\x1b[31mred\"') = {oid}::pg_catalog.regclass;"
    );
    r.expect(&sql);
    let position = |c: &Cluster| c.psql(&format!("SELECT last_value FROM pg_sequence_last_value({oid}) AS last_value"));
    assert_eq!(position(&c), "1", "the host could not move it");
    // Run as printed, it moves that sequence, and only while its name names it.
    assert_eq!(c.psql(&sql), "500");
    assert_eq!(position(&c), "500");
    c.psql("ALTER SEQUENCE app.label_id_seq RENAME TO spare");
    c.psql(&format!("ALTER SEQUENCE app.{} RENAME TO label_id_seq", "\"it's\"\"\n\u{1b}[31mred\""));
    assert_eq!(c.psql(&sql.replace("500, true", "600, true")), "", "a renamed sequence is not set");
}

/// A batched pass reads the sequences once a batch: batch 2's BEGIN
/// reading is batch 1's before COMMIT. A set-back in batch 2 is still
/// caught against it, and moved forward to where batch 2 began.
#[test]
fn a_set_back_in_a_later_batch_is_caught_against_the_reading_carried_from_the_last_commit() {
    let c = cluster("seq-carry");
    let plan = Plan::of("seq-batched", &[DRAW, DRAW, "-- batch", DRAW, SET_BACK], &[], GRANTS);
    let r = c.host(&plan.args("run", &[]));
    r.expect_code(4).expect("batch 2 failed: it set back sequence app.label_id_seq from 102 to 1");
    assert_eq!(position(&c), "102/true", "moved forward to where batch 2 began");
}

/// The one sequence a reading before COMMIT passes over: one the step's
/// own transaction holds in ACCESS EXCLUSIVE mode (it drops the table that
/// owns it). The tier commits.
#[test]
fn a_tier_that_drops_the_table_owning_a_sequence_commits() {
    let c = cluster("seq-drop");
    let grants = format!("{GRANTS}\ndrop = [\"app.label\"]");
    let plan = Plan::new(&["DROP TABLE app.label"], &[], &grants);
    let r = c.host(&plan.args("run", &[]));
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    let left = "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app'";
    assert_eq!(c.psql(left), "0", "the table and its sequence are dropped");
}
