//! The report is never lost silently: the ledger keeps what report.json and
//! report.md show, `host report ID` writes them again byte for byte, a
//! report that cannot be written makes the command say so (exit 9 after a
//! success, its own code after a failure) and never `Report <dir>`, and a
//! ledger an older host created is upgraded in place.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::*;

/// The newest rollout's id.
fn last_id(c: &Cluster) -> i64 {
    c.scalar("SELECT max(id) FROM rollout_ledger.rollout")
}

/// The directory a command's `Report <dir>` line names (it must print one).
fn report_dir(r: &Run) -> PathBuf {
    let line = r.stderr.lines().map(str::trim_start).find(|l| l.starts_with("Report ")).unwrap_or_else(|| {
        panic!("no `Report <dir>` line:\n{}", r.all());
    });
    let dir =
        line.strip_prefix("Report written in ").unwrap_or_else(|| panic!("not `Report written in DIR`: {line:?}"));
    PathBuf::from(dir)
}

/// Whether any stderr line announces a report as written.
fn says_written(stderr: &str) -> bool {
    stderr.lines().any(|l| l.trim_start().starts_with("Report "))
}

/// `host report ID --out OUT`.
fn reprint(c: &Cluster, id: i64, out: &Path) -> Run {
    c.host(&["report", &id.to_string(), "--out", out.to_str().expect("a UTF-8 path")])
}

/// report.json and report.md are the same bytes in both directories.
fn assert_same_files(written: &Path, again: &Path) {
    for name in ["report.json", "report.md"] {
        let a = std::fs::read(written.join(name)).unwrap_or_else(|e| panic!("{}: {e}", written.join(name).display()));
        let b = std::fs::read(again.join(name)).unwrap_or_else(|e| panic!("{}: {e}", again.join(name).display()));
        assert!(
            a == b,
            "{name} written again from the ledger differs from the one the command wrote:\n--- written\n{}\n--- again\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
}

/// The report a command wrote, written again from the ledger into a new
/// directory, must be the same bytes.
fn assert_reprinted_same(c: &Cluster, r: &Run, id: i64) {
    let out = tempfile::tempdir().unwrap();
    reprint(c, id, out.path()).expect_code(0).expect("Report ");
    assert_same_files(&report_dir(r), out.path());
}

#[test]
fn host_report_writes_what_the_command_wrote_byte_for_byte() {
    let c = Cluster::start("report-same");
    let plan = one_roof();
    // A run that stops at the gate: whatever it has is stored too.
    let blocked = c.host(&args("run", &plan, &["--param", APR]));
    blocked.expect_code(3);
    assert_reprinted_same(&c, &blocked, last_id(&c));
    // The whole rollout, then its rollback.
    c.ratify();
    let run = c.host(&args("run", &plan, &["--param", APR]));
    run.expect_code(0);
    let id = last_id(&c);
    assert_eq!(c.psql(&format!("SELECT report->>'outcome' FROM rollout_ledger.rollout WHERE id = {id}")), "complete");
    assert_reprinted_same(&c, &run, id);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir(&run).join("report.json")).unwrap()).unwrap();
    assert_eq!(json["tiers"].as_array().map(Vec::len), Some(7));
    assert_eq!(json["message"], "ROLLOUT COMPLETE — ALL TIERS PASSED");
    let rollback = c.host(&args("rollback", &plan, &[]));
    rollback.expect_code(0);
    assert_reprinted_same(&c, &rollback, last_id(&c));
    // Without --out: a new directory of its own under --reports.
    let again = c.host(&["report", &id.to_string()]);
    again.expect_code(0).expect(&format!("rollout {id} (run, complete) of database `directus`"));
    let dir = report_dir(&again);
    assert!(dir.file_name().unwrap().to_string_lossy().contains(&format!("-report-{id}-")), "{}", dir.display());
    assert_same_files(&report_dir(&run), &dir);
    // Never over a file: the same --out again is refused, the files untouched.
    let r = c.host(&["report", &id.to_string(), "--out", dir.to_str().unwrap()]);
    r.expect_code(2).expect("refusing to write").expect("report.json: it exists");
    assert_same_files(&report_dir(&run), &dir);
}

