//! Sending a checked statement: one round trip with bound parameters, its
//! rows counted against the plugin's limits as they arrive, and a DDL
//! statement's short lock wait retried ([`locking`]).

use super::session::SqlSession;
use super::stop::{stop_signal, stoppable, Stop};
use super::{check, convert, locking};
use crate::bindings::types::{RowSet, SqlError, SqlValue};
use futures_util::{pin_mut, TryStreamExt};
use std::time::Instant;

impl SqlSession {
    /// Sends a checked statement until it ends, the deadline or Ctrl-C.
    pub(super) async fn send(
        &mut self,
        checked: &check::Checked,
        params: &[SqlValue],
    ) -> Result<Result<RowSet, SendError>, Stop> {
        let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
        let cancel = self.cancel.clone();
        self.bound_rows(true);
        let result = stoppable(self.send_rows(checked, params), stop, &cancel).await;
        self.bound_rows(false);
        result
    }

    /// A DDL statement ([`locking`]): each attempt in its own savepoint
    /// under `ddl_lock_timeout_ms`, sent in one round trip with the
    /// savepoint, the wait, the release and the read of the locks held
    /// after it; an attempt whose wait ran out is undone, said, paused
    /// and retried up to `ddl_lock_retries`, then fails naming who held
    /// the lock.
    pub(super) async fn send_ddl(
        &mut self,
        checked: &check::Checked,
        params: &[SqlValue],
        lock: check::Lock,
    ) -> Result<Result<RowSet, SendError>, Stop> {
        let (first, mut rng) = (Instant::now(), fastrand::Rng::new());
        let relations = locking::relations(&lock.relation);
        let mut retry = 0;
        loop {
            // Its locks are held from before it was sent, not from when the
            // read after it answered (a rewrite holds them all along).
            let sent = Instant::now();
            let client = self.client.clone();
            let (before, after) = (locking::before(&self.limits), locking::after(&self.limits));
            let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
            let cancel = self.cancel.clone();
            self.bound_rows(true);
            let work = async {
                let (b, r, a, h) = futures_util::join!(
                    client.batch_execute(&before),
                    self.send_rows(checked, params),
                    client.batch_execute(&after),
                    locking::held(&client)
                );
                (b.and(a), r, h)
            };
            let result = stoppable(work, stop, &cancel).await;
            self.bound_rows(false);
            let (wrapped, result, held) = result?;
            let lock_wait_ran_out = matches!(&result, Err(SendError::Sql(e))
                if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE));
            if !lock_wait_ran_out {
                if let (Ok(()), Ok(_), Ok(held)) = (&wrapped, &result, held) {
                    self.stats.held.extend(held.into_iter().map(|h| locking::Held { seen: sent, ..h }));
                }
                return Ok(result);
            }
            // Back to before the attempt, then who held the lock.
            if let Err(e) = self.client.batch_execute(locking::UNDO).await {
                return Ok(Err(SendError::Sql(e)));
            }
            let blockers = locking::blockers(&self.client, &relations, lock.mode).await;
            if retry >= self.limits.ddl_lock_retries {
                let why = locking::spent(&lock.relation, &self.limits, first.elapsed(), &blockers);
                return Ok(Err(SendError::Value(SqlError {
                    sqlstate: "55P03".into(),
                    message: why,
                    detail: None,
                    refused: false,
                })));
            }
            retry += 1;
            self.stats.lock_retries += 1;
            let pause = locking::pause(retry, &mut rng);
            if let Some(say) = &self.on_wait {
                let by = match blockers.first() {
                    Some(b) if blockers.len() > 1 => format!("{} and {} more", b.short(), blockers.len() - 1),
                    Some(b) => b.short(),
                    None => "a session that has since ended".into(),
                };
                let n = self.limits.ddl_lock_retries;
                say(&format!("lock on {} held by {by}, retry {retry}/{n} in {} ms", lock.relation, pause.as_millis()));
            }
            let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                stop = stop => return Err(stop),
            }
        }
    }

    /// Counts one row handed to the plugin against `rows_returned`, and its
    /// bytes (`held`, since the last batch began) against `memory_mib`.
    pub(super) fn take_row(&mut self, row: &tokio_postgres::Row, held: &mut u64) -> Result<Vec<SqlValue>, SendError> {
        self.stats.rows_returned += 1;
        if self.stats.rows_returned > self.limits.rows_returned {
            return Err(SendError::Stop(Stop::Limit { name: "rows_returned", value: self.limits.rows_returned }));
        }
        let values = convert::row(row).map_err(SendError::Value)?;
        *held += values.iter().map(convert::size).sum::<u64>();
        if *held > self.limits.memory_mib * 1024 * 1024 {
            return Err(SendError::Stop(Stop::Limit { name: "memory_mib", value: self.limits.memory_mib }));
        }
        Ok(values)
    }

    /// One round trip: parse, bind and execute with the parameters' own
    /// types (`query_typed_raw`), results in binary.
    async fn send_rows(&mut self, checked: &check::Checked, params: &[SqlValue]) -> Result<RowSet, SendError> {
        let typed: Vec<_> = params.iter().map(convert::param).collect();
        let stream = self.client.query_typed_raw(&checked.sql, typed.iter().map(|(t, v)| (v, t.clone()))).await?;
        pin_mut!(stream);
        let mut rows = Vec::new();
        let mut columns = None;
        // Rows are held in the host before the plugin gets them: budget
        // their bytes too, at the plugin's own memory limit.
        let mut held = 0u64;
        while let Some(row) = stream.try_next().await? {
            if columns.is_none() {
                columns = Some(convert::columns(row.columns()));
            }
            rows.push(self.take_row(&row, &mut held)?);
        }
        // A SELECT's row count is not a change.
        let rows_changed =
            if checked.kind == check::StatementKind::Select { 0 } else { stream.rows_affected().unwrap_or(0) };
        let columns = match columns {
            Some(c) => c,
            None => self.describe_empty(checked, &typed).await?,
        };
        Ok(RowSet { columns, rows, rows_changed })
    }

    /// The columns of a result without rows, which `query_typed_raw` does
    /// not hand back: a second round trip, only for a statement that has
    /// columns (a SELECT, or a change with RETURNING) and returned no row.
    async fn describe_empty(
        &self,
        checked: &check::Checked,
        typed: &[(tokio_postgres::types::Type, convert::TextParam)],
    ) -> Result<Vec<crate::bindings::types::Column>, SendError> {
        let returning = checked.sql.to_ascii_uppercase().contains("RETURNING");
        if checked.kind != check::StatementKind::Select && !returning {
            return Ok(Vec::new());
        }
        let types: Vec<_> = typed.iter().map(|(t, _)| t.clone()).collect();
        let stmt = self.client.prepare_typed(&checked.sql, &types).await?;
        Ok(convert::columns(stmt.columns()))
    }
}

/// Why sending a statement did not give rows.
pub(super) enum SendError {
    /// The server (or the connection) said no.
    Sql(tokio_postgres::Error),
    /// A value the contract cannot carry (`RL001`).
    Value(SqlError),
    /// A limit the host enforces.
    Stop(Stop),
}

impl From<tokio_postgres::Error> for SendError {
    fn from(e: tokio_postgres::Error) -> Self {
        SendError::Sql(e)
    }
}
