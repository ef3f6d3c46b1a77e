//! The reviewer's promises: grants are shown as they are, the lock file pins
//! reviewed bytes, `explain` answers without a database, and every One-Roof
//! grant is needed (least privilege).

mod support;

use support::*;

fn host_offline(args: &[&str]) -> Run {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    c.current_dir(root()).args(args).env("HOST_COMPILE_CACHE", compile_cache());
    Run::from(c.output().expect("run host"))
}

/// Whether the write summary lists an update of `event_type_registry`.
fn updates_registry(summary: &str) -> bool {
    summary.lines().any(|l| l.trim_start().starts_with("one_roof.event_type_registry ") && l.contains("update by"))
}

#[test]
fn grants_show_every_one_roof_grant_and_write_access_per_relation() {
    let plan = one_roof();
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    let r = host_offline(&a);
    r.expect_code(0)
        .expect("plugin one-roof-shadow — tier 1 (one-roof-shadow)")
        .expect("  create    one_roof.resp_ownership_shadow")
        .expect("  file      one-roof-assignments.csv")
        .expect("write access by relation");
    let summary = r.stdout.split("write access by relation").nth(1).unwrap();
    assert!(
        summary.contains("one_roof.resp_ownership ") && summary.contains("insert by one-roof-ownership"),
        "{summary}"
    );
    assert!(!updates_registry(summary), "nothing may update event_type_registry:\n{summary}");
    // The same check on a plan where tier 6 may update it: it must see it.
    let dir = tempfile::tempdir().unwrap();
    let t6 = std::fs::read(root().join("tiers/t6-kg-domain.wasm")).unwrap();
    let mut doc: toml::Table = toml::from_str(&manifest_of(&t6)).unwrap();
    let grants = doc.get_mut("grants").and_then(|g| g.as_table_mut()).unwrap();
    let update = grants.entry("update").or_insert_with(|| toml::Value::Array(Vec::new()));
    update.as_array_mut().unwrap().push("one_roof.event_type_registry".into());
    let widened = toml::to_string(&doc).unwrap();
    let path = dir.path().join("t6-kg-domain.wasm");
    std::fs::write(&path, with_manifest(&t6, &widened)).unwrap();
    let mut b: Vec<&str> = a.iter().copied().filter(|p| !p.ends_with("t6-kg-domain.wasm")).collect();
    b.push(path.to_str().unwrap());
    let wide = host_offline(&b);
    wide.expect_code(0);
    assert!(updates_registry(wide.stdout.split("write access by relation").nth(1).unwrap()), "{}", wide.stdout);
    // Stable: the same input prints the same text.
    assert_eq!(host_offline(&a).stdout, r.stdout);
    a.push("--json");
    let json: serde_json::Value = serde_json::from_str(&host_offline(&a).stdout).unwrap();
    assert_eq!(json["plugins"].as_array().unwrap().len(), 11);
}

#[test]
fn a_lock_file_never_overwrites_a_plugin_or_any_file_host_did_not_write() {
    let plan = one_roof();
    let gate = root().join("tiers/gate.wasm");
    let before = std::fs::read(&gate).unwrap();
    // The natural slip: the lock file's name forgotten after the glob…
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--lock", "tiers/gate.wasm"]);
    host_offline(&a).expect_code(2).expect("refusing to write the lock file over tiers/gate.wasm");
    // …or before it, where the glob's first plugin becomes the lock's name.
    let mut a = vec!["grants", "--lock"];
    a.extend(plan.iter().map(String::as_str));
    host_offline(&a).expect_code(2).expect("that is a plugin's name");
    assert_eq!(std::fs::read(&gate).unwrap(), before, "the plugin is byte-for-byte unchanged");
    // Any other file host did not write is refused too, and kept.
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("review-notes.txt");
    std::fs::write(&notes, "my review notes\n").unwrap();
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--lock", notes.to_str().unwrap()]);
    host_offline(&a).expect_code(2).expect("is not a lock file written by host");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my review notes\n");
    // Its own lock file is replaced in place, atomically (no temporary left).
    let lock = dir.path().join("rollout.lock");
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--lock", lock.to_str().unwrap()]);
    host_offline(&a).expect_code(0);
    host_offline(&a).expect_code(0);
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "only the notes and the lock: {names:?}");
}

