//! A reviewed way out of a broken rollback (issue 22 item 4): a tier whose
//! rollback has a bug cannot be rolled back (nothing changes); a fixed
//! plugin rolls it back only when the lock file names it as the
//! replacement of the sha256 that applied it, and the ledger, the report
//! and `host status` keep both sha256s. And `host rehearse --make-copy`: a
//! scratch copy made from `pg_dump` of the source, rehearsed on, removed
//! (or kept), the source unchanged. Real server, real binary, real plugins.

mod support;

use sha2::{Digest, Sha256};
use std::path::Path;
use support::*;

const BROKEN: &str = "tests/plugins/brokenrb.wasm";
const FIXED: &str = "tests/plugins/brokenrb-fixed.wasm";

fn sha256_of(plugin: &str) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(root().join(plugin)).expect("build the plugins: make test-plugins")))
}

/// `host grants --lock LOCK PLAN… EXTRA…`, which must succeed.
fn review(plan: &[String], lock: &Path, extra: &[&str]) -> Run {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    let mut a = vec!["grants", "--lock", lock.to_str().unwrap()];
    a.extend_from_slice(extra);
    a.extend(plan.iter().map(String::as_str));
    c.current_dir(root()).args(&a).env("HOST_COMPILE_CACHE", compile_cache());
    let run = Run::from(c.output().expect("run host"));
    run.expect_code(0).expect("Wrote the lock file");
    run
}

/// One-Roof and tier 7 from `tier7`, run under its lock file; the state
/// with tier 7 applied.
fn applied_with(c: &Cluster, tier7: &str, lock: &Path) -> Vec<String> {
    c.ratify();
    let plan = plan_with(None, &[tier7]);
    review(&plan, lock, &[]);
    c.host(&args("run", &plan, &["--param", APR, "--lock", lock.to_str().unwrap()])).expect_code(0);
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.team WHERE code = 'fixture-brokenrb'"), 1);
    plan
}

/// Everything a rollback could change: the data and what the ledger says
/// is applied (its committed events; a failure is recorded beside them).
fn everything(c: &Cluster) -> String {
    let events = c.psql(
        "SELECT string_agg(plugin || ' ' || event || ' ' || sha256, ', ' ORDER BY id) FROM rollout_ledger.tier_event
         WHERE event IN ('applied', 'rolled_back')",
    );
    format!("{}\n{events}", c.state_digest())
}

#[test]
fn a_broken_rollback_changes_nothing_and_an_unreviewed_fix_is_refused() {
    let c = Cluster::start("rp-refused");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("applied.lock");
    let plan = applied_with(&c, BROKEN, &lock);
    let (broken, fixed) = (sha256_of(BROKEN), sha256_of(FIXED));
    let before = everything(&c);

    // The tier's own rollback: its conditions fail, the transaction is rolled back.
    let lk = lock.to_str().unwrap();
    c.host(&args("rollback", &plan, &["--lock", lk])).expect_code(4).expect("rollback conditions not met");
    assert_eq!(everything(&c), before, "a failed rollback changes nothing");

    // The fixed plugin, no lock file: refused, saying how to review it.
    let fixed_plan = plan_with(None, &[FIXED]);
    c.host(&args("rollback", &fixed_plan, &[]))
        .expect_code(7)
        .expect(&format!("was applied from sha256 {broken}, but the given plugin is {fixed}"))
        .expect("no lock file was given")
        .expect(&format!("--replaces test-brokenrb={broken}"));
    // A lock file that reviews the fixed plugin, not as a replacement.
    let plain = dir.path().join("plain.lock");
    review(&fixed_plan, &plain, &[]);
    c.host(&args("rollback", &fixed_plan, &["--lock", plain.to_str().unwrap()]))
        .expect_code(7)
        .expect("does not name it as a replacement");
    // A lock file naming it as the replacement of other bytes.
    let other = "0".repeat(64);
    let elsewhere = dir.path().join("elsewhere.lock");
    review(&fixed_plan, &elsewhere, &["--replaces", &format!("test-brokenrb={other}")]);
    c.host(&args("rollback", &fixed_plan, &["--lock", elsewhere.to_str().unwrap()]))
        .expect_code(7)
        .expect(&format!("names it as a replacement of sha256 {other} only"));
    // The lock file that applied the tier does not hold the fixed bytes.
    c.host(&args("rollback", &fixed_plan, &["--lock", lk])).expect_code(2).expect("bytes differ");
    assert_eq!(everything(&c), before, "no refused rollback changed anything");
}

