//! Reading a database without holding it: the reading's one snapshot is
//! exported (`pg_export_snapshot()`) on a connection that reads nothing
//! else and stays open until the digest ends; everything is read on a
//! second connection, one relation per short `REPEATABLE READ READ ONLY`
//! transaction that imports that snapshot (`SET TRANSACTION SNAPSHOT`). So
//! the digest is one consistent state, yet no lock outlives one relation's
//! read: production's `ALTER TABLE` waits for one relation, not the whole
//! database. Each lock is asked for under a short `lock_timeout` and asked
//! again after a growing wait, up to [`PATIENCE`], so the reading never
//! stands in a lock queue ahead of production's own statements for long;
//! each read is bounded by `statement_timeout` ([`READ_TIMEOUT`]).

use crate::rehearsal_copy::Identity;
use anyhow::{anyhow, Context as _, Result};
use futures_util::{pin_mut, TryStreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// How long one lock request may wait before it is withdrawn.
const LOCK_TIMEOUT: &str = "100ms";
/// The first wait between two lock requests; it doubles each time, up to
/// [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(2);
/// How long a relation may stay locked against the reading before the
/// digest gives up, naming it.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The bound on one relation's read (and the catalog's).
pub const READ_TIMEOUT: &str = "10min";

/// Every setting that shapes a value's text, fixed: the copy's and the
/// source's own defaults may differ, and `extra_float_digits` below 1 would
/// print two different floats alike. `row_security = off` makes a policy
/// that would hide rows an error instead.
const SETTINGS: &str = "SET LOCAL row_security = off; SET LOCAL search_path = pg_catalog; \
     SET LOCAL extra_float_digits = 3; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; \
     SET LOCAL TimeZone = 'UTC'; SET LOCAL bytea_output = 'hex'; SET LOCAL idle_in_transaction_session_timeout = 0";

/// The two connections a digest reads one database on.
pub struct Reader {
    holder: Arc<Client>,
    reader: Arc<Client>,
    /// Where both stand (proven equal when the pair is made).
    pub server: Identity,
}

impl Reader {
    /// A reader over `holder` (exports the snapshot) and `reader` (reads),
    /// which must stand on the same server and database.
    pub async fn pair(holder: Arc<Client>, reader: Arc<Client>) -> Result<Reader> {
        let server = Identity::of(&holder).await.context("cannot read the server's identity")?;
        let other = Identity::of(&reader).await.context("cannot read the server's identity")?;
        if other != server {
            return Err(anyhow!(
                "the digest's two connections reached different servers or databases ({server}; {other}): a \
                 multi-host URL or a pooler sent them apart; name one server"
            ));
        }
        Ok(Reader { holder, reader, server })
    }

    /// The reading connection, outside any transaction (the rehearsal's own
    /// checks: the copy's mark, the database's name).
    pub fn session(&self) -> &Arc<Client> {
        &self.reader
    }

    /// Exports a snapshot and holds it until [`Snapshot::end`]; reads, in
    /// the same transaction, the identity of the server it belongs to.
    pub async fn snapshot(&self) -> Result<Snapshot<'_>> {
        let begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL idle_in_transaction_session_timeout = 0; \
             SET LOCAL statement_timeout = '{READ_TIMEOUT}'"
        );
        self.holder.batch_execute(&begin).await.context("cannot begin the reading's snapshot")?;
        let exported = async {
            let id: String = self.holder.query_one("SELECT pg_catalog.pg_export_snapshot()", &[]).await?.try_get(0)?;
            Ok::<_, tokio_postgres::Error>((id, Identity::of(&self.holder).await?))
        };
        match exported.await {
            Ok((id, server)) => Ok(Snapshot { holder: &self.holder, reader: &self.reader, id, server }),
            Err(e) => {
                let _ = self.holder.batch_execute("ROLLBACK").await;
                Err(anyhow::Error::new(e).context("cannot export the reading's snapshot"))
            }
        }
    }
}

/// One exported snapshot, held open on the holder.
pub struct Snapshot<'a> {
    holder: &'a Client,
    reader: &'a Client,
    id: String,
    /// The server the snapshot was taken on, read in its own transaction.
    pub server: Identity,
}

