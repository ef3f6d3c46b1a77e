//! Production traffic first, on a real server through the real binary: a
//! DDL statement waits at most `ddl_lock_timeout_ms` for its lock and
//! retries, so a session holding a conflicting lock makes the tier retry
//! and then fail naming that session, while a third session's reads never
//! queue behind the tier much longer than one wait; a lock released during
//! the retries lets the tier commit, its retries counted in the report;
//! and the lock footprint measured on the server says which mode each
//! statement took, whether it rewrote the table, and who waited.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::audit::VERIFY;
use support::*;

/// The table the fixture's grants name.
const TABLE: &str = "one_roof.drift_finding";

/// A plan of gate, the locker tier running `statements` under `limits`
/// (the lines of its `[limits]` table), and verify, in a directory of its own.
struct Plan {
    dir: tempfile::TempDir,
    plan: Vec<String>,
}

impl Plan {
    fn new(statements: &[&str], limits: &str) -> Plan {
        Plan::granting(statements, "", limits)
    }

    /// With `grants` (lines of its `[grants]` table) added to the fixture's.
    fn granting(statements: &[&str], grants: &str, limits: &str) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/statements.sql"), statements.join("\n") + "\n").unwrap();
        let locker = std::fs::read(root().join("tests/plugins/locker.wasm")).expect("make test-plugins");
        let manifest = manifest_of(&locker);
        let (head, _) = manifest.split_once("[limits]").expect("the fixture has limits");
        // A grant line of the case's (`read = …`, `alter = []`) replaces the fixture's.
        let key = |l: &str| l.split_once(" =").map(|(k, _)| k.to_string());
        let cased: Vec<String> = grants.lines().filter_map(key).collect();
        let head: String =
            head.lines().filter(|l| key(l).is_none_or(|k| !cased.contains(&k))).map(|l| format!("{l}\n")).collect();
        let tier = dir.path().join("locker.wasm");
        std::fs::write(
            &tier,
            with_manifest(&locker, &format!("{}\n{grants}\n\n[limits]\nstatements = 100\n{limits}\n", head.trim_end())),
        )
        .unwrap();
        let verdict = std::fs::read(root().join("tests/plugins/verdict.wasm")).expect("make test-plugins");
        let verify = dir.path().join("verify.wasm");
        std::fs::write(&verify, with_manifest(&verdict, VERIFY)).unwrap();
        let plan = vec![
            root().join("tests/plugins/verdict.wasm").display().to_string(),
            tier.display().to_string(),
            verify.display().to_string(),
        ];
        Plan { dir, plan }
    }

    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = args("run", &self.plan, &["--param", "verdict=ok"]);
        a.extend_from_slice(extra);
        let _ = self.dir.path();
        a
    }
}

