//! The One-Roof runbook through the real `host` binary, real compiled
//! plugins and a real PostgreSQL server (one scratch cluster per test).

mod support;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};
use support::*;

const VERIFY_METRICS: [&str; 11] = [
    "resp_ownership_gap",
    "resp_conflict",
    "containment_gap",
    "active_axes",
    "divergent",
    "projection_gap",
    "label_orphans",
    "critical_drift",
    "emittable_events",
    "gov_outbox",
    "kg_domain_x",
];

fn run_ok(c: &Cluster) -> Run {
    let plan = one_roof();
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(0);
    r
}

#[test]
fn happy_path_runs_every_tier_and_verify_passes_all_eleven_metrics() {
    let c = Cluster::start("happy");
    c.ratify();
    let r = run_ok(&c);
    r.expect("GATE READY").expect("TIER 8 VERIFY PASS").expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
    for metric in VERIFY_METRICS {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(&format!("│ {metric} ")))
            .unwrap_or_else(|| panic!("no {metric} line"));
        assert!(line.contains("PASS"), "{metric} did not pass: {line}");
    }
    let drift = r.stderr.lines().find(|l| l.contains("│ open_drift ")).expect("open_drift line");
    assert!(drift.contains("info") && drift.contains(" 4 "), "open_drift is information: {drift}");
    for n in [0, 1, 2, 3, 4, 5, 6] {
        assert!(r.stderr.contains(&format!("Applied tier {n} (")), "tier {n} not applied:\n{}", r.stderr);
    }
    // The data, the approval provenance and the ledger agree.
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership WHERE approval_ref = 'APR-2026-0412'"), 30);
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE event = 'applied'"), 7);
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE event = 'verified'"), 1);
    assert_eq!(
        c.psql("SELECT operator || ' ' || approval_ref || ' ' || gate_verdict || ' ' || outcome FROM rollout_ledger.rollout"),
        "test-operator APR-2026-0412 READY complete"
    );
    assert_eq!(c.scalar("SELECT jsonb_array_length(plugins) FROM rollout_ledger.rollout"), 11);
    // The report, ready to publish.
    let dir = c.reports().pop().expect("a report directory");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["outcome"], "complete");
    assert_eq!(json["tiers"].as_array().unwrap().len(), 7);
    assert_eq!(json["verify"]["passed"], true);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## Verify — PASS") && md.contains("## Gate — READY"), "{md}");
    let log = std::fs::read_to_string(dir.join("rollout.log")).unwrap();
    assert!(log.contains("ROLLOUT COMPLETE"), "{log}");
    // Status shows who applied what under which approval.
    c.host(&["status"]).expect_code(0).expect("7 tier(s) applied").expect("test-operator").expect("APR-2026-0412");
}

#[test]
fn gate_blocks_on_the_baseline_and_no_tier_runs() {
    let c = Cluster::start("blocked");
    let plan = one_roof();
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(3).expect("GATE BLOCKED").expect("ospa=0");
    assert!(!r.stderr.contains("Applying tier"), "a tier ran:\n{}", r.stderr);
    assert_eq!(c.psql("SELECT gate_verdict || ' ' || outcome FROM rollout_ledger.rollout"), "BLOCKED blocked");
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event"), 0);
    assert_eq!(c.baseline_line(), BASELINE);
    // `host gate` alone says the same, read-only.
    c.host(&args("gate", &plan, &["--param", APR])).expect_code(3).expect("GATE BLOCKED");
}

