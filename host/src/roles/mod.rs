//! PostgreSQL as the second wall: each plugin runs as a restricted role of
//! its own that holds exactly what its grants say, so that a statement the
//! grants checker lets through by mistake is still refused by the server.
//!
//! [`Roles`] is the one model of what each role must hold, derived from the
//! manifests of a plan: `host grants --role-sql` prints it as SQL
//! ([`sql`]), `host roles apply` runs it ([`apply`]), and before the gate
//! and after each tier the host proves the roles in the database hold
//! exactly that ([`proof`]).
//!
//! The wall ([`wall`], [`objects`]): under roles the plugins' session is
//! authenticated as the runner, a login role that holds nothing and is a
//! member of no role, so a function that switches role (`SET ROLE`,
//! `RESET ROLE`, `SET SESSION AUTHORIZATION DEFAULT`) can reach nothing.
//! For one plugin call at a time, inside the host's own transaction, the
//! runner is made a member of that plugin's role alone and switches to it;
//! the membership is taken back before the host's next statement and is
//! never committed.

pub mod apply;
pub mod objects;
pub mod proof;
pub mod sql;
pub mod wall;

use crate::manifest::Manifest;
use crate::plan::Plugin;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The longest name PostgreSQL keeps whole (NAMEDATALEN - 1): a longer
/// one is cut silently, and two plugins could end up as one role, or a
/// grant land on another relation than the manifest names.
const MAX_NAME: usize = 63;

/// The schema of the wall's own objects ([`objects`]).
pub const WALL_SCHEMA: &str = "rollout_roles";

/// The role that owns the wall's objects and holds ADMIN OPTION on every
/// plugin role and the writer: NOLOGIN, NOINHERIT, nothing else.
pub const ADMIN: &str = "rollout_roles_admin";

/// The role the host's own ledger statements on the work session run as
/// (a tier's `applied` row, the rollout row's hold): exactly those
/// privileges, entered like a plugin role with no plugin code in between.
pub const WRITER: &str = "rollout_ledger_writer";

/// The runner's name unless `--runner-role` says otherwise.
pub const DEFAULT_RUNNER: &str = "rollout_runner";

/// A role name the host writes into SQL: whole (at most 63 bytes), not
/// empty, without NUL, and not a predefined role's (`pg_*`).
pub fn check_role_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME || name.contains('\0') || name.starts_with("pg_") {
        bail!(
            "{what} `{}` must be 1 to {MAX_NAME} bytes, without NUL, and not start with `pg_` (PostgreSQL's own roles)",
            crate::text::terminal(name)
        );
    }
    Ok(())
}

/// The restricted role of a plugin.
pub fn role_name(m: &Manifest) -> String {
    format!("rollout_{}", m.name.replace('-', "_"))
}

/// A table privilege a grant of the manifest stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    References,
}

impl Privilege {
    /// The SQL keyword, as `aclexplode` spells it too.
    pub fn as_sql(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::References => "REFERENCES",
        }
    }
}

/// Schemas PostgreSQL gives every role (PUBLIC) and the checker governs;
/// no role is granted anything in them, and the proof does not look there.
pub fn is_system_schema(schema: &str) -> bool {
    schema == "information_schema" || schema.starts_with("pg_")
}

/// `schema.name` split; a manifest grant is always qualified.
pub fn split(rel: &str) -> (&str, &str) {
    rel.split_once('.').unwrap_or(("", rel))
}

/// What one plugin's role must hold, and nothing more.
#[derive(Debug, Clone)]
pub struct PluginRole {
    pub plugin: String,
    pub label: String,
    pub role: String,
    /// Privileges on relations it does not create, by `schema.name`.
    pub tables: BTreeMap<String, BTreeSet<Privilege>>,
    /// Privileges its grants limit to columns (`read = ["s.t(a, b)"]`),
    /// held as PostgreSQL's column privileges (`GRANT SELECT (a, b) ON …`);
    /// not in `tables`.
    pub columns: BTreeMap<(String, Privilege), Vec<String>>,
    /// Relations it creates or drops: it must own them (only the owner may
    /// DROP), and the owner holds every privilege on what it owns.
    pub owns: BTreeSet<String>,
    /// Relations it creates (its role becomes their owner).
    pub creates: BTreeSet<String>,
    /// Schemas it needs `USAGE` on, and `CREATE` on.
    pub usage: BTreeSet<String>,
    pub create: BTreeSet<String>,
    /// Sequences its manifest names (`USAGE`).
    pub sequences: BTreeSet<String>,
    /// Relations it inserts into: `USAGE` on the sequences their column
    /// defaults call `nextval` on (serial), or the insert fails.
    pub draws: BTreeSet<String>,
    /// Functions its manifest grants, as `schema.name`, outside the system.
    pub functions: BTreeSet<String>,
}

