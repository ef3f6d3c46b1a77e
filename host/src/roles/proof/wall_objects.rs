//! The proof of the wall's objects: schema `rollout_roles` and its tables
//! owned by the admin role and usable by exactly whom they should be (the
//! key table by nobody else); its functions the host's (signature, owner,
//! SECURITY DEFINER, search_path, language, body digest), callable by
//! exactly their callers; the deferred trigger in place.

use super::{Finding, Findings, Scope};
use crate::quote::ident;
use crate::roles::objects::{self, Caller, FUNCTIONS, SEARCH_PATH, TABLE_NAMES, TRIGGER};
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

/// One relation or the schema of the wall, as the catalog has it.
struct Object {
    kind: String,
    owner: String,
    /// (grantee, privilege); PUBLIC as an empty grantee.
    grants: Vec<(String, String)>,
}

/// Proves the wall's objects; returns whether the ledger exists (the
/// writer's grants need it).
pub async fn prove(out: &mut Vec<Finding>, client: &Client, roles: &Roles, scope: Scope<'_>) -> Result<bool, Error> {
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
    if !objects.contains_key(WALL_SCHEMA) {
        let fix = vec![APPLY.to_string()];
        out.push(Finding { role: ADMIN.into(), what: format!("the wall's schema {WALL_SCHEMA} does not exist"), fix });
        return Ok(ledger);
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
    Ok(ledger)
}

/// The fix for what only a new apply puts back.
const APPLY: &str = "-- host roles apply PLUGIN… (creates the wall's objects again as the host defines them)";

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
        f.add(&format!("the wall's table {WALL_SCHEMA}.{t} does not exist"), vec![APPLY.to_string()]);
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
