//! The tier author's path, built for real: the template (templates/tier/)
//! compiled as a plugin crate against the SDK, then edited the ways an
//! author gets it wrong. A swapped, missing, unknown or repeated entry
//! point, a misspelt metric constant or a manifest the host would refuse
//! must fail `cargo build` (what `make tiers` runs) — the manifest with the
//! words `host` prints for the same manifest.
//!
//! Each case is a crate of its own in a temporary directory, built with the
//! workspace's Cargo.lock, offline, into one shared target directory
//! (target/sdk-tests), so only the first build compiles the SDK.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::root;

/// The template's source with its placeholders filled in.
fn template(file: &str) -> String {
    let text = std::fs::read_to_string(root().join("templates/tier").join(file)).expect("template file");
    text.replace("__PACKAGE__", "sdk-case").replace("__NAME__", "sdkcase")
}

/// A plugin crate made of the template, with `lib.rs` and `plugin.toml`
/// as given, built for the plugin target; the build's stderr on failure,
/// the component's bytes on success.
fn build(case: &str, lib: &str, manifest: &str) -> Result<Vec<u8>, String> {
    let dir = std::env::temp_dir().join(format!("rollout-sdk-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let sdk = root().join("sdk");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"sdk-case-{case}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = \
             [\"cdylib\"]\n\n[dependencies]\nrollout-sdk = {{ path = {:?} }}\n\n[workspace]\n",
            sdk.display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    let target = root().join("target/sdk-tests");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["build", "--release", "--offline", "--target", "wasm32-wasip2", "--message-format", "short"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let wasm = target.join(format!("wasm32-wasip2/release/sdk_case_{}.wasm", case.replace('-', "_")));
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display())))
    } else {
        Err(stderr)
    }
}

fn build_fails(case: &str, lib: &str, manifest: &str) -> String {
    match build(case, lib, manifest) {
        Ok(_) => panic!("case {case} built, but must not"),
        Err(stderr) => stderr,
    }
}

/// The template's lib.rs with its `tier! { … }` call replaced by `call`.
fn lib_with_call(call: &str) -> String {
    let lib = template("src/lib.rs");
    let start = lib.find("rollout_sdk::tier!").expect("the template calls tier!");
    format!("{}{call}\n", &lib[..start])
}

#[test]
fn the_template_builds_and_its_manifest_loads() {
    let wasm = build("template", &template("src/lib.rs"), &template("plugin.toml")).unwrap_or_else(|e| panic!("{e}"));
    let path = scratch("template.wasm", &wasm);
    let out = Command::new(env!("CARGO_BIN_EXE_host")).args(["inspect"]).arg(&path).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}{}", String::from_utf8_lossy(&out.stderr));
    assert!(shown.contains("flag_enabled"), "{shown}");
}

#[test]
fn a_positional_tier_call_does_not_build() {
    // The swapped order that used to compile and run the rollback as the apply.
    let stderr = build_fails(
        "swapped",
        &lib_with_call("rollout_sdk::tier!(rollback, rollback_conditions, apply, post_conditions);"),
        &template("plugin.toml"),
    );
    assert!(stderr.contains("tier! takes its entry points by name, `key: function`"), "{stderr}");
}

#[test]
fn a_tier_call_missing_an_entry_point_does_not_build() {
    let call = "rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback }";
    let stderr = build_fails("missing", &lib_with_call(call), &template("plugin.toml"));
    assert!(stderr.contains("tier! is missing the entry point `rollback_conditions`"), "{stderr}");
}

#[test]
fn a_tier_call_with_an_unknown_entry_point_does_not_build() {
    let call = "rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, undo: rollback, \
                rollback_conditions: rollback_conditions }";
    let stderr = build_fails("unknown", &lib_with_call(call), &template("plugin.toml"));
    assert!(stderr.contains("`undo` is not an entry point of a tier plugin"), "{stderr}");
}

