//! What the catalog says about the plan's roles, the wall's roles and the
//! objects their grants name: read-only queries, one per question, each
//! for every role at once (one round trip each: the proof runs again
//! after every tier). Everything read here is readable by PUBLIC, so the
//! proof runs as the operator before the gate and as the runner inside a
//! tier's transaction alike.

use super::super::{Roles, ADMIN};
use crate::quote::ident;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Error};

/// Schemas the proof looks into: the database's own (not `pg_*`, not
/// `information_schema`, which PUBLIC reads and the checker governs).
pub const USER_SCHEMAS: &str = "SELECT oid, nspname, nspowner, coalesce(nspacl, acldefault('n', nspowner)) AS acl
    FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'";

/// The roles named (`$1`) and every role the admin (`$2`) is a member of.
const ROLES: &str = "
    SELECT r.rolname::text, r.rolsuper, r.rolcanlogin, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
           r.rolinherit,
           ARRAY(SELECT pg_get_userbyid(m.roleid)::text FROM pg_auth_members m WHERE m.member = r.oid ORDER BY 1),
           ARRAY(SELECT pg_get_userbyid(m.roleid)::text FROM pg_auth_members m WHERE m.member = r.oid AND m.admin_option
                 ORDER BY 1),
           ARRAY(SELECT pg_get_userbyid(m.member)::text FROM pg_auth_members m WHERE m.roleid = r.oid ORDER BY 1)
    FROM pg_roles r
    WHERE r.rolname = ANY ($1)
       OR r.oid IN (SELECT m.roleid FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member WHERE a.rolname = $2)";

const RELATIONS: &str = "
    SELECT n.nspname || '.' || c.relname, format('%I.%I', n.nspname, c.relname), pg_get_userbyid(c.relowner)::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname || '.' || c.relname = ANY ($1)";

/// The sequences the column defaults of each table call (serial).
pub const DRAWS: &str = "
    SELECT DISTINCT tn.nspname || '.' || t.relname, n.nspname || '.' || c.relname, format('%I.%I', n.nspname, c.relname)
    FROM pg_attrdef ad
    JOIN pg_class t ON t.oid = ad.adrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
    JOIN pg_class c ON c.oid = d.refobjid AND c.relkind = 'S' JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE tn.nspname || '.' || t.relname = ANY ($1)";

const SCHEMAS: &str = "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY ($1)";

/// Every overload of the functions named, quoted with its signature.
pub const FUNCTIONS: &str = "
    SELECT n.nspname || '.' || p.proname, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname || '.' || p.proname = ANY ($1)";

/// Default privileges set BY one of the roles (`FOR ROLE`, for whatever it
/// creates) or FOR one of them (a grantee), PUBLIC as an empty name.
const DEFAULTS: &str = "
    SELECT pg_get_userbyid(d.defaclrole)::text, coalesce(n.nspname::text, ''), d.defaclobjtype::text,
           CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee)::text END, a.privilege_type
    FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
    WHERE a.grantee <> d.defaclrole
      AND (a.grantee IN (SELECT oid FROM pg_roles WHERE rolname = ANY ($1))
           OR d.defaclrole IN (SELECT oid FROM pg_roles WHERE rolname = ANY ($1)))";

