//! Plugin text is inert in every language it reaches. Hostile strings
//! (`support/hostile.rs`: every SQL, psql, terminal, Markdown/HTML, TOML
//! and table delimiter in every position) go into every manifest field and
//! every name, and a fixture says them at run time; each output is then
//! read in its own language: the terminal through a vt100 screen,
//! `rollout.log`, `report.md` as Markdown, `report.json`, the grants text
//! by its grammar, JSON and TOML read back to the exact strings, `explain`'s
//! suggestions loaded as manifests, and the role SQL run by real psql.

mod support;

use host::manifest::Manifest;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
use support::hostile::{self, FORGED};
use support::screen::{assert_inert, cells, screen_sized};
use support::*;

fn host_offline(args: &[&str]) -> Run {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    c.current_dir(root()).args(args).env("HOST_COMPILE_CACHE", compile_cache());
    Run::from(c.output().expect("run host"))
}

/// The fixture's bytes and manifest.
fn fixture() -> (Vec<u8>, toml::Table) {
    let wasm = std::fs::read(root().join("tests/plugins/inert.wasm")).expect("make test-plugins");
    let manifest = toml::from_str(&manifest_of(&wasm)).expect("the fixture's manifest");
    (wasm, manifest)
}

/// A copy of the fixture carrying `manifest`, written in `dir`.
fn plugin_with(dir: &Path, name: &str, wasm: &[u8], manifest: &toml::Table) -> String {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, with_manifest(wasm, &toml::to_string(manifest).expect("TOML"))).unwrap();
    path.to_str().unwrap().to_string()
}

/// A place a manifest holds a string.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Scalar(&'static str),
    List(&'static str),
    /// `[grants] key`: the string as the name (`s.H`) or the schema (`H.t`).
    GrantName(&'static str),
    GrantSchema(&'static str),
    ParamName,
    ParamPattern,
    ParamDescription,
}

const FIELDS: [Field; 27] = [
    Field::Scalar("name"),
    Field::Scalar("description"),
    Field::List("databases"),
    Field::List("files"),
    Field::List("post_conditions"),
    Field::List("rollback_conditions"),
    Field::GrantName("read"),
    Field::GrantName("insert"),
    Field::GrantName("update"),
    Field::GrantName("delete"),
    Field::GrantName("create"),
    Field::GrantName("drop"),
    Field::GrantName("functions"),
    Field::GrantName("sequences"),
    Field::GrantName("references"),
    Field::GrantName("acknowledge"),
    Field::GrantSchema("read"),
    Field::GrantSchema("insert"),
    Field::GrantSchema("update"),
    Field::GrantSchema("delete"),
    Field::GrantSchema("create"),
    Field::GrantSchema("drop"),
    Field::GrantSchema("functions"),
    Field::GrantSchema("sequences"),
    Field::ParamName,
    Field::ParamPattern,
    Field::ParamDescription,
];

fn list<'a>(m: &'a mut toml::Table, path: &[&str]) -> &'a mut Vec<toml::Value> {
    let mut t = m;
    for key in &path[..path.len() - 1] {
        t = t.entry(key.to_string()).or_insert_with(|| toml::Value::Table(Default::default())).as_table_mut().unwrap();
    }
    let last = path[path.len() - 1];
    t.entry(last).or_insert_with(|| toml::Value::Array(Vec::new())).as_array_mut().unwrap()
}