#[test]
fn preempted_failures_are_caught_by_the_gate_and_change_nothing() {
    let c = Cluster::start("preempted");
    c.ratify();
    let plan = one_roof();
    // Wrong database: the identity guard refuses before anything else.
    c.psql_in("postgres", "CREATE DATABASE directus_copy");
    let r = Run::from(c.host_cmd_db("directus_copy", &args("run", &plan, &["--param", APR])).output().unwrap());
    r.expect_code(5).expect("refusing to run against database `directus_copy`");
    assert_eq!(c.psql_in("directus_copy", "SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), "0");

    let cases: [(&str, &str, &str); 3] = [
        (
            "DELETE FROM one_roof.containment WHERE responsibility_id = 1; DELETE FROM one_roof.responsibility WHERE id = 1",
            "INSERT INTO one_roof.responsibility VALUES (1, 1, 'core-01.r1', 'Responsibility 1 of core-01');
             INSERT INTO one_roof.containment SELECT 1, id FROM one_roof.axis_node WHERE code IN ('run', 'platform')",
            "gap=209",
        ),
        (
            "INSERT INTO one_roof.resp_ownership (area_id, team_code, approval_ref) VALUES (1, 'T01', 'manual')",
            "DELETE FROM one_roof.resp_ownership",
            "ownership=1",
        ),
        (
            "INSERT INTO one_roof.classification_axis VALUES ('release_scope', 'Release scope', 'draft')",
            "DELETE FROM one_roof.classification_axis WHERE code = 'release_scope'",
            "axis=present",
        ),
    ];
    for (break_it, restore, failure) in cases {
        c.psql(break_it);
        let r = c.host(&args("run", &plan, &["--param", APR]));
        r.expect_code(3).expect("GATE BLOCKED").expect(failure);
        assert!(!r.stderr.contains("Applying tier"), "a tier ran:\n{}", r.stderr);
        c.psql(restore);
    }
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event"), 0);
    // Ratified but the operator names an approval that is not: blocked too.
    let r = c.host(&args("run", &plan, &["--param", "ratified_apr=APR-2026-9999"]));
    r.expect_code(3).expect("apr=not ratified");
    // And the untouched plan still passes afterwards.
    run_ok(&c);
}

#[test]
fn a_tier_4_failure_keeps_tiers_0_to_3_and_rolls_back_to_baseline() {
    let c = Cluster::start("tier4");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=fail"]));
    r.expect_code(4).expect("tier 4 (test-misbehave) apply failed: containment failed on purpose after 70 rows");
    assert_eq!(
        c.tier_states(),
        "one-roof-preflight=applied one-roof-shadow=applied one-roof-ownership=applied one-roof-axis=applied test-misbehave=failed"
    );
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership"), 30, "tiers 0-3 stay committed");
    assert_eq!(
        c.scalar("SELECT count(*) FROM one_roof.containment c JOIN one_roof.axis_node n ON n.id = c.node_id WHERE n.axis_code = 'release_scope'"),
        0,
        "tier 4 rolled back"
    );
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "failed");
    // A new run is refused while tiers are applied.
    c.host(&args("run", &one_roof(), &["--param", APR]))
        .expect_code(7)
        .expect("host rollback")
        .expect("tier 3 (one-roof-axis)");
    // Rollback restores the baseline.
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK: ownership=0 gap=210 axis=absent");
    assert_eq!(c.baseline_line(), BASELINE);
}

#[test]
fn plugins_that_escape_the_transaction_are_refused_and_nothing_of_their_tier_commits() {
    let c = Cluster::start("escape");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let cases = [
        ("commit", "TransactionStmt is never allowed"),
        ("set_role", "VariableSetStmt is never allowed"),
        ("do", "DoStmt is never allowed"),
        ("swallow", "SQL error 22012"),
    ];
    for (mode, why) in cases {
        let param = format!("mode={mode}");
        let r = c.host(&args("run", &plan, &["--param", APR, "--param", &param]));
        r.expect_code(4).expect(why).expect("fails the tier even when the plugin ignores it");
        assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420, "{mode}: tier 4 rows were kept");
        assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=failed"), "{mode}");
        // The session the plugin could not change: nothing left on the server.
        assert_eq!(c.scalar("SELECT count(*) FROM pg_prepared_xacts"), 0);
        c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
        assert_eq!(c.baseline_line(), BASELINE, "{mode}");
    }
}

#[test]
fn post_conditions_are_a_check_and_cannot_write_whatever_the_grants() {
    let c = Cluster::start("post-write");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    // The manifest grants `delete` on containment (apply needs it); its
    // post-conditions use it to undo part of the tier behind the host's back.
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=post_write"]));
    r.expect_code(4)
        .expect("tier 4 (test-misbehave) post-conditions failed")
        .expect("DeleteStmt writes, and this call is read-only");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420, "tier 4 rolled back whole");
    assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=failed"));
}

#[test]
fn a_plugin_that_traps_or_panics_is_shown_and_rolled_back() {
    let c = Cluster::start("trap");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=panic"]));
    r.expect_code(4)
        .expect("plugin panicked")
        .expect("tier 4 panicked on purpose with 70 rows placed")
        .expect("plugin trapped");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420);
    c.host(&args("rollback", &plan, &[])).expect_code(0);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=trap"]));
    r.expect_code(4).expect("plugin trapped");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420);
    assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=failed"));
}

