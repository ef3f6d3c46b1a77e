//! The lock file is the reviewed plan (issue 22 item 1): it lists the
//! plan's members and each plugin's grants as text, a plan with a member
//! missing or added is refused naming it, and a changed plugin is refused
//! naming what changed. Real server, real binary, real plugins.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use support::*;

fn review(plan: &[String], lock: &Path) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    let mut a = vec!["grants", "--lock", lock.to_str().unwrap()];
    a.extend(plan.iter().map(String::as_str));
    c.current_dir(root()).args(&a).env("HOST_COMPILE_CACHE", compile_cache());
    Run::from(c.output().expect("run host")).expect_code(0).expect("Wrote the lock file");
}

/// One-Roof with tier 6 changed: a grant added, one removed, a limit raised.
fn changed_t6(dir: &Path) -> Vec<String> {
    let t6 = std::fs::read(root().join("tiers/t6-kg-domain.wasm")).unwrap();
    let mut doc: toml::Table = toml::from_str(&manifest_of(&t6)).unwrap();
    let grants = doc.get_mut("grants").and_then(|g| g.as_table_mut()).unwrap();
    grants["update"].as_array_mut().unwrap().push("one_roof.event_type_registry".into());
    grants.remove("delete");
    doc["limits"].as_table_mut().unwrap().insert("statements".into(), 25.into());
    let path = dir.join("t6-kg-domain.wasm");
    std::fs::write(&path, with_manifest(&t6, &toml::to_string(&doc).unwrap())).unwrap();
    let mut plan = plan_with(Some("t6-kg-domain"), &[]);
    plan.push(path.to_str().unwrap().to_string());
    plan
}

/// The lines of `a` that `b` lacks (counted, as `diff` counts them), trimmed.
fn only_in<'a>(a: &'a str, b: &str, keep: impl Fn(&&str) -> bool) -> Vec<&'a str> {
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for l in b.lines() {
        *left.entry(l).or_default() += 1;
    }
    let mut out: Vec<&str> = Vec::new();
    for l in a.lines().filter(|l| keep(l)) {
        match left.get_mut(l) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(l.trim()),
        }
    }
    out.sort();
    out
}

/// The lock file as a host before members and grants' text wrote it.
fn older(lock: &Path, to: &Path) {
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    doc.remove("members");
    for (_, p) in doc["plugins"].as_table_mut().unwrap().iter_mut() {
        let p = p.as_table_mut().unwrap();
        for key in ["kind", "ordinal", "grants_text"] {
            p.remove(key);
        }
    }
    std::fs::write(to, format!("# Reviewed plugins: an older lock file\n{}", toml::to_string(&doc).unwrap())).unwrap();
}

