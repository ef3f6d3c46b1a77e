//! A batched backfill with what a test adds to its database (a trigger),
//! reviewed: tests/plugins/backfill over 50,000 rows of `app.item`, 5,000
//! rows a batch, the gate and verify passing.

use super::audit::VERIFY;
use super::*;

/// The batched backfill of 50,000 rows of `app.item` with what `extra`
/// adds to the database (a deferred trigger), reviewed.
pub fn backfill_with(name: &str, extra: &str) -> (Cluster, tempfile::TempDir, Vec<String>, String) {
    let c = Cluster::start(name);
    c.psql(&format!(
        "CREATE SCHEMA app;
         CREATE TABLE app.item (id int PRIMARY KEY, n int NOT NULL, v int);
         INSERT INTO app.item SELECT g, g % 997, NULL FROM generate_series(1, 50000) g;
         {extra}"
    ));
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("tests/plugins/backfill.wasm")).expect("make test-plugins");
    let manifest = manifest_of(&wasm);
    let (head, _) = manifest.split_once("[batches]").expect("the fixture has [batches]");
    let (_, limits) = manifest.split_once("[limits]").expect("the fixture has [limits]");
    let batches =
        "size = 5000\nmin_size = 5000\nmax_size = 5000\npause_ms = 0\nstatement_timeout_ms = 5000\nrows_changed = 5000";
    let tier = dir.path().join("backfill.wasm");
    std::fs::write(&tier, with_manifest(&wasm, &format!("{head}[batches]\n{batches}\n\n[limits]{limits}"))).unwrap();
    let verify = dir.path().join("verify.wasm");
    let verdict = std::fs::read(root().join("tests/plugins/verdict.wasm")).unwrap();
    std::fs::write(&verify, with_manifest(&verdict, VERIFY)).unwrap();
    let plan = vec![
        root().join("tests/plugins/verdict.wasm").display().to_string(),
        tier.display().to_string(),
        verify.display().to_string(),
    ];
    let lock = dir.path().join("rollout.lock").display().to_string();
    c.review(&plan, &lock, false);
    (c, dir, plan, lock)
}

/// The backfill's run, the gate and verify passing, under its lock file.
pub fn run_backfill(c: &Cluster, plan: &[String], lock: &str) -> Run {
    c.host(&args("run", plan, &["--param", "verdict=ok", "--param", "fail=none", "--lock", lock]))
}

/// The backfill's batches the ledger says committed.
pub const DONE_STEPS: &str =
    "SELECT count(*) FROM rollout_ledger.step WHERE plugin = 'test-backfill' AND phase = 'apply' \
                          AND kind = 'batch' AND state = 'done'";

/// After `r`: the backfill's batches the ledger says committed, and the
/// rows filled (0: none kept, or all rolled back).
pub fn assert_left(c: &Cluster, r: &Run, steps: i64, filled: i64) {
    assert_eq!(c.scalar(DONE_STEPS), steps, "committed batches: {}", r.all());
    assert_eq!(c.scalar("SELECT count(*) FROM app.item WHERE v IS NOT NULL"), filled, "rows filled: {}", r.all());
}
