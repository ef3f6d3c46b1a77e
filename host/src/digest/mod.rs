//! A content digest of a database's state, so a rehearsal can prove "the
//! rollback restores the baseline" by equality rather than by the plugins'
//! own checks, for everything the rollout can touch.
//!
//! Two reaches, one state:
//! - **Exact** ([`Scope`]): every object in the plan's schemas, and any
//!   relation passed in besides (what the plan's writes reach): its catalog
//!   shape (columns, types, defaults, constraints, indexes, triggers,
//!   policies, rules, partition bounds, comments, owner, ACL, a sequence's or
//!   a type's definition) and, for tables and materialized views, each row's
//!   hash, sorted, so a difference is shown down to the rows.
//! - **The whole-database net** ([`net`]): every other object of every user
//!   schema (all but `pg_*` and the host's own [`HOST_SCHEMAS`];
//!   `information_schema` for what was made in it after initdb): the same
//!   shape, and per relation a row count and one keyed, order-independent
//!   hash. A change anywhere fails, naming the relation.
//! - **Large objects** ([`large`]): each by its oid, owner, ACL and a hash
//!   of its content.
//!
//! What none of these reads is named on the proof line ([`NOT_COMPARED`]).
//!
//! Rows are streamed (`COPY … TO STDOUT` of each row's text); the host never
//! holds a relation's rows. Sequence positions never roll back: they are
//! read apart ([`sequences`]) and left out of equality, but one behind the
//! baseline fails a proof ([`set_back`]). The reading is one
//! exported snapshot, one relation per short transaction ([`read`]).

mod diff;
mod large;
mod net;
mod read;
mod sequences;

pub use diff::{difference, Difference};
pub use net::{Counted, Key};
pub use read::{Reader, PATIENCE, READ_TIMEOUT};
pub use sequences::{moves, read as read_sequences, reading, set_back, Move, Sequence};

use crate::rehearsal_copy::Identity;
use anyhow::Result;
use read::{Patience, Snapshot};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The objects of the given schemas and their shape, with `$1` the schema names.
const SCOPE: &str = include_str!("scope.sql");
const RULES: &str = include_str!("rules.sql");

/// The user schemas: every schema but the server's own (`pg_*` is reserved
/// for them: `pg_catalog`, `pg_toast*`, `pg_temp_*`) and `$1`.
/// `information_schema` is one: scope.sql reads in it only what was made
/// after initdb (oid ≥ 16384), which pg_dump does not copy either.
const USER_SCHEMAS: &str = "SELECT nspname::text FROM pg_namespace
 WHERE nspname !~ '^pg_' AND NOT (nspname = ANY ($1)) ORDER BY 1";

/// What the digest does not compare, as the proof line names it.
pub const NOT_COMPARED: &str = "sequence positions (only that none is set back), foreign tables' rows, roles and \
    their settings, the database's settings and ACL, extensions as such, event triggers, publications, \
    subscriptions, foreign-data wrappers, servers and user mappings, casts, languages, tablespaces, objects made in \
    pg_catalog";

/// The host's own schemas, never compared, and why: exactly the ones no
/// manifest may grant (`rollout_manifest::HOST_SCHEMAS`, held to this list
/// by a test), so nothing a plugin may write is left out of the proof.
pub const HOST_SCHEMAS: [(&str, &str); 2] = [
    ("rollout_ledger", "the host's own ledger, which every step adds to"),
    ("rollout_roles", "the host's own bookkeeping of the plugins' restricted roles"),
];

/// One row's hash.
pub type RowHash = [u8; 32];

/// What kind of object an entry is; only tables and materialized views
/// have rows in the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Schema,
    Table,
    Sequence,
    View,
    MaterializedView,
    ForeignTable,
    Function,
    Type,
    /// A large object, by its oid.
    LargeObject,
    /// Anything else a schema holds (an operator, a collation, …), by
    /// identity: its existence is compared.
    Other,
}

impl Kind {
    fn of(what: &str, relkind: &str) -> Option<Kind> {
        Some(match (what, relkind) {
            ("schema", _) => Kind::Schema,
            ("function", _) => Kind::Function,
            ("type", _) => Kind::Type,
            ("object", _) => Kind::Other,
            (_, "S") => Kind::Sequence,
            (_, "r" | "p") => Kind::Table,
            (_, "v") => Kind::View,
            (_, "m") => Kind::MaterializedView,
            (_, "f") => Kind::ForeignTable,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::Table => "table",
            Kind::View => "view",
            Kind::MaterializedView => "materialized view",
            Kind::ForeignTable => "foreign table",
            Kind::Function => "function",
            Kind::Sequence => "sequence",
            Kind::Type => "type",
            Kind::LargeObject => "large object",
            Kind::Other => "object",
        }
    }

    /// Relations with rows or a shape (not schemas, sequences, functions, types).
    fn is_relation(self) -> bool {
        !matches!(self, Kind::Schema | Kind::Sequence | Kind::Function | Kind::Type | Kind::LargeObject | Kind::Other)
    }
}

/// What a digest reads exactly; everything else of the user schemas the
/// net reads.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Schemas read exactly (the plan's grants name them).
    pub schemas: Vec<String>,
    /// Relations outside those schemas read exactly too, as (schema, name):
    /// what the plan's writes reach (partitions, cascades, views' base
    /// tables, rule targets), as the catalog says.
    pub relations: Vec<(String, String)>,
}