#[test]
fn a_tier_call_naming_an_entry_point_twice_does_not_build() {
    let call = "rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, \
                rollback_conditions: rollback_conditions, apply: rollback }";
    let stderr = build_fails("twice", &lib_with_call(call), &template("plugin.toml"));
    assert!(stderr.contains("the entry point `apply` is given twice"), "{stderr}");
}

#[test]
fn a_conditions_function_given_as_the_apply_does_not_build() {
    let call = "rollout_sdk::tier! { apply: post_conditions, post_conditions: post_conditions, rollback: rollback, \
                rollback_conditions: rollback_conditions }";
    let stderr = build_fails("crossed", &lib_with_call(call), &template("plugin.toml"));
    assert!(stderr.contains("mismatched types"), "{stderr}");
}

#[test]
fn a_metric_the_manifest_does_not_declare_does_not_build() {
    let lib = template("src/lib.rs").replace("metric::FLAG_ROWS", "metric::FLAG_COUNT");
    let stderr = build_fails("undeclared", &lib, &template("plugin.toml"));
    assert!(stderr.contains("FLAG_COUNT") && stderr.contains("metric"), "{stderr}");
}

#[test]
fn a_tier_built_with_check_does_not_build() {
    let lib = "use rollout_sdk::{Metric, Phase, Result};\nfn check(_: Phase) -> Result<Vec<Metric>> { Ok(vec![]) }\n\
               rollout_sdk::check! { check: check }\n";
    let stderr = build_fails("kind", lib, &template("plugin.toml"));
    assert!(
        stderr.contains("plugin.toml says kind = \"tier\", so the plugin must export the `tier` world"),
        "{stderr}"
    );
}

/// Manifests the host refuses, one per class of mistake.
fn bad_manifests() -> Vec<(&'static str, String)> {
    let good = template("plugin.toml");
    vec![
        ("typo-key", good.replace("[grants]", "[grant]")),
        ("undeclared-metrics", good.replace("post_conditions = [\"flag_enabled\"]", "")),
        ("host-schema", good.replace("read = [\"app.feature_flag\"]", "read = [\"rollout_ledger.run\"]")),
        ("limit", good.replace("statements = 20", "statements = 0")),
        (
            "param",
            good.replace("# [params.ratified_apr]", "[params.ratified_apr]").replace(
                "# pattern = \"APR-[0-9]{4}-[0-9]{4}\"\n# description = \"the ratified APR code\"",
                "pattern = \"APR-[0-9\"\ndescription = \"the ratified APR code\"",
            ),
        ),
    ]
}

#[test]
fn a_manifest_the_host_refuses_fails_the_build_with_the_hosts_message() {
    let good = build("base", &template("src/lib.rs"), &template("plugin.toml")).unwrap_or_else(|e| panic!("{e}"));
    for (case, manifest) in bad_manifests() {
        assert_ne!(manifest, template("plugin.toml"), "case {case} changes the manifest");
        // What the host says when it loads a plugin carrying this manifest.
        let path = scratch(&format!("{case}.wasm"), &support::with_manifest(&good, &manifest));
        let out = Command::new(env!("CARGO_BIN_EXE_host")).arg("inspect").arg(&path).output().unwrap();
        let host = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "case {case}: host inspect accepted it");
        let said = host
            .split_once("its manifest is invalid: ")
            // Its first line: the host may show a multi-line message's breaks as `\n`.
            .map(|(_, rest)| rest.lines().next().unwrap_or("").split("\\n").next().unwrap_or(""))
            .unwrap_or_else(|| panic!("case {case}: host said {host}"));
        assert!(said.len() > 10, "case {case}: host said {host}");
        eprintln!("case {case}: host and build say: {said}");
        let stderr = build_fails(case, &template("src/lib.rs"), &manifest);
        assert!(
            stderr.contains(&format!("plugin.toml: its manifest is invalid: {said}")),
            "case {case}: the build must say what the host says ({said}); it said:\n{stderr}"
        );
    }
}

/// Writes `bytes` to a file under target/sdk-tests, for `host` to read.
fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = root().join("target/sdk-tests/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let path = Path::new(&dir).join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}
