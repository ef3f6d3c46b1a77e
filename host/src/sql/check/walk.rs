//! The walk over a statement's parse tree (as JSON), below the top
//! statement: it visits every field of every node, keeps the CTE names in
//! scope as PostgreSQL scopes them, and applies the relation, function,
//! operator, column-reference and type rules. A node kind it does not know
//! is refused: whatever it cannot see, it cannot prove granted.

use super::policy::{forbidden_reason, name_rule, KNOWN_NODES};
use super::rules::{column_type, named_object, system_column};
use super::{obj, refuse, Checker, Op, Refusal, StatementKind};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::Instant;

/// The CTE names visible at the walk's current point: a stack that a WITH
/// clause pushes onto and the node holding it cuts back, with a count per
/// name so a lookup costs the same at any depth. (Cloning the scope at every
/// node made a statement with 1,500 CTE names and 30k nodes take seconds.)
#[derive(Default)]
pub(super) struct Scope {
    names: Vec<String>,
    counts: HashMap<String, usize>,
}

impl Scope {
    pub(super) fn push(&mut self, name: &str) {
        self.names.push(name.to_string());
        *self.counts.entry(name.to_string()).or_default() += 1;
    }

    /// Back to the first `len` names: the WITH clauses opened since are done.
    fn truncate(&mut self, len: usize) {
        for name in self.names.drain(len..) {
            if let Some(n) = self.counts.get_mut(&name) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&name);
                }
            }
        }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.counts.contains_key(name)
    }
}

/// Nodes visited between two looks at the clock.
const NODES_PER_CLOCK_READ: u64 = 1024;

/// One statement's walk: what it found so far, and what it needs to know
/// about the whole statement while looking at one node.
pub(super) struct Walk<'c> {
    pub(super) checker: &'c Checker,
    pub(super) accesses: Vec<(String, Op)>,
    /// Names a function in FROM answers to, with its column aliases: a
    /// scalar there makes `name.f` a call of `f` (attribute notation).
    pub(super) function_aliases: Vec<(String, Vec<String>)>,
    pub(super) scope: Scope,
    pub(super) nodes: u64,
    /// It calls a function that may change the database: one a grant
    /// allows (not on the read-only list) or one that advances or sets a
    /// sequence. The SQL listing keeps such a statement whatever its kind.
    pub(super) calls_writer: bool,
}

