//! The proof of the wall itself: the runner logs in, holds nothing beyond
//! PUBLIC's but EXECUTE on `enter`/`leave`, owns nothing and is a member
//! of no role; the admin role holds ADMIN OPTION on the plugins' roles and
//! the writer and owns the wall's objects, nothing else, and nobody is its
//! member; the writer holds exactly its ledger rows; the functions are the
//! host's (owner, SECURITY DEFINER, search_path, language, body digest),
//! and they, the key table and the schema are usable by exactly whom they
//! should be; the deferred trigger is in place; before the gate, the
//! operator can register a key and every role of the plan can be entered.

use super::catalog::{Catalog, RoleRow};
use super::held::{Held, HeldPrivilege};
use super::{attributes, member_of, owned, unexpected, Finding, Findings, Scope};
use crate::quote::ident;
use crate::roles::objects::{self, Caller, FUNCTIONS, SEARCH_PATH, TABLE_NAMES, TRIGGER};
use crate::roles::sql::{attributes as role_attributes, writer_grants, WRITER_GRANTS};
use crate::roles::{Roles, ADMIN, WALL_SCHEMA, WRITER};
use std::collections::BTreeMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Error};

/// Every grant of an ACL to another role than its owner (`$acl`, `$owner`):
/// grantees (PUBLIC as an empty name) and privileges, in the same order.
const GRANTS: &str = "
    ARRAY(SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee)::text END
          FROM aclexplode($acl) a WHERE a.grantee <> $owner ORDER BY a.grantee, a.privilege_type),
    ARRAY(SELECT a.privilege_type FROM aclexplode($acl) a WHERE a.grantee <> $owner ORDER BY a.grantee, a.privilege_type)";

/// The wall's schema and relations, each with its owner and every grant to
/// another role (a column's privilege as `PRIVILEGE (column)`).
fn objects_query() -> String {
    let schema =
        GRANTS.replace("$acl", "coalesce(n.nspacl, acldefault('n', n.nspowner))").replace("$owner", "n.nspowner");
    let relation = GRANTS
        .replace(
            "$acl",
            "coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))",
        )
        .replace("$owner", "c.relowner");
    format!(
        "SELECT 'schema', n.nspname::text, pg_get_userbyid(n.nspowner)::text, {schema}
         FROM pg_namespace n WHERE n.nspname = $1
         UNION ALL
         SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'S' THEN 'sequence' ELSE 'relation' END, c.relname::text,
                pg_get_userbyid(c.relowner)::text, {relation}
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind NOT IN ('i', 'I', 't')
         UNION ALL
         SELECT 'column', c.relname::text || '.' || att.attname, '',
                ARRAY[CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee)::text END],
                ARRAY[a.privilege_type || ' (' || quote_ident(att.attname) || ')']
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute att ON att.attrelid = c.oid,
              aclexplode(att.attacl) a
         WHERE n.nspname = $1
         UNION ALL
         SELECT 'ledger', '', '', '{{}}'::text[], '{{}}'::text[]
         WHERE EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'rollout_ledger' AND c.relname = 'tier_event')"
    )
}

/// The wall's functions: signature, owner, how they run, their body's digest.
const FUNCS: &str = "
    SELECT p.proname::text, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
           pg_get_userbyid(p.proowner)::text, p.prosecdef, coalesce(p.proconfig, '{}'), l.lanname::text,
           encode(sha256(convert_to(p.prosrc, 'UTF8')), 'hex'),
           ARRAY(SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee)::text END
                 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee <> p.proowner)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
    WHERE n.nspname = $1";

/// The deferred trigger on the entry table.
const TRIGGERS: &str = "
    SELECT t.tgname::text, t.tgconstraint <> 0 AND t.tgdeferrable AND t.tginitdeferred AND t.tgtype = 5
           AND t.tgenabled = 'O' AND fn.nspname = $1 AND p.proname = $2
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = p.pronamespace
    WHERE n.nspname = $1 AND c.relname = 'entry' AND NOT t.tgisinternal";

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

