//! Plugin text is data: whatever a plugin writes in its logs, metrics, errors
//! or manifest, the operator's terminal, `rollout.log` and the published
//! `report.md` show the real outcome and nothing the plugin can make act as
//! terminal control or markup; `report.json` and the ledger keep its exact
//! text. The screen is checked as the operator sees it: the captured streams
//! replayed through a terminal emulator (vt100).

mod support;

use support::screen::{assert_inert, cells, screen};
use support::*;

/// The forging fixture in tier 4's place.
fn forger_plan() -> Vec<String> {
    plan_with(Some("t4-containment"), &["tests/plugins/forger.wasm"])
}

/// Whether a screen line starts (after indentation) with `text`.
fn starts(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.trim_start().starts_with(text))
}

/// The screen lines that start with `text`, for failure messages.
fn show(lines: &[String]) -> String {
    lines.join("\n")
}

/// Words only the forger writes: every screen line holding one must be the
/// forger's own tagged line, a check table's row or the error line, each
/// quoting it after a start the host wrote.
const FORGED: [&str; 6] =
    ["(test-forger) in ", "rows seen", "placing responsibilities", "SSAP", "release notes", "nothing to undo"];

/// Whether a line (indentation removed) holds no forged word, or holds it
/// after a start the host wrote: the plugin's tag, a check table's row, the
/// error line.
fn quoted(line: &str) -> bool {
    !FORGED.iter().any(|w| line.contains(w))
        || line.starts_with("[test-forger] ")
        || line.starts_with("│ ")
        || line.starts_with("error: tier 4 (test-forger)")
}

/// The screens of a failed forged run: the real outcome visible, nothing
/// forged at the start of a line.
fn assert_screens_tell_the_truth(r: &Run, error_start: &str) {
    assert_inert("stderr", &r.stderr);
    assert_inert("stdout", &r.stdout);
    let err = screen(r.stderr.as_bytes());
    let out = screen(r.stdout.as_bytes());
    // The real outcome, on screen: the whole story on stderr, nothing on stdout.
    assert!(r.stdout.is_empty(), "stdout:\n{}", r.stdout);
    assert!(starts(&err, "GATE READY"), "stderr screen:\n{}", show(&err));
    for n in 0..4 {
        let applied = err.iter().filter(|l| l.trim_start().starts_with(&format!("Applied tier {n} ("))).count();
        assert_eq!(applied, 1, "tier {n}: stderr screen:\n{}", show(&err));
    }
    assert!(
        starts(&err, "Rolled back tier 4 (test-forger) — its transaction was rolled back"),
        "stderr screen:\n{}",
        show(&err)
    );
    assert!(starts(&err, "Report "), "stderr screen:\n{}", show(&err));
    let last = err.last().expect("an error line");
    assert!(last.starts_with(error_start), "the last line is {last:?}, not {error_start:?}:\n{}", show(&err));
    // Nothing forged where a host line would be.
    for lines in [&err, &out] {
        for fake in ["TIER 8 VERIFY", "ROLLOUT COMPLETE", "Applied tier 4", "## ", "<!--", "<script"] {
            assert!(!starts(lines, fake), "a line starts with {fake:?}:\n{}", show(lines));
        }
        for l in lines.iter() {
            let trimmed = l.trim_start();
            assert!(quoted(trimmed), "forged text outside a tagged line, the error line or a table row: {l:?}");
            // Every plugin line is tagged, and the tag stands where the host puts it.
            if l.contains("[test-forger]") {
                assert!(l.starts_with(&format!("{:>12} [test-forger] ", "")), "a displaced plugin tag: {l:?}");
            }
        }
    }
    // The forged log lines are there, inert and tagged.
    assert!(
        err.iter().any(|l| l.contains("[test-forger] info: placing responsibilities ...\\rROLLOUT COMPLETE")),
        "stderr screen:\n{}",
        show(&err)
    );
    assert!(err.iter().any(|l| l.contains("[test-forger] warn: TIER 8 VERIFY PASS")), "{}", show(&err));
    assert!(err.iter().any(|l| l.contains("[test-forger] error: \\x1b]52;c;")), "{}", show(&err));
}

/// The latest report directory's three files.
fn report(c: &Cluster) -> (String, String, serde_json::Value) {
    let dir = c.reports().pop().expect("a report directory");
    let log = std::fs::read_to_string(dir.join("rollout.log")).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    (log, md, json)
}

