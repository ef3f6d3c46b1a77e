//! Implicit code: objects in the catalog that make a plugin's statements run
//! code that is not built in, though no statement names them
//! (`implicit.sql`). Each is named stably (names, never oids, so a restored
//! copy names it alike) and digested with every non-built-in function it
//! runs, so a changed function makes it unreviewed again.
//!
//! The same query pins what a grant names whose definition can change
//! after the review ([`Implicit::named`]): every non-built-in overload of
//! a granted function's name, and every view a read reaches; digested the
//! same way, with every function they run.

use anyhow::{bail, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

const IMPLICIT: &str = include_str!("implicit.sql");

/// What kind of object runs the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImplicitKind {
    /// A default operator class (any type), or one in `pg_catalog`.
    OperatorClass,
    /// An operator or support function added to a built-in operator family.
    OperatorFamilyMember,
    Cast,
    /// An operator on a built-in type, or in `pg_catalog`.
    Operator,
    /// A default encoding conversion.
    Conversion,
    EventTrigger,
    /// The default table access method, when it is not built in.
    AccessMethod,
    /// A column type (or a type inside one) whose I/O or checks are not built in.
    Type,
    Trigger,
    Rule,
    /// A view a plugin's grant reaches (its query runs as its owner), or
    /// one whose query calls code that is not built in.
    View,
    /// A row-level security policy (RLS on).
    Policy,
    /// A column default or generated column.
    Default,
    Constraint,
    Index,
    /// A function a grant names: every non-built-in overload of the name.
    Function,
}

impl ImplicitKind {
    /// The kind as `implicit.sql` spells it.
    fn parse(word: &str) -> Option<ImplicitKind> {
        use ImplicitKind::*;
        Some(match word {
            "operator class" => OperatorClass,
            "operator family member" => OperatorFamilyMember,
            "cast" => Cast,
            "operator" => Operator,
            "conversion" => Conversion,
            "event trigger" => EventTrigger,
            "access method" => AccessMethod,
            "type" => Type,
            "trigger" => Trigger,
            "rule" => Rule,
            "view" => View,
            "policy" => Policy,
            "default" => Default,
            "constraint" => Constraint,
            "index" => Index,
            "function" => Function,
            _ => return None,
        })
    }
}

/// One object that runs code no statement names.
#[derive(Debug, Clone, Serialize)]
pub struct Implicit {
    pub kind: ImplicitKind,
    /// How messages and the lock file name it: `cast (character varying AS
    /// point) WITH FUNCTION public.f(character varying)`.
    pub object: String,
    /// sha256 of its definition and of every non-built-in function it runs.
    pub digest: String,
    /// The plan's plugins that reach it (every one, for an object of the
    /// whole database).
    pub plugins: Vec<String>,
    /// It acts on any statement in the database, not on some relations.
    pub whole_database: bool,
    /// A grant names it (a granted function, a view a read reaches) and it
    /// runs no code that is not built in: not implicit code, but a
    /// definition the review pinned. A run without a lock file, or with
    /// one written without a database, does not refuse it.
    pub named: bool,
    /// The signatures of the non-built-in functions the digest covers
    /// (its own, and those they call), for the reviewer to read.
    pub covers: Vec<String>,
}

/// Where an object's plugins come from: the relations it is attached to
/// (none: the whole database), or the function name a grant gives.
pub enum Reached<'a> {
    Relations(&'a [u32]),
    Granted(&'a str),
}

/// Reads every implicit-code object of the database and of the relations
/// `scope` (oids), and every non-built-in function `functions` (granted
/// names, `schema.name`) resolves to; `reached_by` says which plugins
/// reach an object.
pub async fn read(
    client: &Client,
    scope: &[u32],
    functions: &[String],
    reached_by: impl Fn(Reached<'_>) -> Vec<String>,
) -> Result<Vec<Implicit>> {
    use tokio_postgres::types::Type;
    let rows = client.query_typed(IMPLICIT, &[(&scope, Type::OID_ARRAY), (&functions, Type::TEXT_ARRAY)]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let word: String = row.try_get(0)?;
        let Some(kind) = ImplicitKind::parse(&word) else {
            bail!("implicit.sql returned the unknown kind {word:?} (a host bug)");
        };
        let object: String = row.try_get(1)?;
        let definition: String = row.try_get(2)?;
        let relations: Vec<u32> = row.try_get(3)?;
        let granted: Option<String> = row.try_get(4)?;
        let digest = hex::encode(Sha256::digest(definition.as_bytes()));
        let plugins = match &granted {
            Some(name) => reached_by(Reached::Granted(name)),
            None => reached_by(Reached::Relations(&relations)),
        };
        out.push(Implicit {
            kind,
            object,
            digest,
            plugins,
            whole_database: relations.is_empty() && granted.is_none(),
            named: row.try_get(5)?,
            covers: row.try_get(6)?,
        });
    }
    Ok(out)
}
