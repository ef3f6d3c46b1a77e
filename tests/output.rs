//! The one output pipeline, through the real binary: the story on stderr in
//! order and the result on stdout (so a redirect never splits the story),
//! `--format json` for every verb with a result, tables fitted to the
//! width, colour only on a terminal, `--quiet`, and the operator's messages:
//! who and where "Connected" is, an unknown `--param` refused, an error's
//! lines printed as lines, once.

mod support;

use serde_json::Value as Json;
use std::process::Command;
use support::*;

fn json(text: &str, what: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: stdout is not one JSON document ({e}):\n{text}"))
}

/// `host` without a database (offline verbs).
fn host_offline(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_host"));
    c.current_dir(root()).args(args).env("HOST_COMPILE_CACHE", compile_cache()).env_remove("NO_COLOR");
    c
}

/// The report.json of the newest report directory.
fn newest_report(c: &Cluster) -> Json {
    let dir = c.reports().pop().expect("a report directory");
    json(&std::fs::read_to_string(dir.join("report.json")).unwrap(), "report.json")
}

/// Where each of `texts` first appears in `s`; they must appear, in order.
fn assert_in_order(s: &str, texts: &[&str]) {
    let mut from = 0;
    for t in texts {
        let at = s[from..].find(t).unwrap_or_else(|| panic!("{t:?} not found after byte {from} in:\n{s}"));
        from += at + t.len();
    }
}

#[test]
fn a_run_tells_its_story_on_stderr_in_order_and_leaves_stdout_to_the_result() {
    let c = Cluster::start("output-story");
    c.ratify();
    let plan = one_roof();
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(0);
    // Redirecting stdout takes nothing of the story away.
    assert_eq!(r.stdout, "", "a human run prints its story on stderr only");
    let socket = format!("socket {}/.s.PGSQL.", c.dir.display());
    assert_in_order(
        &r.stderr,
        &[
            "Connected to database `directus` as user `postgres` on ",
            &socket,
            " without TLS",
            "Locked out other rollouts of this database until this command ends",
            "│ metric",
            "GATE READY",
            "Applied tier 0 (",
            "TIER 8 VERIFY PASS",
            "ROLLOUT COMPLETE — ALL TIERS PASSED",
            "Report written in ",
        ],
    );
    // The OS user is the ledger's operator, never said to be the database user.
    assert!(!r.stderr.contains("as test-operator"), "{}", r.stderr);
    // Not a terminal: no colour.
    assert!(!r.stderr.contains('\x1b'), "{}", r.stderr);
}

#[test]
fn run_gate_and_rollback_print_their_reports_summary_as_json() {
    let c = Cluster::start("output-json");
    c.ratify();
    let plan = one_roof();
    let gate = c.host(&args("gate", &plan, &["--param", APR, "--format", "json"]));
    gate.expect_code(0);
    let g = json(&gate.stdout, "gate");
    assert_eq!(g, newest_report(&c), "the gate's JSON is its report's summary");
    assert_eq!((g["verb"].as_str(), g["gate"]["passed"].as_bool()), (Some("gate"), Some(true)), "{g:#}");
    // The story is still told, on stderr.
    gate.expect("GATE READY");
    assert!(!gate.stdout.contains("GATE READY"));

    let run = c.host(&args("run", &plan, &["--param", APR, "--format", "json"]));
    run.expect_code(0);
    let j = json(&run.stdout, "run");
    assert_eq!(j, newest_report(&c), "the run's JSON is its report's summary");
    assert_eq!(j["verb"], "run");
    assert_eq!(j["outcome"], "complete");
    let tiers = j["tiers"].as_array().expect("tiers");
    assert_eq!(tiers.len(), c.tier_states().split(' ').filter(|s| s.ends_with("=applied")).count(), "{j:#}");
    assert_eq!(j["verify"]["passed"], true);
    assert!(j["rollout_id"].as_i64().is_some(), "{j:#}");

    let back = c.host(&args("rollback", &plan, &["--param", APR, "--format", "json"]));
    back.expect_code(0);
    let b = json(&back.stdout, "rollback");
    assert_eq!(b, newest_report(&c), "the rollback's JSON is its report's summary");
    assert_eq!((b["verb"].as_str(), b["outcome"].as_str()), (Some("rollback"), Some("rolled_back")), "{b:#}");
    // Said once committed, after the commit: every tier rolled back, newest first.
    let newest = tiers.iter().filter_map(|t| t["ordinal"].as_u64()).max().expect("an ordinal");
    let committed = format!("Committed the rollback of {} tier(s), every check passed", tiers.len());
    assert_in_order(&back.stderr, &[&committed, &format!("Rolled back tier {newest} (")]);
    assert!(!back.stderr.contains("kept only once"), "{}", back.stderr);

    // A failure prints its summary too, with its outcome, and keeps its exit code.
    let failed = c.host(&args("gate", &plan, &["--format", "json"]));
    failed.expect_code(2);
    let f = json(&failed.stdout, "a gate missing its parameter");
    assert_eq!((f["verb"].as_str(), f["outcome"].as_str()), (Some("gate"), Some("failed")), "{f:#}");
    assert!(f["message"].as_str().is_some_and(|m| m.contains("missing parameter `ratified_apr`")), "{f:#}");
}

