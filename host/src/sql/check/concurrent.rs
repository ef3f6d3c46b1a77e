//! Where a statement may run: `CREATE INDEX CONCURRENTLY` and `DROP INDEX
//! CONCURRENTLY` cannot run in a transaction block, so only a tier whose
//! manifest says `mode = "concurrent"` may send them, and the host runs
//! each as a step of its own (`runbook/concurrent.rs`). Such a tier sends
//! nothing else but reads: whatever else it wrote would run in autocommit,
//! outside any transaction the host could roll back.
//!
//! The grants are judged as for the statements without CONCURRENTLY
//! (`alter.rs`, `ddl.rs`): the table's `index` grant builds an index on it,
//! the index's `drop` grant drops it.

use super::{refuse, Refusal};
use crate::manifest::Mode;
use pg_query::protobuf::node::Node as N;

/// What a step does to its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepAction {
    /// `CREATE [UNIQUE] INDEX CONCURRENTLY`.
    Build,
    /// `DROP INDEX CONCURRENTLY`.
    Drop,
}

/// A statement the host runs outside a transaction, and the index it names
/// (`schema.name`, as the parser resolved it): the ledger records it before
/// the statement is sent, so an interrupted build is found again by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: StepAction,
    /// The schema, as the server names it (an index lives in its table's).
    pub schema: String,
    /// The index's name.
    pub name: String,
}

impl Step {
    /// `schema.name`, as the ledger's `object` holds it.
    pub fn object(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

const IN_ITS_OWN_TIER: &str = "put it in a tier of its own with `mode = \"concurrent\"` in plugin.toml: the host \
     runs each such statement as a step outside a transaction, recorded in the ledger before and after";

/// Whether `node` may run in a tier of `mode`, and the step it is when it
/// runs outside a transaction. A read-only call (a check) never runs one.
pub(super) fn placed(mode: Mode, read_only: bool, node: &N) -> Result<Option<Step>, Refusal> {
    let step = match node {
        N::IndexStmt(s) if s.concurrent => {
            let schema = s.relation.as_ref().map(|r| r.schemaname.clone()).unwrap_or_default();
            if s.idxname.is_empty() {
                return refuse(
                    "CREATE INDEX CONCURRENTLY must name its index (CREATE INDEX CONCURRENTLY name ON …): a build \
                     that is interrupted leaves an INVALID index behind, which the host finds again and drops by \
                     the name the ledger recorded",
                );
            }
            Some(Step { action: StepAction::Build, schema, name: s.idxname.clone() })
        }
        N::DropStmt(s) if s.concurrent => {
            let names = match s.objects.as_slice() {
                [one] => super::ddl::name_list(Some(one))?,
                _ => return refuse("DROP INDEX CONCURRENTLY drops one index per statement"),
            };
            match names.as_slice() {
                [schema, name] => Some(Step { action: StepAction::Drop, schema: schema.clone(), name: name.clone() }),
                _ => return refuse(format!("DROP INDEX CONCURRENTLY {}: name it as schema.name", names.join("."))),
            }
        }
        _ => None,
    };
    match (&step, mode) {
        (Some(_), _) if read_only => Ok(None),
        (Some(s), Mode::Concurrent) => Ok(Some(s.clone())),
        (Some(s), _) => {
            let what = match s.action {
                StepAction::Build => "CREATE INDEX CONCURRENTLY",
                StepAction::Drop => "DROP INDEX CONCURRENTLY",
            };
            refuse(format!("{what} cannot run inside the tier's transaction; {IN_ITS_OWN_TIER}"))
        }
        (None, Mode::Concurrent) if !read_only && !matches!(node, N::SelectStmt(_)) => refuse(
            "a concurrent tier (mode = \"concurrent\") may send only CREATE INDEX CONCURRENTLY, DROP INDEX \
             CONCURRENTLY and reads: anything else would run outside any transaction; put it in a tier with the \
             default mode",
        ),
        _ => Ok(None),
    }
}
