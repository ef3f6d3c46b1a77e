//! The proof of the wall's roles: the runner logs in, holds nothing beyond
//! PUBLIC's but EXECUTE on `enter`/`leave`, owns nothing and is a member
//! of no role; the admin role holds ADMIN OPTION on the plugins' roles and
//! the writer and owns the wall's objects ([`wall_objects`]), nothing else, and
//! nobody is its member; the writer holds exactly its ledger rows; before
//! the gate, the operator can register a key and every role of the plan
//! can be entered.

use super::catalog::{Catalog, RoleRow};
use super::held::{Held, HeldPrivilege};
use super::wall_objects;
use super::{attributes, member_of, owned, unexpected, Finding, Findings, Scope};
use crate::quote::ident;
use crate::roles::objects::{self, Caller, FUNCTIONS};
use crate::roles::sql::{attributes as role_attributes, writer_grants, WRITER_GRANTS};
use crate::roles::{Roles, ADMIN, WALL_SCHEMA, WRITER};
use std::collections::BTreeMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Error};

/// What the operator's role (`$1`, the control connection's) may do of the
/// wall (looked up in the catalog: `to_regclass` would need USAGE first).
const OPERATOR: &str = "
    SELECT has_schema_privilege(r.oid, n.oid, 'USAGE')
           AND (SELECT count(*) = 2 AND bool_and(has_function_privilege(r.oid, p.oid, 'EXECUTE'))
                FROM pg_proc p WHERE p.pronamespace = n.oid AND p.proname IN ('register', 'unregister')),
           has_schema_privilege(r.oid, n.oid, 'USAGE')
           AND coalesce((SELECT has_table_privilege(r.oid, c.oid, 'SELECT') FROM pg_class c
                         WHERE c.relnamespace = n.oid AND c.relname = 'allowed'), false)
    FROM pg_namespace n, pg_roles r WHERE n.nspname = 'rollout_roles' AND r.rolname = $1";

const ALLOWED: &str = "SELECT role_name::text FROM rollout_roles.allowed";

/// Proves the runner, the admin role, the writer and the wall's objects.
pub async fn prove(
    out: &mut Vec<Finding>,
    client: &Client,
    roles: &Roles,
    catalog: &Catalog,
    held: &BTreeMap<String, Held>,
    scope: Scope<'_>,
) -> Result<(), Error> {
    let empty = Held::default();
    let held_of = |r: &str| held.get(r).unwrap_or(&empty);
    runner(out, roles, catalog, held_of(&roles.runner), scope);
    admin(out, roles, catalog, held_of(ADMIN), scope);
    let ledger = wall_objects::prove(out, client, roles, scope).await?;
    writer(out, catalog, held_of(WRITER), ledger, scope);
    if scope.before_gate {
        operator(out, client, roles, scope).await?;
    }
    Ok(())
}

/// A role of the wall that does not exist: create it (and what follows).
fn absent(out: &mut Vec<Finding>, role: &str, login: bool, mut then: Vec<String>) {
    let mut fix = vec![format!("CREATE ROLE {} {};", ident(role), role_attributes(login))];
    fix.append(&mut then);
    out.push(Finding { role: role.into(), what: "does not exist".into(), fix });
}

/// Attributes, NOINHERIT and no membership: what every wall role shares.
fn shape(f: &mut Findings<'_>, row: &RoleRow, login: bool) {
    attributes(f, row, login);
    if row.inherit {
        f.add("has INHERIT", vec![format!("ALTER ROLE {} NOINHERIT;", ident(f.role))]);
    }
}

fn runner(out: &mut Vec<Finding>, roles: &Roles, catalog: &Catalog, held: &Held, scope: Scope<'_>) {
    let usage = objects::usage(&roles.runner, Caller::Runner);
    let Some(row) = catalog.roles.get(&roles.runner) else {
        return absent(out, &roles.runner, true, usage);
    };
    let mut f = Findings { role: &roles.runner, out };
    shape(&mut f, row, true);
    member_of(&mut f, row);
    let calls: Vec<String> = callable(Caller::Runner);
    unexpected(&mut f, held, |h: &HeldPrivilege| {
        (h.class == "schema" && h.key == WALL_SCHEMA && h.privilege == "USAGE")
            || (h.class == "function" && calls.contains(&h.key))
    });
    owned(&mut f, held, scope, |_| false);
    let lacks = !held.has_direct("schema", WALL_SCHEMA, "USAGE")
        || calls.iter().any(|k| !held.has_direct("function", k, "EXECUTE"));
    if lacks {
        f.add(&format!("cannot call {}", calls.join(" and ")), usage);
    }
}

/// `rollout_roles.name` of the functions `caller` may call.
fn callable(caller: Caller) -> Vec<String> {
    FUNCTIONS.iter().filter(|f| f.caller == caller).map(|f| format!("{WALL_SCHEMA}.{}", f.name)).collect()
}

