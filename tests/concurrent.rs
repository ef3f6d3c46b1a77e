//! Concurrent tiers (`mode = "concurrent"`), on a real server through the
//! real binary: `CREATE INDEX CONCURRENTLY` runs as a step outside a
//! transaction with the table's `index` grant and is refused without it, or
//! in a transactional tier; a build interrupted by SIGKILL of the host or
//! by a lost connection leaves an INVALID index that the next `host run`
//! or `host rollback` drops; a rerun is idempotent and never keeps an
//! INVALID index through IF NOT EXISTS; the rollback drops the index; the
//! dry run checks the step without sending it.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::audit::Fixture;
use support::*;

const TABLES: &str = "CREATE SCHEMA app;
CREATE TABLE app.finding (id int PRIMARY KEY, team text, n int);
INSERT INTO app.finding SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g FROM generate_series(1, 1000) g;";

const BUILD: &str = "CREATE INDEX CONCURRENTLY IF NOT EXISTS finding_n_cic ON app.finding (n)";
const DROP: &str = "DROP INDEX CONCURRENTLY IF EXISTS app.finding_n_cic";
const VALID: &str = "SELECT count(*) FROM pg_catalog.pg_index WHERE indisvalid \
                     AND indexrelid IN (SELECT oid FROM pg_catalog.pg_class WHERE relname = 'finding_n_cic')";
const GONE: &str = "SELECT 1 - count(*) FROM pg_catalog.pg_class WHERE relname = 'finding_n_cic'";

const READS: &str = "read = [\"app.finding\", \"pg_catalog.pg_index\", \"pg_catalog.pg_class\"]";

fn granted() -> String {
    format!("{READS}\nindex = [\"app.finding\"]\ndrop = [\"app.finding_n_cic\"]")
}

/// The plan gate, tier, verify with the concurrent fixture as the tier:
/// `apply` and `rollback` its statements, `mode` its mode line (none: the
/// default), `limits` extra `[limits]` lines.
fn case(apply: &[&str], rollback: &[&str], grants: &str, mode: Option<&str>, limits: &str) -> Fixture {
    let f = Fixture::new(&[], READS);
    let data = f.dir.path().join("data");
    std::fs::write(data.join("apply.sql"), apply.join("\n") + "\n").unwrap();
    std::fs::write(data.join("rollback.sql"), rollback.join("\n") + "\n").unwrap();
    std::fs::write(data.join("valid.sql"), VALID).unwrap();
    std::fs::write(data.join("gone.sql"), GONE).unwrap();
    let mode = mode.map(|m| format!("mode = \"{m}\"\n")).unwrap_or_default();
    let manifest = format!(
        r#"name = "test-concurrent"
kind = "tier"
{mode}ordinal = 1
description = "Concurrent tier fixture (tests/concurrent.rs)."
databases = ["directus"]
files = ["apply.sql", "rollback.sql", "valid.sql", "gone.sql"]
post_conditions = ["index_valid"]
rollback_conditions = ["index_gone"]

[grants]
{grants}

[limits]
statements = 20
{limits}
"#
    );
    let wasm = std::fs::read(root().join("tests/plugins/concurrent.wasm")).expect("make test-plugins");
    std::fs::write(&f.tier, with_manifest(&wasm, &manifest)).unwrap();
    f
}

fn verb<'a>(f: &'a Fixture, verb: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = args(verb, &f.plan, &["--param", "verdict=ok"]);
    a.extend_from_slice(extra);
    a
}

fn invalid(c: &Cluster) -> i64 {
    c.scalar("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid")
}

fn valid(c: &Cluster) -> i64 {
    c.scalar(VALID)
}

/// `state` rows of the fixture's concurrent steps, in order, as
/// `phase:seq:state:object`.
fn steps(c: &Cluster) -> String {
    c.psql(
        "SELECT coalesce(string_agg(phase || ':' || seq || ':' || state || ':' || object, ' ' ORDER BY id), '')
         FROM rollout_ledger.step WHERE plugin = 'test-concurrent' AND kind = 'concurrent'",
    )
}

