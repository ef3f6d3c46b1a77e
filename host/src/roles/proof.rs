//! The role proof, before the gate and again inside each tier's
//! transaction: every plugin's role exists, the admin role can grant it,
//! it has no dangerous attribute and no membership, and it holds exactly
//! what [`Roles`] says — no more (every privilege PostgreSQL says it has
//! over the database's own schemas, what it owns, the grants recorded
//! against it anywhere, default privileges it sets or receives) and no
//! less (what its grants need on the objects that exist, and the hand-offs
//! of tables another plugin will create); the wall holds ([`wall`]); and
//! PUBLIC, which every role holds, holds nothing beyond USAGE on a schema
//! in the database's own schemas (nor on a large object, a parameter, a
//! foreign-data wrapper or server, a tablespace, an object made after
//! initdb in `pg_catalog`/`information_schema`), and `lo_compat_privileges`
//! is nowhere on. Each problem comes with the SQL that
//! fixes it. Reads only ([`catalog`], [`held`]).

mod catalog;
mod held;
mod public;
mod wall;
mod wall_objects;

pub use catalog::{DRAWS, FUNCTIONS};

use super::sql::{create_plugin_role, handoff_sql};
use super::{objects, PluginRole, Roles, ADMIN};
use crate::quote::ident;
use catalog::{Catalog, RoleRow};
use held::{Held, HeldPrivilege, Owned};
use std::collections::BTreeSet;
use tokio_postgres::Client;

/// The settings the proof runs under inside a tier's transaction: the
/// host's own statement bound (a plugin's may be short), and no JIT: the
/// privileges query's estimate passes `jit_above_cost`, and compiling it
/// took ~230 ms of the ~250 ms it took (measured, PostgreSQL 15).
pub const IN_TRANSACTION: &str = "SET LOCAL statement_timeout = '30s'; SET LOCAL jit = off";

/// The same on a connection of the host's own (the control connection,
/// `host roles`), for its whole session.
pub const ON_CONTROL: &str = "SET jit = off";

/// One thing a role does not hold right, and the statements that fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub role: String,
    pub what: String,
    pub fix: Vec<String>,
}

/// Where the proof runs.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The operator's role (the control connection's session user): the
    /// owner a fix hands objects back to, and who registers the key.
    pub operator: &'a str,
    /// Before the gate, on the control connection: also what the operator
    /// itself needs (calling `register`, reading the allow-list). After a
    /// tier the proof runs as the runner, which reads only the catalog.
    pub before_gate: bool,
}

/// Proves every role of `roles` in the database `client` is connected to.
/// An empty list: they hold exactly their grants and the wall holds.
pub async fn prove(client: &Client, roles: &Roles, scope: Scope<'_>) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let catalog = Catalog::read(client, roles).await?;
    let held = Held::read_all(client, &catalog::names(roles)).await?;
    let empty = Held::default();
    let mut out = Vec::new();
    for p in &roles.plugins {
        plugin(&mut out, p, &catalog, held.get(&p.role).unwrap_or(&empty), scope);
    }
    wall::prove(&mut out, client, roles, &catalog, &held, scope).await?;
    public::prove(&mut out, &catalog);
    defaults(&mut out, roles, &catalog);
    Ok(out)
}

struct Findings<'a> {
    role: &'a str,
    out: &'a mut Vec<Finding>,
}

impl Findings<'_> {
    fn add(&mut self, what: &str, fix: Vec<String>) {
        self.out.push(Finding { role: self.role.to_string(), what: what.to_string(), fix });
    }
}

