//! Grants no reviewer can give silently: server files and programs, large
//! objects, settings, other sessions and servers, catalogs holding secrets.
//! Each class is refused at load by every verb, with and without roles,
//! before anything touches the database; the acknowledgeable ones load only
//! acknowledged and are shown as such; `explain` never suggests a grant the
//! loader refuses; the catalog-derived list is this server's, and the
//! list in docs/manifest-and-sql.md is the code's.

mod support;

use host::manifest::dangerous::{self, Class};
use support::*;

fn host_offline(args: &[&str]) -> Run {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_host"));
    c.current_dir(root()).args(args).env("HOST_COMPILE_CACHE", compile_cache());
    Run::from(c.output().expect("run host"))
}

/// One object of each class, and the grant key naming it.
const CASES: [(&str, &str, Class); 9] = [
    ("functions", "pg_catalog.pg_read_file", Class::Superuser),
    ("functions", "pg_catalog.lo_import", Class::Superuser),
    ("functions", "pg_catalog.lo_create", Class::LargeObjects),
    ("read", "pg_catalog.pg_authid", Class::Secrets),
    ("read", "pg_catalog.pg_largeobject", Class::Secrets),
    ("functions", "pg_catalog.set_config", Class::Settings),
    ("functions", "pg_catalog.pg_terminate_backend", Class::Sessions),
    ("functions", "public.dblink_exec", Class::Reach),
    ("read", "pg_catalog.pg_stat_activity", Class::ReadsSessions),
];

/// The inert fixture (tier 7) granting `object` under `key`, in `dir`.
fn granting(dir: &std::path::Path, key: &str, object: &str, acknowledge: bool) -> String {
    let wasm = std::fs::read(root().join("tests/plugins/inert.wasm")).expect("make test-plugins");
    let mut m: toml::Table = toml::from_str(&manifest_of(&wasm)).unwrap();
    let grants = m.get_mut("grants").and_then(|g| g.as_table_mut()).unwrap();
    grants.insert(key.into(), toml::Value::Array(vec![object.into()]));
    if acknowledge {
        grants.insert("acknowledge".into(), toml::Value::Array(vec![object.into()]));
    }
    let path = dir.join(format!("{}-{}.wasm", object.replace('.', "-"), acknowledge));
    std::fs::write(&path, with_manifest(&wasm, &toml::to_string(&m).unwrap())).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn every_class_is_refused_at_load_by_each_verb_with_roles_on_and_off() {
    let c = Cluster::start("dangerous-load");
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("reviewed.lock");
    for (key, object, class) in CASES {
        assert_eq!(dangerous::classify(object), Some(class), "{object}");
        let path = granting(dir.path(), key, object, false);
        let says = if class.acknowledgeable() {
            format!("`{object}` is granted only with an acknowledgement: {}", class.why())
        } else {
            format!("no plugin may be granted `{object}`: {}; instead, {}", class.why(), class.instead())
        };
        let plan = plan_with(None, &[&path]);
        let run = args("run", &plan, &["--param", APR]);
        let mut roles = run.clone();
        roles.push("--roles");
        let lock = lock.to_str().unwrap();
        for verb in [
            vec!["inspect", &path],
            vec!["grants", &path],
            vec!["grants", "--json", &path],
            vec!["grants", "--role-sql", "operator", &path],
            vec!["grants", "--lock", lock, &path],
            vec!["grants", "--lock", lock, "--roles", &path],
            vec!["explain", &path, "SELECT 1"],
        ] {
            let r = host_offline(&verb);
            r.expect_code(2).expect(&format!("manifest field `grants.{key}[0]`")).expect(&says);
            assert!(r.stdout.is_empty(), "{verb:?}: {}", r.stdout);
        }
        for verb in [&run, &roles] {
            let r = c.host(verb);
            r.expect_code(2).expect(&says);
        }
        assert!(!std::path::Path::new(lock).exists(), "a refused plan was locked");
    }
    // Nothing reached the database: no ledger was ever created.
    assert_eq!(c.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), 0);
}