/// What PUBLIC — every role, the runner and each plugin's role among them
/// — holds beyond USAGE on a schema: in the database's own schemas (and
/// on objects made after initdb in `pg_catalog` and `information_schema`,
/// oid ≥ 16384, FirstNormalObjectId) relations and their columns, callable
/// functions, CREATE on a schema or the database; and anywhere, a large
/// object, a foreign-data wrapper or server, a tablespace. (USAGE on a
/// type or a trusted language is PostgreSQL's default for PUBLIC and
/// gives nothing without CREATE in a schema, which this scan refuses.)
fn public_query() -> String {
    format!(
        "WITH ns AS ({USER_SCHEMAS}),
         sys AS (SELECT oid, nspname FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema')),
         everywhere AS (SELECT oid, nspname, false AS made FROM ns UNION ALL SELECT oid, nspname, true FROM sys)
         SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, format('%I.%I', ns.nspname, c.relname),
                a.privilege_type, ''
         FROM pg_class c JOIN everywhere ns ON ns.oid = c.relnamespace, aclexplode(c.relacl) a
         WHERE c.relkind IN ('r','p','v','m','f','S') AND a.grantee = 0 AND (NOT ns.made OR c.oid >= 16384)
         UNION ALL
         SELECT 'column', format('%I.%I', ns.nspname, c.relname), a.privilege_type, quote_ident(att.attname)
         FROM pg_class c JOIN everywhere ns ON ns.oid = c.relnamespace JOIN pg_attribute att ON att.attrelid = c.oid,
              aclexplode(att.attacl) a
         WHERE a.grantee = 0 AND NOT att.attisdropped AND (NOT ns.made OR c.oid >= 16384)
         UNION ALL
         SELECT 'function', format('%I.%I(%s)', ns.nspname, f.proname, pg_get_function_identity_arguments(f.oid)),
                a.privilege_type, ''
         FROM pg_proc f JOIN everywhere ns ON ns.oid = f.pronamespace,
              aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) a
         WHERE a.grantee = 0 AND f.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
           AND (NOT ns.made OR f.oid >= 16384)
         UNION ALL
         SELECT 'schema', quote_ident(ns.nspname), a.privilege_type, ''
         FROM ns, aclexplode(ns.acl) a WHERE a.grantee = 0 AND a.privilege_type <> 'USAGE'
         UNION ALL
         SELECT 'database', quote_ident(d.datname), a.privilege_type, ''
         FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
         WHERE d.datname = current_database() AND a.grantee = 0 AND a.privilege_type = 'CREATE'
         UNION ALL
         SELECT 'large object', m.oid::text, a.privilege_type, ''
         FROM pg_largeobject_metadata m, aclexplode(m.lomacl) a WHERE a.grantee = 0
         UNION ALL
         SELECT 'foreign data wrapper', quote_ident(w.fdwname), a.privilege_type, ''
         FROM pg_foreign_data_wrapper w, aclexplode(w.fdwacl) a WHERE a.grantee = 0
         UNION ALL
         SELECT 'foreign server', quote_ident(s.srvname), a.privilege_type, ''
         FROM pg_foreign_server s, aclexplode(s.srvacl) a WHERE a.grantee = 0
         UNION ALL
         SELECT 'tablespace', quote_ident(t.spcname), a.privilege_type, ''
         FROM pg_tablespace t, aclexplode(t.spcacl) a WHERE a.grantee = 0
         ORDER BY 1, 2, 3, 4"
    )
}

/// What PUBLIC may SET or ALTER SYSTEM (PostgreSQL 15's
/// `pg_parameter_acl`): `GRANT SET ON PARAMETER session_replication_role
/// TO PUBLIC` lets every role switch triggers and rules off.
const PUBLIC_PARAMETERS: &str = "
    SELECT 'parameter', p.parname::text, a.privilege_type, ''
    FROM pg_catalog.pg_parameter_acl p, aclexplode(p.paracl) a WHERE a.grantee = 0 ORDER BY 2, 3";

/// Where `lo_compat_privileges` is on — then every role reads and writes
/// every large object whatever its ACL: the server's value as this
/// session has it (its source), and every `ALTER DATABASE|ROLE … SET` of
/// it to anything but a false boolean (PostgreSQL's parse_bool); and
/// whether this server has `pg_parameter_acl` (15 and later).
const SETTINGS: &str = "
    SELECT 'server' AS kind, '' AS db, '' AS role, s.source::text, s.setting::text
    FROM pg_settings s WHERE s.name = 'lo_compat_privileges' AND s.setting = 'on' AND s.source NOT IN ('database', 'user', 'database user')
    UNION ALL
    SELECT 'set', coalesce(d.datname::text, ''), coalesce(r.rolname::text, ''), '', split_part(cfg, '=', 2)
    FROM pg_db_role_setting x LEFT JOIN pg_database d ON d.oid = x.setdatabase LEFT JOIN pg_roles r ON r.oid = x.setrole,
         unnest(x.setconfig) cfg
    WHERE lower(split_part(cfg, '=', 1)) = 'lo_compat_privileges'
      AND lower(split_part(cfg, '=', 2)) !~ '^(of|off|f|fa|fal|fals|false|n|no|0)$'
    UNION ALL
    SELECT 'parameter acl', '', '', '', (to_regclass('pg_catalog.pg_parameter_acl') IS NOT NULL)::text";

