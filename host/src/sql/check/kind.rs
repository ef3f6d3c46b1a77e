//! What a statement is and does: its top-level kind as libpg_query names
//! it ([`StatementKind`]) and what it does to each relation it touches
//! ([`Op`], the `[grants]` key that allows it).

use std::fmt;

/// What a statement does to one relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Read,
    Insert,
    Update,
    Delete,
    Create,
    Drop,
    /// `ALTER TABLE`, `COMMENT ON`, renaming a column or constraint.
    Alter,
    /// `CREATE INDEX` on the table, or a constraint that builds one.
    Index,
}

impl Op {
    /// The `[grants]` key that allows this operation.
    pub fn grant_key(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Create => "create",
            Op::Drop => "drop",
            Op::Alter => "alter",
            Op::Index => "index",
        }
    }
}

/// Declares [`StatementKind`] with libpg_query's node name for each kind in
/// one place, so a kind and the name its refusals quote cannot drift apart.
macro_rules! statement_kinds {
    ($($(#[$doc:meta])* $kind:ident = $name:literal,)*) => {
        /// A top-level statement kind, as libpg_query names its node. The
        /// kinds the policy allows or forbids by name have a variant; any
        /// other kind is [`StatementKind::Other`], which is never allowed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum StatementKind {
            $($(#[$doc])* $kind,)*
            /// A kind no rule names, with libpg_query's name for it.
            Other(String),
        }

        impl StatementKind {
            /// libpg_query's name for the kind (`InsertStmt`), as refusals quote it.
            pub fn name(&self) -> &str {
                match self {
                    $(StatementKind::$kind => $name,)*
                    StatementKind::Other(name) => name,
                }
            }

            /// The kind libpg_query calls `name`.
            pub(super) fn from_name(name: &str) -> Self {
                match name {
                    $($name => StatementKind::$kind,)*
                    other => StatementKind::Other(other.to_string()),
                }
            }
        }
    };
}

statement_kinds! {
    /// `SELECT`, `VALUES`, `TABLE` (without `INTO` or row locks).
    Select = "SelectStmt",
    Insert = "InsertStmt",
    Update = "UpdateStmt",
    Delete = "DeleteStmt",
    /// `CREATE TABLE` (`CREATE TABLE AS` is [`StatementKind::CreateTableAs`]).
    CreateTable = "CreateStmt",
    /// Any `DROP`; only `DROP TABLE`, `DROP VIEW` and `DROP INDEX` pass the check.
    Drop = "DropStmt",
    /// `ALTER TABLE` (and `ALTER INDEX`/`VIEW`/…, which are refused).
    AlterTable = "AlterTableStmt",
    /// `CREATE INDEX`.
    Index = "IndexStmt",
    /// `ALTER … RENAME`; only a column's or a constraint's name passes.
    Rename = "RenameStmt",
    /// `COMMENT ON`; only a table's, view's, index's, column's,
    /// constraint's or type's comment passes.
    Comment = "CommentStmt",
    /// `CREATE [OR REPLACE] VIEW`.
    View = "ViewStmt",
    /// `ALTER TYPE … ADD VALUE` (and `RENAME VALUE`, which is refused).
    AlterEnum = "AlterEnumStmt",
    Transaction = "TransactionStmt",
    /// `SET`, `RESET`.
    VariableSet = "VariableSetStmt",
    /// `SHOW`.
    VariableShow = "VariableShowStmt",
    Do = "DoStmt",
    Call = "CallStmt",
    Copy = "CopyStmt",
    Listen = "ListenStmt",
    Unlisten = "UnlistenStmt",
    Notify = "NotifyStmt",
    Prepare = "PrepareStmt",
    Execute = "ExecuteStmt",
    Deallocate = "DeallocateStmt",
    Discard = "DiscardStmt",
    Lock = "LockStmt",
    DeclareCursor = "DeclareCursorStmt",
    Fetch = "FetchStmt",
    ClosePortal = "ClosePortalStmt",
    Explain = "ExplainStmt",
    Merge = "MergeStmt",
    Truncate = "TruncateStmt",
    /// `CREATE TABLE AS`, `SELECT … INTO`.
    CreateTableAs = "CreateTableAsStmt",
    Load = "LoadStmt",
    AlterSystem = "AlterSystemStmt",
    CreateRole = "CreateRoleStmt",
    AlterRole = "AlterRoleStmt",
    DropRole = "DropRoleStmt",
    Grant = "GrantStmt",
    GrantRole = "GrantRoleStmt",
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
