//! What the catalog says about the plan's roles and the objects their
//! grants name: read-only queries, one per question.

use super::super::Roles;
use crate::quote::ident;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::{Client, Error};

/// Schemas the proof looks into: the database's own (not `pg_*`, not
/// `information_schema`, which PUBLIC reads and the checker governs).
const USER_SCHEMAS: &str = "SELECT oid, nspname, nspowner, coalesce(nspacl, acldefault('n', nspowner)) AS acl
    FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'";

const WHO: &str = "SELECT session_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)";

const ROLES: &str = "
    SELECT r.rolname::text, r.rolsuper, r.rolcanlogin, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
           pg_has_role(session_user, r.oid, CASE WHEN current_setting('server_version_num')::int >= 160000
                                                 THEN 'SET' ELSE 'MEMBER' END),
           ARRAY(SELECT pg_get_userbyid(m.roleid)::text FROM pg_auth_members m WHERE m.member = r.oid ORDER BY 1)
    FROM pg_roles r WHERE r.rolname = ANY ($1)";

const RELATIONS: &str = "
    SELECT n.nspname || '.' || c.relname, format('%I.%I', n.nspname, c.relname), pg_get_userbyid(c.relowner)::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname || '.' || c.relname = ANY ($1)";

/// The sequences the column defaults of each table call (serial).
const DRAWS: &str = "
    SELECT DISTINCT tn.nspname || '.' || t.relname, n.nspname || '.' || c.relname
    FROM pg_attrdef ad
    JOIN pg_class t ON t.oid = ad.adrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
    JOIN pg_class c ON c.oid = d.refobjid AND c.relkind = 'S' JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE tn.nspname || '.' || t.relname = ANY ($1)";

const SCHEMAS: &str = "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY ($1)";

const FUNCTIONS: &str = "
    SELECT n.nspname || '.' || p.proname, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname || '.' || p.proname = ANY ($1)";

const DEFAULTS: &str = "
    SELECT pg_get_userbyid(d.defaclrole)::text, coalesce(n.nspname::text, ''), d.defaclobjtype::text,
           pg_get_userbyid(a.grantee)::text, a.privilege_type
    FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
    WHERE a.grantee <> d.defaclrole AND a.grantee IN (SELECT oid FROM pg_roles WHERE rolname = ANY ($1))";

/// Every privilege the role has over the user schemas' relations,
/// sequences, schemas and callable functions, and the database, with
/// where it comes from (its own grant, PUBLIC's, a column's).
fn privileges_query() -> String {
    format!(
        "WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1),
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
         SELECT CASE rel.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, rel.key, rel.name, p.priv, rel.relowner = r.oid,
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
         SELECT 'schema', ns.nspname::text, quote_ident(ns.nspname), p.priv, ns.nspowner = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(ns.acl) a WHERE a.grantee = r.oid AND a.privilege_type = p.priv),
                EXISTS (SELECT 1 FROM aclexplode(ns.acl) a WHERE a.grantee = 0 AND a.privilege_type = p.priv), '{{}}', '{{}}'
         FROM r, ns, unnest(ARRAY['USAGE','CREATE']) AS p(priv) WHERE has_schema_privilege(r.oid, ns.oid, p.priv)
         UNION ALL
         SELECT 'function', fn.key, fn.name, 'EXECUTE', fn.proowner = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(fn.acl) a WHERE a.grantee = r.oid AND a.privilege_type = 'EXECUTE'),
                EXISTS (SELECT 1 FROM aclexplode(fn.acl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'), '{{}}', '{{}}'
         FROM r, fn WHERE has_function_privilege(r.oid, fn.oid, 'EXECUTE') AND has_schema_privilege(r.oid, fn.nsp, 'USAGE')
         UNION ALL
         SELECT 'database', d.datname::text, quote_ident(d.datname), p.priv, d.datdba = r.oid,
                EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                        WHERE a.grantee = r.oid AND a.privilege_type = p.priv),
                EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                        WHERE a.grantee = 0 AND a.privilege_type = p.priv), '{{}}', '{{}}'
         FROM r, pg_database d, unnest(ARRAY['CREATE','TEMPORARY']) AS p(priv)
         WHERE d.datname = current_database() AND has_database_privilege(r.oid, d.oid, p.priv)"
    )
}

