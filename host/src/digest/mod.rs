//! A content digest of the database state a plan touches, so a rehearsal
//! can prove "the rollback restores the baseline" by equality rather than
//! by the plugins' own checks.
//!
//! Scope: every relation, sequence, function, type and the schema itself in
//! each schema the plan's grants name. For each: its catalog shape
//! (columns, types, defaults, constraints, indexes, triggers, policies,
//! rules, partition bounds, comments, owner, ACL, a sequence's or a type's
//! definition) and, for tables and materialized views, its rows. Rows are
//! streamed (`COPY … TO STDOUT` of each row's text) and only a 32-byte hash
//! of each is kept, sorted, so the digest does not depend on the physical
//! order and the host never holds a relation's rows. Sequence positions
//! never roll back: they are listed apart and left out of equality. The
//! reading is one REPEATABLE READ, READ ONLY snapshot, with every setting
//! that shapes a value's text fixed ([`SNAPSHOT`]).

mod diff;

pub use diff::{difference, Difference};

use anyhow::{Context as _, Result};
use futures_util::{pin_mut, TryStreamExt};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// The objects of the scope and their shape, with `$1` the schema names.
const SCOPE: &str = include_str!("scope.sql");

/// The reading's snapshot and the settings a row's or a definition's text
/// depends on, fixed: the copy's and the source's own defaults may differ,
/// and `extra_float_digits` below 1 would print two different floats alike.
pub(crate) const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = '5s'; \
     SET LOCAL row_security = off; SET LOCAL search_path = pg_catalog; SET LOCAL extra_float_digits = 3; \
     SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL TimeZone = 'UTC'; \
     SET LOCAL bytea_output = 'hex'";

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
}

impl Kind {
    fn of(what: &str, relkind: &str) -> Option<Kind> {
        Some(match (what, relkind) {
            ("schema", _) => Kind::Schema,
            ("function", _) => Kind::Function,
            ("type", _) => Kind::Type,
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
        }
    }
}

/// One object of the scope.
#[derive(Debug, Clone)]
pub struct Object {
    pub kind: Kind,
    /// The catalog shape, one fact per line.
    pub shape: String,
    /// Sorted row hashes (tables, populated materialized views).
    pub rows: Vec<RowHash>,
}

impl Object {
    /// The object's own digest: shape and rows.
    fn digest(&self) -> RowHash {
        let mut h = Sha256::new();
        h.update(self.kind.as_str());
        h.update([0]);
        h.update(self.shape.as_bytes());
        h.update([0]);
        h.update((self.rows.len() as u64).to_be_bytes());
        for r in &self.rows {
            h.update(r);
        }
        h.finalize().into()
    }
}

/// The state of the scope at one moment.
#[derive(Debug, Clone)]
pub struct State {
    /// By server-quoted name (`one_roof.containment`, `one_roof.f(integer)`).
    pub objects: BTreeMap<String, Object>,
    /// Sequence positions (`last_value`, `is_called`): listed, never compared.
    pub sequences: BTreeMap<String, (i64, bool)>,
    /// [`State::digest`], hashed once when the state is read.
    digest: String,
}

impl State {
    /// The digest over every object (sequences excluded), as hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Rows in every table of the scope.
    pub fn rows(&self) -> usize {
        self.objects.values().map(|o| o.rows.len()).sum()
    }

    /// Relations with rows or a shape (schemas, sequences, functions and
    /// types apart).
    pub fn relations(&self) -> usize {
        let apart = |k| matches!(k, Kind::Schema | Kind::Sequence | Kind::Function | Kind::Type);
        self.objects.values().filter(|o| !apart(o.kind)).count()
    }
}

/// Reads the state of `schemas` in one read-only snapshot on `client`.
pub async fn take(client: &Client, schemas: &[String]) -> Result<State> {
    client.batch_execute(SNAPSHOT).await.context("cannot begin the read-only snapshot")?;
    let state = read(client, schemas).await;
    // Read-only: ending it either way changes nothing.
    let _ = client.batch_execute(if state.is_ok() { "COMMIT" } else { "ROLLBACK" }).await;
    state
}

async fn read(client: &Client, schemas: &[String]) -> Result<State> {
    let found = client.query(SCOPE, &[&schemas]).await.context("cannot read the catalog")?;
    let (mut objects, mut sequences) = (BTreeMap::new(), BTreeMap::new());
    for row in found {
        let (what, name, relkind): (String, String, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let (unpopulated, shape): (bool, Option<String>) = (row.try_get(3)?, row.try_get(4)?);
        if relkind == "S" && what == "relation" {
            let position = client
                .query_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
                .await
                .with_context(|| format!("cannot read the sequence {name}"))?;
            sequences.insert(name.clone(), (position.try_get(0)?, position.try_get(1)?));
        }
        let Some(kind) = Kind::of(&what, &relkind) else { continue };
        let rows = match kind {
            Kind::Table => rows(client, &name).await?,
            Kind::MaterializedView if !unpopulated => rows(client, &name).await?,
            _ => Vec::new(),
        };
        objects.insert(name, Object { kind, shape: shape.unwrap_or_default(), rows });
    }
    let mut h = Sha256::new();
    for (name, object) in &objects {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(object.digest());
    }
    Ok(State { objects, sequences, digest: hex::encode(h.finalize()) })
}

/// Each row of `name` (server-quoted), streamed as its text, hashed; sorted.
async fn rows(client: &Client, name: &str) -> Result<Vec<RowHash>> {
    let mut hashes = Vec::new();
    each_row(client, name, |line| {
        hashes.push(Sha256::digest(line).into());
        true
    })
    .await?;
    hashes.sort_unstable();
    Ok(hashes)
}

/// Calls `f` with each row's text (COPY text format, one line) of `name`,
/// until it returns false. Rows are never gathered here. `ROW(r.*)`, not
/// `r`: a column named `r` would stand for the whole row.
async fn each_row(client: &Client, name: &str, mut f: impl FnMut(&[u8]) -> bool) -> Result<()> {
    let copy = format!("COPY (SELECT ROW(r.*)::text FROM ONLY {name} AS r) TO STDOUT");
    let stream = client.copy_out(&copy).await.with_context(|| format!("cannot read the rows of {name}"))?;
    pin_mut!(stream);
    let mut partial: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.try_next().await.with_context(|| format!("reading the rows of {name}"))? {
        let mut rest: &[u8] = &chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let more = if partial.is_empty() {
                f(&rest[..end])
            } else {
                partial.extend_from_slice(&rest[..end]);
                let more = f(&partial);
                partial.clear();
                more
            };
            if !more {
                return Ok(());
            }
            rest = &rest[end + 1..];
        }
        partial.extend_from_slice(rest);
    }
    if !partial.is_empty() {
        f(&partial);
    }
    Ok(())
}
