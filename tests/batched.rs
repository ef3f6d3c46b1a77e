//! Batched tiers (`mode = "batched"`, contract 0.3.2) on a real server
//! through the real binary: a backfill of 50,000 rows by primary-key ranges
//! (tests/plugins/backfill) commits batch by batch with its ledger step;
//! a SIGKILL or a lost connection at a random batch, then `host run` again,
//! gives exactly the rows of an uninterrupted run and one step per batch;
//! a statement or lock timeout shrinks the batch; a failed post-condition
//! and `host rollback` of a half-done pass restore the baseline, batched;
//! a plugin whose exports do not match its mode is refused at load; a pass
//! that names a position again or changes nothing for 1,000 batches is
//! stopped; a replica-lag bound says when there is no replica and fails
//! when the role cannot read the lag; `host rehearse --fail-at` fails a
//! batched tier between its batches and proves the rollback.

mod support;

use std::time::{Duration, Instant};
use support::audit::VERIFY;
use support::*;

const TABLE: &str = "CREATE SCHEMA app;
CREATE TABLE app.item (id int PRIMARY KEY, n int NOT NULL, v int);
INSERT INTO app.item SELECT g, g % 997, NULL FROM generate_series(1, 50000) g;";
const ROWS: i64 = 50_000;
const DIGEST: &str = "SELECT md5(string_agg(id || ':' || coalesce(v::text, '-'), ',' ORDER BY id)) FROM app.item";
/// The digest of an uninterrupted backfill.
const BACKFILLED: &str = "SELECT md5(string_agg(id || ':' || (n * 2)::text, ',' ORDER BY id)) FROM app.item";
const APPLY_STEPS: &str =
    "FROM rollout_ledger.step WHERE plugin = 'test-backfill' AND phase = 'apply' AND kind = 'batch' AND state = 'done'";

/// A plan: the verdict gate, the backfill with these `[batches]` lines,
/// the verdict verify.
struct Plan {
    _dir: tempfile::TempDir,
    plan: Vec<String>,
}

fn plan(batches: &str) -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("tests/plugins/backfill.wasm")).expect("make test-plugins");
    let manifest = manifest_of(&wasm);
    let (head, _) = manifest.split_once("[batches]").expect("the fixture has [batches]");
    let (_, limits) = manifest.split_once("[limits]").expect("the fixture has [limits]");
    let tier = dir.path().join("backfill.wasm");
    std::fs::write(&tier, with_manifest(&wasm, &format!("{head}[batches]\n{batches}\n\n[limits]{limits}"))).unwrap();
    let verdict = std::fs::read(root().join("tests/plugins/verdict.wasm")).unwrap();
    let verify = dir.path().join("verify.wasm");
    std::fs::write(&verify, with_manifest(&verdict, VERIFY)).unwrap();
    let plan = vec![
        root().join("tests/plugins/verdict.wasm").display().to_string(),
        tier.display().to_string(),
        verify.display().to_string(),
    ];
    Plan { _dir: dir, plan }
}

impl Plan {
    fn args<'a>(&'a self, verb: &'a str, fail: &'a str) -> Vec<&'a str> {
        let mut a = args(verb, &self.plan, &["--param", "verdict=ok", "--param"]);
        a.push(fail);
        a
    }
}

/// Fixed size: one batch per `size` rows, and the last, empty one.
fn fixed(size: u64, pause_ms: u64) -> String {
    format!(
        "size = {size}\nmin_size = {size}\nmax_size = {size}\npause_ms = {pause_ms}\nstatement_timeout_ms = 5000\nrows_changed = {size}"
    )
}

fn cluster(name: &str) -> Cluster {
    let c = Cluster::start(name);
    c.psql(TABLE);
    // The ledger the host would create, so that a test can watch its steps from the start.
    c.psql(&std::fs::read_to_string(root().join("host/sql/ledger.sql")).unwrap());
    c
}

