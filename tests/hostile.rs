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
    hostile_sql_corpus(false);
}

/// The same corpus with PostgreSQL as the second wall: every plugin runs as
/// its own restricted role, proven first; the host still refuses all of it.
#[test]
fn the_hostile_sql_corpus_is_refused_statement_by_statement_under_roles() {
    hostile_sql_corpus(true);
}

fn hostile_sql_corpus(roles: bool) {
    let c = Cluster::start(if roles { "hostile-sql-roles" } else { "hostile-sql" });
    c.ratify();
    let flag: &[&str] = if roles { &["--roles"] } else { &[] };
    if roles {
        // The roles of the hostile plan and of One-Roof, from the grants alone.
        let mut a = vec!["roles", "apply", "tests/plugins/hostile.wasm"];
        let all = one_roof();
        a.extend(all.iter().map(String::as_str));
        c.host(&a).expect_code(0);
    }
    let before = (c.baseline_line(), leftovers(&c));
    let plan = hostile_plan();
    let mut extra = vec!["--param", APR, "--param", "escape=sql"];
    extra.extend_from_slice(flag);
    let r = c.host(&args("run", &plan, &extra));
    if roles {
        r.expect("Proven 3 restricted roles hold exactly their plugins' grants");
    }
    assert!(
        !r.all().contains("ESCAPED"),
        "escapes:\n{}",
        r.all().lines().filter(|l| l.contains("ESCAPED")).collect::<Vec<_>>().join("\n")
    );
    let line = r.all().lines().find(|l| l.contains("HOSTILE SQL: tried")).map(str::to_string).expect("the corpus ran");
    let nums: Vec<usize> = line.split(|ch: char| !ch.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    let (tried, refused) = (nums[nums.len() - 2], nums[nums.len() - 1]);
    eprintln!(
        "hostile SQL suite (roles {}): {tried} statements tried, {refused} refused by the host, {} escaped",
        if roles { "on" } else { "off" },
        tried - refused
    );
    assert!(tried >= 200, "only {tried} cases");
    assert_eq!(tried, refused);
    // The tier failed (each refusal fails it), was rolled back, and the run stopped.
    r.expect_code(4).expect("tier 3 (test-hostile) apply failed: refused");
    assert_eq!(c.tier_states(), "test-hostile=failed");
    assert_eq!((c.baseline_line(), leftovers(&c)), before, "something was left behind");
    // The host is usable for the next tiers: the real plan runs to PASS.
    let mut extra = vec!["--param", APR];
    extra.extend_from_slice(flag);
    let r = c.host(&args("run", &one_roof(), &extra));
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
    assert_eq!(
        c.psql("SELECT string_agg(roles::text, ' ' ORDER BY id) FROM rollout_ledger.rollout"),
        format!("{roles} {roles}")
    );
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
        ("wait", "stopped by the host: limit wall_time_ms=5000 reached"),
        ("bigvalues", "stopped by the host: limit memory_mib=64 reached"),
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
        assert_eq!(c.tier_states().split(' ').next_back(), Some("test-hostile=failed"), "{route}");
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
    assert_eq!(
        std::fs::read(root().join("tests/plugins/data/hostile-corpus.sql")).unwrap(),
        corpus,
        "the data file was written"
    );
    assert_eq!(leftovers(&c), before, "something was left behind");
    assert_eq!(c.baseline_line(), BASELINE);
}

/// The corpus as the hostile plugin reads it: `\n` is a line break.
fn corpus() -> Vec<String> {
    std::fs::read_to_string(root().join("tests/plugins/data/hostile-corpus.sql"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .map(|l| l.replace("\\n", "\n"))
        .collect()
}

#[test]
fn under_a_restricted_role_postgresql_alone_refuses_what_no_grant_allows() {
    let c = Cluster::start("hostile-role");
    // The role `host grants --role-sql` prints for the hostile plugin.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_host"))
        .current_dir(root())
        .args(["grants", "tests/plugins/hostile.wasm", "--role-sql", "postgres"])
        .env("HOST_COMPILE_CACHE", compile_cache())
        .output()
        .unwrap();
    assert!(out.status.success());
    c.psql(&String::from_utf8_lossy(&out.stdout));
    // Which statements a missing grant on a relation refused (not a policy
    // rule, and not a catalog relation, which PUBLIC may read by design).
    let statements = corpus();
    let mut explain = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    explain.current_dir(root()).args(["explain", "tests/plugins/hostile.wasm"]).args(&statements);
    let out = String::from_utf8_lossy(&explain.env("HOST_COMPILE_CACHE", compile_cache()).output().unwrap().stdout)
        .to_string();
    let reasons: Vec<&str> = out.lines().filter(|l| l.starts_with("         ")).map(str::trim).collect();
    assert_eq!(reasons.len(), statements.len(), "one answer per statement");
    let mut checked = 0;
    for (sql, reason) in statements.iter().zip(&reasons) {
        let relation_grant = reason.contains(" is not granted") && !reason.starts_with("calling function");
        let catalog = reason.contains("pg_catalog.") || reason.contains("information_schema.");
        if !relation_grant || catalog {
            continue;
        }
        checked += 1;
        let script = format!(
            "BEGIN;\nSET LOCAL ROLE rollout_test_hostile;\nSET LOCAL search_path = pg_catalog, pg_temp;\n{sql};\nROLLBACK;\n"
        );
        let r = c
            .psql_cmd()
            .args(["-q", "-v", "ON_ERROR_STOP=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(script.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(!r.status.success(), "PostgreSQL alone allowed, under the restricted role: {sql}");
    }
    eprintln!("restricted role: {checked} statements refused by a missing grant were also refused by PostgreSQL alone");
    assert!(checked >= 100, "only {checked} grant refusals to compare");
    assert_eq!(c.baseline_line(), BASELINE);
}
