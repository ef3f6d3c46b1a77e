//! Conversion between the WIT `sql-value` and PostgreSQL's wire formats.
//!
//! Parameters go as text with a type hint, so the server parses them exactly
//! as it would a literal of the inferred type; results arrive in binary and
//! are decoded per column type.

use crate::sandbox::bindings::rollout::plugin::types::{Column, SqlError, SqlValue};
use bytes::BytesMut;
use std::error::Error as StdError;
use tokio_postgres::types::{Format, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

/// A parameter bound in text format; the server parses it for whatever
/// type it inferred or the hint said.
#[derive(Debug)]
pub struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }
    tokio_postgres::types::to_sql_checked!();
}

/// The type hint and text form of a parameter.
pub fn param(v: &SqlValue) -> (Type, TextParam) {
    let t = |ty: Type, s: String| (ty, TextParam(Some(s)));
    match v {
        SqlValue::Null => (Type::UNKNOWN, TextParam(None)),
        SqlValue::Boolean(b) => t(Type::BOOL, if *b { "t" } else { "f" }.into()),
        SqlValue::Int2(n) => t(Type::INT2, n.to_string()),
        SqlValue::Int4(n) => t(Type::INT4, n.to_string()),
        SqlValue::Int8(n) => t(Type::INT8, n.to_string()),
        SqlValue::Float8(n) => t(Type::FLOAT8, n.to_string()),
        SqlValue::Numeric(s) => t(Type::NUMERIC, s.clone()),
        // Like a quoted literal: the server decides (text, varchar, a date…).
        SqlValue::Text(s) => t(Type::UNKNOWN, s.clone()),
        SqlValue::Bytes(b) => t(Type::BYTEA, format!("\\x{}", hex::encode(b))),
        SqlValue::Json(s) => t(Type::JSONB, s.clone()),
        SqlValue::Timestamp(s) => t(Type::TIMESTAMPTZ, s.clone()),
        SqlValue::Uuid(s) => t(Type::UUID, s.clone()),
    }
}

/// NUMERIC in PostgreSQL's binary form, printed as PostgreSQL prints it.
struct Numeric(String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let word = |i: usize| -> Result<i16, Box<dyn StdError + Sync + Send>> {
            let b = raw.get(i * 2..i * 2 + 2).ok_or("short numeric")?;
            Ok(i16::from_be_bytes([b[0], b[1]]))
        };
        let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)?, word(2)? as u16, word(3)? as usize);
        match sign {
            0xC000 => return Ok(Numeric("NaN".into())),
            0xD000 => return Ok(Numeric("Infinity".into())),
            0xF000 => return Ok(Numeric("-Infinity".into())),
            _ => {}
        }
        let digits: Vec<i16> = (0..ndigits).map(|i| word(4 + i)).collect::<Result<_, _>>()?;
        let mut int = String::new();
        for w in 0..=weight.max(0) {
            let d = if w <= weight { digits.get(w as usize).copied().unwrap_or(0) } else { 0 };
            if weight < 0 {
                break;
            }
            if int.is_empty() {
                int = d.to_string();
            } else {
                int.push_str(&format!("{d:04}"));
            }
        }
        if int.is_empty() {
            int.push('0');
        }
        let mut frac = String::new();
        let first_frac = (weight + 1) as isize;
        let mut i = first_frac;
        while frac.len() < dscale {
            let d = if i >= 0 { digits.get(i as usize).copied().unwrap_or(0) } else { 0 };
            frac.push_str(&format!("{d:04}"));
            i += 1;
        }
        frac.truncate(dscale);
        let neg = if sign == 0x4000 { "-" } else { "" };
        Ok(Numeric(if dscale > 0 { format!("{neg}{int}.{frac}") } else { format!("{neg}{int}") }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// The columns of a result, by name and type.
pub fn columns(cols: &[tokio_postgres::Column]) -> Vec<Column> {
    cols.iter().map(|c| Column { name: c.name().to_string(), type_name: c.type_().name().to_string() }).collect()
}

/// One result row as WIT values; an error names a column whose type the
/// contract does not carry.
pub fn row(row: &Row) -> Result<Vec<SqlValue>, SqlError> {
    (0..row.len()).map(|i| value(row, i)).collect()
}

fn value(row: &Row, i: usize) -> Result<SqlValue, SqlError> {
    let col = &row.columns()[i];
    let ty = col.type_();
    let bad = |e: tokio_postgres::Error| SqlError {
        sqlstate: "22000".into(),
        message: format!("column `{}` ({}): {e}", col.name(), ty.name()),
        detail: None,
        refused: false,
    };
    macro_rules! get {
        ($t:ty, $wrap:expr) => {
            row.try_get::<_, Option<$t>>(i).map_err(bad)?.map($wrap).unwrap_or(SqlValue::Null)
        };
    }
    Ok(match *ty {
        Type::BOOL => get!(bool, SqlValue::Boolean),
        Type::INT2 => get!(i16, SqlValue::Int2),
        Type::INT4 => get!(i32, SqlValue::Int4),
        Type::INT8 => get!(i64, SqlValue::Int8),
        Type::OID => get!(u32, |n| SqlValue::Int8(n as i64)),
        Type::FLOAT4 => get!(f32, |n| SqlValue::Float8(n as f64)),
        Type::FLOAT8 => get!(f64, SqlValue::Float8),
        Type::NUMERIC => get!(Numeric, |n| SqlValue::Numeric(n.0)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => get!(String, SqlValue::Text),
        Type::CHAR => get!(i8, |c| SqlValue::Text(((c as u8) as char).to_string())),
        Type::BYTEA => get!(Vec<u8>, SqlValue::Bytes),
        Type::JSON | Type::JSONB => get!(serde_json::Value, |j| SqlValue::Json(j.to_string())),
        Type::TIMESTAMPTZ => get!(chrono::DateTime<chrono::Utc>, |t| SqlValue::Timestamp(t.to_rfc3339())),
        Type::TIMESTAMP => {
            get!(chrono::NaiveDateTime, |t| SqlValue::Timestamp(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()))
        }
        Type::DATE => get!(chrono::NaiveDate, |d| SqlValue::Timestamp(d.to_string())),
        Type::UUID => get!(uuid::Uuid, |u| SqlValue::Uuid(u.to_string())),
        _ => {
            return Err(SqlError {
                sqlstate: "RL001".into(),
                message: format!(
                    "column `{}` has type {}, which the plugin contract does not carry; cast it, e.g. `::text`",
                    col.name(),
                    ty.name()
                ),
                detail: None,
                refused: true,
            })
        }
    })
}

/// Bytes a value takes once handed to the plugin (roughly).
pub fn size(v: &SqlValue) -> u64 {
    8 + match v {
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Json(s) | SqlValue::Timestamp(s) | SqlValue::Uuid(s) => {
            s.len() as u64
        }
        SqlValue::Bytes(b) => b.len() as u64,
        _ => 0,
    }
}

/// An SQL error as the plugin sees it, SQLSTATE included.
pub fn sql_error(e: &tokio_postgres::Error) -> SqlError {
    match e.as_db_error() {
        Some(db) => SqlError {
            sqlstate: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            refused: false,
        },
        None => SqlError {
            sqlstate: "08006".into(),
            message: format!("connection to the database failed: {e}"),
            detail: None,
            refused: false,
        },
    }
}
