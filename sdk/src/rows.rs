//! Result rows with access by column name.

use crate::__bindings::types::{Column, RowSet};
use crate::error::{Error, Result};
use crate::value::{FromValue, Value};

/// The rows a statement returned, and how many rows it changed.
pub struct Rows {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
    /// Rows inserted, updated or deleted.
    pub changed: u64,
}

/// One row; read columns by name with [`Row::get`].
pub struct Row<'a> {
    columns: &'a [Column],
    values: &'a [Value],
}

impl Rows {
    pub(crate) fn new(set: RowSet) -> Self {
        Rows { columns: set.columns, rows: set.rows, changed: set.rows_changed }
    }

    /// One batch of a [`crate::Stream`].
    pub(crate) fn batch(columns: Vec<Column>, rows: Vec<Vec<Value>>) -> Self {
        Rows { columns, rows, changed: 0 }
    }

    /// Number of rows returned.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no row came back.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row { columns: &self.columns, values })
    }

    /// The only row; an error if there are none or several.
    pub fn one(&self) -> Result<Row<'_>> {
        match self.rows.len() {
            1 => Ok(Row { columns: &self.columns, values: &self.rows[0] }),
            n => Err(Error::msg(format!("expected exactly one row, got {n}"))),
        }
    }

    /// The first column of the only row: `SELECT count(*) …`.
    pub fn scalar<T: FromValue>(&self) -> Result<T> {
        let row = self.one()?;
        let v = row.values.first().ok_or_else(|| Error::msg("the row has no column"))?;
        T::from_value(v)
    }
}

impl Row<'_> {
    /// The value of the named column, converted.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T> {
        let i = self
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| Error::msg(format!("no column `{column}` in the result")))?;
        T::from_value(&self.values[i]).map_err(|e| Error::msg(format!("column `{column}`: {e}")))
    }
}
