//! What makes the host fast keeps its contracts. The compile cache: on by
//! default in the operator's cache directory, private, keyed by the
//! component and the engine, refused (with one warning line, and a fresh
//! compile) when others could have written it; a verb compiles only the
//! plugins it calls. One round trip per statement: a result without rows
//! still names its columns.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::*;

/// `host` with a given cache setting and home, no database.
fn host(cache: Option<&Path>, home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_host"));
    c.current_dir(root()).args(args).env("HOME", home).env_remove("XDG_CACHE_HOME");
    match cache {
        Some(dir) => c.env("HOST_COMPILE_CACHE", dir),
        None => c.env_remove("HOST_COMPILE_CACHE"),
    };
    let out = c.output().expect("host runs");
    assert!(out.status.success(), "host {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    all.sort();
    all
}

fn warnings(out: &Output) -> usize {
    stderr(out).lines().filter(|l| l.trim_start().starts_with("Warning ")).count()
}

#[test]
fn the_default_cache_is_private_and_keyed_by_component_and_engine() {
    let home = tempfile::tempdir().unwrap();
    let first = host(None, home.path(), &["inspect", "tiers/gate.wasm"]);
    assert_eq!(warnings(&first), 0, "{}", stderr(&first));
    let dir = home.path().join(".cache/rollout-host");
    assert_eq!(mode(&home.path().join(".cache")), 0o700, "a parent it creates is private too");
    assert_eq!(mode(&dir), 0o700);
    let cached = entries(&dir);
    assert_eq!(cached.len(), 1, "{cached:?}");
    let name = cached[0].file_name().unwrap().to_string_lossy().into_owned();
    let sha = host(None, home.path(), &["inspect", "tiers/gate.wasm", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&sha.stdout).unwrap();
    let sha256 = json[0]["sha256"].as_str().unwrap().to_string();
    assert!(name.starts_with(&format!("{sha256}-")) && name.ends_with(".cwasm"), "{name}: sha256 then engine key");
    assert_eq!(mode(&cached[0]), 0o600);
    assert_eq!(entries(&dir), cached, "the second run used the entry, and left no temporary file");

    // Turned off: nothing is written.
    let home2 = tempfile::tempdir().unwrap();
    host(Some(Path::new("off")), home2.path(), &["inspect", "tiers/gate.wasm"]);
    assert!(!home2.path().join(".cache").exists());
}

#[test]
fn a_cache_others_can_touch_is_refused_with_one_warning_and_the_plugin_compiled_afresh() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("cache");
    host(Some(&dir), home.path(), &["inspect", "tiers/gate.wasm", "tiers/t1-shadow.wasm"]);
    let cached = entries(&dir);
    assert_eq!(cached.len(), 2);

    // A directory group and others can read: not used at all, one line.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before: Vec<_> = cached.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).collect();
    let out = host(Some(&dir), home.path(), &["inspect", "tiers/gate.wasm", "tiers/t1-shadow.wasm"]);
    assert_eq!(warnings(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not using the compile cache") && err.contains("mode is 0755"), "{err}");
    assert!(err.contains("chmod 700"), "{err}");
    let after: Vec<_> = cached.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).collect();
    assert_eq!(before, after, "nothing written to a refused directory");

    // A private directory, but an entry others can write: that entry is
    // refused (one line for two plugins' worth of trouble) and replaced.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in &cached {
        std::fs::set_permissions(entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let out = host(Some(&dir), home.path(), &["inspect", "tiers/gate.wasm", "tiers/t1-shadow.wasm"]);
    assert_eq!(warnings(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("mode is 0666"), "{}", stderr(&out));
    assert!(cached.iter().all(|e| mode(e) == 0o600), "the refused entries were replaced by fresh private ones");

    // An entry that is not a compiled component (a torn or foreign file
    // the operator owns): compiled afresh, quietly, and replaced.
    std::fs::write(&cached[0], b"not native code").unwrap();
    let out = host(Some(&dir), home.path(), &["inspect", "tiers/gate.wasm", "tiers/t1-shadow.wasm"]);
    assert_eq!(warnings(&out), 0, "{}", stderr(&out));
    assert!(std::fs::metadata(&cached[0]).unwrap().len() > 1000);
}

#[test]
fn gate_compiles_the_gate_only_and_run_compiles_every_plugin() {
    let c = Cluster::start("compiles");
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("cache");
    let plan = one_roof();
    let gate = c.host_cmd(&args("gate", &plan, &["--param", APR])).env("HOST_COMPILE_CACHE", &dir).output().unwrap();
    assert_eq!(gate.status.code(), Some(3), "blocked before ratification: {}", stderr(&gate));
    assert_eq!(entries(&dir).len(), 1, "gate compiled only the gate");
    c.ratify();
    let run = c.host_cmd(&args("run", &plan, &["--param", APR])).env("HOST_COMPILE_CACHE", &dir).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(entries(&dir).len(), plan.len(), "run compiled every plugin of the plan");
}

#[test]
fn a_statement_repeated_in_one_round_trip_each_still_gives_columns_for_an_empty_result() {
    let c = Cluster::start("columns");
    let plan = ["gate", "--tiers", "tests/plugins/bench.wasm", "tiers/t8-verify.wasm"];
    let r = c.host(&[&plan[..], &["--param", "mode=same", "--param", "count=50"]].concat());
    r.expect_code(0).expect("│ statements").expect("50").expect("status text, code text");
    let r = c.host(&[&plan[..], &["--param", "mode=distinct", "--param", "count=50"]].concat());
    r.expect_code(0).expect("status text, code text");
}