/// Where `lo_compat_privileges` is set on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoCompat {
    /// In the server's configuration (`postgresql.conf`, `ALTER SYSTEM`, a
    /// command-line option): the source pg_settings names.
    Server(String),
    /// `ALTER DATABASE … SET` (db), `ALTER ROLE … SET` (role), or both
    /// (`ALTER ROLE … IN DATABASE …`); empty: every one.
    Set { database: String, role: String },
}

/// A role as the catalog has it.
#[derive(Debug, Clone, Default)]
pub struct RoleRow {
    pub superuser: bool,
    pub login: bool,
    pub bypassrls: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub replication: bool,
    pub inherit: bool,
    pub member_of: Vec<String>,
    /// The roles it holds ADMIN OPTION on.
    pub admin_of: Vec<String>,
    /// The roles that are members of it.
    pub members: Vec<String>,
}

/// A relation a grant names.
#[derive(Debug, Clone)]
pub struct Relation {
    /// Quoted `schema.name`.
    pub name: String,
    pub owner: String,
}

/// One entry of `pg_default_acl` that a role of the proof sets or receives.
#[derive(Debug, Clone)]
pub struct DefaultAcl {
    /// The role whose new objects it applies to (`FOR ROLE`).
    pub owner: String,
    /// Empty: every schema.
    pub schema: String,
    /// `r` tables, `S` sequences, `f` functions, `T` types, `n` schemas.
    pub objtype: String,
    /// Empty: PUBLIC.
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

    /// The grantee as SQL: PUBLIC unquoted, a role quoted.
    fn to(&self) -> String {
        if self.grantee.is_empty() {
            "PUBLIC".into()
        } else {
            ident(&self.grantee)
        }
    }

    /// `FOR ROLE owner IN SCHEMA s ON TABLES TO grantee`, for the reader.
    pub fn describe(&self) -> String {
        let to = if self.grantee.is_empty() { "PUBLIC" } else { &self.grantee };
        format!("FOR ROLE {}{} ON {} TO {to}", self.owner, self.scope(), self.objects())
    }

    /// The statement that takes it back.
    pub fn revoke(&self) -> String {
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {}{} REVOKE {} ON {} FROM {};",
            ident(&self.owner),
            self.scope(),
            self.privilege,
            self.objects(),
            self.to()
        )
    }
}

/// A privilege PUBLIC holds on an object of the database's own schemas.
#[derive(Debug, Clone)]
pub struct PublicGrant {
    /// `table`, `sequence`, `column`, `function`, `schema`, `database`,
    /// `large object`, `foreign data wrapper`, `foreign server`,
    /// `tablespace`, `parameter`.
    pub class: String,
    /// Quoted name (a function with its argument types).
    pub name: String,
    pub privilege: String,
    /// A column's quoted name.
    pub column: String,
}

/// What the catalog says, for the whole plan.
#[derive(Debug, Default)]
pub struct Catalog {
    pub roles: BTreeMap<String, RoleRow>,
    pub relations: BTreeMap<String, Relation>,
    /// Table → the sequences its column defaults draw from.
    pub draws: BTreeMap<String, BTreeSet<String>>,
    pub schemas: BTreeSet<String>,
    /// (`schema.name`, quoted signature) of every overload a grant names.
    pub functions: Vec<(String, String)>,
    pub defaults: Vec<DefaultAcl>,
    pub public: Vec<PublicGrant>,
    /// Every place `lo_compat_privileges` is on.
    pub lo_compat: Vec<LoCompat>,
}