impl Scope {
    fn is_exact(&self, schema: &str, relname: Option<&str>) -> bool {
        self.schemas.iter().any(|s| s == schema)
            || relname.is_some_and(|r| self.relations.iter().any(|(s, n)| s == schema && n == r))
    }
}

/// How far the digest reads an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Each row's hash, kept sorted.
    Exact,
    /// A count and one hash per relation.
    Net,
}

/// An object's rows as the digest keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// Not read (views, functions, an unpopulated materialized view, a
    /// foreign table's rows, which live on another server).
    None,
    /// Sorted row hashes.
    Exact(Vec<RowHash>),
    /// The net's count and hash.
    Counted(Counted),
}

impl Rows {
    fn count(&self) -> u64 {
        match self {
            Rows::None => 0,
            Rows::Exact(h) => h.len() as u64,
            Rows::Counted(c) => c.rows,
        }
    }
}

/// One object.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: Kind,
    pub reach: Reach,
    /// The catalog shape, one fact per line.
    pub shape: String,
    pub rows: Rows,
}

impl Object {
    /// The object's own digest: shape and rows.
    fn digest(&self) -> RowHash {
        let mut h = Sha256::new();
        h.update(self.kind.as_str());
        h.update([0]);
        h.update(self.shape.as_bytes());
        h.update([0]);
        match &self.rows {
            Rows::None => h.update([0]),
            Rows::Exact(rows) => {
                h.update([1]);
                h.update((rows.len() as u64).to_be_bytes());
                for r in rows {
                    h.update(r);
                }
            }
            Rows::Counted(c) => {
                h.update([2]);
                h.update(c.bytes());
            }
        }
        h.finalize().into()
    }
}

/// The state of a database at one moment.
#[derive(Debug, Clone)]
pub struct State {
    /// By server-quoted name (`one_roof.containment`, `one_roof.f(integer)`).
    pub objects: BTreeMap<String, Object>,
    /// Every sequence's position: listed, never compared.
    pub sequences: BTreeMap<String, Sequence>,
    /// The user schemas read by the net (outside the exact scope).
    pub net_schemas: Vec<String>,
    /// The server and database the state was read on.
    pub server: Identity,
    /// [`State::digest`], hashed once when the state is read.
    digest: String,
}

impl State {
    /// The digest over every object (sequence positions excluded), as hex.
    /// The net's hashes are keyed per rehearsal: digests compare within one.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Rows in the tables of one reach.
    pub fn rows(&self, reach: Reach) -> u64 {
        self.objects.values().filter(|o| o.reach == reach).map(|o| o.rows.count()).sum()
    }

    /// Large objects.
    pub fn large_objects(&self) -> usize {
        self.objects.values().filter(|o| o.kind == Kind::LargeObject).count()
    }

    /// Relations (with rows or a shape) of one reach.
    pub fn relations(&self, reach: Reach) -> usize {
        self.objects.values().filter(|o| o.reach == reach && o.kind.is_relation()).count()
    }
}

/// Reads the state in one snapshot held on `reader`: `scope` exactly, the
/// rest of the user schemas by the net, with `key`.
pub async fn take(reader: &Reader, scope: &Scope, key: &Key) -> Result<State> {
    let snapshot = reader.snapshot().await?;
    let state = read(&snapshot, scope, key).await;
    snapshot.end().await;
    state
}

/// Every sequence's position alone, in a snapshot of its own: after a
/// step whose state is not compared (a run).
pub async fn positions(reader: &Reader) -> Result<BTreeMap<String, Sequence>> {
    let snapshot = reader.snapshot().await?;
    let read = catalog(&snapshot, &Scope::default()).await.map(|(_, sequences, _)| sequences);
    snapshot.end().await;
    read
}

/// An object as the catalog lists it, before its rows are read.
struct Listed {
    name: String,
    kind: Kind,
    reach: Reach,
    shape: String,
    unpopulated: bool,
    /// The relation's oid when it has rewrite rules (a view has its
    /// query), read apart by [`rules`].
    rewritten: Option<u32>,
}

async fn read(snapshot: &Snapshot<'_>, scope: &Scope, key: &Key) -> Result<State> {
    let (listed, sequences, schemas) = catalog(snapshot, scope).await?;
    let mut objects = BTreeMap::new();
    for mut l in listed {
        if let Some(oid) = l.rewritten {
            let rules = rules(snapshot, &l.name, oid).await?;
            if !rules.is_empty() {
                l.shape = format!("{}\n{rules}", l.shape);
            }
        }
        let has_rows = match l.kind {
            Kind::Table => true,
            Kind::MaterializedView => !l.unpopulated,
            _ => false,
        };
        let rows = if has_rows { rows(snapshot, &l.name, l.reach, key).await? } else { Rows::None };
        objects.insert(l.name, Object { kind: l.kind, reach: l.reach, shape: l.shape, rows });
    }
    objects.extend(large::read(snapshot).await?);
    let mut h = Sha256::new();
    for (name, object) in &objects {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(object.digest());
    }
    let net_schemas = schemas.into_iter().filter(|s| !scope.schemas.contains(s)).collect();
    let digest = hex::encode(h.finalize());
    Ok(State { objects, sequences, net_schemas, server: snapshot.server, digest })
}

