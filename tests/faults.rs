//! Faults injected from outside the host: a network that dies after the
//! server got COMMIT, a server that crashes mid-tier, a ledger locked by
//! another session while the operator presses Ctrl-C. The real `host`, real
//! plugins, a real server; the host is told nothing.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::proxy::Proxy;
use support::*;

/// `host` through the proxy: TCP on loopback, no TLS (the proxy reads the protocol).
fn via(c: &Cluster, proxy: &Proxy, a: &[&str]) -> Command {
    proxy.host_cmd(c, a)
}

#[test]
fn a_lost_commit_answer_with_the_ledger_unreachable_is_said_unknown_and_status_settles_it() {
    let c = Cluster::start("unknown-commit");
    c.ratify();
    let plan = one_roof();
    // COMMITs in a run: tier 0, tier 1, tier 2 (checks end with ROLLBACK).
    let proxy = Proxy::start(&c.dir, 3);
    let r = Run::from(via(&c, &proxy, &args("run", &plan, &["--param", APR])).output().unwrap());
    assert!(proxy.has_cut(), "the proxy never saw the third COMMIT:\n{}", r.all());
    r.expect_code(8)
        .expect("outcome UNKNOWN: the answer to COMMIT of tier 2 (one-roof-ownership) was lost")
        .expect("the ledger cannot be read")
        .expect("Run `host status` with the same connection options");
    // Never "rolled back" or "nothing of it was kept" for a COMMIT that may have happened.
    assert!(!r.stderr.contains("Rolled back tier 2"), "{}", r.stderr);
    assert!(!r.all().contains("nothing of it was kept"), "{}", r.all());
    let dir = c.reports().last().unwrap().clone();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["outcome"], "unknown", "{json}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("UNKNOWN"), "{md}");
    // The truth: the server committed tier 2, and the ledger (same transaction) says so.
    assert_eq!(c.tier_states(), "one-roof-preflight=applied one-roof-shadow=applied one-roof-ownership=applied");
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "running");
    // The next command settles it from the ledger, before anything else.
    c.host(&["status"])
        .expect_code(0)
        .expect("Settled rollout 1")
        .expect("tier 2 (one-roof-ownership) applied; anything else of it did not commit");
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "abandoned");
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
    assert_eq!(c.baseline_line(), BASELINE);
}

#[test]
fn a_server_crash_mid_tier_exits_8_and_the_rollout_is_settled_after_restart() {
    let c = Cluster::start("crash");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let mut child = c.spawn(&args("run", &plan, &["--param", APR, "--param", "mode=sleep"]));
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("now misbehaving: sleep") {
            break;
        }
    }
    c.crash();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let code = child.wait().unwrap().code();
    let all = format!("{seen}{}", rest.join("\n"));
    assert_eq!(code, Some(8), "a lost server is exit 8, as docs/operator.md says:\n{all}");
    assert!(all.contains("the database connection was lost"), "{all}");
    c.restart();
    // The host could not close its rollout: the next command settles it.
    c.host(&["status"]).expect_code(0).expect("Settled rollout 1").expect("tier 3 (one-roof-axis) applied");
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "abandoned");
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn ctrl_c_while_the_host_waits_on_a_locked_ledger_exits_130_within_a_second_with_no_new_row() {
    let c = Cluster::start("ledger-lock");
    c.ratify();
    let plan = one_roof();
    // A rollback of the untouched baseline creates the ledger (one rollout row).
    c.host(&args("rollback", &plan, &[])).expect_code(0);
    let rows = c.scalar("SELECT count(*) FROM rollout_ledger.rollout");
    // Another session holds the ledger table (a DBA, a stuck report query).
    let mut locker = c
        .psql_cmd()
        .arg("-c")
        .arg("BEGIN; LOCK TABLE rollout_ledger.rollout IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);")
        .env("PGAPPNAME", "ledger-locker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waiting =
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'host run%' AND wait_event_type = 'Lock'";
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.scalar("SELECT count(*) FROM pg_locks WHERE relation = 'rollout_ledger.rollout'::regclass AND granted AND mode = 'AccessExclusiveLock'") == 0 {
        assert!(Instant::now() < deadline, "the locker never got its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = c.spawn(&args("run", &plan, &["--param", APR]));
    while c.scalar(waiting) == 0 {
        assert!(Instant::now() < deadline, "the host never waited on the ledger");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    eprintln!("Ctrl-C while waiting on the locked ledger: exit after {took:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(took <= Duration::from_secs(1), "Ctrl-C took {took:?} to end the host:\n{err}");
    assert!(err.contains("that wait was cancelled there"), "{err}");
    // Its statement was cancelled on the server, not left queued behind the lock.
    assert_eq!(c.scalar(waiting), 0, "the host's statement still waits on the server");
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ledger-locker'");
    let _ = locker.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.scalar("SELECT count(*) FROM pg_locks WHERE relation = 'rollout_ledger.rollout'::regclass") > 0 {
        assert!(Instant::now() < deadline, "the locker's lock stayed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.rollout"), rows, "a rollout row was begun after Ctrl-C");
}
