//! The SQL shown (issue 22 item 2): a dry run's report lists every
//! distinct statement each tier sent (as checked, its parameters as `$n
//! type`, sends, rows, time), the ledger keeps it, and `host inspect --sql
//! PLUGIN` lists it afterwards without running anything. A plugin's
//! statement text is data: Markdown-escaped in report.md, its control
//! characters shown inert on the terminal. Real server, binary, plugins.

mod support;

use support::*;

fn inspect_sql(c: &Cluster, plugins: &[&str]) -> Run {
    let mut a = vec!["inspect", "--sql"];
    a.extend_from_slice(plugins);
    c.host(&a)
}

#[test]
fn a_dry_runs_report_and_inspect_list_a_tiers_statements_with_placeholders_and_types() {
    let c = Cluster::start("sq-list");
    c.ratify();
    // Before any dry run: said, with what to run.
    inspect_sql(&c, &["tiers/t1-shadow.wasm"])
        .expect_code(0)
        .expect("no dry run of this plugin (these bytes, by sha256) is recorded")
        .expect("host run --dry-run");
    c.host(&args("run", &one_roof(), &["--dry-run", "--param", APR])).expect_code(0);
    let report = c.reports().into_iter().rfind(|d| d.display().to_string().contains("-dry-run-")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap()).unwrap();
    let t1 = json["tiers"].as_array().unwrap().iter().find(|t| t["plugin"] == "one-roof-shadow").unwrap();
    let sent = t1["sql"]["statements"].as_array().unwrap();
    let insert = sent
        .iter()
        .find(|s| s["sql"].as_str().unwrap().starts_with("INSERT INTO one_roof.resp_ownership_shadow"))
        .unwrap_or_else(|| panic!("no INSERT listed: {sent:?}"));
    assert!(insert["sql"].as_str().unwrap().contains("VALUES ($1, $2)"), "{insert}");
    assert_eq!(insert["params"], serde_json::json!(["$1 text (untyped)", "$2 text (untyped)"]));
    assert_eq!((insert["calls"].as_u64(), insert["rows"].as_u64()), (Some(30), Some(30)), "{insert}");
    assert!(sent.iter().any(|s| s["sql"].as_str().unwrap().starts_with("CREATE TABLE one_roof.resp_ownership_shadow")));
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("### Tier 1 — one-roof-shadow: the SQL it sent"), "{md}");
    assert!(md.contains("VALUES \\($1, $2\\) | $1 text \\(untyped\\), $2 text \\(untyped\\) | 30 | 0 | 30 |"), "{md}");
    // Afterwards, without running anything: the same statements.
    let r = inspect_sql(&c, &["tiers/t1-shadow.wasm", "tiers/t6-kg-domain.wasm"]);
    r.expect_code(0)
        .expect("sent in rollout 1 (dry_run, by ")
        .expect("30 call(s), 0 failed, 30 row(s)")
        .expect("$1 text (untyped), $2 text (untyped)")
        .expect("INSERT INTO one_roof.resp_ownership_shadow (area_code, team_code) VALUES ($1, $2)")
        .expect("one-roof-kg-domain");
    // Matched by sha256: another build of the plugin has no record.
    let dir = tempfile::tempdir().unwrap();
    let t1 = std::fs::read(root().join("tiers/t1-shadow.wasm")).unwrap();
    let changed = with_manifest(&t1, &manifest_of(&t1).replace("description = \"", "description = \"changed: "));
    let other = dir.path().join("t1-shadow.wasm");
    std::fs::write(&other, changed).unwrap();
    inspect_sql(&c, &[other.to_str().unwrap(), "--data-dir", "tiers/data"])
        .expect_code(0)
        .expect("no dry run of this plugin");
    // The ledger's record is append-only.
    let out = std::process::Command::new("psql")
        .args(["-X", "-h", c.dir.to_str().unwrap(), "-U", "postgres", "-d", "directus", "-c"])
        .arg("DELETE FROM rollout_ledger.statement")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("append-only"), "{out:?}");
}

