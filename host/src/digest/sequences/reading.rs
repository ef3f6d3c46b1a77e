//! Reading every sequence's position. With libxml on the server it is one
//! statement (`sequences.sql`: `table_to_xml` reads each sequence's own
//! row, no SQL is built from a name). A server built without libxml fails
//! that with "unsupported XML feature": then the listing comes without
//! positions and a second statement reads them, a `UNION ALL` of one
//! `SELECT` per sequence the host writes with each name quoted by
//! [`crate::quote`], every row checked against the oid the listing gave
//! (a name renamed in between reads as gone, never as another sequence).

use super::Sequence;
use anyhow::{Context as _, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

const SEQUENCES: &str = include_str!("../sequences.sql");
/// Its parameters: schemas, skip locked, the host's schemas, the work
/// session's backend, with positions (libxml).
const TYPES: [Type; 5] = [Type::TEXT_ARRAY, Type::BOOL, Type::TEXT_ARRAY, Type::INT4, Type::BOOL];
/// [`SEQUENCES`] prepared on the control connection, where the watch reads
/// before every plugin transaction's COMMIT and at each batch.
static PREPARED: crate::db::Prepared = crate::db::Prepared::new(SEQUENCES, &TYPES);

/// The connection a reading is made on.
#[derive(Clone, Copy)]
pub enum On<'a> {
    /// Typed, parsed and planned each time: any connection, in a
    /// transaction or not (the digest's snapshot).
    Once(&'a Client),
    /// Prepared once (`db::Prepared`): a connection the host keeps for
    /// the command and reads on outside a transaction (the watch's).
    Kept(&'a Arc<Client>),
}

impl On<'_> {
    fn client(&self) -> &Client {
        match self {
            On::Once(c) => c,
            On::Kept(c) => c,
        }
    }
}

/// The server lacks libxml (said once per process: one server per command).
static NO_XML: AtomicBool = AtomicBool::new(false);

/// Where a sequence stood at a reading, or why it was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    At(Sequence),
    /// Another session (backend `pid`, not the work session) holds it in
    /// ACCESS EXCLUSIVE mode: not read, not waited on.
    HeldBy(i32),
    /// The work session's own open transaction holds it in ACCESS
    /// EXCLUSIVE mode (it drops the sequence or its table, or resets it):
    /// not read, since reading would wait on that very transaction.
    HeldByStep,
    /// Listed, but gone (or renamed) before its position was read (a
    /// server without libxml reads in two statements).
    Gone,
}

/// One sequence of a reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub oid: u32,
    /// Its schema's and its own name, raw (the key is the server-quoted
    /// `schema.name`): for SQL the host writes through [`crate::quote`].
    pub schema: String,
    pub relname: String,
    pub position: Position,
    /// The work session's open transaction holds it in a mode that can
    /// rewrite it at COMMIT (SHARE ROW EXCLUSIVE: ALTER SEQUENCE; EXCLUSIVE;
    /// ACCESS EXCLUSIVE): what it reads now may not be what COMMIT leaves.
    pub step_rewrites: bool,
}

/// Every sequence read, by server-quoted `schema.name`.
pub type Reading = BTreeMap<String, Entry>;

/// What a reading does with a sequence another session holds exclusively.
#[derive(Debug, Clone, Copy)]
pub enum Locks {
    /// Waits for it (bounded by the connection's lock_timeout).
    Wait,
    /// Reads around it and says who holds it; `work` is the work session's
    /// backend, whose own locks are told apart.
    Skip { work: Option<i32> },
}

/// Every sequence of `schemas` (`None`: every user schema, the host's own
/// left out) with its position, or why it was not read.
pub async fn read_all(on: On<'_>, schemas: Option<&[String]>, locks: Locks) -> Result<Reading> {
    if !NO_XML.load(Ordering::Relaxed) {
        match listing(on, schemas, locks, true).await {
            Err(e) if lacks_xml(&e) => NO_XML.store(true, Ordering::Relaxed),
            other => return other.map(|(reading, _)| reading).context("cannot read the sequences"),
        }
    }
    let (mut reading, awaiting) = listing(on, schemas, locks, false).await.context("cannot list the sequences")?;
    positions(on.client(), &mut reading, &awaiting).await.context("cannot read the sequences' positions")?;
    Ok(reading)
}

/// Whether `e` is the server saying it was built without libxml.
fn lacks_xml(e: &anyhow::Error) -> bool {
    e.downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.as_db_error())
        .is_some_and(|db| *db.code() == SqlState::FEATURE_NOT_SUPPORTED && db.message().contains("XML"))
}

/// Sequence definitions awaiting their position, by oid.
type Awaiting = BTreeMap<u32, Sequence>;

