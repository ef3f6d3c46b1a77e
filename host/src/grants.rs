//! The reviewer's view of grants: a stable, diffable text form, a digest, a
//! lock file that pins reviewed plugins, and the SQL for a restricted role.
//!
//! The lock file ([`lock`]) is the reviewed plan: its members, and per
//! plugin the sha256 of its bytes, its grants' lines and their digest, and
//! each data file's sha256. `host run --lock FILE` refuses a plan that
//! differs from it, naming what differs, so the host runs only what was
//! reviewed.

use crate::manifest::{dangerous, Manifest, Phase};
use crate::plan::Plugin;
use crate::text::terminal;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

mod changed;
mod lock;
mod replace;
mod sign;
pub use lock::{Lock, Locked};
pub use replace::{name_replacements, Refusal, Replacements, Replaces};
pub use sign::{read_lock, sig_path, NAMESPACE};

/// Canonical lines of what a plugin may do, sorted within each group.
pub fn lines(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |key: &str, list: &[String]| {
        let mut l = list.to_vec();
        l.sort();
        out.extend(l.into_iter().map(|v| format!("{key:<9} {v}")));
    };
    push("database", &m.databases);
    // Each grant with its columns and, where the phases differ, its phase.
    for (key, shown) in [
        ("read", "read"),
        ("insert", "insert"),
        ("update", "update"),
        ("delete", "delete"),
        ("create", "create"),
        ("drop", "drop"),
        ("alter", "alter"),
        ("index", "index"),
        ("functions", "function"),
        ("sequences", "sequence"),
        ("references", "references"),
    ] {
        push(shown, &granted(m, key));
    }
    push("acknowledge", &m.grants.acknowledge);
    push("file", &m.files);
    let params: Vec<String> = m.params.iter().map(|(k, p)| format!("{k} ~ /{}/", p.pattern)).collect();
    push("param", &params);
    // The tables it must return, by name: the gate's predicates, the
    // tier's post-conditions and what "undone" means.
    push("metric", &m.metrics);
    push("post-condition", &m.post_conditions);
    push("rollback-condition", &m.rollback_conditions);
    // The mode and its bounds, and the DDL lock limits, only where they are
    // not the defaults: a plan reviewed before they existed keeps its digest.
    if !m.mode.is_transaction() {
        out.push(format!("mode      {}", m.mode));
    }
    if let Some(serde_json::Value::Object(b)) = m.batches.as_ref().and_then(|b| serde_json::to_value(b).ok()) {
        out.extend(b.iter().map(|(k, v)| format!("batches   {k} {v}")));
    }
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
    let usual = crate::manifest::Limits::default();
    for (k, v, default) in [
        ("ddl_lock_timeout_ms", l.ddl_lock_timeout_ms, usual.ddl_lock_timeout_ms),
        ("ddl_lock_retries", l.ddl_lock_retries, usual.ddl_lock_retries),
    ] {
        if v != default {
            out.push(format!("limit     {k} {v}"));
        }
    }
    out
}

/// The lines of one grant key: each object with its column list, and a
/// phase-only grant marked with its phase (the checker holds the phase;
/// a restricted role holds what both phases may do, see README's roles).
/// A manifest without phase tables or columns keeps its lines, and so
/// its digest.
fn granted(m: &Manifest, key: &str) -> Vec<String> {
    let shown = |g: &crate::manifest::Grants, rel: &str| match g.limited(key, rel) {
        Some(cols) => format!("{rel}({})", cols.join(", ")),
        None => rel.to_string(),
    };
    // PostgreSQL lets only a table's owner alter or index it: no role
    // privilege backs these lines, and the reviewer reads that here.
    let walls = match key {
        "alter" | "index" => "  (checker only: PostgreSQL lets only the owner ALTER or index)",
        _ => "",
    };
    let mut out = Vec::new();
    for rel in m.grants.list(key) {
        let (a, r) = (&m.phases.apply, &m.phases.rollback);
        let (in_a, in_r) = (a.list(key).contains(rel), r.list(key).contains(rel));
        if !m.phases.split || (in_a && in_r && shown(a, rel) == shown(r, rel)) {
            out.push(format!("{}{walls}", shown(&m.grants, rel)));
            continue;
        }
        for (phase, g, has) in [(Phase::Apply, a, in_a), (Phase::Rollback, r, in_r)] {
            if has {
                let wall = match walls {
                    "" => "checker only for the phase: the role holds both phases' grants",
                    _ => "checker only: PostgreSQL lets only the owner ALTER or index",
                };
                out.push(format!("{}  ({phase} only; {wall})", shown(g, rel)));
            }
        }
    }
    out
}

/// sha256 of the canonical grant lines.
pub fn digest(m: &Manifest) -> String {
    digest_of(&m.name, &m.kind.to_string(), &lines(m))
}

/// sha256 of a plugin's name, kind and grant lines: the lock file checks
/// the lines it holds against the digest it holds with it.
pub fn digest_of(name: &str, kind: &str, lines: &[String]) -> String {
    let text = lines.join("\n");
    hex::encode(Sha256::digest(format!("{name}\n{kind}\n{text}\n").as_bytes()))
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
                "grants": p.manifest.grants, "grants_as_written": p.manifest.written_grants, "files": p.file_digests(),
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