/// A psql session of its own, named `app` (its application_name).
fn session(c: &Cluster, app: &str, sql: &str) -> Child {
    c.psql_cmd()
        .args(["-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGAPPNAME", app)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql")
}

/// Waits until the session named `app` holds a lock on the table; its pid.
fn holding(c: &Cluster, app: &str) -> i64 {
    let sql = format!(
        "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE a.application_name = '{app}' AND l.relation = '{TABLE}'::regclass AND l.granted"
    );
    let started = Instant::now();
    loop {
        let pid = c.psql(&sql);
        if !pid.is_empty() {
            return pid.parse().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{app} never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A reader that keeps reading the table for `seconds`, one short
/// transaction per read, and says the longest a read took (ms) and how
/// many it made: what production's queries saw while the tier ran.
const READER: &str = "CREATE PROCEDURE public.reader(seconds float, INOUT worst float DEFAULT 0, INOUT n int DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE t timestamptz; stop timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
  WHILE clock_timestamp() < stop LOOP
    t := clock_timestamp();
    PERFORM count(*) FROM one_roof.drift_finding;
    worst := greatest(worst, extract(epoch FROM clock_timestamp() - t) * 1000);
    n := n + 1;
    COMMIT;
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$";

/// The tier's row of the newest report.json.
fn tier_row(c: &Cluster) -> serde_json::Value {
    let dir: PathBuf = c.reports().into_iter().last().expect("a report directory");
    let report = report_json(&dir);
    let tiers = report["tiers"].as_array().expect("tiers").clone();
    tiers.into_iter().find(|t| t["plugin"] == "test-locker").expect("the locker's row")
}

fn report_json(dir: &Path) -> serde_json::Value {
    let file = if dir.join("report.json").exists() { dir.join("report.json") } else { dir.to_path_buf() };
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// The footprint entry of `relation` in a tier's row.
fn held<'a>(row: &'a serde_json::Value, relation: &str) -> &'a serde_json::Value {
    row["footprint"]
        .as_array()
        .and_then(|f| f.iter().find(|h| h["relation"] == relation))
        .unwrap_or_else(|| panic!("no footprint entry for {relation} in {row:#}"))
}

#[test]
fn a_held_lock_makes_the_tier_retry_then_fail_naming_the_holder_while_reads_go_on() {
    let c = Cluster::start("locks-held");
    c.psql(READER);
    let mut blocker =
        session(&c, "locks-blocker", &format!("BEGIN; LOCK TABLE {TABLE} IN ACCESS SHARE MODE; SELECT pg_sleep(60)"));
    let pid = holding(&c, "locks-blocker");
    let reader = session(&c, "locks-reader", "CALL public.reader(8)");
    let plan = Plan::new(
        &["ALTER TABLE one_roof.drift_finding ADD COLUMN reviewed_at timestamptz"],
        "ddl_lock_timeout_ms = 200\nddl_lock_retries = 3",
    );
    let r = c.host(&plan.args(&[]));
    let read = reader.wait_with_output().unwrap();
    let _ = blocker.kill();
    let _ = blocker.wait();
    assert_ne!(r.code, 0, "{}", r.all());
    r.expect("Waiting")
        .expect(&format!("lock on {TABLE} held by pid {pid} (locks-blocker), retry 1/3"))
        .expect("retry 3/3")
        .expect("in 4 attempts of 200 ms each")
        .expect(&format!("pid {pid} (application `locks-blocker`, active, query started"))
        .expect("holds ACCESS SHARE on one_roof.drift_finding")
        .expect("Run the tier again when those sessions have ended");
    // Another session's SQL may hold what no grant lets the plugin read:
    // its failure (which the plugin gets, logs and the report publishes)
    // names the session, never its query.
    assert!(!r.all().contains("pg_sleep(60)"), "another session's query was shown:\n{}", r.all());
    let md = std::fs::read_to_string(c.reports().pop().expect("a report").join("report.md")).unwrap();
    assert!(!md.contains("pg_sleep(60)"), "another session's query in report.md:\n{md}");
    assert_eq!(c.psql("SELECT count(*) FROM pg_attribute WHERE attname = 'reviewed_at'"), "0");
    // The reader, measured from its own session: no read waited much
    // longer than one attempt's wait (a generous bound, not a timing).
    let out = String::from_utf8_lossy(&read.stdout).trim().to_string();
    let (worst, n) = out.split_once('|').unwrap_or_else(|| panic!("reader said {out:?}"));
    let worst: f64 = worst.parse().unwrap();
    assert!(n.parse::<u64>().unwrap() > 10, "the reader read: {out}");
    assert!(worst < 5.0 * 200.0, "a read waited {worst} ms behind the tier's lock wait of 200 ms");
    // Its retries and the reader queued behind it are in the report.
    let row = tier_row(&c);
    assert_eq!(row["lock_retries"], 3, "{row:#}");
    let h = held(&row, TABLE);
    assert!(h["waiters"].as_u64().unwrap() >= 1, "the reader waited behind the tier: {h:#}");
    assert_eq!(h["mode"], "QUEUED (never taken)", "{h:#}");
    r.expect(&format!("Locked {TABLE} — queued for its lock, never took it; 1 session waited"));
}

#[test]
fn a_lock_released_during_the_retries_lets_the_tier_commit_its_retries_counted() {
    let c = Cluster::start("locks-released");
    let mut blocker = session(
        &c,
        "locks-brief",
        &format!("BEGIN; LOCK TABLE {TABLE} IN ACCESS SHARE MODE; SELECT pg_sleep(3); COMMIT"),
    );
    holding(&c, "locks-brief");
    let plan = Plan::new(
        &["ALTER TABLE one_roof.drift_finding ADD COLUMN reviewed_at timestamptz"],
        "ddl_lock_timeout_ms = 200\nddl_lock_retries = 20",
    );
    let r = c.host(&plan.args(&[]));
    let _ = blocker.wait();
    r.expect_code(0).expect("Waiting").expect("held by pid").expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql("SELECT count(*) FROM pg_attribute WHERE attname = 'reviewed_at'"), "1");
    let row = tier_row(&c);
    assert!(row["lock_retries"].as_u64().unwrap() >= 1, "{row:#}");
    assert_eq!(held(&row, TABLE)["mode"], "ACCESS EXCLUSIVE");
}

#[test]
fn the_footprint_says_the_mode_each_change_took_and_whether_it_rewrote() {
    let c = Cluster::start("locks-footprint");
    c.psql(&format!("ALTER TABLE {TABLE} ADD COLUMN n int"));
    // A dry run of each: measured in its transaction, nothing kept.
    let dry = |statement: &str| {
        let plan = Plan::new(&[statement], "");
        c.host(&plan.args(&["--dry-run"])).expect_code(0);
        tier_row(&c)
    };
    let added = dry("ALTER TABLE one_roof.drift_finding ADD COLUMN reviewed_at timestamptz");
    let h = held(&added, TABLE);
    assert_eq!((&h["mode"], &h["rewritten"]), (&"ACCESS EXCLUSIVE".into(), &false.into()), "{h:#}");
    let indexed = dry("CREATE INDEX drift_finding_n ON one_roof.drift_finding (n)");
    let h = held(&indexed, TABLE);
    assert_eq!((&h["mode"], &h["rewritten"]), (&"SHARE".into(), &false.into()), "{h:#}");
    // The rewrite, committed: the table and its primary key's index get new files.
    let plan = Plan::new(&["ALTER TABLE one_roof.drift_finding ALTER COLUMN n TYPE bigint"], "");
    let r = c.host(&plan.args(&[]));
    r.expect_code(0).expect(&format!("Locked {TABLE} — ACCESS EXCLUSIVE for")).expect(", rewritten; no session waited");
    let row = tier_row(&c);
    let h = held(&row, TABLE);
    assert_eq!((&h["mode"], &h["rewritten"]), (&"ACCESS EXCLUSIVE".into(), &true.into()), "{h:#}");
    assert_eq!(held(&row, "one_roof.drift_finding_pkey")["rewritten"], true, "{row:#}");
    assert_eq!(row["lock_retries"], 0);
    let dir = c.reports().into_iter().last().unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("lock footprint, measured on the server (0 lock-wait retries)"), "{md}");
    assert!(md.contains(r"| one\_roof.drift\_finding | table | ACCESS EXCLUSIVE |"), "{md}");
}

/// A production writer, named `app`: once another session holds a write
/// lock on the table (the tier changed a row), it updates row `id` (and
/// waits on the tier's row lock until the tier's transaction ends).
fn writer(c: &Cluster, app: &str, id: &str) -> Child {
    session(
        c,
        app,
        &format!(
            "DO $$ DECLARE stop timestamptz := clock_timestamp() + interval '30 s'; BEGIN
               WHILE clock_timestamp() < stop AND NOT EXISTS (SELECT FROM pg_locks WHERE relation = '{TABLE}'::regclass
                       AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()) LOOP
                 PERFORM pg_sleep(0.02);
               END LOOP;
             END $$; UPDATE {TABLE} SET subject = subject WHERE id = {id}"
        ),
    )
}

/// The session named `app` in a footprint entry, with how long it waited.
fn waited(h: &serde_json::Value, app: &str) -> u64 {
    let sessions = h["sessions"].as_array().unwrap_or_else(|| panic!("no sessions named in {h:#}"));
    let w = sessions.iter().find(|w| w["application"] == app).unwrap_or_else(|| panic!("{app} not named in {h:#}"));
    w["waited_ms"].as_u64().unwrap()
}

#[test]
fn a_row_the_tier_or_its_rollback_changes_makes_production_wait_and_the_footprint_names_the_waiter() {
    let c = Cluster::start("locks-rows");
    let id = c.psql(&format!("SELECT min(id) FROM {TABLE}"));
    // A tier with no DDL grant: an UPDATE, then its transaction stays open
    // 2 s; its rollback the same.
    let statements = [
        format!("UPDATE {TABLE} SET status = 'resolved' WHERE id = {id}"),
        "SELECT pg_catalog.pg_sleep(2)::text".to_string(),
        format!("-- rollback: UPDATE {TABLE} SET status = 'open' WHERE id = {id}"),
        "-- rollback: SELECT pg_catalog.pg_sleep(2)::text".to_string(),
    ];
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let grants = format!("alter = []\nindex = []\nupdate = [\"{TABLE}\"]\nfunctions = [\"pg_catalog.pg_sleep\"]");
    let plan = Plan::granting(&statements, &grants, "");
    let w = writer(&c, "locks-row-writer", &id);
    let r = c.host(&plan.args(&[]));
    let out = w.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    r.expect_code(0)
        .expect(&format!("Locked {TABLE} — ROW EXCLUSIVE for"))
        .expect("1 session waited")
        .expect("\"locks-row-writer\" on a row");
    let row = tier_row(&c);
    let h = held(&row, TABLE);
    assert_eq!((&h["mode"], &h["waiters"]), (&"ROW EXCLUSIVE".into(), &1.into()), "{h:#}");
    assert!(waited(h, "locks-row-writer") > 0, "{h:#}");
    assert!(h["held_ms"].as_u64().unwrap() >= 1000, "held through the tier's 2 s: {h:#}");
    // The rollback's transaction: the same, in the rollback's report.
    let w = writer(&c, "locks-undo-writer", &id);
    let r = c.host(&args("rollback", &plan.plan, &[]));
    let out = w.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    r.expect_code(0).expect("FULL ROLLBACK OK").expect("\"locks-undo-writer\" on a row");
    let row = tier_row(&c);
    assert_eq!(row["action"], "rollback", "{row:#}");
    assert!(waited(held(&row, TABLE), "locks-undo-writer") > 0, "{row:#}");
    let md = std::fs::read_to_string(c.reports().pop().unwrap().join("report.md")).unwrap();
    assert!(md.contains("locks-undo-writer"), "{md}");
}

#[test]
fn explain_flags_each_statement_that_locks_out_reads_or_rewrites_with_the_safer_form() {
    let plan = Plan::granting(&[], "read = [\"one_roof.drift_finding\", \"one_roof.team\"]\nreferences = [\"one_roof.team\"]\nfunctions = [\"pg_catalog.clock_timestamp\"]", "");
    let explain = |sql: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_host"))
            .current_dir(root())
            .args(["explain", &plan.plan[1], "--data-dir"])
            .arg(plan.dir.path().join("data"))
            .arg(sql)
            .env("HOST_COMPILE_CACHE", compile_cache())
            .output()
            .unwrap();
        let r = Run::from(out);
        r.expect_code(0);
        r
    };
    let cases = [
        (
            "ALTER TABLE one_roof.drift_finding ADD COLUMN seen timestamptz DEFAULT clock_timestamp()",
            "ACCESS EXCLUSIVE lock on one_roof.drift_finding, rewrites the table",
            "safer: add the column without a default that calls a function, then backfill it in batches",
        ),
        (
            "ALTER TABLE one_roof.drift_finding ALTER COLUMN subject SET NOT NULL",
            "ACCESS EXCLUSIVE lock on one_roof.drift_finding, reads every row under it",
            "safer: ADD CONSTRAINT … CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later tier",
        ),
        (
            "ALTER TABLE one_roof.drift_finding ALTER COLUMN id TYPE numeric",
            "ACCESS EXCLUSIVE lock on one_roof.drift_finding, rewrites the table",
            "safer: add a column of the new type, backfill it in batches",
        ),
        (
            "CREATE INDEX drift_finding_subject ON one_roof.drift_finding (subject)",
            "SHARE lock on one_roof.drift_finding, reads every row under it",
            "safer: CREATE INDEX CONCURRENTLY, which blocks no write, in a tier of its own with mode = \"concurrent\"",
        ),
        (
            "ALTER TABLE one_roof.drift_finding ADD CONSTRAINT f FOREIGN KEY (subject) REFERENCES one_roof.team (code)",
            "SHARE ROW EXCLUSIVE lock on one_roof.drift_finding and one_roof.team, reads every row under it",
            "safer: add it NOT VALID, then VALIDATE CONSTRAINT in a later tier",
        ),
    ];
    for (sql, lock, safer) in cases {
        explain(sql).expect(&format!("LOCK {lock}")).expect(safer);
    }
    // Adding a column without a default takes the lock but rewrites nothing.
    let plain = explain("ALTER TABLE one_roof.drift_finding ADD COLUMN seen timestamptz");
    plain.expect("LOCK ACCESS EXCLUSIVE lock on one_roof.drift_finding: every read and write on it waits");
    assert!(!plain.stdout.contains("rewrites"), "{}", plain.stdout);
}