#[test]
fn a_concurrent_index_is_built_with_its_index_grant_and_refused_without() {
    let c = Cluster::start("cic-grant");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], READS, Some("concurrent"), "");
    c.host(&verb(&f, "run", &[])).expect_code(4).expect("index = [\"app.finding\"]");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'finding_n_cic'"), "0");
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), "");
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(0).expect("ROLLOUT COMPLETE").expect("Built index app.finding_n_cic in");
    assert_eq!(valid(&c), 1);
    // Recorded before it was sent and after, with the index it built.
    assert_eq!(steps(&c), "apply:1:started:\"app\".\"finding_n_cic\" apply:1:done:\"app\".\"finding_n_cic\"");
    assert_eq!(c.tier_states(), "test-concurrent=applied test-verdict-verify=verified");
}

#[test]
fn concurrently_is_refused_in_a_transactional_tier_and_a_concurrent_tier_sends_only_steps_and_reads() {
    let c = Cluster::start("cic-refused");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), None, "");
    c.host(&verb(&f, "run", &[]))
        .expect_code(4)
        .expect("CREATE INDEX CONCURRENTLY cannot run inside the tier's transaction")
        .expect("mode = \"concurrent\"");
    let unnamed = "CREATE INDEX CONCURRENTLY ON app.finding (n)";
    let f = case(&[unnamed], &[DROP], &granted(), Some("concurrent"), "");
    c.host(&verb(&f, "run", &[])).expect_code(4).expect("CREATE INDEX CONCURRENTLY must name its index");
    let plain = "CREATE INDEX finding_n_cic ON app.finding (n)";
    let f = case(&[plain], &[DROP], &granted(), Some("concurrent"), "");
    c.host(&verb(&f, "run", &[])).expect_code(4).expect("a concurrent tier (mode = \"concurrent\") may send only");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'finding_n%'"), "0");
}

/// Records in the ledger that a step of `plugin` built from `sha256`
/// started building app.finding_n_cic and never finished.
fn left_by(c: &Cluster, plugin: &str, sha256: &str) {
    c.psql(&format!(
        "INSERT INTO rollout_ledger.step (rollout_id, plugin, ordinal, sha256, phase, kind, seq, state, object)
         VALUES ((SELECT max(id) FROM rollout_ledger.rollout), '{plugin}', 1, '{sha256}', 'apply', 'concurrent', 1,
                 'started', '\"app\".\"finding_n_cic\"')"
    ));
}