/// What the role owns, here or shared; for a relation, its key and the
/// table a sequence belongs to (serial, identity). Its default privileges
/// are proven apart.
const OWNED: &str = "
    SELECT o.type, o.identity,
           CASE WHEN d.classid = 'pg_class'::regclass THEN o.schema || '.' || o.name END,
           (SELECT tn.nspname || '.' || t.relname FROM pg_depend dd
            JOIN pg_class t ON t.oid = dd.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
            WHERE d.classid = 'pg_class'::regclass AND dd.classid = 'pg_class'::regclass AND dd.objid = d.objid
              AND dd.refclassid = 'pg_class'::regclass AND dd.deptype IN ('a', 'i') LIMIT 1)
    FROM pg_shdepend d, LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
    WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
      AND d.deptype = 'o' AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND d.classid <> 'pg_default_acl'::regclass";

/// Grants recorded against the role that the privileges query does not
/// cover: objects in system schemas, types, languages, large objects,
/// foreign servers, tablespaces, parameters (default privileges are
/// proven apart).
const OTHER_GRANTS: &str = "
    SELECT o.type, o.identity
    FROM pg_shdepend d, LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
    WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
      AND d.deptype = 'a' AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND d.classid <> 'pg_default_acl'::regclass
      AND NOT (d.classid = 'pg_database'::regclass AND d.objid = (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND NOT (d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass)
               AND o.schema !~ '^pg_' AND o.schema <> 'information_schema')
      AND NOT (d.classid = 'pg_namespace'::regclass AND o.identity !~ '^pg_' AND o.identity <> 'information_schema')";

/// Databases other than this one where the role owns or is granted something.
const ELSEWHERE: &str = "
    SELECT DISTINCT db.datname::text FROM pg_shdepend d JOIN pg_database db ON db.oid = d.dbid
    WHERE d.refclassid = 'pg_authid'::regclass AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
      AND db.datname <> current_database()";

/// A plan role as the catalog has it.
#[derive(Debug, Clone, Default)]
pub struct RoleRow {
    pub superuser: bool,
    pub login: bool,
    pub bypassrls: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub replication: bool,
    /// The session user may SET ROLE to it.
    pub can_set: bool,
    pub member_of: Vec<String>,
}

/// A relation a grant names.
#[derive(Debug, Clone)]
pub struct Relation {
    /// Quoted `schema.name`.
    pub name: String,
    pub owner: String,
}

/// A default privilege that names a plan role as grantee.
#[derive(Debug, Clone)]
pub struct DefaultAcl {
    pub owner: String,
    /// Empty: every schema.
    pub schema: String,
    /// `r` tables, `S` sequences, `f` functions, `T` types, `n` schemas.
    pub objtype: String,
    pub grantee: String,
    pub privilege: String,
}

impl DefaultAcl {
    fn objects(&self) -> &'static str {
        match self.objtype.as_str() {
            "r" => "TABLES",
            "S" => "SEQUENCES",
            "f" => "FUNCTIONS",
            "T" => "TYPES",
            _ => "SCHEMAS",
        }
    }

    fn scope(&self) -> String {
        match self.schema.as_str() {
            "" => String::new(),
            s => format!(" IN SCHEMA {}", ident(s)),
        }
    }

    /// `FOR ROLE owner IN SCHEMA s ON TABLES`, for the reader.
    pub fn describe(&self) -> String {
        format!("FOR ROLE {}{} ON {}", self.owner, self.scope(), self.objects())
    }

    /// The statement that takes it back.
    pub fn revoke(&self) -> String {
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE {} ON {} FROM {};",
            ident(&self.owner),
            self.scope(),
            self.privilege,
            self.objects(),
            ident(&self.grantee)
        )
    }
}

/// What the catalog says, for the whole plan.
#[derive(Debug, Default)]
pub struct Catalog {
    pub session_user: String,
    pub roles: BTreeMap<String, RoleRow>,
    pub relations: BTreeMap<String, Relation>,
    /// Table → the sequences its column defaults draw from.
    pub draws: BTreeMap<String, BTreeSet<String>>,
    pub schemas: BTreeSet<String>,
    /// (`schema.name`, quoted signature) of every overload a grant names.
    pub functions: Vec<(String, String)>,
    pub defaults: Vec<DefaultAcl>,
}

