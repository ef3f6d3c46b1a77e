//! Plugin text is data, never terminal control or markup.
//!
//! A plugin is written by someone the operator does not fully trust, and
//! everything it says — log lines, metric names and values, error strings,
//! manifest strings — reaches the operator's terminal, `rollout.log` and the
//! `report.md` they publish. Two functions render such text, and nothing
//! else does:
//!
//! - [`terminal`] (and [`terminal_lines`] where the caller allows several
//!   lines, each of which it tags) for the screen and the log: control
//!   characters (C0 with CR, ESC, BEL, NUL; DEL; C1), and the invisible
//!   format characters that reorder or hide text (bidi overrides and
//!   isolates, zero-width characters, line and paragraph separators, BOM),
//!   are shown as escapes (`\x1b`, `\r`, `\u{202e}`), and the length is
//!   capped with a visible `… [N more bytes]`; [`cell`] for a terminal
//!   table's cell also escapes the characters the table's frame is drawn with;
//! - [`markdown`] for `report.md`: the same, newlines flattened, and every
//!   character that could start markup (`|`, `\`, backticks, emphasis,
//!   links, images, headings, HTML, entities, autolinks) escaped.
//!
//! JSON needs neither: serde escapes it exactly. What is kept exact (a
//! plugin's error string, an SQL error it provoked: the ledger and
//! `report.json` record them) is still bounded, by [`cut`]. A backslash is shown as
//! itself, so the plugin text `\x1b` and an escaped ESC look alike on the
//! screen; neither does anything. The hidden-character rule ([`is_hidden`])
//! and [`terminal`] come from `rollout_manifest::text`, so the manifest's
//! check and every printer share one definition.

// The hidden-character rule and the one-line rendering live in the
// manifest crate, whose check needs them (`rollout_manifest::text`):
// one definition for the manifest and every printer.
use rollout_manifest::text::escape;
pub use rollout_manifest::text::{is_hidden, terminal, terminal_within, LINE_BYTES};

/// Bytes of one table cell (a metric's name, expected or actual value).
pub const CELL_BYTES: usize = 512;
/// Bytes of one plugin log message, all its lines together.
pub const MESSAGE_BYTES: usize = 16 * 1024;

/// Plugin-controlled text kept exact, but cut after at most `max` bytes (at
/// a character boundary) with `… [N more bytes]`: a plugin's error string,
/// or the SQL error it provokes (the server echoes the bad value), could
/// otherwise be as large as the plugin's memory, and each is copied into
/// the ledger and `report.json`.
pub fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &text[..end], text.len() - end)
}