/// Every function in FROM anywhere in the statement: its alias (or, without
/// one, its function names) and its column aliases.
fn function_aliases(tree: &Value) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut stack = vec![tree];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(rf) = m.get("RangeFunction") {
                    let strings = |v: &Value| -> Vec<String> {
                        v.as_array()
                            .map(|l| {
                                l.iter()
                                    .filter_map(|n| n["node"]["String"]["sval"].as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let cols = strings(&rf["alias"]["colnames"]);
                    match rf["alias"]["aliasname"].as_str() {
                        Some(alias) => out.push((alias.to_string(), cols)),
                        None => {
                            let mut names = Vec::new();
                            collect_funcnames(&rf["functions"], &mut names);
                            out.extend(names.into_iter().map(|n| (n, cols.clone())));
                        }
                    }
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    out
}

fn collect_funcnames(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(last) = m.get("FuncCall").and_then(|f| f["funcname"].as_array()).and_then(|l| l.last()) {
                if let Some(name) = last["node"]["String"]["sval"].as_str() {
                    out.push(name.to_string());
                }
            }
            m.values().for_each(|x| collect_funcnames(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_funcnames(x, out)),
        _ => {}
    }
}

impl<'c> Walk<'c> {
    /// A walk of the statement `tree` (the top node) for `checker`.
    pub(super) fn new(checker: &'c Checker, tree: &Value) -> Self {
        Walk {
            checker,
            accesses: Vec::new(),
            function_aliases: function_aliases(tree),
            scope: Scope::default(),
            nodes: 0,
            calls_writer: false,
        }
    }

    /// Whether it calls a function that may change the database.
    pub(super) fn calls_writer(&self) -> bool {
        self.calls_writer
    }

    /// Every relation the statement touches and how, in the order found.
    pub(super) fn into_accesses(self) -> Vec<(String, Op)> {
        self.accesses
    }

    /// Any part of the tree, by the walk's rules (a sub-command's
    /// definition).
    pub(super) fn any(&mut self, v: &Value) -> Result<(), Refusal> {
        self.value(v)
    }

    /// Any JSON value of the tree: nodes are `{"node": {Kind: body}}`;
    /// typed sub-messages are plain objects, recognised by their shape.
    pub(super) fn value(&mut self, v: &Value) -> Result<(), Refusal> {
        match v {
            Value::Array(items) => items.iter().try_for_each(|i| self.value(i)),
            Value::Object(m) => {
                if let Some(inner) = m.get("node") {
                    if m.len() == 1 {
                        return match inner {
                            Value::Null => Ok(()),
                            Value::Object(k) if k.len() == 1 => {
                                let (kind, body) = k.iter().next().expect("one key");
                                self.node(kind, obj(body)?)
                            }
                            _ => refuse("malformed parse tree"),
                        };
                    }
                }
                if m.contains_key("relname") && m.contains_key("relpersistence") {
                    return self.relation(obj(v)?, Op::Read);
                }
                if m.contains_key("larg") && m.contains_key("into_clause") {
                    return self.node("SelectStmt", m);
                }
                if m.contains_key("rel") && m.contains_key("on_commit") {
                    return refuse("SELECT … INTO creates a table; use CREATE TABLE, then INSERT … SELECT");
                }
                if m.contains_key("names") && m.contains_key("typemod") {
                    return self.type_name(m);
                }
                self.fields(m, &[])
            }
            _ => Ok(()),
        }
    }

    /// The fields of a node or sub-message, with its WITH clause in scope.
    pub(super) fn fields(&mut self, m: &Map<String, Value>, skip: &[&str]) -> Result<(), Refusal> {
        let outer = self.scope.names.len();
        if let Some(with) = m.get("with_clause").filter(|w| !w.is_null()) {
            self.with_clause(obj(with)?)?;
        }
        for (key, v) in m {
            if key == "with_clause" || skip.contains(&key.as_str()) {
                continue;
            }
            if let Some(rule) = name_rule(key) {
                named_object(rule, v)?;
            }
            self.value(v)?;
        }
        self.scope.truncate(outer);
        Ok(())
    }

    /// CTEs: a non-recursive CTE sees only the ones before it; the statement
    /// sees all of them.
    /// Leaves all of them pushed on the scope, for the caller to cut back.
    fn with_clause(&mut self, with: &Map<String, Value>) -> Result<(), Refusal> {
        let recursive = with.get("recursive").and_then(Value::as_bool).unwrap_or(false);
        let ctes: &[Value] = with.get("ctes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let names: Vec<&str> = ctes
            .iter()
            .map(|c| c["node"]["CommonTableExpr"]["ctename"].as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| Refusal { reason: "malformed WITH clause".into(), grant: None })?;
        if recursive {
            names.iter().for_each(|n| self.scope.push(n));
        }
        for (cte, name) in ctes.iter().zip(&names) {
            let body = obj(&cte["node"]["CommonTableExpr"])?;
            if let Some(q) = body.get("ctequery").and_then(|q| q.get("node")).and_then(Value::as_object) {
                if let Some(kind) = q.keys().next().map(|k| StatementKind::from_name(k)) {
                    if kind != StatementKind::Select {
                        return refuse(format!("a data-modifying statement ({kind}) inside WITH is not allowed"));
                    }
                }
            }
            self.node("CommonTableExpr", body)?;
            if !recursive {
                self.scope.push(name);
            }
        }
        Ok(())
    }

    /// One node: refused unless its kind is known, then its own rule (if
    /// it has one) and its fields.
    pub(super) fn node(&mut self, kind: &str, body: &Map<String, Value>) -> Result<(), Refusal> {
        self.nodes += 1;
        if self.nodes.is_multiple_of(NODES_PER_CLOCK_READ) && self.checker.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return refuse(format!("the check was stopped at the call's deadline, after {} nodes", self.nodes));
        }
        if !KNOWN_NODES.contains(&kind) {
            let statement = StatementKind::from_name(kind);
            return refuse(match forbidden_reason(&statement) {
                Some(reason) => format!("{kind} is never allowed: {reason}"),
                None if matches!(
                    statement,
                    StatementKind::Insert | StatementKind::Update | StatementKind::Delete | StatementKind::Merge
                ) =>
                {
                    format!("{kind} is only allowed as the whole statement, not nested")
                }
                None => format!("the checker does not understand {kind} nodes, so it refuses them"),
            });
        }
        match kind {
            "RangeVar" => return self.relation(body, Op::Read),
            "FuncCall" => self.function(body)?,
            "AExpr" => self.operator(body)?,
            "AIndirection" => self.indirection(body)?,
            "ColumnRef" => self.column_ref(body)?,
            "SubLink" => self.operator_list(body.get("oper_name"))?,
            "SortBy" => self.operator_list(body.get("use_op"))?,
            "RangeFunction" => self.range_function(body)?,
            "Constraint" => {
                // Its names and expressions first: a refusal names the first
                // thing wrong in them before the constraint's own rules.
                self.fields(body, &[])?;
                return self.constraint(body);
            }
            "SelectStmt" => {
                if body.get("into_clause").is_some_and(|v| !v.is_null()) {
                    return refuse("SELECT … INTO creates a table; use CREATE TABLE, then INSERT … SELECT");
                }
                if body.get("locking_clause").and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
                    return refuse("row locks (FOR UPDATE/SHARE) are not allowed");
                }
            }
            "TypeName" => return self.type_name(body),
            "TypeCast" => self.reg_cast(body)?,
            "ColumnDef" => column_type(body)?,
            "IndexElem" => system_column(body.get("name").and_then(Value::as_str).unwrap_or(""), "an index element")?,
            _ => {}
        }
        self.fields(body, &[])
    }
}
