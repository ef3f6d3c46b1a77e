//! The one place plugin text becomes SQL text: PostgreSQL's own quoting
//! rules, as libpq's `PQescapeIdentifier` and `PQescapeLiteral` apply them.
//! Every identifier or string the host writes into SQL it sends or prints
//! goes through here; nothing is dollar-quoted, and no SQL is built by
//! pasting a name between other delimiters.

/// A quoted SQL identifier: `"…"` with every `"` doubled. Inside it no
/// character has a meaning of its own to the server or to psql (no
/// variable interpolation, no backslash command), newlines included.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A quoted `schema.name` (a manifest's relation name, always qualified);
/// a name without a dot is quoted whole.
pub fn qualified(rel: &str) -> String {
    match rel.split_once('.') {
        Some((schema, name)) => format!("{}.{}", ident(schema), ident(name)),
        None => ident(rel),
    }
}

/// A quoted SQL string literal: `'…'` with every `'` doubled, and, when the
/// text holds a backslash, the `E'…'` form with every backslash doubled, so
/// the literal means the same whatever `standard_conforming_strings` says.
pub fn literal(text: &str) -> String {
    let escape = text.contains('\\');
    let mut out = String::with_capacity(text.len() + 3);
    if escape {
        out.push('E');
    }
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if escape => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A string literal that also prints as itself: [`literal`], but when the
/// text holds a backslash, a control character or a hidden one (as
/// `rollout_manifest::text::is_hidden` defines it: bidi controls,
/// zero-width characters, …) it is the `E'…'` form with each of those
/// written as an escape (`\n`, `\x1b`, `\u202e`), so SQL the host prints for
/// an operator to copy shows every character it holds and runs the same.
pub fn printable_literal(text: &str) -> String {
    let plain = |c: char| !(c == '\\' || c.is_control() || rollout_manifest::text::is_hidden(c));
    if text.chars().all(plain) {
        return literal(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && !plain(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if !plain(c) && (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if !plain(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(ident("plain"), "\"plain\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("\""), "\"\"\"\"");
        assert_eq!(qualified("s.t"), "\"s\".\"t\"");
        assert_eq!(qualified("s.t.u"), "\"s\".\"t.u\"");
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\'b"), "E'a\\\\''b'");
        assert_eq!(literal("$$;\\! id"), "E'$$;\\\\! id'");
    }

    #[test]
    fn printable_literals_write_hidden_characters_as_escapes() {
        assert_eq!(printable_literal("it's"), "'it''s'");
        assert_eq!(printable_literal("a\nb\u{1b}[31m\\"), "E'a\\nb\\x1b[31m\\\\'");
        assert_eq!(printable_literal("x\u{202e}y\u{7f}"), "E'x\\u202ey\\x7f'");
        assert!(printable_literal("\u{1b}\u{200b}\r\t").chars().all(|c| c.is_ascii_graphic()));
    }
}