fn report(c: &Cluster) -> serde_json::Value {
    let dir = c.reports().pop().expect("a report");
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// The batch lines of the report's tier rows, of `phase`.
fn batch_lines(c: &Cluster, phase: &str) -> Vec<serde_json::Value> {
    let r = report(c);
    let tiers = r["tiers"].as_array().cloned().unwrap_or_default();
    tiers
        .iter()
        .filter(|t| t["batches"]["phase"] == phase)
        .flat_map(|t| t["batches"]["batches"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Until `sql` returns at least `n`, the child still running.
fn wait_for(c: &Cluster, sql: &str, n: i64, child: &mut std::process::Child) {
    let until = Instant::now() + Duration::from_secs(60);
    while c.scalar(sql) < n {
        assert!(child.try_wait().unwrap().is_none(), "the host ended before {sql} reached {n}");
        assert!(Instant::now() < until, "{sql} never reached {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Until no other client is connected (a killed host's backends end).
fn quiet(c: &Cluster) {
    let until = Instant::now() + Duration::from_secs(30);
    while c.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(Instant::now() < until, "the killed host's sessions never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A batch number between 2 and `below` - 1, different from run to run.
fn random_batch(below: i64) -> i64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as i64;
    2 + nanos % (below - 3)
}

/// The ledger's apply steps: one per batch, numbered 1..=n once each, no
/// position repeated, the rows of the whole table changed once.
fn one_step_per_batch(c: &Cluster, batches: i64) {
    assert_eq!(c.scalar(&format!("SELECT count(*) {APPLY_STEPS}")), batches, "one step per batch");
    assert_eq!(c.scalar(&format!("SELECT count(DISTINCT seq) {APPLY_STEPS}")), batches, "no batch numbered twice");
    assert_eq!(c.scalar(&format!("SELECT max(seq) {APPLY_STEPS}")), batches, "no batch skipped");
    assert_eq!(
        c.scalar(&format!("SELECT count(DISTINCT position) + count(*) FILTER (WHERE position IS NULL) {APPLY_STEPS}")),
        batches,
        "no position repeated"
    );
    assert_eq!(c.scalar(&format!("SELECT sum(rows_changed) {APPLY_STEPS}")), ROWS, "every row changed once");
}

#[test]
fn each_batch_commits_on_its_own_with_its_step() {
    let c = cluster("batched-commits");
    let p = plan(&fixed(5000, 0));
    let r = c.host(&p.args("run", "fail=none"));
    r.expect_code(0).expect("ROLLOUT COMPLETE").expect("in batches").expect("11 batch(es) committed");
    assert!(!r.stderr.contains("rows/s") && !r.stderr.contains("ETA"), "no progress line off a terminal: {}", r.stderr);
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED));
    // Ten transactions changed the rows (the eleventh found none left).
    assert_eq!(c.scalar("SELECT count(DISTINCT xmin::text) FROM app.item"), 10);
    one_step_per_batch(&c, 11);
    assert!(c.tier_states().contains("test-backfill=applied"), "{}", c.tier_states());
    let lines = batch_lines(&c, "apply");
    assert_eq!(lines.len(), 11, "every batch in report.json");
    assert!(lines.iter().all(|b| b["outcome"] == "committed" && b["duration_ms"].is_u64()), "{lines:?}");
    let md = std::fs::read_to_string(c.reports().pop().unwrap().join("report.md")).unwrap();
    assert!(md.contains("## Batches") && md.contains("11 batch(es) committed, 50000 rows changed"), "{md}");
    // What every batch sent is the tier's listing: the UPDATE of the ten
    // batches that changed rows, summed, in the ledger for `inspect --sql`.
    let listed = c.host(&["inspect", "--sql", &p.plan[1]]);
    listed.expect_code(0).expect("UPDATE app.item SET").expect("50000");
}

#[test]
fn a_kill_at_a_random_batch_then_run_again_gives_the_rows_of_an_uninterrupted_run() {
    let c = cluster("batched-kill");
    let p = plan(&fixed(2000, 100));
    let at = random_batch(25);
    let mut child = c.spawn(&p.args("run", "fail=none"));
    wait_for(&c, &format!("SELECT count(*) {APPLY_STEPS}"), at, &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    quiet(&c);
    let kept = c.scalar(&format!("SELECT count(*) {APPLY_STEPS}"));
    assert!(kept >= at && kept < 26, "killed after batch {kept}");
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), kept * 2000, "committed batches stay");
    c.host(&["status"]).expect_code(0).expect(&format!(
        "Tier 1 (test-backfill) is partly applied in batches: {kept} batch(es) committed, {} rows, position \"{}\"",
        kept * 2000,
        kept * 2000
    ));
    let r = c.host(&p.args("run", "fail=none"));
    r.expect_code(0).expect("ROLLOUT COMPLETE").expect(&format!("at batch {}", kept + 1));
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED), "killed after batch {kept}");
    one_step_per_batch(&c, 26);
    assert_eq!(report(&c)["tiers"][0]["batches"]["resumed_at"]["batch"], kept);
}

#[test]
fn a_lost_connection_mid_batch_then_run_again_gives_the_rows_of_an_uninterrupted_run() {
    let c = cluster("batched-lost");
    let p = plan(&fixed(500, 0));
    let at = random_batch(90);
    let mut child = c.spawn(&p.args("run", "fail=none"));
    wait_for(&c, &format!("SELECT count(*) {APPLY_STEPS}"), at, &mut child);
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'host apply %'");
    let out = child.wait_with_output().unwrap();
    let first = Run::from(out);
    if first.code != 0 {
        quiet(&c);
        first.expect("connection");
        c.host(&p.args("run", "fail=none")).expect_code(0).expect("Resumed");
    }
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED), "connection cut after batch {at}");
    one_step_per_batch(&c, 101);
}

/// Between two batches (in the pause) the work session is ended: the next
/// batch's reset, sent with its BEGIN, finds it lost, and a new session
/// takes its place; the pass goes on to the end, every batch once.
#[test]
fn a_work_session_lost_between_two_batches_is_replaced_and_the_pass_goes_on() {
    let c = cluster("batched-between");
    let p = plan(&fixed(5000, 300));
    let mut child = c.spawn(&p.args("run", "fail=none"));
    wait_for(&c, &format!("SELECT count(*) {APPLY_STEPS}"), 2, &mut child);
    let idle = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                WHERE application_name LIKE 'host apply %' AND state = 'idle'";
    let until = Instant::now() + Duration::from_secs(30);
    while c.scalar(idle) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "the host ended before its work session was idle");
        assert!(Instant::now() < until, "the work session was never idle between two batches");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = Run::from(child.wait_with_output().unwrap());
    r.expect_code(0).expect("the work session was lost between two plugins").expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED), "{}", r.all());
    one_step_per_batch(&c, 11);
}