#[test]
fn a_hostile_statement_text_is_quoted_in_the_report_and_on_the_terminal() {
    let c = Cluster::start("sq-hostile");
    c.ratify();
    let data = tempfile::tempdir().unwrap();
    for dir in ["tiers/data", "tests/plugins/data"] {
        for f in std::fs::read_dir(root().join(dir)).unwrap().filter_map(|e| e.ok()) {
            std::fs::copy(f.path(), data.path().join(f.file_name())).unwrap();
        }
    }
    let corpus = "SELECT code FROM one_roof.team WHERE code = '| # *x* <b>y</b> [l](http://e.com) `z`'\n\
                  SELECT code FROM one_roof.team WHERE code = '\u{1b}[31mred\u{1b}[0m \u{202e}gnp.exe'\n";
    std::fs::write(data.path().join("hostile-corpus.sql"), corpus).unwrap();
    let mut plan: Vec<String> =
        one_roof().into_iter().filter(|p| p.ends_with("/gate.wasm") || p.ends_with("/t8-verify.wasm")).collect();
    plan.push("tests/plugins/hostile.wasm".into());
    let d = data.path().to_str().unwrap();
    let r = c.host(&args("run", &plan, &["--dry-run", "--param", APR, "--param", "escape=sql", "--data-dir", d]));
    assert!(r.all().contains("Would apply"), "the hostile tier ran:\n{}", r.all());
    let report = c.reports().into_iter().rfind(|d| d.display().to_string().contains("-dry-run-")).unwrap();
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let section = md.split("the SQL it sent").nth(1).unwrap_or_else(|| panic!("no SQL section:\n{md}"));
    for raw in ["| # *x*", "<b>", "](http", "`z`", "\u{1b}", "\u{202e}"] {
        assert!(!section.contains(raw), "report.md holds {raw:?} raw:\n{section}");
    }
    assert!(section.contains("'\\| \\# \\*x\\* &lt;b&gt;y&lt;/b&gt;"), "{section}");
    assert!(section.contains("\\\\x1b\\[31mred"), "{section}");
    // The JSON keeps the exact text.
    let json = std::fs::read_to_string(report.join("report.json")).unwrap();
    assert!(json.contains("\\u001b[31mred"), "{json}");
    let r = inspect_sql(&c, &["tests/plugins/hostile.wasm"]);
    r.expect_code(0)
        .expect("'| # *x* <b>y</b> [l](http://e.com) `z`'")
        .expect("'\\x1b[31mred\\x1b[0m \\u{202e}gnp.exe'");
    assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{202e}'), "raw control characters:\n{}", r.stdout);
}

/// A data directory with the plan's files and `hostile-corpus.sql` as given.
fn corpus_dir(corpus: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    for dir in ["tiers/data", "tests/plugins/data"] {
        for f in std::fs::read_dir(root().join(dir)).unwrap().filter_map(|e| e.ok()) {
            std::fs::copy(f.path(), data.path().join(f.file_name())).unwrap();
        }
    }
    std::fs::write(data.path().join("hostile-corpus.sql"), corpus).unwrap();
    data
}

#[test]
fn a_flood_of_distinct_reads_does_not_push_a_write_off_the_listing() {
    // 250 distinct plain reads, then a write that succeeds (no row, so it
    // needs no other table): the reads past the cap are only counted, the
    // write is listed in report.md, report.json and `host inspect --sql`.
    let c = Cluster::start("sq-flood");
    c.ratify();
    let mut corpus: String =
        (0..250).map(|i| format!("SELECT code FROM one_roof.team WHERE code = 'decoy-{i}'\n")).collect();
    let write = "INSERT INTO one_roof.label (responsibility_id, text) SELECT NULL, 'after the flood' WHERE false";
    corpus.push_str(write);
    corpus.push('\n');
    let data = corpus_dir(&corpus);
    let mut plan: Vec<String> =
        one_roof().into_iter().filter(|p| p.ends_with("/gate.wasm") || p.ends_with("/t8-verify.wasm")).collect();
    plan.push("tests/plugins/hostile.wasm".into());
    let d = data.path().to_str().unwrap();
    let r = c.host(&args("run", &plan, &["--dry-run", "--param", APR, "--param", "escape=sql", "--data-dir", d]));
    r.expect("Would apply");
    let report = c.reports().into_iter().rfind(|d| d.display().to_string().contains("-dry-run-")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap()).unwrap();
    let tier = json["tiers"].as_array().unwrap().iter().find(|t| t["plugin"] == "test-hostile").unwrap();
    let sent = tier["sql"]["statements"].as_array().unwrap();
    let listed = |s: &serde_json::Value| s["sql"].as_str().unwrap().starts_with("INSERT INTO one_roof.label");
    let insert = sent.iter().find(|s| listed(s)).unwrap_or_else(|| panic!("the write is not listed: {tier:#}"));
    assert_eq!((insert["calls"].as_u64(), insert["failed"].as_u64()), (Some(1), None), "{insert}");
    assert!(tier["sql"]["left_out_calls"].as_u64().unwrap() >= 50, "the reads past the cap are counted: {tier:#}");
    assert!(tier["sql"].get("left_out_changes").is_none(), "{tier:#}");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let section = md.split("test-hostile: the SQL it sent").nth(1).unwrap_or_else(|| panic!("no section:\n{md}"));
    assert!(section.contains("| INSERT INTO one\\_roof.label"), "{section}");
    assert!(section.contains("send(s) of plain reads past the first 200 distinct statements are not listed"));
    inspect_sql(&c, &["tests/plugins/hostile.wasm"])
        .expect_code(0)
        .expect("INSERT INTO one_roof.label (responsibility_id, text) SELECT NULL, 'after the flood' WHERE false")
        .expect("send(s) of plain reads past the first 200 distinct statements were not recorded");
}
