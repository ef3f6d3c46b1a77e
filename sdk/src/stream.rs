//! Large results and bulk loads, in bounded batches (contract 0.3.1).
//!
//! [`stream`] reads a SELECT a batch at a time: the host fetches each batch
//! from a server-side cursor, so a tier can read far more rows than its
//! `memory_mib` would hold, and may run other statements between batches.
//! [`Loader`] gathers rows and sends each full batch as one `COPY` the host
//! writes (`insert` grant on the relation).
//!
//! ```ignore
//! let mut out = rollout_sdk::Loader::new("app.totals", &["code", "amount"]);
//! for batch in rollout_sdk::stream("SELECT code, amount FROM app.items")? {
//!     for row in batch?.iter() {
//!         out.push(&[&row.get::<String>("code")?, &row.get::<i64>("amount")?])?;
//!     }
//! }
//! out.finish()?;
//! ```

use crate::__bindings::sql;
use crate::__bindings::types::Column;
use crate::error::{Error, Result};
use crate::rows::Rows;
use crate::value::{ToValue, Value};

/// Rows per batch unless [`Stream::batch`] or [`Loader::batch`] says
/// otherwise: large enough that round trips are a small share, small
/// enough for a plugin with a few MiB to spare.
pub const BATCH: u32 = 10_000;

/// The most rows the host hands over per batch.
const MAX_BATCH: u32 = 100_000;

/// A SELECT's rows, one [`Rows`] batch per iteration; closed when dropped.
pub struct Stream {
    handle: sql::RowStream,
    columns: Vec<Column>,
    batch: u32,
    done: bool,
}

/// Opens one SELECT as a stream (one statement, checked like [`crate::query`]).
pub fn stream(statement: &str) -> Result<Stream> {
    stream_with(statement, &[])
}

/// [`stream`] with bound parameters.
pub fn stream_with(statement: &str, params: &[&dyn ToValue]) -> Result<Stream> {
    let params: Vec<Value> = params.iter().map(|p| p.to_value()).collect();
    let handle = sql::query_stream(statement, &params).map_err(Error::from_sql)?;
    let columns = handle.columns();
    Ok(Stream { handle, columns, batch: BATCH, done: false })
}

impl Stream {
    /// At most `rows` per batch (the host caps it at 100,000).
    pub fn batch(mut self, rows: u32) -> Self {
        // A short batch means the end, so never ask for more than the host gives.
        self.batch = rows.clamp(1, MAX_BATCH);
        self
    }

    /// Calls `f` on every row, in order; the number of rows.
    pub fn for_each_row(self, mut f: impl FnMut(crate::Row<'_>) -> Result<()>) -> Result<u64> {
        let mut n = 0;
        for batch in self {
            let batch = batch?;
            for row in batch.iter() {
                f(row)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Iterator for Stream {
    type Item = Result<Rows>;

    fn next(&mut self) -> Option<Result<Rows>> {
        if self.done {
            return None;
        }
        match self.handle.next(self.batch) {
            Ok(rows) if rows.is_empty() => {
                self.done = true;
                None
            }
            Ok(rows) => {
                self.done = rows.len() < self.batch as usize;
                Some(Ok(Rows::batch(self.columns.clone(), rows)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(Error::from_sql(e)))
            }
        }
    }
}

/// Loads `rows` into `columns` of `relation` (`schema.table`) with one
/// COPY; the rows loaded.
pub fn copy_in(relation: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<u64> {
    let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    sql::copy_in(relation, &columns, rows).map_err(Error::from_sql)
}

/// Gathers rows for one relation and loads each full batch with
/// [`copy_in`]; call [`Loader::finish`] for the last one.
pub struct Loader {
    relation: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    batch: usize,
    loaded: u64,
}

impl Loader {
    /// A loader into `columns` of `relation` (`schema.table`).
    pub fn new(relation: &str, columns: &[&str]) -> Self {
        let columns = columns.iter().map(|c| c.to_string()).collect();
        Loader { relation: relation.into(), columns, rows: Vec::new(), batch: BATCH as usize, loaded: 0 }
    }

    /// Rows per COPY.
    pub fn batch(mut self, rows: usize) -> Self {
        self.batch = rows.max(1);
        self
    }

    /// Adds one row, its values in column order; loads the batch when full.
    pub fn push(&mut self, values: &[&dyn ToValue]) -> Result<()> {
        self.rows.push(values.iter().map(|v| v.to_value()).collect());
        if self.rows.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Loads what is gathered; the rows loaded so far in all.
    pub fn flush(&mut self) -> Result<u64> {
        if !self.rows.is_empty() {
            self.loaded += sql::copy_in(&self.relation, &self.columns, &self.rows).map_err(Error::from_sql)?;
            self.rows.clear();
        }
        Ok(self.loaded)
    }

    /// Loads the last batch; the rows loaded in all.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()
    }
}