#[test]
fn the_lock_file_pins_reviewed_bytes_and_a_one_byte_change_is_refused() {
    let c = Cluster::start("lock");
    c.ratify();
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("rollout.lock");
    let plan = one_roof();
    let mut a = vec!["grants"];
    a.extend(plan.iter().map(String::as_str));
    a.extend(["--lock", lock.to_str().unwrap()]);
    host_offline(&a).expect_code(0);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("[plugins.one-roof-shadow]") && text.contains("one-roof-assignments.csv"), "{text}");
    // Round trip: the reviewed plan runs.
    c.host(&args("run", &plan, &["--param", APR, "--lock", lock.to_str().unwrap()]))
        .expect_code(0)
        .expect("matches the lock file");
    c.host(&args("rollback", &plan, &["--lock", lock.to_str().unwrap()])).expect_code(0);
    // One byte of tier 3 changed (in its description: still a valid plugin).
    let mut bytes = std::fs::read(root().join("tiers/t3-axis.wasm")).unwrap();
    let at = bytes.windows(7).position(|w| w == b"Tier 3:").expect("description in the manifest");
    bytes[at + 6] = b';';
    let changed = dir.path().join("t3-axis.wasm");
    std::fs::write(&changed, &bytes).unwrap();
    let mut tampered = plan_with(Some("t3-axis"), &[]);
    tampered.push(changed.to_str().unwrap().to_string());
    let data = root().join("tiers/data");
    let r = c.host(&args(
        "run",
        &tampered,
        &["--param", APR, "--lock", lock.to_str().unwrap(), "--data-dir", data.to_str().unwrap()],
    ));
    r.expect_code(2).expect("one-roof-axis: bytes differ");
    // A plugin that was never reviewed.
    let extra = plan_with(None, &["tests/plugins/rehearsal.wasm"]);
    c.host(&args("run", &extra, &["--param", APR, "--lock", lock.to_str().unwrap()]))
        .expect_code(2)
        .expect("test-rehearsal: not in the lock file");
    // A changed data file.
    let data2 = dir.path().join("data");
    std::fs::create_dir(&data2).unwrap();
    let csv = std::fs::read_to_string(data.join("one-roof-assignments.csv")).unwrap();
    std::fs::write(data2.join("one-roof-assignments.csv"), csv.replace("core-01,T01", "core-01,T02")).unwrap();
    c.host(&args(
        "run",
        &plan,
        &["--param", APR, "--lock", lock.to_str().unwrap(), "--data-dir", data2.to_str().unwrap()],
    ))
    .expect_code(2)
    .expect("one-roof-shadow: data files differ");
    assert_eq!(c.baseline_line(), BASELINE, "nothing ran");
}

#[test]
fn explain_answers_for_allowed_and_refused_statements_without_a_database() {
    let r = host_offline(&[
        "explain",
        "tiers/t2-ownership.wasm",
        "INSERT INTO one_roof.resp_ownership (area_id, team_code, approval_ref) SELECT a.id, 'T01', $1 FROM one_roof.resp_area a",
        "UPDATE one_roof.event_type_registry SET active = true",
        "SELECT * FROM pg_authid",
        "COMMIT",
    ]);
    r.expect_code(4)
        .expect("ALLOWED  INSERT INTO one_roof.resp_ownership")
        .expect("insert one_roof.resp_ownership, read one_roof.resp_area")
        .expect("update on one_roof.event_type_registry is not granted; to allow it, add to plugin.toml under [grants]: update = [\"one_roof.event_type_registry\"]")
        .expect("unqualified relation `pg_authid`")
        .expect("TransactionStmt is never allowed")
        .expect("1 allowed, 3 refused for tier 2 (one-roof-ownership)");
}

/// The plan a variant of `stem` needs: for a tier, the gate, the tiers
/// before it and the verify plugin (the run stops at the tier, or at verify);
/// for a check plugin, the whole plan.
fn plan_up_to(stem: &str) -> Vec<String> {
    let tier: Option<u32> = stem.strip_prefix('t').and_then(|s| s.split('-').next()).and_then(|n| n.parse().ok());
    one_roof()
        .into_iter()
        .filter(|p| !p.ends_with(&format!("/{stem}.wasm")))
        .filter(|p| match (tier, p.strip_prefix("tiers/t")) {
            (Some(k), Some(rest)) => {
                rest.split('-').next().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n < k || n == 8)
            }
            (Some(_), None) => p.ends_with("/gate.wasm"),
            (None, _) => true,
        })
        .collect()
}

