//! The oracle's corpora (a) and (b): PostgreSQL's regression suite as
//! libpg_query carries it, and the project's hostile corpus. A case is a
//! script: statements run in order in one rolled-back transaction (the
//! generated CREATE TABLE variants need their INSERTs after them).

use super::support::root;
use std::fmt;

/// Where a case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Corpus {
    /// (a) PostgreSQL's regression suite (tests/data/postgres_regress).
    Regress,
    /// (b) tests/plugins/data/hostile-corpus.sql.
    Hostile,
    /// (c) generated variants (tests/oracle/mutate.rs).
    Generated,
}

impl fmt::Display for Corpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Corpus::Regress => "regress",
            Corpus::Hostile => "hostile",
            Corpus::Generated => "generated",
        })
    }
}

/// One script of statements, run in one transaction.
#[derive(Debug, Clone)]
pub struct Case {
    pub corpus: Corpus,
    /// `file:statement` or the generator's name for it.
    pub origin: String,
    pub script: Vec<String>,
}

/// Every statement of every regression file, one case each.
pub fn regress() -> Vec<Case> {
    let dir = root().join("tests/data/postgres_regress");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        // One file is in WIN1252: a plugin can only send UTF-8, so it is read lossily.
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = String::from_utf8_lossy(&bytes);
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let stmts = split(&without_psql(&text));
        if stmts.is_empty() {
            eprintln!("oracle: {} splits into no statement with either splitter", path.display());
        }
        for (i, stmt) in stmts.into_iter().enumerate() {
            cases.push(Case { corpus: Corpus::Regress, origin: format!("{name}.sql:{}", i + 1), script: vec![stmt] });
        }
    }
    cases
}

/// The hostile corpus: one statement per line, `--` lines are comments, a
/// literal `\n` is a line break.
pub fn hostile() -> Vec<Case> {
    let path = root().join("tests/plugins/data/hostile-corpus.sql");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        .map(|(n, l)| Case {
            corpus: Corpus::Hostile,
            origin: format!("hostile-corpus.sql:{}", n + 1),
            script: vec![l.replace("\\n", "\n")],
        })
        .collect()
}

/// The text without psql's meta-commands: a line starting with `\` goes, and
/// a trailing `\gset`/`\gexec`/`\g…` ends the statement instead (as psql does).
fn without_psql(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with('\\') {
            out.push('\n');
            continue;
        }
        match line.rfind(" \\g") {
            Some(at) => {
                out.push_str(&line[..at]);
                out.push_str(";\n");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Statements of a file: the parser's split, or the scanner's when the file
/// does not parse whole (psql variables, deliberate syntax errors, COPY
/// data), or, when the scanner gives up too (numerology.sql, strings.sql:
/// literals it rejects), at every `;` that ends a line.
fn split(text: &str) -> Vec<String> {
    let parts = pg_query::split_with_parser(text).or_else(|_| pg_query::split_with_scanner(text));
    let parts: Vec<&str> = match parts {
        Ok(p) => p,
        Err(_) => text.split(";\n").collect(),
    };
    parts.into_iter().map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}
