//! The role SQL is inert in psql whatever the names in it: `host grants
//! --role-sql` for a plugin whose grants name relations built of every
//! delimiter psql or PostgreSQL knows (`$`, `$$`, `$grant$`, quotes,
//! backslash, `;`, `\!`, `:var`, `--`, `/*`), with a hostile operator and
//! runner name too, piped into real `psql -v ON_ERROR_STOP=1`: no shell
//! command runs, no variable is read, nothing but the intended objects is
//! created, and the roles then hold exactly their grants. The names a
//! manifest refuses (a line break, a `$` in a plugin's name, a part over
//! 63 bytes) never get that far.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use support::*;

/// A quoted identifier, for the test's own set-up.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The names of every role, schema, relation (but TOAST tables, which
/// belong to a table) and function in `directus`.
fn catalog(c: &Cluster) -> BTreeSet<String> {
    let sql = "SELECT 'role ' || rolname FROM pg_roles
               UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
               UNION ALL SELECT 'relation ' || n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname <> 'pg_toast'
               UNION ALL SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               UNION ALL SELECT 'default acl ' || defaclrole::regrole::text FROM pg_default_acl";
    // One name a line: a name holding a line break would split (none can).
    c.psql(sql).lines().map(str::to_string).collect()
}

/// The wall fixture with this manifest's name and grants.
fn plugin(dir: &std::path::Path, name: &str, grants: &str) -> std::path::PathBuf {
    let wasm = std::fs::read(root().join("tests/plugins/wall.wasm")).unwrap();
    let manifest = manifest_of(&wasm);
    let head =
        manifest.split("[grants]").next().unwrap().replace("name = \"test-wall\"", &format!("name = \"{name}\""));
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, with_manifest(&wasm, &format!("{head}[grants]\n{grants}"))).unwrap();
    path
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[test]
fn the_role_sql_of_names_made_of_every_delimiter_is_inert_in_psql() {
    let c = Cluster::start("rolesql");
    let pwned = std::env::temp_dir().join(format!("rolesql-{}-pwned", std::process::id()));
    std::fs::create_dir_all(&pwned).unwrap();
    let mark = |n: &str| format!("\\! touch {}/{n}", pwned.display());
    assert!(!pwned.display().to_string().contains('.'), "the marker path must hold no dot");
    // Every delimiter a manifest's names may hold (`$`, `-`: a dollar quote
    // and a comment), in the shapes that would close or re-form a dollar
    // quote or start a comment; quotes, backslashes, `;` and `\!` never
    // load (names_a_manifest_or_the_role_model_refuses_never_reach_the_role_sql),
    // but the operator's and the runner's role names below hold them all.
    let schema = "s$$--x".to_string();
    let tables: Vec<String> = [
        "$grant$",
        "$$",
        "x--y",
        // The delimiter re-formed by a filter that deletes one spelling of it.
        "$gr$grant$ant$",
        "t$x$--",
        "a-b",
        "_$_",
        "z$1",
        "--$$--",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    for t in &tables {
        assert!(t.len() <= 63 && !t.contains('.'), "{t:?}");
    }
    let sequence = "q$$".to_string();
    let created = "new$$--".to_string();
    let function = "f$grant$".to_string();
    let operator = format!("op'\"$$\\!:var; {}", mark("o"));
    let runner = format!("run$$\"\\! :var; {}", mark("r"));
    assert!(operator.len() <= 63 && runner.len() <= 63, "{operator:?} {runner:?}");
    let mut setup = format!("CREATE SCHEMA {}; CREATE ROLE {};", q(&schema), q(&operator));
    for t in &tables {
        setup.push_str(&format!("CREATE TABLE {}.{} (id int PRIMARY KEY, v text);", q(&schema), q(t)));
    }
    setup.push_str(&format!("CREATE SEQUENCE {}.{};", q(&schema), q(&sequence)));
    c.psql(&setup);
    let rel = |t: &str| toml_str(&format!("{schema}.{t}"));
    let all: Vec<String> = tables.iter().map(|t| rel(t)).collect();
    let grants = format!(
        "read = [{}]\ninsert = [{}]\nupdate = [{}]\ndelete = [{}]\nreferences = [{}]\ndrop = [{}]\ncreate = [{}]\nsequences = [{}]\nfunctions = [{}]\n",
        all.join(", "),
        [&all[..3], &all[7..8]].concat().join(", "),
        all[3..5].join(", "),
        all[5..6].join(", "),
        all[6..7].join(", "),
        all[8],
        rel(&created),
        rel(&sequence),
        rel(&function),
    );
    let dir = tempfile::tempdir().unwrap();
    let wasm = plugin(dir.path(), "evil-plugin_0", &grants);
    let wasm = wasm.to_str().unwrap();
    let data = data_dir(dir.path());
    let data = data.as_str();
    let before = catalog(&c);

    let out = c.host(&["grants", wasm, "--data-dir", data, "--role-sql", &operator, "--runner-role", &runner]);
    out.expect_code(0);
    assert!(no_dollar_quote_or_do_block(&out.stdout), "{}", out.stdout);
    let mut psql = c
        .psql_cmd()
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-v", "var=INTERPOLATED"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    psql.stdin.take().unwrap().write_all(out.stdout.as_bytes()).unwrap();
    let done = psql.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&done.stdout), String::from_utf8_lossy(&done.stderr));
    assert!(done.status.success(), "psql stopped:\n{said}\n--- the script:\n{}", out.stdout);
    let ran: Vec<_> = std::fs::read_dir(&pwned).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(ran.is_empty(), "psql ran a shell command from the role SQL: {ran:?}\n{}", out.stdout);
    assert!(!said.contains("INTERPOLATED"), "{said}");

    // Nothing but the intended objects: the plugin's role and the wall's
    // three, the wall's and the ledger's schemas and what is in them.
    let after = catalog(&c);
    let added: Vec<&String> = after.difference(&before).collect();
    let removed: Vec<&String> = before.difference(&after).collect();
    assert!(removed.is_empty(), "removed: {removed:?}");
    let expected_roles: BTreeSet<String> =
        ["rollout_evil_plugin_0", "rollout_roles_admin", "rollout_ledger_writer", runner.as_str()]
            .iter()
            .map(|r| format!("role {r}"))
            .collect();
    for a in &added {
        let ours = a.starts_with("schema rollout_")
            || a.starts_with("relation rollout_roles.")
            || a.starts_with("relation rollout_ledger.")
            || a.starts_with("function rollout_roles.")
            || a.starts_with("function rollout_ledger.")
            || expected_roles.contains(*a);
        assert!(ours, "created beyond the intended objects: {a:?}\nall added: {added:?}");
    }
    assert!(expected_roles.iter().all(|r| after.contains(r)), "{added:?}");
    assert!(!after.iter().any(|n| n.contains("INTERPOLATED")));

    // The roles hold exactly their grants.
    let r = c.host(&["roles", "prove", wasm, "--data-dir", data, "--runner-role", &runner]);
    r.expect_code(0).expect("Proven 1 restricted roles hold exactly their plugins' grants");
    let _ = std::fs::remove_dir(&pwned);
}

