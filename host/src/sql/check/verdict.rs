//! What the check says about a statement: [`Checked`] (what is sent, and
//! what it touches) or [`Refusal`] (why not, and the grant that would
//! allow it, when one can).

use super::kind::{Op, StatementKind};
use super::{Lock, Step};
use std::fmt;

/// A statement that passed the check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The deparsed tree: exactly what was checked, and what is sent.
    pub sql: String,
    /// The statement kind (shown as libpg_query names it, `InsertStmt`).
    pub(crate) kind: StatementKind,
    /// Every relation it touches and how.
    pub accesses: Vec<(String, Op)>,
    /// How many times it may copy the values it reads into what the server
    /// holds (`sizes.rs`): the host holds copies × its largest parameter
    /// to the plugin's `memory_mib` before sending it.
    pub(crate) copies: f64,
    /// The table lock a DDL statement takes, and what it costs production
    /// (none for a statement that takes only row locks).
    pub(crate) lock: Option<Lock>,
    /// A statement that cannot run in a transaction block (an index built
    /// or dropped CONCURRENTLY): the host runs it as a step of its own.
    pub(crate) step: Option<Step>,
    /// It calls a function that may change the database (granted, not on
    /// the read-only list, or one that advances or sets a sequence).
    pub(crate) calls_writer: bool,
}

impl Checked {
    /// A plain read: a SELECT that reads relations only and calls no
    /// function that may write. Anything else may change rows or schema.
    pub(crate) fn reads_only(&self) -> bool {
        self.kind == StatementKind::Select && !self.calls_writer && self.accesses.iter().all(|(_, op)| *op == Op::Read)
    }
}

/// Why a statement was refused, and what would allow it (if anything can).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    /// The manifest lines that would grant it (TOML the loader accepts),
    /// when a grant can.
    pub(crate) grant: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(lines) = &self.grant {
            write!(f, "; to allow it, add to plugin.toml under [grants]: {}", lines.replace('\n', "; "))?;
        }
        Ok(())
    }
}

pub(super) fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { reason: reason.into(), grant: None })
}

/// A refusal a grant could lift: the loader's own rule says which lines
/// would ([`crate::manifest::suggested_grant`]), or why none can.
pub(super) fn refuse_grant<T>(reason: impl Into<String>, key: &str, object: &str) -> Result<T, Refusal> {
    match crate::manifest::suggested_grant(key, object) {
        Ok(lines) => Err(Refusal { reason: reason.into(), grant: Some(lines) }),
        Err(why) => Err(Refusal { reason: format!("{}; no grant can allow it: {why}", reason.into()), grant: None }),
    }
}
