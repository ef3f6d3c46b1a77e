//! One work session for a command's plugins: nothing one plugin leaves on
//! the session reaches the next, the control connection alone holds the
//! rollout lock, and a work session lost between two plugins is replaced.
//! Real server, real binary, real plugins.

mod support;

use support::proxy::Proxy;
use support::*;

/// A granted function that leaves what the checker refuses in a plugin's
/// own SQL (and no manifest may grant): session settings, a temporary
/// table, a LISTEN, an SQL prepared statement.
const LINGER: &str = "
    CREATE FUNCTION public.linger() RETURNS text LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM set_config('leak.setting', 'left by tier 7', false);
      PERFORM set_config('application_name', 'left by tier 7', false);
      CREATE TEMP TABLE leaked_temp (x int);
      LISTEN leak_channel;
      EXECUTE 'PREPARE leak_prepared AS SELECT 1';
      RETURN 'left';
    END $$;";

/// The `actual` of metric `name` in `table`.
fn actual<'a>(table: &'a serde_json::Value, name: &str) -> &'a str {
    let metrics = table["metrics"].as_array().expect("metrics");
    let m = metrics.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no metric {name} in {table}"));
    m["actual"].as_str().expect("actual")
}

fn report(c: &Cluster) -> serde_json::Value {
    let dir = c.reports().last().expect("a report").clone();
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report.json")).expect("JSON")
}

#[test]
fn nothing_a_plugin_leaves_on_the_work_session_reaches_the_next_plugin() {
    let c = Cluster::start("session-leak");
    c.ratify();
    c.psql(LINGER);
    let plan = plan_with(None, &["tests/plugins/linger.wasm", "tests/plugins/observe.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR]));
    let json = report(&c);
    let tier = json["tiers"].as_array().unwrap().iter().find(|t| t["plugin"] == "test-linger").expect("tier 7 row");
    let probe =
        json["probes"].as_array().unwrap().iter().find(|p| p["plugin"] == "test-observe").expect("the observing probe");
    // The observer ran on the very server process tier 7 left its state on:
    // one session, so what it sees is what the reset left.
    let (left_on, seen_on) = (actual(&tier["conditions"], "backend"), actual(probe, "backend"));
    assert_eq!(left_on, seen_on, "tier 7 and the last probe ran on different sessions:\n{}", r.all());
    for m in probe["metrics"].as_array().unwrap() {
        assert_ne!(m["result"], "FAIL", "tier 7's session state reached the last probe: {m}\n{}", r.all());
    }
    r.expect_code(0).expect("ROLLOUT COMPLETE");
    // The reset lets go of every advisory lock the work session holds; the
    // rollout lock is the control connection's, still held at the last probe.
    assert_eq!(actual(probe, "rollout_lock"), "1", "{}", r.all());
    c.host(&args("rollback", &plan, &[])).expect_code(0).expect("FULL ROLLBACK OK");
}

#[test]
fn a_run_connects_twice_the_control_connection_and_one_work_session() {
    let c = Cluster::start("session-count");
    c.ratify();
    c.psql("ALTER SYSTEM SET log_connections = on");
    c.psql("SELECT pg_reload_conf()");
    let log = c.dir.join("server.log");
    let host_connections = || {
        let text = std::fs::read_to_string(&log).expect("server.log");
        text.lines().filter(|l| l.contains("connection authorized") && l.contains("application_name=host ")).count()
    };
    let before = host_connections();
    let plan = plan_with(None, &["tests/plugins/linger.wasm", "tests/plugins/observe.wasm"]);
    c.psql(LINGER);
    c.host(&args("run", &plan, &["--param", APR])).expect_code(0).expect("ROLLOUT COMPLETE");
    let text = std::fs::read_to_string(&log).expect("server.log");
    assert_eq!(host_connections() - before, 2, "a run connects once for control and once for its plugins:\n{text}");
}

#[test]
fn a_work_session_lost_between_two_tiers_is_replaced_and_the_run_completes() {
    let c = Cluster::start("session-lost");
    c.ratify();
    let plan = one_roof();
    // The 2nd COMMIT is tier 1's: the server commits it, the answer never
    // reaches the host, and that connection is cut on the host's side; the
    // control connection lives and the ledger shows tier 1 committed.
    let proxy = Proxy::start_one(&c.dir, 2);
    let r = Run::from(proxy.host_cmd(&c, &args("run", &plan, &["--param", APR])).output().unwrap());
    assert!(proxy.has_cut(), "the proxy never saw tier 1's COMMIT:\n{}", r.all());
    r.expect_code(0)
        .expect("the ledger shows tier 1 (one-roof-shadow) committed")
        .expect("the work session was lost between two plugins")
        .expect("ROLLOUT COMPLETE");
}
