//! Before the gate, under roles: every plugin's role exists, the session
//! user can SET ROLE to it, it has no dangerous attribute and no
//! membership, and it holds exactly what [`Roles`] says — no more (every
//! privilege PostgreSQL says it has over the database's own schemas, what it
//! owns, the grants recorded against it anywhere, default privileges that
//! name it) and no less (what its grants need on the objects that exist,
//! and the hand-offs of tables another plugin will create). Each problem
//! comes with the SQL that fixes it. Reads only ([`catalog`]).

mod catalog;

use super::sql::{create_role, handoff_sql};
use super::Roles;
use crate::quote::ident;
use catalog::{Catalog, Held, RoleRow};
use std::collections::BTreeSet;
use tokio_postgres::Client;

/// One thing a role does not hold right, and the statements that fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub role: String,
    pub what: String,
    pub fix: Vec<String>,
}

/// Proves every role of `roles` in the database `client` is connected to.
/// An empty list: they hold exactly their grants.
pub async fn prove(client: &Client, roles: &Roles) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let catalog = Catalog::read(client, roles).await?;
    let mut out = Vec::new();
    for p in &roles.plugins {
        let mut f = Findings { role: &p.role, out: &mut out };
        let Some(row) = catalog.roles.get(&p.role) else {
            f.add("does not exist", vec![format!("{};", create_role(&p.role))]);
            f.add(
                &format!("the session user {} must be able to SET ROLE to it", catalog.session_user),
                vec![format!("GRANT {} TO {};", ident(&p.role), ident(&catalog.session_user))],
            );
            missing(&mut f, p, &catalog, &Held::default());
            continue;
        };
        attributes(&mut f, row);
        if !row.can_set {
            f.add(
                &format!("the session user {} cannot SET ROLE to it", catalog.session_user),
                vec![format!("GRANT {} TO {};", ident(&p.role), ident(&catalog.session_user))],
            );
        }
        for m in &row.member_of {
            f.add(
                &format!("is a member of {m}, and may hold its privileges"),
                vec![format!("REVOKE {} FROM {};", ident(m), ident(&p.role))],
            );
        }
        if row.superuser {
            // Every privilege follows from it; fix that first, then the
            // proof can say what else it holds.
            continue;
        }
        let held = Held::read(client, &p.role).await?;
        extra(&mut f, p, &catalog, &held);
        missing(&mut f, p, &catalog, &held);
    }
    handoffs(&mut out, roles, &catalog);
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