#[test]
fn host_report_of_a_rollout_the_ledger_does_not_have_exits_7_and_says_why() {
    let c = Cluster::start("report-unknown");
    let out = tempfile::tempdir().unwrap();
    // No ledger at all yet.
    reprint(&c, 1, out.path()).expect_code(7).expect("database `directus` has no ledger");
    c.host(&["report", "one"]).expect_code(2).expect("invalid value 'one'");
    c.host(&args("run", &one_roof(), &["--param", APR])).expect_code(3);
    reprint(&c, 99, out.path()).expect_code(7).expect("the ledger of database `directus` has no rollout 99");
    // A rollout still marked running has no report yet.
    let id: i64 = c
        .psql(
            "INSERT INTO rollout_ledger.rollout (verb, operator, client_host, params, plugins, host_version)
             VALUES ('run', 'someone', 'elsewhere', '{}', '[]', '0.1.0') RETURNING id",
        )
        .parse()
        .unwrap();
    reprint(&c, id, out.path())
        .expect_code(7)
        .expect(&format!("rollout {id} has no stored report: it is still marked running"));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "a refused report wrote a file");
}

#[test]
fn a_ledger_an_older_host_created_is_upgraded_in_place_under_the_lock() {
    let c = Cluster::start("report-upgrade");
    c.ratify();
    c.psql(&std::fs::read_to_string(root().join("tests/data/ledger-before-reports.sql")).unwrap());
    let old: i64 = c
        .psql(
            "INSERT INTO rollout_ledger.rollout
                 (verb, operator, client_host, params, plugins, host_version, ended_at, outcome, message)
             VALUES ('rollback', 'old-operator', 'old-host', '{}', '[]', '0.0.9', now(), 'rolled_back', 'FULL ROLLBACK OK')
             RETURNING id",
        )
        .parse()
        .unwrap();
    let column = "SELECT coalesce(max(data_type), 'absent') FROM information_schema.columns
                  WHERE table_schema = 'rollout_ledger' AND table_name = 'rollout' AND column_name = 'report'";
    assert_eq!(c.psql(column), "absent");
    // Read-only verbs read the old ledger and never upgrade it.
    let status = c.host(&["status", "--format", "json"]);
    status.expect_code(0);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(status["history"].as_array().unwrap().iter().any(|p| p["operator"] == "old-operator"), "{status:#}");
    let out = tempfile::tempdir().unwrap();
    reprint(&c, old, out.path())
        .expect_code(7)
        .expect(&format!("rollout {old} has no stored report: it was closed `rolled_back` by host 0.0.9"));
    assert_eq!(c.psql(column), "absent", "a read-only verb changed the ledger");
    // The first run upgrades it, and stores its report.
    let run = c.host(&args("run", &one_roof(), &["--param", APR]));
    run.expect_code(0);
    assert_eq!(c.psql(column), "jsonb");
    let id = last_id(&c);
    assert_eq!(c.psql(&format!("SELECT report->>'outcome' FROM rollout_ledger.rollout WHERE id = {id}")), "complete");
    assert_eq!(
        c.psql(&format!(
            "SELECT operator || ' ' || outcome || ' ' || (report IS NULL) FROM rollout_ledger.rollout WHERE id = {old}"
        )),
        "old-operator rolled_back true",
        "the old rollout is kept as it was"
    );
    assert_reprinted_same(&c, &run, id);
    // A current ledger sees no DDL: the trigger ledger.sql re-creates is the same one.
    let trigger = "SELECT oid FROM pg_trigger WHERE tgname = 'tier_event_append_only'";
    let before = c.psql(trigger);
    c.host(&args("rollback", &one_roof(), &[])).expect_code(0);
    assert_eq!(c.psql(trigger), before, "ledger.sql ran again on a current ledger");
}