/// `sequences.sql`: with `xml`, the positions too; without, each sequence
/// to read is `Gone` in the reading and its definition in [`Awaiting`].
async fn listing(on: On<'_>, schemas: Option<&[String]>, locks: Locks, xml: bool) -> Result<(Reading, Awaiting)> {
    let host: Vec<&str> = crate::digest::HOST_SCHEMAS.iter().map(|(s, _)| *s).collect();
    let (skip, work) = match locks {
        Locks::Wait => (false, None),
        Locks::Skip { work } => (true, work),
    };
    let rows = match on {
        On::Kept(client) => PREPARED.query(client, &[&schemas, &skip, &host, &work, &xml]).await?,
        On::Once(client) => {
            let params: [(&(dyn ToSql + Sync), Type); 5] = [
                (&schemas, TYPES[0].clone()),
                (&skip, TYPES[1].clone()),
                (&host, TYPES[2].clone()),
                (&work, TYPES[3].clone()),
                (&xml, TYPES[4].clone()),
            ];
            client.query_typed(SEQUENCES, &params).await?
        }
    };
    let (mut found, mut awaiting) = (BTreeMap::new(), BTreeMap::new());
    for r in rows {
        let name: String = r.try_get(0)?;
        let oid: u32 = r.try_get(8)?;
        let definition = Sequence {
            start: r.try_get(1)?,
            min: r.try_get(2)?,
            max: r.try_get(3)?,
            increment: r.try_get(4)?,
            cycle: r.try_get(5)?,
            last_value: 0,
            is_called: false,
        };
        let (other, step_exclusive): (Option<i32>, bool) = (r.try_get(11)?, r.try_get(12)?);
        let position = match (other, step_exclusive) {
            (Some(pid), _) => Position::HeldBy(pid),
            (None, true) => Position::HeldByStep,
            (None, false) if !xml => {
                awaiting.insert(oid, definition);
                Position::Gone
            }
            (None, false) => {
                let (last_value, is_called): (Option<i64>, Option<bool>) = (r.try_get(6)?, r.try_get(7)?);
                let (Some(last_value), Some(is_called)) = (last_value, is_called) else {
                    anyhow::bail!("the position of sequence {name} read as NULL");
                };
                Position::At(Sequence { last_value, is_called, ..definition })
            }
        };
        let entry =
            Entry { oid, schema: r.try_get(9)?, relname: r.try_get(10)?, position, step_rewrites: r.try_get(13)? };
        found.insert(name, entry);
    }
    Ok((found, awaiting))
}

/// Without libxml: the positions of the sequences `awaiting`, in one
/// statement of the host's own ([`positions_sql`]); a row whose `tableoid`
/// is not the listed oid stays `Gone` (a sequence dropped in between fails
/// the statement: nothing is read).
async fn positions(client: &Client, reading: &mut Reading, awaiting: &Awaiting) -> Result<()> {
    let wanted: Vec<(u32, &str, &str)> = reading
        .values()
        .filter(|e| awaiting.contains_key(&e.oid))
        .map(|e| (e.oid, e.schema.as_str(), e.relname.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let rows = client.simple_query(&positions_sql(&wanted)).await?;
    let mut read: BTreeMap<u32, (i64, bool)> = BTreeMap::new();
    for m in rows {
        let tokio_postgres::SimpleQueryMessage::Row(r) = m else { continue };
        let field = |i: usize| r.try_get(i).ok().flatten().map(str::to_string);
        let (Some(oid), Some(tableoid), Some(last), Some(called)) = (field(0), field(1), field(2), field(3)) else {
            anyhow::bail!("a sequence's position read as NULL");
        };
        if oid == tableoid {
            read.insert(oid.parse()?, (last.parse()?, called == "t"));
        }
    }
    for e in reading.values_mut() {
        if let (Some(&(last_value, is_called)), Some(def)) = (read.get(&e.oid), awaiting.get(&e.oid)) {
            e.position = Position::At(Sequence { last_value, is_called, ..*def });
        }
    }
    Ok(())
}

/// `SELECT 16385::pg_catalog.oid, tableoid, last_value, is_called FROM
/// "app"."s" UNION ALL …`: each sequence named through
/// [`crate::quote::ident`], its oid a number, so no name can end the
/// identifier or the statement.
pub fn positions_sql(wanted: &[(u32, &str, &str)]) -> String {
    let one = |(oid, schema, name): &(u32, &str, &str)| {
        format!(
            "SELECT {oid}::pg_catalog.oid, tableoid, last_value, is_called FROM {}.{}",
            crate::quote::ident(schema),
            crate::quote::ident(name)
        )
    };
    wanted.iter().map(one).collect::<Vec<_>>().join(" UNION ALL ")
}

/// The digest's reading: every sequence read, waiting for one held
/// (`skip_locked`: left out instead).
pub async fn read(
    client: &Client,
    schemas: Option<&[String]>,
    skip_locked: bool,
) -> Result<BTreeMap<String, Sequence>> {
    let locks = if skip_locked { Locks::Skip { work: None } } else { Locks::Wait };
    let reading = read_all(On::Once(client), schemas, locks).await?;
    Ok(reading
        .into_iter()
        .filter_map(|(name, e)| match e.position {
            Position::At(s) => Some((name, s)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::positions_sql;

    #[test]
    fn the_plain_reading_quotes_every_name_as_an_identifier() {
        let sql = positions_sql(&[(16385, "app", "s"), (7, "we\"ird", "x\"; DROP TABLE t; --\n\u{1b}[31m")]);
        assert_eq!(
            sql,
            "SELECT 16385::pg_catalog.oid, tableoid, last_value, is_called FROM \"app\".\"s\" UNION ALL \
             SELECT 7::pg_catalog.oid, tableoid, last_value, is_called FROM \"we\"\"ird\".\"x\"\"; DROP TABLE t; \
             --\n\u{1b}[31m\""
        );
    }
}
