//! The host's COMMIT: what runs in it is what the host counted and checked.
//!
//! Two things of a plugin's can run at a COMMIT, after every check and
//! count: a deferred trigger still queued (one that fired in the deferred
//! check can defer again and write, queueing another), and a `WITH HOLD`
//! cursor's query, which the server runs to the end. So the COMMIT is one
//! simple query that first fires whatever is still deferred, then fails
//! unless what the transaction wrote and locked is still, relation by
//! relation, what the host read at its last count ([`last_count`]), then
//! closes every cursor (the host's own are closed by then), then commits.
//! A failed statement skips the rest: no COMMIT. Every name and operator
//! is schema-qualified: a trigger that fires there can move `search_path`.
//!
//! Exact, not totals: a TRUNCATE takes back a relation's counts, so a sum
//! can be balanced; and a trigger that queues another to run after the
//! gate must write a row to do so, which the exact count shows.

use tokio_postgres::Client;

/// The rows the open transaction wrote, relation by relation, as one text
/// the server builds (`oid:inserted:updated:deleted`, by oid): the
/// system catalogs are in it (DDL, a function replaced, a grant, an enum
/// value renamed, a large object written all move their counts). Left out:
/// TOAST, the host's own schemas (it writes its ledger after its last
/// count) and the shared catalogs (under `--roles` it grants roles then).
const WRITTEN: &str = "SELECT COALESCE(pg_catalog.string_agg(o OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) i
            OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) u OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) d,
            ',' ORDER BY c), '') FROM (
        SELECT c.oid AS c, c.oid::pg_catalog.text AS o,
               pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)::pg_catalog.text AS i,
               pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)::pg_catalog.text AS u,
               pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid)::pg_catalog.text AS d
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'm', 'p']::pg_catalog.\"char\"[])
           AND NOT c.relisshared
           AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['rollout_ledger', 'rollout_roles']::pg_catalog.name[])
           AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_toast'
        OFFSET 0) counted
    WHERE i OPERATOR(pg_catalog.<>) '0' OR u OPERATOR(pg_catalog.<>) '0' OR d OPERATOR(pg_catalog.<>) '0'";