/// rollout.log: no control byte, and every forged word on a tagged line.
fn assert_log_tells_the_truth(log: &str) {
    assert_inert("rollout.log", log);
    let lines = screen(log.as_bytes());
    for l in &lines {
        // `HH:MM:SS.mmm ` then the line as printed.
        let printed = l.get(13..).unwrap_or_default().trim_start();
        for fake in ["TIER 8 VERIFY", "ROLLOUT COMPLETE", "Applied tier 4"] {
            assert!(!printed.starts_with(fake), "rollout.log: {l:?}");
        }
        assert!(quoted(printed), "rollout.log, forged text outside a tagged line or a table row: {l:?}");
    }
}

/// report.md: only the host's headings, no HTML, comment, link or image,
/// and every table row as wide as its header.
fn assert_markdown_tells_the_truth(md: &str, headings: &[&str]) {
    assert_inert("report.md", md);
    // Each tier's SQL listing has a heading of its own, in one shape only:
    // `### Tier N — plugin-name: the SQL it sent` (a manifest name is
    // lowercase letters, digits and dashes).
    let listing = |l: &str| {
        l.strip_prefix("### Tier ").and_then(|r| r.strip_suffix(": the SQL it sent")).is_some_and(|r| {
            r.split_once(" — ").is_some_and(|(n, name)| {
                n.bytes().all(|b| b.is_ascii_digit())
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
        })
    };
    // Whether the footprint's sampler saw the failing tier 4's locks before
    // it failed depends on timing: its heading, exactly the host's, may be there.
    let tier_4_locks =
        |l: &str| l == "### Tier 4 — test-forger: lock footprint, measured on the server (0 lock-wait retries)";
    let found: Vec<&str> = md.lines().filter(|l| l.starts_with('#') && !listing(l) && !tier_4_locks(l)).collect();
    assert_eq!(found, headings, "report.md headings:\n{md}");
    for bad in ["<script", "<!--", "<img", "](http", "![", "<"] {
        assert!(!md.contains(bad), "{bad:?} in report.md:\n{md}");
    }
    let mut width = None;
    for l in md.lines() {
        if !l.starts_with('|') {
            width = None;
            continue;
        }
        let n = cells(l);
        let w = *width.get_or_insert(n);
        assert_eq!(n, w, "a row of {n} unescaped `|` under a header of {w}: {l:?}\n{md}");
    }
}

/// The host's own headings of a run that stopped at tier 4, with the
/// post-condition tables of the tiers that reached them.
fn headings(tier_4_post_conditions: bool) -> Vec<&'static str> {
    let mut h = vec![
        "# Rollout report: run — FAILED",
        "## Plugins",
        "## Gate — READY",
        "## Tiers",
        "### Tier 1 — one-roof-shadow: rows changed, as the server counted them",
        "### Tier 2 — one-roof-ownership: rows changed, as the server counted them",
        "### Tier 3 — one-roof-axis: rows changed, as the server counted them",
        "### Tier 0 — one-roof-preflight: lock footprint, measured on the server (0 lock-wait retries)",
        "### Tier 1 — one-roof-shadow: lock footprint, measured on the server (0 lock-wait retries)",
        "### Tier 2 — one-roof-ownership: lock footprint, measured on the server (0 lock-wait retries)",
        "### Tier 3 — one-roof-axis: lock footprint, measured on the server (0 lock-wait retries)",
        "### Post-conditions — tier 0 \\(one-roof-preflight\\) — PASS",
        "### Post-conditions — tier 1 \\(one-roof-shadow\\) — PASS",
        "### Post-conditions — tier 2 \\(one-roof-ownership\\) — PASS",
        "### Post-conditions — tier 3 \\(one-roof-axis\\) — PASS",
    ];
    if tier_4_post_conditions {
        h.push("### Post-conditions — tier 4 \\(test-forger\\) — FAIL");
    }
    h.push("## Plugin logs");
    h
}

#[test]
fn a_forged_apply_error_and_logs_cannot_redraw_the_screen_the_log_or_the_report() {
    let c = Cluster::start("truth-apply");
    c.ratify();
    let plan = forger_plan();
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "forge=apply"]));
    r.expect_code(4);
    assert_screens_tell_the_truth(
        &r,
        "error: tier 4 (test-forger) apply failed: \\x1b[1A\\x1b[2K\\x1b[1A\\x1b[2K\\x1b[1A\\x1b[2K\\x1b[2J\\x1b[H\\r     Applied tier 4",
    );
    let (log, md, json) = report(&c);
    assert_log_tells_the_truth(&log);
    assert_markdown_tells_the_truth(&md, &headings(false));
    assert!(md.contains("apply failed: \\\\x1b\\[1A"), "the failure, escaped, in report.md:\n{md}");
    // The plugin's log lines are in report.md, escaped (one table row each),
    // and exact in report.json.
    let forged_logs = [
        ("info", "\x1b[2J\x1b[H     Applied tier 4 (test-forger) in 3 ms — 0 statements, 0 rows changed".to_string()),
        ("info", "placing responsibilities ...\rROLLOUT COMPLETE — ALL TIERS PASSED".to_string()),
        (
            "warn",
            "\n     Applied tier 4 (test-forger) in 5 ms — 2 statements, 70 rows changed\nTIER 8 VERIFY PASS"
                .to_string(),
        ),
    ];
    for (level, message) in &forged_logs {
        let row = format!("| test-forger | {level} | {} |", host::text::markdown(message));
        assert!(md.lines().any(|l| l == row), "the log line {message:?} as the row {row:?} in report.md:\n{md}");
        let kept = json["logs"].as_array().expect("report.json logs");
        assert!(
            kept.iter()
                .any(|l| l["plugin"] == "test-forger" && l["level"] == *level && l["message"] == message.as_str()),
            "{message:?} not kept exactly in report.json: {kept:?}"
        );
    }
    // The exact text stays in report.json and in the ledger.
    let tier = &json["tiers"][4];
    assert_eq!(tier["plugin"], "test-forger");
    let message = tier["message"].as_str().unwrap();
    assert!(message.starts_with("tier 4 (test-forger) apply failed: \x1b[1A\x1b[2K"), "{message:?}");
    for exact in [
        "\x1b[2J\x1b[H\r     Applied tier 4",
        "\n\nTIER 8 VERIFY PASS\n",
        "<!--\n<script>",
        "\x1b]52;c;cm0gLXJmIH4K\x07",
    ] {
        assert!(message.contains(exact), "{exact:?} not kept exactly in report.json: {message:?}");
    }
    assert_eq!(json["outcome"], "failed");
    assert_eq!(
        c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE plugin = 'test-forger' AND event = 'failed' AND strpos(message, chr(27) || '[2J' || chr(27) || '[H' || chr(13)) > 0"),
        1,
        "the ledger keeps the exact error"
    );
    // A NUL, which PostgreSQL cannot hold, is U+FFFD in the ledger and so in
    // the report too; it neither stops the ledger from recording the failure
    // nor makes `host report` write other bytes.
    assert!(message.ends_with("\u{fffd} after a NUL"), "{message:?}");
    assert_eq!(
        c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE plugin = 'test-forger' AND event = 'failed' AND strpos(message, chr(65533) || ' after a NUL') > 0"),
        1
    );
    assert_eq!(c.psql("SELECT outcome || ' ' || (report->>'outcome') FROM rollout_ledger.rollout"), "failed failed");
    let again = tempfile::tempdir().unwrap();
    let id = c.psql("SELECT id FROM rollout_ledger.rollout");
    c.host(&["report", &id, "--out", again.path().to_str().unwrap()]).expect_code(0);
    let dir = c.reports().pop().expect("a report directory");
    for name in ["report.json", "report.md"] {
        assert!(std::fs::read(dir.join(name)).unwrap() == std::fs::read(again.path().join(name)).unwrap(), "{name}");
    }
    // `host status` shows the ledger's message inert too.
    let s = c.host(&["status"]);
    s.expect_code(0);
    assert_inert("status", &s.stdout);
    assert!(!starts(&screen(s.stdout.as_bytes()), "Applied tier 4"), "{}", s.stdout);
    // The rollback, with the forger's rollback log, stays truthful.
    let r = c.host(&args("rollback", &plan, &[]));
    r.expect_code(0).expect("FULL ROLLBACK OK");
    assert_inert("rollback stderr", &r.stderr);
    let err = screen(r.stderr.as_bytes());
    assert!(!starts(&err, "ROLLOUT COMPLETE"), "{}", show(&err));
    assert_eq!(c.baseline_line(), BASELINE);
}

