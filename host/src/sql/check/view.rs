//! `CREATE [OR REPLACE] VIEW schema.name AS SELECT …` under the view's
//! `create` grant. Its query is walked as a SELECT the plugin sends: every
//! relation it names needs a read grant, every function, operator, type
//! and collation the rules any query's do.
//!
//! Why the reads are the plugin's own: PostgreSQL checks a view's table
//! privileges against its owner, not its reader, and the plugin (its role,
//! under `--roles`) owns what it creates. Whoever selects from the view
//! reads those tables as the plugin would, so the view may name only what
//! the plugin may read.

use super::locks::{Lock, LockMode};
use super::walk::Walk;
use super::{obj, refuse, target, Op, Refusal};
use crate::manifest::Grants;
use pg_query::protobuf::{node::Node as N, ViewStmt};
use serde_json::Value;

/// The view options that change nothing the check relies on:
/// `security_barrier` (a planner fence for row filters) and `check_option`
/// (`WITH [LOCAL|CASCADED] CHECK OPTION`, which only refuses rows).
const ALLOWED_OPTIONS: &[&str] = &["security_barrier", "check_option"];

/// The view's create grant, its options, and its query through the walk.
/// `CREATE OR REPLACE` of an existing view takes an ACCESS EXCLUSIVE lock
/// on it until the tier commits; a new view takes none.
pub(super) fn create_view(
    walk: &mut Walk,
    grants: &Grants,
    s: &ViewStmt,
    body: &Value,
) -> Result<Option<Lock>, Refusal> {
    for option in &s.options {
        let Some(N::DefElem(d)) = &option.node else { return refuse("malformed view option") };
        if d.defname == "security_invoker" {
            return refuse(
                "CREATE VIEW … WITH (security_invoker): the check reads the view's query as the plugin's own reads \
                 (PostgreSQL checks a view's tables against its owner, the plugin); under security_invoker they \
                 would be each reader's, so what the view shows would depend on who reads it; drop the option",
            );
        }
        if !ALLOWED_OPTIONS.contains(&d.defname.as_str()) {
            return refuse(format!(
                "CREATE VIEW … WITH ({}): only security_barrier and check_option are allowed",
                d.defname
            ));
        }
    }
    let view = s.view.as_ref();
    target(walk, view, Op::Create)?;
    let name = view.map(|r| format!("{}.{}", r.schemaname, r.relname)).unwrap_or_default();
    // A simple view is updatable: a write to it is a write to the table it
    // reads, which a grant on the view does not name.
    for (key, list) in [("insert", &grants.insert), ("update", &grants.update), ("delete", &grants.delete)] {
        if list.contains(&name) {
            return refuse(format!(
                "CREATE VIEW {name}: the plugin holds {key} on {name}, and a write to a view reaches the tables \
                 its query reads, which that grant does not name; write those tables themselves (remove \
                 {key} = [\"{name}\"])"
            ));
        }
    }
    walk.fields(obj(body)?, &["view", "options"])?;
    Ok(s.replace.then(|| Lock::on(&name, LockMode::AccessExclusive)))
}
