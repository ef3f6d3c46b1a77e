//! Outcomes exact under every fault: what the host prints, records and
//! exits with is what the database did, whatever the server, the plugin or
//! the operator did meanwhile. The real `host`, real plugins, a real server.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// The misbehaving tier 4 in One-Roof's place, in `mode`.
fn misbehave(c: &Cluster, mode: &str) -> (Vec<String>, Child) {
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let mode = format!("mode={mode}");
    let child = c.spawn(&args("run", &plan, &["--param", APR, "--param", &mode]));
    (plan, child)
}

/// Reads `child`'s stderr until a line holds `marker`; returns what it read
/// and a reader for the rest.
fn until(child: &mut Child, marker: &str) -> (String, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut seen = String::new();
    for line in lines.by_ref().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            return (seen, lines);
        }
    }
    panic!("the host never printed {marker:?}:\n{seen}");
}

fn finish(mut child: Child, seen: String, rest: std::io::Lines<BufReader<std::process::ChildStderr>>) -> Run {
    let rest: Vec<String> = rest.map_while(Result::ok).collect();
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    let status = child.wait().expect("wait for host");
    Run { code: status.code().unwrap_or(-1), stdout, stderr: format!("{seen}{}", rest.join("\n")) }
}

fn interrupt(child: &Child) {
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(ok.success());
}

fn report_json(c: &Cluster) -> serde_json::Value {
    let dir = c.reports().last().expect("a report directory").clone();
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report.json")).expect("json")
}

/// The report row of `plugin`: (outcome, rows changed).
fn tier_row(json: &serde_json::Value, plugin: &str) -> (String, i64) {
    let row = json["tiers"]
        .as_array()
        .and_then(|t| t.iter().find(|r| r["plugin"] == plugin))
        .unwrap_or_else(|| panic!("no row for {plugin} in the report: {json}"));
    (row["outcome"].as_str().unwrap_or("").to_string(), row["rows_changed"].as_i64().unwrap_or(-1))
}

#[test]
fn an_error_of_class_08_raised_on_a_live_session_is_the_tiers_sql_error_not_a_lost_connection() {
    let c = Cluster::start("class08");
    c.ratify();
    c.psql(
        "CREATE FUNCTION public.raise_08006() RETURNS int LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'the remote server is down' USING ERRCODE = '08006'; END $$",
    );
    let (_, child) = misbehave(&c, "raise08");
    let r = Run::from(child.wait_with_output().expect("host"));
    // The server answered on a live session: the tier's SQL error (exit 4),
    // with the server's own words, not "the database connection was lost".
    r.expect_code(4).expect("08006").expect("the remote server is down");
    assert!(!r.all().contains("connection was lost"), "{}", r.all());
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "failed");
}

#[test]
fn ctrl_c_while_a_plugin_sleeps_in_wasi_records_the_interruption_and_closes_the_rollout() {
    let c = Cluster::start("wasi-sleep");
    c.ratify();
    let (_, mut child) = misbehave(&c, "wasi_sleep");
    let (seen, rest) = until(&mut child, "now misbehaving: wasi_sleep");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    interrupt(&child);
    let r = finish(child, seen, rest);
    eprintln!("Ctrl-C during a WASI sleep: exit after {:?}", sent.elapsed());
    r.expect_code(130).expect("interrupted");
    assert!(!r.all().contains("the host was waiting on the server"), "{}", r.all());
    // The ledger knows: the tier's interrupted event, the rollout closed.
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "interrupted");
    assert_eq!(c.psql("SELECT event FROM rollout_ledger.tier_event WHERE plugin = 'test-misbehave'"), "interrupted");
    assert_eq!(tier_row(&report_json(&c), "test-misbehave").0, "interrupted");
    c.host(&["report", "1", "--out", c.dir.join("again").to_str().unwrap()]).expect_code(0);
}

