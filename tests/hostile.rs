//! A hostile plugin (a real compiled component) tries every escape route of
//! SECURITY.md: its SQL corpus, and the routes that are not SQL. Every one
//! must be refused or stopped, nothing committed, and the host usable after.

mod support;

use support::*;

/// gate, the hostile tier (ordinal 3), verify: nothing else is needed to
/// reach the hostile tier, and nothing else can be blamed for a failure.
fn hostile_plan() -> Vec<String> {
    let mut plan: Vec<String> =
        one_roof().into_iter().filter(|p| p.ends_with("/gate.wasm") || p.ends_with("/t8-verify.wasm")).collect();
    plan.push("tests/plugins/hostile.wasm".into());
    plan
}

/// Server-side state no plugin may leave behind.
fn leftovers(c: &Cluster) -> String {
    c.psql(
        "SELECT format('advisory_locks=%s prepared_xacts=%s temp_tables=%s roles=%s connections=%s',
           (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'),
           (SELECT count(*) FROM pg_prepared_xacts),
           (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'pg_temp%'),
           (SELECT count(*) FROM pg_roles),
           (SELECT count(*) FROM pg_stat_activity WHERE datname = 'directus' AND pid <> pg_backend_pid()))",
    )
}

#[test]
fn the_hostile_sql_corpus_is_refused_statement_by_statement() {
    let c = Cluster::start("hostile-sql");
    c.ratify();
    let before = (c.baseline_line(), leftovers(&c));
    let plan = hostile_plan();
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "escape=sql"]));
    assert!(!r.all().contains("ESCAPED"), "escapes:\n{}", r.all().lines().filter(|l| l.contains("ESCAPED")).collect::<Vec<_>>().join("\n"));
    let line = r.all().lines().find(|l| l.contains("HOSTILE SQL: tried")).map(str::to_string).expect("the corpus ran");
    let nums: Vec<usize> = line.split(|ch: char| !ch.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    let (tried, refused) = (nums[nums.len() - 2], nums[nums.len() - 1]);
    eprintln!("hostile SQL suite: {tried} statements tried, {refused} refused by the host, {} escaped", tried - refused);
    assert!(tried >= 200, "only {tried} cases");
    assert_eq!(tried, refused);
    // The tier failed (each refusal fails it), was rolled back, and the run stopped.
    r.expect_code(4).expect("tier 3 (test-hostile) apply failed: refused");
    assert_eq!(c.tier_states(), "test-hostile=failed");
    assert_eq!((c.baseline_line(), leftovers(&c)), before, "something was left behind");
    // The host is usable for the next tiers: the real plan runs to PASS.
    let r = c.host(&args("run", &one_roof(), &["--param", APR]));
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
}

#[test]
fn escapes_that_are_not_sql_are_refused_or_stopped_at_their_limit() {
    let c = Cluster::start("hostile-other");
    c.ratify();
    let plan = hostile_plan();
    let before = leftovers(&c);
    let corpus = std::fs::read(root().join("tests/plugins/data/hostile-corpus.sql")).unwrap();
    // (route, what the host says)
    let stopped = [
        ("loop", "stopped by the host: limit wall_time_ms=5000 reached"),
        ("alloc", "stopped by the host: limit memory_mib=64 reached"),
        ("flood", "stopped by the host: limit statements=2000 reached"),
        ("huge", "stopped by the host: limit rows_returned=10000 reached"),
        ("sleep", "57014"),
    ];
    for (route, says) in stopped {
        let param = format!("escape={route}");
        let started = std::time::Instant::now();
        let r = c.host(&args("run", &plan, &["--param", APR, "--param", &param]));
        r.expect_code(4).expect(says);
        assert!(!r.all().contains("ESCAPED"), "{route}:\n{}", r.all());
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{route} took {:?}", started.elapsed());
        assert_eq!(c.tier_states().split(' ').last(), Some("test-hostile=failed"), "{route}");
        if route == "sleep" {
            assert!(r.all().contains("calling function pg_catalog.pg_sleep is not granted"), "{}", r.all());
        }
    }
    // Files outside the grant, a write to the granted file, the environment:
    // nothing is reachable, so the plugin has nothing to report but refusals.
    for (route, done) in [("files", "HOSTILE FILES: done"), ("env", "HOSTILE ENV: empty")] {
        let param = format!("escape={route}");
        let r = c.host(&args("run", &plan, &["--param", APR, "--param", &param]));
        r.expect(done);
        assert!(!r.all().contains("ESCAPED"), "{route}:\n{}", r.all());
        assert!(r.all().contains("refused") || route == "env", "{}", r.all());
        c.host(&args("rollback", &plan, &[])).expect_code(0);
    }
    assert_eq!(std::fs::read(root().join("tests/plugins/data/hostile-corpus.sql")).unwrap(), corpus, "the data file was written");
    assert_eq!(leftovers(&c), before, "something was left behind");
    assert_eq!(c.baseline_line(), BASELINE);
}