/// A text[] parameter, typed (one round trip: no separate prepare).
#[allow(clippy::ptr_arg)] // a Vec<String> is what binds as text[]
fn texts(v: &Vec<String>) -> [(&(dyn ToSql + Sync), Type); 1] {
    [(v as &(dyn ToSql + Sync), Type::TEXT_ARRAY)]
}

impl Catalog {
    pub async fn read(client: &Client, roles: &Roles) -> Result<Catalog, Error> {
        let mut c = Catalog::default();
        let names = names(roles);
        let admin = ADMIN.to_string();
        let params: [(&(dyn ToSql + Sync), Type); 2] = [(&names, Type::TEXT_ARRAY), (&admin, Type::TEXT)];
        for r in client.query_typed(ROLES, &params).await? {
            let row = RoleRow {
                superuser: r.try_get(1)?,
                login: r.try_get(2)?,
                bypassrls: r.try_get(3)?,
                createrole: r.try_get(4)?,
                createdb: r.try_get(5)?,
                replication: r.try_get(6)?,
                inherit: r.try_get(7)?,
                member_of: r.try_get(8)?,
                admin_of: r.try_get(9)?,
                members: r.try_get(10)?,
            };
            c.roles.insert(r.try_get(0)?, row);
        }
        let mut named: BTreeSet<String> = BTreeSet::new();
        let mut draws: Vec<String> = Vec::new();
        let mut schemas: BTreeSet<String> = BTreeSet::new();
        let mut functions: Vec<String> = Vec::new();
        for p in &roles.plugins {
            named.extend(
                p.tables.keys().chain(p.columns.keys().map(|(r, _)| r)).chain(&p.owns).chain(&p.sequences).cloned(),
            );
            draws.extend(p.draws.iter().cloned());
            schemas.extend(p.usage.iter().chain(&p.create).cloned());
            functions.extend(p.functions.iter().cloned());
        }
        for r in client.query_typed(DRAWS, &texts(&draws)).await? {
            let (table, seq): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            named.insert(seq.clone());
            c.draws.entry(table).or_default().insert(seq);
        }
        let named: Vec<String> = named.into_iter().collect();
        for r in client.query_typed(RELATIONS, &texts(&named)).await? {
            c.relations.insert(r.try_get(0)?, Relation { name: r.try_get(1)?, owner: r.try_get(2)? });
        }
        let schemas: Vec<String> = schemas.into_iter().collect();
        for r in client.query_typed(SCHEMAS, &texts(&schemas)).await? {
            c.schemas.insert(r.try_get(0)?);
        }
        for r in client.query_typed(FUNCTIONS, &texts(&functions)).await? {
            c.functions.push((r.try_get(0)?, r.try_get(1)?));
        }
        for r in client.query_typed(DEFAULTS, &texts(&names)).await? {
            c.defaults.push(DefaultAcl {
                owner: r.try_get(0)?,
                schema: r.try_get(1)?,
                objtype: r.try_get(2)?,
                grantee: r.try_get(3)?,
                privilege: r.try_get(4)?,
            });
        }
        let mut parameters = false;
        for r in client.query_typed(SETTINGS, &[]).await? {
            let (kind, db, role, source, value): (String, String, String, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?);
            match kind.as_str() {
                "server" => c.lo_compat.push(LoCompat::Server(source)),
                "set" => c.lo_compat.push(LoCompat::Set { database: db, role }),
                _ => parameters = value == "true",
            }
        }
        let mut public = client.query_typed(&public_query(), &[]).await?;
        if parameters {
            public.extend(client.query_typed(PUBLIC_PARAMETERS, &[]).await?);
        }
        for r in public {
            c.public.push(PublicGrant {
                class: r.try_get(0)?,
                name: r.try_get(1)?,
                privilege: r.try_get(2)?,
                column: r.try_get(3)?,
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

/// Every role the proof is about: the plugins' and the wall's.
pub fn names(roles: &Roles) -> Vec<String> {
    let wall = roles.wall_roles().map(str::to_string);
    roles.plugins.iter().map(|p| p.role.clone()).chain(wall).collect()
}
