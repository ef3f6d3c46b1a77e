//! What each role of the proof holds, read for all of them at once:
//! every privilege over the database's own schemas (its own grants,
//! PUBLIC's, a column's), what it owns, the grants recorded against it
//! anywhere else, and the databases it reaches.

use super::catalog::USER_SCHEMAS;
use crate::quote::ident;
use std::collections::BTreeMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Error};

/// Every privilege the role has over the user schemas' relations,
/// sequences, schemas and callable functions, and the database, with
/// where it comes from (its own grant, PUBLIC's, a column's).
fn privileges_query() -> String {
    format!(
        "WITH r AS (SELECT oid, rolname::text AS rolname FROM pg_roles WHERE rolname = ANY ($1)),
         ns AS ({USER_SCHEMAS}),
         rel AS (SELECT c.oid, c.relkind, ns.nspname || '.' || c.relname AS key,
                        format('%I.%I', ns.nspname, c.relname) AS name, c.relowner,
                        coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner)) AS acl
                 FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relkind IN ('r','p','v','m','f','S')),
         fn AS (SELECT f.oid, ns.oid AS nsp, ns.nspname || '.' || f.proname AS key,
                       format('%I.%I(%s)', ns.nspname, f.proname, pg_get_function_identity_arguments(f.oid)) AS name,
                       f.proowner, coalesce(f.proacl, acldefault('f', f.proowner)) AS acl
                FROM pg_proc f JOIN ns ON ns.oid = f.pronamespace
                WHERE f.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype))
         SELECT r.rolname, CASE rel.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, rel.key, rel.name, p.priv, rel.relowner = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(rel.acl) a WHERE a.grantee = r.oid AND a.privilege_type = p.priv),
                EXISTS (SELECT 1 FROM aclexplode(rel.acl) a WHERE a.grantee = 0 AND a.privilege_type = p.priv),
                ARRAY(SELECT quote_ident(att.attname) FROM pg_attribute att, aclexplode(att.attacl) a
                      WHERE att.attrelid = rel.oid AND a.grantee = r.oid AND a.privilege_type = p.priv ORDER BY att.attnum),
                ARRAY(SELECT quote_ident(att.attname) FROM pg_attribute att, aclexplode(att.attacl) a
                      WHERE att.attrelid = rel.oid AND a.grantee = 0 AND a.privilege_type = p.priv ORDER BY att.attnum)
         FROM r, rel, unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER','USAGE']) AS p(priv)
         WHERE CASE WHEN rel.relkind = 'S' THEN p.priv IN ('USAGE','SELECT','UPDATE') AND has_sequence_privilege(r.oid, rel.oid, p.priv)
                    WHEN p.priv = 'USAGE' THEN false
                    WHEN p.priv IN ('SELECT','INSERT','UPDATE','REFERENCES') THEN has_any_column_privilege(r.oid, rel.oid, p.priv)
                    ELSE has_table_privilege(r.oid, rel.oid, p.priv) END
         UNION ALL
         SELECT r.rolname, 'schema', ns.nspname::text, quote_ident(ns.nspname), p.priv, ns.nspowner = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(ns.acl) a WHERE a.grantee = r.oid AND a.privilege_type = p.priv),
                EXISTS (SELECT 1 FROM aclexplode(ns.acl) a WHERE a.grantee = 0 AND a.privilege_type = p.priv), '{{}}', '{{}}'
         FROM r, ns, unnest(ARRAY['USAGE','CREATE']) AS p(priv) WHERE has_schema_privilege(r.oid, ns.oid, p.priv)
         UNION ALL
         SELECT r.rolname, 'function', fn.key, fn.name, 'EXECUTE', fn.proowner = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(fn.acl) a WHERE a.grantee = r.oid AND a.privilege_type = 'EXECUTE'),
                EXISTS (SELECT 1 FROM aclexplode(fn.acl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'), '{{}}', '{{}}'
         FROM r, fn WHERE has_function_privilege(r.oid, fn.oid, 'EXECUTE') AND has_schema_privilege(r.oid, fn.nsp, 'USAGE')
         UNION ALL
         SELECT r.rolname, 'database', d.datname::text, quote_ident(d.datname), p.priv, d.datdba = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                        WHERE a.grantee = r.oid AND a.privilege_type = p.priv),
                EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                        WHERE a.grantee = 0 AND a.privilege_type = p.priv), '{{}}', '{{}}'
         FROM r, pg_database d, unnest(ARRAY['CREATE','TEMPORARY']) AS p(priv)
         WHERE d.datname = current_database() AND has_database_privilege(r.oid, d.oid, p.priv)"
    )
}