/// Every `$` of the script is inside a quoted identifier or literal (a
/// name's own), never a dollar quote, and no statement is a `DO` block:
/// checked on the script with quoted text and comments removed.
fn no_dollar_quote_or_do_block(sql: &str) -> bool {
    let mut outside = String::new();
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) if ch == q => {
                if chars.peek() == Some(&q) {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None if ch == '"' || ch == '\'' => quote = Some(ch),
            None if ch == '-' && chars.peek() == Some(&'-') => {
                // A comment: to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                outside.push('\n');
            }
            None => outside.push(ch),
        }
    }
    !outside.contains('$') && !outside.lines().any(|l| l.trim_start().to_uppercase().starts_with("DO "))
}

/// A data directory holding the fixture's data file.
fn data_dir(dir: &std::path::Path) -> String {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("wall.sql"), "").unwrap();
    data.to_str().unwrap().to_string()
}

#[test]
fn names_a_manifest_or_the_role_model_refuses_never_reach_the_role_sql() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let data = data.as_str();
    for (name, grants, says) in [
        (
            "ok",
            "read = [\"public.a\\nb\"]\n",
            "manifest field `grants.read[0]` holds the control or invisible character U+000A",
        ),
        ("ok", "read = [\"public.a\\rb\"]\n", "U+000D"),
        ("ok", "read = [\"public.a\\u0000b\"]\n", "U+0000"),
        ("e$$vil", "", "manifest field `name` must be the plugin's name"),
        ("e'vil", "", "manifest field `name` must be the plugin's name"),
        ("ok", &format!("read = [\"public.{}\"]\n", "x".repeat(64)), "each part 1 to 63 ASCII letters"),
        ("ok", "functions = [\"a.b.c\"]\n", "must be schema-qualified: `schema.name`"),
    ] {
        let wasm = plugin(dir.path(), "ok", "");
        let manifest = manifest_of(&std::fs::read(&wasm).unwrap())
            .replace("name = \"ok\"", &format!("name = {}", toml_str(name)))
            .replace("[grants]\n", &format!("[grants]\n{grants}"));
        let path = dir.path().join("variant.wasm");
        std::fs::write(&path, with_manifest(&std::fs::read(&wasm).unwrap(), &manifest)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_host"))
            .current_dir(root())
            .args(["grants", path.to_str().unwrap(), "--data-dir", data, "--role-sql", "postgres"])
            .env("HOST_COMPILE_CACHE", compile_cache())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {grants:?}: {err}");
        assert!(err.contains(says), "{name} {grants:?}: expected {says:?} in {err}");
        assert!(out.stdout.is_empty(), "{name} {grants:?}: printed SQL anyway");
    }
}