#[test]
fn the_reviewed_replacement_rolls_back_and_the_ledger_keeps_both_sha256s() {
    let c = Cluster::start("rp-replaced");
    let dir = tempfile::tempdir().unwrap();
    let applied = dir.path().join("applied.lock");
    applied_with(&c, BROKEN, &applied);
    let (broken, fixed) = (sha256_of(BROKEN), sha256_of(FIXED));

    let lock = dir.path().join("replacement.lock");
    let fixed_plan = plan_with(None, &[FIXED]);
    review(&fixed_plan, &lock, &["--replaces", &format!("test-brokenrb={broken}")])
        .expect(&format!("test-brokenrb replacing sha256 {broken}"));
    // The review reads it in the lock file, one line a `diff` shows.
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains(&format!("replaces = [\"{broken}\"]")), "{text}");

    let run = c.host(&args("rollback", &fixed_plan, &["--lock", lock.to_str().unwrap()]));
    run.expect_code(0).expect("FULL ROLLBACK OK").expect("names as its replacement");
    assert_eq!(c.baseline_line(), BASELINE);
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.team WHERE code = 'fixture-brokenrb'"), 0);
    let ledger = c.psql(
        "SELECT event || ' ' || sha256 || ' ' || coalesce(replaces, '-') FROM rollout_ledger.tier_event
         WHERE plugin = 'test-brokenrb' ORDER BY id",
    );
    assert_eq!(ledger, format!("applied {broken} -\nrolled_back {fixed} {broken}"));

    // The rollback's report and `host status` say both.
    let report = c.reports().into_iter().rfind(|d| d.to_string_lossy().contains("rollback")).expect("a report");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let line = format!("rolled back by sha256 {fixed}, the lock file's reviewed replacement of sha256 {broken}");
    assert!(md.contains(&line), "{md}");
    let status = c.host(&["status"]);
    status
        .expect_code(0)
        .expect(&format!("Replaced: tier 7 (test-brokenrb) applied from sha256 {broken} was rolled back in rollout"));
    status.expect(&format!("by sha256 {fixed}, its reviewed replacement."));
}

/// The scratch directory a made copy lives in, as the rehearsal printed it.
fn copy_dir(out: &str) -> std::path::PathBuf {
    let at = out.find("host-rehearsal-copy-").expect("the copy's directory is named");
    let start = out[..at].rfind(' ').map(|i| i + 1).unwrap_or(0);
    let end = at + out[at..].find(|c: char| c.is_whitespace() || c == ')' || c == ',').unwrap_or(out.len() - at);
    std::path::PathBuf::from(&out[start..end])
}

/// What the source holds, and that nothing marked or wrote it.
fn source_state(prod: &Cluster) -> String {
    let settings = prod.psql("SELECT count(*) FROM pg_db_role_setting");
    format!("{}\nsettings {settings}", prod.state_digest())
}

fn rehearse_made(prod: &Cluster, plan: &[String], extra: &[&str], reports: &Path) -> Run {
    let from = prod.url();
    let mut a = args("rehearse", plan, &["--param", APR, "--from", &from, "--make-copy"]);
    a.extend(extra);
    a.extend(["--reports", reports.to_str().unwrap()]);
    Run::from(prod.host_cmd(&a).env_remove("HOST_COPY_URL").output().expect("run host"))
}