/// Under roles a batch's hold and step switch roles around their
/// statements (not pipelined), and its deferred check puts the constraint
/// modes back, so the role wall's own deferred trigger still fires at each
/// COMMIT: every batch commits with its step, and the batched rollback
/// restores the baseline.
#[test]
fn a_batched_tier_runs_and_rolls_back_under_roles() {
    let c = cluster("batched-roles");
    let p = plan(&fixed(5000, 0));
    let mut apply = vec!["roles", "apply"];
    apply.extend(p.plan.iter().map(String::as_str));
    c.host(&apply).expect_code(0).expect("Proven");
    let mut run = p.args("run", "fail=none");
    run.push("--roles");
    let r = c.host(&run);
    r.expect_code(0).expect("Proven").expect("11 batch(es) committed").expect("ROLLOUT COMPLETE");
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED));
    one_step_per_batch(&c, 11);
    let mut back = args("rollback", &p.plan, &["--roles"]);
    back.extend(["--param", "verdict=ok", "--param", "fail=none"]);
    c.host(&back).expect_code(0);
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), 0);
}

#[test]
fn a_statement_timeout_shrinks_the_batch_and_the_pass_goes_on() {
    let c = cluster("batched-timeout");
    let p = plan(
        "size = 8000\nmin_size = 100\nmax_size = 8000\npause_ms = 0\nstatement_timeout_ms = 250\nrows_changed = 8000",
    );
    // Another session holds row 20000: every batch whose range holds it
    // waits and times out, until the lock is gone (once a batch has waited
    // on it a few times).
    let mut locker =
        c.psql_cmd().arg("-q").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    let mut stdin = locker.stdin.take().unwrap();
    use std::io::Write;
    writeln!(stdin, "BEGIN; SELECT 1 FROM app.item WHERE id = 20000 FOR UPDATE;").unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while c.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND pid <> pg_backend_pid()") == 0 {
        assert!(Instant::now() < until, "the locker never took its lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let host = c.spawn(&p.args("run", "fail=none"));
    let until = Instant::now() + Duration::from_secs(60);
    while c.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") == 0 {
        assert!(Instant::now() < until, "no batch ever waited on the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(600));
    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    locker.wait().unwrap();
    let r = Run::from(host.wait_with_output().unwrap());
    r.expect_code(0).expect("Shrinking").expect("timed out");
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED));
    let lines = batch_lines(&c, "apply");
    let first = lines.iter().position(|b| b["outcome"] == "timed_out").expect("a batch timed out");
    let next = &lines[first + 1];
    assert_eq!(next["batch"], lines[first]["batch"], "the same batch is retried");
    // Halved (whole ids, not below min_size): a batch slower than its
    // target before it may have left an odd size.
    let timed_out = lines[first]["size"].as_u64().unwrap();
    assert_eq!(next["size"].as_u64().unwrap(), (timed_out / 2).max(100), "halved: {lines:?}");
    assert_eq!(c.scalar(&format!("SELECT sum(rows_changed) {APPLY_STEPS}")), ROWS);
}