#[test]
fn missing_or_malformed_approval_is_refused_before_the_database_is_touched() {
    let c = Cluster::start("params");
    c.ratify();
    let plan = one_roof();
    c.host(&args("run", &plan, &[]))
        .expect_code(2)
        .expect("missing parameter `ratified_apr`")
        .expect("--param ratified_apr=");
    c.host(&args("run", &plan, &["--param", "ratified_apr=APR-26-1"])).expect_code(2).expect("does not match");
    c.host(&args("run", &plan, &["--param", "ratified_apr=APR-2026-0412; DROP TABLE x"])).expect_code(2);
    assert_eq!(
        c.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"),
        0,
        "the ledger was created"
    );
}

#[test]
fn rollback_is_idempotent_and_ok_on_an_untouched_baseline() {
    let c = Cluster::start("rollback");
    c.ratify();
    let plan = one_roof();
    // On the untouched baseline.
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK: ownership=0 gap=210 axis=absent");
    run_ok(&c);
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK: ownership=0 gap=210 axis=absent");
    assert_eq!(c.baseline_line(), BASELINE);
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE event = 'rolled_back'"), 7);
    // Twice: nothing more to roll back, still OK.
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK: ownership=0 gap=210 axis=absent");
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE event = 'rolled_back'"), 7);
    assert_eq!(c.baseline_line(), BASELINE);
    // The ledger's events cannot be edited.
    let out = c.psql_cmd().args(["-c", "DELETE FROM rollout_ledger.tier_event"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("append-only"));
    // And a new run passes again.
    run_ok(&c);
}

#[test]
fn single_tier_rollback_is_refused_while_a_later_tier_is_applied() {
    let c = Cluster::start("single");
    c.ratify();
    let plan = one_roof();
    run_ok(&c);
    c.host(&args("rollback", &plan, &["--tier", "3"]))
        .expect_code(7)
        .expect("cannot roll back tier 3 alone: tier 6 (one-roof-kg-domain) is still applied");
    c.host(&args("rollback", &plan, &["--tier", "6"])).expect_code(0).expect("TIER 6 ROLLBACK OK");
    assert_eq!(c.psql("SELECT status FROM one_roof.kg_domain"), "draft");
    c.host(&args("rollback", &plan, &["--tier", "4"]))
        .expect_code(7)
        .expect("tier 5 (one-roof-projection) is still applied");
    assert!(c.tier_states().contains("one-roof-kg-domain=rolled_back"));
}

#[test]
fn a_pre_deployed_shadow_makes_tier_0_abort() {
    let c = Cluster::start("shadow");
    c.ratify();
    c.psql("CREATE TABLE one_roof.resp_ownership_shadow (area_code text, team_code text)");
    let plan = one_roof();
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(4).expect("tier 0 (one-roof-preflight) apply failed").expect("pre-deployed");
    assert_eq!(c.tier_states(), "one-roof-preflight=failed");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership"), 0);
}

#[test]
fn a_rehearsal_plugin_is_refused_on_directus() {
    let c = Cluster::start("rehearsal");
    c.ratify();
    let plan = plan_with(None, &["tests/plugins/rehearsal.wasm"]);
    c.host(&args("run", &plan, &["--param", APR])).expect_code(5).expect(
        "refusing to run against database `directus`: plugin tier 7 (test-rehearsal) allows only [\"directus_clone\"]",
    );
    assert_eq!(c.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
}

/// Waits until the child's stderr shows `needle`; returns what it read.
fn wait_for(child: &mut std::process::Child, needle: &str) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(needle) {
                return seen;
            }
        }
    }
    panic!("never saw {needle:?}; stderr so far:\n{seen}");
}

/// The plan with the misbehaving tier 4, and a `run` of it parked in that
/// tier's `pg_sleep` (holding the lock, inside its transaction).
fn run_sleeping_in_tier_4(c: &Cluster) -> (Vec<String>, std::process::Child) {
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let mut child = c.spawn(&args("run", &plan, &["--param", APR, "--param", "mode=sleep"]));
    wait_for(&mut child, "now misbehaving: sleep");
    (plan, child)
}

