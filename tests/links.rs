//! Every relative link in the project's Markdown (README.md, CHANGELOG.md,
//! docs/, the example's and the template's READMEs) resolves: the file it
//! names exists, and an `#anchor` names a heading of that page as GitHub
//! slugs it. A page moved, renamed or a heading reworded fails here, naming
//! the file, the line and the link.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root (this file is tests/links.rs, run from host/).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_path_buf()
}

/// The Markdown the project writes: everything but build output and the
/// third-party data under tests/data.
fn pages(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && !matches!(name, "target" | "data") {
                pages(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// A heading's anchor as GitHub makes it: lower case, the markup's
/// backticks and punctuation dropped (letters, digits, `-`, `_` kept),
/// each space a `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// The anchors of a page's headings, a repeated one also as `-1`, `-2`…
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while !out.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    out
}

/// The targets of `[text](target)` links on one line, outside inline code.
fn links(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => in_code = !in_code,
            b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                if let Some(end) = line[i + 2..].find(')') {
                    out.push(line[i + 2..i + 2 + end].to_string());
                    i += 2 + end;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// What is wrong with `target`, a link on `page`, if anything.
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let file = if path.is_empty() { page.to_path_buf() } else { page.parent()?.join(path) };
    if !file.exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    let anchor = anchor?;
    if file.is_dir() || file.extension().and_then(|e| e.to_str()) != Some("md") {
        return Some(format!("#{anchor} on {}, which is not a Markdown page", file.display()));
    }
    let text = std::fs::read_to_string(&file).ok()?;
    (!anchors(&text).contains(anchor)).then(|| format!("{} has no heading whose anchor is #{anchor}", file.display()))
}

#[test]
fn every_relative_link_in_the_markdown_resolves() {
    let mut all = Vec::new();
    pages(&root(), &mut all);
    all.sort();
    assert!(all.iter().any(|p| p.ends_with("README.md")) && all.iter().any(|p| p.ends_with("docs/operator.md")));
    let mut checked = 0;
    let mut wrong = Vec::new();
    for page in &all {
        let text = std::fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        for (n, line) in prose(&text) {
            for target in links(line) {
                checked += 1;
                if let Some(why) = broken(page, &target) {
                    wrong.push(format!("{}:{n}: ({target}): {why}", page.display()));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} links found: is the parser reading the pages?");
    assert!(wrong.is_empty(), "broken relative links:\n{}", wrong.join("\n"));
}

#[test]
fn anchors_are_slugged_as_github_slugs_them() {
    let page =
        "# Operator reference\n## `host run --dry-run`\n## Production traffic: lock waits and the lock footprint\n\
                ```\n# not a heading\n```\n## Exit codes\n## Exit codes\n";
    let got = anchors(page);
    for want in [
        "operator-reference",
        "host-run---dry-run",
        "production-traffic-lock-waits-and-the-lock-footprint",
        "exit-codes",
        "exit-codes-1",
    ] {
        assert!(got.contains(want), "{want} not in {got:?}");
    }
    assert!(!got.contains("not-a-heading"), "{got:?}");
    assert_eq!(links("see [a](b.md#c) and `[x](y)` [d](e)"), ["b.md#c", "e"]);
}