#[test]
fn a_batch_slower_than_its_target_shrinks_the_next_and_a_fast_one_grows_it() {
    // target_ms = 1: every real batch holds its rows many times longer, so
    // the next is cut in proportion, to min_size at once; target_ms =
    // 60000: every batch is fast, so each next grows by half (the most it
    // may) up to max_size.
    for (target, expect) in [(1, vec![8000, 1000, 1000, 1000]), (60000, vec![1000, 1500, 2250, 3375, 5062])] {
        let c = cluster(&format!("batched-target-{target}"));
        let p = plan(&format!(
            "size = {}\nmin_size = 1000\nmax_size = 8000\npause_ms = 0\nstatement_timeout_ms = 60000\n\
             target_ms = {target}\nrows_changed = 8000",
            expect[0]
        ));
        c.host(&p.args("run", "fail=none")).expect_code(0);
        assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED));
        let sizes: Vec<u64> = batch_lines(&c, "apply").iter().map(|b| b["size"].as_u64().unwrap()).collect();
        assert_eq!(sizes[..expect.len()], expect[..], "target_ms = {target}: {sizes:?}");
    }
}

#[test]
fn a_failed_post_condition_rolls_the_tier_back_in_batches_to_the_baseline() {
    let c = cluster("batched-post");
    let baseline = c.psql(DIGEST);
    let p = plan(&fixed(5000, 0));
    let r = c.host(&p.args("run", "fail=post"));
    r.expect_code(4).expect("post-conditions not met").expect("rolled back, not resumed");
    assert_eq!(c.psql(DIGEST), baseline, "the baseline is restored");
    assert!(c.tier_states().contains("test-backfill=rolled_back"), "{}", c.tier_states());
    let rolled =
        "SELECT count(*) FROM rollout_ledger.step WHERE plugin = 'test-backfill' AND phase = 'rollback' AND state = 'done'";
    assert_eq!(c.scalar(rolled), 11, "the rollback is batched: one committed step per batch");
    // Settled: the next run starts from the start, not from a position.
    let r = c.host(&p.args("run", "fail=none"));
    r.expect_code(0);
    assert!(!r.all().contains("Resumed"), "{}", r.all());
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED));
}

