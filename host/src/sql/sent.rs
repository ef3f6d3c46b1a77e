//! What a plugin's session sent, for the reviewer: each distinct statement
//! as checked (the deparsed text the host sends), its parameters as `$n`
//! with the type the host binds, how many times it was sent, how many of
//! those failed, the rows it affected (returned, for a read) and the time
//! it took. Bounded: every statement that may change rows or schema (any
//! kind but a plain read, as the checker saw it: [`Effect`]) or that failed
//! is listed, whatever came before it, so a flood of distinct reads cannot
//! push a write off the list; plain reads are listed up to
//! [`MAX_STATEMENTS`] distinct ones and counted past them. Each text is
//! cut at [`MAX_TEXT`] bytes and each parameter list at [`MAX_PARAMS_TEXT`],
//! and the whole list at [`MAX_BYTES`] (writes past it counted apart), so
//! a plugin sending a million statements keeps a bounded ledger row.

use crate::bindings::types::SqlValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// Distinct statements kept per session (a tier's apply and post-conditions).
pub const MAX_STATEMENTS: usize = 200;
/// Bytes of one statement's text kept.
pub const MAX_TEXT: usize = 4096;
/// Bytes of one statement's parameter list kept (`$n type` entries; the
/// rest summed up in a last entry `… N more`).
pub const MAX_PARAMS_TEXT: usize = 1024;
/// Bytes of texts and parameter lists kept per session: past them even a
/// write is only counted ([`Sent::left_out_changes`]), which the report
/// says in bold. 1,024 writes of the largest size (5 MiB).
pub const MAX_BYTES: usize = 1024 * (MAX_TEXT + MAX_PARAMS_TEXT);

/// What a statement may do, as the checker saw it: whether the listing
/// may leave it out past [`MAX_STATEMENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A plain read (`Checked::reads_only`): counted past the cap.
    Reads,
    /// Anything that may change rows or schema: always listed.
    MayChange,
}

impl Effect {
    pub fn of(checked: &crate::sql::check::Checked) -> Effect {
        if checked.reads_only() {
            Effect::Reads
        } else {
            Effect::MayChange
        }
    }
}

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
    /// Sends of statements that may change rows or schema (or failed) past
    /// [`MAX_BYTES`] of listing, not listed: the report says so in bold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out_changes: u64,
    /// Bytes of texts and parameter lists kept.
    #[serde(skip)]
    bytes: usize,
    /// Where each kept statement is, by the sha256 of its text and
    /// parameter types (the whole text, up to 64 KiB, is not held twice);
    /// the left-out texts are not remembered (they are counted as new each
    /// time).
    #[serde(skip)]
    index: HashMap<[u8; 32], usize>,
}

impl Eq for Sent {}

impl PartialEq for Sent {
    fn eq(&self, other: &Self) -> bool {
        (&self.statements, self.left_out_calls, self.left_out_changes)
            == (&other.statements, other.left_out_calls, other.left_out_changes)
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
    /// One send of `sql` (which may do `effect`) with `params`.
    pub fn record(&mut self, sql: &str, effect: Effect, params: Vec<String>, ok: bool, rows: u64, took: Duration) {
        let key = key(sql, &params);
        let known = self.index.get(&key).copied();
        let at = match known {
            Some(at) => at,
            None if effect == Effect::Reads && ok && self.statements.len() >= MAX_STATEMENTS => {
                self.left_out_calls += 1;
                return;
            }
            None => {
                let (text, cut) = cut(sql);
                let new = SentStatement { sql: text, params: cut_params(&params), cut, ..Default::default() };
                let Some(at) = self.slot(key, new) else {
                    self.left_out_changes += 1;
                    return;
                };
                at
            }
        };
        let s = &mut self.statements[at];
        s.calls += 1;
        s.failed += u64::from(!ok);
        s.rows += rows;
        s.time_us += took.as_micros().min(u128::from(u64::MAX)) as u64;
    }

    /// Adds what another session of the same tier sent (a batched tier's
    /// batches, its conditions): the same statement summed, a new one
    /// listed within [`MAX_BYTES`] (past them counted, as a write: its
    /// effect is not kept).
    pub fn absorb(&mut self, other: &Sent) {
        for s in &other.statements {
            let key = key(&s.sql, &s.params);
            let at = match self.index.get(&key).copied() {
                Some(at) => at,
                None => {
                    let new = SentStatement { calls: 0, failed: 0, rows: 0, time_us: 0, ..s.clone() };
                    let Some(at) = self.slot(key, new) else {
                        self.left_out_changes += s.calls;
                        continue;
                    };
                    at
                }
            };
            let mine = &mut self.statements[at];
            mine.calls += s.calls;
            mine.failed += s.failed;
            mine.rows += s.rows;
            mine.time_us = mine.time_us.saturating_add(s.time_us);
        }
        self.left_out_calls += other.left_out_calls;
        self.left_out_changes += other.left_out_changes;
    }

    /// Lists a statement not seen before (its sends not yet counted) and
    /// returns where it is, if its text and parameter list fit in what is
    /// left of [`MAX_BYTES`]; `None` says the caller counts it left out.
    fn slot(&mut self, key: [u8; 32], new: SentStatement) -> Option<usize> {
        let size = new.sql.len() + new.params.iter().map(String::len).sum::<usize>();
        if self.bytes + size > MAX_BYTES {
            return None;
        }
        self.bytes += size;
        let at = self.statements.len();
        self.statements.push(new);
        self.index.insert(key, at);
        Some(at)
    }

    /// Nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.left_out_calls == 0 && self.left_out_changes == 0
    }
}