#[test]
fn an_acknowledged_grant_loads_and_is_shown_as_a_warning_in_grants_the_lock_and_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = granting(dir.path(), "read", "pg_catalog.pg_stat_activity", true);
    let g = host_offline(&["grants", &path]);
    g.expect_code(0).expect(&format!(
        "  WARNING   read pg_catalog.pg_stat_activity: {} (acknowledged)\n",
        Class::ReadsSessions.why()
    ));
    g.expect("  acknowledge pg_catalog.pg_stat_activity\n");
    let j: serde_json::Value = serde_json::from_str(&host_offline(&["grants", "--json", &path]).stdout).unwrap();
    assert_eq!(j["plugins"][0]["warnings"][0]["object"], "pg_catalog.pg_stat_activity");
    let lock = dir.path().join("reviewed.lock");
    host_offline(&["grants", "--lock", lock.to_str().unwrap(), &path]).expect_code(0);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("acknowledged = [\"pg_catalog.pg_stat_activity\"]"), "{text}");
    host_offline(&["inspect", &path]).expect_code(0).expect("WARNING     read pg_catalog.pg_stat_activity");
    // The lock pins it: the same plugin without the acknowledgement is not
    // the reviewed one (and does not load anyway).
    let locked = host::grants::Lock::read(&lock).unwrap();
    assert_eq!(locked.plugins["test-inert"].acknowledged, ["pg_catalog.pg_stat_activity"]);
    // A run says so before the gate (the session fixture reads settings, acknowledged).
    let c = Cluster::start("dangerous-run");
    c.ratify();
    let plan = plan_with(None, &["tests/plugins/observe.wasm"]);
    let r = c.host(&args("run", &plan, &["--param", APR]));
    r.expect_code(0).expect(&format!(
        "     Warning probe (test-observe) holds the acknowledged grant functions pg_catalog.current_setting: {}",
        Class::ReadsSettings.why()
    ));
    let (warned, applying) = (r.stderr.find("Warning probe").unwrap(), r.stderr.find("Applying").unwrap());
    assert!(warned < applying, "the warning comes before any plugin runs:\n{}", r.stderr);
}

#[test]
fn explain_says_why_no_grant_can_allow_the_ledger_a_dangerous_object_or_a_secret_catalog() {
    let tier = "tiers/t3-axis.wasm";
    for (sql, says) in [
        ("SELECT * FROM rollout_ledger.rollout", "no grant can allow it: the ledger belongs to the host"),
        (
            "SELECT pg_read_file('/etc/passwd')",
            "no grant can allow it: no plugin may be granted `pg_catalog.pg_read_file`",
        ),
        ("SELECT lo_import('/etc/passwd')", "no grant can allow it: no plugin may be granted `pg_catalog.lo_import`"),
        (
            "SELECT rolpassword FROM pg_catalog.pg_authid",
            "no grant can allow it: no plugin may be granted `pg_catalog.pg_authid`",
        ),
        (
            "SELECT set_config('search_path', 'public', true)",
            "no grant can allow it: no plugin may be granted `pg_catalog.set_config`",
        ),
        ("SELECT * FROM \"one roof\".team", "no grant can allow it: `one roof.team` must be schema-qualified"),
    ] {
        let r = host_offline(&["explain", tier, sql]);
        r.expect_code(4).expect(says);
        assert!(!r.stdout.contains("to allow it, add"), "{sql}: suggests a grant the loader refuses:\n{}", r.stdout);
    }
    // An acknowledgeable one: the suggestion carries the acknowledgement, and loads.
    let r = host_offline(&["explain", tier, "SELECT count(*) FROM pg_catalog.pg_stat_activity"]);
    r.expect_code(4).expect(
        "to allow it, add to plugin.toml under [grants]: read = [\"pg_catalog.pg_stat_activity\"]; acknowledge = [\"pg_catalog.pg_stat_activity\"]",
    );
}

#[test]
fn the_derived_list_is_this_servers_catalog() {
    let c = Cluster::start("dangerous-catalog");
    let query = std::fs::read_to_string(root().join("manifest/src/dangerous.sql")).unwrap();
    let server: Vec<String> = c.psql(&query).lines().map(str::to_string).collect();
    let ours: Vec<String> = dangerous::derived_text().lines().map(str::to_string).collect();
    assert_eq!(
        ours, server,
        "manifest/src/dangerous.txt is not this server's catalog; regenerate it: \
         psql -AtX -f manifest/src/dangerous.sql > manifest/src/dangerous.txt"
    );
}

#[test]
fn the_manifest_docs_list_the_codes_refused_grants() {
    let page = std::fs::read_to_string(root().join("docs/manifest-and-sql.md")).unwrap();
    let block = dangerous::readme();
    assert!(
        page.contains(&block),
        "docs/manifest-and-sql.md's list of refused grants is not the code's; put this there:\n{block}"
    );
}