#[test]
fn rollback_of_a_half_done_pass_restores_the_baseline_and_settles_it() {
    let c = cluster("batched-half");
    let baseline = c.psql(DIGEST);
    let p = plan(&fixed(2000, 100));
    let mut child = c.spawn(&p.args("run", "fail=none"));
    wait_for(&c, &format!("SELECT count(*) {APPLY_STEPS}"), random_batch(25), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    quiet(&c);
    assert!(c.tier_states().is_empty(), "no event: {}", c.tier_states());
    let r = c.host(&args("rollback", &p.plan, &[]));
    r.expect_code(0).expect("FULL ROLLBACK OK").expect("apply batch(es) committed");
    assert_eq!(c.psql(DIGEST), baseline);
    assert!(c.tier_states().contains("test-backfill=rolled_back"), "{}", c.tier_states());
    // Nothing left open: a run starts from the start.
    let r = c.host(&p.args("run", "fail=none"));
    r.expect_code(0);
    assert!(!r.all().contains("Resumed"), "{}", r.all());
}

#[test]
fn a_plugin_whose_exports_do_not_match_its_mode_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    // The batched backfill declared as a plain tier.
    let wasm = std::fs::read(root().join("tests/plugins/backfill.wasm")).unwrap();
    let manifest = manifest_of(&wasm);
    let (head, _) = manifest.split_once("[batches]").unwrap();
    let plain = head.replace("mode = \"batched\"\n", "");
    let path = dir.path().join("plain.wasm");
    std::fs::write(&path, with_manifest(&wasm, &plain)).unwrap();
    let inspect = |p: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_host"))
            .current_dir(root())
            .args(["inspect", p.to_str().unwrap()])
            .env("HOST_COMPILE_CACHE", compile_cache())
            .output()
            .unwrap();
        Run::from(out)
    };
    let r = inspect(&path);
    assert_ne!(r.code, 0, "{}", r.all());
    r.expect("must export the `tier` world").expect("`apply-batch`");
    // A plain tier declared batched.
    let undo = std::fs::read(root().join("tests/plugins/undo.wasm")).unwrap();
    let m =
        manifest_of(&undo).replace("ordinal = 4\n", "ordinal = 4\nmode = \"batched\"\n") + "\n[batches]\nsize = 100\n";
    let path = dir.path().join("batched.wasm");
    std::fs::write(&path, with_manifest(&undo, &m)).unwrap();
    inspect(&path).expect("mode = \"batched\", so it must export the `batched-tier` world").expect("batched_tier");
}

#[test]
fn the_dry_run_previews_the_first_batch_only_and_keeps_nothing() {
    let c = cluster("batched-dry");
    let p = plan(&fixed(5000, 0));
    let mut a = p.args("run", "fail=none");
    a.push("--dry-run");
    let r = c.host(&a);
    r.expect_code(0).expect("its first batch only (5000 rows)").expect("Not proven");
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), 0, "the dry run kept rows");
    assert_eq!(c.scalar(&format!("SELECT count(*) {APPLY_STEPS}")), 0, "the dry run recorded a batch");
}

#[test]
fn a_replica_lag_bound_the_host_can_read_lets_the_pass_run() {
    // No replica: no lag, so no wait; the bound is read before every batch.
    let c = cluster("batched-lag");
    let p = plan(&format!("{}\nmax_replica_lag_ms = 1000", fixed(10000, 0)));
    let r = c.host(&p.args("run", "fail=none"));
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    let note =
        "but no replica streams from this server (pg_stat_replication is empty): no batch waits unless one connects";
    assert_eq!(r.all().matches(note).count(), 1, "said once per pass: {}", r.all());
    assert_eq!(c.psql(DIGEST), c.psql(BACKFILLED));
}

/// The ledger's committed apply steps, numbered 1..=n once each.
fn apply_steps(c: &Cluster) -> (i64, i64) {
    (
        c.scalar(&format!("SELECT count(*) {APPLY_STEPS}")),
        c.scalar(&format!("SELECT coalesce(max(seq), 0) {APPLY_STEPS}")),
    )
}