fn attributes(f: &mut Findings<'_>, row: &RoleRow) {
    for (has, attribute, off) in [
        (row.superuser, "SUPERUSER", "NOSUPERUSER"),
        (row.login, "LOGIN", "NOLOGIN"),
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

/// Everything the role holds that its grants do not name.
fn extra(f: &mut Findings<'_>, p: &super::PluginRole, catalog: &Catalog, held: &Held) {
    let role = ident(f.role);
    let sequences = catalog.sequences_of(p);
    for h in &held.privileges {
        if h.owned {
            continue; // ownership is proven on its own, below
        }
        let expected = match h.class.as_str() {
            "table" => p.tables.get(&h.key).is_some_and(|s| s.iter().any(|x| x.as_sql() == h.privilege)),
            "sequence" => h.privilege == "USAGE" && sequences.contains(&h.key),
            "schema" => {
                (h.privilege == "USAGE" && (p.usage.contains(&h.key) || (h.public && !h.direct)))
                    || (h.privilege == "CREATE" && p.create.contains(&h.key))
            }
            "function" => p.functions.contains(&h.key),
            // TEMPORARY from PUBLIC: temporary tables hold no one else's data.
            "database" => h.privilege == "TEMPORARY" && h.public && !h.direct,
            _ => false,
        };
        if expected {
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
        if h.public {
            fix.push(format!("REVOKE {} ON {on} {} FROM PUBLIC;", h.privilege, h.name));
        }
        if !h.columns_direct.is_empty() {
            fix.push(format!(
                "REVOKE {} ({}) ON TABLE {} FROM {role};",
                h.privilege,
                h.columns_direct.join(", "),
                h.name
            ));
        }
        if !h.columns_public.is_empty() {
            fix.push(format!(
                "REVOKE {} ({}) ON TABLE {} FROM PUBLIC;",
                h.privilege,
                h.columns_public.join(", "),
                h.name
            ));
        }
        let through = if fix.is_empty() { " (through a membership named above)" } else { "" };
        f.add(&format!("holds {} on {} {}, which its grants do not name{through}", h.privilege, h.class, h.key), fix);
    }
    for o in &held.owned {
        let expected =
            o.key.as_ref().is_some_and(|k| p.owns.contains(k)) || o.table.as_ref().is_some_and(|t| p.owns.contains(t));
        if !expected {
            let fix = vec![format!(
                "ALTER {} {} OWNER TO {};",
                o.kind.to_uppercase(),
                o.identity,
                ident(&catalog.session_user)
            )];
            f.add(&format!("owns {} {}, which its grants do not let it create", o.kind, o.identity), fix);
        }
    }
    for a in &held.other {
        f.add(&format!("is granted privileges on {} (recorded in pg_shdepend)", a.describe()), a.fix(f.role));
    }
    for d in &held.elsewhere {
        f.add(
            &format!("holds privileges or objects in database {d}"),
            vec![format!(
                "-- connected to database {}: REASSIGN OWNED BY {role} TO {}; DROP OWNED BY {role};",
                ident(d),
                ident(&catalog.session_user)
            )],
        );
    }
}

/// What its grants need and it does not hold, on objects that exist.
fn missing(f: &mut Findings<'_>, p: &super::PluginRole, catalog: &Catalog, held: &Held) {
    let role = ident(f.role);
    let has = |class: &str, key: &str, privilege: &str| {
        held.privileges.iter().any(|h| h.class == class && h.key == key && h.privilege == privilege)
    };
    for s in p.usage.iter().filter(|s| catalog.schemas.contains(*s)) {
        if !has("schema", s, "USAGE") {
            f.add(
                &format!("lacks USAGE on schema {s}"),
                vec![format!("GRANT USAGE ON SCHEMA {} TO {role};", ident(s))],
            );
        }
    }
    for s in p.create.iter().filter(|s| catalog.schemas.contains(*s)) {
        if !has("schema", s, "CREATE") {
            f.add(
                &format!("lacks CREATE on schema {s}"),
                vec![format!("GRANT CREATE ON SCHEMA {} TO {role};", ident(s))],
            );
        }
    }
    for (rel, privileges) in &p.tables {
        let Some(r) = catalog.relations.get(rel) else { continue };
        let lacking: Vec<&str> = privileges.iter().map(|x| x.as_sql()).filter(|x| !has("table", rel, x)).collect();
        if !lacking.is_empty() && r.owner != f.role {
            f.add(
                &format!("lacks {} on {rel}, which its grants name", lacking.join(", ")),
                vec![format!("GRANT {} ON TABLE {} TO {role};", lacking.join(", "), r.name)],
            );
        }
    }
    for rel in &p.owns {
        if let Some(r) = catalog.relations.get(rel) {
            if r.owner != f.role {
                f.add(
                    &format!(
                        "does not own {rel} (owner {}): it creates or drops it, and only the owner may DROP",
                        r.owner
                    ),
                    vec![format!("ALTER TABLE {} OWNER TO {role};", r.name)],
                );
            }
        }
    }
    for seq in catalog.sequences_of(p) {
        let Some(r) = catalog.relations.get(&seq) else { continue };
        if r.owner != f.role && !has("sequence", &seq, "USAGE") {
            f.add(
                &format!("lacks USAGE on sequence {seq}, which its inserts draw from"),
                vec![format!("GRANT USAGE ON SEQUENCE {} TO {role};", r.name)],
            );
        }
    }
    for func in &p.functions {
        let overloads: Vec<&String> = catalog.functions.iter().filter(|(k, _)| k == func).map(|(_, n)| n).collect();
        if !overloads.is_empty() && !has("function", func, "EXECUTE") {
            let fix = overloads.iter().map(|n| format!("GRANT EXECUTE ON ROUTINE {n} TO {role};")).collect();
            f.add(&format!("cannot call {func}, which its grants name"), fix);
        }
    }
}

/// Every hand-off must be in place as default privileges of the creator's
/// role, whether or not the table exists now (a rollback, then a new run).
fn handoffs(out: &mut Vec<Finding>, roles: &Roles, catalog: &Catalog) {
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
    // Default privileges naming a plan role that no hand-off asks for.
    for d in &catalog.defaults {
        let wanted = roles.handoffs.iter().any(|h| {
            h.creator == d.owner
                && h.schema == d.schema
                && h.grantee == d.grantee
                && ((d.objtype == "r" && h.tables.iter().any(|p| p.as_sql() == d.privilege))
                    || (d.objtype == "S" && h.sequences && d.privilege == "USAGE"))
        });
        if !wanted {
            out.push(Finding {
                role: d.grantee.clone(),
                what: format!("is given {} by default privileges {}", d.privilege, d.describe()),
                fix: vec![d.revoke()],
            });
        }
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
