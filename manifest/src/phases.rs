//! Grants per phase and per column, as the author writes them and as the
//! host holds them.
//!
//! `[grants]` holds what both phases of a tier may do (and all a gate,
//! verify or probe may do); a tier's `[grants.apply]` and
//! `[grants.rollback]` add what only that phase may do. A phase's grants
//! are the union of `[grants]` and its own table, and an object stands at
//! most once per key in that union (`[grants]` and `[grants.apply]` both
//! granting `read` on one table would leave the reader to guess which line
//! holds): a phase table only adds. A tier's post-conditions belong to its
//! apply, its rollback conditions to its rollback, both read-only.
//!
//! `read`, `insert` and `update` may limit a table to columns:
//! `"schema.table(col_a, col_b)"` (one space after each comma, the form
//! `host grants` prints back). Without a list the whole table is granted.

use super::{dangerous, grants::grant_refusal, Grants, Kind, ManifestError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A tier's two phases; gate, verify and probe have one (their grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `apply` (and its batches) and the post-conditions.
    Apply,
    /// `rollback` (and its batches) and the rollback conditions.
    Rollback,
}

impl Phase {
    /// The other phase, for "allowed in rollback only" refusals.
    pub fn other(self) -> Phase {
        match self {
            Phase::Apply => Phase::Rollback,
            Phase::Rollback => Phase::Apply,
        }
    }

    /// `apply` / `rollback`, as the manifest's table names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Rollback => "rollback",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys whose grants may name columns.
pub const COLUMN_KEYS: [&str; 3] = ["read", "insert", "update"];

/// Column lists of one grant set: `(key, relation)` → the columns; a
/// relation granted under the key without a list is absent (every column).
pub type Columns = BTreeMap<(&'static str, String), Vec<String>>;

/// `[grants]` as written: both phases' lists and the acknowledgements (a
/// [`Grants`], whose lists are the one place the grant keys are spelt),
/// and a tier's phase tables (which hold lists only). Read by hand: serde's
/// `flatten` cannot sit under `deny_unknown_fields`, so the phase tables
/// are taken out first and the rest must be a [`Grants`], which refuses any
/// other key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenGrants {
    /// The table's own lists and acknowledgements (no column lists: those
    /// are resolved from the lists' text).
    pub own: Grants,
    /// What only a tier's apply (and post-conditions) may do.
    pub apply: Option<Box<WrittenGrants>>,
    /// What only a tier's rollback (and rollback conditions) may do.
    pub rollback: Option<Box<WrittenGrants>>,
}

impl<'de> Deserialize<'de> for WrittenGrants {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut raw = toml::Table::deserialize(d)?;
        let mut phase = |phase: Phase| -> Result<Option<Box<WrittenGrants>>, D::Error> {
            let Some(table) = raw.remove(phase.as_str()) else { return Ok(None) };
            table.try_into().map(Box::new).map(Some).map_err(|e| D::Error::custom(format!("in [grants.{phase}]: {e}")))
        };
        let (apply, rollback) = (phase(Phase::Apply)?, phase(Phase::Rollback)?);
        let own = Grants::deserialize(toml::Value::Table(raw)).map_err(|e| D::Error::custom(e.message()))?;
        Ok(WrittenGrants { own, apply, rollback })
    }
}

impl Serialize for WrittenGrants {
    /// The lists that hold something, the acknowledgements, the phase tables.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (key, list) in self.lists().into_iter().chain([("acknowledge", &self.own.acknowledge)]) {
            if !list.is_empty() {
                map.serialize_entry(key, list)?;
            }
        }
        for (phase, table) in [(Phase::Apply, &self.apply), (Phase::Rollback, &self.rollback)] {
            if let Some(table) = table {
                map.serialize_entry(phase.as_str(), table)?;
            }
        }
        map.end()
    }
}

impl WrittenGrants {
    /// Every grant list but `acknowledge`, by its key ([`Grants::lists`]).
    pub fn lists(&self) -> [(&'static str, &Vec<String>); 11] {
        self.own.lists()
    }

    /// The tables as written, with the prefix of their fields' names:
    /// `grants`, then `grants.apply`, `grants.rollback` where present.
    pub fn tables(&self) -> Vec<(String, &WrittenGrants, Option<Phase>)> {
        let mut out = vec![("grants".to_string(), self, None)];
        for (phase, t) in [(Phase::Apply, &self.apply), (Phase::Rollback, &self.rollback)] {
            if let Some(t) = t {
                out.push((format!("grants.{phase}"), t.as_ref(), Some(phase)));
            }
        }
        out
    }
}

/// The grants of each phase, and whether the manifest gives them apart.
#[derive(Debug, Clone, Default)]
pub struct Phases {
    pub apply: Grants,
    pub rollback: Grants,
    /// A `[grants.apply]` or `[grants.rollback]` table is present.
    pub split: bool,
}

impl Phases {
    pub fn of(&self, phase: Phase) -> &Grants {
        match phase {
            Phase::Apply => &self.apply,
            Phase::Rollback => &self.rollback,
        }
    }
}

/// `schema.name` and its column list (`None`: no list), from a grant as
/// written; `None` when it is not of that shape (the text rule says why).
pub fn split_columns(written: &str) -> Option<(&str, Option<Vec<&str>>)> {
    let Some((object, rest)) = written.split_once('(') else { return Some((written, None)) };
    let inner = rest.strip_suffix(')')?;
    let columns: Vec<&str> = inner.split(", ").collect();
    let word =
        |c: &&str| !c.is_empty() && c.len() <= 63 && c.chars().all(|x| x.is_ascii_alphanumeric() || "_$".contains(x));
    columns.iter().all(word).then_some((object, Some(columns)))
}

/// One grant line as written, where it stands.
struct Entry<'a> {
    key: &'static str,
    relation: &'a str,
    columns: Option<Vec<&'a str>>,
    field: String,
}