impl Catalog {
    pub async fn read(client: &Client, roles: &Roles) -> Result<Catalog, Error> {
        let mut c = Catalog::default();
        let who = client.query_one(WHO, &[]).await?;
        c.session_user = who.try_get(0)?;
        let session_super: bool = who.try_get::<_, Option<bool>>(1)?.unwrap_or(false);
        let names: Vec<String> = roles.plugins.iter().map(|p| p.role.clone()).collect();
        for r in client.query(ROLES, &[&names]).await? {
            let row = RoleRow {
                superuser: r.try_get(1)?,
                login: r.try_get(2)?,
                bypassrls: r.try_get(3)?,
                createrole: r.try_get(4)?,
                createdb: r.try_get(5)?,
                replication: r.try_get(6)?,
                can_set: session_super || r.try_get::<_, bool>(7)?,
                member_of: r.try_get(8)?,
            };
            c.roles.insert(r.try_get(0)?, row);
        }
        let mut named: BTreeSet<String> = BTreeSet::new();
        let mut draws: Vec<String> = Vec::new();
        let mut schemas: BTreeSet<String> = BTreeSet::new();
        let mut functions: Vec<String> = Vec::new();
        for p in &roles.plugins {
            named.extend(p.tables.keys().chain(&p.owns).chain(&p.sequences).cloned());
            draws.extend(p.draws.iter().cloned());
            schemas.extend(p.usage.iter().chain(&p.create).cloned());
            functions.extend(p.functions.iter().cloned());
        }
        for r in client.query(DRAWS, &[&draws]).await? {
            let (table, seq): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            named.insert(seq.clone());
            c.draws.entry(table).or_default().insert(seq);
        }
        let named: Vec<String> = named.into_iter().collect();
        for r in client.query(RELATIONS, &[&named]).await? {
            c.relations.insert(r.try_get(0)?, Relation { name: r.try_get(1)?, owner: r.try_get(2)? });
        }
        let schemas: Vec<String> = schemas.into_iter().collect();
        for r in client.query(SCHEMAS, &[&schemas]).await? {
            c.schemas.insert(r.try_get(0)?);
        }
        for r in client.query(FUNCTIONS, &[&functions]).await? {
            c.functions.push((r.try_get(0)?, r.try_get(1)?));
        }
        for r in client.query(DEFAULTS, &[&names]).await? {
            c.defaults.push(DefaultAcl {
                owner: r.try_get(0)?,
                schema: r.try_get(1)?,
                objtype: r.try_get(2)?,
                grantee: r.try_get(3)?,
                privilege: r.try_get(4)?,
            });
        }
        Ok(c)
    }

    /// The sequences `p`'s role needs USAGE on: its manifest's, and those
    /// the tables it inserts into draw from.
    pub fn sequences_of(&self, p: &super::super::PluginRole) -> BTreeSet<String> {
        let drawn = p.draws.iter().filter_map(|t| self.draws.get(t)).flatten();
        p.sequences.iter().chain(drawn).cloned().collect()
    }
}

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
    pub async fn read(client: &Client, role: &str) -> Result<Held, Error> {
        let mut h = Held::default();
        for r in client.query(&privileges_query(), &[&role]).await? {
            h.privileges.push(HeldPrivilege {
                class: r.try_get(0)?,
                key: r.try_get(1)?,
                name: r.try_get(2)?,
                privilege: r.try_get(3)?,
                owned: r.try_get(4)?,
                direct: r.try_get(5)?,
                public: r.try_get(6)?,
                columns_direct: r.try_get(7)?,
                columns_public: r.try_get(8)?,
            });
        }
        for r in client.query(OWNED, &[&role]).await? {
            h.owned.push(Owned {
                kind: r.try_get(0)?,
                identity: r.try_get(1)?,
                key: r.try_get(2)?,
                table: r.try_get(3)?,
            });
        }
        for r in client.query(OTHER_GRANTS, &[&role]).await? {
            h.other.push(OtherGrant { kind: r.try_get(0)?, identity: r.try_get(1)? });
        }
        for r in client.query(ELSEWHERE, &[&role]).await? {
            h.elsewhere.push(r.try_get(0)?);
        }
        Ok(h)
    }
}