#[test]
fn a_pass_that_names_a_position_again_is_stopped_named_and_rolled_back_to_the_baseline() {
    let c = cluster("batched-cycle");
    let baseline = c.psql(DIGEST);
    let p = plan(&fixed(5000, 0));
    // Batch 6 (from id 25000) does its rows, then names position 20000,
    // where batch 4 left the pass.
    let r = c.host(&p.args("run", "fail=cycle"));
    r.expect_code(4)
        .expect("test-backfill")
        .expect("batch 6: its next position is one this pass was at before: the pass would never end")
        .expect("rolled back, not resumed");
    // Every committed batch is in the ledger, the sixth included, and the
    // rollback undid all of them, batch by batch.
    assert_eq!(apply_steps(&c), (6, 6));
    assert_eq!(c.scalar(&format!("SELECT sum(rows_changed) {APPLY_STEPS}")), 30_000);
    assert_eq!(c.psql(DIGEST), baseline, "the baseline is restored");
    assert!(c.tier_states().contains("test-backfill=rolled_back"), "{}", c.tier_states());
}

#[test]
fn a_thousand_batches_that_change_nothing_stop_the_pass_and_it_is_rolled_back() {
    let c = cluster("batched-idle");
    let baseline = c.psql(DIGEST);
    let p = plan(&fixed(5000, 0));
    // Five batches fill ids 1..25000; from there every batch changes no row
    // and names the next range, forever.
    let r = c.host(&p.args("run", "fail=idle"));
    r.expect_code(4)
        .expect("batch 1005: 1000 batches in a row changed no row: the pass would never end")
        .expect("rolled back, not resumed");
    assert_eq!(apply_steps(&c), (1005, 1005));
    assert_eq!(c.scalar(&format!("SELECT sum(rows_changed) {APPLY_STEPS}")), 25_000);
    assert_eq!(c.psql(DIGEST), baseline, "the baseline is restored");
}

#[test]
fn a_replica_lag_the_role_cannot_read_fails_the_tier_saying_what_to_do() {
    let c = Cluster::start("batched-lag-unread");
    // A runner that is no superuser and holds no pg_read_all_stats: the
    // lag would read as NULL, "no lag". It owns what the plan touches.
    c.psql("CREATE ROLE runner LOGIN; GRANT CREATE ON DATABASE directus TO runner;");
    c.psql(&format!("SET ROLE runner; {TABLE}"));
    let p = plan(&format!("{}\nmax_replica_lag_ms = 1000", fixed(10000, 0)));
    let mut cmd = c.host_cmd(&p.args("run", "fail=none"));
    cmd.env("PGUSER", "runner");
    let started = Instant::now();
    let r = Run::from(cmd.output().unwrap());
    r.expect_code(4).expect(
        "batches.max_replica_lag_ms = 1000, but the connected role cannot read the replicas' lag (grant it \
         pg_read_all_stats, or remove the bound)",
    );
    assert!(started.elapsed() < Duration::from_secs(60), "it waited instead of failing");
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), 0, "no batch ran unwatched");
}

#[test]
fn a_rehearsal_failing_in_the_middle_of_the_batches_proves_the_rollback_restores_the_baseline() {
    use support::rehearsal::{production_and_copy_with, report};
    let (prod, copy) = production_and_copy_with("batched-rehearse", TABLE);
    let p = plan(&fixed(5000, 0));
    let reports = tempfile::tempdir().unwrap();
    let (from, to) = (prod.url(), copy.url());
    let mut a = args("rehearse", &p.plan, &["--param", "verdict=ok", "--param", "fail=none", "--fail-at", "1"]);
    a.extend(["--from", &from, "--copy-url", &to, "--reports", reports.path().to_str().unwrap()]);
    let r = prod.host(&a);
    r.expect_code(0)
        .expect("REHEARSAL OK: rollback restores the baseline exactly")
        .expect("every injected tier failure rolled back to the baseline")
        .expect("run failing at tier 1")
        .expect("rollback after tier 1 failed");
    let stored = report(reports.path());
    for s in stored["steps"].as_array().unwrap().iter().filter(|s| s["step"].as_str().unwrap().contains("rollback")) {
        assert_eq!(s["equal_to_baseline"], "yes", "{s}");
        assert_eq!(s["digest"], stored["baseline_digest"], "{s}");
    }
    // The injected failure came after the first committed batch, with the
    // other ten to go: one run committed exactly one apply batch.
    let per_run = copy.psql(&format!(
        "SELECT string_agg(n::text, ',' ORDER BY n) FROM (SELECT count(*) AS n {APPLY_STEPS} GROUP BY rollout_id) s"
    ));
    assert!(per_run.split(',').any(|n| n == "1"), "batches per run: {per_run}");
    assert_eq!(prod.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), 0, "production only read");
}