/// A deferred constraint trigger on the ledger's event table makes tier 2's
/// COMMIT wait (`wait`: an advisory lock the test holds, or a sleep):
/// Ctrl-C arrives while the COMMIT's answer is in flight.
fn slow_commit(c: &Cluster, wait: &str) -> Child {
    c.host(&args("rollback", &one_roof(), &[])).expect_code(0); // creates the ledger
    c.psql(&format!(
        "CREATE FUNCTION public.slow_commit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN PERFORM {wait}; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON rollout_ledger.tier_event
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
           WHEN (NEW.plugin = 'one-roof-ownership' AND NEW.event = 'applied')
           EXECUTE FUNCTION public.slow_commit()"
    ));
    c.psql_cmd()
        .args(["-q", "-c"])
        .arg("BEGIN; SELECT pg_advisory_xact_lock(4242); SELECT pg_sleep(60);")
        .env("PGAPPNAME", "commit-blocker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql")
}

fn wait_for(c: &Cluster, sql: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.scalar(sql) == 0 {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_while_a_commit_answer_is_in_flight_records_the_tier_the_database_committed() {
    let c = Cluster::start("commit-in-flight");
    c.ratify();
    let mut blocker = slow_commit(&c, "pg_advisory_xact_lock(4242)");
    wait_for(&c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted", "no lock");
    let mut child = c.spawn(&args("run", &one_roof(), &["--param", APR]));
    // The host's COMMIT of tier 2 waits on the advisory lock.
    wait_for(
        &c,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host apply%' AND wait_event_type = 'Lock'",
        "the COMMIT never waited",
    );
    interrupt(&child);
    // The answer comes a second later: the COMMIT went through.
    std::thread::sleep(Duration::from_secs(1));
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'commit-blocker'");
    let _ = blocker.wait();
    let stderr = {
        let mut s = String::new();
        child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let code = child.wait().unwrap().code();
    // Interrupted, and what the database kept is known and recorded: tier 2
    // committed, nothing after it ran.
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!stderr.contains("the host was waiting on the server"), "{stderr}");
    assert_eq!(c.tier_states(), "one-roof-preflight=applied one-roof-shadow=applied one-roof-ownership=applied");
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout ORDER BY id DESC LIMIT 1"), "interrupted");
    let (outcome, rows) = tier_row(&report_json(&c), "one-roof-ownership");
    assert_eq!(outcome, "applied", "{stderr}");
    assert!(rows > 0, "the committed tier's rows: {rows}");
}

#[test]
fn ctrl_c_while_a_commit_never_answers_cancels_its_wait_and_records_what_the_server_answered() {
    let c = Cluster::start("commit-cancelled");
    c.ratify();
    let mut blocker = slow_commit(&c, "pg_sleep(60)");
    let mut child = c.spawn(&args("run", &one_roof(), &["--param", APR]));
    wait_for(
        &c,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host apply%' AND wait_event = 'PgSleep'",
        "the COMMIT never waited",
    );
    let sent = Instant::now();
    interrupt(&child);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let code = child.wait().unwrap().code();
    eprintln!("Ctrl-C with a COMMIT that never answers: exit after {:?}", sent.elapsed());
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'commit-blocker'");
    let _ = blocker.wait();
    // The wait was cancelled on the server, which answered: not committed.
    // Never "outcome UNKNOWN" when the server could say, never a rollout
    // left running.
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(c.tier_states(), "one-roof-preflight=applied one-roof-shadow=applied one-roof-ownership=interrupted");
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout ORDER BY id DESC LIMIT 1"), "interrupted");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership"), 0, "tier 2 did not commit");
}

#[test]
fn a_ledger_that_refuses_to_close_the_rollout_fails_the_command_with_the_servers_reason() {
    let c = Cluster::start("close-refused");
    c.ratify();
    c.host(&args("rollback", &one_roof(), &[])).expect_code(0); // creates the ledger
    c.psql(
        "CREATE FUNCTION public.no_close() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN IF NEW.outcome <> 'running' THEN RAISE EXCEPTION 'the ledger is frozen for an audit'; END IF;
                    RETURN NEW; END $$;
         CREATE TRIGGER no_close BEFORE UPDATE ON rollout_ledger.rollout FOR EACH ROW EXECUTE FUNCTION public.no_close()",
    );
    let r = c.host(&args("run", &one_roof(), &["--param", APR]));
    r.expect_code(8).expect("the ledger refused to close rollout 2").expect("the ledger is frozen for an audit");
    assert!(!r.all().contains("db error"), "the server's reason, not \"db error\":\n{}", r.all());
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(!r.stderr.lines().any(|l| l.starts_with("ROLLOUT COMPLETE")), "no success verdict:\n{}", r.stderr);
}

#[test]
fn a_copy_the_server_refuses_at_its_start_leaves_the_session_answering_in_order() {
    let c = Cluster::start("copy-refused");
    c.ratify();
    let (plan, child) = misbehave(&c, "copy_refused");
    let r = Run::from(child.wait_with_output().expect("host"));
    // The COPY's own error fails the tier (exit 4); the statement after it
    // got its own answer (the aborted transaction's), never a desynchronised
    // connection ("unexpected message", exit 8).
    r.expect_code(4).expect("no_such_column").expect("the next statement: Err");
    assert!(!r.all().contains("unexpected message"), "{}", r.all());
    assert!(r.all().contains("25P02"), "the next statement's answer is its own:\n{}", r.all());
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn a_lost_commit_answer_the_ledger_settles_is_reported_applied_with_its_rows() {
    let c = Cluster::start("lost-answer-report");
    c.ratify();
    // Only the work session loses the answer to its second COMMIT (tier 1);
    // the control connection reads the ledger.
    let proxy = support::proxy::Proxy::start_one(&c.dir, 2);
    let r = Run::from(proxy.host_cmd(&c, &args("run", &one_roof(), &["--param", APR])).output().expect("host"));
    r.expect("the ledger shows tier 1 (one-roof-shadow) committed");
    let (outcome, rows) = tier_row(&report_json(&c), "one-roof-shadow");
    assert_eq!((outcome.as_str(), rows), ("applied", 30), "{}", r.all());
}

/// Runs `host` to its end and returns it with the kernel's peak RSS of the
/// child in KiB (`wait4`: no sample can miss the peak).
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its peak RSS")]
#[allow(unsafe_code, reason = "wait4, which std does not offer, gives the child's peak RSS")]
fn with_peak(mut cmd: Command) -> (Run, u64) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn host");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // SAFETY: rusage is plain integers and timevals, for which all-zero is a valid value.
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, with valid pointers; `child` is not waited on again.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    (Run { code, stdout: out.join().unwrap(), stderr: err.join().unwrap() }, usage.ru_maxrss as u64)
}

#[test]
fn values_far_past_the_plugins_memory_are_stopped_before_the_host_holds_them() {
    let c = Cluster::start("big-values");
    c.ratify();
    // Three values of 200 MiB each (compressed to almost nothing on disk).
    c.psql(
        "CREATE TABLE public.big_value (v text);
         INSERT INTO public.big_value SELECT repeat('x', 200 * 1024 * 1024) FROM generate_series(1, 3)",
    );
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let (r, peak_kib) = with_peak(c.host_cmd(&args("run", &plan, &["--param", APR, "--param", "mode=big_read"])));
    eprintln!("three 200 MiB values, memory_mib = 64: host peak RSS {} MiB", peak_kib / 1024);
    // Stopped at the plugin's memory limit, named as such (exit 4), not a
    // lost connection; the host never held a value.
    r.expect_code(4).expect("memory_mib");
    assert!(!r.all().contains("connection was lost"), "{}", r.all());
    assert!(peak_kib < 128 * 1024, "the host held {} MiB for a plugin with memory_mib = 64", peak_kib / 1024);
    // The next command runs on new connections as usual.
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn a_tier_6_rollback_that_leaves_its_inactive_event_types_fails_the_full_rollback() {
    let c = Cluster::start("liar6");
    c.ratify();
    let plan = plan_with(Some("t6-kg-domain"), &["tests/plugins/liar6.wasm"]);
    c.host(&args("run", &plan, &["--param", APR])).expect_code(0);
    // Its own rollback conditions pass; the baseline probe's event_types
    // (3 at the baseline, 6 now) does not, so nothing of the rollback stays.
    c.host(&args("rollback", &plan, &[])).expect_code(4).expect("event_types");
    // Read as JSON: every message whole, whatever the table's width.
    let status: serde_json::Value = serde_json::from_str(&c.host(&["status", "--format", "json"]).stdout).unwrap();
    let history = status["history"].as_array().expect("history");
    assert!(!history.is_empty() && history.iter().all(|p| p["message"] != "FULL ROLLBACK OK"), "{status:#}");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.event_type_registry"), 6, "the rollback changed nothing");
}
