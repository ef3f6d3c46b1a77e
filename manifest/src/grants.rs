//! What a manifest may grant, and the loader's rule for each granted
//! object: the one function ([`grant_refusal`]) both the loader and the
//! grants check's suggestions ask, so `host explain` never suggests a line
//! the loader refuses.

use super::phases::{Columns, COLUMN_KEYS};
use super::{dangerous, ManifestError, Rule};
use serde::{Deserialize, Serialize};

/// What the plugin's SQL may touch; nothing is allowed unless a line here
/// grants it. Relations are `schema.name`; a `read`, `insert` or `update`
/// grant may be limited to columns ([`Grants::columns`]). The manifest
/// holds three: what either phase may do ([`crate::Manifest::grants`]) and
/// each phase's ([`crate::Manifest::phases`]), resolved from the grants as
/// written ([`crate::WrittenGrants`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Grants {
    pub read: Vec<String>,
    pub insert: Vec<String>,
    pub update: Vec<String>,
    pub delete: Vec<String>,
    /// Tables (and views) the plugin may `CREATE TABLE` (`CREATE [OR
    /// REPLACE] VIEW`).
    pub create: Vec<String>,
    /// Tables, views and indexes the plugin may `DROP`.
    pub drop: Vec<String>,
    /// Tables the plugin may `ALTER TABLE` (columns, defaults, NOT NULL,
    /// constraints, a column's name), enum types it may `ALTER TYPE … ADD
    /// VALUE` to, and objects it may `COMMENT ON`; PostgreSQL lets only an
    /// owner do that, so the checker alone holds this line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alter: Vec<String>,
    /// Tables the plugin may `CREATE INDEX` on (and add a PRIMARY KEY or
    /// UNIQUE constraint to, which builds one); held by the checker alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub index: Vec<String>,
    /// Functions beyond the safe default set, as `schema.name`.
    pub functions: Vec<String>,
    /// Sequences the plugin's inserts draw from (`USAGE` for its role).
    pub sequences: Vec<String>,
    /// Tables a foreign key of a table it creates points at: PostgreSQL
    /// needs `REFERENCES` on them for the `CREATE TABLE`, and no other
    /// grant says so (`host grants --role-sql`, the role proof).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Dangerous objects granted above that the author acknowledges (see
    /// [`dangerous`]): `host grants` shows each as a WARNING, the lock file
    /// lists them. Only the acknowledgeable classes; the others are never.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acknowledge: Vec<String>,
    /// The `read`, `insert` and `update` grants limited to columns.
    #[serde(skip)]
    pub columns: Columns,
}

impl Grants {
    /// Every grant list but `acknowledge`, by its key in `[grants]`.
    pub fn lists(&self) -> [(&'static str, &Vec<String>); 11] {
        [
            ("read", &self.read),
            ("insert", &self.insert),
            ("update", &self.update),
            ("delete", &self.delete),
            ("create", &self.create),
            ("drop", &self.drop),
            ("alter", &self.alter),
            ("index", &self.index),
            ("functions", &self.functions),
            ("sequences", &self.sequences),
            ("references", &self.references),
        ]
    }

    /// The list of the grant key `key` (`read`, …, `references`).
    pub fn list(&self, key: &str) -> &Vec<String> {
        self.lists().into_iter().find(|(k, _)| *k == key).map(|(_, l)| l).unwrap_or(&self.acknowledge)
    }

    pub(crate) fn list_mut(&mut self, key: &str) -> &mut Vec<String> {
        match key {
            "read" => &mut self.read,
            "insert" => &mut self.insert,
            "update" => &mut self.update,
            "delete" => &mut self.delete,
            "create" => &mut self.create,
            "drop" => &mut self.drop,
            "alter" => &mut self.alter,
            "index" => &mut self.index,
            "functions" => &mut self.functions,
            "sequences" => &mut self.sequences,
            _ => &mut self.references,
        }
    }

    /// The columns `key` on `relation` is limited to; `None`: every column
    /// (or not granted at all: ask the list).
    pub fn limited(&self, key: &str, relation: &str) -> Option<&[String]> {
        let key = COLUMN_KEYS.iter().find(|k| **k == key)?;
        self.columns.get(&(*key, relation.to_string())).map(Vec::as_slice)
    }

    /// Every relation this plugin may write, with the operation.
    pub fn writes(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let ops: [(&'static str, &Vec<String>); 7] = [
            ("insert", &self.insert),
            ("update", &self.update),
            ("delete", &self.delete),
            ("create", &self.create),
            ("drop", &self.drop),
            ("alter", &self.alter),
            ("index", &self.index),
        ];
        ops.into_iter().flat_map(|(op, list)| list.iter().map(move |r| (op, r)))
    }

    /// Every acknowledgement of something not granted or not needing one
    /// (each granted object is held to [`grant_refusal`] and its
    /// acknowledgement where it is written: `phases::resolve`).
    pub(super) fn validate(&self) -> Result<(), ManifestError> {
        let g = self;
        let invalid = |field: String, value: &str, why: String| {
            Err(ManifestError::Invalid(format!("manifest field `{field}` (`{value}`): {why}")))
        };
        for (i, object) in g.acknowledge.iter().enumerate() {
            let field = format!("grants.acknowledge[{i}]");
            if !dangerous::classify(object).is_some_and(dangerous::Class::acknowledgeable) {
                return invalid(
                    field,
                    object,
                    "it needs no acknowledgement (or can never be granted): remove it".into(),
                );
            }
            if !g.lists().iter().any(|(_, list)| list.contains(object)) {
                return invalid(field, object, "no grant above names it: remove it, or grant it".into());
            }
        }
        Ok(())
    }
}

/// Why no manifest may grant `object` (`schema.name`), under any key, or
/// `None` when one may (a dangerous one perhaps with an acknowledgement:
/// [`dangerous::classify`]). The loader refuses exactly these, and the
/// grants check asks [`suggested_grant`], never suggesting a refused line.
pub fn grant_refusal(object: &str) -> Option<String> {
    if let Err(why) = Rule::Object.allows(object) {
        return Some(format!("`{object}` {why}; {}", super::STRICTER));
    }
    if let Some((_, what)) =
        object.split_once('.').and_then(|(schema, _)| HOST_SCHEMAS.iter().find(|(s, _)| *s == schema))
    {
        return Some(format!("{what} belongs to the host; no plugin may touch it"));
    }
    dangerous::classify(object).filter(|c| !c.acknowledgeable()).map(|class| dangerous::refusal(object, class))
}

/// Schemas the host owns, and what each holds: no grant may name anything
/// in them. The rehearsal's digest leaves exactly these out
/// (`host::digest::HOST_SCHEMAS`, which a test holds to this list), so a
/// plugin may never write where no proof looks.
pub const HOST_SCHEMAS: &[(&str, &str)] =
    &[("rollout_ledger", "the ledger"), ("rollout_roles", "the record of the plugins' roles (`rollout_roles`)")];

/// The `[grants]` lines that would allow `key` on `object`, as TOML the
/// loader accepts (an acknowledgeable object with its `acknowledge` line),
/// or why no manifest may grant it.
pub fn suggested_grant(key: &str, object: &str) -> Result<String, String> {
    if let Some(why) = grant_refusal(object) {
        return Err(why);
    }
    let list = toml::Value::Array(vec![toml::Value::String(object.to_string())]);
    match dangerous::classify(object) {
        Some(class) => Ok(format!("{key} = {list}\nacknowledge = {list}  # WARNING: {}", class.why())),
        None => Ok(format!("{key} = {list}")),
    }
}
