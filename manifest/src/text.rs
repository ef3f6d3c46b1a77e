//! The one rule for what plugin text may not show as itself, shared by the
//! manifest's check and every printer of the host (`host::text` re-exports
//! it and builds cells, Markdown and multi-line messages on it).
//!
//! A control character (C0 with CR, ESC, BEL, NUL; DEL; C1) or an invisible
//! format character that reorders or hides text (bidi overrides and
//! isolates, zero-width characters, line and paragraph separators, BOM) is
//! never accepted in a manifest and never printed as itself: it is shown as
//! an escape (`\x1b`, `\r`, `\u{202e}`). This module depends on nothing.

/// Bytes of one rendered line (a log line, a status or error message)
/// before it is cut with `… [N more bytes]`.
pub const LINE_BYTES: usize = 4096;
/// Whether `c` is a control character or an invisible format character
/// that can move the cursor, ring, reorder or hide text: never printed as
/// itself, never accepted in a manifest.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        // C0 (NUL, BEL, BS, TAB, LF, VT, FF, CR, ESC, …), DEL and C1 (CSI U+009B, OSC U+009D, …)
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        // soft hyphen, Arabic letter mark, Mongolian vowel separator
        | '\u{ad}' | '\u{61c}' | '\u{180e}'
        // zero-width space/joiners, LRM, RLM
        | '\u{200b}'..='\u{200f}'
        // line and paragraph separators, bidi embeddings and overrides (LRE … RLO)
        | '\u{2028}'..='\u{202e}'
        // word joiner, invisible operators, bidi isolates (LRI … PDI) and deprecated format characters
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}'
        // BOM / zero-width no-break space, interlinear annotations
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        // tag characters
        | '\u{e0000}'..='\u{e007f}'
    )
}

/// How a hidden character is shown: `\n`, `\r`, `\t`, `\x1b`, `\u{202e}`.
pub fn escape(c: char, out: &mut String) {
    use std::fmt::Write;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `text` on one line: every hidden character (newlines included) made
/// visible, cut after about `max` bytes with `… [N more bytes]`.
pub fn terminal_within(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 24);
    let mut piece = String::new();
    for (at, c) in text.char_indices() {
        piece.clear();
        if is_hidden(c) {
            escape(c, &mut piece);
        } else {
            piece.push(c);
        }
        if out.len() + piece.len() > max {
            out.push_str(&format!("… [{} more bytes]", text.len() - at));
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// Plugin-controlled text for one line of the terminal or `rollout.log`:
/// control and invisible characters visible, newlines shown as `\n`,
/// capped at [`LINE_BYTES`].
pub fn terminal(text: &str) -> String {
    terminal_within(text, LINE_BYTES)
}
