//! The reviewer's view of grants: a stable, diffable text form, a digest, a
//! lock file that pins reviewed plugins, and the SQL for a restricted role.
//!
//! The lock file records, per plugin name, the sha256 of its bytes (the
//! manifest is inside them), the digest of its grants' canonical text, and
//! each data file's sha256. `host run --lock FILE` refuses any plugin that
//! differs or is missing from it, so the host runs only what was reviewed.

use crate::manifest::{dangerous, Manifest};
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
    // PostgreSQL lets only a table's owner alter or index it: no role
    // privilege backs these lines, and the reviewer reads that here.
    let checker_only = |list: &[String]| -> Vec<String> {
        list.iter().map(|r| format!("{r}  (checker only: PostgreSQL lets only the owner ALTER or index)")).collect()
    };
    push("alter", &checker_only(&m.grants.alter));
    push("index", &checker_only(&m.grants.index));
    push("function", &m.grants.functions);
    push("sequence", &m.grants.sequences);
    push("references", &m.grants.references);
    push("acknowledge", &m.grants.acknowledge);
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

/// Each dangerous grant the manifest acknowledges: the grant key, the
/// object, and what it lets the plugin do.
pub fn warnings(m: &Manifest) -> Vec<(&'static str, &str, &'static str)> {
    let mut out = Vec::new();
    for object in &m.grants.acknowledge {
        let why = dangerous::classify(object).map(dangerous::Class::why).unwrap_or_default();
        for (key, list) in m.grants.lists() {
            if list.contains(object) {
                out.push((key, object.as_str(), why));
            }
        }
    }
    out
}

/// The text form: every plugin's grants, then write access per relation.
/// Each line is rendered by [`terminal`], so a manifest string can never
/// move the cursor or hide another line (the manifest check refuses such
/// strings at load already; this holds whatever reaches here). A granted
/// dangerous object the manifest acknowledges is a WARNING line first.
pub fn text(plugins: &[Plugin]) -> String {
    let mut out = String::new();
    let mut writes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut sorted: Vec<&Plugin> = plugins.iter().collect();
    sorted.sort_by_key(|p| (p.ordinal(), p.manifest.name.clone()));
    for p in sorted {
        out.push_str(&format!("plugin {} — {}\n", terminal(&p.manifest.name), terminal(&p.label())));
        out.push_str(&format!("  sha256    {}\n", p.sha256));
        out.push_str(&format!("  grants    {}\n", digest(&p.manifest)));
        for (key, object, why) in warnings(&p.manifest) {
            out.push_str(&format!("  {}\n", terminal(&format!("WARNING   {key} {object}: {why} (acknowledged)"))));
        }
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
                "warnings": warnings(&p.manifest).into_iter()
                    .map(|(key, object, why)| serde_json::json!({"grant": key, "object": object, "why": why}))
                    .collect::<Vec<_>>(),
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
    /// The dangerous grants the reviewer let through, acknowledged in the
    /// manifest (`host grants` shows each as a WARNING); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledged: Vec<String>,
}

/// The lock file: reviewed plugins by name, and whether they were reviewed
/// to run under their restricted roles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// `roles = true`: the plan was reviewed to run each plugin as its own
    /// restricted role (`host grants --role-sql`); `run --lock` then runs
    /// under roles, proven first. Absent in lock files before roles (and
    /// written only when true, so an older host still reads the others).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roles: bool,
    pub plugins: BTreeMap<String, Locked>,
    /// `[catalog]`: the database objects that run code no plugin statement
    /// names, reviewed (`host grants … --database-url URL --lock FILE`): each
    /// object's name and the sha256 of its definition (the catalog audit).
    /// Absent in lock files before the audit, and written only when there
    /// is something to record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub catalog: BTreeMap<String, String>,
}

impl Lock {
    /// The lock of a set of plugins as they are now.
    pub fn of<'a>(plugins: impl IntoIterator<Item = &'a Plugin>) -> Lock {
        let plugins = plugins
            .into_iter()
            .map(|p| {
                let mut acknowledged = p.manifest.grants.acknowledge.clone();
                acknowledged.sort();
                let locked = Locked {
                    sha256: p.sha256.clone(),
                    grants: digest(&p.manifest),
                    files: p.file_digests(),
                    acknowledged,
                };
                (p.manifest.name.clone(), locked)
            })
            .collect();
        Lock { roles: false, plugins, catalog: BTreeMap::new() }
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
        // The path is the operator's, but a newline in it would end the
        // comment and make the rest TOML: shown inert, like any text.
        let text = format!(
            "{LOCK_HEADER} `host run --lock {}` runs only these bytes and grants.\n{}",
            terminal(&path.display().to_string()),
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
                    if want.acknowledged != got.acknowledged {
                        problems.push(format!(
                            "{name}: acknowledged dangerous grants differ (locked {:?}, found {:?})",
                            want.acknowledged, got.acknowledged
                        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The lock file's first line is a comment naming its path: a path
    /// holding a newline must not end the comment and make the rest TOML.
    #[test]
    fn a_path_with_a_newline_stays_in_the_header_comment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a\nplugins = 1\n.lock");
        let mut lock = Lock::default();
        lock.plugins.insert(
            "p".into(),
            Locked { sha256: "s".into(), grants: "g".into(), files: BTreeMap::new(), acknowledged: vec!["x.y".into()] },
        );
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().ends_with("runs only these bytes and grants."), "{text}");
        let back = Lock::read(&path).unwrap();
        assert_eq!(back.plugins["p"], lock.plugins["p"]);
    }
}
