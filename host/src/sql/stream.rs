//! `query-stream`: a SELECT's rows in batches, so neither the host nor the
//! plugin ever holds a whole result.
//!
//! The checked SELECT is opened as a server-side cursor the host names
//! (`DECLARE rollout_stream_N NO SCROLL CURSOR FOR <checked text>`), and
//! each batch is one `FETCH FORWARD n`, its rows read off the wire as they
//! arrive (`query_typed_raw`). A cursor, not one long-running row stream,
//! because a batch is a whole exchange: the plugin may run other statements
//! between batches (read a batch, write what it derived), the role is
//! proven after each batch under roles, and the server, not a socket
//! buffer, holds the rows not yet asked for. Plugins cannot name the cursor
//! (the check refuses DECLARE, FETCH and CLOSE); it dies with the
//! transaction if the plugin never drops its handle.

use super::send::SendError;
use super::stop::{stop_signal, Stop};
use super::{convert, one_line, SqlSession};
use crate::bindings::types::{Column, SqlError, SqlValue};
use futures_util::{pin_mut, TryStreamExt};
use std::collections::HashMap;

/// The most rows one `next` fetches, whatever the plugin asks for.
pub const MAX_BATCH: u32 = 100_000;

/// The streams open in one transaction, by the handle the plugin holds.
#[derive(Default)]
pub struct Streams {
    next_id: u32,
    open: HashMap<u32, Stream>,
}

struct Stream {
    cursor: String,
    columns: Vec<Column>,
    /// The statement as the plugin wrote it, for error records.
    statement: String,
    checked: std::sync::Arc<super::check::Checked>,
    /// The last batch came back short: nothing is left.
    done: bool,
}

impl SqlSession {
    /// Checks `statement` like `query`, requires a SELECT, and opens it as a
    /// cursor; the handle is for [`SqlSession::next_rows`].
    pub async fn open_stream(&mut self, statement: &str, params: &[SqlValue]) -> Result<Result<u32, SqlError>, Stop> {
        let checked = match self.begin_with(statement, params)? {
            Ok(c) => c,
            Err(refused) => return Ok(Err(refused)),
        };
        if checked.kind != super::check::StatementKind::Select {
            let why = format!(
                "query-stream takes one SELECT, not {}: run other statements with `query`",
                checked.kind.name()
            );
            return Ok(Err(self.refuse(statement, why)));
        }
        let id = self.streams.next_id;
        self.streams.next_id += 1;
        // Unique in the process, not per plugin: plugins that share one
        // transaction (a dry run) never meet each other's cursor names.
        static CURSORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let cursor = format!("rollout_stream_{}", CURSORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let declare = format!("DECLARE {cursor} NO SCROLL CURSOR FOR {}", checked.sql);
        let describe = format!("FETCH FORWARD 0 FROM {cursor}");
        let typed: Vec<_> = params.iter().map(convert::param).collect();
        let client = self.client.clone();
        // Pipelined: the cursor, then its columns, in one round trip.
        let open = async {
            let declared = client.query_typed_raw(&declare, typed.iter().map(|(t, v)| (v, t.clone())));
            let described = client.prepare(&describe);
            let (declared, described) = tokio::join!(declared, described);
            let rows = declared?;
            pin_mut!(rows);
            while rows.try_next().await?.is_some() {}
            described
        };
        let started = std::time::Instant::now();
        let result = self.guard(open).await;
        let types = super::sent::param_types(params);
        let effect = super::sent::Effect::of(&checked);
        let ok = matches!(result, Ok(Ok(_)));
        self.stats.sent.record(&checked.sql, effect, types, ok, 0, started.elapsed());
        let result = result?;
        let columns = match result {
            Ok(described) => convert::columns(described.columns()),
            Err(e) => return Ok(Err(self.failed(statement, &checked, &e)?)),
        };
        let stream = Stream { cursor, columns, statement: statement.to_string(), checked, done: false };
        self.streams.open.insert(id, stream);
        Ok(Ok(id))
    }

    /// The columns of an open stream.
    pub fn stream_columns(&self, id: u32) -> Vec<Column> {
        self.streams.open.get(&id).map(|s| s.columns.clone()).unwrap_or_default()
    }

    /// The next at most `max` rows of stream `id`; none once it is done.
    pub async fn next_rows(&mut self, id: u32, max: u32) -> Result<Result<Vec<Vec<SqlValue>>, SqlError>, Stop> {
        if self.interrupt.is_set() {
            return Err(Stop::Interrupted);
        }
        let Some(stream) = self.streams.open.get(&id) else {
            return Ok(Err(self.refuse("FETCH", "this row stream was closed".into())));
        };
        if stream.done {
            return Ok(Ok(Vec::new()));
        }
        let max = max.clamp(1, MAX_BATCH);
        let fetch = format!("FETCH FORWARD {max} FROM {}", stream.cursor);
        let (statement, checked) = (stream.statement.clone(), stream.checked.clone());
        let client = self.client.clone();
        let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
        let cancel = self.cancel.clone();
        let mut batch = Vec::new();
        self.bound_rows(true);
        let read = async {
            let rows =
                client.query_typed_raw(&fetch, std::iter::empty::<(&str, tokio_postgres::types::Type)>()).await?;
            pin_mut!(rows);
            // Only this batch is held: its bytes count against memory_mib.
            let mut held = 0u64;
            while let Some(row) = rows.try_next().await? {
                batch.push(self.take_row(&row, &mut held)?);
            }
            Ok::<_, SendError>(())
        };
        let result = super::stoppable(read, stop, &cancel).await;
        self.bound_rows(false);
        match result? {
            Ok(()) => {}
            Err(SendError::Stop(stop)) => return Err(stop),
            Err(SendError::Sql(e)) => return Ok(Err(self.failed(&statement, &checked, &e)?)),
            Err(SendError::Value(e)) => {
                let message = format!("SQL error {} in `{}`: {}", e.sqlstate, one_line(&statement), e.message);
                self.stats.errors.push(crate::text::cut(message, crate::text::MESSAGE_BYTES));
                return Ok(Err(e));
            }
        }
        self.prove_role().await?;
        if (batch.len() as u32) < max {
            if let Some(s) = self.streams.open.get_mut(&id) {
                s.done = true;
            }
        }
        Ok(Ok(batch))
    }

    /// The plugin dropped its handle: close the cursor now, not at COMMIT.
    /// A failure (an aborted transaction) changes nothing and is not the
    /// plugin's.
    pub async fn close_stream(&mut self, id: u32) {
        if let Some(stream) = self.streams.open.remove(&id) {
            let close = format!("CLOSE {}", stream.cursor);
            let _ = self.guard(self.client.batch_execute(&close)).await;
        }
    }

    /// The plugin's call is over: every stream it left open is closed, as
    /// its tier's COMMIT would close it, so a plugin that shares the
    /// transaction after it (a dry run) finds what a run's would. Errors
    /// (an aborted transaction) change nothing.
    pub async fn close_streams(&mut self) {
        let close: String = self.streams.open.drain().map(|(_, s)| format!("CLOSE {};", s.cursor)).collect();
        if !close.is_empty() {
            let _ = self.client.batch_execute(&close).await;
        }
    }

    /// Runs a host-built exchange under the call's deadline and Ctrl-C,
    /// cancelling it on the server when either comes first.
    async fn guard<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, Stop> {
        let stop = stop_signal(self.deadline, self.limits.wall_time_ms, self.interrupt.clone());
        super::stoppable(work, stop, &self.cancel).await
    }
}