#[test]
fn ctrl_c_mid_tier_cancels_the_statement_rolls_back_and_exits_130() {
    let c = Cluster::start("ctrlc");
    c.ratify();
    let (plan, mut child) = run_sleeping_in_tier_4(&c);
    std::thread::sleep(Duration::from_millis(500));
    // The plugin's pg_sleep is running on the server right now.
    assert_eq!(c.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()"), 1);
    let sent = Instant::now();
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code after Ctrl-C");
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?} to stop", sent.elapsed());
    assert_eq!(c.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()"), 0, "statement still running");
    assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=interrupted"));
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "interrupted");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420, "no partial tier");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership"), 30, "committed tiers stay");
    // The lock died with the process: rollback can proceed.
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn a_host_whose_control_connection_died_commits_nothing_more() {
    let c = Cluster::start("controllost");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let mut child = c.spawn(&args("run", &plan, &["--param", APR, "--param", "mode=sleep_short"]));
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    while !seen.contains("now misbehaving: sleep_short") {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("never misbehaved:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
    }
    // The server ends the control connection (the one holding the rollout
    // lock) while tier 4's transaction is open on the work connection.
    let ended = c.scalar(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND objid = {} AND objsubid = 1",
        0x5449_4552
    ));
    assert_eq!(ended, 1, "the rollout lock's holder");
    let status = child.wait().unwrap();
    seen.extend(rx.iter().map(|l| l + "\n"));
    assert_ne!(status.code(), Some(0), "{seen}");
    // Tier 4 finished its work, but without the lock it is not committed.
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420, "tier 4 committed without the lock");
    assert!(seen.contains("is no longer this host's"), "{seen}");
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership"), 30, "committed tiers stay");
    // Nothing ran past it, and the lock is free for the next command.
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn a_killed_host_leaves_a_rollout_that_status_settles_as_abandoned() {
    let c = Cluster::start("killed");
    c.ratify();
    let (plan, mut child) = run_sleeping_in_tier_4(&c);
    // SIGKILL: no handler runs, nothing is closed in the ledger.
    child.kill().unwrap();
    child.wait().unwrap();
    // The server ends the dead host's sessions (a DBA would, or the timeouts).
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'host %' AND pid <> pg_backend_pid()");
    assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout"), "running");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let r = c.host(&["status"]);
        if r.stdout.contains("abandoned") || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Status settles it before anything else: under the lock for a moment,
    // it records the rollout abandoned and says what the ledger shows.
    status
        .expect_code(0)
        .expect("abandoned")
        .expect("no host held the rollout lock")
        .expect("the ledger shows tier 0 (one-roof-preflight) applied, tier 1 (one-roof-shadow) applied, tier 2 (one-roof-ownership) applied, tier 3 (one-roof-axis) applied; anything else of it did not commit");
    assert_eq!(
        c.psql("SELECT outcome || ' ' || (ended_at IS NOT NULL) || ' ' || (message LIKE '%host status%') FROM rollout_ledger.rollout WHERE verb = 'run'"),
        "abandoned true true"
    );
    // Settled once: the next command has nothing left to settle, and the lock is free.
    let r = c.host(&args("rollback", &plan, &[]));
    r.expect_code(0).expect("FULL ROLLBACK OK");
    assert!(!r.stderr.contains("Abandoned"), "{}", r.stderr);
    c.host(&["status"]).expect_code(0).expect("abandoned");
    assert_eq!(c.baseline_line(), BASELINE);
}

#[test]
fn two_runs_at_once_exactly_one_proceeds() {
    let c = Cluster::start("concurrent");
    c.ratify();
    // Deterministic: a run holds the lock (sleeping in tier 4) while a second starts.
    let (slow_plan, mut slow) = run_sleeping_in_tier_4(&c);
    let plan = one_roof();
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(6)
        .expect("another rollout holds the rollout lock")
        .expect(&format!("host run by test-operator pid {}", slow.id()));
    std::process::Command::new("kill").args(["-INT", &slow.id().to_string()]).status().unwrap();
    assert_eq!(slow.wait().unwrap().code(), Some(130));
    c.host(&args("rollback", &slow_plan, &[])).expect_code(0);
    // Racing: two runs started together; exactly one applies the rollout.
    let a = c.spawn(&args("run", &plan, &["--param", APR]));
    let b = c.spawn(&args("run", &plan, &["--param", APR]));
    let codes = [a.wait_with_output().unwrap().status.code(), b.wait_with_output().unwrap().status.code()];
    assert_eq!(codes.iter().filter(|c| **c == Some(0)).count(), 1, "exit codes {codes:?}");
    assert!(codes.contains(&Some(6)) || codes.contains(&Some(7)), "the other was refused: {codes:?}");
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.rollout WHERE outcome = 'complete'"), 1);
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.resp_ownership"), 30);
}