#[test]
fn status_prints_json_and_its_tables_fit_the_width() {
    let c = Cluster::start("output-status");
    c.ratify();
    let plan = one_roof();
    // The width of the story's tables (the gate's).
    let out = c.host_cmd(&args("gate", &plan, &["--param", APR])).env("COLUMNS", "70").output().unwrap();
    let r = Run::from(out);
    r.expect_code(0);
    let tables: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with(['│', '┌', '└', '╞', '├'])).collect();
    assert!(!tables.is_empty(), "{}", r.stderr);
    assert!(tables.iter().all(|l| l.chars().count() <= 70), "{}", r.stderr);
    c.host(&args("run", &plan, &["--param", APR])).expect_code(0);
    let s = c.host(&["status", "--format", "json"]);
    s.expect_code(0);
    let j = json(&s.stdout, "status");
    assert_eq!(j["database"], "directus");
    assert_eq!(
        j["applied"].as_array().map(Vec::len),
        Some(c.tier_states().split(' ').filter(|s| s.ends_with("=applied")).count()),
        "{j:#}"
    );
    assert_eq!(j["history"][0]["verb"], "run", "{j:#}");
    assert_eq!(j["history"][0]["outcome"], "complete", "{j:#}");
    for width in [60usize, 100, 140] {
        let out = c.host_cmd(&["status"]).env("COLUMNS", width.to_string()).output().unwrap();
        let r = Run::from(out);
        r.expect_code(0).expect("Latest rollouts:");
        let widest = r.stdout.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest <= width, "a line of {widest} columns at COLUMNS={width}:\n{}", r.stdout);
        // Wrapped, not cut: the whole approval reference is there.
        assert!(r.stdout.lines().any(|l| l.contains("APR-")), "{}", r.stdout);
    }
}

#[test]
fn an_unknown_param_is_refused_naming_the_declared_ones() {
    let c = Cluster::start("output-param");
    c.ratify();
    let plan = one_roof();
    for verb in ["gate", "run", "rollback"] {
        let r = c.host(&args(verb, &plan, &["--param", APR, "--param", "ratifed_apr=APR-1"]));
        r.expect_code(2).expect(
            "unknown parameter `ratifed_apr`: no plugin of the plan declares it; the plugins declare `ratified_apr`",
        );
    }
    // Refused before the database: no ledger was made.
    assert_eq!(c.psql("SELECT to_regnamespace('rollout_ledger') IS NULL"), "t");
}

