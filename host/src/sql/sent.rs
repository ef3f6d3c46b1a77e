//! What a plugin's session sent, for the reviewer: each distinct statement
//! as checked (the deparsed text the host sends), its parameters as `$n`
//! with the type the host binds, how many times it was sent, how many of
//! those failed, the rows it affected (returned, for a read) and the time
//! it took. Bounded: at most [`MAX_STATEMENTS`] distinct statements per
//! session, each text cut at [`MAX_TEXT`] bytes, and what was left out
//! counted, so a plugin sending a million statements keeps a short list.

use crate::bindings::types::SqlValue;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// Distinct statements kept per session (a tier's apply and post-conditions).
pub const MAX_STATEMENTS: usize = 200;
/// Bytes of one statement's text kept.
pub const MAX_TEXT: usize = 4096;

/// One distinct statement and what its sends did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentStatement {
    /// The text as checked and sent (cut at [`MAX_TEXT`] bytes: `cut`).
    pub sql: String,
    /// `$1 int8`, `$2 text (untyped)`: what the host binds.
    pub params: Vec<String>,
    pub calls: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: u64,
    /// Rows changed (a write) or returned (a read), over every call.
    pub rows: u64,
    /// Time over every call, in microseconds.
    pub time_us: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

/// The statements of one session, in the order first sent.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sent {
    pub statements: Vec<SentStatement>,
    /// Sends of statements past the first [`MAX_STATEMENTS`] distinct
    /// ones, not listed (their texts are not kept, so not told apart).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out_calls: u64,
    /// Where each kept statement is, by text and parameter types; the
    /// left-out texts are not remembered (they are counted as new each time).
    #[serde(skip)]
    index: HashMap<String, Vec<(Vec<String>, usize)>>,
}

impl Eq for Sent {}

impl PartialEq for Sent {
    fn eq(&self, other: &Self) -> bool {
        (&self.statements, self.left_out_calls) == (&other.statements, other.left_out_calls)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The type a parameter is bound as, by position.
pub fn param_types(params: &[SqlValue]) -> Vec<String> {
    params
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let ty = match v {
                SqlValue::Null => "null (untyped)".to_string(),
                SqlValue::Text(_) => "text (untyped)".to_string(),
                other => super::convert::param(other).0.name().to_string(),
            };
            format!("${} {ty}", i + 1)
        })
        .collect()
}

impl Sent {
    /// One send of `sql` with `params`.
    pub fn record(&mut self, sql: &str, params: Vec<String>, ok: bool, rows: u64, took: Duration) {
        let known = self.index.get(sql).and_then(|v| v.iter().find(|(p, _)| *p == params)).map(|(_, at)| *at);
        let at = match known {
            Some(at) => at,
            None if self.statements.len() >= MAX_STATEMENTS => {
                self.left_out_calls += 1;
                return;
            }
            None => {
                let (text, cut) = cut(sql);
                let at = self.statements.len();
                self.statements.push(SentStatement { sql: text, params: params.clone(), cut, ..Default::default() });
                self.index.entry(sql.to_string()).or_default().push((params, at));
                at
            }
        };
        let s = &mut self.statements[at];
        s.calls += 1;
        s.failed += u64::from(!ok);
        s.rows += rows;
        s.time_us += took.as_micros().min(u128::from(u64::MAX)) as u64;
    }

    /// Nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.left_out_calls == 0
    }
}

/// `sql` cut at [`MAX_TEXT`] bytes on a character boundary.
fn cut(sql: &str) -> (String, bool) {
    if sql.len() <= MAX_TEXT {
        return (sql.to_string(), false);
    }
    let mut end = MAX_TEXT;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    (sql[..end].to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_texts_are_counted_and_bounded() {
        let mut sent = Sent::default();
        for i in 0..1000 {
            sent.record("UPDATE t SET a = $1", vec!["$1 int8".into()], true, 1, Duration::from_micros(3));
            sent.record(&format!("SELECT {i}"), Vec::new(), i % 2 == 0, 0, Duration::ZERO);
        }
        assert_eq!(sent.statements.len(), MAX_STATEMENTS);
        assert_eq!(sent.statements[0].calls, 1000);
        assert_eq!(sent.statements[0].rows, 1000);
        assert_eq!(sent.statements[0].time_us, 3000);
        assert_eq!(sent.left_out_calls, 1000 - (MAX_STATEMENTS as u64 - 1));
        let long = "x".repeat(MAX_TEXT + 10);
        let mut one = Sent::default();
        one.record(&long, Vec::new(), true, 0, Duration::ZERO);
        assert!(one.statements[0].cut && one.statements[0].sql.len() == MAX_TEXT);
    }
}
