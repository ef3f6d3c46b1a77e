//! Unit tests of "the checker never crashes and never runs long": shapes
//! the deparser cannot re-emit, statements built to be slow, nesting, the
//! deadline and argument-size bombs. Times are printed, not asserted.

use super::policy::MAX_STATEMENT_BYTES;
use super::*;
use crate::manifest::Grants;
use std::time::{Duration, Instant};

fn grants() -> Grants {
    Grants { read: vec!["app.team".into()], create: vec!["app.t".into()], ..Grants::default() }
}

fn check(sql: &str) -> Result<Checked, Refusal> {
    Checker::new(&grants(), false).check(sql, 0)
}

fn refusal(sql: &str) -> String {
    check(sql).expect_err(sql).reason
}

#[test]
fn trim_in_sql_form_with_three_arguments_is_refused_before_deparse() {
    let r = refusal("SELECT trim(both from 'a', 'b', 'c')");
    assert!(r.contains("BTRIM written in its SQL form with 3 arguments"), "{r}");
    assert!(refusal("SELECT trim(leading 'x' from 'a', 'b')").contains("LTRIM written in its SQL form"));
    assert!(check("SELECT trim(both 'x' from code), trim(code), btrim(code, 'a') FROM app.team").is_ok());
    assert!(check("SELECT substring(code from 1 for 2) FROM app.team").is_ok());
}

#[test]
fn three_part_operator_names_are_refused_wherever_they_stand() {
    for sql in [
        "CREATE TABLE app.t (c int, EXCLUDE USING btree (c WITH a.b.=))",
        "SELECT 1 OPERATOR(pg_catalog.public.=) 1",
        "SELECT code FROM app.team ORDER BY code USING OPERATOR(a.b.<)",
    ] {
        assert!(refusal(sql).contains("at most two parts"), "{sql}");
    }
    let r = refusal("CREATE TABLE app.t (c int, EXCLUDE USING btree (c WITH public.=))");
    assert_eq!(r, "operator in schema public is not allowed");
    assert!(check("CREATE TABLE app.t (c int, EXCLUDE USING btree (c WITH =))").is_ok());
}

/// `WITH c0 AS (SELECT code FROM app.team), c1 AS (SELECT * FROM c0), …`:
/// every name in scope for every later CTE.
fn cte_chain(n: usize, last: &str) -> String {
    let mut sql = String::from("WITH c0 AS (SELECT code FROM app.team)");
    for i in 1..n {
        sql += &format!(", c{i} AS (SELECT * FROM c{})", i - 1);
    }
    sql + &format!(" SELECT * FROM {last}")
}

fn timed(label: &str, sql: &str) -> Result<Checked, Refusal> {
    let start = Instant::now();
    let r = check(sql);
    eprintln!("{label}: {} bytes checked in {:.1} ms", sql.len(), start.elapsed().as_secs_f64() * 1e3);
    r
}

#[test]
fn fifteen_hundred_ctes_are_checked_correctly() {
    let sql = cte_chain(1_500, "c1499");
    assert!(sql.len() <= MAX_STATEMENT_BYTES);
    let c = timed("1,500 CTEs", &sql).unwrap();
    assert_eq!(c.accesses, vec![("app.team".to_string(), Op::Read)]);
    // Scopes still hold: a name after the chain is out of scope, and a
    // CTE cannot see a later sibling.
    assert!(refusal(&cte_chain(1_500, "c1500")).contains("unqualified relation `c1500`"));
    let forward = cte_chain(1_500, "c1499").replacen("SELECT * FROM c0)", "SELECT * FROM c2)", 1);
    assert!(refusal(&forward).contains("unqualified relation `c2`"));
}