/// A small tmpfs (root only): a reports directory that can be filled.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts one; the test that needs it is `#[ignore]`d, and `make test`
    /// runs it (`--ignored`) only as root, so a failure to mount fails it.
    fn mount(name: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("rl-tmpfs-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k,mode=0755", "host-report-test"])
            .arg(&dir)
            .output()
            .expect("mount");
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            panic!("mount -t tmpfs failed: {} (this test needs root)", String::from_utf8_lossy(&out.stderr).trim());
        }
        Tmpfs { dir }
    }

    /// The reports directory on it.
    fn reports(&self) -> PathBuf {
        self.dir.join("reports")
    }

    /// Fills it to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let e = loop {
            if let Err(e) = f.write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filling the tmpfs: {e}");
    }

    fn empty(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).output();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A running `host` whose stderr is read line by line.
struct Watched {
    child: Child,
    lines: Receiver<String>,
    seen: String,
}

impl Watched {
    fn spawn(c: &Cluster, args: &[&str]) -> Watched {
        let mut child = c.spawn(args);
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watched { child, lines, seen: String::new() }
    }

    /// Waits until stderr shows `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push_str(&line);
                self.seen.push('\n');
                if line.contains(needle) {
                    return;
                }
            }
        }
        panic!("never saw {needle:?}; stderr so far:\n{}", self.seen);
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {signal}");
    }

    /// Waits for the exit; all of stdout and stderr.
    fn finish(self) -> Run {
        let out = self.child.wait_with_output().unwrap();
        let mut stderr = self.seen;
        for line in self.lines.iter() {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr }
    }
}

/// A psql session holding a table's ACCESS EXCLUSIVE lock: the host's
/// statement on that table waits (up to its lock_timeout, 5 s) until it
/// ends. A deterministic pause in the middle of a run.
struct TableLock {
    psql: Child,
}

