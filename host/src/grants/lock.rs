//! The lock file: the reviewed plan. It lists the plan's members in run
//! order and, per plugin, its sha256, its grants as the lines `host grants`
//! prints (so `diff old.lock new.lock` is the review) with their digest,
//! its data files' sha256 and its acknowledged dangerous grants. A plan
//! with a member missing, added or changed is refused, naming each.
//!
//! Lock files written before the members list and the grants' lines still
//! load: their `[plugins.…]` tables were always exactly the reviewed plan
//! (so the member check holds for them), and their digests still pin the
//! grants; only the refusal of a changed plugin cannot say which grant
//! changed, and says so. Refusing them would make every operator write the
//! lock file again from the plugins as they are now, which re-pins whatever
//! is there without a review: the one thing a lock file exists to prevent.

use super::{changed, digest, digest_of, lines};
use crate::manifest::Kind;
use crate::plan::Plugin;
use crate::text::terminal;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How every lock file starts; only a file with it may be replaced.
const LOCK_HEADER: &str = "# Reviewed plugins:";

/// What to do when the plan is not the reviewed one.
const REVIEW_AGAIN: &str =
    "review the change (`host grants PLUGINS…`; `diff` the lock file against one written now) and write the lock file again (`host grants PLUGINS… --lock FILE`), or run the reviewed plugins";

/// One reviewed plugin in the lock file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// `gate`, `tier`, `verify` or `probe`; the grants digest covers it.
    /// Empty in lock files before the grants' lines.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinal: Option<u32>,
    pub sha256: String,
    /// The digest of the grants' lines (with the name and the kind).
    pub grants: String,
    /// One line per grant, limit and mode, as `host grants` prints them;
    /// checked against `grants` when the lock file is read. Empty in lock
    /// files before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants_text: Vec<String>,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The dangerous grants the reviewer let through, acknowledged in the
    /// manifest (`host grants` shows each as a WARNING); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledged: Vec<String>,
    /// The applied sha256s this plugin replaces for their rollback
    /// (`--replaces NAME=SHA256`, [`super::replace`]); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
}

impl Locked {
    /// A plugin as it is now.
    pub fn of(p: &Plugin) -> Locked {
        let mut acknowledged = p.manifest.grants.acknowledge.clone();
        acknowledged.sort();
        Locked {
            kind: p.manifest.kind.to_string(),
            ordinal: p.manifest.ordinal,
            sha256: p.sha256.clone(),
            grants: digest(&p.manifest),
            grants_text: lines(&p.manifest),
            files: p.file_digests(),
            acknowledged,
            replaces: Vec::new(),
        }
    }

    /// `tier 3`, `gate`; nothing for a lock file before kinds.
    pub fn place(&self) -> String {
        match self.ordinal {
            Some(n) if self.kind == "tier" => format!("tier {n}"),
            _ => self.kind.clone(),
        }
    }
}

/// The lock file: the plan's members, each reviewed plugin by name, and
/// whether the plan was reviewed to run under its restricted roles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// `roles = true`: the plan was reviewed to run each plugin as its own
    /// restricted role (`host grants --role-sql`); `run --lock` then runs
    /// under roles, proven first. Absent in lock files before roles (and
    /// written only when true, so an older host still reads the others).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roles: bool,
    /// The plan's members by name, in run order: exactly the plugins a
    /// command on this plan must be given. Absent in lock files before it,
    /// whose `[plugins.…]` tables are the members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    pub plugins: BTreeMap<String, Locked>,
    /// `[catalog]`: the database objects that run code no plugin statement
    /// names, and the definitions the grants name (granted functions'
    /// overloads, views), reviewed (`host grants … --database-url URL --lock
    /// FILE`): each object's name and the sha256 of its definition (the
    /// catalog audit). Written, empty or not, whenever the lock file is
    /// written against a database; absent otherwise (and in lock files
    /// before the audit), when it pins the grants' names only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<BTreeMap<String, String>>,
}

/// Where a kind runs in a plan: gate, tiers, verify, probes.
fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Gate => 0,
        Kind::Tier => 1,
        Kind::Verify => 2,
        Kind::Probe => 3,
    }
}

