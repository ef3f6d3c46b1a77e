//! The reviewer's view of grants: a stable, diffable text form, a digest, a
//! lock file that pins reviewed plugins, and the SQL for a restricted role.
//!
//! The lock file records, per plugin name, the sha256 of its bytes (the
//! manifest is inside them), the digest of its grants' canonical text, and
//! each data file's sha256. `host run --lock FILE` refuses any plugin that
//! differs or is missing from it, so the host runs only what was reviewed.

use crate::manifest::Manifest;
use crate::plan::Plugin;
use crate::text::terminal;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Canonical lines of what a plugin may do, sorted within each group.
pub fn lines(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |key: &str, list: &[String]| {
        let mut l = list.to_vec();
        l.sort();
        out.extend(l.into_iter().map(|v| format!("{key:<9} {v}")));
    };
    push("database", &m.databases);
    push("read", &m.grants.read);
    push("insert", &m.grants.insert);
    push("update", &m.grants.update);
    push("delete", &m.grants.delete);
    push("create", &m.grants.create);
    push("drop", &m.grants.drop);
    push("function", &m.grants.functions);
    push("sequence", &m.grants.sequences);
    push("file", &m.files);
    let params: Vec<String> = m.params.iter().map(|(k, p)| format!("{k} ~ /{}/", p.pattern)).collect();
    push("param", &params);
    // The tables it must return, by name: the gate's predicates, the
    // tier's post-conditions and what "undone" means.
    push("metric", &m.metrics);
    push("post-condition", &m.post_conditions);
    push("rollback-condition", &m.rollback_conditions);
    let l = &m.limits;
    for (k, v) in [
        ("wall_time_ms", l.wall_time_ms),
        ("memory_mib", l.memory_mib),
        ("statements", l.statements),
        ("rows_returned", l.rows_returned),
        ("rows_changed", l.rows_changed),
        ("statement_timeout_ms", l.statement_timeout_ms),
        ("lock_timeout_ms", l.lock_timeout_ms),
        ("log_lines", l.log_lines),
        ("log_bytes", l.log_bytes),
        ("metrics", l.metrics),
        ("metric_text", l.metric_text),
    ] {
        out.push(format!("limit     {k} {v}"));
    }
    out
}

/// sha256 of the canonical grant lines.
pub fn digest(m: &Manifest) -> String {
    let text = lines(m).join("\n");
    hex::encode(Sha256::digest(format!("{}\n{}\n{text}\n", m.name, m.kind).as_bytes()))
}

/// The text form: every plugin's grants, then write access per relation.
/// Each line is rendered by [`terminal`], so a manifest string can never
/// move the cursor or hide another line (the manifest check refuses such
/// strings at load already; this holds whatever reaches here).
pub fn text(plugins: &[Plugin]) -> String {
    let mut out = String::new();
    let mut writes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut sorted: Vec<&Plugin> = plugins.iter().collect();
    sorted.sort_by_key(|p| (p.ordinal(), p.manifest.name.clone()));
    for p in sorted {
        out.push_str(&format!("plugin {} — {}\n", terminal(&p.manifest.name), terminal(&p.label())));
        out.push_str(&format!("  sha256    {}\n", p.sha256));
        out.push_str(&format!("  grants    {}\n", digest(&p.manifest)));
        for line in lines(&p.manifest) {
            out.push_str(&format!("  {}\n", terminal(&line)));
        }
        for (op, rel) in p.manifest.grants.writes() {
            writes.entry(rel.clone()).or_default().push(format!("{op} by {}", p.manifest.name));
        }
        out.push('\n');
    }
    out.push_str("write access by relation\n");
    if writes.is_empty() {
        out.push_str("  (none)\n");
    }
    for (rel, who) in writes {
        out.push_str(&format!("  {:<40} {}\n", terminal(&rel), terminal(&who.join(", "))));
    }
    out
}

/// The JSON form of the same.
pub fn json(plugins: &[Plugin]) -> serde_json::Value {
    let list: Vec<_> = plugins
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.manifest.name, "kind": p.manifest.kind.to_string(), "ordinal": p.manifest.ordinal,
                "sha256": p.sha256, "grants_digest": digest(&p.manifest), "databases": p.manifest.databases,
                "grants": p.manifest.grants, "files": p.file_digests(),
                "limits": p.manifest.limits, "params": p.manifest.params, "metrics": p.manifest.metrics,
                "post_conditions": p.manifest.post_conditions, "rollback_conditions": p.manifest.rollback_conditions,
            })
        })
        .collect();
    serde_json::json!({ "plugins": list })
}

/// How every lock file starts; only a file with it may be replaced.
const LOCK_HEADER: &str = "# Reviewed plugins:";

/// One reviewed plugin in the lock file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub sha256: String,
    pub grants: String,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// The lock file: reviewed plugins by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub plugins: BTreeMap<String, Locked>,
}