#[test]
fn a_rerun_never_keeps_an_invalid_index_and_the_rollback_drops_it() {
    let c = Cluster::start("cic-rerun");
    c.psql(TABLES);
    // A failed build leaves an INVALID index of the step's name, which
    // IF NOT EXISTS alone would keep.
    let failed = c
        .psql_cmd()
        .args(["-q", "-c"])
        .arg("CREATE UNIQUE INDEX CONCURRENTLY finding_n_cic ON app.finding (team)")
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert_eq!(invalid(&c), 1, "the fixture's failed build left an INVALID index");
    let f = case(&[BUILD, BUILD], &[DROP, DROP], &granted(), Some("concurrent"), "");
    c.host(&verb(&f, "run", &["--dry-run"]))
        .expect_code(0)
        .expect("checked, not sent (runs outside a transaction)")
        .expect("post-conditions of tier 1 (test-concurrent): its steps run outside a transaction and were not sent");
    assert_eq!(invalid(&c), 1, "the dry run sent nothing");
    // Production left it (psql above), then a plugin of the same name but
    // other bytes: not this plugin's to drop, named with its statement.
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&f.tier).unwrap()));
    for left in [None, Some("0".repeat(64))] {
        if let Some(other) = &left {
            left_by(&c, "test-concurrent", other);
        }
        let r = c.host(&verb(&f, "run", &[]));
        r.expect_code(4)
            .expect("that no unfinished step of test-concurrent (sha256")
            .expect("DROP INDEX CONCURRENTLY IF EXISTS \"app\".\"finding_n_cic\"");
        assert!(!r.all().contains("Recovered"), "{}", r.all());
        assert_eq!(invalid(&c), 1, "another's INVALID index was dropped:\n{}", r.all());
    }
    // This plugin's bytes left it: the recovery drops it, and the same
    // build twice in one apply: the second is a no-op.
    left_by(&c, "test-concurrent", &sha256);
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(0).expect("Recovered").expect("dropped INVALID index \"app\".\"finding_n_cic\"");
    assert_eq!((invalid(&c), valid(&c)), (0, 1));
    let r = c.host(&verb(&f, "rollback", &[]));
    r.expect_code(0).expect("FULL ROLLBACK OK").expect("Dropped index app.finding_n_cic");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'finding_n_cic'"), "0");
    assert!(c.tier_states().starts_with("test-concurrent=rolled_back "), "{}", c.tier_states());
    assert!(
        steps(&c).ends_with("rollback:2:started:\"app\".\"finding_n_cic\" rollback:2:done:\"app\".\"finding_n_cic\"")
    );
}

/// A session holding a write on the table open, so a concurrent build
/// waits for it (after its INVALID catalog row is committed).
fn blocker(c: &Cluster) -> Child {
    c.psql_cmd()
        .args(["-q", "-c"])
        .arg("BEGIN; SET application_name = 'blocker'; INSERT INTO app.finding VALUES (-1, 'a', -1); SELECT pg_sleep(120)")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(c: &Cluster, what: &str, sql: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while c.psql(sql) != "t" {
        assert!(Instant::now() < until, "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const BUILDING: &str = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' \
                        AND wait_event_type = 'Lock')";
const NOT_BUILDING: &str =
    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%')";

/// Starts `host run`, waits until its build waits on the blocker, and
/// interrupts it with `interrupt`; returns when the build has ended on the
/// server and the blocker is gone, with the INVALID index left behind.
fn interrupted(c: &Cluster, f: &Fixture, interrupt: impl FnOnce(&Cluster, &mut Child)) {
    let mut block = blocker(c);
    wait_for(c, "the blocker", "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'blocker')");
    let mut host = c.spawn(&verb(f, "run", &[]));
    wait_for(c, "the build to wait", BUILDING);
    interrupt(c, &mut host);
    let _ = host.wait();
    wait_for(c, "the build to end on the server", NOT_BUILDING);
    let _ = block.kill();
    let _ = block.wait();
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'blocker'");
    assert_eq!(invalid(c), 1, "the interrupted build left its INVALID index");
    // Started, never done (a lost connection gets its `failed` row too).
    let recorded = steps(c);
    assert!(recorded.starts_with("apply:1:started:\"app\".\"finding_n_cic\""), "{recorded}");
    assert!(!recorded.contains(":done:"), "{recorded}");
}

/// Long lock waits, so the build waits on the blocker until interrupted.
const PATIENT: &str = "ddl_lock_timeout_ms = 60000\nstatement_timeout_ms = 120000\nwall_time_ms = 120000";

fn sigkill(_: &Cluster, host: &mut Child) {
    host.kill().unwrap();
}

#[test]
fn a_build_whose_host_was_killed_is_recovered_by_the_next_run() {
    let c = Cluster::start("cic-kill-run");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), PATIENT);
    interrupted(&c, &f, sigkill);
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(0).expect("Recovered").expect("ROLLOUT COMPLETE");
    assert_eq!((invalid(&c), valid(&c)), (0, 1));
}

#[test]
fn a_build_whose_host_was_killed_is_recovered_by_the_rollback() {
    let c = Cluster::start("cic-kill-rollback");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), PATIENT);
    interrupted(&c, &f, sigkill);
    c.host(&verb(&f, "rollback", &[])).expect_code(0).expect("Recovered");
    assert_eq!(invalid(&c), 0);
}