impl TableLock {
    fn take(c: &Cluster, table: &str) -> TableLock {
        use std::io::Write;
        let mut psql = c
            .psql_cmd()
            .args(["-q", "-v", "ON_ERROR_STOP=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("psql");
        let stdin = psql.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;").unwrap();
        stdin.flush().unwrap();
        let held = format!(
            "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass AND mode = 'AccessExclusiveLock' AND granted"
        );
        wait_until(|| c.scalar(&held) == 1, "the table lock is taken");
        TableLock { psql }
    }

    fn wait_until_host_waits(&self, c: &Cluster) {
        let waiting =
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name LIKE 'host %'";
        wait_until(|| c.scalar(waiting) == 1, "the host waits for the table lock");
    }

    fn release(mut self) {
        use std::io::Write;
        let mut stdin = self.psql.stdin.take().expect("piped stdin");
        writeln!(stdin, "COMMIT;").unwrap();
        drop(stdin);
        assert!(self.psql.wait().unwrap().success(), "psql holding the lock failed");
    }
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `args` with `--reports` on the tmpfs.
fn on<'a>(reports: &'a Path, mut args: Vec<&'a str>) -> Vec<&'a str> {
    args.extend(["--reports", reports.to_str().expect("a UTF-8 path")]);
    args
}

/// Its report directory on the tmpfs (one per command).
fn only_dir(reports: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(reports).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

#[test]
#[ignore = "needs root to mount a tmpfs it can fill; make test runs it with --ignored as root"]
fn a_full_reports_directory_is_never_reported_as_written_and_the_ledger_keeps_the_report() {
    let fs = Tmpfs::mount("full-reports");
    let c = Cluster::start("report-full");
    c.ratify();
    let reports = fs.reports();
    let plan = one_roof();

    // Full before the start: refused before the database is touched.
    fs.fill();
    let a = on(&reports, args("run", &plan, &["--param", APR]));
    let r = c.host(&a);
    r.expect_code(2)
        .expect("cannot write in the report directory")
        .expect("so the run did not start and nothing touched the database: No space left on device");
    assert_eq!(c.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0, "the refused command left its directory");
    fs.empty();

    // Full during the run (filled while tier 6 waits for a table lock):
    // the rollout completes, nothing says the report was written, exit 9.
    let lock = TableLock::take(&c, "one_roof.kg_domain");
    let w = Watched::spawn(&c, &a);
    lock.wait_until_host_waits(&c);
    fs.fill();
    lock.release();
    let r = w.finish();
    let id = last_id(&c);
    r.expect_code(9)
        .expect(&format!("The database change itself completed (rollout {id}: ROLLOUT COMPLETE — ALL TIERS PASSED)"))
        .expect(&format!("`host report {id}` writes report.json and report.md again"))
        .expect("report.json: No space left on device")
        .expect("report.md: No space left on device")
        .expect("rollout.log: writing stopped at");
    assert!(!says_written(&r.stderr), "a report not written was announced:\n{}", r.stderr);
    let dir = only_dir(&reports);
    for name in ["report.json", "report.md"] {
        assert!(!dir.join(name).exists(), "{name}: a partial file was left");
    }
    assert_eq!(
        c.psql(&format!(
            "SELECT outcome || ' ' || (report->>'outcome') || ' ' || jsonb_array_length(report->'tiers')
             FROM rollout_ledger.rollout WHERE id = {id}"
        )),
        "complete complete 7"
    );
    let out = tempfile::tempdir().unwrap();
    reprint(&c, id, out.path()).expect_code(0);
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.starts_with("# Rollout report: run — COMPLETE\n"), "{md}");
    assert!(md.contains("## Verify — PASS") && md.contains("**ROLLOUT COMPLETE — ALL TIERS PASSED**"), "{md}");
    fs.empty();
    std::fs::remove_dir_all(&dir).unwrap();

    // A command that fails keeps its own code (130 here), and says the same.
    c.host(&args("rollback", &plan, &[])).expect_code(0);
    let sleepy = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let a = on(&reports, args("run", &sleepy, &["--param", APR, "--param", "mode=sleep"]));
    let mut w = Watched::spawn(&c, &a);
    w.wait_for("now misbehaving: sleep");
    fs.fill();
    w.signal("-INT");
    let r = w.finish();
    let id = last_id(&c);
    r.expect_code(130)
        .expect("The run itself ended `interrupted`")
        .expect(&format!("`host report {id}` writes report.json and report.md again"));
    assert!(!says_written(&r.stderr), "a report not written was announced:\n{}", r.stderr);
    let last = r.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: interrupted by the operator"), "the command's own error comes last: {last:?}");
    assert_eq!(
        c.psql(&format!("SELECT outcome || ' ' || (report->>'outcome') FROM rollout_ledger.rollout WHERE id = {id}")),
        "interrupted interrupted"
    );
}

/// Ctrl-C stops the plugin at once; recording that is the host's own
/// wind-down, and a slow one (a loaded machine, a ledger another session
/// holds for a moment) must still end with the interruption and the report
/// in the ledger, not a rollout left `running` because the grace for a
/// host *waiting on the server* ran out.
#[test]
fn ctrl_c_keeps_the_interruption_and_the_report_when_recording_it_is_slow() {
    let c = Cluster::start("report-winddown");
    c.ratify();
    let reports = tempfile::tempdir().unwrap();
    let sleepy = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let a = on(reports.path(), args("run", &sleepy, &["--param", APR, "--param", "mode=sleep"]));
    let mut w = Watched::spawn(&c, &a);
    w.wait_for("now misbehaving: sleep");
    // Recording the interruption waits on this lock for ~1.5 s: far past
    // the 0.3 s a host merely waiting on the server gets.
    let lock = TableLock::take(&c, "rollout_ledger.tier_event");
    w.signal("-INT");
    lock.wait_until_host_waits(&c);
    std::thread::sleep(Duration::from_millis(1500));
    lock.release();
    let r = w.finish();
    let id = last_id(&c);
    r.expect_code(130).expect("interrupted by the operator");
    assert!(!r.stderr.contains("that wait was cancelled"), "the wind-down was cut short:\n{}", r.stderr);
    assert_eq!(
        c.psql(&format!("SELECT outcome || ' ' || (report->>'outcome') FROM rollout_ledger.rollout WHERE id = {id}")),
        "interrupted interrupted"
    );
    assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=interrupted"));
    assert!(dir_has_report(reports.path()), "the report files were written");
}

fn dir_has_report(reports: &Path) -> bool {
    only_dir(reports).join("report.json").exists()
}