#[test]
fn a_64_kib_statement_is_checked_in_bounded_time() {
    let items = vec!["1"; 30_000].join(",");
    let in_list = format!("SELECT code FROM app.team WHERE 1 IN ({items})");
    let mut ands = String::from("SELECT code FROM app.team WHERE true");
    while ands.len() < MAX_STATEMENT_BYTES - 10 {
        ands += " AND true";
    }
    for (label, sql) in [("30,000-item IN list", in_list), ("7,000 ANDs", ands)] {
        assert!(sql.len() <= MAX_STATEMENT_BYTES);
        let c = timed(label, &sql).unwrap();
        assert_eq!(c.accesses, vec![("app.team".to_string(), Op::Read)], "{label}");
    }
}

#[test]
fn deep_nesting_is_refused_naming_the_bound() {
    let deep = format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40));
    assert_eq!(refusal(&deep), "brackets nest 40 deep; the limit is 32 (split the statement or use a CTE)");
    let quoted = format!("SELECT '{}' /* ((((( */, \"(\", $x${}$x$", "(".repeat(40), "[".repeat(40));
    assert!(check(&quoted).is_ok(), "brackets in literals, names and comments do not count");
    let plus = format!("SELECT 1{}", "+1".repeat(20_000));
    assert!(refusal(&plus).starts_with("the statement is nested too deeply for the checker"));
}

#[test]
fn a_check_past_its_deadline_stops() {
    let g = grants();
    let past = Instant::now() - Duration::from_millis(1);
    let r = Checker::new(&g, false).limits(64, Some(past)).check(&cte_chain(500, "c499"), 0).unwrap_err();
    assert!(r.reason.starts_with("the check was stopped at the call's deadline"), "{r}");
    assert!(Checker::new(&g, false).limits(64, Some(past)).check("SELECT 1", 0).is_ok(), "small checks finish");
}

#[test]
fn constant_size_bombs_are_refused_naming_the_bound() {
    let r = refusal("SELECT rpad('', 260000000, 'x')");
    assert!(r.contains("rpad(…) with constant size arguments asks the server for about 992 MiB"), "{r}");
    assert!(r.ends_with("may ask for at most the plugin's memory limit, memory_mib = 64"), "{r}");
    let r = Checker::new(&grants(), false).check("SELECT rpad('', $1, 'x')", 1).unwrap_err().reason;
    assert!(r.contains("rpad(…)'s length is not a constant"), "a size left to statement_timeout: {r}");
    for sql in [
        "SELECT lpad(code, 2600 * 10000, ' ') FROM app.team",
        "SELECT rpad('', '20000000'::int, 'x')",
        "SELECT count(*) FROM generate_series(1, 10000000)",
        "SELECT format('%100000000s', '')",
        "SELECT format('%2$*1$s', 100000000, '')",
        // Each is within the bound; the statement's sum is not.
        "SELECT rpad('', 4000000, 'x'), rpad('', 4000000, 'x'), rpad('', 4000000, 'x'), rpad('', 4000000, 'x'), rpad('', 4000000, 'x')",
    ] {
        assert!(refusal(sql).contains("memory_mib = 64"), "{sql}");
    }
    for sql in [
        "SELECT rpad(code, 20, ' '), format('%-10s|', code) FROM app.team",
        "SELECT count(*) FROM generate_series(1, 100000)",
    ] {
        assert!(Checker::new(&grants(), false).check(sql, 1).is_ok(), "{sql}");
    }
    let g = Grants { functions: vec!["pg_catalog.repeat".into()], ..grants() };
    let r = Checker::new(&g, false).check("SELECT length(repeat('abc', 30000000))", 0).unwrap_err();
    assert!(r.reason.contains("repeat(…) with constant size arguments asks the server for about 86 MiB"), "{r}");
    assert!(Checker::new(&g, false).check("SELECT repeat('-', 80)", 0).is_ok());
    let big = Checker::new(&g, false).limits(2048, None);
    assert!(big.check("SELECT rpad('', 260000000, 'x')", 0).is_ok(), "the bound follows memory_mib");
}
