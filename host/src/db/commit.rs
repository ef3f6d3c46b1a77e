//! The host's COMMIT: what runs in it is what the host counted and checked.
//!
//! Two things of a plugin's can run at a COMMIT, after every check and
//! count: a deferred trigger still queued (one that fired in the deferred
//! check can defer again and write, queueing another), and a `WITH HOLD`
//! cursor's query, which the server runs to the end. So the COMMIT is one
//! simple query that first fires whatever is still deferred, then fails
//! unless the rows the transaction wrote are still the number the host read
//! at its last count ([`written`]), then closes every cursor (the host's own
//! are closed by then), then commits. A failed statement skips the rest:
//! no COMMIT. Every name and operator is schema-qualified: a trigger that
//! fires there can move `search_path`.

use tokio_postgres::Client;

/// Rows inserted, updated and deleted in the open transaction, every
/// relation the counts read together (`audit::Counts`: the same relations,
/// outside the system schemas, TOAST and the host's own).
const WRITTEN: &str = "SELECT COALESCE(pg_catalog.sum(
        pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid)
        OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)
        OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid)), 0)::pg_catalog.int8
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
    WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 't', 'm', 'p']::pg_catalog.\"char\"[])
      AND n.nspname OPERATOR(pg_catalog.<>) ALL
          (ARRAY['pg_catalog', 'information_schema', 'rollout_ledger', 'rollout_roles']::pg_catalog.name[])
      AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_toast'";

/// What the gate's refusal says (the server's error message holds it).
const REFUSED: &str = "host commit gate: rows written past the last count of the host";

/// Rows the open transaction on `client` wrote so far ([`WRITTEN`]): read
/// at the host's last count, for [`commit`]. Unnamed, schema-qualified.
pub async fn written(client: &Client) -> Result<i64, tokio_postgres::Error> {
    let rows = client.query_typed(WRITTEN, &[]).await?;
    Ok(rows.first().and_then(|r| r.try_get(0).ok()).unwrap_or(-1))
}

/// Commits the host's transaction, which wrote `written` rows at the host's
/// last count (see the module's doc).
pub async fn commit(client: &Client, written: i64) -> Result<(), tokio_postgres::Error> {
    let gate = format!(
        "SET CONSTRAINTS ALL IMMEDIATE; \
         SELECT CASE WHEN w OPERATOR(pg_catalog.=) {written}::pg_catalog.int8 THEN 0 \
         ELSE ('{REFUSED}: ' OPERATOR(pg_catalog.||) w::pg_catalog.text)::pg_catalog.int4 END FROM ({WRITTEN}) AS gate(w); \
         CLOSE ALL; COMMIT"
    );
    client.batch_execute(&gate).await
}

/// Whether the COMMIT failed at its gate: something ran there and wrote.
pub fn gate_refused(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|d| d.message().contains(REFUSED))
}
