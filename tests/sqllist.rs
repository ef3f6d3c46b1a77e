//! The SQL shown (issue 22 item 2): a run's, a rollback's and a dry run's
//! report list every distinct statement each tier sent (as checked, its
//! parameters as `$n type`, sends, rows, time), the ledger keeps it with
//! the rollout's close (a failed or interrupted one too), and `host inspect
//! --sql PLUGIN` lists it afterwards without running anything, by verb; a
//! rehearsal's report carries each step's, and a kept copy's ledger has
//! them. A plugin's statement text is data: Markdown-escaped in report.md,
//! its control characters shown inert on the terminal. Real server,
//! binary, plugins.

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
        .expect("no run, rollback or dry run of this plugin (these bytes, by sha256) is recorded")
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
        .expect("no run, rollback or dry run of this plugin");
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

const SHADOW_INSERT: &str = "INSERT INTO one_roof.resp_ownership_shadow (area_code, team_code) VALUES ($1, $2)";

#[test]
fn after_a_run_and_its_rollback_inspect_lists_what_each_sent_and_picks_by_verb() {
    let c = Cluster::start("sq-run");
    c.ratify();
    c.host(&args("run", &one_roof(), &["--param", APR])).expect_code(0);
    inspect_sql(&c, &["tiers/t1-shadow.wasm"])
        .expect_code(0)
        .expect("sent in rollout 1 (run, by ")
        .expect("30 call(s), 0 failed, 30 row(s)")
        .expect(SHADOW_INSERT);
    // Every tier of the run is there, keyed by the plugin that ran it.
    let applied = c.scalar("SELECT count(*) FROM rollout_ledger.tier_event WHERE rollout_id = 1 AND event = 'applied'");
    let listed = c.scalar("SELECT count(DISTINCT sha256) FROM rollout_ledger.statement WHERE rollout_id = 1");
    assert_eq!((applied, listed), (applied, applied), "one listing per applied tier");
    // The run's own report lists it too.
    let report = c.reports().into_iter().rfind(|d| d.display().to_string().contains("-run-")).unwrap();
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("### Tier 1 — one-roof-shadow: the SQL it sent"), "{md}");
    c.host(&args("rollback", &one_roof(), &[])).expect_code(0);
    // The last recorded is the rollback's; --verb picks the run's.
    let r = inspect_sql(&c, &["tiers/t1-shadow.wasm"]);
    r.expect_code(0).expect("sent in rollout 2 (rollback, by ");
    assert!(!r.stdout.contains(SHADOW_INSERT), "the rollback did not insert:\n{}", r.stdout);
    inspect_sql(&c, &["tiers/t1-shadow.wasm", "--verb", "run"])
        .expect_code(0)
        .expect("sent in rollout 1 (run, by ")
        .expect(SHADOW_INSERT);
    inspect_sql(&c, &["tiers/t1-shadow.wasm", "--verb", "dry-run"])
        .expect_code(0)
        .expect("no dry run of this plugin (these bytes, by sha256) is recorded");
}

