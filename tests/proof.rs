//! Verdicts are complete and a rollback is kept only once it is proven:
//! the real `host`, real plugins, a real server (one cluster per test).

mod support;

use support::*;

/// The One-Roof plan with tier 4 replaced by a fixture whose rollback is
/// as `--param undo=…` says.
fn undo_plan() -> Vec<String> {
    plan_with(Some("t4-containment"), &["tests/plugins/undo.wasm"])
}

#[test]
fn a_gate_table_that_is_empty_or_not_exactly_the_declared_metrics_blocks() {
    let c = Cluster::start("verdicts");
    c.ratify();
    let plan = plan_with(Some("gate"), &["tests/plugins/verdict.wasm"]);
    for (verdict, says) in [
        ("empty", "the plugin returned no metrics; an empty table never passes"),
        ("missing", "declared metric `ready` is missing"),
        ("extra", "metric `bonus` is not declared in the manifest"),
        ("duplicate", "metric `ready` was returned 2 times"),
    ] {
        let p = format!("verdict={verdict}");
        // `host gate` and `host run` alike: BLOCKED, exit 3, naming the metric; no tier runs.
        for verb in ["gate", "run"] {
            let r = c.host(&args(verb, &plan, &["--param", APR, "--param", &p]));
            r.expect_code(3).expect("GATE BLOCKED").expect(&format!("FAIL (host): {says}"));
            assert!(r.stderr.contains(&format!("gate BLOCKED: {says}")), "{verb} {verdict}: {}", r.all());
            assert!(!r.all().contains("GATE READY"), "{verb} {verdict}: {}", r.all());
        }
        let report = std::fs::read_to_string(c.reports().last().unwrap().join("report.md")).unwrap();
        let escaped = says.replace('`', "\\`");
        assert!(report.contains(&format!("**FAIL (host):** {escaped}")), "{verdict}: {report}");
    }
    assert_eq!(c.scalar("SELECT count(*) FROM rollout_ledger.tier_event"), 0, "a tier ran");
    // The same gate with its whole table: READY, and the run goes on.
    c.host(&args("gate", &plan, &["--param", APR, "--param", "verdict=ok"])).expect_code(0).expect("GATE READY");
}

#[test]
fn a_tier_whose_post_conditions_are_empty_fails() {
    let c = Cluster::start("empty-post");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=no_metrics"]));
    r.expect_code(4).expect("post-conditions not met: the plugin returned no metrics");
    assert_eq!(c.tier_states().split(' ').next_back(), Some("test-misbehave=failed"));
    assert_eq!(c.scalar("SELECT count(*) FROM one_roof.containment"), 420, "no partial tier");
}

#[test]
fn a_rollback_that_does_nothing_or_part_is_not_kept_and_the_ledger_still_says_applied() {
    let c = Cluster::start("noop-rollback");
    c.ratify();
    let plan = undo_plan();
    let baseline = c.state_digest();
    c.host(&args("run", &plan, &["--param", APR, "--param", "undo=ok"])).expect_code(0);
    let applied = c.state_digest();
    let states = c.tier_states();
    assert!(states.contains("test-undo=applied"), "{states}");
    for (undo, says) in [
        // The tier's own rollback conditions catch a rollback that does nothing, or half.
        ("noop", "tier 4 (test-undo) failed: rollback conditions not met: containment_gap=0 (expected 210)"),
        ("partial", "tier 4 (test-undo) failed: rollback conditions not met: containment_gap=70 (expected 210)"),
        // What a tier's own conditions do not look at, the probes see, in the same transaction.
        ("lying", "probe (one-roof-baseline-probe) failed: gov_outbox=1 (expected 0)"),
    ] {
        let r = c.host(&args("rollback", &plan, &["--param", APR, "--param", &format!("undo={undo}")]));
        r.expect_code(4).expect(says).expect("— nothing changed;").expect("; the ledger still says applied");
        assert!(!r.all().contains("FULL ROLLBACK OK"), "{undo}: {}", r.all());
        // Tiers 6 and 5 were undone before tier 4 in the same transaction: none of it was kept.
        assert_eq!(c.state_digest(), applied, "{undo}: the data changed");
        assert_eq!(c.tier_states().replace(" test-undo=failed", " test-undo=applied"), states, "{undo}");
        assert_eq!(
            c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE event = 'rolled_back'"),
            0,
            "{undo}: a rolled_back row was kept"
        );
        assert_eq!(c.psql("SELECT outcome FROM rollout_ledger.rollout ORDER BY id DESC LIMIT 1"), "failed");
        // Nothing was rolled back, so a later run must still be refused (exit 7).
        c.host(&args("run", &plan, &["--param", APR, "--param", "undo=ok"])).expect_code(7);
    }
    // A correct rollback afterwards restores the baseline exactly.
    c.host(&args("rollback", &plan, &["--param", APR, "--param", "undo=ok"]))
        .expect_code(0)
        .expect("FULL ROLLBACK OK: ownership=0 gap=210 axis=absent");
    assert_eq!(c.state_digest(), baseline);
    assert_eq!(c.baseline_line(), BASELINE);
}

#[test]
fn a_single_tier_rollback_is_proven_before_it_is_recorded() {
    let c = Cluster::start("tier-rollback");
    c.ratify();
    let plan = undo_plan();
    c.host(&args("run", &plan, &["--param", APR, "--param", "undo=ok"])).expect_code(0);
    for n in ["6", "5"] {
        c.host(&args("rollback", &plan, &["--tier", n])).expect_code(0).expect(&format!("TIER {n} ROLLBACK OK"));
    }
    let before = c.state_digest();
    let r = c.host(&args("rollback", &plan, &["--tier", "4", "--param", "undo=partial"]));
    r.expect_code(4).expect("rollback conditions not met: containment_gap=70 (expected 210)");
    assert_eq!(c.state_digest(), before, "the data changed");
    let applied =
        c.psql("SELECT count(*) FROM rollout_ledger.tier_event WHERE plugin = 'test-undo' AND event = 'rolled_back'");
    assert_eq!(applied, "0", "tier 4 recorded as rolled back");
    c.host(&args("rollback", &plan, &["--tier", "4", "--param", "undo=ok"]))
        .expect_code(0)
        .expect("TIER 4 ROLLBACK OK");
    assert!(c.tier_states().contains("test-undo=rolled_back"), "{}", c.tier_states());
}
