//! What changed in a plugin since it was locked, named for the refusal:
//! its bytes, its place in the plan, each grant line added or removed,
//! each limit or batch bound from the old value to the new, its mode, its
//! acknowledged dangerous grants and each data file.

use super::Locked;
use crate::text::terminal;
use std::collections::{BTreeMap, BTreeSet};

/// Each difference between the locked plugin `want` and the found `got`,
/// one message each, starting with the plugin's name.
pub fn named(name: &str, want: &Locked, got: &Locked) -> Vec<String> {
    let name = terminal(name);
    let mut out = Vec::new();
    if want.sha256 != got.sha256 {
        out.push(format!("{name}: bytes differ (locked sha256 {}, found {})", want.sha256, got.sha256));
    }
    if !want.kind.is_empty() && want.place() != got.place() {
        out.push(format!("{name}: was {} when reviewed, is {} now", want.place(), got.place()));
    }
    if want.grants != got.grants {
        let what = match want.grants_text.is_empty() {
            true => " (this lock file predates the grants' text, so it cannot say which: compare `host grants` of the reviewed plugin and this one)".to_string(),
            false => {
                let lines = grant_lines(&want.grants_text, &got.grants_text);
                if lines.is_empty() { String::new() } else { format!(": {}", lines.join(", ")) }
            }
        };
        if !what.is_empty() || want.place() == got.place() {
            out.push(format!("{name}: grants differ from the reviewed ones{what}"));
        }
    }
    if want.acknowledged != got.acknowledged {
        out.push(format!(
            "{name}: acknowledged dangerous grants differ (locked {:?}, found {:?})",
            want.acknowledged, got.acknowledged
        ));
    }
    if want.files != got.files {
        out.push(format!("{name}: data files differ: {}", files(&want.files, &got.files).join(", ")));
    }
    out
}

/// The key a line is paired on: `limit statements`, `batches size`, `mode`;
/// a grant line is its own key (added or removed, never changed).
fn key(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["limit" | "batches", k, _] => format!("{} {k}", words[0]),
        ["mode", _] => "mode".into(),
        _ => words.join(" "),
    }
}

/// The last word of a paired line: its value.
fn value(line: &str) -> &str {
    line.split_whitespace().last().unwrap_or_default()
}

/// The grant lines removed and added, with a limit, bound or mode that
/// changed named once, from the old value to the new.
pub fn grant_lines(want: &[String], got: &[String]) -> Vec<String> {
    let was: BTreeSet<&String> = want.iter().collect();
    let now: BTreeSet<&String> = got.iter().collect();
    let removed: BTreeMap<String, &String> = was.difference(&now).map(|l| (key(l), *l)).collect();
    let added: BTreeMap<String, &String> = now.difference(&was).map(|l| (key(l), *l)).collect();
    let flat = |l: &str| terminal(&l.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut out = Vec::new();
    for (k, old) in &removed {
        match added.get(k) {
            Some(new) => out.push(format!("{} {} → {}", terminal(k), terminal(value(old)), terminal(value(new)))),
            None if k == "mode" => out.push(format!("mode {} → transaction", terminal(value(old)))),
            None => out.push(format!("removed `{}`", flat(old))),
        }
    }
    for (k, new) in added.iter().filter(|(k, _)| !removed.contains_key(*k)) {
        match k.as_str() {
            "mode" => out.push(format!("mode transaction → {}", terminal(value(new)))),
            _ => out.push(format!("added `{}`", flat(new))),
        }
    }
    out
}

/// Each data file added, removed or changed.
fn files(want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (file, sha) in want {
        match got.get(file) {
            None => out.push(format!("{} removed", terminal(file))),
            Some(now) if now != sha => {
                out.push(format!("{} changed (locked sha256 {sha}, found {now})", terminal(file)))
            }
            Some(_) => {}
        }
    }
    for file in got.keys().filter(|f| !want.contains_key(*f)) {
        out.push(format!("{} added", terminal(file)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn each_change_is_named_once() {
        let want = v(&["read      public.a", "insert    public.b", "limit     statements 100"]);
        let got = v(&["read      public.a", "delete    public.c", "limit     statements 200", "mode      batched"]);
        let named = grant_lines(&want, &got);
        assert_eq!(
            named,
            v(&[
                "removed `insert public.b`",
                "limit statements 100 → 200",
                "added `delete public.c`",
                "mode transaction → batched"
            ]),
        );
    }
}
