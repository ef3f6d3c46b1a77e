//! What the operator sees: streams replayed through a terminal emulator
//! (vt100), and the characters a terminal acts on, written here
//! independently of the host's own list.

/// The emulated terminal: tall enough that nothing scrolls off.
pub const ROWS: u16 = 600;
pub const COLS: u16 = 200;

/// Characters a terminal acts on or that reorder or hide text: C0 but LF,
/// DEL, C1, bidi embeddings, overrides and isolates, zero-width characters,
/// line and paragraph separators, BOM.
pub fn active(c: char) -> bool {
    (c < ' ' && c != '\n')
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || ('\u{200b}'..='\u{200f}').contains(&c)
        || ('\u{2028}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || c == '\u{feff}'
}

/// A stream as sent to the terminal holds no control byte: no ESC (so no
/// CSI, OSC 52, OSC 8), no CR, no BEL, no 8-bit CSI, no bidi override.
pub fn assert_inert(what: &str, text: &str) {
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| active(c)) {
        let from = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let to = text[at..].char_indices().nth(40).map(|(i, _)| at + i).unwrap_or(text.len());
        panic!("{what}: raw U+{:04X} at byte {at}, in the line {:?}", c as u32, &text[from..to]);
    }
}

/// What a terminal shows after receiving `bytes`, as logical lines (rows
/// the terminal wrapped are joined). The tty turns `\n` into `\r\n`.
pub fn screen(bytes: &[u8]) -> Vec<String> {
    screen_sized(bytes, ROWS)
}

/// [`screen`] on a terminal of `rows` rows.
pub fn screen_sized(bytes: &[u8], rows: u16) -> Vec<String> {
    let mut cooked = Vec::with_capacity(bytes.len() + 256);
    for &b in bytes {
        if b == b'\n' {
            cooked.push(b'\r');
        }
        cooked.push(b);
    }
    let mut parser = vt100::Parser::new(rows, COLS, 0);
    parser.process(&cooked);
    let s = parser.screen();
    assert!(s.cursor_position().0 < rows - 1, "the output scrolled off the emulated screen");
    let mut lines = Vec::new();
    let mut line = String::new();
    for (i, row) in s.rows(0, COLS).enumerate() {
        line.push_str(&row);
        if !s.row_wrapped(i as u16) {
            lines.push(std::mem::take(&mut line));
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// `|` not escaped by a backslash, in a Markdown table row.
pub fn cells(row: &str) -> usize {
    let mut n = 0;
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => n += 1,
            _ => {}
        }
    }
    n
}