#[test]
fn a_build_whose_connection_was_lost_is_recovered_by_the_rollback_and_the_next_run() {
    let c = Cluster::start("cic-lost");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), PATIENT);
    interrupted(&c, &f, |c, _| {
        c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%'");
    });
    c.host(&verb(&f, "rollback", &[])).expect_code(0).expect("Recovered");
    assert_eq!(invalid(&c), 0);
    c.host(&verb(&f, "run", &[])).expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!((invalid(&c), valid(&c)), (0, 1));
}

/// A write open on the table for `seconds`: a build waits for it.
fn brief_blocker(c: &Cluster, seconds: f64) -> Child {
    c.psql_cmd()
        .args(["-q", "-c"])
        .arg(format!(
            "BEGIN; SET application_name = 'blocker'; INSERT INTO app.finding VALUES (-1, 'a', -1); \
             SELECT pg_sleep({seconds}); ROLLBACK"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_build_blocked_past_its_lock_wait_retries_and_fails_cleanly_when_the_retries_are_spent() {
    let c = Cluster::start("cic-retry");
    c.psql(TABLES);
    let blocked = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'blocker')";
    // Blocked for 1.5 s, 200 ms per attempt: it retries (each attempt's
    // INVALID index dropped first) and builds once the writer is gone.
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), "ddl_lock_timeout_ms = 200");
    let mut block = brief_blocker(&c, 1.5);
    wait_for(&c, "the blocker", blocked);
    let r = c.host(&verb(&f, "run", &[]));
    let _ = block.wait();
    r.expect_code(0).expect("Retrying").expect("lock not granted within 200 ms (attempt 1 of 11)");
    assert_eq!((invalid(&c), valid(&c)), (0, 1));
    c.host(&verb(&f, "rollback", &[])).expect_code(0);
    // Blocked for longer than two attempts: it fails naming the limits;
    // the INVALID index its last attempt left waits for the writer too, so
    // the host names it and the statement that drops it, and the next
    // rollback drops it.
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), "ddl_lock_timeout_ms = 200\nddl_lock_retries = 1");
    let mut block = brief_blocker(&c, 20.0);
    wait_for(&c, "the blocker", blocked);
    let r = c.host(&verb(&f, "run", &[]));
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'blocker'");
    let _ = block.wait();
    r.expect_code(4)
        .expect("lock not granted within 200 ms on any of 2 attempts (ddl_lock_timeout_ms, ddl_lock_retries)");
    r.expect("INVALID index \"app\".\"finding_n_cic\" is left")
        .expect("run `DROP INDEX CONCURRENTLY IF EXISTS \"app\".\"finding_n_cic\"`");
    assert_eq!(invalid(&c), 1);
    c.host(&verb(&f, "rollback", &[])).expect_code(0);
    assert_eq!(invalid(&c), 0);
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'finding_n_cic'"), "0");
}

#[test]
fn the_footprint_of_a_concurrent_build_is_share_update_exclusive_without_a_rewrite() {
    let c = Cluster::start("cic-footprint");
    c.psql(TABLES);
    // A writer's open transaction makes the build wait, holding its lock
    // on the table, long enough for the sampler to see it.
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), "ddl_lock_timeout_ms = 200");
    let mut block = brief_blocker(&c, 1.0);
    wait_for(&c, "the blocker", "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'blocker')");
    let r = c.host(&verb(&f, "run", &[]));
    let _ = block.wait();
    r.expect_code(0).expect("Locked app.finding — SHARE UPDATE EXCLUSIVE for");
    let dir = c.reports().pop().expect("a report");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let tier = report["tiers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["plugin"] == "test-concurrent"))
        .cloned()
        .unwrap_or_else(|| panic!("no tier row: {report:#}"));
    let held = tier["footprint"]
        .as_array()
        .and_then(|f| f.iter().find(|h| h["relation"] == "app.finding"))
        .cloned()
        .unwrap_or_else(|| panic!("no footprint entry for app.finding: {tier:#}"));
    assert_eq!((&held["mode"], &held["rewritten"]), (&"SHARE UPDATE EXCLUSIVE".into(), &false.into()), "{held:#}");
    assert!(held["held_ms"].as_u64().is_some_and(|ms| ms >= 20), "{held:#}");
}