fn plugin(out: &mut Vec<Finding>, p: &PluginRole, catalog: &Catalog, held: &Held, scope: Scope<'_>) {
    let mut f = Findings { role: &p.role, out };
    let enterable =
        vec![format!("GRANT {} TO {} WITH ADMIN OPTION;", ident(&p.role), ident(ADMIN)), objects::allow(&p.role)];
    let Some(row) = catalog.roles.get(&p.role) else {
        let mut fix = vec![create_plugin_role(&p.role)];
        fix.extend(enterable);
        f.add("does not exist", fix);
        missing(&mut f, p, catalog, held);
        return;
    };
    attributes(&mut f, row, false);
    if !catalog.roles.get(ADMIN).is_some_and(|a| a.admin_of.contains(&p.role)) {
        f.add(&format!("cannot be entered: {ADMIN} does not hold ADMIN OPTION on it"), enterable);
    }
    member_of(&mut f, row);
    if row.superuser {
        // Every privilege follows from it; fix that first, then the
        // proof can say what else it holds.
        return;
    }
    extra(&mut f, p, catalog, held, scope);
    missing(&mut f, p, catalog, held);
}

/// Attributes every role of the wall has: only the runner logs in.
fn attributes(f: &mut Findings<'_>, row: &RoleRow, login: bool) {
    // (what it has that it must not, the clause that takes it away)
    let (wrong_login, right_login) = if login { ("NOLOGIN", "LOGIN") } else { ("LOGIN", "NOLOGIN") };
    for (has, attribute, off) in [
        (row.superuser, "SUPERUSER", "NOSUPERUSER"),
        (row.login != login, wrong_login, right_login),
        (row.bypassrls, "BYPASSRLS", "NOBYPASSRLS"),
        (row.createrole, "CREATEROLE", "NOCREATEROLE"),
        (row.createdb, "CREATEDB", "NOCREATEDB"),
        (row.replication, "REPLICATION", "NOREPLICATION"),
    ] {
        if has {
            f.add(&format!("has {attribute}"), vec![format!("ALTER ROLE {} {off};", ident(f.role))]);
        }
    }
}

/// A member of nothing: a membership would give it another role's
/// privileges (or let the runner become it).
fn member_of(f: &mut Findings<'_>, row: &RoleRow) {
    for m in &row.member_of {
        f.add(
            &format!("is a member of {m}, and may hold its privileges"),
            vec![format!("REVOKE {} FROM {};", ident(m), ident(f.role))],
        );
    }
}

/// Everything the role holds by its own grants (or a membership) that its
/// grants do not name. What it holds only through PUBLIC is said once,
/// for PUBLIC ([`public`]).
fn extra(f: &mut Findings<'_>, p: &PluginRole, catalog: &Catalog, held: &Held, scope: Scope<'_>) {
    let sequences = catalog.sequences_of(p);
    let expected = |h: &HeldPrivilege| match h.class.as_str() {
        "table" => {
            p.tables.get(&h.key).is_some_and(|s| s.iter().any(|x| x.as_sql() == h.privilege))
                || column_grant(p, h)
                    .is_some_and(|cols| !h.direct && h.columns_direct.iter().all(|c| cols.contains(&unquoted(c))))
        }
        "sequence" => h.privilege == "USAGE" && sequences.contains(&h.key),
        "schema" => {
            (h.privilege == "USAGE" && p.usage.contains(&h.key))
                || (h.privilege == "CREATE" && p.create.contains(&h.key))
        }
        "function" => p.functions.contains(&h.key),
        _ => false,
    };
    unexpected(f, held, expected);
    owned(f, held, scope, |o| {
        o.key.as_ref().is_some_and(|k| p.owns.contains(k)) || o.table.as_ref().is_some_and(|t| p.owns.contains(t))
    });
}

/// The columns a column grant of `p` gives for the privilege `h` is of.
fn column_grant<'a>(p: &'a PluginRole, h: &HeldPrivilege) -> Option<&'a Vec<String>> {
    p.columns.iter().find(|((rel, x), _)| *rel == h.key && x.as_sql() == h.privilege).map(|(_, cols)| cols)
}

/// A column's name as `quote_ident` gave it, unquoted.
fn unquoted(c: &str) -> String {
    match c.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => c.to_string(),
    }
}

