//! Reading production yields to production: the source digest reads one
//! relation per short transaction in one exported snapshot, so it never
//! holds more than one relation's lock while it reads rows (and, while it
//! prints one view's or rule's definition, the relations that one names:
//! the server locks them to print it), and production's `ALTER TABLE`
//! waits for one relation's read, not the whole digest; a relation locked
//! against reading makes the digest ask again, then give up naming it,
//! instead of queueing forever.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::rehearsal::*;
use support::*;

/// Three large tables in the plan's schema, read in name order.
const BULK: &str = "
CREATE TABLE one_roof.bulk_a AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 400000) g;
CREATE TABLE one_roof.bulk_b AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 400000) g;
CREATE TABLE one_roof.bulk_c AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 400000) g;
";

/// User tables the rehearsal's source connections hold a lock on, now,
/// when `rules` is false: but while printing rewrite rules (or ending a
/// transaction); when true: only while printing rewrite rules.
fn locked(rules: bool) -> String {
    format!(
        "SELECT count(DISTINCT l.relation) FROM pg_locks l
    JOIN pg_stat_activity a ON a.pid = l.pid
    JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE a.application_name LIKE 'host rehearse (source%' AND l.granted
     AND c.relkind IN ('r', 'p', 'm') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
     AND {} (a.query LIKE '%pg_get_ruledef%' OR a.query = 'ROLLBACK')",
        if rules { "" } else { "NOT" }
    )
}

/// The most user tables one view or rule of the database names.
const MOST_NAMED: &str = "SELECT coalesce(max(n), 0) FROM (
    SELECT count(DISTINCT d.refobjid) AS n FROM pg_rewrite r
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
      JOIN pg_class c ON c.oid = d.refobjid AND c.relkind IN ('r', 'p', 'm') AND c.oid >= 16384
     GROUP BY r.oid) named";

/// The rehearsal's source reading `one_roof.bulk_a`, now.
const READING_A: &str = "SELECT count(*) FROM pg_stat_activity
   WHERE application_name LIKE 'host rehearse (source%' AND state = 'active' AND query LIKE '%one_roof.bulk\\_a %'";

fn psql_child(c: &Cluster, sql: &str) -> Child {
    c.psql_cmd()
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql")
}

fn rehearsal(prod: &Cluster, copy: &Cluster, reports: &std::path::Path) -> Child {
    let (from, to) = (prod.url(), copy.url());
    let plan = one_roof();
    let mut a = args("rehearse", &plan, &["--param", APR, "--from", &from, "--copy-url", &to]);
    a.extend(["--reports", reports.to_str().unwrap()]);
    prod.spawn(&a)
}

/// Waits for `child`, at most `limit` (a digest that hangs fails the test
/// instead of the test hanging).
fn finished(mut child: Child, limit: Duration) -> Run {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {} s: {}", limit.as_secs(), Run::from(child.wait_with_output().unwrap()).all());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn the_source_digest_holds_one_relation_at_a_time_and_production_ddl_waits_for_one_read_only() {
    let (prod, copy) = production_and_copy_with("yield", BULK);
    let reports = tempfile::tempdir().unwrap();
    let mut child = rehearsal(&prod, &copy, reports.path());
    let (mut most, mut most_printing) = (0, 0);
    let (locked_reading, locked_printing) = (locked(false), locked(true));
    let mut alter: Option<(Instant, Child)> = None;
    let mut waited: Option<Duration> = None;
    while child.try_wait().unwrap().is_none() {
        most = most.max(prod.scalar(&locked_reading));
        most_printing = most_printing.max(prod.scalar(&locked_printing));
        if alter.is_none() && prod.scalar(READING_A) > 0 {
            // Production's own DDL, while the digest reads that table.
            alter = Some((Instant::now(), psql_child(&prod, "ALTER TABLE one_roof.bulk_a ADD COLUMN extra int")));
        }
        if let (Some((since, c)), None) = (alter.as_mut(), waited) {
            if c.try_wait().unwrap().is_some() {
                waited = Some(since.elapsed());
            }
        }
    }
    let r = Run::from(child.wait_with_output().unwrap());
    let (_, mut c) = alter.expect("the digest was never seen reading one_roof.bulk_a");
    assert!(c.wait().unwrap().success(), "the ALTER failed");
    // The figure docs/operator.md quotes (cargo test … -- --nocapture).
    println!("ALTER TABLE one_roof.bulk_a waited {:?} behind the source digest", waited);
    assert_eq!(most, 1, "the source digest held locks on {most} user tables at once");
    let named = prod.scalar(MOST_NAMED);
    assert!(named >= 3, "the plan's views name {named} tables: the bound below would prove nothing");
    assert!(
        most_printing <= named,
        "printing one view's or rule's definition held {most_printing} user tables, more than one names ({named})"
    );
    // Production changed half-way through the digest: the exported
    // snapshot kept the reading consistent, and the copy equals it.
    r.expect_code(0).expect("REHEARSAL OK");
    assert_eq!(
        prod.scalar(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'bulk_a' AND column_name = 'extra'"
        ),
        1
    );
    production_untouched(&prod);
}

#[test]
fn a_relation_held_locked_against_reading_makes_the_digest_retry_then_fail_naming_it() {
    let (prod, copy) = production_and_copy_with("yield-held", BULK);
    // A session holds one_roof.bulk_b exclusively, and keeps it.
    let mut holder =
        psql_child(&prod, "BEGIN; LOCK TABLE one_roof.bulk_b IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT");
    let held = "SELECT count(*) FROM pg_locks WHERE relation = 'one_roof.bulk_b'::regclass AND mode = 'AccessExclusiveLock' AND granted";
    let deadline = Instant::now() + Duration::from_secs(30);
    while prod.scalar(held) == 0 {
        assert!(Instant::now() < deadline, "the lock was never taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let reports = tempfile::tempdir().unwrap();
    let r = finished(rehearsal(&prod, &copy, reports.path()), Duration::from_secs(90));
    let _ = holder.kill();
    let _ = holder.wait();
    r.expect_code(8)
        .expect("cannot read the state of the source: cannot read one_roof.bulk_b: another session holds a lock on it that conflicts with reading: pid ")
        .expect("holds AccessExclusiveLock since")
        .expect("asked 100 ms at a time for");
    // It was asked again, not once: the server saw several requests time out.
    let log = std::fs::read_to_string(prod.dir.join("server.log")).unwrap_or_default();
    let timeouts = log.matches("canceling statement due to lock timeout").count();
    assert!(timeouts >= 3, "{timeouts} lock requests timed out:\n{log}");
    assert_eq!(report(reports.path())["steps"].as_array().unwrap().len(), 0);
    production_untouched(&prod);
}
