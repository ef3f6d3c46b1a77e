//! What a COMMIT would check, checked now inside the open transaction
//! (`runbook::deferred` says where and what a failure means).

use crate::quote;
use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

/// What a COMMIT would check, done now inside the open transaction and
/// kept: every deferred constraint and constraint trigger made immediate
/// in a savepoint, which is released, so the deferred events fire here,
/// once, and their triggers' writes stay (the COMMIT does not fire them
/// again, and whatever is proved after the check is proved on what the
/// COMMIT keeps). `{brief}` is empty, to wait for a row another session
/// holds as the COMMIT would (the transaction's own `lock_timeout`), or a
/// 50 ms `lock_timeout` (a check that may be left to the COMMIT, whose gate
/// fires it there and refuses any row it writes: [`super::commit`]). The
/// `lock_timeout` is kept in a transaction-local setting of the host's own
/// (`host_rollout.saved_lock_timeout`) and put back in the same round trip
/// (a `SET LOCAL` in the released savepoint would stay). Both values are
/// read back, the one kept (before any deferred trigger ran) and the one
/// put back: a trigger that changed the kept one while it ran is undone by
/// a second round trip to the value read before. With [`Modes::PutBack`],
/// a `SELECT` at the end reads the names [`DEFERRED`] gives, to defer
/// again, also in a second round trip, only when there are some (a refusal
/// costs one to leave the failed savepoint, which puts back everything).
const FIRE: &str = "SELECT pg_catalog.set_config('host_rollout.saved_lock_timeout', \
    pg_catalog.current_setting('lock_timeout'), true); \
    SAVEPOINT host_deferred_check; {brief}SET CONSTRAINTS ALL IMMEDIATE; \
    RELEASE SAVEPOINT host_deferred_check; \
    SELECT pg_catalog.set_config('lock_timeout', \
    pg_catalog.current_setting('host_rollout.saved_lock_timeout'), true); ";
const LEAVE_DEFERRED_CHECK: &str = "ROLLBACK TO SAVEPOINT host_deferred_check; RELEASE SAVEPOINT host_deferred_check";

/// The constraints (and constraint triggers) declared `INITIALLY
/// DEFERRED`, as a new transaction starts them, by the only name `SET
/// CONSTRAINTS` takes (`schema.name`, which matches every constraint of
/// that name in the schema): left out when one so named is not deferrable
/// (the statement would fail) or the session may not use the schema
/// (under `--roles`). One left out stays immediate for the rest of the
/// transaction: stricter than declared, never looser. Plugins cannot set
/// constraint modes (the checker refuses `SET CONSTRAINTS`), so the
/// declared modes are the ones to put back.
const DEFERRED: &str = "SELECT n.nspname::text, c.conname::text FROM pg_catalog.pg_constraint c \
    JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace \
    WHERE c.condeferred AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint o \
                       WHERE o.connamespace = c.connamespace AND o.conname = c.conname AND NOT o.condeferrable) \
    GROUP BY 1, 2 ORDER BY 1, 2";

/// Whether [`check_deferred`] puts the deferred constraints' modes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modes {
    /// As declared again: a plugin's statements may follow the check.
    PutBack,
    /// Left immediate until the COMMIT: only the host's reads and one
    /// write follow (a batch's step row, the last statement before
    /// COMMIT), so a deferred trigger that row sets off fires at its
    /// INSERT with nothing written between it and the COMMIT. Reading the
    /// names to defer again was half the check's time on the server. Not
    /// under roles: the role wall's own deferred trigger must fire at
    /// COMMIT, after the host has left the ledger writer's role.
    LeaveImmediate,
}

/// What [`check_deferred`] found; the transaction is usable after each.
#[derive(Debug)]
pub enum Deferred {
    /// Every deferred check passed: the deferred triggers ran and their
    /// writes are kept; the constraint modes are as declared again.
    Hold,
    /// A brief check met a row another session holds: nothing fired; the
    /// COMMIT checks it, behind its gate.
    Locked(tokio_postgres::Error),
    /// The server refused (nothing of the check is kept): what the
    /// COMMIT would refuse (a lock wait past `lock_timeout` too), or a
    /// cancel, a deadlock (the caller tells).
    Refused(tokio_postgres::Error),
}

/// Runs [`FIRE`] on `client`, in the open transaction, which must not be
/// aborted (a savepoint there fails), then puts back the `lock_timeout`
/// and the deferred modes. `Err`: the connection, leaving the savepoint or
/// putting back failed.
/// `brief`: wait at most 50 ms for a row another session holds
/// ([`Deferred::Locked`] past it).
pub async fn check_deferred(client: &Client, modes: Modes, brief: bool) -> Result<Deferred> {
    let fire = FIRE.replace("{brief}", if brief { "SET LOCAL lock_timeout = '50ms'; " } else { "" });
    let sql = match modes {
        Modes::PutBack => format!("{fire}{DEFERRED}"),
        Modes::LeaveImmediate => fire,
    };
    let e = match client.simple_query(&sql).await {
        Ok(messages) => {
            restore(client, &messages).await?;
            return Ok(Deferred::Hold);
        }
        Err(e) if e.code().is_none() || crate::sql::convert::connection_lost(&e) => {
            return Err(anyhow::Error::new(e).context("cannot check what its COMMIT would check"))
        }
        Err(e) => e,
    };
    client.batch_execute(LEAVE_DEFERRED_CHECK).await.context("cannot leave the deferred check's savepoint")?;
    let locked = e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE);
    Ok(if locked && brief { Deferred::Locked(e) } else { Deferred::Refused(e) })
}

/// After a kept check: `SET CONSTRAINTS … DEFERRED` for the names read
/// after it (two columns), and, when the `lock_timeout` put back (the
/// second one-column row) is not the one read before the check (the
/// first), that one again: as one simple query, sent only when needed.
async fn restore(client: &Client, messages: &[tokio_postgres::SimpleQueryMessage]) -> Result<()> {
    let (mut timeouts, mut names) = (Vec::new(), Vec::new());
    for m in messages {
        let tokio_postgres::SimpleQueryMessage::Row(row) = m else { continue };
        let column = |i: usize| row.try_get(i).ok().flatten();
        match (row.len(), column(0), column(1)) {
            (1, Some(timeout), _) => timeouts.push(timeout.to_string()),
            (2, Some(schema), Some(name)) => names.push(format!("{}.{}", quote::ident(schema), quote::ident(name))),
            _ => bail!("the deferred check read an unexpected row back"),
        }
    }
    let mut sql = String::new();
    match timeouts.as_slice() {
        [] => {}
        [before, after] if before == after => {}
        [before, _] => sql.push_str(&format!("SET LOCAL lock_timeout = {}; ", quote::literal(before))),
        _ => bail!("the deferred check read {} lock_timeout values back, not 2", timeouts.len()),
    }
    if !names.is_empty() {
        sql.push_str(&format!("SET CONSTRAINTS {} DEFERRED", names.join(", ")));
    }
    if sql.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&sql)
        .await
        .context("cannot put back the lock_timeout or the deferred constraints after the deferred check")
}