/// The privileges `held` by a grant of the role's own (or a membership)
/// that `expected` does not allow, each with its REVOKE.
fn unexpected(f: &mut Findings<'_>, held: &Held, expected: impl Fn(&HeldPrivilege) -> bool) {
    let role = ident(f.role);
    for h in &held.privileges {
        if h.owned || Held::only_public(h) || expected(h) {
            continue;
        }
        let on = match h.class.as_str() {
            "function" => "ROUTINE",
            "sequence" => "SEQUENCE",
            "schema" => "SCHEMA",
            "database" => "DATABASE",
            _ => "TABLE",
        };
        let mut fix = Vec::new();
        if h.direct {
            fix.push(format!("REVOKE {} ON {on} {} FROM {role};", h.privilege, h.name));
        }
        if !h.columns_direct.is_empty() {
            let columns = h.columns_direct.join(", ");
            fix.push(format!("REVOKE {} ({columns}) ON TABLE {} FROM {role};", h.privilege, h.name));
        }
        let through = if fix.is_empty() { " (through a membership named above)" } else { "" };
        f.add(&format!("holds {} on {} {}, which its grants do not name{through}", h.privilege, h.class, h.key), fix);
    }
    for a in &held.other {
        f.add(&format!("is granted privileges on {} (recorded in pg_shdepend)", a.describe()), a.fix(f.role));
    }
    for d in &held.elsewhere {
        f.add(
            &format!("holds privileges or objects in database {d}"),
            vec![format!(
                "-- connected to database {}: REASSIGN OWNED BY {role} TO …; DROP OWNED BY {role};",
                ident(d)
            )],
        );
    }
}

/// Every object the role owns that `expected` does not allow, handed back
/// to the operator.
fn owned(f: &mut Findings<'_>, held: &Held, scope: Scope<'_>, expected: impl Fn(&Owned) -> bool) {
    for o in held.owned.iter().filter(|o| !expected(o)) {
        let fix = vec![format!("ALTER {} {} OWNER TO {};", o.kind.to_uppercase(), o.identity, ident(scope.operator))];
        f.add(&format!("owns {} {}, which its grants do not let it create", o.kind, o.identity), fix);
    }
}

/// What its grants need and it does not hold by a grant of its own, on
/// objects that exist (PUBLIC's would be revoked, see [`public`]).
fn missing(f: &mut Findings<'_>, p: &PluginRole, catalog: &Catalog, held: &Held) {
    let role = ident(f.role);
    for s in p.usage.iter().filter(|s| catalog.schemas.contains(*s)) {
        if !held.has_direct("schema", s, "USAGE") {
            let fix = vec![format!("GRANT USAGE ON SCHEMA {} TO {role};", ident(s))];
            f.add(&format!("lacks USAGE on schema {s}"), fix);
        }
    }
    for s in p.create.iter().filter(|s| catalog.schemas.contains(*s)) {
        if !held.has_direct("schema", s, "CREATE") {
            let fix = vec![format!("GRANT CREATE ON SCHEMA {} TO {role};", ident(s))];
            f.add(&format!("lacks CREATE on schema {s}"), fix);
        }
    }
    for (rel, privileges) in &p.tables {
        let Some(r) = catalog.relations.get(rel) else { continue };
        let lacking: Vec<&str> =
            privileges.iter().map(|x| x.as_sql()).filter(|x| !held.has_direct("table", rel, x)).collect();
        if !lacking.is_empty() && r.owner != f.role {
            f.add(
                &format!("lacks {} on {rel}, which its grants name", lacking.join(", ")),
                vec![format!("GRANT {} ON TABLE {} TO {role};", lacking.join(", "), r.name)],
            );
        }
    }
    for ((rel, privilege), cols) in &p.columns {
        let Some(r) = catalog.relations.get(rel) else { continue };
        let have: Vec<String> = held
            .privileges
            .iter()
            .filter(|h| h.class == "table" && h.key == *rel && h.privilege == privilege.as_sql())
            .flat_map(|h| h.columns_direct.iter().map(|c| unquoted(c)))
            .collect();
        let lacking: Vec<String> = cols.iter().filter(|c| !have.contains(c)).map(|c| ident(c)).collect();
        if !lacking.is_empty() && r.owner != f.role {
            f.add(
                &format!(
                    "lacks {} on columns {} of {rel}, which its grants name",
                    privilege.as_sql(),
                    lacking.join(", ")
                ),
                vec![format!("GRANT {} ({}) ON TABLE {} TO {role};", privilege.as_sql(), lacking.join(", "), r.name)],
            );
        }
    }
    for rel in &p.owns {
        let Some(r) = catalog.relations.get(rel) else { continue };
        if r.owner != f.role {
            f.add(
                &format!("does not own {rel} (owner {}): it creates or drops it, and only the owner may DROP", r.owner),
                vec![format!("ALTER TABLE {} OWNER TO {role};", r.name)],
            );
        }
    }
    for seq in catalog.sequences_of(p) {
        let Some(r) = catalog.relations.get(&seq) else { continue };
        if r.owner != f.role && !held.has_direct("sequence", &seq, "USAGE") {
            f.add(
                &format!("lacks USAGE on sequence {seq}, which its inserts draw from"),
                vec![format!("GRANT USAGE ON SEQUENCE {} TO {role};", r.name)],
            );
        }
    }
    for func in &p.functions {
        let overloads: Vec<&String> = catalog.functions.iter().filter(|(k, _)| k == func).map(|(_, n)| n).collect();
        if !overloads.is_empty() && !held.has_direct("function", func, "EXECUTE") {
            let fix = overloads.iter().map(|n| format!("GRANT EXECUTE ON ROUTINE {n} TO {role};")).collect();
            f.add(&format!("cannot call {func}, which its grants name"), fix);
        }
    }
}