/// The relation locks the open transaction holds that make production's
/// writes wait (SHARE or stronger: a TRUNCATE's, a DROP's, DDL's), but on a
/// temporary relation or a TOAST table or index: `schema.name` (a relation
/// dropped in the transaction has no name left: its oid), the mode, the
/// oid, and for ACCESS EXCLUSIVE the relation's size (a TRUNCATE of a
/// relation made or rewritten in the transaction empties it in place,
/// counting nothing and taking no new lock). A TRUNCATE removes rows the
/// server counts none of, so a lock is what shows it. No batch may hold
/// one (`runbook::batched`), and the gate refuses any change past the
/// host's last count.
pub const BLOCKING: &str = "SELECT COALESCE(n.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname,
           'a relation dropped in it (oid ' OPERATOR(pg_catalog.||) l.relation::pg_catalog.text OPERATOR(pg_catalog.||) ')')
           AS name,
           l.mode, l.relation,
           CASE WHEN l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock'::pg_catalog.text
                THEN ':' OPERATOR(pg_catalog.||) COALESCE(pg_catalog.pg_relation_size(l.relation::pg_catalog.regclass)::pg_catalog.text, 'gone')
                ELSE '' END AS size
      FROM pg_catalog.pg_lock_status() l
      LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) l.relation
      LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND l.granted
       AND l.locktype OPERATOR(pg_catalog.=) 'relation'::pg_catalog.text
       AND l.mode OPERATOR(pg_catalog.=) ANY
           (ARRAY['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock']::pg_catalog.text[])
       AND l.database OPERATOR(pg_catalog.=)
           (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND COALESCE(c.relpersistence OPERATOR(pg_catalog.<>) 't'::pg_catalog.\"char\", true)
       AND COALESCE(c.relkind OPERATOR(pg_catalog.<>) 't'::pg_catalog.\"char\", true)
       AND COALESCE(n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_toast', true)";

/// What the gate compares, read in one statement: [`WRITTEN`], the
/// [`BLOCKING`] locks as one text (`oid:mode[:size]`, by oid and mode),
/// and their names for a message (`name (mode)`, one a relation).
fn last_sql() -> String {
    format!(
        "SELECT ({WRITTEN}) AS written,
                (SELECT COALESCE(pg_catalog.string_agg(b.relation::pg_catalog.text OPERATOR(pg_catalog.||) ':'
                     OPERATOR(pg_catalog.||) b.mode OPERATOR(pg_catalog.||) b.size, ',' ORDER BY b.relation, b.mode), '')
                   FROM ({BLOCKING}) b) AS locked,
                (SELECT COALESCE(pg_catalog.array_agg(b.name OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) b.mode
                     OPERATOR(pg_catalog.||) ')' ORDER BY b.name, b.mode), '{{}}') FROM ({BLOCKING}) b) AS names"
    )
}

/// The SQL of [`last_count`], for a caller that keeps it prepared (a
/// batch, behind its guard).
pub static LAST: std::sync::LazyLock<String> = std::sync::LazyLock::new(last_sql);

/// What the gate's refusal says (the server's error message holds it).
const REFUSED: &str = "host commit gate: rows written or relations locked past the last count of the host";

/// What the host last counted of its open transaction, where it last
/// proved it: what its COMMIT's gate holds the transaction to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    /// [`WRITTEN`]: each relation's rows written.
    pub written: String,
    /// The [`BLOCKING`] locks, each relation's.
    pub locked: String,
    /// The [`BLOCKING`] locks by name, `name (MODE)`, each relation once in
    /// its strongest mode (what a batch's failure names).
    pub blocking: Vec<String>,
}

impl Last {
    /// From a row of [`LAST`].
    pub fn from_row(row: &tokio_postgres::Row) -> Result<Last, tokio_postgres::Error> {
        use crate::sql::locking::{mode_name, strength};
        let mut strongest: Vec<(String, String)> = Vec::new();
        for held in row.try_get::<_, Vec<String>>(2)? {
            // `name (Mode)`: the name may hold " (", the mode never does.
            let (name, mode) = held.rsplit_once(" (").unwrap_or((held.as_str(), ""));
            let mode = mode.trim_end_matches(')');
            match strongest.iter_mut().find(|(n, _)| n == name) {
                Some((_, m)) if strength(mode) > strength(m) => *m = mode.to_string(),
                Some(_) => {}
                None => strongest.push((name.to_string(), mode.to_string())),
            }
        }
        let blocking = strongest.into_iter().map(|(name, mode)| format!("{name} ({})", mode_name(&mode))).collect();
        Ok(Last { written: row.try_get(0)?, locked: row.try_get(1)?, blocking })
    }
}

/// [`Last`] of the open transaction on `client`: one read, unnamed,
/// schema-qualified.
pub async fn last_count(client: &Client) -> Result<Last, tokio_postgres::Error> {
    let rows = client.query_typed(&LAST, &[]).await?;
    match rows.first() {
        Some(row) => Last::from_row(row),
        // One row, always; were there none, the gate would refuse.
        None => Ok(Last { written: "none".into(), locked: "none".into(), blocking: Vec::new() }),
    }
}

/// Commits the host's transaction, held to `last` (see the module's doc).
pub async fn commit(client: &Client, last: &Last) -> Result<(), tokio_postgres::Error> {
    use crate::quote::literal;
    let (written, locked) = (literal(&last.written), literal(&last.locked));
    // Its head says what it is: `pg_stat_activity` shows a query's first
    // 1,024 bytes (`track_activity_query_size`), and the COMMIT is last.
    let gate = format!(
        "/* host: COMMIT behind its gate */ SET CONSTRAINTS ALL IMMEDIATE; \
         SELECT CASE WHEN gate.written OPERATOR(pg_catalog.=) {written}::pg_catalog.text \
                      AND gate.locked OPERATOR(pg_catalog.=) {locked}::pg_catalog.text THEN 0 \
         ELSE ('{REFUSED} (relations locked SHARE or stronger now: ' OPERATOR(pg_catalog.||) \
               CASE WHEN pg_catalog.cardinality(gate.names) OPERATOR(pg_catalog.=) 0 THEN 'none' \
                    ELSE pg_catalog.array_to_string(gate.names, ', ') END OPERATOR(pg_catalog.||) ')')::pg_catalog.int4 END \
         FROM ({}) AS gate; \
         CLOSE ALL; COMMIT",
        &*LAST
    );
    client.batch_execute(&gate).await
}

/// Whether the COMMIT failed at its gate: something ran there and wrote
/// or locked.
pub fn gate_refused(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| d.message().contains(REFUSED))
}

/// The gate's refusal as the operator reads it, from its error (the
/// server's message wraps it in an integer cast's).
pub fn refusal(e: &tokio_postgres::Error) -> String {
    let message = e.as_db_error().map(|d| d.message()).unwrap_or_default();
    match message.find(REFUSED) {
        Some(at) => message[at..].trim_end_matches('"').to_string(),
        None => super::why(e),
    }
}