#[test]
fn a_plan_with_a_member_missing_or_added_is_refused_naming_it() {
    let c = Cluster::start("lf-members");
    c.ratify();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("rollout.lock");
    let plan = one_roof();
    review(&plan, &lock);
    let doc: toml::Table = toml::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    let members: Vec<&str> = doc["members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(members.len(), 11, "{members:?}");
    assert_eq!(members[0], "one-roof-gate", "run order: the gate first: {members:?}");
    assert_eq!(
        &members[7..],
        ["one-roof-kg-domain", "one-roof-verify", "one-roof-baseline-probe", "one-roof-ui-read-contract"]
    );
    let lock = lock.to_str().unwrap();

    // A tier left out: every command the lock file guards refuses, naming it.
    let short = plan_with(Some("t3-axis"), &[]);
    for verb in
        [&["run", "--param", APR][..], &["run", "--dry-run", "--param", APR], &["gate", "--param", APR], &["rollback"]]
    {
        let mut extra = verb[1..].to_vec();
        extra.extend(["--lock", lock]);
        c.host(&args(verb[0], &short, &extra))
            .expect_code(2)
            .expect("one-roof-axis (tier 3): missing from the plan")
            .expect("add its plugin to --tiers");
    }
    // A plugin added to the reviewed plan.
    let more = plan_with(None, &["tests/plugins/rehearsal.wasm"]);
    let r = c.host(&args("run", &more, &["--param", APR, "--lock", lock]));
    r.expect_code(2).expect("test-rehearsal: not in the lock file").expect("drop it from --tiers");
    assert!(!r.all().contains("missing from the plan"), "nothing is missing:\n{}", r.all());
    // One swapped for another: both named.
    let swapped = plan_with(Some("t3-axis"), &["tests/plugins/rehearsal.wasm"]);
    c.host(&args("run", &swapped, &["--param", APR, "--lock", lock]))
        .expect_code(2)
        .expect("one-roof-axis (tier 3): missing from the plan")
        .expect("test-rehearsal: not in the lock file");
    assert_eq!(c.baseline_line(), BASELINE, "nothing ran");
    // The reviewed plan passes.
    c.host(&args("run", &plan, &["--dry-run", "--param", APR, "--lock", lock]))
        .expect_code(0)
        .expect("every plugin matches the lock file");
}

#[test]
fn a_changed_plugin_is_refused_naming_what_changed_and_the_lock_files_diff_is_the_review() {
    let c = Cluster::start("lf-changed");
    c.ratify();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("rollout.lock");
    review(&one_roof(), &lock);
    let changed = changed_t6(dir.path());
    let data = root().join("tiers/data");
    let data = data.to_str().unwrap();
    let r = c.host(&args("run", &changed, &["--param", APR, "--lock", lock.to_str().unwrap(), "--data-dir", data]));
    r.expect_code(2)
        .expect("one-roof-kg-domain: bytes differ")
        .expect("one-roof-kg-domain: grants differ from the reviewed ones: ")
        .expect("removed `delete one_roof.event_type_registry`")
        .expect("limit statements 20 → 25")
        .expect("added `update one_roof.event_type_registry`");
    assert!(!r.all().contains("one-roof-axis"), "only tier 6 changed:\n{}", r.all());

    // `diff old.lock new.lock`: the grant lines that differ are exactly the change.
    let relocked = dir.path().join("new.lock");
    review(&changed, &relocked);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let (old, new) = (read(&lock), read(&relocked));
    let grant_line = |l: &&str| l.trim_start().starts_with('"') && !l.contains("one-roof-");
    assert_eq!(
        only_in(&old, &new, grant_line),
        ["\"delete    one_roof.event_type_registry\",", "\"limit     statements 20\","]
    );
    assert_eq!(
        only_in(&new, &old, grant_line),
        ["\"limit     statements 25\",", "\"update    one_roof.event_type_registry\","]
    );

    // An older lock file (no members, no grants' text) still loads: it
    // refuses the change, saying it cannot name which, and a missing member.
    let aged = dir.path().join("old.lock");
    older(&lock, &aged);
    let aged = aged.to_str().unwrap();
    c.host(&args("run", &changed, &["--param", APR, "--lock", aged, "--data-dir", data]))
        .expect_code(2)
        .expect("one-roof-kg-domain: grants differ from the reviewed ones (this lock file predates the grants' text");
    c.host(&args("run", &plan_with(Some("t3-axis"), &[]), &["--param", APR, "--lock", aged]))
        .expect_code(2)
        .expect("one-roof-axis: missing from the plan");

    // The mode is reviewed: a concurrent tier (examples/online) made one
    // transaction is named from the old mode to the new.
    let mut online: Vec<String> = std::fs::read_dir(root().join("examples/online/plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let online_lock = dir.path().join("online.lock");
    review(&online, &online_lock);
    assert!(std::fs::read_to_string(&online_lock).unwrap().contains("\"mode      concurrent\","));
    let index = std::fs::read(root().join("examples/online/plugins/region-index.wasm")).unwrap();
    let mut doc: toml::Table = toml::from_str(&manifest_of(&index)).unwrap();
    assert!(doc.remove("mode").is_some());
    let path = dir.path().join("region-index.wasm");
    std::fs::write(&path, with_manifest(&index, &toml::to_string(&doc).unwrap())).unwrap();
    online.retain(|p| !p.ends_with("/region-index.wasm"));
    online.push(path.to_str().unwrap().to_string());
    c.host(&args("run", &online, &["--lock", online_lock.to_str().unwrap()]))
        .expect_code(2)
        .expect("grants differ from the reviewed ones: mode concurrent → transaction");

    // A grant line edited in the lock file is not what its digest pinned.
    let text = std::fs::read_to_string(&lock).unwrap();
    let edited = text.replace("\"delete    one_roof.event_type_registry\",\n", "");
    assert_ne!(edited, text);
    std::fs::write(&lock, edited).unwrap();
    c.host(&args("run", &one_roof(), &["--param", APR, "--lock", lock.to_str().unwrap()]))
        .expect_code(2)
        .expect("was edited after `host grants` wrote it")
        .expect("the grants text of one-roof-kg-domain is not what its grants digest pins");
    assert_eq!(c.baseline_line(), BASELINE, "nothing ran");
}