/// Puts `h` in `field` of `m` (appended to a list); returns the field's
/// name as the host's errors give it.
fn put(m: &mut toml::Table, field: Field, h: &str) -> String {
    let param = |m: &mut toml::Table, name: &str, pattern: &str, description: &str| {
        let params = m.entry("params").or_insert_with(|| toml::Value::Table(Default::default()));
        let mut spec = toml::Table::new();
        spec.insert("pattern".into(), pattern.into());
        spec.insert("description".into(), description.into());
        params.as_table_mut().unwrap().insert(name.into(), toml::Value::Table(spec));
    };
    match field {
        Field::Scalar(key) => {
            m.insert(key.into(), h.into());
            key.to_string()
        }
        Field::List(key) => {
            let l = list(m, &[key]);
            l.push(h.into());
            format!("{key}[{}]", l.len() - 1)
        }
        Field::GrantName(key) | Field::GrantSchema(key) => {
            let object = if matches!(field, Field::GrantName(_)) { format!("s.{h}") } else { format!("{h}.t") };
            let l = list(m, &["grants", key]);
            l.push(object.into());
            format!("grants.{key}[{}]", l.len() - 1)
        }
        Field::ParamName => {
            param(m, h, "x", "d");
            "params.".into()
        }
        Field::ParamPattern => {
            let n = m.get("params").and_then(|p| p.as_table()).map_or(0, |p| p.len());
            param(m, &format!("r{n}"), h, "d");
            format!("params.r{n}.pattern")
        }
        Field::ParamDescription => {
            let n = m.get("params").and_then(|p| p.as_table()).map_or(0, |p| p.len());
            param(m, &format!("d{n}"), "x", h);
            format!("params.d{n}.description")
        }
    }
}

/// The hostile strings the loader accepts, by field; and one manifest per
/// field that it refuses.
struct Sorted {
    accepted: Vec<(Field, String)>,
    refused: Vec<(Field, toml::Table)>,
}

/// Every (field, hostile string) the loader accepts, each refusal checked
/// to name its field; and one refused variant per field, for the binary.
fn sort_out(base: &toml::Table, all: &[String]) -> Sorted {
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for field in FIELDS {
        let mut first_refused = None;
        for h in all {
            let mut m = base.clone();
            let label = put(&mut m, field, h);
            match Manifest::parse(&toml::to_string(&m).unwrap()) {
                Ok(_) => accepted.push((field, h.clone())),
                Err(e) => {
                    let e = e.to_string();
                    let named = e.contains(&format!("manifest field `{label}"))
                        || e.contains("is not a valid regular expression");
                    assert!(named, "{field:?} = {h:?}: the refusal does not name the field `{label}`: {e}");
                    if first_refused.is_none() && h.contains('\n') {
                        first_refused = Some(m);
                    }
                }
            }
        }
        refused.push((field, first_refused.unwrap_or_else(|| panic!("{field:?}: no hostile string was refused"))));
    }
    Sorted { accepted, refused }
}

/// One manifest holding every accepted string in its field.
fn accepting(base: &toml::Table, accepted: &[(Field, String)]) -> toml::Table {
    let mut m = base.clone();
    let mut description = String::from("hostile:");
    for (field, h) in accepted {
        match field {
            Field::Scalar("description") if description.len() + h.len() < 4000 => {
                description.push(' ');
                description.push_str(h);
            }
            Field::Scalar(_) => {}
            _ => {
                put(&mut m, *field, h);
            }
        }
    }
    m.insert("description".into(), description.into());
    m
}

/// The grants text's lines of one plugin, by key, as printed.
fn grant_lines(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().skip(1).take_while(|l| !l.is_empty()) {
        let line = line.strip_prefix("  ").unwrap_or_else(|| panic!("a grants line not indented: {line:?}"));
        let key = line.split(' ').next().unwrap().to_string();
        let value = line.get(key.len().max(9) + 1..).unwrap_or_default().to_string();
        out.entry(key).or_default().push(value);
    }
    out
}

/// What the grants text must list for `m`, by key, sorted.
fn expected_lines(m: &Manifest) -> BTreeMap<String, Vec<String>> {
    let g = &m.grants;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let params: Vec<String> = m.params.iter().map(|(k, p)| format!("{k} ~ /{}/", p.pattern)).collect();
    for (key, values) in [
        ("database", &m.databases),
        ("read", &g.read),
        ("insert", &g.insert),
        ("update", &g.update),
        ("delete", &g.delete),
        ("create", &g.create),
        ("drop", &g.drop),
        ("function", &g.functions),
        ("sequence", &g.sequences),
        ("references", &g.references),
        ("acknowledge", &g.acknowledge),
        ("file", &m.files),
        ("param", &params),
        ("metric", &m.metrics),
        ("post-condition", &m.post_conditions),
        ("rollback-condition", &m.rollback_conditions),
    ] {
        let mut v = values.clone();
        v.sort();
        if !v.is_empty() {
            out.insert(key.into(), v);
        }
    }
    out
}

