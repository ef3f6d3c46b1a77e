//! `host run --dry-run`: the real plan on the real data, in one transaction
//! that is always rolled back; the ledger keeps one `dry_run` row and marks
//! nothing applied.

mod support;

use support::*;

/// The ledger's rollout rows as `verb=outcome`, oldest first.
fn rollouts(c: &Cluster) -> String {
    c.psql("SELECT string_agg(verb || '=' || outcome, ' ' ORDER BY id) FROM rollout_ledger.rollout")
}

#[test]
fn a_dry_run_shows_every_tier_and_verify_and_leaves_the_database_as_it_was() {
    let c = Cluster::start("dry-ready");
    c.ratify();
    let before = c.state_digest();
    let r = c.host(&args("run", &one_roof(), &["--param", APR, "--dry-run"]));
    r.expect_code(0).expect("TIER 8 VERIFY PASS").expect("DRY RUN COMPLETE — ALL TIERS WOULD PASS");
    let out = r.all();
    // Status lines go to stderr, tables and results to stdout: the first
    // status line, printed before the host connects, says it.
    let first = r.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    assert!(first.contains("nothing will be committed"), "first line: {first}");
    let last = out.lines().rev().find(|l| l.contains("DRY RUN")).unwrap_or_default();
    assert!(last.contains("nothing was committed"), "last line: {last}");
    // What each tier would change, by relation and operation.
    for change in [
        "Would change one_roof.resp_ownership_shadow — insert 30 rows (30 statements)",
        "Would change one_roof.resp_ownership — insert 30 rows (1 statement)",
        "Would change one_roof.containment — insert 210 rows (1 statement)",
        "Would change one_roof.kg_domain — update 1 row (1 statement)",
    ] {
        r.expect(change);
    }
    for tier in 0..=6 {
        assert!(out.contains(&format!("Would apply tier {tier} ")), "tier {tier} not shown:\n{out}");
    }
    assert_eq!(c.state_digest(), before, "the dry run changed the data");
    assert_eq!(c.baseline_line(), BASELINE);
    assert_eq!(c.tier_states(), "", "no tier may be marked applied");
    assert_eq!(rollouts(&c), "dry_run=complete");
    // The report lists every statement that changed something.
    let report = std::fs::read_to_string(c.reports().last().unwrap().join("report.md")).unwrap();
    assert!(report.contains("### Tier 1 — one-roof-shadow: what it would change (rolled back)"), "{report}");
    assert!(report.contains("| 31 | one\\_roof.resp\\_ownership\\_shadow | insert | 1 |"), "{report}");
    // The real run afterwards starts from the untouched baseline.
    let r = c.host(&args("run", &one_roof(), &["--param", APR]));
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
}

#[test]
fn a_dry_run_exits_as_the_run_would_and_changes_nothing() {
    let c = Cluster::start("dry-fail");
    let before = c.state_digest();
    // BLOCKED: the approval is not ratified yet.
    let r = c.host(&args("run", &one_roof(), &["--param", APR, "--dry-run"]));
    r.expect_code(3).expect("gate BLOCKED").expect("nothing was committed");
    assert_eq!(c.state_digest(), before);
    c.ratify();
    let before = c.state_digest();
    // A tier that fails after writing 70 rows, with tiers 0-3 before it in
    // the same transaction.
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=fail", "--dry-run"]));
    r.expect_code(4).expect("containment failed on purpose").expect("nothing was committed");
    r.expect("Would apply tier 3 ");
    assert_eq!(c.state_digest(), before, "a failed dry run changed the data");
    assert_eq!(c.tier_states(), "");
    assert_eq!(rollouts(&c), "dry_run=blocked dry_run=failed");
}

#[test]
fn a_dry_run_and_a_real_run_started_together_one_holds_the_lock() {
    let c = Cluster::start("dry-lock");
    c.ratify();
    // Tier 7 (sly=sleep) holds either command for 4 s inside the lock.
    let plan = plan_with(None, &["tests/plugins/sly.wasm"]);
    let mut dry = c.host_cmd(&args("run", &plan, &["--param", APR, "--param", "sly=sleep", "--dry-run"]));
    let mut real = c.host_cmd(&args("run", &plan, &["--param", APR, "--param", "sly=sleep"]));
    let (dry, real) = std::thread::scope(|s| {
        let d = s.spawn(|| Run::from(dry.output().unwrap()));
        let r = s.spawn(|| Run::from(real.output().unwrap()));
        (d.join().unwrap(), r.join().unwrap())
    });
    let codes = (dry.code, real.code);
    assert!(codes == (0, 6) || codes == (6, 0), "exit codes {codes:?}:\n{}\n{}", dry.all(), real.all());
    let loser = if dry.code == 6 { &dry } else { &real };
    loser.expect("another rollout holds the rollout lock");
    if real.code == 0 {
        assert!(c.tier_states().contains("test-sly=applied"));
    } else {
        assert_eq!(c.tier_states(), "", "the dry run marked a tier applied");
    }
}