/// What tells two sends apart: the text and each parameter's type, each
/// ended by a NUL (which neither can hold).
fn key(sql: &str, params: &[String]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in std::iter::once(sql).chain(params.iter().map(String::as_str)) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

/// The parameter list kept: entries while they fit [`MAX_PARAMS_TEXT`]
/// bytes, then one entry `… N more`.
fn cut_params(params: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for (i, p) in params.iter().enumerate() {
        if bytes + p.len() > MAX_PARAMS_TEXT {
            out.push(format!("… {} more", params.len() - i));
            break;
        }
        bytes += p.len();
        out.push(p.clone());
    }
    out
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
            sent.record(
                "UPDATE t SET a = $1",
                Effect::MayChange,
                vec!["$1 int8".into()],
                true,
                1,
                Duration::from_micros(3),
            );
            sent.record(&format!("SELECT {i}"), Effect::Reads, Vec::new(), true, 0, Duration::ZERO);
        }
        assert_eq!(sent.statements.len(), MAX_STATEMENTS);
        assert_eq!(sent.statements[0].calls, 1000);
        assert_eq!(sent.statements[0].rows, 1000);
        assert_eq!(sent.statements[0].time_us, 3000);
        assert_eq!(sent.left_out_calls, 1000 - (MAX_STATEMENTS as u64 - 1));
        let long = "x".repeat(MAX_TEXT + 10);
        let mut one = Sent::default();
        one.record(&long, Effect::Reads, Vec::new(), true, 0, Duration::ZERO);
        assert!(one.statements[0].cut && one.statements[0].sql.len() == MAX_TEXT);
    }

    #[test]
    fn batches_absorbed_sum_the_same_statement_and_keep_the_bounds() {
        let mut tier = Sent::default();
        for _ in 0..3 {
            let mut batch = Sent::default();
            batch.record("UPDATE t SET a = $1", Effect::MayChange, vec!["$1 int8".into()], true, 10, Duration::ZERO);
            batch.record("SELECT 1", Effect::Reads, Vec::new(), false, 0, Duration::ZERO);
            tier.absorb(&batch);
        }
        assert_eq!(tier.statements.len(), 2);
        assert_eq!((tier.statements[0].calls, tier.statements[0].rows), (3, 30));
        assert_eq!((tier.statements[1].calls, tier.statements[1].failed), (3, 3));
        // Past the listing's bytes a new statement is counted, not listed.
        let mut big = Sent::default();
        for i in 0..2000 {
            big.record(
                &format!("UPDATE t SET a = {i} {}", "x".repeat(MAX_TEXT)),
                Effect::MayChange,
                Vec::new(),
                true,
                0,
                Duration::ZERO,
            );
        }
        assert!(big.left_out_changes > 0);
        let mut all = Sent::default();
        all.absorb(&big);
        all.absorb(&big);
        assert_eq!(all.statements.len(), big.statements.len());
        assert_eq!(all.statements[0].calls, 2);
        assert_eq!(all.left_out_changes, 2 * big.left_out_changes);
    }

    #[test]
    fn absorbed_statements_past_the_listing_bytes_are_counted_with_their_sends() {
        let write = |sent: &mut Sent, i: usize, calls: u64| {
            for _ in 0..calls {
                let sql = format!("UPDATE t SET a = {i} {}", "x".repeat(MAX_TEXT - 40));
                sent.record(&sql, Effect::MayChange, Vec::new(), true, 1, Duration::ZERO);
            }
        };
        // The tier's listing nearly full; a batch with one statement it
        // holds and more new ones than the bytes left can list.
        let mut tier = Sent::default();
        let room = MAX_BYTES / MAX_TEXT;
        for i in 0..room - 2 {
            write(&mut tier, i, 1);
        }
        let mut batch = Sent::default();
        write(&mut batch, 0, 3);
        for i in 10_000..10_010 {
            write(&mut batch, i, 3);
        }
        tier.absorb(&batch);
        assert!(tier.bytes <= MAX_BYTES, "{} > {MAX_BYTES}", tier.bytes);
        assert_eq!(tier.statements[0].calls, 4, "a statement already listed sums its sends");
        let listed_new = tier.statements.len() - (room - 2);
        assert!(listed_new < 10, "only what fits is listed: {listed_new}");
        assert_eq!(tier.left_out_changes, 3 * (10 - listed_new as u64), "each left-out statement counts its sends");
        let calls: u64 = tier.statements.iter().map(|s| s.calls).sum();
        assert_eq!(calls + tier.left_out_changes, (room - 2) as u64 + 33, "no send is lost");
    }

    #[test]
    fn a_statement_is_told_apart_by_its_text_and_its_parameter_types() {
        let mut sent = Sent::default();
        let send = |sent: &mut Sent, sql: &str, params: &[&str]| {
            let params = params.iter().map(|p| p.to_string()).collect();
            sent.record(sql, Effect::Reads, params, true, 0, Duration::ZERO)
        };
        send(&mut sent, "SELECT $1", &["$1 int8"]);
        send(&mut sent, "SELECT $1", &["$1 int8"]);
        send(&mut sent, "SELECT $1", &["$1 text (untyped)"]);
        // The same bytes split differently between text and types.
        send(&mut sent, "SELECT $1$1 int8", &[]);
        let seen: Vec<(&str, u64)> = sent.statements.iter().map(|s| (s.sql.as_str(), s.calls)).collect();
        assert_eq!(seen, [("SELECT $1", 2), ("SELECT $1", 1), ("SELECT $1$1 int8", 1)]);
    }

    #[test]
    fn only_a_select_that_reads_and_calls_no_writer_is_a_plain_read() {
        use crate::manifest::Grants;
        use crate::sql::check::Checker;
        let list = |s: &str| vec![s.to_string()];
        let g = Grants {
            read: list("public.t"),
            insert: list("public.t"),
            update: list("public.s"),
            sequences: list("public.s"),
            functions: vec!["public.f".into(), "pg_catalog.nextval".into(), "pg_catalog.setval".into()],
            ..Grants::default()
        };
        let checker = Checker::new(&g, false);
        let effect = |sql: &str| Effect::of(&checker.check(sql, 0).unwrap_or_else(|r| panic!("{sql}: {r}")));
        for sql in ["SELECT a FROM public.t", "SELECT count(*), lower(b) FROM public.t WHERE a > 1"] {
            assert_eq!(effect(sql), Effect::Reads, "{sql}");
        }
        for sql in [
            "INSERT INTO public.t (a) VALUES (1)",
            "SELECT nextval('public.s')",
            "SELECT setval('public.s', 5)",
            "SELECT public.f(a) FROM public.t",
        ] {
            assert_eq!(effect(sql), Effect::MayChange, "{sql}");
        }
    }

    #[test]
    fn writes_and_failures_past_the_cap_are_listed_reads_counted() {
        let mut sent = Sent::default();
        for i in 0..MAX_STATEMENTS + 50 {
            sent.record(&format!("SELECT {i}"), Effect::Reads, Vec::new(), true, 1, Duration::ZERO);
        }
        sent.record("INSERT INTO t VALUES (1)", Effect::MayChange, Vec::new(), true, 1, Duration::ZERO);
        sent.record("SELECT 'failed'", Effect::Reads, Vec::new(), false, 0, Duration::ZERO);
        let texts: Vec<&str> = sent.statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(texts.len(), MAX_STATEMENTS + 2);
        assert_eq!(&texts[MAX_STATEMENTS..], ["INSERT INTO t VALUES (1)", "SELECT 'failed'"]);
        assert_eq!((sent.left_out_calls, sent.left_out_changes), (50, 0));
        // The listing's bytes are bounded: writes past them are counted.
        let big = "y".repeat(MAX_TEXT);
        for i in 0..5000 {
            sent.record(&format!("{big}{i}"), Effect::MayChange, Vec::new(), true, 1, Duration::ZERO);
        }
        assert!(sent.bytes <= MAX_BYTES && sent.left_out_changes > 0, "{} {}", sent.bytes, sent.left_out_changes);
        // A parameter list is cut to its bytes, the rest counted.
        let many: Vec<String> = (1..=1000).map(|n| format!("${n} text (untyped)")).collect();
        let kept = cut_params(&many);
        assert!(kept.iter().map(String::len).sum::<usize>() <= MAX_PARAMS_TEXT + 20);
        assert!(kept.last().unwrap().ends_with("more"), "{kept:?}");
    }
}