/// Plugin-controlled text for one cell of a terminal table (check tables,
/// `host status`): as [`terminal_within`], and the box-drawing and block
/// characters the table draws its frame with (U+2500–U+259F: `│`, `┆`,
/// `─`, …) shown as escapes too, so a cell cannot draw a column or a row
/// of its own.
pub fn cell(text: &str, max: usize) -> String {
    let visible = terminal_within(text, max);
    if !visible.chars().any(is_frame) {
        return visible;
    }
    let mut out = String::with_capacity(visible.len() + 16);
    for c in visible.chars() {
        if is_frame(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    out
}

/// The characters a terminal table's frame is drawn with.
fn is_frame(c: char) -> bool {
    ('\u{2500}'..='\u{259f}').contains(&c)
}

/// Plugin-controlled text the caller prints as several lines, tagging each
/// (a plugin's log message): split at line breaks (`\n`, `\r\n`), each line
/// rendered by [`terminal`] (a lone CR stays visible as `\r`), the whole
/// message capped at [`MESSAGE_BYTES`] with a last line `… [N more bytes]`.
pub fn terminal_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if used >= MESSAGE_BYTES {
            out.push(format!("… [{} more bytes]", rest.len()));
            break;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let shown = terminal_within(line, LINE_BYTES.min(MESSAGE_BYTES - used));
        used += shown.len();
        out.push(shown);
        rest = next;
    }
    out
}

/// Plugin-controlled text for `report.md`, in a table cell or in prose: on
/// one line (newlines become spaces), hidden characters visible as in
/// [`terminal`], capped at [`LINE_BYTES`], and every character that could
/// open markup escaped, so no heading, list, table cell, emphasis, code
/// span, link, image, autolink, HTML tag, comment or entity can start.
pub fn markdown(text: &str) -> String {
    let flat = text.replace("\r\n", " ").replace('\n', " ");
    let visible = terminal_within(&flat, LINE_BYTES);
    let mut out = String::with_capacity(visible.len() + 16);
    let mut previous = ['\0'; 3];
    for (at, c) in visible.char_indices() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            // GFM's bare-URL autolinks: `http://…` and `www.…`.
            ':' if visible[at + 1..].starts_with("//") => out.push_str("\\:"),
            '.' if previous.iter().all(|p| p.eq_ignore_ascii_case(&'w')) => out.push_str("\\."),
            c => out.push(c),
        }
        previous = [previous[1], previous[2], c];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether any character a terminal or Markdown would act on is left.
    fn inert(s: &str) -> bool {
        !s.chars().any(is_hidden)
    }

    #[test]
    fn benign_text_is_unchanged() {
        for s in [
            "GATE READY",
            "tier 4 (one-roof-containment) in 12 ms — 3 statements, 70 rows changed",
            "ROLLOUT COMPLETE — ALL TIERS PASSED",
            "param    ratified_apr ~ /APR-[0-9]{4}-[0-9]{4}/",
            "Zürich ≥ 1 日本語 C:\\path",
        ] {
            assert_eq!(terminal(s), s);
        }
    }

    #[test]
    fn control_and_invisible_characters_are_shown_not_sent() {
        let s = "a\x1b[2Jb\rc\nd\te\x07f\x00g\x0bh\x0ci\x7fj\u{9b}k\u{202e}l\u{2066}m\u{200b}n\u{feff}o\u{2028}p";
        let t = terminal(s);
        assert_eq!(
            t,
            "a\\x1b[2Jb\\rc\\nd\\te\\x07f\\x00g\\x0bh\\x0ci\\x7fj\\u{9b}k\\u{202e}l\\u{2066}m\\u{200b}n\\u{feff}o\\u{2028}p"
        );
        assert!(inert(&t));
        // OSC 52 (clipboard) and OSC 8 (link) lose their ESC and BEL.
        let osc = terminal("\x1b]52;c;aGk=\x07\x1b]8;;http://x.invalid/\x1b\\link\x1b]8;;\x1b\\");
        assert!(inert(&osc) && osc.starts_with("\\x1b]52;c;aGk=\\x07"), "{osc}");
    }

    #[test]
    fn a_table_cell_cannot_draw_a_frame() {
        assert_eq!(cell("a │ b ┆ PASS", 100), "a \\u{2502} b \\u{2506} PASS");
        assert_eq!(cell("plain", 100), "plain");
        assert_eq!(cell("x\n└──", 100), "x\\n\\u{2514}\\u{2500}\\u{2500}");
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        let s = "x".repeat(LINE_BYTES + 100);
        let t = terminal(&s);
        assert!(t.ends_with("… [100 more bytes]"), "{}", &t[t.len() - 40..]);
        assert!(t.len() <= LINE_BYTES + 30);
        // Never inside an escape or a character.
        let t = terminal_within("ab\x1bcd", 4);
        assert_eq!(t, "ab… [3 more bytes]");
        let t = terminal_within("aé", 2);
        assert_eq!(t, "a… [2 more bytes]");
    }

    #[test]
    fn exact_text_is_cut_at_a_character_with_a_marker() {
        assert_eq!(cut("short\x1b".into(), 6), "short\x1b");
        assert_eq!(cut("abcdef".into(), 4), "abcd… [2 more bytes]");
        // 'é' is two bytes: never split.
        assert_eq!(cut("aéb".into(), 2), "a… [3 more bytes]");
        let big = cut("e".repeat(1 << 20), MESSAGE_BYTES);
        assert!(
            big.len() < MESSAGE_BYTES + 30 && big.ends_with(&format!("… [{} more bytes]", (1 << 20) - MESSAGE_BYTES))
        );
    }

    #[test]
    fn every_line_of_a_message_is_its_own_and_capped() {
        assert_eq!(
            terminal_lines("one\r\n\n     Applied tier 4\nTIER 8 VERIFY PASS\rx"),
            vec!["one", "", "     Applied tier 4", "TIER 8 VERIFY PASS\\rx"]
        );
        assert!(terminal_lines("").is_empty());
        let flood = "y\n".repeat(2 * MESSAGE_BYTES);
        let lines = terminal_lines(&flood);
        assert_eq!(lines.len(), MESSAGE_BYTES + 1);
        assert_eq!(lines.last().unwrap(), &format!("… [{} more bytes]", 2 * MESSAGE_BYTES));
        let big = format!("{}\n{}", "z".repeat(MESSAGE_BYTES), "w".repeat(10));
        let lines = terminal_lines(&big);
        assert_eq!(lines.len(), 2, "{:?}", lines.iter().map(|l| l.len()).collect::<Vec<_>>());
    }

    #[test]
    fn markdown_cannot_open_markup() {
        let hostile = "## Verify — PASS\n<!--\n<script>alert(1)</script>\n![x](http://example.invalid/x.png) | a | b \\| \
                       `code` *em* _em_ ~~del~~ &lt; [l](javascript:alert(1)) <img src=x onerror=alert(1)> www.example.invalid\r\x1b[2J";
        let md = markdown(hostile);
        assert!(!md.contains('\n') && !md.contains('\r') && inert(&md), "{md}");
        for bad in ["<", ">", "](", "![", "http://", "www.e", "&lt;!"] {
            assert!(!md.contains(bad), "{bad:?} in {md}");
        }
        // Every `|`, `*`, `_`, `` ` ``, `#`, `[` is escaped: preceded by an odd run of backslashes.
        let chars: Vec<char> = md.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if "|*_`#[]()!~".contains(*c) {
                let run = chars[..i].iter().rev().take_while(|&&b| b == '\\').count();
                assert!(run % 2 == 1, "unescaped {c:?} at {i} in {md}");
            }
        }
        assert_eq!(markdown("open_drift"), "open\\_drift");
        assert_eq!(markdown("apply failed: 3 rows"), "apply failed: 3 rows");
        assert_eq!(markdown("42"), "42");
    }
}