/// The union and per-phase grants of `written`, refusing what a reader
/// could misread: a phase table on a plugin with one phase, an empty or
/// nested one, an acknowledgement in one, a column list where no column
/// can be named or naming a column twice, and an object granted twice
/// under one key in one phase. Every object is held to the loader's rule
/// ([`grant_refusal`]) and a dangerous one to its acknowledgement.
pub(crate) fn resolve(w: &WrittenGrants, kind: Kind) -> Result<(Grants, Phases), ManifestError> {
    let bad = |s: String| Err(ManifestError::Invalid(s));
    let mut tables: Vec<(Option<Phase>, Vec<Entry>)> = Vec::new();
    for (prefix, table, phase) in w.tables() {
        if let Some(phase) = phase {
            if kind != Kind::Tier {
                return bad(format!("a {kind} plugin has one phase: put the grants of `[{prefix}]` under `[grants]`"));
            }
            if table.apply.is_some() || table.rollback.is_some() {
                return bad(format!("`[{prefix}]` holds a phase table of its own: phases do not nest"));
            }
            if !table.own.acknowledge.is_empty() {
                return bad(format!(
                    "`[{prefix}]` holds `acknowledge`: acknowledgements go under `[grants]`, for every phase"
                ));
            }
            if table.lists().iter().all(|(_, l)| l.is_empty()) {
                return bad(format!(
                    "`[{prefix}]` grants nothing: remove it, or list what only {phase} may do (`[grants]` holds \
                     what both phases may do)"
                ));
            }
        }
        let mut entries = Vec::new();
        for (key, list) in table.lists() {
            for (i, written) in list.iter().enumerate() {
                let field = format!("{prefix}.{key}[{i}]");
                let Some((relation, columns)) = split_columns(written) else {
                    return bad(format!("manifest field `{field}` (`{written}`) is not `schema.name(column, …)`"));
                };
                if let Some(columns) = &columns {
                    if !COLUMN_KEYS.contains(&key) {
                        return bad(format!(
                            "manifest field `{field}` (`{written}`): only `read`, `insert` and `update` grants may \
                             name columns; grant `{key}` on `{relation}`"
                        ));
                    }
                    if let Some(c) = columns.iter().enumerate().find(|(j, c)| columns[..*j].contains(c)) {
                        return bad(format!("manifest field `{field}` (`{written}`) names the column `{}` twice", c.1));
                    }
                }
                if let Some(why) = grant_refusal(relation) {
                    return bad(format!("manifest field `{field}` (`{written}`): {why}"));
                }
                if let Some(class) =
                    dangerous::classify(relation).filter(|_| !w.own.acknowledge.iter().any(|a| a == relation))
                {
                    return bad(format!(
                        "manifest field `{field}` (`{written}`): {}",
                        dangerous::refusal(relation, class)
                    ));
                }
                entries.push(Entry { key, relation, columns, field });
            }
        }
        tables.push((phase, entries));
    }
    let plain = &tables[0].1;
    let mut phases = Phases { split: tables.len() > 1, ..Phases::default() };
    for phase in [Phase::Apply, Phase::Rollback] {
        let own = tables.iter().find(|(p, _)| *p == Some(phase)).map(|(_, e)| e.as_slice()).unwrap_or_default();
        let mut g = Grants { acknowledge: w.own.acknowledge.clone(), ..Grants::default() };
        let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for e in plain.iter().chain(own) {
            if let Some(first) = seen.insert((e.key, e.relation), &e.field) {
                return bad(format!(
                    "`{}` is granted `{}` twice for {phase} (`{first}` and `{}`): a phase table only adds to \
                     `[grants]`; grant each object once per key, with every column it needs",
                    e.relation, e.key, e.field
                ));
            }
            g.list_mut(e.key).push(e.relation.to_string());
            if let Some(columns) = &e.columns {
                g.columns.insert((e.key, e.relation.to_string()), columns.iter().map(|c| c.to_string()).collect());
            }
        }
        match phase {
            Phase::Apply => phases.apply = g,
            Phase::Rollback => phases.rollback = g,
        }
    }
    Ok((union(&phases.apply, &phases.rollback), phases))
}

/// What either phase may do: each list's objects in order, a column list
/// only where both phases limit the object to columns (their union).
fn union(a: &Grants, b: &Grants) -> Grants {
    let mut g = a.clone();
    for (key, list) in b.lists() {
        for rel in list {
            if !g.lists().iter().any(|(k, l)| *k == key && l.contains(rel)) {
                g.list_mut(key).push(rel.clone());
            }
        }
    }
    for key in COLUMN_KEYS {
        for rel in g.list(key).clone() {
            let (ca, cb) = (a.limited(key, &rel), b.limited(key, &rel));
            let granted = |x: &Grants| x.list(key).contains(&rel);
            let merged = match (granted(a), ca, granted(b), cb) {
                (true, Some(x), true, Some(y)) => {
                    let mut c = x.to_vec();
                    c.extend(y.iter().filter(|c| !x.contains(c)).cloned());
                    Some(c)
                }
                (true, Some(x), false, _) => Some(x.to_vec()),
                (false, _, true, Some(y)) => Some(y.to_vec()),
                _ => None,
            };
            match merged {
                Some(c) => g.columns.insert((key, rel), c),
                None => g.columns.remove(&(key, rel)),
            };
        }
    }
    g
}