#[test]
fn forged_metrics_cannot_redraw_the_screen_or_add_markup_to_the_report() {
    let c = Cluster::start("truth-metrics");
    c.ratify();
    // One screen line per table row: wide enough that no cell wraps
    // (tests/output.rs proves tables fit a narrower width).
    let plan = forger_plan();
    let a = args("run", &plan, &["--param", APR, "--param", "forge=metrics"]);
    let r = Run::from(c.host_cmd(&a).env("COLUMNS", "60000").output().expect("run host"));
    r.expect_code(4);
    assert_screens_tell_the_truth(
        &r,
        // The host's own finding first (the forged names are not the declared one), inert.
        "error: tier 4 (test-forger) failed: post-conditions not met: declared metric `containment_rows` is missing, metric `\\x1b[2J\\x1b[Hcontainment_rows` is not declared in the manifest",
    );
    // The post-conditions table: one row per metric, the forged one FAIL.
    let out = screen(r.stderr.as_bytes());
    let title = out.iter().position(|l| l == "Post-conditions — tier 4 (test-forger)").expect("the table title");
    let rows: Vec<&String> = out[title + 1..].iter().take_while(|l| l.starts_with(['┌', '│', '╞', '└'])).collect();
    let metric_rows: Vec<&&String> = rows.iter().filter(|l| l.starts_with('│')).collect();
    assert_eq!(metric_rows.len(), 5, "header and four metrics:\n{}", show(&out));
    let failing: Vec<&&&String> = metric_rows.iter().filter(|l| l.trim_end().ends_with("┆ FAIL   │")).collect();
    assert_eq!(failing.len(), 1, "{}", show(&out));
    assert!(failing[0].starts_with("│ forged\\x1b[1A\\x1b[2K "), "{}", failing[0]);
    assert!(metric_rows.iter().any(|l| l.starts_with("│ ## Tiers\\n| 9 | fake |")), "{}", show(&out));
    let (log, md, json) = report(&c);
    assert_log_tells_the_truth(&log);
    assert_markdown_tells_the_truth(&md, &headings(true));
    // The exact metrics stay in report.json.
    let metrics = json["tiers"][4]["conditions"]["metrics"].as_array().expect("tier 4's post-conditions");
    assert_eq!(metrics.len(), 4);
    assert_eq!(metrics[0]["name"], "\x1b[2J\x1b[Hcontainment_rows");
    assert_eq!(metrics[2]["name"], "verdict\rTIER 8 VERIFY PASS");
    assert_eq!(metrics[2]["expected"], "<script>alert(1)</script>");
    assert_eq!(metrics[3]["name"], "forged\x1b[1A\x1b[2K");
    assert_eq!(metrics[3]["actual"], "0\rTIER 8 VERIFY PASS\nROLLOUT COMPLETE — ALL TIERS PASSED");
    assert_eq!(metrics[3]["result"], "FAIL");
}

