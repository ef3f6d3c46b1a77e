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
//! A reviewer reads it in three rooms: `policy.rs` holds the tables (allowed
//! and forbidden statement kinds, known nodes, safe functions); this file
//! holds the public API and the statement dispatch (which kinds pass, which
//! relations they write); `walk.rs` holds the tree walk with CTE scopes and the
//! relation, function, operator and type rules; `bounds.rs` what is refused
//! before the parser sees the text, and `sizes.rs` the constant size
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
//! [`MAX_STATEMENT_BYTES`], and the walk stops at the call's deadline.

mod alter;
mod bounds;
mod catalog;
mod columns;
mod concurrent;
mod constants;
mod ddl;
mod enums;
mod locks;
mod names;
mod policy;
mod sizes;
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
mod tests;
#[cfg(test)]
mod view_tests;

pub use catalog::{built_from, built_lists, Catalog, CatalogError, Source};
pub use concurrent::{Step, StepAction};
pub use locks::{Lock, LockMode};
pub use policy::{MAX_NESTING, MAX_PARAMS, MAX_STATEMENT_BYTES};
pub use sizes::MAX_COPIES;

/// The `pg_catalog` functions any plugin may call without a grant, for the
/// reviewer's tools and the differential oracle (which lets a restricted
/// role execute exactly these and trips on anything else).
pub fn safe_functions() -> &'static [&'static str] {
    policy::SAFE_FUNCTIONS
}

use crate::manifest::{Grants, Mode, Phase};
use ddl::{drop_relation, implicit_sequences, named_indexes};
use pg_query::protobuf::{node::Node as N, OnConflictAction, RangeVar};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use walk::Walk;

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
            fn from_name(name: &str) -> Self {
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

/// A statement that passed the check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The deparsed tree: exactly what was checked, and what is sent.
    pub sql: String,
    /// The statement kind (shown as libpg_query names it, `InsertStmt`).
    pub kind: StatementKind,
    /// Every relation it touches and how.
    pub accesses: Vec<(String, Op)>,
    /// How many times it may copy the values it reads into what the server
    /// holds (`sizes.rs`): the host holds copies × its largest parameter
    /// to the plugin's `memory_mib` before sending it.
    pub copies: f64,
    /// The table lock a DDL statement takes, and what it costs production
    /// (none for a statement that takes only row locks).
    pub lock: Option<Lock>,
    /// A statement that cannot run in a transaction block (an index built
    /// or dropped CONCURRENTLY): the host runs it as a step of its own.
    pub step: Option<Step>,
    /// It calls a function that may change the database (granted, not on
    /// the read-only list, or one that advances or sets a sequence).
    pub calls_writer: bool,
}

impl Checked {
    /// A plain read: a SELECT that reads relations only and calls no
    /// function that may write. Anything else may change rows or schema.
    pub fn reads_only(&self) -> bool {
        self.kind == StatementKind::Select && !self.calls_writer && self.accesses.iter().all(|(_, op)| *op == Op::Read)
    }
}

/// Why a statement was refused, and what would allow it (if anything can).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    /// The manifest lines that would grant it (TOML the loader accepts),
    /// when a grant can.
    pub grant: Option<String>,
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

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { reason: reason.into(), grant: None })
}

/// A refusal a grant could lift: the loader's own rule says which lines
/// would ([`crate::manifest::suggested_grant`]), or why none can.
fn refuse_grant<T>(reason: impl Into<String>, key: &str, object: &str) -> Result<T, Refusal> {
    match crate::manifest::suggested_grant(key, object) {
        Ok(lines) => Err(Refusal { reason: reason.into(), grant: Some(lines) }),
        Err(why) => Err(Refusal { reason: format!("{}; no grant can allow it: {why}", reason.into()), grant: None }),
    }
}

/// Checks plugin statements against one plugin's grants. Cheap to clone:
/// what it holds is shared, so a checker thread can take its own copy.
#[derive(Clone)]
pub struct Checker {
    grants: Arc<Grants>,
    read_only: bool,
    /// The plugin's memory limit, which bounds constant size arguments.
    memory_mib: u64,
    /// When the walk must give up (the plugin's call's wall time).
    deadline: Option<Instant>,
    /// The catalog-derived lists (attribute notation, names as text).
    catalog: Arc<Catalog>,
    /// The tier's mode: only a concurrent tier may send CONCURRENTLY, and
    /// it sends nothing else but reads.
    mode: Mode,
    /// A tier with grants per phase: the phase `grants` are, and the other
    /// phase's grants, so a statement only the other phase may send is
    /// refused saying so.
    phase: Option<(Phase, Arc<Grants>)>,
}

