//! The audit's verdict: implicit code runs only once reviewed (the lock
//! file lists it by name with the digest of its definition, so a changed
//! definition is unreviewed again), and a write reaches only what the same
//! plugin's grants name. A definition a grant names (a granted function's
//! overloads, a view) is held to the lock file the same way once the lock
//! file was written against a database; without one, the grant's name is
//! what the reviewer pinned.

use super::{Audit, Implicit, ImplicitKind, Reached, Unknown};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a lock file says was reviewed of the catalog: object → digest;
/// `None` when the lock file was written without a database (no
/// `[catalog]` section: nothing of the catalog was read at the review).
#[derive(Debug, Clone, Default)]
pub struct Reviewed {
    pub lock: PathBuf,
    pub objects: Option<BTreeMap<String, String>>,
}

/// Why an implicit-code object may not run yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The command was given no lock file.
    NoLock,
    /// The lock file does not list it.
    NotInLock,
    /// The lock file lists another definition.
    Changed,
}

/// What the plan may not do as the catalog stands.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub unreviewed: Vec<(Implicit, Why)>,
    pub ungranted: Vec<Reached>,
    pub unknown: Vec<Unknown>,
    /// Counts of what passed, for the summary line: implicit code
    /// reviewed, granted definitions pinned, granted definitions the lock
    /// file could not pin (written without a database), reach granted.
    pub reviewed: usize,
    pub pinned: usize,
    pub unpinned: usize,
    pub granted: usize,
    lock: Option<PathBuf>,
}

/// How the reviewer records the catalog's objects as reviewed.
pub const HOW_TO_REVIEW: &str = "read each object's definition (`host grants PLUGINS… --database-url URL` lists \
     them with the plugins that reach them), then record them as reviewed with `host grants PLUGINS… --database-url \
     URL --lock FILE` and run with `--lock FILE`";

impl Verdict {
    pub(super) fn of(audit: &Audit, reviewed: Option<&Reviewed>) -> Verdict {
        let (mut unreviewed, mut unpinned) = (Vec::new(), 0);
        for i in &audit.implicit {
            let why = match (reviewed.map(|r| r.objects.as_ref().map(|o| o.get(&i.object))), i.named) {
                // A grant's name, accepted without a lock file or pinned by
                // one written without a database: nothing to hold it to.
                (None, true) | (Some(None), true) => {
                    unpinned += 1;
                    continue;
                }
                (None, false) => Why::NoLock,
                (Some(None), false) | (Some(Some(None)), _) => Why::NotInLock,
                (Some(Some(Some(d))), _) if *d != i.digest => Why::Changed,
                (Some(Some(Some(_))), _) => continue,
            };
            unreviewed.push((i.clone(), why));
        }
        let ungranted: Vec<Reached> = audit.reach.reached.iter().filter(|r| !r.granted).cloned().collect();
        let named = audit.implicit.iter().filter(|i| i.named).count();
        let named_refused = unreviewed.iter().filter(|(i, _)| i.named).count();
        Verdict {
            reviewed: audit.implicit.len() - named - (unreviewed.len() - named_refused),
            pinned: named - named_refused - unpinned,
            unpinned,
            granted: audit.reach.reached.len() - ungranted.len(),
            unreviewed,
            ungranted,
            unknown: audit.reach.unknown.clone(),
            lock: reviewed.map(|r| r.lock.clone()),
        }
    }

    /// Nothing stands in the plan's way.
    pub fn passes(&self) -> bool {
        self.unreviewed.is_empty() && self.ungranted.is_empty() && self.unknown.is_empty()
    }

