//! The one error type a plugin returns: a message for the operator, with the
//! SQLSTATE when it came from the database.

use crate::__bindings::types::SqlError;
use std::fmt;

/// A plugin's failure, as the operator will read it.
#[derive(Debug, Clone)]
pub struct Error {
    message: String,
    sqlstate: Option<String>,
}

/// `Result` with the plugin [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error { message: message.into(), sqlstate: None }
    }

    /// The SQLSTATE when the database (or the host's refusal, `RL000`) said no.
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }

    pub(crate) fn from_sql(e: SqlError) -> Self {
        let mut message = if e.refused {
            format!("refused by the host: {}", e.message)
        } else {
            format!("SQL error {}: {}", e.sqlstate, e.message)
        };
        if let Some(detail) = e.detail {
            message.push_str(&format!(" ({detail})"));
        }
        Error { message, sqlstate: Some(e.sqlstate) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::msg(message)
    }
}

/// Return early with a formatted [`Error`]: `bail!("found {n} rows")`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::msg(format!($($arg)*)))
    };
}