fn admin(out: &mut Vec<Finding>, roles: &Roles, catalog: &Catalog, held: &Held, scope: Scope<'_>) {
    let Some(row) = catalog.roles.get(ADMIN) else {
        return absent(out, ADMIN, false, Vec::new());
    };
    let mut f = Findings { role: ADMIN, out };
    shape(&mut f, row, false);
    for m in &row.members {
        f.add(
            &format!("has the member {m}, who may act as it"),
            vec![format!("REVOKE {} FROM {};", ident(ADMIN), ident(m))],
        );
    }
    let ours: Vec<&str> = roles.plugins.iter().map(|p| p.role.as_str()).chain([WRITER]).collect();
    for m in &row.member_of {
        // Another plan's role is fine when it is as restricted as ours.
        let restricted = catalog.roles.get(m).is_some_and(|r| {
            !(r.superuser || r.login || r.bypassrls || r.createrole || r.createdb || r.replication)
                && r.member_of.is_empty()
                && !m.starts_with("pg_")
        });
        let fine = row.admin_of.contains(m) && (ours.contains(&m.as_str()) || restricted);
        if !fine {
            f.add(
                &format!("is a member of {m}, which is not a restricted role it only hands out"),
                vec![format!("REVOKE {} FROM {};", ident(m), ident(ADMIN))],
            );
        }
    }
    unexpected(&mut f, held, |_| false);
    owned(&mut f, held, scope, |o| o.schema == WALL_SCHEMA || (o.kind == "schema" && o.identity == WALL_SCHEMA));
}

fn writer(out: &mut Vec<Finding>, catalog: &Catalog, held: &Held, ledger: bool, scope: Scope<'_>) {
    let enterable =
        vec![format!("GRANT {} TO {} WITH ADMIN OPTION;", ident(WRITER), ident(ADMIN)), objects::allow(WRITER)];
    let Some(row) = catalog.roles.get(WRITER) else {
        let mut then = enterable;
        then.extend(writer_grants());
        return absent(out, WRITER, false, then);
    };
    let mut f = Findings { role: WRITER, out };
    shape(&mut f, row, false);
    member_of(&mut f, row);
    if !catalog.roles.get(ADMIN).is_some_and(|a| a.admin_of.iter().any(|r| r == WRITER)) {
        f.add(&format!("cannot be entered: {ADMIN} does not hold ADMIN OPTION on it"), enterable);
    }
    // (class, key, privilege, columns): a column grant is one of WRITER_GRANTS' columns.
    let grant = |h: &HeldPrivilege| {
        WRITER_GRANTS.iter().any(|(kind, name, privilege)| match *kind {
            "column" => {
                let (table, column) = name.rsplit_once('.').unwrap_or((name, ""));
                h.class == "table"
                    && h.key == table
                    && h.privilege == *privilege
                    && !h.direct
                    && h.columns_direct.iter().all(|c| writer_column(table, c, privilege))
                    && h.columns_direct.iter().any(|c| c == column)
            }
            _ => h.class == *kind && h.key == *name && h.privilege == *privilege,
        })
    };
    unexpected(&mut f, held, grant);
    owned(&mut f, held, scope, |_| false);
    if !ledger {
        f.add(
            "has no ledger to write: rollout_ledger does not exist yet",
            vec!["-- host roles apply PLUGIN… (creates the ledger and grants the writer its rows)".into()],
        );
        return;
    }
    let has_all = WRITER_GRANTS.iter().all(|(kind, name, privilege)| match *kind {
        "column" => {
            let (table, column) = name.rsplit_once('.').unwrap_or((name, ""));
            held.privileges.iter().any(|h| {
                h.class == "table"
                    && h.key == table
                    && h.privilege == *privilege
                    && h.columns_direct.iter().any(|c| c == column)
            })
        }
        _ => held.has_direct(kind, name, privilege),
    });
    if !has_all {
        f.add("lacks what the host's ledger rows need", writer_grants());
    }
}

/// Whether `column` of `table` is one WRITER_GRANTS gives `privilege` on.
fn writer_column(table: &str, column: &str, privilege: &str) -> bool {
    let name = format!("{table}.{column}");
    WRITER_GRANTS.iter().any(|(kind, n, p)| *kind == "column" && *n == name && p == &privilege)
}

/// Before the gate: the operator can register its key and read the
/// allow-list, and every role of the plan is on it.
async fn operator(out: &mut Vec<Finding>, client: &Client, roles: &Roles, scope: Scope<'_>) -> Result<(), Error> {
    let mut f = Findings { role: scope.operator, out };
    let who = scope.operator.to_string();
    let rows = client.query_typed(OPERATOR, &[(&who, Type::TEXT)]).await?;
    let (register, read) = match rows.first() {
        Some(r) => (r.try_get::<_, bool>(0)?, r.try_get::<_, bool>(1)?),
        None => (false, false),
    };
    if !register || !read {
        let what = "cannot register a key with rollout_roles.register or read rollout_roles.allowed";
        f.add(what, objects::usage(scope.operator, Caller::Operator));
    }
    if !read {
        return Ok(());
    }
    let listed: Vec<String> =
        client.query_typed(ALLOWED, &[]).await?.iter().filter_map(|r| r.try_get(0).ok()).collect();
    for role in roles.plugins.iter().map(|p| p.role.as_str()).chain([WRITER]) {
        if !listed.iter().any(|l| l == role) {
            let what = format!("role {role} is not in rollout_roles.allowed: rollout_roles.enter refuses it");
            f.add(&what, vec![objects::allow(role)]);
        }
    }
    Ok(())
}
