//! The reads a batch sends after its plugin's call (the server's counts,
//! the locks it holds, what its COMMIT's gate compares), kept prepared on the work session: parse and plan
//! were about 1.2 of their 1.9 ms on the server, every batch.
//!
//! A statement kept by name can be stood in for: a granted function can
//! `DEALLOCATE` it and `PREPARE` another under its name, whose answer the
//! host would take for the server's. So each use is preceded, in the same
//! round trip, by an unnamed read of how many statements SQL `PREPARE`
//! made ([`db::sql_prepared`]); any fails the batch, whose transaction is
//! rolled back. A kept statement the session no longer has is forgotten
//! after each reset and prepared again ([`forget_gone`]).

use crate::audit::Counts;
use crate::db::{self, Prepared};
use crate::error::Failure;
use crate::sql::locking::{self, Held};
use std::sync::{Arc, LazyLock};
use tokio_postgres::Client;

static COUNTS: Prepared = Prepared::new(Counts::SQL, &[]);
static HELD: LazyLock<Prepared> = LazyLock::new(|| Prepared::new(locking::held_sql(), &[]));
static LAST: LazyLock<Prepared> = LazyLock::new(|| Prepared::new(db::LAST.as_str(), &[]));

/// What a batch reads after its plugin's call.
pub(super) struct Reads {
    /// Statements SQL `PREPARE` made, read (unnamed) before the kept ones:
    /// their answers count only when this is 0.
    pub sql_prepared: Result<i64, tokio_postgres::Error>,
    pub counts: anyhow::Result<Counts>,
    /// Its locks; best effort (never fails the batch).
    pub held: Vec<Held>,
    /// What its COMMIT's gate holds it to ([`db::last_count`]), and what it
    /// locks SHARE or stronger.
    pub last: Result<db::Last, tokio_postgres::Error>,
}

/// The reads once proven: the counts only when no SQL-made statement
/// could have answered for a kept read, and no relation locked SHARE or
/// stronger.
pub(super) struct Proven {
    pub counts: Counts,
    pub held: Vec<Held>,
    /// What its COMMIT's gate holds it to ([`db::commit`]).
    pub last: db::Last,
}

impl Reads {
    /// What the batch `label` read, or why it fails: a statement SQL
    /// `PREPARE` made was on the session (the kept answers cannot be told
    /// from its), or a kept read was deallocated (the plugin's doing, not
    /// the server's or the network's), or it locks a relation SHARE or
    /// stronger.
    pub fn proven(self, label: &str) -> Result<Proven, Failure> {
        let fail = |cause: String| Failure::TierFailed { label: label.to_string(), cause };
        match self.sql_prepared {
            Ok(0) => {}
            Ok(n) => {
                return Err(fail(format!(
                    "{n} statement(s) made by SQL PREPARE were on the session after its call: the host's kept \
                     reads cannot be told from them; nothing of it is kept"
                )))
            }
            Err(e) => {
                let e = anyhow::Error::from(e).context("cannot read the session's prepared statements");
                return Err(Failure::Database(e));
            }
        }
        let counts = match self.counts {
            Ok(counts) => counts,
            Err(e) if gone(&e) => {
                return Err(fail(
                    "the host's kept read of its row counts is gone: a statement of the batch \
                                 deallocated it (DEALLOCATE); nothing of it is kept"
                        .into(),
                ))
            }
            Err(e) => return Err(Failure::Database(e.context("cannot read the batch's row counts"))),
        };
        let last = self
            .last
            .map_err(|e| Failure::Database(anyhow::Error::from(e).context("cannot read the batch's last count")))?;
        if !last.blocking.is_empty() {
            return Err(fail(format!(
                "it locks {} (a TRUNCATE, a DROP or other DDL, perhaps in a trigger or a function it may call): \
                 production's writes to it would wait on each batch, and a TRUNCATE removes rows no count shows. \
                 A batch changes rows; DDL belongs in a tier of its own (a temporary table it drops counts too: \
                 make it ON COMMIT DROP). Nothing of it is kept",
                last.blocking.join(", ")
            )));
        }
        Ok(Proven { last, counts, held: self.held })
    }
}

/// Whether a kept read failed because the session no longer has it.
fn gone(e: &anyhow::Error) -> bool {
    e.downcast_ref::<tokio_postgres::Error>().and_then(|e| e.code())
        == Some(&tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME)
}

/// The reads, pipelined after whatever the caller sent before: the guard,
/// then the kept statements.
pub(super) async fn read(client: &Arc<Client>) -> Reads {
    let counts = async { Counts::from_rows(&COUNTS.query_in(client, &[]).await?) };
    let held = async { HELD.query_in(client, &[]).await.map(|rows| locking::rows_held(&rows)) };
    let last = async {
        let rows = LAST.query_in(client, &[]).await?;
        match rows.first() {
            Some(row) => db::Last::from_row(row),
            // One row, always; were there none, its COMMIT's gate refuses.
            None => Ok(db::Last { written: "none".into(), locked: "none".into(), blocking: Vec::new() }),
        }
    };
    let (guard, counts, held, last) = futures_util::join!(db::sql_prepared(client), counts, held, last);
    Reads { sql_prepared: guard, counts, held: held.unwrap_or_default(), last }
}

/// After a reset of the work session that found only `present` (the texts
/// of its protocol-level statements): the kept ones it lost are forgotten.
pub(super) fn forget_gone(client: &Arc<Client>, present: &[String]) {
    COUNTS.forget_gone(client, present);
    HELD.forget_gone(client, present);
    LAST.forget_gone(client, present);
}