/// A table one plugin creates and a later one uses: the creator's role owns
/// it, so it hands the later role that use when it creates it
/// (`ALTER DEFAULT PRIVILEGES FOR ROLE creator IN SCHEMA …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub creator: String,
    pub schema: String,
    pub grantee: String,
    pub tables: BTreeSet<Privilege>,
    /// The grantee inserts: `USAGE` on the sequences the creator makes.
    pub sequences: bool,
    /// The created tables this is for, for the reader.
    pub for_tables: BTreeSet<String>,
}

/// The roles of a plan.
#[derive(Debug, Clone)]
pub struct Roles {
    /// The login role of the plugins' work session (`--runner-role`).
    pub runner: String,
    pub plugins: Vec<PluginRole>,
    pub handoffs: Vec<Handoff>,
    /// What cannot be had under roles (a plugin dropping a table another
    /// one creates: only the owner may DROP), said, never hidden.
    pub impossible: Vec<String>,
}

impl Roles {
    /// The model of every plugin's role, run by [`DEFAULT_RUNNER`].
    pub fn of<'a>(plugins: impl IntoIterator<Item = &'a Plugin>) -> Result<Roles> {
        Roles::with_runner(plugins, DEFAULT_RUNNER)
    }

    /// The model of every plugin's role, run by `runner`; refuses two
    /// plugins that would share a role, a role the wall uses itself, or a
    /// name PostgreSQL would cut (a role's or a relation's).
    pub fn with_runner<'a>(plugins: impl IntoIterator<Item = &'a Plugin>, runner: &str) -> Result<Roles> {
        check_role_name("the runner role", runner)?;
        let plugins: Vec<&Plugin> = plugins.into_iter().collect();
        let mut seen: BTreeMap<String, String> =
            [ADMIN, WRITER, runner].iter().map(|r| (r.to_string(), "the host's role wall".to_string())).collect();
        if seen.len() < 3 {
            bail!(
                "the runner role `{}` is one of the wall's own roles; choose another name",
                crate::text::terminal(runner)
            );
        }
        let mut roles = Vec::new();
        for p in &plugins {
            let role = role_name(&p.manifest);
            check_role_name(&format!("plugin {}: its role name", p.manifest.name), &role)
                .map_err(|e| anyhow::anyhow!("{e}; give the plugin a shorter name"))?;
            if let Some(other) = seen.insert(role.clone(), p.manifest.name.clone()) {
                bail!("plugins {other} and {} would share the role `{role}`; rename one", p.manifest.name);
            }
            relation_names(p)?;
            roles.push(plugin_role(p, role));
        }
        let (handoffs, mut impossible) = handoffs(&roles);
        for p in &plugins {
            let g = &p.manifest.grants;
            for rel in g.alter.iter().chain(&g.index).filter(|r| !g.create.contains(r)) {
                impossible.push(format!(
                    "{} alters or indexes {rel}, which it does not create: PostgreSQL lets only an object's owner \
                     ALTER it (a table, an enum type) or build an index on it, and making the plugin's role its \
                     owner would give it every privilege on it; run this plan without --roles (the checker alone holds its alter and \
                     index lines, as `host grants` shows)",
                    p.label()
                ));
            }
        }
        Ok(Roles { runner: runner.to_string(), plugins: roles, handoffs, impossible })
    }

    /// Every role the wall itself uses: the runner, the admin, the writer.
    pub fn wall_roles(&self) -> [&str; 3] {
        [self.runner.as_str(), ADMIN, WRITER]
    }

    /// The role of the plugin named `name`.
    pub fn role_of(&self, name: &str) -> Option<&str> {
        self.plugins.iter().find(|p| p.plugin == name).map(|p| p.role.as_str())
    }

    /// Plugin name → role, for the ledger and the report.
    pub fn map(&self) -> BTreeMap<String, String> {
        self.plugins.iter().map(|p| (p.plugin.clone(), p.role.clone())).collect()
    }

    /// The plugin that creates `rel`, if one does.
    pub fn creator_of(&self, rel: &str) -> Option<&PluginRole> {
        self.plugins.iter().find(|p| p.creates.contains(rel))
    }
}

