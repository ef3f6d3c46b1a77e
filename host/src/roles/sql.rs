//! `host grants --role-sql OPERATOR_ROLE`: the SQL that creates every
//! plugin's restricted role holding exactly what [`Roles`] says, and what
//! the plan needs to pass under them. Run it as a superuser (or a role with
//! CREATEROLE that owns the objects); `host run --roles` proves the result.

use super::{split, Handoff, PluginRole, Roles};
use crate::quote::{ident, literal, qualified};
use crate::text::terminal;
use std::fmt::Write;

/// The whole script, roles first, then the hand-offs between them.
pub fn role_sql(roles: &Roles, operator_role: &str) -> String {
    let mut out = String::from(
        "-- Restricted roles: under SET ROLE to its role, PostgreSQL alone refuses what a\n\
         -- plugin's grants do not allow. `host run --roles` proves each role holds exactly this.\n",
    );
    for p in &roles.plugins {
        plugin(&mut out, roles, p, operator_role);
    }
    if !roles.handoffs.is_empty() {
        out.push_str(
            "\n-- Tables one plugin creates and a later one uses: the creator's role owns them, so it\n\
             -- hands the later role exactly its grants on them as it creates them.\n",
        );
    }
    for h in &roles.handoffs {
        handoff(&mut out, h);
    }
    for why in &roles.impossible {
        let _ = writeln!(out, "-- NOT POSSIBLE UNDER ROLES: {}", terminal(why));
    }
    out
}

fn plugin(out: &mut String, roles: &Roles, p: &PluginRole, operator_role: &str) {
    let role = ident(&p.role);
    let _ = writeln!(out, "\n-- {}", terminal(&p.label));
    let _ = writeln!(out, "{};", create_role(&p.role));
    let _ = writeln!(out, "GRANT {role} TO {};", ident(operator_role));
    for s in &p.usage {
        let _ = writeln!(out, "GRANT USAGE ON SCHEMA {} TO {role};", ident(s));
    }
    for s in &p.create {
        let tables: Vec<&str> = p.creates.iter().filter(|r| split(r).0 == s).map(String::as_str).collect();
        let _ = writeln!(
            out,
            "GRANT CREATE ON SCHEMA {} TO {role};  -- for: create {}",
            ident(s),
            terminal(&tables.join(", "))
        );
    }
    for rel in p.owns.iter().filter(|r| !p.creates.contains(*r)) {
        let _ = writeln!(
            out,
            "ALTER TABLE {} OWNER TO {role};  -- for: drop {} (only the owner may DROP)",
            qualified(rel),
            terminal(rel)
        );
    }
    // A table another plugin creates does not exist yet: its creator hands
    // these over as it creates it (below).
    for (rel, privileges) in p.tables.iter().filter(|(r, _)| roles.creator_of(r).is_none()) {
        let list: Vec<&str> = privileges.iter().map(|p| p.as_sql()).collect();
        let _ = writeln!(out, "GRANT {} ON TABLE {} TO {role};", list.join(", "), qualified(rel));
    }
    for seq in &p.sequences {
        let _ = writeln!(out, "GRANT USAGE ON SEQUENCE {} TO {role};", qualified(seq));
    }
    if !p.draws.is_empty() {
        draws(out, p);
    }
    for f in &p.functions {
        let _ = writeln!(
            out,
            "-- function {}: GRANT EXECUTE ON ROUTINE {}(<the signature you reviewed>) TO {role};",
            terminal(f),
            qualified(f)
        );
    }
}

/// `CREATE ROLE` with every attribute that matters said, not defaulted.
pub fn create_role(role: &str) -> String {
    format!(
        "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS",
        ident(role)
    )
}

/// `USAGE` on the sequences the inserted tables' column defaults draw from
/// (serial): the manifest names the tables, the catalog their sequences.
/// Identity columns need no grant (PostgreSQL does not check it there).
fn draws(out: &mut String, p: &PluginRole) {
    let tables: Vec<String> = p.draws.iter().map(|r| format!("to_regclass({})", literal(&qualified(r)))).collect();
    let _ = writeln!(
        out,
        "-- the sequences the column defaults of {} draw from (serial): its inserts call nextval\n\
         DO $grant$ DECLARE s text; BEGIN\n  \
         FOR s IN SELECT DISTINCT format('%I.%I', n.nspname, c.relname) FROM pg_attrdef ad\n    \
         JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass\n    \
         JOIN pg_class c ON c.oid = d.refobjid AND c.relkind = 'S' JOIN pg_namespace n ON n.oid = c.relnamespace\n    \
         WHERE ad.adrelid = ANY (ARRAY[{}])\n  \
         LOOP EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', s, {}); END LOOP;\n\
         END $grant$;",
        terminal(&p.draws.iter().cloned().collect::<Vec<_>>().join(", ")),
        tables.join(", ").replace("$grant$", ""),
        literal(&p.role)
    );
}

/// The `ALTER DEFAULT PRIVILEGES` statements of one hand-off.
pub fn handoff_sql(h: &Handoff) -> Vec<String> {
    let mut out = Vec::new();
    let head = format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}", ident(&h.creator), ident(&h.schema));
    let list: Vec<&str> = h.tables.iter().map(|p| p.as_sql()).collect();
    out.push(format!("{head} GRANT {} ON TABLES TO {};", list.join(", "), ident(&h.grantee)));
    if h.sequences {
        out.push(format!("{head} GRANT USAGE ON SEQUENCES TO {};", ident(&h.grantee)));
    }
    out
}

fn handoff(out: &mut String, h: &Handoff) {
    let tables: Vec<&str> = h.for_tables.iter().map(String::as_str).collect();
    let _ = writeln!(out, "-- {} creates {}", h.creator, terminal(&tables.join(", ")));
    for line in handoff_sql(h) {
        let _ = writeln!(out, "{line}");
    }
}