impl Lock {
    /// The lock of a plan as it is now.
    pub fn of<'a>(plugins: impl IntoIterator<Item = &'a Plugin>) -> Lock {
        let mut all: Vec<&Plugin> = plugins.into_iter().collect();
        all.sort_by_key(|p| (rank(p.manifest.kind), p.manifest.ordinal, p.manifest.name.clone()));
        let members = all.iter().map(|p| p.manifest.name.clone()).collect();
        let plugins = all.iter().map(|p| (p.manifest.name.clone(), Locked::of(p))).collect();
        Lock { roles: false, members, plugins, catalog: None }
    }

    /// The plan's members: the list, or for an older lock file its plugins.
    pub fn members(&self) -> Vec<&str> {
        match self.members.is_empty() {
            true => self.plugins.keys().map(String::as_str).collect(),
            false => self.members.iter().map(String::as_str).collect(),
        }
    }

    /// Writes the lock file atomically, refusing to replace any file that
    /// is not a lock file (a plugin named by mistake, say).
    pub fn write(&self, path: &Path) -> Result<()> {
        if path.extension().is_some_and(|e| e == "wasm") {
            bail!(
                "refusing to write the lock file over {}: that is a plugin's name; give the lock file's own name first, e.g. `host grants --lock rollout.lock tiers/*.wasm`",
                path.display()
            );
        }
        crate::outfile::refuse_foreign(path, LOCK_HEADER, "lock file")?;
        // The path is the operator's, but a newline in it would end the
        // comment and make the rest TOML: shown inert, like any text.
        let text = format!(
            "{LOCK_HEADER} `host run --lock {}` runs only this plan, these bytes and grants.\n{}",
            terminal(&path.display().to_string()),
            toml::to_string_pretty(self).context("cannot serialise the lock file")?
        );
        crate::outfile::write_atomic(path, text.as_bytes())
    }

    /// Reads a lock file, and refuses one whose parts disagree (edited by
    /// hand after `host grants` wrote it): what a reviewer reads in it
    /// must be what it pins.
    pub fn read(path: &Path) -> Result<Lock> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the lock file {}", path.display()))?;
        Lock::from_text(&text, path)
    }

    /// A lock file's text, read once (its signature is checked on these
    /// bytes, [`super::read_lock`]); `path` names it in errors.
    pub fn from_text(text: &str, path: &Path) -> Result<Lock> {
        let lock: Lock =
            toml::from_str(text).with_context(|| format!("{} is not a valid lock file", path.display()))?;
        lock.holds_together().with_context(|| {
            format!("the lock file {} was edited after `host grants` wrote it; {REVIEW_AGAIN}", path.display())
        })?;
        Ok(lock)
    }

    fn holds_together(&self) -> Result<()> {
        if !self.members.is_empty() {
            let listed: BTreeSet<&String> = self.members.iter().collect();
            let tables: BTreeSet<&String> = self.plugins.keys().collect();
            if listed.len() != self.members.len() {
                bail!("its `members` list names a plugin twice");
            }
            if listed != tables {
                let odd: Vec<String> = listed.symmetric_difference(&tables).map(|n| terminal(n)).collect();
                bail!("its `members` list and its [plugins.…] tables differ in {}", odd.join(", "));
            }
        }
        for (name, l) in &self.plugins {
            if !l.grants_text.is_empty() && digest_of(name, &l.kind, &l.grants_text) != l.grants {
                bail!("the grants text of {} is not what its grants digest pins", terminal(name));
            }
        }
        super::replace::check(&self.plugins)
    }

    /// Refuses a plan that is not the locked one: a member missing, a
    /// plugin never reviewed, or one whose bytes, grants, limits, mode or
    /// data files differ, naming each and what changed.
    pub fn verify(&self, plugins: &[&Plugin]) -> Result<()> {
        let given: BTreeSet<&str> = plugins.iter().map(|p| p.manifest.name.as_str()).collect();
        let mut problems = Vec::new();
        for name in self.members().into_iter().filter(|n| !given.contains(n)) {
            let place = self.plugins.get(name).map(Locked::place).unwrap_or_default();
            let place = if place.is_empty() { String::new() } else { format!(" ({place})") };
            problems.push(format!(
                "{}{place}: missing from the plan: the lock file lists it, and a plan without it was never reviewed (add its plugin to --tiers)",
                terminal(name)
            ));
        }
        for p in plugins {
            let name = &p.manifest.name;
            match self.plugins.get(name) {
                None => problems.push(format!(
                    "{}: not in the lock file (never reviewed: a plan with it added is a change; drop it from --tiers)",
                    terminal(name)
                )),
                Some(want) => problems.extend(changed::named(name, want, &Locked::of(p))),
            }
        }
        if !problems.is_empty() {
            // One line: an error is printed on one line, its newlines shown as `\n`.
            bail!("refusing a plan that is not the one in the lock file: {}; {REVIEW_AGAIN}", problems.join("; "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked() -> Locked {
        let grants_text = vec!["read      public.t".to_string()];
        Locked {
            kind: "tier".into(),
            ordinal: Some(1),
            sha256: "s".into(),
            grants: digest_of("p", "tier", &grants_text),
            grants_text,
            files: BTreeMap::new(),
            acknowledged: vec!["x.y".into()],
            replaces: Vec::new(),
        }
    }

    /// The lock file's first line is a comment naming its path: a path
    /// holding a newline must not end the comment and make the rest TOML.
    #[test]
    fn a_path_with_a_newline_stays_in_the_header_comment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a\nplugins = 1\n.lock");
        let mut lock = Lock::default();
        lock.plugins.insert("p".into(), locked());
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().ends_with("runs only this plan, these bytes and grants."), "{text}");
        let back = Lock::read(&path).unwrap();
        assert_eq!(back.plugins["p"], lock.plugins["p"]);
    }

    /// A lock file written against a database keeps its `[catalog]` even
    /// with nothing in it (the review read the catalog: a granted function
    /// made later is not in it), and one written without a database has
    /// none (it pins the grants' names only).
    #[test]
    fn an_empty_catalog_is_told_from_none() {
        let dir = tempfile::tempdir().unwrap();
        for catalog in [None, Some(BTreeMap::new()), Some([("view a.v".to_string(), "d".to_string())].into())] {
            let path = dir.path().join("rollout.lock");
            let mut lock = Lock { members: vec!["p".into()], catalog: catalog.clone(), ..Lock::default() };
            lock.plugins.insert("p".into(), locked());
            lock.write(&path).unwrap();
            assert_eq!(Lock::read(&path).unwrap().catalog, catalog, "{}", std::fs::read_to_string(&path).unwrap());
        }
    }

    /// A grants line edited in the lock file (so a `diff` would show a
    /// review that never pinned it) is refused when the file is read.
    #[test]
    fn grants_text_edited_by_hand_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.lock");
        let mut lock = Lock { members: vec!["p".into()], ..Lock::default() };
        lock.plugins.insert("p".into(), locked());
        lock.write(&path).unwrap();
        Lock::read(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap().replace("public.t", "public.u");
        std::fs::write(&path, text).unwrap();
        let err = format!("{:#}", Lock::read(&path).unwrap_err());
        assert!(err.contains("the grants text of p is not what its grants digest pins"), "{err}");
    }
}