#[test]
fn the_server_counts_every_batch_and_the_dry_runs_and_names_a_change_no_grant_names() {
    let c = cluster("batched-counted");
    // A trigger the plugin's grants do not name writes a row per row updated.
    c.psql(
        "CREATE TABLE app.trail (id int);
         CREATE FUNCTION app.trail() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO app.trail VALUES (NEW.id); RETURN NEW; END$$;
         CREATE TRIGGER trail AFTER UPDATE ON app.item FOR EACH ROW EXECUTE FUNCTION app.trail();",
    );
    let p = plan(&fixed(5000, 0));
    let changed = |c: &Cluster, phase: &str| {
        let r = report(c);
        let tier = r["tiers"].as_array().unwrap().iter().find(|t| t["batches"]["phase"] == phase).cloned();
        let tier =
            tier.or_else(|| r["tiers"].as_array().unwrap().iter().find(|t| t["plugin"] == "test-backfill").cloned());
        let mut v: Vec<String> = tier.unwrap()["changed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                format!("{} i{} u{} d{} {}", x["relation"], x["inserted"], x["updated"], x["deleted"], x["not_granted"])
            })
            .collect();
        v.sort();
        v.join("; ")
    };
    // The reviewer records the trigger as reviewed.
    let lock = p._dir.path().join("rollout.lock").display().to_string();
    c.review(&p.plan, &lock, false);
    let mut a = p.args("run", "fail=none");
    a.extend(["--lock", &lock, "--dry-run"]);
    c.host(&a).expect_code(0).expect("app.trail — insert 5000 rows");
    assert_eq!(changed(&c, "none"), "\"app.item\" i0 u5000 d0 null; \"app.trail\" i5000 u0 d0 [\"insert\"]");
    let mut a = p.args("run", "fail=none");
    a.extend(["--lock", &lock]);
    let r = c.host(&a);
    r.expect_code(0).expect("app.trail — insert 50000 row(s); no insert grant of test-backfill names it");
    assert_eq!(changed(&c, "apply"), "\"app.item\" i0 u50000 d0 null; \"app.trail\" i50000 u0 d0 [\"insert\"]");
}

/// A batched pass's lock footprint, apply and batch-by-batch undo alike:
/// each relation with the strongest mode any batch took, held as long as
/// the longest one batch held it (never the whole pass: production waits
/// on one batch's transaction), on the pass's row.
#[test]
fn a_batched_pass_and_its_undo_report_their_lock_footprint_batch_by_batch() {
    let c = cluster("batched-footprint");
    let p = plan(&fixed(5000, 50));
    let footprint = |action: &str| {
        let r = report(&c);
        let tier = r["tiers"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["plugin"] == "test-backfill" && t["action"] == action))
            .cloned()
            .unwrap_or_else(|| panic!("no {action} row: {r:#}"));
        let slowest = tier["batches"]["batches"].as_array().unwrap().iter().map(|b| b["duration_ms"].as_u64().unwrap());
        let slowest = slowest.max().unwrap();
        let held = tier["footprint"]
            .as_array()
            .and_then(|f| f.iter().find(|h| h["relation"] == "app.item"))
            .cloned()
            .unwrap_or_else(|| panic!("no footprint entry for app.item: {tier:#}"));
        assert_eq!(held["mode"], "ROW EXCLUSIVE", "{held:#}");
        let ms = held["held_ms"].as_u64().unwrap();
        assert!(ms <= slowest, "held {ms} ms, longer than its slowest batch ({slowest} ms): {tier:#}");
        assert!(ms < tier["duration_ms"].as_u64().unwrap(), "held for the whole pass: {tier:#}");
    };
    c.host(&p.args("run", "fail=none")).expect_code(0);
    footprint("apply");
    c.host(&args("rollback", &p.plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
    footprint("rollback");
}