/// Default privileges: every hand-off in place as the creator's, whether
/// or not the table exists now (a rollback, then a new run); and none
/// else set BY a role of the proof (its created objects would go to
/// PUBLIC or another role) or FOR one (what another role creates would
/// reach it).
fn defaults(out: &mut Vec<Finding>, roles: &Roles, catalog: &Catalog) {
    for h in &roles.handoffs {
        let have: BTreeSet<(String, String)> = catalog
            .defaults
            .iter()
            .filter(|d| d.owner == h.creator && d.schema == h.schema && d.grantee == h.grantee)
            .map(|d| (d.objtype.clone(), d.privilege.clone()))
            .collect();
        let mut want: Vec<(String, String)> = h.tables.iter().map(|p| ("r".into(), p.as_sql().into())).collect();
        if h.sequences {
            want.push(("S".into(), "USAGE".into()));
        }
        if want.iter().any(|w| !have.contains(w)) {
            out.push(Finding {
                role: h.grantee.clone(),
                what: format!(
                    "is not handed its grants on what {} creates in {} (default privileges)",
                    h.creator, h.schema
                ),
                fix: handoff_sql(h),
            });
        }
    }
    let ours = catalog::names(roles);
    for d in &catalog.defaults {
        let wanted = roles.handoffs.iter().any(|h| {
            h.creator == d.owner
                && h.schema == d.schema
                && h.grantee == d.grantee
                && ((d.objtype == "r" && h.tables.iter().any(|p| p.as_sql() == d.privilege))
                    || (d.objtype == "S" && h.sequences && d.privilege == "USAGE"))
        });
        if wanted {
            continue;
        }
        let (role, what) = if ours.contains(&d.owner) {
            (
                d.owner.clone(),
                format!("sets default privileges {}: {} on every such object it creates", d.describe(), d.privilege),
            )
        } else {
            (d.grantee.clone(), format!("is given {} by default privileges {}", d.privilege, d.describe()))
        };
        out.push(Finding { role, what, fix: vec![d.revoke()] });
    }
}

/// The operator's message: every problem, then the fix as one script.
pub fn message(findings: &[Finding]) -> (Vec<String>, Vec<String>) {
    let problems = findings.iter().map(|f| format!("{}: {}", f.role, f.what)).collect();
    let mut fix: Vec<String> = Vec::new();
    for s in findings.iter().flat_map(|f| &f.fix) {
        if !fix.contains(s) {
            fix.push(s.clone());
        }
    }
    (problems, fix)
}