impl Snapshot<'_> {
    /// Releases the snapshot. It was read-only: ending it changes nothing,
    /// and a lost connection ends it too.
    pub async fn end(self) {
        let _ = self.holder.batch_execute("COMMIT").await;
    }

    /// Opens a short transaction on the reader in the snapshot; with
    /// `relation`, takes its ACCESS SHARE lock first, asking again after a
    /// growing wait while another session holds a conflicting one. The
    /// caller reads, then calls [`Snapshot::close`].
    pub async fn open(&self, relation: Option<&str>) -> Result<&Client> {
        let lock = relation.map(|r| format!("; SELECT FROM ONLY {r} WHERE false")).unwrap_or_default();
        let begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; {SETTINGS}; \
             SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; SET LOCAL statement_timeout = '{READ_TIMEOUT}'{lock}",
            crate::quote::literal(&self.id)
        );
        let mut patience = Patience::new();
        loop {
            match self.reader.batch_execute(&begin).await {
                Ok(()) => return Ok(self.reader),
                Err(e) => {
                    self.close().await;
                    let what = relation.unwrap_or("the catalog");
                    if !locked(&e) {
                        return Err(refused(e.into(), what).context(format!("cannot begin reading {what}")));
                    }
                    patience.wait(self.reader, what, relation).await?;
                }
            }
        }
    }

    /// Ends the reader's transaction (read-only: nothing to keep).
    pub async fn close(&self) {
        let _ = self.reader.batch_execute("ROLLBACK").await;
    }

    /// Calls `f` with each row's text of `relation` (server-quoted) in its
    /// own transaction, until `f` returns false.
    pub async fn each_row(&self, relation: &str, f: impl FnMut(&[u8]) -> bool) -> Result<()> {
        let client = self.open(Some(relation)).await?;
        let read = each_row(client, relation, f).await;
        self.close().await;
        read
    }
}

/// Waits between lock requests: doubling up to [`LONGEST_WAIT`], until
/// [`PATIENCE`] is spent.
pub(crate) struct Patience {
    started: Instant,
    wait: Duration,
}

impl Patience {
    pub(crate) fn new() -> Patience {
        Patience { started: Instant::now(), wait: FIRST_WAIT }
    }

    /// Sleeps before the next request, or says who holds `relation` and
    /// gives up once [`PATIENCE`] is spent.
    pub(crate) async fn wait(&mut self, client: &Client, what: &str, relation: Option<&str>) -> Result<()> {
        let waited = self.started.elapsed();
        if waited >= PATIENCE {
            let holders = match relation {
                Some(r) => holders(client, r).await,
                None => String::new(),
            };
            return Err(anyhow!(
                "cannot read {what}: another session holds a lock on it that conflicts with reading{holders} (an \
                 ALTER, TRUNCATE, VACUUM FULL, REINDEX, LOCK …); the digest asked {} ms at a time for {:.1} s, so as \
                 not to queue the database's own statements behind it, and gave up: read again once it is released",
                LOCK_TIMEOUT.trim_end_matches("ms"),
                waited.as_secs_f64()
            ));
        }
        tokio::time::sleep(self.wait.min(PATIENCE - waited)).await;
        self.wait = (self.wait * 2).min(LONGEST_WAIT);
        Ok(())
    }
}

/// The sessions that hold a lock on `relation` conflicting with ACCESS
/// SHARE, for the message (empty if none is seen any more).
async fn holders(client: &Client, relation: &str) -> String {
    const HOLDERS: &str = "SELECT pg_catalog.string_agg(format('pid %s (%s) holds %s since %s', l.pid,
                coalesce(nullif(a.application_name, ''), a.usename::text, '?'), l.mode,
                to_char(a.xact_start AT TIME ZONE 'UTC', 'HH24:MI:SS UTC')), '; ' ORDER BY l.pid)
           FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
          WHERE l.relation = pg_catalog.to_regclass($1) AND l.granted AND l.mode = 'AccessExclusiveLock'";
    match client.query_one(HOLDERS, &[&relation]).await.and_then(|r| r.try_get::<_, Option<String>>(0)) {
        Ok(Some(h)) => format!(": {}", crate::text::terminal(&h)),
        _ => String::new(),
    }
}

/// A lock request withdrawn at `lock_timeout`.
pub(crate) fn locked(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
}

/// Calls `f` with each row's text (COPY text format, one line) of `name`,
/// until it returns false. Rows are never gathered here. `ROW(r.*)`, not
/// `r`: a column named `r` would stand for the whole row.
async fn each_row(client: &Client, name: &str, mut f: impl FnMut(&[u8]) -> bool) -> Result<()> {
    let copy = format!("COPY (SELECT ROW(r.*)::text FROM ONLY {name} AS r) TO STDOUT");
    let stream = client.copy_out(&copy).await.map_err(|e| failed(e, name))?;
    pin_mut!(stream);
    let mut partial: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.try_next().await.map_err(|e| failed(e, name))? {
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

fn failed(e: tokio_postgres::Error, name: &str) -> anyhow::Error {
    if e.code() == Some(&SqlState::QUERY_CANCELED) {
        return anyhow!(
            "reading the rows of {name} took longer than the digest's bound of {READ_TIMEOUT} (statement_timeout)"
        );
    }
    refused(e.into(), name).context(format!("cannot read the rows of {name}"))
}

/// A read the server refused for want of a privilege, said with what to
/// do: the digest reads every table of every user schema, or it would pass
/// over what it cannot see.
pub(crate) fn refused(e: anyhow::Error, what: &str) -> anyhow::Error {
    let code = e.downcast_ref::<tokio_postgres::Error>().and_then(|e| e.code());
    if code == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return e.context(format!(
            "the digest reads every table and sequence of every user schema, {what} included, and may not: grant \
             the role that rehearses `pg_read_all_data` (or SELECT on it, USAGE on its schema) on both databases"
        ));
    }
    e
}