    /// One status line per problem: (verb, what).
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (i, why) in &self.unreviewed {
            let who = match i.whole_database {
                true => "every plugin (it acts on the whole database)".to_string(),
                false => who(&i.plugins),
            };
            out.push(("Unreviewed", format!("{} — reached by {who}; {}", i.object, self.why(i, why))));
        }
        for r in &self.ungranted {
            out.push(("Ungranted", ungranted(r)));
        }
        for u in &self.unknown {
            out.push(("Unknown", format!("what plugin {} writes through {} reaches: {}", u.plugin, u.relation, u.why)));
        }
        out
    }

    fn why(&self, i: &Implicit, why: &Why) -> String {
        let lock = self.lock.as_ref().map(|l| l.display().to_string()).unwrap_or_default();
        // What a granted name resolves to now, so the reviewer sees an
        // overload added or a callee changed.
        let now = match (i.kind, i.covers.as_slice()) {
            (ImplicitKind::Function, all) if !all.is_empty() => format!("; it now runs {}", all.join(", ")),
            _ => String::new(),
        };
        match (why, i.kind) {
            (Why::NoLock, _) => "no lock file was given".into(),
            (Why::NotInLock, _) => format!("not in the lock file {lock} (never reviewed){now}"),
            (Why::Changed, ImplicitKind::Function) => format!(
                "the definition of its overloads or of a function they call changed, or an overload was added or \
                 dropped, since the lock file {lock} recorded it{now}"
            ),
            (Why::Changed, _) => format!("its definition changed since the lock file {lock} recorded it"),
        }
    }

    /// The summary line of an audit that passes.
    pub fn summary(&self, audit: &Audit) -> String {
        let implicit = match (self.reviewed, &self.lock) {
            (0, _) => "no object runs code a statement does not name".to_string(),
            (n, Some(lock)) => {
                format!("{n} object(s) run code no statement names, each reviewed in {}", lock.display())
            }
            (n, None) => format!("{n} object(s) run code no statement names"),
        };
        let implicit = match (self.pinned, self.unpinned, &self.lock) {
            (0, 0, _) => implicit,
            (n, 0, Some(lock)) => format!("{implicit}; {n} granted definition(s) as pinned in {}", lock.display()),
            (_, n, Some(lock)) => format!(
                "{implicit}; {n} granted definition(s) not pinned: the lock file {} has no [catalog] (written without \
                 a database, or by a host that did not pin definitions): write it again with --database-url",
                lock.display()
            ),
            (_, n, None) => format!("{implicit}; {n} granted definition(s), not pinned without a lock file"),
        };
        let reach = match self.granted {
            0 => "no write reaches past its target".to_string(),
            n => format!("writes reach {n} relation(s) past their targets, each granted"),
        };
        format!("the catalog: {implicit}; {reach} ({} queries, {} ms)", audit.queries, audit.elapsed.as_millis())
    }

    /// The error of a plan the audit refuses: one line, every problem.
    pub fn refusal(&self) -> String {
        let mut parts = Vec::new();
        if !self.unreviewed.is_empty() {
            let each: Vec<String> =
                self.unreviewed.iter().map(|(i, why)| format!("{} ({})", i.object, self.why(i, why))).collect();
            parts.push(format!(
                "the database's catalog holds {} object(s) that run code no plugin statement names, not reviewed: {}; \
                 {HOW_TO_REVIEW}",
                each.len(),
                each.join("; ")
            ));
        }
        if !self.ungranted.is_empty() {
            let each: Vec<String> = self.ungranted.iter().map(ungranted).collect();
            parts.push(format!(
                "the plan's writes reach relations no grant of theirs names: {}; add each grant to that plugin's \
                 manifest (a reviewed change of its grants), or change the catalog",
                each.join("; ")
            ));
        }
        if !self.unknown.is_empty() {
            let each: Vec<String> =
                self.unknown.iter().map(|u| format!("plugin {} writing {}: {}", u.plugin, u.relation, u.why)).collect();
            parts.push(format!("the host cannot tell what these writes reach: {}", each.join("; ")));
        }
        format!("refusing the plan before any plugin runs (only the catalog was read): {}", parts.join(". Also, "))
    }
}

/// `a → ON DELETE CASCADE → b needs delete = ["b"] in plugin p`.
fn ungranted(r: &Reached) -> String {
    let made = match r.made_by.as_slice() {
        [] => String::new(),
        by => format!(" (through what plugin {} of the plan creates or alters)", by.join(", ")),
    };
    format!("{} needs {} in plugin {}{made}", r.path_text(), r.grant_line(), r.plugin)
}

fn who(plugins: &[String]) -> String {
    match plugins {
        [] => "no plugin".into(),
        [one] => format!("plugin {one}"),
        many => format!("plugins {}", many.join(", ")),
    }
}
