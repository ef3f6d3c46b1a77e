//! The audit for the reviewer (`host grants … --database-url URL`): per
//! plugin, the implicit-code objects it reaches, the definitions its
//! grants name that a lock file pins (`pinned`), each with the functions
//! its digest covers, and every path its writes take, as text and as JSON. Every name comes from the catalog, so every
//! line goes through [`terminal`].

use super::{Audit, Implicit};
use crate::plan::Plugin;
use crate::text::terminal;

/// The text form, after the grants.
pub fn text(audit: &Audit, plugins: &[Plugin], database: &str) -> String {
    let mut out = format!(
        "catalog audit of database `{}` ({} queries, {} ms)\n",
        terminal(database),
        audit.queries,
        audit.elapsed.as_millis()
    );
    let mut sorted: Vec<&Plugin> = plugins.iter().collect();
    sorted.sort_by_key(|p| (p.ordinal(), p.manifest.name.clone()));
    for p in sorted {
        let name = &p.manifest.name;
        out.push_str(&format!("plugin {} — {}\n", terminal(name), terminal(&p.label())));
        let mut any = false;
        for i in audit.implicit.iter().filter(|i| i.plugins.contains(name)) {
            any = true;
            let word = if i.named { "pinned  " } else { "implicit" };
            let digest = i.digest.get(..12).unwrap_or(&i.digest);
            out.push_str(&format!("  {word}  {}  [sha256 {digest}]\n", terminal(&i.object)));
            if !i.covers.is_empty() {
                out.push_str(&format!("            runs {}\n", terminal(&i.covers.join(", "))));
            }
        }
        for r in audit.reach.reached.iter().filter(|r| &r.plugin == name) {
            any = true;
            let status =
                if r.granted { "granted".to_string() } else { format!("NOT GRANTED: needs {}", r.grant_line()) };
            let line = format!("{} {}: {} {}", r.op.grant_key(), r.path_text(), r.needs.grant_key(), status);
            out.push_str(&format!("  reaches   {}\n", terminal(&line)));
        }
        for u in audit.reach.unknown.iter().filter(|u| &u.plugin == name) {
            any = true;
            out.push_str(&format!("  unknown   {}\n", terminal(&format!("{}: {}", u.relation, u.why))));
        }
        if !any {
            out.push_str("  (nothing: no implicit code, no write past its target)\n");
        }
    }
    out
}

/// The JSON form of the same.
pub fn json(audit: &Audit, plugins: &[Plugin], database: &str) -> serde_json::Value {
    let list: Vec<serde_json::Value> = plugins
        .iter()
        .map(|p| {
            let name = &p.manifest.name;
            let entry = |i: &Implicit| {
                serde_json::json!({ "kind": i.kind, "object": i.object, "digest": i.digest, "runs": i.covers })
            };
            let mine = || audit.implicit.iter().filter(|i| i.plugins.contains(name));
            let implicit: Vec<_> = mine().filter(|i| !i.named).map(entry).collect();
            let pinned: Vec<_> = mine().filter(|i| i.named).map(entry).collect();
            let reach: Vec<_> = audit.reach.reached.iter().filter(|r| &r.plugin == name).collect();
            let unknown: Vec<_> = audit.reach.unknown.iter().filter(|u| &u.plugin == name).collect();
            serde_json::json!({
                "name": name, "implicit": implicit, "pinned": pinned, "reach": reach, "unknown": unknown
            })
        })
        .collect();
    serde_json::json!({
        "database": database,
        "queries": audit.queries,
        "elapsed_ms": audit.elapsed.as_millis() as u64,
        "plugins": list,
    })
}