/// The catalog, in one short transaction of the snapshot (asked again while
/// a sequence is locked): every object of the user schemas with its shape
/// and reach, every sequence's position, the user schemas.
async fn catalog(
    snapshot: &Snapshot<'_>,
    scope: &Scope,
) -> Result<(Vec<Listed>, BTreeMap<String, Sequence>, Vec<String>)> {
    let host: Vec<String> = HOST_SCHEMAS.iter().map(|(s, _)| s.to_string()).collect();
    let mut patience = Patience::new();
    loop {
        let client = snapshot.open(None).await?;
        let read = async {
            let schemas: Vec<String> =
                client.query(USER_SCHEMAS, &[&host]).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
            let found = client.query(SCOPE, &[&schemas]).await?;
            Ok::<_, tokio_postgres::Error>((schemas, found))
        };
        let read = match read.await {
            Ok((schemas, found)) => sequences::read(client, Some(&schemas), false).await.map(|s| (schemas, found, s)),
            Err(e) => Err(anyhow::Error::new(e)),
        };
        snapshot.close().await;
        match read {
            Ok((schemas, found, sequences)) => return Ok((list(&found, scope)?, sequences, schemas)),
            Err(e) if e.downcast_ref().is_some_and(read::locked) => {
                patience.wait(client, "the catalog and the sequences' positions", None).await?
            }
            Err(e) => return Err(read::refused(e, "each sequence").context("cannot read the catalog")),
        }
    }
}

fn list(found: &[tokio_postgres::Row], scope: &Scope) -> Result<Vec<Listed>> {
    let mut listed = Vec::new();
    for row in found {
        let (what, name, relkind): (String, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let (unpopulated, shape): (bool, Option<String>) = (row.try_get(3)?, row.try_get(4)?);
        let (schema, relname): (String, Option<String>) = (row.try_get(5)?, row.try_get(6)?);
        let rewritten: Option<u32> = row.try_get(7)?;
        let Some(kind) = Kind::of(&what, &relkind) else { continue };
        let reach = if scope.is_exact(&schema, relname.as_deref()) { Reach::Exact } else { Reach::Net };
        listed.push(Listed { name, kind, reach, shape: shape.unwrap_or_default(), unpopulated, rewritten });
    }
    Ok(listed)
}

/// The rewrite rules of relation `oid` (`name`, server-quoted) as text, in
/// their own transaction of the snapshot: the server locks every relation
/// a rule names to print it, so the catalog's transaction does not, and
/// production's DDL waits for one relation's rules at most.
async fn rules(snapshot: &Snapshot<'_>, name: &str, oid: u32) -> Result<String> {
    let mut patience = Patience::new();
    loop {
        let client = snapshot.open(None).await?;
        let read = client.query_one(RULES, &[&oid]).await.and_then(|r| r.try_get::<_, Option<String>>(0));
        snapshot.close().await;
        match read {
            Ok(text) => return Ok(text.unwrap_or_default()),
            Err(e) if read::locked(&e) => patience.wait(client, &format!("the rules of {name}"), Some(name)).await?,
            Err(e) => {
                return Err(read::refused(e.into(), name).context(format!("cannot read the rules of {name}")));
            }
        }
    }
}

/// The rows of `name` (server-quoted) in its own transaction of the
/// snapshot: sorted hashes (exact) or a count and a keyed sum (net).
async fn rows(snapshot: &Snapshot<'_>, name: &str, reach: Reach, key: &Key) -> Result<Rows> {
    match reach {
        Reach::Exact => {
            let mut hashes: Vec<RowHash> = Vec::new();
            snapshot
                .each_row(name, |line| {
                    hashes.push(Sha256::digest(line).into());
                    true
                })
                .await?;
            hashes.sort_unstable();
            Ok(Rows::Exact(hashes))
        }
        Reach::Net => {
            let mut counted = Counted::default();
            snapshot
                .each_row(name, |line| {
                    counted.add(key, line);
                    true
                })
                .await?;
            Ok(Rows::Counted(counted))
        }
    }
}

#[cfg(test)]
mod host_schemas {
    /// What the digest leaves out is exactly what no manifest may grant.
    #[test]
    fn the_digest_leaves_out_exactly_the_schemas_no_grant_may_name() {
        let digest: Vec<&str> = super::HOST_SCHEMAS.iter().map(|(s, _)| *s).collect();
        let manifest: Vec<&str> = rollout_manifest::HOST_SCHEMAS.iter().map(|(s, _)| *s).collect();
        assert_eq!(digest, manifest);
    }
}