/// A statement `check_here` panics on in test builds, to prove a panic is
/// a refusal and its thread is replaced.
#[cfg(test)]
const PANIC_FOR_TESTS: &str = "SELECT 'the checker panics on this in tests'";

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
    pub fn shared(grants: Arc<Grants>, read_only: bool) -> Self {
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
    pub fn mode(mut self, mode: Mode) -> Self {
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
    pub fn in_phase(mut self, phase: Phase, other: Arc<Grants>) -> Self {
        self.phase = Some((phase, other));
        self
    }

    /// The phase whose grants this checker holds, for a tier whose grants
    /// differ by phase.
    pub fn phase(&self) -> Option<Phase> {
        self.phase.as_ref().map(|(p, _)| *p)
    }

    /// The catalog lists to check against: the connected server's.
    pub fn catalog(mut self, catalog: Arc<Catalog>) -> Self {
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
    fn check_here(&self, sql: &str) -> Result<Checked, Refusal> {
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
        if !same_shape(&to_json(&reparsed.protobuf), &tree) {
            return refuse("the re-emitted statement does not parse to the checked tree");
        }
        let calls_writer = walk.calls_writer();
        Ok(Checked { sql, kind: statement_kind, accesses: walk.into_accesses(), copies, lock, step, calls_writer })
    }

    fn allows(&self, op: Op, relation: &str) -> bool {
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

    /// The top statement: its kind decides whether it may be sent at all and
    /// which relations it writes; the walk checks everything else in it.
    fn dispatch(&self, walk: &mut Walk, node: &N, json: &Value) -> Result<(StatementKind, Option<Lock>), Refusal> {
        let name = json.as_object().and_then(|m| m.keys().next()).cloned().unwrap_or_default();
        let body = obj(&json[&name])?;
        let kind = StatementKind::from_name(&name);
        if let Some(reason) = policy::forbidden_reason(&kind) {
            return refuse(format!("{kind} is never allowed: {reason}"));
        }
        if self.read_only && !policy::READ_ONLY_STATEMENTS.contains(&kind) {
            return refuse(format!(
                "{kind} writes, and this call is read-only (gate, verify and probe plugins and every tier's post-conditions may only SELECT)"
            ));
        }
        if !policy::ALLOWED_STATEMENTS.contains(&kind) {
            return refuse(match policy::unsupported_reason(&kind) {
                Some(why) => format!("{kind} is not a statement kind plugins may send: {why}"),
                None => format!("{kind} is not a statement kind plugins may send"),
            });
        }
        let mut lock = None;
        match node {
            N::SelectStmt(_) => walk.node(kind.name(), body)?,
            N::InsertStmt(s) => {
                target(walk, s.relation.as_ref(), Op::Insert)?;
                if s.returning_clause.as_ref().is_some_and(|r| !r.exprs.is_empty()) {
                    target(walk, s.relation.as_ref(), Op::Read)?;
                }
                if let Some(oc) = &s.on_conflict_clause {
                    // An arbiter (`ON CONFLICT (id)`, `ON CONSTRAINT c`)
                    // looks the key up among the existing rows: PostgreSQL
                    // asks SELECT for it, and the row count says whether the
                    // key exists.
                    if oc.infer.is_some() {
                        target(walk, s.relation.as_ref(), Op::Read)?;
                    }
                    if oc.action == OnConflictAction::OnconflictUpdate as i32 {
                        target(walk, s.relation.as_ref(), Op::Update)?;
                        // DO UPDATE's SET and WHERE see the existing row: a
                        // column they name (other than `excluded.…`, the row
                        // proposed) is a read of the target, as PostgreSQL
                        // asks SELECT for it.
                        let clause = &body["on_conflict_clause"];
                        let aliased_excluded = s
                            .relation
                            .as_ref()
                            .and_then(|r| r.alias.as_ref())
                            .is_some_and(|a| a.aliasname == "excluded");
                        if aliased_excluded
                            || assigns_into_a_column(&clause["target_list"])
                            || reads_a_column(&clause["target_list"], Some("excluded"))
                            || reads_a_column(&clause["where_clause"], Some("excluded"))
                        {
                            target(walk, s.relation.as_ref(), Op::Read)?;
                        }
                    }
                }
                walk.fields(body, &["relation"])?;
            }
            N::UpdateStmt(s) => {
                target(walk, s.relation.as_ref(), Op::Update)?;
                // WHERE, FROM, RETURNING and a SET expression naming a
                // column can read the target's rows, so they need a read
                // grant, as PostgreSQL asks SELECT for what they read.
                if s.where_clause.is_some()
                    || !s.from_clause.is_empty()
                    || s.returning_clause.as_ref().is_some_and(|r| !r.exprs.is_empty())
                    || reads_a_column(&body["target_list"], None)
                    || assigns_into_a_column(&body["target_list"])
                {
                    target(walk, s.relation.as_ref(), Op::Read)?;
                }
                walk.fields(body, &["relation"])?;
            }
            N::DeleteStmt(s) => {
                target(walk, s.relation.as_ref(), Op::Delete)?;
                if s.where_clause.is_some()
                    || !s.using_clause.is_empty()
                    || s.returning_clause.as_ref().is_some_and(|r| !r.exprs.is_empty())
                {
                    target(walk, s.relation.as_ref(), Op::Read)?;
                }
                walk.fields(body, &["relation"])?;
            }
            N::CreateStmt(s) => {
                if s.relation.as_ref().is_some_and(|r| r.relpersistence == "t") {
                    return refuse("temporary tables are searched before search_path and outlive the tier");
                }
                if !s.tablespacename.is_empty() {
                    return refuse("CREATE TABLE … TABLESPACE is not allowed");
                }
                // A child table adds rows to its parent; a partition or typed
                // table ties the new table to objects no grant names.
                if !s.inh_relations.is_empty()
                    || s.partbound.is_some()
                    || s.partspec.is_some()
                    || s.of_typename.is_some()
                {
                    return refuse(
                        "CREATE TABLE … INHERITS / PARTITION / OF is not allowed: its rows would reach other tables",
                    );
                }
                target(walk, s.relation.as_ref(), Op::Create)?;
                for relation in implicit_sequences(s)?.into_iter().chain(named_indexes(s)) {
                    walk.relation(obj(&relation)?, Op::Create)?;
                }
                walk.fields(body, &["relation"])?;
            }
            N::DropStmt(s) => lock = drop_relation(walk, s)?,
            N::AlterTableStmt(s) => lock = Some(alter::alter_table(walk, s, &json[&name])?),
            N::IndexStmt(s) => lock = Some(alter::create_index(walk, s, &json[&name])?),
            N::CommentStmt(s) => lock = Some(alter::comment(walk, s)?),
            N::RenameStmt(s) => lock = Some(alter::rename(walk, s)?),
            N::ViewStmt(s) => lock = view::create_view(walk, &self.grants, s, &json[&name])?,
            N::AlterEnumStmt(s) => enums::add_value(walk, s)?,
            _ => return refuse(format!("{kind} is not a statement kind plugins may send")),
        }
        Ok((kind, lock))
    }
}

/// The relation a statement writes (or, for RETURNING and WHERE, reads).
fn target(walk: &mut Walk, relation: Option<&RangeVar>, op: Op) -> Result<(), Refusal> {
    match relation {
        Some(rv) => walk.relation(obj(&to_json(rv))?, op),
        None => refuse("statement without a target relation"),
    }
}

/// Whether an expression names a column (of the target, for a write):
/// any column reference, except those qualified by `except` (the
/// `excluded` row of ON CONFLICT, which is the row being proposed).
fn reads_a_column(v: &Value, except: Option<&str>) -> bool {
    match v {
        Value::Object(m) => {
            if let Some(cr) = m.get("ColumnRef") {
                let first = cr["fields"][0]["node"]["String"]["sval"].as_str();
                let qualified = cr["fields"].as_array().is_some_and(|f| f.len() > 1);
                if !(qualified && except.is_some() && first == except) {
                    return true;
                }
            }
            m.values().any(|x| reads_a_column(x, except))
        }
        Value::Array(a) => a.iter().any(|x| reads_a_column(x, except)),
        _ => false,
    }
}

/// Whether a SET assigns into part of a column (`arr[1] = …`, `j['k'] = …`,
/// `comp.f = …`): the rest of the new value is the old one, which the server
/// reads, and its errors describe ("wrong number of array subscripts").
fn assigns_into_a_column(targets: &Value) -> bool {
    let targets = targets.as_array().map(Vec::as_slice).unwrap_or_default();
    targets.iter().any(|t| t["node"]["ResTarget"]["indirection"].as_array().is_some_and(|i| !i.is_empty()))
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("parse trees serialise to JSON")
}

/// Whether two parse trees are the same but for source positions. Compared
/// in place: copying both trees without positions was a third of the cost
/// of checking a large statement.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let fields = |m: &'_ Map<String, Value>| m.iter().filter(|(k, _)| !policy::is_position(k)).count();
            fields(x) == fields(y)
                && x.iter()
                    .filter(|(k, _)| !policy::is_position(k))
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w)),
        _ => a == b,
    }
}

fn obj(v: &Value) -> Result<&Map<String, Value>, Refusal> {
    v.as_object().ok_or_else(|| Refusal { reason: "malformed parse tree".into(), grant: None })
}
