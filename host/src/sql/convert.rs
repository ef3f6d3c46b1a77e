//! Conversion between the WIT `sql-value` and PostgreSQL's wire formats.
//!
//! Parameters go as text with a type hint, so the server parses them exactly
//! as it would a literal of the inferred type; results arrive in binary and
//! are decoded per column type.

use crate::bindings::types::{Column, SqlError, SqlValue};
use bytes::BytesMut;
use std::error::Error as StdError;
use tokio_postgres::types::{Format, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

/// A parameter bound in text format; the server parses it for whatever
/// type it inferred or the hint said.
#[derive(Debug)]
pub struct TextParam(Option<String>);

impl TextParam {
    /// The text the server parses; none for NULL.
    pub fn text(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

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
        let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)?, word(2)? as u16, word(3)? as u16 as usize);
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
        let first_frac = weight as isize + 1;
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

/// True when `e` means the session is gone: a closed socket or an I/O
/// error (no answer from the server at all), or the server ending the
/// backend, which it says with a FATAL or PANIC error. A SQLSTATE is not
/// the test: `RAISE … USING ERRCODE = '08006'` in a trigger, or dblink
/// failing to reach another server, is an ERROR the server answered on a
/// live session — the statement's fault, which the plugin's tier owns.
pub fn connection_lost(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::Severity;
    match e.as_db_error() {
        Some(db) => match db.parsed_severity() {
            Some(severity) => matches!(severity, Severity::Fatal | Severity::Panic),
            // A server before 9.6 sends only the localized word.
            None => {
                let code = db.code().code();
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
            }
        },
        None => e.code().is_none(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A NUMERIC in PostgreSQL's binary form: ndigits, weight, sign, dscale,
    /// then the base-10000 digits, all big-endian 16-bit.
    fn wire(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((digits.len() as i16).to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(sign.to_be_bytes());
        out.extend(dscale.to_be_bytes());
        digits.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out
    }

    fn decode(raw: &[u8]) -> Result<String, Box<dyn StdError + Sync + Send>> {
        Numeric::from_sql(&Type::NUMERIC, raw).map(|n| n.0)
    }

    const POS: u16 = 0x0000;
    const NEG: u16 = 0x4000;

    /// Values checked against PostgreSQL 15: `SELECT numeric_send(v)` gave
    /// exactly these bytes, and the server prints `v` as the text here.
    #[test]
    fn decodes_what_the_server_sends() {
        for (server_hex, built, text) in [
            ("0000000000000000", wire(0, POS, 0, &[]), "0"),
            ("0000000000000001", wire(0, POS, 1, &[]), "0.0"),
            ("0002000000000002000c1388", wire(0, POS, 2, &[12, 5000]), "12.50"),
            ("0001ffff00000003000a", wire(-1, POS, 3, &[10]), "0.001"),
            ("0001fffe000000080001", wire(-2, POS, 8, &[1]), "0.00000001"),
            ("0002ffff4000000800010929", wire(-1, NEG, 8, &[1, 2345]), "-0.00012345"),
            ("00010007000000000064", wire(7, POS, 0, &[100]), "1000000000000000000000000000000"),
            ("0001000040000000002a", wire(0, NEG, 0, &[42]), "-42"),
            ("0003000200000000000109291a85", wire(2, POS, 0, &[1, 2345, 6789]), "123456789"),
            ("00010001000000000001", wire(1, POS, 0, &[1]), "10000"),
            ("00010000000000040001", wire(0, POS, 4, &[1]), "1.0000"),
            ("000200004000000100011388", wire(0, NEG, 1, &[1, 5000]), "-1.5"),
            ("000200010000000000010001", wire(1, POS, 0, &[1, 1]), "10001"),
            ("0001ffff0000000203e8", wire(-1, POS, 2, &[1000]), "0.10"),
            ("00030000000000060003058723f0", wire(0, POS, 6, &[3, 1415, 9200]), "3.141592"),
            ("00000000c0000000", wire(0, 0xC000, 0, &[]), "NaN"),
            ("00000000d0000020", wire(0, 0xD000, 0x20, &[]), "Infinity"),
            ("00000000f0000020", wire(0, 0xF000, 0x20, &[]), "-Infinity"),
        ] {
            assert_eq!(hex::encode(&built), server_hex, "{text}: the hand-built bytes are the server's");
            assert_eq!(decode(&built).unwrap(), text);
        }
    }

    #[test]
    fn decodes_hand_built_values() {
        assert_eq!(decode(&wire(0, POS, 0, &[7])).unwrap(), "7");
        assert_eq!(decode(&wire(0, NEG, 0, &[9999])).unwrap(), "-9999");
        assert_eq!(decode(&wire(0, POS, 3, &[1, 2345])).unwrap(), "1.234", "dscale cuts inside a group");
        // A leading zero group: the server strips it, the format allows it.
        assert_eq!(decode(&wire(0, NEG, 3, &[0, 500])).unwrap(), "-0.050");
    }

    /// The largest weight PostgreSQL stores (`'1e131071'::numeric`, here with
    /// `round(…, 2)`: 00017fff0000000203e8 from the server).
    #[test]
    fn the_largest_weight_does_not_overflow() {
        let built = wire(i16::MAX, POS, 2, &[1000]);
        assert_eq!(hex::encode(&built), "00017fff0000000203e8");
        let text = decode(&built).unwrap();
        assert_eq!(text.len(), 131_072 + 3);
        assert!(text.starts_with("10000") && text.ends_with("0000.00"));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let full = wire(0, POS, 2, &[12, 5000]);
        for len in 0..full.len() {
            assert!(decode(&full[..len]).is_err(), "{len} of {} bytes", full.len());
        }
        assert!(decode(&wire(0, 0xC000, 0, &[])[..7]).is_err(), "a special value still needs its header");
        let mut negative_count = wire(0, POS, 0, &[]);
        negative_count[..2].copy_from_slice(&(-1i16).to_be_bytes());
        assert!(decode(&negative_count).is_err());
        // dscale is unsigned on the wire: 0xFFFF must stay bounded.
        assert!(decode(&wire(0, POS, 0xFFFF, &[1])).map_or(true, |s| s.len() < 70_000));
    }
}