/// A session that, once another session holds a write lock on the table
/// (the tier changed a row), asks for ACCESS EXCLUSIVE on it: it waits on
/// the tier, and every later query on the table queues behind its request.
fn alterer(c: &Cluster, app: &str) -> Child {
    session(
        c,
        app,
        &format!(
            "DO $$ DECLARE stop timestamptz := clock_timestamp() + interval '30 s'; BEGIN
               WHILE clock_timestamp() < stop AND NOT EXISTS (SELECT FROM pg_locks WHERE relation = '{TABLE}'::regclass
                       AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()) LOOP
                 PERFORM pg_sleep(0.02);
               END LOOP;
             END $$; BEGIN; LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE; COMMIT"
        ),
    )
}

/// A reader that, once a session waits for ACCESS EXCLUSIVE on the table,
/// reads it: its ACCESS SHARE does not conflict with the tier's ROW
/// EXCLUSIVE, only with the queued request, so it waits behind that waiter.
fn queued_reader(c: &Cluster, app: &str) -> Child {
    session(
        c,
        app,
        &format!(
            "DO $$ DECLARE stop timestamptz := clock_timestamp() + interval '30 s'; BEGIN
               WHILE clock_timestamp() < stop AND NOT EXISTS (SELECT FROM pg_locks WHERE relation = '{TABLE}'::regclass
                       AND mode = 'AccessExclusiveLock' AND NOT granted) LOOP
                 PERFORM pg_sleep(0.02);
               END LOOP;
             END $$; SELECT count(*) FROM {TABLE}"
        ),
    )
}