/// What a terminal tall enough for all of `text` shows after it.
fn shown(text: &str) -> Vec<String> {
    let rows: usize = text.lines().map(|l| 2 * l.chars().count() / support::screen::COLS as usize + 1).sum();
    screen_sized(text.as_bytes(), u16::try_from(rows + 2).expect("an output that fits a screen"))
}

/// A terminal output shown as it was printed: no control character, and
/// the screen holds exactly its lines (nothing moved, erased or redrawn).
fn assert_screen_is_text(what: &str, text: &str) {
    assert_inert(what, text);
    let shown = shown(text);
    let printed: Vec<&str> = text.trim_end_matches('\n').lines().map(str::trim_end).collect();
    assert_eq!(shown.len(), printed.len(), "{what}: the screen has other lines than were printed");
    for (s, p) in shown.iter().zip(&printed) {
        assert_eq!(s.trim_end(), *p, "{what}: a line shows other than it was printed");
    }
}

#[test]
fn every_manifest_field_is_refused_or_shown_inert_by_grants_inspect_and_explain() {
    let mark = std::env::temp_dir().join(format!("inert-offline-{}", std::process::id()));
    let all = hostile::strings(mark.to_str().unwrap());
    let (wasm, base) = fixture();
    let Sorted { accepted, refused } = sort_out(&base, &all);
    let dir = tempfile::tempdir().unwrap();
    // Refused: the error names the field, shows the value inert, prints nothing else.
    for (field, m) in &refused {
        let path = plugin_with(dir.path(), "refused", &wasm, m);
        for verb in [vec!["grants", &path], vec!["inspect", &path], vec!["explain", &path, "SELECT 1"]] {
            let r = host_offline(&verb);
            r.expect_code(2).expect("manifest field `");
            assert!(r.stdout.is_empty(), "{field:?} {}: {}", verb[0], r.stdout);
            assert_screen_is_text(verb[0], &r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{field:?} {}: one error line:\n{}", verb[0], r.stderr);
        }
    }
    // Accepted: one plugin holding every accepted string; its data files exist.
    let m = accepting(&base, &accepted);
    let text = toml::to_string(&m).unwrap();
    let parsed = Manifest::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(parsed.grants.read.iter().any(|r| r.contains("$grant$")), "names with `$` are names PostgreSQL allows");
    let data = tempfile::tempdir().unwrap();
    for f in &parsed.files {
        std::fs::write(data.path().join(f), f).unwrap();
    }
    let path = plugin_with(dir.path(), "accepted", &wasm, &m);
    let data_dir = data.path().to_str().unwrap();
    // The grants text: exactly the manifest's values, one line each.
    let g = host_offline(&["grants", &path, "--data-dir", data_dir]);
    g.expect_code(0);
    assert_screen_is_text("grants", &g.stdout);
    // Read as the reviewer sees it: the screen, where trailing spaces vanish.
    let mut lines = grant_lines(&shown(&g.stdout).join("\n"));
    lines.retain(|k, _| !["sha256", "grants", "limit", "WARNING"].contains(&k.as_str()));
    // Each value reads as what it is: a name is one token, nothing is
    // hidden in leading, trailing or doubled spaces.
    for (key, values) in &lines {
        for v in values {
            let spaced = ["param", "metric", "post-condition", "rollback-condition"].contains(&key.as_str());
            let one_token = spaced || !v.contains(char::is_whitespace);
            assert!(one_token && v.trim() == v && !v.contains("  "), "grants: `{key}` shows an ambiguous {v:?}");
        }
    }
    assert_eq!(lines, expected_lines(&parsed), "the grants text lists other grants than the manifest holds");
    let writes: Vec<&str> = g.stdout.split("write access by relation\n").nth(1).unwrap().lines().collect();
    assert_eq!(writes.len(), parsed.grants.writes().map(|(_, r)| r).collect::<std::collections::BTreeSet<_>>().len());
    // JSON and the lock file's TOML read back to the exact strings.
    let j = host_offline(&["grants", &path, "--data-dir", data_dir, "--json"]);
    let json: Json = serde_json::from_str(&j.stdout).unwrap();
    let p = &json["plugins"][0];
    assert_eq!(p["grants"], serde_json::to_value(&parsed.grants).unwrap());
    assert_eq!(p["params"], serde_json::to_value(&parsed.params).unwrap());
    assert_eq!(p["databases"], serde_json::to_value(&parsed.databases).unwrap());
    assert_eq!(p["post_conditions"], serde_json::to_value(&parsed.post_conditions).unwrap());
    let files: Vec<&String> = p["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, parsed.files.iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>());
    let lock = dir.path().join("reviewed.lock");
    host_offline(&["grants", "--lock", lock.to_str().unwrap(), &path, "--data-dir", data_dir]).expect_code(0);
    let locked = host::grants::Lock::read(&lock).unwrap();
    let files: Vec<&String> = locked.plugins["test-inert"].files.keys().collect();
    assert_eq!(files, p["files"].as_object().unwrap().keys().collect::<Vec<_>>());
    // inspect: the manifest block reads back, as TOML, as the manifest.
    let i = host_offline(&["inspect", &path, "--data-dir", data_dir]);
    i.expect_code(0);
    assert_screen_is_text("inspect", &i.stdout);
    let block: String = i
        .stdout
        .lines()
        .skip_while(|l| *l != "  manifest")
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    let shown = Manifest::parse(&block).unwrap_or_else(|e| panic!("inspect's manifest does not read back: {e}"));
    assert_eq!(serde_json::to_value(&shown).unwrap(), serde_json::to_value(&parsed).unwrap());
    let ij = host_offline(&["inspect", &path, "--data-dir", data_dir, "--json"]);
    let ij: Json = serde_json::from_str(&ij.stdout).unwrap();
    assert_eq!(ij[0]["manifest"], serde_json::to_value(&parsed).unwrap());
    // Explained for the fixture as built, which grants none of these names.
    let plain = root().join("tests/plugins/inert.wasm");
    explain_is_inert(plain.to_str().unwrap(), data_dir, &all, &base);
}

/// `explain` of statements holding every hostile string: one ALLOWED or
/// REFUSED line each, and every suggested grant loads as a manifest.
fn explain_is_inert(path: &str, data_dir: &str, all: &[String], base: &toml::Table) {
    let mut statements = Vec::new();
    for h in all {
        statements.push(format!("SELECT {} AS x", host::quote::literal(h)));
        statements.push(format!("SELECT * FROM {}.t", host::quote::ident(h)));
        statements.push(format!("SELECT * FROM s.{}", host::quote::ident(h)));
    }
    let mut a = vec!["explain", path, "--data-dir", data_dir];
    a.extend(statements.iter().map(String::as_str));
    let r = host_offline(&a);
    r.expect_code(4);
    assert_screen_is_text("explain", &r.stdout);
    let verdicts = r.stdout.lines().filter(|l| l.starts_with("ALLOWED  ") || l.starts_with("REFUSED  ")).count();
    assert_eq!(verdicts, statements.len(), "one verdict line per statement");
    let mut suggested = 0;
    for l in r.stdout.lines() {
        assert!(
            l.starts_with("ALLOWED  ")
                || l.starts_with("REFUSED  ")
                || l.starts_with("         ")
                || l.contains(" refused for ")
                || l.starts_with("attribute-notation and name-argument lists: built from PostgreSQL "),
            "a line explain does not print: {l:?}"
        );
        let Some((_, lines)) = l.split_once("to allow it, add to plugin.toml under [grants]: ") else { continue };
        suggested += 1;
        let mut doc: toml::Table = toml::from_str(&toml::to_string(base).unwrap()).unwrap();
        doc.remove("grants");
        let text = format!("{}\n[grants]\n{}\n", toml::to_string(&doc).unwrap(), lines.replace("; ", "\n"));
        Manifest::parse(&text).unwrap_or_else(|e| panic!("explain suggested {lines:?}, which does not load: {e}"));
    }
    assert!(suggested > 0, "no statement got a suggestion:\n{}", r.stdout);
}

/// A hostile run of One-Roof with the fixture as tier 7 (its manifest's
/// prose hostile too), on a cluster of its own; exit 4 either way.
fn hostile_run(c: &Cluster, mode: &str, all: &[String]) -> (Run, Vec<String>) {
    c.ratify();
    let (wasm, mut m) = fixture();
    let prose: Vec<&String> = all
        .iter()
        .filter(|h| host::manifest::Rule::Prose.allows(h).is_ok() && !h.chars().any(host::text::is_hidden))
        .collect();
    m.insert("description".into(), prose.iter().take(40).map(|s| s.as_str()).collect::<Vec<_>>().join(" ").into());
    let dir = tempfile::tempdir().unwrap();
    let path = plugin_with(dir.path(), "inert", &wasm, &m);
    let plan = plan_with(None, &[&path]);
    let param = format!("hostile={}", all.iter().map(|h| hostile::hex(h)).collect::<Vec<_>>().join(","));
    let mode = format!("inert={mode}");
    // One screen line per table row: wide enough that no cell wraps
    // (tests/output.rs proves tables fit a narrower width).
    let a = args("run", &plan, &["--param", APR, "--param", &mode, "--param", &param]);
    let r = Run::from(c.host_cmd(&a).env("COLUMNS", "60000").output().expect("run host"));
    r.expect_code(4);
    (r, plan)
}

/// Words only hostile text holds: a line holding one is the plugin's
/// tagged line, a table row, the error line or a host finding about the
/// table, each quoting it after a start the host wrote.
fn quoted(line: &str) -> bool {
    let line = line.trim_start();
    !(line.contains("FORGED") || line.contains("onerror") || line.contains("x.invalid"))
        || line.starts_with("[test-inert] ")
        || line.starts_with("│ ")
        || line.starts_with("error: tier 7 (test-inert)")
        || line.starts_with("FAIL (host): ")
}

/// A screen where nothing hostile starts a line, and every table row has
/// exactly the table's columns.
fn assert_screen_truthful(what: &str, lines: &[String]) {
    for l in lines {
        let t = l.trim_start();
        for fake in [FORGED, "Applied tier 9", "ROLLOUT COMPLETE", "## ", "<", "[x]"] {
            assert!(!t.starts_with(fake), "{what}: a line starts with {fake:?}: {l:?}");
        }
        assert!(quoted(l), "{what}: hostile text outside a tagged line, a table row or the error: {l:?}");
    }
    // A table's rows: the frame's own `│` at both ends and its `┆` between
    // cells, as many as the header has: no cell drew a column.
    let mut columns = None;
    for l in lines {
        if !l.starts_with('│') {
            columns = None;
            continue;
        }
        let n = l.matches('┆').count();
        assert!(l.trim_end().ends_with('│') && l.matches('│').count() == 2, "{what}: a forged frame: {l:?}");
        assert_eq!(n, *columns.get_or_insert(n), "{what}: a row with other cells than its header: {l:?}");
    }
}

/// report.md, read as Markdown: only the host's line starts and headings,
/// no HTML, link, image or autolink, and every table row as wide as its
/// header.
fn assert_markdown_truthful(md: &str) {
    assert_inert("report.md", md);
    for l in md.lines() {
        let host_made = ["# Rollout report: ", "## ", "### ", "- ", "| ", "**"].iter().any(|s| l.starts_with(s));
        assert!(l.is_empty() || host_made, "report.md: a line the host does not write: {l:?}");
        if l.starts_with('#') {
            let known =
                ["# Rollout report: run — FAILED", "## Plugins", "## Gate — READY", "## Tiers", "## Plugin logs"];
            let conditions =
                l.starts_with("### Post-conditions — tier ") && (l.ends_with(" — PASS") || l.ends_with(" — FAIL"));
            let counted = l.starts_with("### Tier ") && l.ends_with(": rows changed, as the server counted them");
            let locks = l.starts_with("### Tier ") && l.contains(": lock footprint, measured on the server (");
            let listing = l.starts_with("### Tier ") && l.ends_with(": the SQL it sent");
            assert!(
                known.contains(&l) || conditions || counted || locks || listing,
                "report.md: a heading the host does not write: {l:?}"
            );
        }
    }
    for bad in ["<", "](", "![", "http://", "www."] {
        assert!(!md.contains(bad), "{bad:?} in report.md");
    }
    let mut width = None;
    for l in md.lines() {
        if !l.starts_with('|') {
            width = None;
            continue;
        }
        let n = cells(l);
        assert_eq!(n, *width.get_or_insert(n), "report.md: a row of {n} unescaped `|`: {l:?}");
    }
}

/// The run's report directory's three files.
fn report_files(c: &Cluster) -> (std::path::PathBuf, String, String, Json) {
    let dir = c.reports().pop().expect("a report directory");
    let log = std::fs::read_to_string(dir.join("rollout.log")).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    (dir, log, md, json)
}

/// Screens, the log, both reports, `host status` and `host report` of a
/// hostile run: each inert in its language.
fn assert_run_inert(c: &Cluster, r: &Run) -> Json {
    assert_inert("stdout", &r.stdout);
    assert_inert("stderr", &r.stderr);
    assert_screen_truthful("stdout", &shown(&r.stdout));
    let err = shown(&r.stderr);
    assert_screen_truthful("stderr", &err);
    assert!(err.last().is_some_and(|l| l.starts_with("error: tier 7 (test-inert) ")), "{}", err.join("\n"));
    let (dir, log, md, json) = report_files(c);
    assert_inert("rollout.log", &log);
    let logged: Vec<String> = shown(&log).iter().map(|l| l.get(13..).unwrap_or_default().to_string()).collect();
    assert_screen_truthful("rollout.log", &logged);
    assert_markdown_truthful(&md);
    let s = c.host(&["status"]);
    s.expect_code(0);
    assert_inert("status", &s.stdout);
    assert_screen_truthful("status", &shown(&s.stdout));
    let again = tempfile::tempdir().unwrap();
    let id = json["rollout_id"].to_string();
    c.host(&["report", &id, "--out", again.path().to_str().unwrap()]).expect_code(0);
    for name in ["report.json", "report.md"] {
        assert!(std::fs::read(dir.join(name)).unwrap() == std::fs::read(again.path().join(name)).unwrap(), "{name}");
    }
    json
}

#[test]
fn hostile_metrics_and_logs_are_inert_on_screen_in_the_log_the_reports_and_status() {
    let c = Cluster::start("inert-conditions");
    let mark = c.dir.join("shell-ran");
    let all = hostile::runtime(mark.to_str().unwrap());
    let (r, _) = hostile_run(&c, "conditions", &all);
    let json = assert_run_inert(&c, &r);
    // The post-conditions table: one row per metric, the header's cells.
    let out = shown(&r.stderr);
    let title = out.iter().position(|l| l == "Post-conditions — tier 7 (test-inert)").expect("tier 7's table");
    let rows =
        out[title + 1..].iter().take_while(|l| l.starts_with(['┌', '│', '╞', '└'])).filter(|l| l.starts_with('│'));
    assert_eq!(rows.count(), 2 + all.len(), "the header, `declared` and one row per hostile metric");
    // report.json keeps every string exactly.
    let tier = json["tiers"].as_array().unwrap().iter().find(|t| t["plugin"] == "test-inert").expect("tier 7");
    let metrics = tier["conditions"]["metrics"].as_array().unwrap();
    for (m, h) in metrics[1..].iter().zip(&all) {
        assert_eq!(
            (&m["name"], &m["expected"], &m["actual"]),
            (&Json::from(h.as_str()), &Json::from(h.as_str()), &Json::from(h.as_str()))
        );
    }
    assert_eq!(metrics.len(), 1 + all.len());
    assert!(!mark.exists());
}

#[test]
fn a_hostile_error_refused_statement_and_column_name_are_inert_everywhere() {
    let c = Cluster::start("inert-error");
    let mark = c.dir.join("shell-ran");
    let all = hostile::runtime(mark.to_str().unwrap());
    let (r, _) = hostile_run(&c, "error", &all);
    let json = assert_run_inert(&c, &r);
    let tier = json["tiers"].as_array().unwrap().iter().find(|t| t["plugin"] == "test-inert").expect("tier 7");
    let message = tier["message"].as_str().unwrap();
    for h in all.iter().take(200) {
        assert!(message.contains(h.as_str()), "{h:?} not kept exactly in report.json");
    }
    assert!(message.contains(&format!("column `{}` has type money", all[2])), "{message}");
    assert!(message.contains("refused `SELECT 1 FROM"), "{message}");
    assert!(!mark.exists());
}

/// The role SQL of hostile names the manifest lets through (`$`, `-`,
/// mixed case; `support::hostile` filtered by the loader's own rule), and
/// of a hostile operator role, run by real psql: it creates the role and
/// its grants, nothing else, and no shell command.
#[test]
fn role_sql_of_hostile_names_runs_in_psql_as_written_and_nothing_else() {
    let c = Cluster::start("inert-role-sql");
    let mark = c.dir.join("shell-ran");
    let all = hostile::strings(mark.to_str().unwrap());
    let names: Vec<String> = all
        .iter()
        .flat_map(|h| [format!("s{h}.t{h}"), format!("{h}.t")])
        .filter(|o| host::manifest::grant_refusal(o).is_none() && host::manifest::dangerous::classify(o).is_none())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(names.iter().any(|n| n.contains("$grant$")) && names.iter().any(|n| n.contains("--")), "{names:?}");
    let (wasm, mut m) = fixture();
    // Each name under one grant key; what it must give the role, as
    // PostgreSQL's own privilege functions ask it (None: nothing to ask).
    let keys = ["read", "insert", "update", "delete", "references", "sequences", "create", "drop"];
    let mut wanted = Vec::new();
    for (i, object) in names.iter().enumerate() {
        // A tag hidden in itself goes where the role SQL quoted names inside a dollar quote.
        let key = if object.contains("$gra$") { "insert" } else { keys[i % keys.len()] };
        list(&mut m, &["grants", key]).push(object.as_str().into());
        let (schema, _) = object.split_once('.').unwrap();
        let (q, lit) = (host::quote::qualified(object), host::quote::literal(&host::quote::qualified(object)));
        let create = match key {
            "sequences" => format!("CREATE SEQUENCE {q}"),
            "create" => String::new(),
            _ => format!("CREATE TABLE {q} (id serial PRIMARY KEY)"),
        };
        c.psql(&format!("CREATE SCHEMA IF NOT EXISTS {}; {create}", host::quote::ident(schema)));
        let role = "'rollout_test_inert'";
        wanted.push(match key {
            "read" => format!("has_table_privilege({role}, {lit}, 'SELECT')"),
            // The serial sequence's USAGE needs the catalog: `host roles
            // apply` grants it; the printed SQL says so and grants none.
            "insert" => format!("has_table_privilege({role}, {lit}, 'INSERT')"),
            "update" => format!("has_table_privilege({role}, {lit}, 'UPDATE')"),
            "delete" => format!("has_table_privilege({role}, {lit}, 'DELETE')"),
            "references" => format!("has_table_privilege({role}, {lit}, 'REFERENCES')"),
            "sequences" => format!("has_sequence_privilege({role}, {lit}, 'USAGE')"),
            "create" => format!("has_schema_privilege({role}, {}, 'CREATE')", host::quote::literal(schema)),
            _ => format!("pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = {lit}::regclass)) = {role}"),
        });
    }
    let operator = all.iter().find(|h| h.contains("\\! touch")).unwrap().clone();
    c.psql(&format!("CREATE ROLE {}", host::quote::ident(&operator)));
    let dir = tempfile::tempdir().unwrap();
    let path = plugin_with(dir.path(), "names", &wasm, &m);
    let r = host_offline(&["grants", "--role-sql", &operator, &path]);
    r.expect_code(0);
    let catalog = "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT 'role ' || rolname FROM pg_roles UNION ALL \
                   SELECT 'class ' || oid::regclass::text FROM pg_class UNION ALL SELECT 'proc ' || \
                   oid::regprocedure::text FROM pg_proc UNION ALL SELECT 'schema ' || nspname FROM pg_namespace) c(x)";
    let before = c.psql(catalog);
    let mut psql = c
        .psql_cmd()
        .args(["-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    psql.stdin.take().unwrap().write_all(r.stdout.as_bytes()).unwrap();
    let out = Run::from(psql.wait_with_output().unwrap());
    assert!(!mark.exists(), "psql ran a shell command from the role SQL:\n{}", r.stdout);
    out.expect_code(0);
    let after = c.psql(catalog);
    let (before, after): (std::collections::BTreeSet<&str>, std::collections::BTreeSet<&str>) =
        (before.lines().collect(), after.lines().collect());
    // The plugin's role and the role wall (its roles, schema, functions and
    // the ledger the writer's grants need), nothing else (TOAST tables
    // named by oid aside).
    let added: Vec<&str> = after.difference(&before).copied().filter(|x| !x.starts_with("class pg_toast.")).collect();
    let removed: Vec<&&str> = before.difference(&after).collect();
    let wall = [
        "class rollout_ledger.rollout",
        "class rollout_ledger.rollout_id_seq",
        "class rollout_ledger.rollout_pkey",
        "class rollout_ledger.statement",
        "class rollout_ledger.statement_by_sha256",
        "class rollout_ledger.statement_id_seq",
        "class rollout_ledger.statement_pkey",
        "class rollout_ledger.step",
        "class rollout_ledger.step_by_plugin",
        "class rollout_ledger.step_id_seq",
        "class rollout_ledger.step_pkey",
        "class rollout_ledger.tier_event",
        "class rollout_ledger.tier_event_id_seq",
        "class rollout_ledger.tier_event_pkey",
        "class rollout_roles.allowed",
        "class rollout_roles.allowed_pkey",
        "class rollout_roles.entry",
        "class rollout_roles.key",
        "class rollout_roles.key_digest_key",
        "class rollout_roles.key_id_seq",
        "class rollout_roles.key_pkey",
        "proc rollout_ledger.refuse_change()",
        "proc rollout_roles.enter(bytea,name)",
        "proc rollout_roles.leave(bytea)",
        "proc rollout_roles.left_nothing()",
        "proc rollout_roles.register(bytea)",
        "proc rollout_roles.unregister(bytea)",
        "role rollout_ledger_writer",
        "role rollout_roles_admin",
        "role rollout_runner",
        "role rollout_test_inert",
        "schema rollout_ledger",
        "schema rollout_roles",
    ];
    assert_eq!((added, removed), (wall.to_vec(), vec![]), "the role SQL created or dropped more");
    // And the role holds what each name's grant says, on that very name.
    for (ask, object) in wanted.iter().zip(&names) {
        assert_eq!(c.psql(&format!("SELECT {ask}")), "t", "{object}: {ask}\n{}", r.stdout);
    }
}