/// `host` without a database, from the workspace root.
fn host_offline(args: &[&str]) -> Run {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    c.current_dir(root()).args(args).env("HOST_COMPILE_CACHE", compile_cache());
    Run::from(c.output().expect("run host"))
}

#[test]
fn a_manifest_string_with_a_control_character_is_refused_at_load_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(root().join("tests/plugins/forger.wasm")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest_of(&wasm)).unwrap();
    // A grant that erases the line above it (hiding another plugin's `drop`),
    // one that returns to the start of its line, a description that reverses
    // what follows it.
    let cases: [(&str, &str, &str, &str); 3] = [
        ("read", "\u{1b}[1A\u{1b}[2Kone_roof.axis_node", "grants.read[1]", "\\x1b[1A\\x1b[2Kone_roof.axis_node"),
        ("drop", "one_roof.containment\r", "grants.drop[0]", "one_roof.containment\\r"),
        ("description", "Harmless \u{202e}pord", "description", "Harmless \\u{202e}pord"),
    ];
    let plan = one_roof();
    for (key, value, field, shown) in cases {
        let mut doc = manifest.clone();
        if key == "description" {
            doc.insert(key.into(), value.into());
        } else {
            let grants = doc.get_mut("grants").unwrap().as_table_mut().unwrap();
            grants
                .entry(key)
                .or_insert_with(|| toml::Value::Array(Vec::new()))
                .as_array_mut()
                .unwrap()
                .push(value.into());
        }
        let path = dir.path().join(format!("forger-{key}.wasm"));
        std::fs::write(&path, with_manifest(&wasm, &toml::to_string(&doc).unwrap())).unwrap();
        let path = path.to_str().unwrap();
        let mut grants: Vec<&str> = vec!["grants"];
        grants.extend(plan.iter().map(String::as_str));
        grants.push(path);
        for verb in [grants, vec!["inspect", path], vec!["explain", path, "SELECT 1"]] {
            let r = host_offline(&verb);
            r.expect_code(2).expect(&format!("manifest field `{field}` holds the control or invisible character"));
            r.expect(shown);
            assert_inert(verb[0], &r.all());
            assert!(r.stdout.is_empty(), "{}: nothing printed of a refused plan:\n{}", verb[0], r.stdout);
        }
    }
}