/// What the role owns, here or shared; its schema and, for a relation, its
/// key (both unquoted, as the manifest spells them: `pg_identify_object`
/// quotes them) and the table a sequence belongs to (serial, identity).
/// Its default privileges are proven apart.
const OWNED: &str = "
    SELECT a.rolname::text, o.type, o.identity,
           coalesce(CASE d.classid
                        WHEN 'pg_class'::regclass THEN (SELECT n.nspname::text FROM pg_class c
                                                        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = d.objid)
                        WHEN 'pg_proc'::regclass THEN (SELECT n.nspname::text FROM pg_proc p
                                                       JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = d.objid)
                        WHEN 'pg_type'::regclass THEN (SELECT n.nspname::text FROM pg_type t
                                                       JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = d.objid)
                    END, o.schema, ''),
           CASE WHEN d.classid = 'pg_class'::regclass THEN
               (SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.oid = d.objid) END,
           (SELECT tn.nspname || '.' || t.relname FROM pg_depend dd
            JOIN pg_class t ON t.oid = dd.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
            WHERE d.classid = 'pg_class'::regclass AND dd.classid = 'pg_class'::regclass AND dd.objid = d.objid
              AND dd.refclassid = 'pg_class'::regclass AND dd.deptype IN ('a', 'i') LIMIT 1)
    FROM pg_shdepend d JOIN pg_roles a ON a.oid = d.refobjid, LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
    WHERE d.refclassid = 'pg_authid'::regclass AND a.rolname = ANY ($1)
      AND d.deptype = 'o' AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND d.classid <> 'pg_default_acl'::regclass";

/// Grants recorded against the role that the privileges query does not
/// cover: objects in system schemas, types, languages, large objects,
/// foreign servers, tablespaces, parameters (default privileges are
/// proven apart).
const OTHER_GRANTS: &str = "
    SELECT a.rolname::text, o.type, o.identity
    FROM pg_shdepend d JOIN pg_roles a ON a.oid = d.refobjid, LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
    WHERE d.refclassid = 'pg_authid'::regclass AND a.rolname = ANY ($1)
      AND d.deptype = 'a' AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND d.classid <> 'pg_default_acl'::regclass
      AND NOT (d.classid = 'pg_database'::regclass AND d.objid = (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND NOT (d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass)
               AND o.schema !~ '^pg_' AND o.schema <> 'information_schema')
      AND NOT (d.classid = 'pg_namespace'::regclass AND o.identity !~ '^pg_' AND o.identity <> 'information_schema')";

/// Databases other than this one where the role owns or is granted something.
const ELSEWHERE: &str = "
    SELECT DISTINCT a.rolname::text, db.datname::text
    FROM pg_shdepend d JOIN pg_database db ON db.oid = d.dbid JOIN pg_roles a ON a.oid = d.refobjid
    WHERE d.refclassid = 'pg_authid'::regclass AND a.rolname = ANY ($1)
      AND db.datname <> current_database()";

/// One privilege the role has (see [`privileges_query`]).
#[derive(Debug, Clone)]
pub struct HeldPrivilege {
    /// `table`, `sequence`, `schema`, `function`, `database`.
    pub class: String,
    /// `schema.name` (a schema's or database's name alone).
    pub key: String,
    /// Quoted, for statements (a function with its argument types).
    pub name: String,
    pub privilege: String,
    pub owned: bool,
    pub direct: bool,
    pub public: bool,
    pub columns_direct: Vec<String>,
    pub columns_public: Vec<String>,
}

/// An object the role owns.
#[derive(Debug, Clone)]
pub struct Owned {
    pub kind: String,
    pub identity: String,
    /// Its schema (empty for a schema itself and shared objects).
    pub schema: String,
    /// A relation's `schema.name`.
    pub key: Option<String>,
    /// The table a sequence belongs to.
    pub table: Option<String>,
}

/// A grant on an object the privileges query does not cover.
#[derive(Debug, Clone)]
pub struct OtherGrant {
    pub kind: String,
    pub identity: String,
}

impl OtherGrant {
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.identity)
    }

    /// `REVOKE ALL ON <kind> <identity> FROM role`, in the kind's syntax.
    pub fn fix(&self, role: &str) -> Vec<String> {
        let role = ident(role);
        let stmt = match self.kind.as_str() {
            "parameter ACL" => format!("REVOKE ALL ON PARAMETER {} FROM {role};", self.identity),
            "function" | "procedure" | "aggregate" => format!("REVOKE ALL ON ROUTINE {} FROM {role};", self.identity),
            "table column" | "view column" => match self.identity.rsplit_once('.') {
                Some((table, column)) => format!("REVOKE ALL ({column}) ON TABLE {table} FROM {role};"),
                None => format!("-- REVOKE what {role} holds on {} {}", self.kind, self.identity),
            },
            "table" | "view" | "materialized view" | "foreign table" => {
                format!("REVOKE ALL ON TABLE {} FROM {role};", self.identity)
            }
            kind => format!("REVOKE ALL ON {} {} FROM {role};", kind.to_uppercase(), self.identity),
        };
        vec![stmt]
    }
}

