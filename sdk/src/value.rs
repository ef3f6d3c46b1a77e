//! Conversions between Rust values and the WIT `sql-value`.

use crate::error::{Error, Result};

/// A typed SQL value as it crosses the host boundary.
pub use crate::__bindings::types::SqlValue as Value;

/// A Rust value that can be bound as a statement parameter.
pub trait ToValue {
    /// The value to bind.
    fn to_value(&self) -> Value;
}

/// A Rust value that can be read out of a result column.
pub trait FromValue: Sized {
    /// Converts, or says which type was found instead.
    fn from_value(v: &Value) -> Result<Self>;
}

impl ToValue for &str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Boolean(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int4(*self)
    }
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int8(*self)
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Float8(*self)
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int2(_) => "int2",
        Value::Int4(_) => "int4",
        Value::Int8(_) => "int8",
        Value::Float8(_) => "float8",
        Value::Numeric(_) => "numeric",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::Json(_) => "json",
        Value::Timestamp(_) => "timestamp",
        Value::Uuid(_) => "uuid",
    }
}

fn mismatch<T>(want: &str, v: &Value) -> Result<T> {
    Err(Error::msg(format!("expected {want}, found {}", type_name(v))))
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Int2(n) => Ok(*n as i64),
            Value::Int4(n) => Ok(*n as i64),
            Value::Int8(n) => Ok(*n),
            Value::Numeric(s) => s.parse().map_err(|_| Error::msg(format!("numeric {s} is not an integer"))),
            other => mismatch("an integer", other),
        }
    }
}
impl FromValue for i32 {
    fn from_value(v: &Value) -> Result<Self> {
        let n = i64::from_value(v)?;
        i32::try_from(n).map_err(|_| Error::msg(format!("{n} does not fit in i32")))
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Float8(n) => Ok(*n),
            Value::Numeric(s) => s.parse().map_err(|_| Error::msg(format!("numeric {s} is not a number"))),
            other => Ok(i64::from_value(other)? as f64),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Boolean(b) => Ok(*b),
            other => mismatch("a boolean", other),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Text(s) | Value::Numeric(s) | Value::Json(s) | Value::Timestamp(s) | Value::Uuid(s) => Ok(s.clone()),
            Value::Boolean(b) => Ok(b.to_string()),
            Value::Int2(n) => Ok(n.to_string()),
            Value::Int4(n) => Ok(n.to_string()),
            Value::Int8(n) => Ok(n.to_string()),
            Value::Float8(n) => Ok(n.to_string()),
            other => mismatch("text", other),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}
