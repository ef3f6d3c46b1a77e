//! The dry run is the run: fixture plans, hostile ones included, run once as
//! `run --dry-run` and once as `run` on the same starting state (the dry
//! run is proven to leave the data as it found it), and every verdict must
//! agree — the gate, each tier (would apply / applied, or failed at the same
//! tier for the same kind of reason), verify, and the exit code.

mod support;

use support::*;

/// A tier's verdict as both commands name it: `pass` or `fail`.
fn verdicts(c: &Cluster) -> Vec<(String, String)> {
    let dir = c.reports().last().expect("a report").clone();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report.json")).expect("json");
    json["tiers"]
        .as_array()
        .map(|tiers| {
            tiers
                .iter()
                .map(|t| {
                    let verdict = match t["outcome"].as_str().unwrap_or("") {
                        "applied" | "would_apply" => "pass",
                        other => other,
                    };
                    (t["plugin"].as_str().unwrap_or("").to_string(), verdict.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The failing tier's cause, without what only the dry run adds.
fn cause(run: &Run) -> String {
    let line = run.stderr.lines().rev().find(|l| l.starts_with("error:")).unwrap_or("").to_string();
    // The dry run's own words, which hold parentheses of their own.
    let line = match line.split_once(" (dry run: ") {
        Some((head, tail)) => {
            let mut depth = 1;
            let end = tail.char_indices().find_map(|(i, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                (depth == 0).then_some(i + 1)
            });
            format!("{head}{}", end.map_or("", |e| &tail[e..]))
        }
        None => line,
    };
    // The rollout number differs between the two commands.
    line.split_whitespace().filter(|w| !w.chars().all(|c| c.is_ascii_digit())).collect::<Vec<_>>().join(" ")
}

fn same_verdicts(c: &Cluster, plan: &[String], extra: &[&str]) {
    let before = c.state_digest();
    let mut dry_args: Vec<&str> = vec!["--param", APR, "--dry-run"];
    dry_args.extend_from_slice(extra);
    let dry = c.host(&args("run", plan, &dry_args));
    let dry_verdicts = verdicts(c);
    assert_eq!(c.state_digest(), before, "the dry run changed the data:\n{}", dry.all());
    let mut run_args: Vec<&str> = vec!["--param", APR];
    run_args.extend_from_slice(extra);
    let run = c.host(&args("run", plan, &run_args));
    let run_verdicts = verdicts(c);
    let case = format!("{extra:?}\n--- dry run:\n{}\n--- run:\n{}", dry.all(), run.all());
    assert_eq!(dry.code, run.code, "exit codes differ: {case}");
    assert_eq!(dry_verdicts, run_verdicts, "tier verdicts differ: {case}");
    assert_eq!(cause(&dry), cause(&run), "the failure differs: {case}");
}

fn fixture_functions(c: &Cluster) {
    c.psql(
        "CREATE FUNCTION public.raise_08006() RETURNS int LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'the remote server is down' USING ERRCODE = '08006'; END $$;
         CREATE FUNCTION public.change_path() RETURNS text LANGUAGE sql AS
           $$ SELECT set_config('search_path', 'public', true) $$",
    );
}

#[test]
fn one_roof_passes_alike() {
    let c = Cluster::start("parity-one-roof");
    c.ratify();
    same_verdicts(&c, &one_roof(), &[]);
}

#[test]
fn a_blocked_gate_blocks_alike() {
    let c = Cluster::start("parity-blocked");
    same_verdicts(&c, &one_roof(), &[]);
}

#[test]
fn every_misbehaving_tier_fails_alike() {
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    for mode in [
        "ok",
        "fail",
        "swallow",
        "commit",
        "set_role",
        "do",
        "post_write",
        "no_metrics",
        "panic",
        "trap",
        "copy_refused",
        "raise08",
        "set_path",
    ] {
        let c = Cluster::start(&format!("parity-{mode}"));
        c.ratify();
        fixture_functions(&c);
        let param = format!("mode={mode}");
        same_verdicts(&c, &plan, &["--param", &param]);
    }
}

#[test]
fn a_stream_one_tier_leaves_open_does_not_reach_the_next_tier() {
    let c = Cluster::start("parity-stream");
    c.ratify();
    fixture_functions(&c);
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm", "tests/plugins/streamer.wasm"]);
    same_verdicts(&c, &plan, &["--param", "mode=stream_open"]);
}

#[test]
fn a_dry_run_says_what_its_rollback_cannot_undo() {
    let c = Cluster::start("parity-kept");
    c.ratify();
    let r = c.host(&args("run", &one_roof(), &["--param", APR, "--dry-run"]));
    r.expect_code(0).expect("nothing was committed");
    // The first dry run on this database created the ledger for its record,
    // and tier 2's inserts drew 30 values from a serial's sequence.
    let last = r.stderr.lines().rev().find(|l| l.contains("DRY RUN")).unwrap_or_default().to_string();
    assert!(last.contains("the ledger schema rollout_ledger, created for this dry run's own record"), "{last}");
    assert!(
        last.contains("sequence one_roof.resp_ownership_id_seq drew 30 values: 1 (is_called false) → 30 (gaps"),
        "{last}"
    );
    // A second dry run creates nothing, and says only what moved.
    let again = c.host(&args("run", &one_roof(), &["--param", APR, "--dry-run"]));
    let last = again.stderr.lines().rev().find(|l| l.contains("DRY RUN")).unwrap_or_default().to_string();
    assert!(!last.contains("rollout_ledger"), "{last}");
    assert!(last.contains("sequence one_roof.resp_ownership_id_seq drew 30 values: 30 → 60 (gaps"), "{last}");
}
