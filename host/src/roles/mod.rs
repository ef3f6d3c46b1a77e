//! PostgreSQL as the second wall: each plugin runs as a restricted role of
//! its own that holds exactly what its grants say, so that a statement the
//! grants checker lets through by mistake is still refused by the server.
//!
//! [`Roles`] is the one model of what each role must hold, derived from the
//! manifests of a plan: `host grants --role-sql` prints it as SQL
//! ([`sql`]), and before the gate the host proves the roles in the
//! database hold exactly that ([`proof`]). A run under roles switches to a
//! plugin's role for each of its calls (`runbook`).

pub mod proof;
pub mod sql;

use crate::manifest::Manifest;
use crate::plan::Plugin;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The longest role name PostgreSQL keeps whole (NAMEDATALEN - 1): a longer
/// one is cut silently, and two plugins could end up as one role.
const MAX_ROLE_NAME: usize = 63;

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
    pub plugins: Vec<PluginRole>,
    pub handoffs: Vec<Handoff>,
    /// What cannot be had under roles (a plugin dropping a table another
    /// one creates: only the owner may DROP), said, never hidden.
    pub impossible: Vec<String>,
}

impl Roles {
    /// The model of every plugin's role; refuses two plugins that would
    /// share a role, or a name PostgreSQL would cut.
    pub fn of<'a>(plugins: impl IntoIterator<Item = &'a Plugin>) -> Result<Roles> {
        let plugins: Vec<&Plugin> = plugins.into_iter().collect();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut roles = Vec::new();
        for p in &plugins {
            let role = role_name(&p.manifest);
            if role.len() > MAX_ROLE_NAME {
                bail!(
                    "plugin {}: its role name `{role}` is longer than PostgreSQL's {MAX_ROLE_NAME} bytes; give the plugin a shorter name",
                    p.manifest.name
                );
            }
            if let Some(other) = seen.insert(role.clone(), p.manifest.name.clone()) {
                bail!("plugins {other} and {} would share the role `{role}`; rename one", p.manifest.name);
            }
            roles.push(plugin_role(p, role));
        }
        let (handoffs, impossible) = handoffs(&roles);
        Ok(Roles { plugins: roles, handoffs, impossible })
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

fn plugin_role(p: &Plugin, role: String) -> PluginRole {
    let g = &p.manifest.grants;
    let user = |r: &&String| !is_system_schema(split(r).0);
    let creates: BTreeSet<String> = g.create.iter().filter(user).cloned().collect();
    let owns: BTreeSet<String> = creates.iter().chain(g.drop.iter().filter(user)).cloned().collect();
    let mut tables: BTreeMap<String, BTreeSet<Privilege>> = BTreeMap::new();
    for (privilege, list) in [
        (Privilege::Select, &g.read),
        (Privilege::Insert, &g.insert),
        (Privilege::Update, &g.update),
        (Privilege::Delete, &g.delete),
        (Privilege::References, &g.references),
    ] {
        for rel in list.iter().filter(user).filter(|r| !owns.contains(*r)) {
            tables.entry(rel.clone()).or_default().insert(privilege);
        }
    }
    let sequences: BTreeSet<String> = g.sequences.iter().filter(user).cloned().collect();
    let functions: BTreeSet<String> = g.functions.iter().filter(user).cloned().collect();
    let create: BTreeSet<String> = g.create.iter().filter(user).map(|r| split(r).0.to_string()).collect();
    let usage = tables
        .keys()
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