#[test]
fn a_concurrent_tier_that_failed_after_its_build_is_undone_by_the_rollback() {
    let c = Cluster::start("cic-failed");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), "");
    // Its post-condition fails after the build: the index stays, and the
    // tier is not applied.
    std::fs::write(f.dir.path().join("data/valid.sql"), "SELECT 0").unwrap();
    c.host(&verb(&f, "run", &[])).expect_code(4);
    assert_eq!(valid(&c), 1, "the step built the index before the tier failed");
    // The rollback undoes what the steps did before it says FULL ROLLBACK OK.
    let r = c.host(&verb(&f, "rollback", &[]));
    r.expect_code(0).expect("FULL ROLLBACK OK");
    assert!(!r.all().contains("no tier is applied"), "{}", r.all());
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'finding_n_cic'"), "0", "{}", r.all());
}

#[test]
fn a_step_never_drops_or_counts_an_index_of_a_table_it_may_not_index() {
    let c = Cluster::start("cic-other-table");
    c.psql(TABLES);
    // Another table's INVALID index with the name the tier's build uses
    // (a failed unique build), and another table's valid one.
    c.psql("CREATE TABLE app.payment (id int, k int); INSERT INTO app.payment VALUES (1, 1), (2, 1)");
    let _ =
        c.psql_cmd().args(["-q", "-c"]).arg("CREATE UNIQUE INDEX CONCURRENTLY victim_idx ON app.payment (k)").output();
    assert_eq!(invalid(&c), 1, "the fixture's INVALID index on app.payment");
    let build = "CREATE INDEX CONCURRENTLY IF NOT EXISTS victim_idx ON app.finding (n)";
    let f = case(&[build], &[DROP], &granted(), Some("concurrent"), "");
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(4).expect("a table this tier's `index` grant does not name");
    assert_eq!(invalid(&c), 1, "the host dropped another table's index:\n{}", r.all());
    assert!(!r.all().contains("Recovered"), "{}", r.all());
    // A valid index of another table with the build's name: IF NOT EXISTS
    // builds nothing, and the host does not count it built.
    // (The failed step stays in the recovery list until that index is
    // gone: the operator drops it, as the message said.)
    c.psql("DROP INDEX app.victim_idx; CREATE INDEX payment_k ON app.payment (k)");
    let build = "CREATE INDEX CONCURRENTLY IF NOT EXISTS payment_k ON app.finding (n)";
    let f = case(&[build], &[DROP], &granted(), Some("concurrent"), "");
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(4).expect("the statement built nothing");
    assert!(!r.all().contains("Built index"), "{}", r.all());
}

/// A table and a function that writes 7 rows to it: a granted call a
/// concurrent tier's apply may send (the checker reads it as a SELECT).
const LOGGED: &str = "CREATE TABLE app.review_log (n int);
CREATE FUNCTION app.log_reviews() RETURNS int LANGUAGE sql
  AS 'INSERT INTO app.review_log SELECT g FROM generate_series(1, 7) g; SELECT 7';";

