//! Reviewed replacements: the way out of a broken rollback.
//!
//! A tier is rolled back with the bytes that applied it. When its rollback
//! has a bug, the only other plugin `host rollback` accepts for it is one
//! the lock file names as a replacement of the applied sha256: its member
//! entry says `replaces = ["<applied sha256>"]`, written by `host grants
//! PLUGINS… --lock FILE --replaces NAME=SHA256`. The replacement is a
//! member like any other (its bytes, grants and data files are pinned and
//! verified), so `diff old.lock new.lock` shows the reviewer both the new
//! plugin and what it replaces.

use super::lock::{Lock, Locked};
use crate::text::terminal;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `--replaces NAME=SHA256`: the plugin `name` in the lock replaces the
/// one with `sha256` for its rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub name: String,
    pub sha256: String,
}

impl std::str::FromStr for Replaces {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((name, sha256)) = s.split_once('=') else {
            return Err(format!(
                "`{}` is not NAME=SHA256 (the plugin's name and the sha256 that applied its tier, as `host rollback` \
                 or `host status` prints it)",
                terminal(s)
            ));
        };
        let sha256 = sha256.trim().to_ascii_lowercase();
        if !is_sha256(&sha256) {
            return Err(format!("`{}` is not a sha256 (64 hex digits)", terminal(&sha256)));
        }
        Ok(Replaces { name: name.trim().to_string(), sha256 })
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Writes each `--replaces` into the lock's member entry; refuses a name
/// the lock does not hold and a plugin named as its own replacement.
pub fn name_replacements(lock: &mut Lock, asked: &[Replaces]) -> Result<()> {
    for r in asked {
        let Some(entry) = lock.plugins.get_mut(&r.name) else {
            let names: Vec<String> = lock.plugins.keys().map(|n| terminal(n)).collect();
            bail!(
                "--replaces {}=…: no plugin of that name among the plugins given (they are: {}); give the fixed \
                 plugin among them and its manifest name before `=`",
                terminal(&r.name),
                names.join(", ")
            );
        };
        if !entry.replaces.contains(&r.sha256) {
            entry.replaces.push(r.sha256.clone());
            entry.replaces.sort();
        }
    }
    check(&lock.plugins)
}

/// What a lock file's `replaces` entries must be: sha256s, none of them
/// the member's own bytes (a plugin never needs to replace itself).
pub fn check(plugins: &BTreeMap<String, Locked>) -> Result<()> {
    for (name, l) in plugins {
        for sha in &l.replaces {
            if !is_sha256(sha) {
                bail!("{}: `replaces` holds `{}`, which is not a sha256", terminal(name), terminal(sha));
            }
            if *sha == l.sha256 {
                bail!("{}: `replaces` names its own sha256", terminal(name));
            }
        }
    }
    Ok(())
}

/// The replacements a verified lock file allows, by plugin name: the
/// member's own sha256 and the applied ones it replaces.
#[derive(Debug, Clone, Default)]
pub struct Replacements {
    /// The lock file they come from; none when the command has none.
    lock: Option<PathBuf>,
    by_name: BTreeMap<String, (String, BTreeSet<String>)>,
}

/// Why a plugin may not roll back a tier another sha256 applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The command was given no lock file.
    NoLock,
    /// The lock names no replacement for this plugin.
    NotNamed(PathBuf),
    /// The lock names it as a replacement of other bytes.
    OfOthers(PathBuf, Vec<String>),
}

impl Replacements {
    /// What `lock` (read from `path` and verified against the plan) allows.
    pub fn of(lock: &Lock, path: &Path) -> Replacements {
        let by_name = lock
            .plugins
            .iter()
            .map(|(n, l)| (n.clone(), (l.sha256.clone(), l.replaces.iter().cloned().collect())))
            .collect();
        Replacements { lock: Some(path.to_path_buf()), by_name }
    }

    /// Whether the plugin `name` with bytes `sha256` may roll back a tier
    /// `applied` (another sha256) applied.
    pub fn allows(&self, name: &str, sha256: &str, applied: &str) -> Result<(), Refusal> {
        let Some(lock) = &self.lock else { return Err(Refusal::NoLock) };
        match self.by_name.get(name) {
            Some((own, replaced)) if own == sha256 && replaced.contains(applied) => Ok(()),
            Some((own, replaced)) if own == sha256 && !replaced.is_empty() => {
                Err(Refusal::OfOthers(lock.clone(), replaced.iter().cloned().collect()))
            }
            _ => Err(Refusal::NotNamed(lock.clone())),
        }
    }
}

impl Refusal {
    /// Why, and how to make the reviewed replacement, for the plugin
    /// `name` whose tier `applied` applied.
    pub fn explain(&self, name: &str, applied: &str) -> String {
        let why = match self {
            Refusal::NoLock => "no lock file was given".to_string(),
            Refusal::NotNamed(lock) => {
                format!("the lock file {} does not name it as a replacement", terminal(&lock.display().to_string()))
            }
            Refusal::OfOthers(lock, others) => format!(
                "the lock file {} names it as a replacement of sha256 {} only, not of the one that applied the tier",
                terminal(&lock.display().to_string()),
                others.join(", ")
            ),
        };
        format!(
            "{why}; roll back with the plugin that applied it, or, if its rollback is broken, with a fixed plugin \
             reviewed as its replacement: write the lock file with the fixed plugin among the plan's \
             (`host grants PLUGINS… --lock FILE --replaces {}={applied}`), have it reviewed (`diff` it against the \
             lock file that applied the tier), and run `host rollback --lock FILE --tiers PLUGINS…`",
            terminal(name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a3a7f4a0ecb97c6ef3f2c133c8bd2eb0ed5aeedeca531f1cb5d5af8953d40c99";

    #[test]
    fn replaces_reads_name_and_sha256_only() {
        let r: Replaces = format!("test-brokenrb={}", A.to_uppercase()).parse().unwrap();
        assert_eq!(r, Replaces { name: "test-brokenrb".into(), sha256: A.into() });
        for bad in ["test-brokenrb", "x=abc", &format!("x={A}0"), &format!("x={}g", &A[1..])] {
            assert!(bad.parse::<Replaces>().is_err(), "{bad}");
        }
    }
}