/// Every name a grant gives must reach PostgreSQL whole: `schema.name`,
/// each part 1 to 63 bytes and without NUL (a longer part is cut silently,
/// and the role's GRANT would land on another relation).
fn relation_names(p: &Plugin) -> Result<()> {
    let g = &p.manifest.grants;
    let all = [&g.read, &g.insert, &g.update, &g.delete, &g.create, &g.drop, &g.functions, &g.sequences, &g.references];
    for name in all.into_iter().flatten() {
        let parts: Vec<&str> = name.split('.').collect();
        let whole = parts.len() == 2 && parts.iter().all(|x| !x.is_empty() && x.len() <= MAX_NAME && !x.contains('\0'));
        if !whole {
            bail!(
                "plugin {}: grant `{}` cannot be a restricted role's grant: it must be `schema.name`, each part 1 to {MAX_NAME} bytes without NUL",
                p.manifest.name,
                crate::text::terminal(name)
            );
        }
    }
    Ok(())
}

fn plugin_role(p: &Plugin, role: String) -> PluginRole {
    let g = &p.manifest.grants;
    let user = |r: &&String| !is_system_schema(split(r).0);
    let creates: BTreeSet<String> = g.create.iter().filter(user).cloned().collect();
    let owns: BTreeSet<String> = creates.iter().chain(g.drop.iter().filter(user)).cloned().collect();
    let mut tables: BTreeMap<String, BTreeSet<Privilege>> = BTreeMap::new();
    let mut columns = BTreeMap::new();
    for (privilege, key) in [
        (Privilege::Select, "read"),
        (Privilege::Insert, "insert"),
        (Privilege::Update, "update"),
        (Privilege::Delete, "delete"),
        (Privilege::References, "references"),
    ] {
        for rel in g.list(key).iter().filter(user).filter(|r| !owns.contains(*r)) {
            // Either phase's columns: the role holds both phases' grants.
            match g.limited(key, rel) {
                Some(cols) => drop(columns.insert((rel.clone(), privilege), cols.to_vec())),
                None => drop(tables.entry(rel.clone()).or_default().insert(privilege)),
            }
        }
    }
    let sequences: BTreeSet<String> = g.sequences.iter().filter(user).cloned().collect();
    let functions: BTreeSet<String> = g.functions.iter().filter(user).cloned().collect();
    let create: BTreeSet<String> = g.create.iter().filter(user).map(|r| split(r).0.to_string()).collect();
    let usage = tables
        .keys()
        .chain(columns.keys().map(|(r, _)| r))
        .chain(&owns)
        .chain(&sequences)
        .chain(&functions)
        .map(|r| split(r).0.to_string())
        .chain(create.iter().cloned())
        .collect();
    let draws = g.insert.iter().filter(user).filter(|r| !owns.contains(*r)).cloned().collect();
    PluginRole {
        plugin: p.manifest.name.clone(),
        label: p.label(),
        role,
        tables,
        columns,
        owns,
        creates,
        usage,
        create,
        sequences,
        draws,
        functions,
    }
}

/// For every table a plugin creates, what the other plugins' grants use
/// of it, merged per (creator, schema, grantee).
fn handoffs(roles: &[PluginRole]) -> (Vec<Handoff>, Vec<String>) {
    let mut out: Vec<Handoff> = Vec::new();
    let mut impossible = Vec::new();
    for creator in roles {
        for rel in &creator.creates {
            for user in roles {
                if user.role == creator.role {
                    continue;
                }
                if user.owns.contains(rel) {
                    impossible.push(format!(
                        "{} drops {rel}, which {} creates: only the table's owner (the creator's role) may DROP it",
                        user.label, creator.label
                    ));
                }
                if user.columns.keys().any(|(r, _)| r == rel) {
                    impossible.push(format!(
                        "{} holds column grants on {rel}, which {} creates: default privileges, which hand a \
                         created table on, cannot name columns; grant the whole table, or create it in the plugin \
                         that uses it",
                        user.label, creator.label
                    ));
                }
                let Some(privileges) = user.tables.get(rel) else { continue };
                let schema = split(rel).0.to_string();
                let at =
                    out.iter().position(|h| h.creator == creator.role && h.schema == schema && h.grantee == user.role);
                let h = match at {
                    Some(i) => &mut out[i],
                    None => {
                        out.push(Handoff {
                            creator: creator.role.clone(),
                            schema,
                            grantee: user.role.clone(),
                            tables: BTreeSet::new(),
                            sequences: false,
                            for_tables: BTreeSet::new(),
                        });
                        let last = out.len() - 1;
                        &mut out[last]
                    }
                };
                h.tables.extend(privileges.iter().copied());
                h.sequences |= privileges.contains(&Privilege::Insert);
                h.for_tables.insert(rel.clone());
            }
        }
    }
    (out, impossible)
}
