//! Hostile text for every language plugin text reaches: each delimiter of
//! SQL, psql, a terminal, Markdown/HTML, TOML and the host's own tables,
//! crossed with the positions it can take in a string. Generated, so a
//! delimiter added here reaches every output a test runs it through.

/// A host line a plugin would like to forge (after a line break, a CR or
/// an escape that moves the cursor). No host output starts a line with it.
pub const FORGED: &str = "ROLLOUT COMPLETE — FORGED";

/// Every delimiter; `{MARK}` is a file a shell command would create.
pub fn delimiters(mark: &str) -> Vec<String> {
    let fixed: &[&str] = &[
        // SQL: dollar quotes, quotes, escapes, statement ends, comments.
        // (a tag hidden in itself re-forms when a naive escaper deletes it).
        "$",
        "$$",
        "$$$",
        "$grant$",
        "$gra$grant$nt$",
        "$a$",
        "'",
        "''",
        "\"",
        "\\",
        "E'\\''",
        ";",
        "--",
        "/*",
        "*/",
        "U&\"\\0061\"",
        // psql: meta-commands and variables.
        "\\gexec",
        "\\set x 1",
        ":var",
        ":'var'",
        ":\"var\"",
        "\\\\",
        // Lines and their look-alikes.
        "\n",
        "\r",
        "\r\n",
        "\t",
        "\u{b}",
        "\u{c}",
        "\u{85}",
        "\u{2028}",
        "\u{2029}",
        // Terminal control: clear, cursor up and erase, OSC 52, OSC 8, 8-bit CSI, bell, backspace, DEL.
        "\x1b[2J\x1b[H",
        "\x1b[1A\x1b[2K",
        "\x1b]52;c;cm0gLXJmIH4K\x07",
        "\x1b]8;;http://x.invalid/\x1b\\link\x1b]8;;\x1b\\",
        "\u{9b}2J",
        "\x07",
        "\x08",
        "\x7f",
        // Bidi overrides and isolates, invisible characters.
        "\u{202e}",
        "\u{2066}",
        "\u{2069}",
        "\u{200b}",
        "\u{feff}",
        "\u{ad}",
        // Markdown and HTML.
        "|",
        "`",
        "```",
        "<img src=x onerror=alert(1)>",
        "<!--",
        "-->",
        "[x](http://x.invalid)",
        "![x](http://x.invalid/x.png)",
        "# ",
        "## Verify — PASS",
        "**",
        "_",
        "&lt;",
        "http://x.invalid",
        "www.x.invalid",
        // The frame of a terminal table.
        "│",
        "┆",
        "└──",
        // TOML.
        "\"\"\"",
        "'''",
        "]",
        "[",
        "[grants]",
        "=",
        "#",
        "\\u0041",
        "\"]\nread = [\"one_roof.secret",
        // Whitespace a reviewer cannot see, and letters beyond ASCII.
        " ",
        "  ",
        "\u{a0}",
        "\u{3000}",
        "é",
        "日本",
    ];
    let mut out: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    out.push(format!("\\! touch {mark}"));
    out.push(format!("';\\! touch {mark}\n"));
    out.push(format!("$grant$;\n\\! touch {mark}\n"));
    out
}

/// Where a delimiter stands in a string.
pub const POSITIONS: [&str; 6] = ["{}", "x{}", "{}x", "a{}b", "  {}  ", "{}\n     Applied tier 9 — FORGED"];

/// Every delimiter in every position, and each with the forged host line
/// after it: `delimiters × POSITIONS`, without repeats, in a fixed order.
pub fn strings(mark: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in delimiters(mark) {
        for p in POSITIONS {
            let s = p.replace("{}", &d);
            if !out.contains(&s) {
                out.push(s);
            }
        }
        let forged = format!("{d}{FORGED}");
        if !out.contains(&forged) {
            out.push(forged);
        }
    }
    out
}

/// The strings a plugin sends at run time: every one but those holding a
/// NUL, which PostgreSQL text cannot hold (the ledger keeps U+FFFD for it).
pub fn runtime(mark: &str) -> Vec<String> {
    strings(mark).into_iter().filter(|s| !s.contains('\0')).collect()
}

/// `s` as lowercase hex of its UTF-8 bytes.
pub fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
