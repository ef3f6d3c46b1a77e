//! The checker ([`Checker`]): one plugin's grants and the rules of the
//! call (read-only, mode, phase, memory, deadline), and the check of one
//! statement from its text to what is sent: parse, dispatch, walk, column
//! and size rules, and the round trip of the deparsed text.

use super::kind::Op;
use super::same_tree::same_tree;
use super::verdict::{refuse, Checked, Refusal};
use super::walk::Walk;
use super::{bounds, columns, concurrent, sizes, worker, Catalog};
use crate::manifest::{Grants, Mode, Phase};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// Checks plugin statements against one plugin's grants. Cheap to clone:
/// what it holds is shared, so a checker thread can take its own copy.
#[derive(Clone)]
pub struct Checker {
    pub(super) grants: Arc<Grants>,
    pub(super) read_only: bool,
    /// The plugin's memory limit, which bounds constant size arguments.
    pub(super) memory_mib: u64,
    /// When the walk must give up (the plugin's call's wall time).
    pub(super) deadline: Option<Instant>,
    /// The catalog-derived lists (attribute notation, names as text).
    pub(super) catalog: Arc<Catalog>,
    /// The tier's mode: only a concurrent tier may send CONCURRENTLY, and
    /// it sends nothing else but reads.
    pub(super) mode: Mode,
    /// A tier with grants per phase: the phase `grants` are, and the other
    /// phase's grants, so a statement only the other phase may send is
    /// refused saying so.
    pub(super) phase: Option<(Phase, Arc<Grants>)>,
}

/// A statement `check_here` panics on in test builds, to prove a panic is
/// a refusal and its thread is replaced.
#[cfg(test)]
pub(super) const PANIC_FOR_TESTS: &str = "SELECT 'the checker panics on this in tests'";

impl Checker {
    /// A checker for a plugin; `read_only` for gate, verify and probe, and
    /// for a tier's post-conditions.
    /// Its size bound is the default plugin memory limit until
    /// [`Checker::limits`] says otherwise, and its catalog lists the ones
    /// built into the host until [`Checker::catalog`] gives the server's.
    pub fn new(grants: &Grants, read_only: bool) -> Self {
        Checker::shared(Arc::new(grants.clone()), read_only)
    }

    /// [`Checker::new`] over grants already shared.
    pub(crate) fn shared(grants: Arc<Grants>, read_only: bool) -> Self {
        let memory_mib = crate::manifest::Limits::default().memory_mib;
        Checker {
            grants,
            read_only,
            memory_mib,
            deadline: None,
            catalog: Catalog::built(),
            mode: Mode::default(),
            phase: None,
        }
    }

    /// The tier's mode (`mode = "…"` in its manifest).
    pub(crate) fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The plugin's memory limit (bounds constant size arguments, see
    /// `sizes.rs`) and the end of its call's wall time (the walk stops
    /// there; the caller reads the clock after the check).
    pub fn limits(mut self, memory_mib: u64, deadline: Option<Instant>) -> Self {
        self.memory_mib = memory_mib;
        self.deadline = deadline;
        self
    }

    /// A tier whose grants differ by phase: its grants are `phase`'s, and
    /// `other` the other phase's (which only word a refusal).
    pub(crate) fn in_phase(mut self, phase: Phase, other: Arc<Grants>) -> Self {
        self.phase = Some((phase, other));
        self
    }

    /// The phase whose grants this checker holds, for a tier whose grants
    /// differ by phase.
    pub(crate) fn phase(&self) -> Option<Phase> {
        self.phase.as_ref().map(|(p, _)| *p)
    }

    /// The catalog lists to check against: the connected server's.
    pub(crate) fn catalog(mut self, catalog: Arc<Catalog>) -> Self {
        self.catalog = catalog;
        self
    }