#[test]
fn plans_are_ordered_by_manifest_and_bad_plans_are_refused_before_the_database() {
    let c = Cluster::start("plans");
    // Ordinals, never file names: the same plan listed backwards runs in order.
    c.ratify();
    let mut plan = one_roof();
    plan.reverse();
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(0);
    let order: Vec<usize> = (0..=6).map(|n| r.stderr.find(&format!("Applied tier {n} (")).expect("applied")).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "tiers out of order:\n{}", r.stderr);
    // No gate / no verify / duplicate ordinal: refused, exit 2.
    let no_gate = plan_with(Some("gate"), &[]);
    c.host(&args("gate", &no_gate, &["--param", APR])).expect_code(2).expect("no gate plugin");
    let no_verify = plan_with(Some("t8-verify"), &[]);
    c.host(&args("run", &no_verify, &["--param", APR])).expect_code(2).expect("no verify plugin");
    let dup = plan_with(None, &["tests/plugins/misbehave.wasm"]);
    c.host(&args("run", &dup, &["--param", APR, "--param", "mode=ok"]))
        .expect_code(2)
        .expect("ordinal 4 is claimed by both");
    // A plugin that imports the network is refused at load, naming the import.
    c.host(&["inspect", "tests/plugins/network.wasm"]).expect_code(2).expect("imports `wasi:sockets/");
}

#[test]
fn a_tier_numbered_after_verify_runs_before_it_verify_comes_last_by_kind() {
    let c = Cluster::start("ordinals");
    c.ratify();
    // Tier 6 renumbered 12: past verify's 8, which keeps its number.
    let dir = tempfile::tempdir().unwrap();
    let t6 = std::fs::read(root().join("tiers/t6-kg-domain.wasm")).unwrap();
    let mut doc: toml::Table = toml::from_str(&manifest_of(&t6)).unwrap();
    doc.insert("ordinal".into(), toml::Value::Integer(12));
    let path = dir.path().join("t6-late.wasm");
    std::fs::write(&path, with_manifest(&t6, &toml::to_string(&doc).unwrap())).unwrap();
    let plan = plan_with(Some("t6-kg-domain"), &[path.to_str().unwrap()]);
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(0);
    let late = r.stderr.find("Applied tier 12 (").expect("tier 12 applied");
    let verify = r.stderr.find("Verify").expect("verify ran");
    assert!(late < verify, "verify ran before tier 12:\n{}", r.stderr);
    // Two tiers on one number are still refused; a tier may share a probe's.
    let dup = plan_with(None, &["tests/plugins/misbehave.wasm"]);
    c.host(&args("run", &dup, &["--param", APR, "--param", "mode=ok"]))
        .expect_code(2)
        .expect("ordinal 4 is claimed by both tier `one-roof-containment` and tier");
}

#[test]
fn a_lost_tier_connection_fails_the_tier_and_the_ledger_says_so() {
    let c = Cluster::start("lost");
    c.ratify();
    let (plan, child) = run_sleeping_in_tier_4(&c);
    std::thread::sleep(Duration::from_millis(300));
    // The server goes away under the tier (a DBA, a failover, a crash).
    c.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()");
    let out = child.wait_with_output().unwrap();
    // A lost connection is the host's to handle, never the plugin's: exit 8.
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=failed"));
    let message = c.psql("SELECT message FROM rollout_ledger.rollout");
    assert!(message.contains("tier 4 (test-misbehave) apply: the database connection was lost"), "{message}");
    assert!(c.psql("SELECT message FROM rollout_ledger.tier_event WHERE plugin = 'test-misbehave'").contains("57P01"));
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420, "no partial tier");
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn a_plugin_built_for_the_wrong_kind_is_refused_at_load_naming_kind_and_exports() {
    let c = Cluster::start("wrong-kind");
    c.ratify();
    // A check component (exports `check`) whose manifest says kind = "tier".
    let plan = plan_with(None, &["tests/plugins/wrong-kind.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(2)
        .expect("wrong-kind.wasm")
        .expect("its manifest says kind = \"tier\", so it must export the `tier` world of rollout:plugin@0.3.2")
        .expect("`apply`, `post-conditions` and `rollback`")
        .expect("but it exports `check`");
    // Refused before the database: no ledger, nothing changed.
    assert_eq!(c.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), "0");
    assert_eq!(c.baseline_line(), BASELINE);
    // The reviewer's view says the same without a database.
    c.host(&["inspect", "tests/plugins/wrong-kind.wasm"]).expect_code(2).expect("but it exports `check`");
}