/// A concurrent tier whose apply calls a granted function that writes a
/// table: the run sends it read-only (outside a transaction, only the
/// steps may change anything), so the server refuses the write; the dry
/// run, though inside its one writable transaction, refuses it the same
/// way instead of saying the tier would pass, and keeps nothing.
#[test]
fn a_concurrent_dry_run_refuses_a_write_the_run_would_refuse() {
    let c = Cluster::start("cic-counted");
    c.psql(TABLES);
    c.psql(LOGGED);
    let grants = format!("{}\nfunctions = [\"app.log_reviews\"]", granted());
    let f = case(&["SELECT app.log_reviews()", BUILD], &[DROP], &grants, Some("concurrent"), "");
    let refused = "cannot execute INSERT in a read-only transaction";
    let r = c.host(&verb(&f, "run", &["--dry-run"]));
    r.expect_code(4).expect(refused);
    assert!(!r.all().contains("WOULD PASS") && !r.all().contains("Would apply"), "{}", r.all());
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(4).expect(refused);
    assert_eq!(c.psql("SELECT count(*) FROM app.review_log"), "0");
    assert_eq!(c.psql("SELECT count(*) FROM pg_class WHERE relname = 'finding_n_cic'"), "0");
}

/// The rollback's DROP INDEX CONCURRENTLY runs as a step outside the
/// rollback's transaction; its locks are sampled as the build's are and
/// land on the tier's rollback row: SHARE UPDATE EXCLUSIVE on the table,
/// held while it waited for a writer's open transaction.
#[test]
fn the_footprint_of_a_concurrent_drop_in_the_rollback_is_measured() {
    let c = Cluster::start("cic-drop-footprint");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), "");
    c.host(&verb(&f, "run", &[])).expect_code(0);
    let mut block = brief_blocker(&c, 1.0);
    wait_for(&c, "the blocker", "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'blocker')");
    let r = c.host(&verb(&f, "rollback", &[]));
    let _ = block.wait();
    r.expect_code(0).expect("FULL ROLLBACK OK").expect("Locked app.finding — SHARE UPDATE EXCLUSIVE for");
    let dir = c.reports().pop().expect("a report");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let tier = report["tiers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["plugin"] == "test-concurrent"))
        .cloned()
        .unwrap_or_else(|| panic!("no tier row: {report:#}"));
    assert_eq!(tier["action"], "rollback", "{tier:#}");
    let held = tier["footprint"]
        .as_array()
        .and_then(|f| f.iter().find(|h| h["relation"] == "app.finding" && h["mode"] == "SHARE UPDATE EXCLUSIVE"))
        .cloned()
        .unwrap_or_else(|| panic!("no SHARE UPDATE EXCLUSIVE entry for app.finding: {tier:#}"));
    assert!(held["held_ms"].as_u64().is_some_and(|ms| ms >= 20), "{held:#}");
}

/// Ctrl-C while a build waits: the host stops (exit 130), and whatever
/// the cancelled build left (an INVALID index, a step started and never
/// done) the next `host run` recovers and builds.
#[test]
fn a_build_interrupted_by_ctrl_c_is_recovered_by_the_next_run() {
    let c = Cluster::start("cic-ctrl-c");
    c.psql(TABLES);
    let f = case(&[BUILD], &[DROP], &granted(), Some("concurrent"), PATIENT);
    let mut block = blocker(&c);
    wait_for(&c, "the blocker", "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'blocker')");
    let host = c.spawn(&verb(&f, "run", &[]));
    wait_for(&c, "the build to wait", BUILDING);
    Command::new("kill").args(["-INT", &host.id().to_string()]).status().unwrap();
    let r = Run::from(host.wait_with_output().unwrap());
    wait_for(&c, "the build to end on the server", NOT_BUILDING);
    let _ = block.kill();
    let _ = block.wait();
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'blocker'");
    r.expect_code(130);
    assert!(steps(&c).starts_with("apply:1:started:"), "{}", steps(&c));
    let r = c.host(&verb(&f, "run", &[]));
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    assert_eq!((invalid(&c), valid(&c)), (0, 1), "{}", r.all());
}