#[test]
fn a_failed_or_interrupted_run_records_what_its_tiers_sent_up_to_there() {
    let c = Cluster::start("sq-fail");
    c.ratify();
    let plan = plan_with(Some("t4-containment"), &["tests/plugins/misbehave.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR, "--param", "mode=fail"]));
    r.expect("containment failed on purpose");
    assert_ne!(r.code, 0, "{}", r.all());
    let containment = "INSERT INTO one_roof.containment (responsibility_id, node_id)";
    inspect_sql(&c, &["tests/plugins/misbehave.wasm", "tiers/t1-shadow.wasm"])
        .expect_code(0)
        .expect("sent in rollout 1 (run, by ")
        .expect(containment)
        .expect(SHADOW_INSERT);
    c.host(&args("rollback", &plan, &[])).expect_code(0);

    // Interrupted (Ctrl-C) while its statement runs: what it sent is there,
    // the interrupted statement counted as failed.
    let mut child = c.spawn(&args("run", &plan, &["--param", APR, "--param", "mode=sleep"]));
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = String::new();
    for line in lines.by_ref().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("now misbehaving: sleep") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let ok = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let code = child.wait().unwrap().code();
    assert_ne!(code, Some(0), "{seen}{}", rest.join("\n"));
    let outcome = c.psql("SELECT outcome FROM rollout_ledger.rollout ORDER BY id DESC LIMIT 1");
    assert_eq!(outcome, "interrupted", "{seen}{}", rest.join("\n"));
    inspect_sql(&c, &["tests/plugins/misbehave.wasm"])
        .expect_code(0)
        .expect("sent in rollout 3 (run, by ")
        .expect(containment)
        .expect("1 call(s), 1 failed, 0 row(s)")
        .expect("SELECT pg_sleep(30)");
}

/// Stops a kept rehearsal copy and removes its directory, however the test ends.
struct KeptCopy(String, std::path::PathBuf);

impl Drop for KeptCopy {
    fn drop(&mut self) {
        let words: Vec<&str> = self.0.split(' ').collect();
        let _ = std::process::Command::new(words[0]).args(&words[1..]).output();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[test]
fn a_rehearsals_report_names_each_steps_sql_and_a_kept_copys_ledger_lists_it() {
    let prod = Cluster::start("sq-rehearse");
    prod.ratify();
    let reports = tempfile::tempdir().unwrap();
    let from = format!("host={} port=5432 user=postgres dbname=directus", prod.dir.display());
    let plan = one_roof();
    let mut a = args("rehearse", &plan, &["--param", APR, "--from", &from, "--make-copy", "--keep"]);
    a.extend(["--reports", reports.path().to_str().unwrap()]);
    let r = Run::from(prod.host_cmd(&a).env_remove("HOST_COPY_URL").output().unwrap());
    let out = r.all();
    let stop = out.split("stop it with `").nth(1).and_then(|s| s.split('`').next()).unwrap_or("true").to_string();
    let at = out.find("host-rehearsal-copy-").unwrap_or(0);
    let start = out[..at].rfind(' ').map(|i| i + 1).unwrap_or(0);
    let end = at + out[at..].find(|c: char| c.is_whitespace() || c == ')' || c == ',').unwrap_or(out.len() - at);
    let _kept = KeptCopy(stop, std::path::PathBuf::from(&out[start..end]));
    r.expect_code(0)
        .expect("Kept")
        .expect("what each step's tiers sent: ")
        .expect("`host inspect --sql PLUGIN --db COPY`");

    // The rehearsal's own report: each step's SQL, per tier, escaped.
    let dir = std::fs::read_dir(reports.path()).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    r.expect(&dir.join("report.md").display().to_string());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("## The SQL of step run\n"), "{md}");
    assert!(md.contains("## The SQL of step rollback\n"), "{md}");
    assert!(md.contains("### Tier 1 — one-roof-shadow \\(apply\\): the SQL it sent"), "{md}");
    assert!(md.contains(
        "| INSERT INTO one\\_roof.resp\\_ownership\\_shadow \\(area\\_code, team\\_code\\) VALUES \\($1, $2\\) |"
    ));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let first = json["sql"].as_array().unwrap().iter().find(|s| s["plugin"] == "one-roof-shadow").unwrap();
    assert_eq!((first["step"].as_str(), first["action"].as_str()), (Some("run"), Some("apply")), "{first:#}");
    assert!(first["sql"]["statements"].as_array().unwrap().iter().any(|s| s["sql"] == SHADOW_INSERT), "{first:#}");

    // The kept copy's ledger: each plugin's SQL, last the rollback's, the run's by --verb.
    let url = out.split("--copy-url \"").nth(1).and_then(|s| s.split('"').next()).expect("the copy's URL");
    let on_copy = |extra: &[&str]| {
        let mut a = vec!["inspect", "--sql", "tiers/t1-shadow.wasm", "tiers/t6-kg-domain.wasm", "--db", url];
        a.extend_from_slice(extra);
        Run::from(prod.host_cmd(&a).output().unwrap())
    };
    on_copy(&[]).expect_code(0).expect("(rollback, by ").expect("one-roof-kg-domain");
    on_copy(&["--verb", "run"])
        .expect_code(0)
        .expect("(run, by ")
        .expect(SHADOW_INSERT)
        .expect("30 call(s), 0 failed, 30 row(s)");
    // The source's ledger has none of it: the rehearsal ran on the copy.
    inspect_sql(&prod, &["tiers/t1-shadow.wasm"]).expect_code(0).expect("no run, rollback or dry run of this plugin");
}