/// A lock queue: the tier holds ROW EXCLUSIVE (it changed a row), B asks
/// for ACCESS EXCLUSIVE and waits on the tier, C's read waits on B's
/// request. Both waited because of the tier: the footprint counts both,
/// and says C queued behind B.
#[test]
fn a_session_queued_behind_a_waiter_is_a_waiter_too() {
    let c = Cluster::start("locks-queue");
    let id = c.psql(&format!("SELECT min(id) FROM {TABLE}"));
    let statements = [
        format!("UPDATE {TABLE} SET status = 'resolved' WHERE id = {id}"),
        "SELECT pg_catalog.pg_sleep(2)::text".to_string(),
    ];
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let grants = format!("alter = []\nindex = []\nupdate = [\"{TABLE}\"]\nfunctions = [\"pg_catalog.pg_sleep\"]");
    let plan = Plan::granting(&statements, &grants, "");
    let b = alterer(&c, "locks-queue-alter");
    let r = queued_reader(&c, "locks-queue-read");
    let run = c.host(&plan.args(&[]));
    for s in [b, r] {
        let out = s.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    run.expect_code(0).expect("2 sessions waited").expect(", queued behind pid ");
    let row = tier_row(&c);
    let h = held(&row, TABLE);
    assert_eq!(h["waiters"], 2, "{h:#}");
    let sessions = h["sessions"].as_array().unwrap();
    let by = |app: &str| sessions.iter().find(|w| w["application"] == app).unwrap_or_else(|| panic!("{app}: {h:#}"));
    let (alter, read) = (by("locks-queue-alter"), by("locks-queue-read"));
    assert!(alter.get("behind").is_none(), "B waited on the tier itself: {h:#}");
    assert_eq!(read["behind"], alter["pid"], "C queued behind B: {h:#}");
    assert!(waited(h, "locks-queue-read") > 0, "{h:#}");
}