    /// Parses, walks and checks one statement; refuses anything it cannot
    /// prove is granted. Runs on a checker thread (see `worker.rs`); a
    /// panic there is a refusal, never the host's end.
    pub fn check(&self, sql: &str, params: usize) -> Result<Checked, Refusal> {
        // Before the text is copied to the thread: its size is bounded here.
        bounds::before_parse(sql, params)?;
        worker::check(self, sql)
    }

    /// [`Checker::check_grants`]; a refusal the other phase's grants would
    /// not give says the statement is that phase's only, and where to add
    /// it for this one.
    pub(super) fn check_here(&self, sql: &str) -> Result<Checked, Refusal> {
        let refusal = match self.check_grants(sql) {
            Err(refusal) => refusal,
            passed => return passed,
        };
        let Some((phase, other)) = &self.phase else { return Err(refusal) };
        let there = Checker { grants: other.clone(), phase: None, ..self.clone() };
        if there.check_grants(sql).is_err() {
            return Err(refusal);
        }
        let (other_phase, lines) = (phase.other(), refusal.grant.as_deref().unwrap_or("the line that grants it"));
        Err(Refusal {
            reason: format!(
                "{}: it is allowed in {other_phase} only ([grants.{other_phase}]); to allow it in {phase} too, add \
                 to [grants.{phase}]: {} (or move the line to [grants], for both phases)",
                refusal.reason,
                lines.replace('\n', "; ")
            ),
            grant: None,
        })
    }

    fn check_grants(&self, sql: &str) -> Result<Checked, Refusal> {
        #[cfg(test)]
        if sql == PANIC_FOR_TESTS {
            panic!("a checker panic, for the tests");
        }
        let parsed = pg_query::parse(sql, 0).or_else(|e| refuse(bounds::parse_error(&e)))?;
        let stmts = &parsed.protobuf.stmts;
        if stmts.len() != 1 {
            return refuse(format!("exactly one statement per call is allowed; this text holds {}", stmts.len()));
        }
        let node = stmts[0].stmt.as_ref().and_then(|n| n.node.as_ref());
        let Some(node) = node else { return refuse("empty statement") };
        // Serialised once: the walk reads it, the round trip compares it.
        let tree = to_json(&parsed.protobuf);
        let node_json = &tree["stmts"][0]["stmt"]["node"];
        // A concurrent tier's other statements are reads, under the
        // read-only rules (no `nextval` in its SELECTs either).
        let step = concurrent::placed(self.mode, self.read_only, node)?;
        let reads_only;
        let checker = match (&step, self.mode) {
            (None, Mode::Concurrent) if !self.read_only => {
                reads_only = Checker { read_only: true, ..self.clone() };
                &reads_only
            }
            _ => self,
        };
        let mut walk = Walk::new(checker, node_json);
        let (statement_kind, lock) = checker.dispatch(&mut walk, node, node_json)?;
        columns::check(checker, node_json)?;
        let copies = sizes::check(node_json, self.memory_mib)?;
        let sql =
            parsed.deparse(Default::default()).or_else(|e| refuse(format!("cannot be re-emitted safely: {e}")))?;
        // What is sent must parse to the tree that was checked.
        let reparsed = pg_query::parse(&sql, 0).or_else(|e| refuse(format!("re-emitted text does not parse: {e}")))?;
        if !same_tree(&reparsed.protobuf, &tree) {
            return refuse("the re-emitted statement does not parse to the checked tree");
        }
        let calls_writer = walk.calls_writer();
        Ok(Checked { sql, kind: statement_kind, accesses: walk.into_accesses(), copies, lock, step, calls_writer })
    }

    pub(super) fn allows(&self, op: Op, relation: &str) -> bool {
        let list = match op {
            Op::Read => &self.grants.read,
            Op::Insert => &self.grants.insert,
            Op::Update => &self.grants.update,
            Op::Delete => &self.grants.delete,
            Op::Create => &self.grants.create,
            Op::Drop => &self.grants.drop,
            Op::Alter => &self.grants.alter,
            Op::Index => &self.grants.index,
        };
        list.iter().any(|g| g == relation)
    }
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("parse trees serialise to JSON")
}