impl Lock {
    /// The lock of a set of plugins as they are now.
    pub fn of<'a>(plugins: impl IntoIterator<Item = &'a Plugin>) -> Lock {
        let plugins = plugins
            .into_iter()
            .map(|p| {
                let locked = Locked { sha256: p.sha256.clone(), grants: digest(&p.manifest), files: p.file_digests() };
                (p.manifest.name.clone(), locked)
            })
            .collect();
        Lock { plugins }
    }

    /// Writes the lock file atomically, refusing to replace any file that
    /// is not a lock file (a plugin named by mistake, say).
    pub fn write(&self, path: &Path) -> Result<()> {
        if path.extension().is_some_and(|e| e == "wasm") {
            bail!(
                "refusing to write the lock file over {}: that is a plugin's name; give the lock file's own name first, e.g. `host grants --lock rollout.lock tiers/*.wasm`",
                path.display()
            );
        }
        crate::outfile::refuse_foreign(path, LOCK_HEADER, "lock file")?;
        let text = format!(
            "{LOCK_HEADER} `host run --lock {}` runs only these bytes and grants.\n{}",
            path.display(),
            toml::to_string_pretty(self).context("cannot serialise the lock file")?
        );
        crate::outfile::write_atomic(path, text.as_bytes())
    }

    /// Reads a lock file.
    pub fn read(path: &Path) -> Result<Lock> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the lock file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid lock file", path.display()))
    }

    /// Refuses plugins that differ from the lock or are not in it, naming each.
    pub fn verify(&self, plugins: &[&Plugin]) -> Result<()> {
        let now = Lock::of(plugins.iter().copied());
        let mut problems = Vec::new();
        for (name, got) in &now.plugins {
            match self.plugins.get(name) {
                None => problems.push(format!("{name}: not in the lock file (never reviewed)")),
                Some(want) => {
                    if want.sha256 != got.sha256 {
                        problems.push(format!(
                            "{name}: bytes differ (locked sha256 {}, found {})",
                            want.sha256, got.sha256
                        ));
                    }
                    if want.grants != got.grants {
                        problems.push(format!("{name}: grants differ from the reviewed ones"));
                    }
                    if want.files != got.files {
                        problems.push(format!(
                            "{name}: data files differ (locked {:?}, found {:?})",
                            want.files, got.files
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            // One line: an error is printed on one line, its newlines shown as `\n`.
            bail!("refusing plugins that do not match the lock file: {}", problems.join("; "));
        }
        Ok(())
    }
}

/// The restricted role of a plugin (`host grants --role-sql`).
pub fn role_name(m: &Manifest) -> String {
    format!("rollout_{}", m.name.replace('-', "_"))
}

fn split(rel: &str) -> (&str, &str) {
    rel.split_once('.').unwrap_or(("", rel))
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn qualified(rel: &str) -> String {
    let (schema, name) = split(rel);
    format!("{}.{}", ident(schema), ident(name))
}

/// `CREATE ROLE` / `GRANT` SQL giving a plugin's role exactly its grants.
pub fn role_sql(plugins: &[Plugin], operator_role: &str) -> String {
    let mut out = String::from("-- Restricted roles: under SET ROLE to its role, PostgreSQL alone refuses what a\n-- plugin's grants do not allow.\n");
    for p in plugins {
        let m = &p.manifest;
        let role = ident(&role_name(m));
        out.push_str(&format!("\n-- {}\n", terminal(&p.label())));
        out.push_str(&format!("CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;\n"));
        out.push_str(&format!("GRANT {role} TO {};\n", ident(operator_role)));
        let mut schemas: Vec<&str> =
            m.grants.read.iter().chain(m.grants.writes().map(|(_, r)| r)).map(|r| split(r).0).collect();
        schemas.sort();
        schemas.dedup();
        for s in schemas {
            out.push_str(&format!("GRANT USAGE ON SCHEMA {} TO {role};\n", ident(s)));
        }
        let mut create_schemas: Vec<&str> = m.grants.create.iter().map(|r| split(r).0).collect();
        create_schemas.dedup();
        for s in create_schemas {
            out.push_str(&format!(
                "GRANT CREATE ON SCHEMA {} TO {role};  -- for: create {}\n",
                ident(s),
                terminal(&m.grants.create.join(", "))
            ));
        }
        for (privilege, list) in [
            ("SELECT", &m.grants.read),
            ("INSERT", &m.grants.insert),
            ("UPDATE", &m.grants.update),
            ("DELETE", &m.grants.delete),
        ] {
            for rel in list.iter().filter(|r| !m.grants.create.contains(r)) {
                out.push_str(&format!("GRANT {privilege} ON {} TO {role};\n", qualified(rel)));
            }
        }
        for seq in &m.grants.sequences {
            out.push_str(&format!("GRANT USAGE ON SEQUENCE {} TO {role};\n", qualified(seq)));
        }
        for f in &m.grants.functions {
            out.push_str(&format!("-- function {}: grant EXECUTE on the signature you reviewed\n", terminal(f)));
        }
    }
    out
}