/// One relation or the schema of the wall, as the catalog has it.
struct Object {
    kind: String,
    owner: String,
    /// (grantee, privilege); PUBLIC as an empty grantee.
    grants: Vec<(String, String)>,
}

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
    let schema = WALL_SCHEMA.to_string();
    let mut objects: BTreeMap<String, Object> = BTreeMap::new();
    for r in client.query_typed(&objects_query(), &[(&schema, Type::TEXT)]).await? {
        let (kind, name): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let grants: Vec<(String, String)> =
            r.try_get::<_, Vec<String>>(3)?.into_iter().zip(r.try_get::<_, Vec<String>>(4)?).collect();
        if kind == "column" {
            // A column's grants count as its table's.
            let table = name.split_once('.').map(|(t, _)| t.to_string()).unwrap_or_default();
            if let Some(o) = objects.get_mut(&table) {
                o.grants.extend(grants);
            }
            continue;
        }
        objects.insert(name, Object { kind, owner: r.try_get(2)?, grants });
    }
    let ledger = objects.remove("").is_some();
    runner(out, roles, catalog, held_of(&roles.runner), scope);
    admin(out, roles, catalog, held_of(ADMIN), scope);
    writer(out, catalog, held_of(WRITER), ledger, scope);
    if !objects.contains_key(WALL_SCHEMA) {
        let fix = vec![format!("-- host roles apply PLUGIN… --runner-role {} (creates the wall)", roles.runner)];
        out.push(Finding { role: ADMIN.into(), what: format!("the wall's schema {WALL_SCHEMA} does not exist"), fix });
        return Ok(());
    }
    let plan: Vec<&str> = roles.plugins.iter().map(|p| p.role.as_str()).chain([WRITER]).collect();
    relations(out, roles, &objects, &plan);
    functions(out, client, roles, &plan).await?;
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&schema, Type::TEXT), (&TRIGGER, Type::TEXT)];
    let triggers = client.query_typed(TRIGGERS, &params).await?;
    let right = triggers.iter().any(|r| r.try_get::<_, bool>(1).unwrap_or(false));
    if !right || triggers.len() != 1 {
        out.push(Finding {
            role: ADMIN.into(),
            what: format!("the deferred trigger {TRIGGER} on {WALL_SCHEMA}.entry is missing, changed or not alone"),
            fix: objects::statements(&roles.runner, scope.operator)
                .into_iter()
                .filter(|s| s.contains("TRIGGER"))
                .collect(),
        });
    }
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

/// The schema and tables: owned by the admin role; USAGE on the schema
/// for the runner and operators, SELECT on the allow-list for operators,
/// and nothing for PUBLIC, a plugin's role or the writer.
fn relations(out: &mut Vec<Finding>, roles: &Roles, objects: &BTreeMap<String, Object>, plan: &[&str]) {
    let mut f = Findings { role: ADMIN, out };
    for (name, o) in objects {
        let quoted = if o.kind == "schema" { ident(name) } else { objects::table(name) };
        let keyword = match o.kind.as_str() {
            "schema" => "SCHEMA",
            "sequence" => "SEQUENCE",
            _ => "TABLE",
        };
        let known = o.kind == "schema" || TABLE_NAMES.contains(&name.as_str()) || name == "key_id_seq";
        if !known {
            f.add(
                &format!("{WALL_SCHEMA} holds {} {name}, which the wall does not define", o.kind),
                vec![format!("DROP {keyword} {quoted};")],
            );
            continue;
        }
        if o.owner != ADMIN {
            f.add(
                &format!("{} {name} is owned by {}", o.kind, o.owner),
                vec![format!("ALTER {keyword} {quoted} OWNER TO {};", ident(ADMIN))],
            );
        }
        for (grantee, privilege) in &o.grants {
            let (grantee, privilege) = (grantee.as_str(), privilege.as_str());
            let outsider = grantee.is_empty() || plan.contains(&grantee);
            let fine = match o.kind.as_str() {
                "schema" => privilege == "USAGE" && !outsider,
                _ => name == "allowed" && privilege == "SELECT" && !outsider && grantee != roles.runner,
            };
            if !fine {
                let to = if grantee.is_empty() { "PUBLIC".to_string() } else { ident(grantee) };
                let who = if grantee.is_empty() { "PUBLIC" } else { grantee };
                f.add(
                    &format!("{who} holds {privilege} on {} {name}", o.kind),
                    vec![format!("REVOKE ALL ON {keyword} {quoted} FROM {to};")],
                );
            }
        }
    }
    for t in TABLE_NAMES.iter().filter(|t| !objects.contains_key(**t)) {
        let fix = vec![format!("-- host roles apply PLUGIN… --runner-role {} (creates the wall)", roles.runner)];
        f.add(&format!("the wall's table {WALL_SCHEMA}.{t} does not exist"), fix);
    }
}

