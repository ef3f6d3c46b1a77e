//! The grants check: every plugin statement is parsed by the real PostgreSQL
//! parser and walked node by node before anything reaches the server.
//!
//! The walk goes over the parse tree serialised to JSON, so it visits every
//! field of every node; a node kind it does not know is refused rather than
//! skipped. Relations are resolved from the parser's normalised names (case
//! folding, quoting and `U&` already applied) and must be schema-qualified,
//! except references to a CTE in scope: the host pins `search_path` to
//! `pg_catalog, pg_temp`, so an unqualified name could only mean a catalog
//! table. What is sent to the server is the deparsed checked tree.
//!
//! A reviewer reads it in rooms: `policy.rs` holds the tables (allowed and
//! forbidden statement kinds, known nodes, safe functions); `checker.rs` the
//! checker and one statement's way from text to what is sent, `same_tree.rs`
//! the proof that the text sent parses to the tree checked; `kind.rs` the
//! statement kinds and operations, `verdict.rs` what the check answers;
//! `dispatch.rs` the statement dispatch (which kinds pass, which relations
//! they write); `walk.rs` holds the tree walk with CTE scopes, `rules.rs`
//! the relation, function, operator and type rules it applies; `bounds.rs` what is refused
//! before the parser sees the text, and `sizes/` the constant size
//! arguments that would make the server allocate more than the plugin may.
//!
//! `names.rs` holds objects named by text (`setval('s.seq', 1)`,
//! `'s.t'::regclass`), and `catalog.rs` the lists derived from the
//! server's catalog, read from the server a command runs against.
//!
//! The check never crashes and never runs long: it runs on a checker thread
//! with a known stack (`worker.rs`: libpg_query sizes its stack-depth guard
//! from the calling thread's stack, which a wasmtime fiber does not
//! describe), its cost is linear in the statement, which is at most
//! `MAX_STATEMENT_BYTES` (`policy.rs`), and the walk stops at the call's deadline.

mod alter;
mod bounds;
mod catalog;
mod checker;
mod columns;
mod concurrent;
mod ddl;
mod dispatch;
mod enums;
mod kind;
mod locks;
mod names;
mod policy;
mod rules;
mod same_tree;
mod sizes;
mod verdict;
mod view;
mod walk;
mod worker;

#[cfg(test)]
mod alter_tests;
#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod classes_tests;
#[cfg(test)]
mod columns_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod same_tree_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod view_tests;

pub(crate) use catalog::Catalog;
pub use catalog::{built_from, built_lists};
pub use checker::Checker;
pub(crate) use concurrent::{Step, StepAction};
pub(crate) use kind::{Op, StatementKind};
pub(crate) use locks::{Lock, LockMode};
pub use verdict::{Checked, Refusal};

/// The `pg_catalog` functions any plugin may call without a grant, for the
/// reviewer's tools and the differential oracle (which lets a restricted
/// role execute exactly these and trips on anything else).
pub fn safe_functions() -> &'static [&'static str] {
    policy::SAFE_FUNCTIONS
}

// What the rooms share, named here as they were before the split.
#[cfg(test)]
use checker::PANIC_FOR_TESTS;
use dispatch::{obj, target};
use verdict::{refuse, refuse_grant};