/// Removes `item` from `[grants].key` of a manifest.
fn without(manifest: &str, key: &str, item: &str) -> String {
    let mut doc: toml::Table = toml::from_str(manifest).unwrap();
    let grants = doc.get_mut("grants").and_then(|g| g.as_table_mut()).unwrap();
    let list = grants.get_mut(key).and_then(|l| l.as_array_mut()).unwrap();
    list.retain(|v| v.as_str() != Some(item));
    toml::to_string(&doc).unwrap()
}

/// Every grant of one One-Roof plugin, removed in turn: that plugin then
/// fails with the not-granted error naming it, in `run` or in `rollback`
/// (a `references` grant: PostgreSQL refuses it under the plan's roles).
fn least_privilege(stem: &str) {
    let path = root().join(format!("tiers/{stem}.wasm"));
    let wasm = std::fs::read(&path).unwrap();
    let manifest = manifest_of(&wasm);
    let doc: toml::Table = toml::from_str(&manifest).unwrap();
    let grants = doc["grants"].as_table().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("tiers/data");
    let mut tried = 0;
    for (key, list) in &grants {
        for item in list.as_array().unwrap().iter().map(|v| v.as_str().unwrap()) {
            tried += 1;
            let variant = dir.path().join(format!("{stem}-{key}-{tried}.wasm"));
            std::fs::write(&variant, with_manifest(&wasm, &without(&manifest, key, item))).unwrap();
            let mut plan = plan_up_to(stem);
            plan.push(variant.to_str().unwrap().to_string());
            let expected = if key == "read" {
                format!("reading {item} is not granted")
            } else {
                format!("{key} on {item} is not granted")
            };
            let c = Cluster::start(&format!("lp-{stem}-{tried}"));
            c.ratify();
            if key == "references" {
                // The checker does not read `references`; PostgreSQL does,
                // under the roles the grants make (the second wall).
                let mut a = vec!["roles", "apply"];
                a.extend(plan.iter().map(String::as_str));
                a.extend(["--data-dir", data.to_str().unwrap()]);
                c.host(&a).expect_code(0);
                let extra = ["--param", APR, "--data-dir", data.to_str().unwrap(), "--roles"];
                let table = item.rsplit('.').next().unwrap();
                let r = c.host(&args("run", &plan, &extra));
                r.expect_code(4).expect(&format!("permission denied for table {table}"));
                continue;
            }
            let extra = ["--param", APR, "--data-dir", data.to_str().unwrap()];
            let r = c.host(&args("run", &plan, &extra));
            if r.all().contains(&expected) {
                r.expect_code(4);
            } else {
                // The run needs it not (it stops at verify: later tiers are
                // left out); then the rollback must.
                let r = c.host(&args("rollback", &plan, &extra[2..]));
                r.expect_code(4).expect(&expected);
            }
        }
    }
    assert!(tried > 0, "{stem} declares no grant");
}

macro_rules! least_privilege_tests {
    ($($name:ident => $stem:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                least_privilege($stem);
            }
        )*
    };
}

least_privilege_tests! {
    least_privilege_gate => "gate",
    least_privilege_tier_0 => "t0-preflight",
    least_privilege_tier_1 => "t1-shadow",
    least_privilege_tier_2 => "t2-ownership",
    least_privilege_tier_3 => "t3-axis",
    least_privilege_tier_4 => "t4-containment",
    least_privilege_tier_5 => "t5-projection",
    least_privilege_tier_6 => "t6-kg-domain",
    least_privilege_verify => "t8-verify",
    least_privilege_baseline_probe => "probe-baseline",
    least_privilege_ui_contract => "probe-ui-contract",
}

/// Statements that made a debug build (libpg_query with C assertions) abort
/// with SIGABRT: the binary the tests and the operator run refuses them.
#[test]
fn the_operators_binary_has_no_c_assertions_and_refuses_what_tripped_them() {
    let r = host_offline(&[
        "explain",
        "tiers/gate.wasm",
        "SELECT trim(both 'a', 'b', 'c')",
        "SELECT 1 OPERATOR(a.b.+) 2",
        "SELECT 'a'::varchar(1 + 1)",
    ]);
    assert!(!r.stderr.contains("debug build"), "the tests must drive the release build:\n{}", r.stderr);
    r.expect_code(4).expect("0 allowed, 3 refused");
}
