//! SQL through the host: one statement per call, values only as bound
//! parameters (`$1`, `$2`, …), never spliced into the text.
//!
//! Every function has a twin ending in `_with` that takes the parameters:
//! `execute("DELETE FROM app.t")` / `execute_with("DELETE FROM app.t WHERE
//! code = $1", &[&code])`. The host checks each statement against the
//! plugin's grants first; a refusal (SQLSTATE `RL000`) or an SQL error comes
//! back as an [`Error`] and fails the tier even when the plugin ignores it.

use crate::__bindings::sql;
use crate::error::{Error, Result};
use crate::rows::Rows;
use crate::value::{FromValue, ToValue, Value};

/// Runs one statement and returns its rows.
pub fn query(statement: &str) -> Result<Rows> {
    query_with(statement, &[])
}

/// Runs one statement with bound parameters and returns its rows.
pub fn query_with(statement: &str, params: &[&dyn ToValue]) -> Result<Rows> {
    let params: Vec<Value> = params.iter().map(|p| p.to_value()).collect();
    let set = sql::query(statement, &params).map_err(Error::from_sql)?;
    Ok(Rows::new(set))
}

/// Runs one statement for its effect; returns the rows it changed.
pub fn execute(statement: &str) -> Result<u64> {
    execute_with(statement, &[])
}

/// Runs one statement with bound parameters; returns the rows it changed.
pub fn execute_with(statement: &str, params: &[&dyn ToValue]) -> Result<u64> {
    Ok(query_with(statement, params)?.changed)
}

/// The first column of the only row, converted: `scalar::<String>("SELECT
/// status FROM …")`. An error when there is not exactly one row.
pub fn scalar<T: FromValue>(statement: &str) -> Result<T> {
    scalar_with(statement, &[])
}

/// [`scalar`] with bound parameters.
pub fn scalar_with<T: FromValue>(statement: &str, params: &[&dyn ToValue]) -> Result<T> {
    query_with(statement, params)?.scalar()
}

/// The number a `SELECT count(*) …` returns (the first column of its only
/// row, as an integer).
pub fn count(statement: &str) -> Result<i64> {
    scalar(statement)
}

/// [`count`] with bound parameters.
pub fn count_with(statement: &str, params: &[&dyn ToValue]) -> Result<i64> {
    scalar_with(statement, params)
}

/// Whether the statement returned at least one row. The statement is sent as
/// written (add `LIMIT 1` when only the first row matters).
pub fn exists(statement: &str) -> Result<bool> {
    exists_with(statement, &[])
}

/// [`exists`] with bound parameters.
pub fn exists_with(statement: &str, params: &[&dyn ToValue]) -> Result<bool> {
    Ok(!query_with(statement, params)?.is_empty())
}