/// What one existing role holds.
#[derive(Debug, Default)]
pub struct Held {
    pub privileges: Vec<HeldPrivilege>,
    pub owned: Vec<Owned>,
    pub other: Vec<OtherGrant>,
    pub elsewhere: Vec<String>,
}

impl Held {
    /// What each of `roles` holds, in four queries for all of them (the
    /// proof runs again after every tier: a query per role would cost ~50).
    pub async fn read_all(client: &Client, roles: &[String]) -> Result<BTreeMap<String, Held>, Error> {
        let mut all: BTreeMap<String, Held> = roles.iter().map(|r| (r.clone(), Held::default())).collect();
        let names = [(&roles as &(dyn tokio_postgres::types::ToSql + Sync), Type::TEXT_ARRAY)];
        for r in client.query_typed(&privileges_query(), &names).await? {
            let Some(h) = all.get_mut(&r.try_get::<_, String>(0)?) else { continue };
            h.privileges.push(HeldPrivilege {
                class: r.try_get(1)?,
                key: r.try_get(2)?,
                name: r.try_get(3)?,
                privilege: r.try_get(4)?,
                owned: r.try_get(5)?,
                direct: r.try_get(6)?,
                public: r.try_get(7)?,
                columns_direct: r.try_get(8)?,
                columns_public: r.try_get(9)?,
            });
        }
        for r in client.query_typed(OWNED, &names).await? {
            let Some(h) = all.get_mut(&r.try_get::<_, String>(0)?) else { continue };
            h.owned.push(Owned {
                kind: r.try_get(1)?,
                identity: r.try_get(2)?,
                schema: r.try_get(3)?,
                key: r.try_get(4)?,
                table: r.try_get(5)?,
            });
        }
        for r in client.query_typed(OTHER_GRANTS, &names).await? {
            let Some(h) = all.get_mut(&r.try_get::<_, String>(0)?) else { continue };
            h.other.push(OtherGrant { kind: r.try_get(1)?, identity: r.try_get(2)? });
        }
        for r in client.query_typed(ELSEWHERE, &names).await? {
            let Some(h) = all.get_mut(&r.try_get::<_, String>(0)?) else { continue };
            h.elsewhere.push(r.try_get(1)?);
        }
        Ok(all)
    }

    /// Whether `h` comes from PUBLIC alone (its table or column grants).
    pub fn only_public(h: &HeldPrivilege) -> bool {
        !h.direct && h.columns_direct.is_empty() && (h.public || !h.columns_public.is_empty())
    }

    /// Whether it holds `privilege` on `class` `key` by a grant of its own
    /// (to the whole table, or to a column), not only through PUBLIC.
    pub fn has_direct(&self, class: &str, key: &str, privilege: &str) -> bool {
        self.privileges.iter().any(|h| {
            h.class == class
                && h.key == key
                && h.privilege == privilege
                && (h.direct || h.owned || !h.columns_direct.is_empty())
        })
    }
}