async fn functions(out: &mut Vec<Finding>, client: &Client, roles: &Roles, plan: &[&str]) -> Result<(), Error> {
    let mut f = Findings { role: ADMIN, out };
    let schema = WALL_SCHEMA.to_string();
    let mut seen = Vec::new();
    for r in client.query_typed(FUNCS, &[(&schema, Type::TEXT)]).await? {
        let (name, arguments): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let Some(spec) = FUNCTIONS.iter().find(|s| s.name == name && s.arguments == arguments) else {
            let fix = vec![format!("DROP FUNCTION {}.{}({arguments});", ident(WALL_SCHEMA), ident(&name))];
            f.add(&format!("{WALL_SCHEMA} holds function {name}({arguments}), which the wall does not define"), fix);
            continue;
        };
        seen.push(spec.name);
        let config: Vec<String> = r.try_get(5)?;
        let same = r.try_get::<_, String>(2)? == spec.returns
            && r.try_get::<_, String>(3)? == ADMIN
            && r.try_get::<_, bool>(4)? == spec.definer
            && config == [format!("search_path={SEARCH_PATH}")]
            && r.try_get::<_, String>(6)? == "plpgsql"
            && r.try_get::<_, String>(7)? == spec.digest();
        if !same {
            let fix = vec![spec.create(), format!("ALTER FUNCTION {} OWNER TO {};", spec.qualified(), ident(ADMIN))];
            let what = format!(
                "function {} is not the host's (return type, owner {ADMIN}, {}, search_path {SEARCH_PATH}, plpgsql, body sha256 {})",
                spec.qualified(),
                if spec.definer { "SECURITY DEFINER" } else { "SECURITY INVOKER" },
                spec.digest()
            );
            f.add(&what, fix);
        }
        let grantees: Vec<String> = r.try_get(8)?;
        for grantee in grantees.iter().map(String::as_str) {
            let fine = match spec.caller {
                Caller::Runner => grantee == roles.runner,
                Caller::Operator => !grantee.is_empty() && !plan.contains(&grantee) && grantee != roles.runner,
                Caller::Nobody => false,
            };
            if !fine {
                let to = if grantee.is_empty() { "PUBLIC".to_string() } else { ident(grantee) };
                let who = if grantee.is_empty() { "PUBLIC" } else { grantee };
                f.add(
                    &format!("{who} may call {}", spec.qualified()),
                    vec![format!("REVOKE ALL ON FUNCTION {} FROM {to};", spec.qualified())],
                );
            }
        }
    }
    for spec in FUNCTIONS.iter().filter(|s| !seen.contains(&s.name)) {
        let fix = vec![
            spec.create(),
            format!("ALTER FUNCTION {} OWNER TO {};", spec.qualified(), ident(ADMIN)),
            format!("REVOKE ALL ON FUNCTION {} FROM PUBLIC;", spec.qualified()),
        ];
        f.add(&format!("function {} does not exist", spec.qualified()), fix);
    }
    Ok(())
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