#[test]
fn rehearse_makes_its_own_copy_rehearses_there_and_removes_or_keeps_it() {
    let prod = Cluster::start("rp-made");
    prod.ratify();
    let before = source_state(&prod);
    let fixed = plan_with(None, &[FIXED]);

    // Made, used (every step), removed.
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_made(&prod, &fixed, &[], reports.path());
    r.expect_code(0).expect("Removed the rehearsal copy");
    let dir = copy_dir(&r.all());
    assert!(!dir.exists(), "{} is still there", dir.display());
    let dirs: Vec<_> = std::fs::read_dir(reports.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dirs[0].join("report.json")).unwrap()).unwrap();
    assert!(stored["steps"].as_array().unwrap().len() >= 5, "{stored:#}");
    assert_eq!(source_state(&prod), before, "the source changed");

    // The broken rollback is caught on the made copy, which is removed all the same.
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_made(&prod, &plan_with(None, &[BROKEN]), &[], reports.path());
    r.expect_code(10).expect("rollback conditions not met").expect("Removed the rehearsal copy");
    assert!(!copy_dir(&r.all()).exists());
    assert_eq!(source_state(&prod), before, "the source changed");

    // Kept: still running, marked, in the source's state; stopped as it says.
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_made(&prod, &fixed, &["--keep"], reports.path());
    r.expect_code(0).expect("Kept").expect("stop it with `");
    let out = r.all();
    let url = out.split("--copy-url \"").nth(1).and_then(|s| s.split('"').next()).expect("the copy's URL");
    let psql = |sql: &str| {
        let o = std::process::Command::new("psql").args(["-X", "-t", "-A", "-d", url, "-c", sql]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(psql("SHOW host.rehearsal_copy"), "on");
    assert_eq!(psql("SELECT count(*) FROM one_roof.team WHERE code = 'fixture-brokenrb'"), "0");
    let stop = out.split("stop it with `").nth(1).and_then(|s| s.split('`').next()).unwrap();
    let words: Vec<&str> = stop.split(' ').collect();
    assert!(std::process::Command::new(words[0]).args(&words[1..]).output().unwrap().status.success(), "{stop}");
    let dir = copy_dir(&out);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(source_state(&prod), before, "the source changed");
}

#[test]
fn a_source_marked_as_a_copy_or_no_programs_make_no_copy() {
    let prod = Cluster::start("rp-refuse");
    prod.ratify();
    let plan = plan_with(None, &[FIXED]);
    let reports = tempfile::tempdir().unwrap();
    rehearse_made(&prod, &plan, &["--pg-bindir", "/nonexistent"], reports.path()).expect_code(2).expect(
        "--make-copy needs the PostgreSQL 15 (or newer) programs initdb, pg_ctl, pg_dump, pg_dumpall, pg_restore, psql",
    );
    prod.psql_in("postgres", "ALTER DATABASE directus SET host.rehearsal_copy = on");
    let r = rehearse_made(&prod, &plan, &[], reports.path());
    r.expect_code(5).expect("is marked as a rehearsal copy");
    assert!(!r.all().contains("host-rehearsal-copy-"), "a copy was made: {}", r.all());
    assert_eq!(prod.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
}

#[test]
fn a_table_owners_code_never_runs_as_a_superuser_while_the_copy_is_made_or_rehearsed() {
    // A role that is not a superuser on the source writes a CHECK whose
    // function runs a shell command whenever a superuser evaluates it: the
    // copy's restore (and the rehearsal's steps) must never be that superuser.
    let prod = Cluster::start("rp-owner");
    prod.ratify();
    let marks = tempfile::tempdir().unwrap();
    std::fs::set_permissions(marks.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let mark = marks.path().join("ran-as-superuser");
    prod.psql(&format!(
        "CREATE ROLE rp_app LOGIN; CREATE SCHEMA rp_app AUTHORIZATION rp_app; SET ROLE rp_app;
         CREATE FUNCTION rp_app.ok(x int) RETURNS boolean LANGUAGE plpgsql AS $f$
         BEGIN
           IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
             EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {}''';
           END IF;
           RETURN true;
         END $f$;
         CREATE TABLE rp_app.t (x int CHECK (rp_app.ok(x)));
         INSERT INTO rp_app.t VALUES (1); RESET ROLE",
        mark.display()
    ));
    let reports = tempfile::tempdir().unwrap();
    let r = rehearse_made(&prod, &plan_with(None, &[FIXED]), &[], reports.path());
    r.expect("restored from the source's pg_dump");
    assert!(!mark.exists(), "the table owner's function ran as a superuser on the copy:\n{}", r.all());
}

/// The batched fixture's table: 50,000 rows the backfill sets `v` on.
const ITEMS: &str = "CREATE SCHEMA app;
CREATE TABLE app.item (id int PRIMARY KEY, n int NOT NULL, v int);
INSERT INTO app.item SELECT g, g % 997, NULL FROM generate_series(1, 50000) g;";

/// A transaction-mode plugin under the batched backfill's name and
/// ordinal: the fixed brokenrb's code with a manifest that says it is
/// `test-backfill` (other bytes, no `mode`, so a transaction tier).
const TXN_BACKFILL: &str = r#"name = "test-backfill"
kind = "tier"
ordinal = 1
description = "A transaction-mode plugin claiming to replace the batched backfill."
databases = ["directus"]

post_conditions = ["fixture_team"]
rollback_conditions = ["fixture_team"]

[params.fail]
pattern = "none|post|batch|cycle|idle"
description = "where the tier fails"

[grants]
read = ["app.item"]
update = ["app.item"]
"#;

#[test]
fn a_replacement_never_rolls_back_a_tier_its_applied_bytes_ran_in_batches() {
    let c = Cluster::start("rp-stepped");
    c.psql(ITEMS);
    let dir = tempfile::tempdir().unwrap();
    let verdict = root().join("tests/plugins/verdict.wasm");
    let verify = dir.path().join("verify.wasm");
    std::fs::write(&verify, with_manifest(&std::fs::read(&verdict).unwrap(), support::audit::VERIFY)).unwrap();
    let backfill = "tests/plugins/backfill.wasm";
    let with = |tier: String| vec![verdict.display().to_string(), tier, verify.display().to_string()];
    let params = ["--param", "verdict=ok", "--param", "fail=none"];
    let plan = with(backfill.to_string());
    c.host(&args("run", &plan, &params)).expect_code(0);
    let batches = "SELECT count(*) FROM rollout_ledger.step WHERE plugin = 'test-backfill' AND kind = 'batch'";
    assert!(c.scalar(batches) > 1, "the backfill ran in batches");
    let state = || {
        let ledger = c.psql(
            "SELECT string_agg(plugin || ' ' || event || ' ' || sha256, ', ' ORDER BY id) FROM rollout_ledger.tier_event;
             SELECT count(*) FROM rollout_ledger.step",
        );
        let data = c.psql("SELECT md5(string_agg(id || ':' || coalesce(v::text, '-'), ',' ORDER BY id)) FROM app.item");
        format!("{data}\n{ledger}")
    };
    let before = state();

    // A transaction-mode plugin of the same name, reviewed in the lock
    // file as the replacement of the batched bytes that applied the tier.
    let txn = dir.path().join("txn-backfill.wasm");
    std::fs::write(&txn, with_manifest(&std::fs::read(root().join(FIXED)).unwrap(), TXN_BACKFILL)).unwrap();
    let replacement = with(txn.display().to_string());
    let lock = dir.path().join("replacement.lock");
    let applied = sha256_of(backfill);
    review(&replacement, &lock, &["--replaces", &format!("test-backfill={applied}")]);
    let mut a = args("rollback", &replacement, &params);
    a.extend(["--lock", lock.to_str().unwrap()]);
    c.host(&a)
        .expect_code(7)
        .expect(&format!("test-backfill applied from sha256 {applied} committed batches or index steps"))
        .expect("a replacement rolls back a transaction tier only")
        .expect("roll it back with the plugin that applied it");
    assert_eq!(state(), before, "the refused replacement changed something");

    // The bytes that applied it still roll it back.
    c.host(&args("rollback", &plan, &params)).expect_code(0).expect("FULL ROLLBACK OK");
}