#[test]
fn quiet_keeps_verdicts_and_errors_and_the_log_keeps_everything() {
    let c = Cluster::start("output-quiet");
    c.ratify();
    let plan = one_roof();
    let r = c.host(&args("run", &plan, &["--param", APR, "--quiet"]));
    r.expect_code(0);
    assert!(!r.stderr.contains("Connected"), "{}", r.stderr);
    assert!(!r.stderr.contains("│"), "no table under --quiet:\n{}", r.stderr);
    assert_in_order(&r.stderr, &["GATE READY", "TIER 8 VERIFY PASS", "ROLLOUT COMPLETE — ALL TIERS PASSED"]);
    let dir = c.reports().pop().unwrap();
    let log = std::fs::read_to_string(dir.join("rollout.log")).unwrap();
    assert_in_order(&log, &["Connected to database", "│ metric", "GATE READY"]);
    // An error is never quiet.
    let bad = c.host(&args("run", &plan, &["-q"]));
    bad.expect_code(2).expect("error: missing parameter `ratified_apr`");
}

#[test]
fn explain_inspect_and_grants_print_json_with_format_json() {
    let plugin = "tests/plugins/inert.wasm";
    let out =
        host_offline(&["--format", "json", "explain", plugin, "SELECT 1", "DELETE FROM pg_class"]).output().unwrap();
    let r = Run::from(out);
    r.expect_code(4);
    let e = json(&r.stdout, "explain");
    assert_eq!((e["allowed"].as_u64(), e["refused"].as_u64()), (Some(1), Some(1)), "{e:#}");
    assert_eq!(e["statements"][0]["sql"], "SELECT 1");
    assert_eq!(e["statements"][0]["allowed"], true);
    assert_eq!(e["statements"][0]["kind"], "SelectStmt");
    assert_eq!(e["statements"][1]["allowed"], false);
    assert!(
        e["statements"][1]["refusal"].as_str().is_some_and(|s| s.contains("unqualified relation `pg_class`")),
        "{e:#}"
    );
    // `--json` stays, and is the same document as `--format json`.
    for verb in ["inspect", "grants"] {
        let old = host_offline(&[verb, "--json", plugin]).output().unwrap();
        let new = host_offline(&[verb, "--format", "json", plugin]).output().unwrap();
        assert!(old.status.success() && new.status.success(), "{verb}");
        assert_eq!(old.stdout, new.stdout, "{verb}: --json and --format json differ");
        json(&String::from_utf8_lossy(&new.stdout), verb);
    }
}

#[test]
fn a_multi_line_manifest_error_is_printed_as_lines_once() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("tests/plugins/inert.wasm")).unwrap();
    let path = dir.path().join("broken.wasm");
    std::fs::write(&path, with_manifest(&wasm, "name = \"broken\"\nkind = [\n")).unwrap();
    let r = Run::from(host_offline(&["inspect", path.to_str().unwrap()]).output().unwrap());
    r.expect_code(2);
    assert!(!r.stderr.contains("\\n"), "a newline shown as `\\n`:\n{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines[0].starts_with("error: "), "{}", r.stderr);
    assert!(lines.len() > 1, "the TOML error's lines:\n{}", r.stderr);
    assert!(lines[1..].iter().all(|l| l.starts_with("       ")), "continuation lines are indented:\n{}", r.stderr);
    assert_eq!(r.stderr.matches("not valid TOML").count(), 1, "said once:\n{}", r.stderr);
    assert_eq!(r.stderr.matches("kind = [").count(), 1, "said once:\n{}", r.stderr);
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("grants.lock");
    let cmd = |no_color: bool, file: &str| {
        let host = env!("CARGO_BIN_EXE_host");
        let line = format!("{host} grants tests/plugins/inert.wasm --lock {}", dir.path().join(file).display());
        let mut c = Command::new("script");
        c.current_dir(root()).args(["-qec", &line, "/dev/null"]).env("HOST_COMPILE_CACHE", compile_cache());
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().expect("script(1)").stdout).into_owned()
    };
    let coloured = cmd(false, "a.lock");
    assert!(coloured.contains("\x1b[1;32m       Wrote\x1b[0m the lock file"), "{coloured:?}");
    let plain = cmd(true, "b.lock");
    assert!(plain.contains("       Wrote the lock file") && !plain.contains('\x1b'), "{plain:?}");
    // Not a terminal: no colour.
    let piped =
        host_offline(&["grants", "tests/plugins/inert.wasm", "--lock", lock.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(stderr.contains("       Wrote the lock file") && !stderr.contains('\x1b'), "{stderr:?}");
}
