//! What is refused before the parser sees the text: its size, its
//! parameter count and how deeply its brackets nest. Each refusal names its
//! bound. These keep the check's worst case small (its cost is linear in
//! the text) and give a deeply nested statement a clear answer; the parser
//! stays safe past them on its own (libpg_query's stack-depth guard and
//! bison's stack limit, the protobuf decoder's nesting limit of 100), and
//! [`parse_error`] words those refusals too.

use super::policy::{MAX_NESTING, MAX_PARAMS, MAX_STATEMENT_BYTES};
use super::{refuse, Refusal};

/// Refuses text too long, too many parameters, or brackets nested too deep.
pub(super) fn before_parse(sql: &str, params: usize) -> Result<(), Refusal> {
    if sql.len() > MAX_STATEMENT_BYTES {
        return refuse(format!("statement is {} bytes; the limit is {MAX_STATEMENT_BYTES}", sql.len()));
    }
    if params > MAX_PARAMS {
        return refuse(format!("{params} parameters; the limit is {MAX_PARAMS}"));
    }
    let depth = nesting(sql);
    if depth > MAX_NESTING {
        return refuse(format!(
            "brackets nest {depth} deep; the limit is {MAX_NESTING} (split the statement or use a CTE)"
        ));
    }
    Ok(())
}

/// A parse error as a refusal; the parser's own depth limits are named as
/// the nesting limit they are.
pub(super) fn parse_error(e: &pg_query::Error) -> String {
    let text = e.to_string();
    let too_deep = ["recursion limit", "nested too deeply", "stack depth limit", "memory exhausted"];
    if too_deep.iter().any(|t| text.contains(t)) {
        return format!(
            "the statement is nested too deeply for the checker (its parse tree may be at most 100 levels deep): {}",
            super::super::one_line(&text)
        );
    }
    format!("does not parse: {text}")
}

/// The deepest nesting of `(` and `[` outside string literals, quoted
/// identifiers, comments and dollar quotes. A close approximation of the
/// lexer: it only decides whether the bound's refusal is given, never what
/// is allowed (the parser does that).
fn nesting(sql: &str) -> usize {
    let b = sql.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            b'\'' => {
                let escapes = i > 0 && (b[i - 1] == b'E' || b[i - 1] == b'e');
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' if escapes => i += 1,
                        b'\'' if b.get(i + 1) == Some(&b'\'') => i += 1,
                        b'\'' => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'"' => i = skip_to(b, i + 1, b"\""),
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_to(b, i, b"\n"),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut level = 0usize;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        level += 1;
                        i += 1;
                    } else if b[i..].starts_with(b"*/") {
                        level -= 1;
                        i += 1;
                        if level == 0 {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'$' if i == 0 || !ident(b[i - 1]) => {
                let tag_end = b[i + 1..].iter().position(|&c| !ident(c)).map(|p| i + 1 + p);
                if let Some(end) = tag_end.filter(|&e| b[e] == b'$' && !b[i + 1].is_ascii_digit()) {
                    let tag = &b[i..=end];
                    let close = b[end + 1..].windows(tag.len()).position(|w| w == tag);
                    i = close.map_or(b.len(), |p| end + 1 + p + tag.len() - 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The index of the end of the next `end` from `from` (or the end of text).
fn skip_to(b: &[u8], from: usize, end: &[u8]) -> usize {
    b[from.min(b.len())..].windows(end.len()).position(|w| w == end).map_or(b.len(), |p| from + p + end.len() - 1)
}
