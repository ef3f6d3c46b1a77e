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

use crate::manifest::Grants;
use pg_query::protobuf::{node::Node as N, DropBehavior, ObjectType, OnConflictAction};
use serde_json::{Map, Value};
use std::fmt;

/// Longest statement text a plugin may send.
pub const MAX_STATEMENT_BYTES: usize = 64 * 1024;
/// Most parameters a statement may bind.
pub const MAX_PARAMS: usize = 1_000;
/// PostgreSQL's identifier limit (NAMEDATALEN - 1); longer ones are truncated
/// by the server, so two different spellings could name one object.
const MAX_IDENT: usize = 63;

/// Functions any plugin may call: pure, no SQL in strings, no server reach.
const SAFE_FUNCTIONS: &[&str] = &[
    "abs",
    "array_agg",
    "array_length",
    "avg",
    "bool_and",
    "bool_or",
    "btrim",
    "cardinality",
    "ceil",
    "char_length",
    "concat",
    "concat_ws",
    "count",
    "current_database",
    "date_part",
    "date_trunc",
    "dense_rank",
    "every",
    "floor",
    "format",
    "gen_random_uuid",
    "generate_series",
    "jsonb_agg",
    "jsonb_build_array",
    "jsonb_build_object",
    "jsonb_object_agg",
    "json_agg",
    "json_build_object",
    "lag",
    "lead",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "max",
    "md5",
    "min",
    "mod",
    "now",
    "rank",
    "replace",
    "right",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "string_agg",
    "strpos",
    "substr",
    "substring",
    "sum",
    "to_char",
    "to_jsonb",
    "to_regclass",
    "trim",
    "unnest",
    "upper",
];

/// What a statement does to one relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Read,
    Insert,
    Update,
    Delete,
    Create,
    Drop,
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
        }
    }
}

/// A statement that passed the check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The deparsed tree: exactly what was checked, and what is sent.
    pub sql: String,
    /// The statement kind, e.g. `InsertStmt`.
    pub kind: String,
    /// Every relation it touches and how.
    pub accesses: Vec<(String, Op)>,
}

/// Why a statement was refused, and what would allow it (if anything can).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    /// The manifest line that would grant it, when a grant can.
    pub grant: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(line) = &self.grant {
            write!(f, "; to allow it, add to plugin.toml under [grants]: {line}")?;
        }
        Ok(())
    }
}

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { reason: reason.into(), grant: None })
}

fn refuse_grant<T>(reason: impl Into<String>, key: &str, object: &str) -> Result<T, Refusal> {
    Err(Refusal { reason: reason.into(), grant: Some(format!("{key} = [\"{object}\"]")) })
}

/// Checks plugin statements against one plugin's grants.
pub struct Checker<'a> {
    grants: &'a Grants,
    read_only: bool,
}

impl<'a> Checker<'a> {
    /// A checker for a plugin; `read_only` for gate, verify and probe.
    pub fn new(grants: &'a Grants, read_only: bool) -> Self {
        Checker { grants, read_only }
    }

    /// Parses, walks and checks one statement; refuses anything it cannot
    /// prove is granted.
    pub fn check(&self, sql: &str, params: usize) -> Result<Checked, Refusal> {
        if sql.len() > MAX_STATEMENT_BYTES {
            return refuse(format!("statement is {} bytes; the limit is {MAX_STATEMENT_BYTES}", sql.len()));
        }
        if params > MAX_PARAMS {
            return refuse(format!("{params} parameters; the limit is {MAX_PARAMS}"));
        }
        let parsed = pg_query::parse(sql, 0).or_else(|e| refuse(format!("does not parse: {e}")))?;
        let stmts = &parsed.protobuf.stmts;
        if stmts.len() != 1 {
            return refuse(format!("exactly one statement per call is allowed; this text holds {}", stmts.len()));
        }
        let node = stmts[0].stmt.as_ref().and_then(|n| n.node.as_ref());
        let Some(node) = node else { return refuse("empty statement") };
        // Serialised once: the walk reads it, the round trip compares it.
        let tree = to_json(&parsed.protobuf);
        let node_json = &tree["stmts"][0]["stmt"]["node"];
        let mut walk = Walk { checker: self, accesses: Vec::new(), function_aliases: function_aliases(node_json) };
        let kind = walk.top(node, node_json)?;
        let sql =
            parsed.deparse(Default::default()).or_else(|e| refuse(format!("cannot be re-emitted safely: {e}")))?;
        // What is sent must parse to the tree that was checked.
        let reparsed = pg_query::parse(&sql, 0).or_else(|e| refuse(format!("re-emitted text does not parse: {e}")))?;
        if shape(&to_json(&reparsed.protobuf)) != shape(&tree) {
            return refuse("the re-emitted statement does not parse to the checked tree");
        }
        Ok(Checked { sql, kind, accesses: walk.accesses })
    }

    fn allows(&self, op: Op, relation: &str) -> bool {
        let list = match op {
            Op::Read => &self.grants.read,
            Op::Insert => &self.grants.insert,
            Op::Update => &self.grants.update,
            Op::Delete => &self.grants.delete,
            Op::Create => &self.grants.create,
            Op::Drop => &self.grants.drop,
        };
        list.iter().any(|g| g == relation)
    }
}

/// Top-level statement kinds that are never allowed, with the reason.
fn forbidden_reason(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "TransactionStmt" => "transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT): the host owns the transaction",
        "VariableSetStmt" | "VariableShowStmt" => "SET/RESET/SHOW: session settings and role belong to the host",
        "DoStmt" => "DO runs procedural code the host cannot check",
        "CallStmt" => "CALL runs a procedure the host cannot check",
        "CopyStmt" => "COPY reaches server files and programs",
        "ListenStmt" | "UnlistenStmt" | "NotifyStmt" => "LISTEN/NOTIFY outlive the transaction",
        "PrepareStmt" | "ExecuteStmt" | "DeallocateStmt" => "prepared statements outlive the transaction",
        "DiscardStmt" => "DISCARD: session state belongs to the host",
        "LockStmt" => "LOCK: explicit table locks belong to the host",
        "DeclareCursorStmt" | "FetchStmt" | "ClosePortalStmt" => "cursors can outlive the transaction",
        "ExplainStmt" => "EXPLAIN ANALYZE executes its statement; send the statement itself",
        "MergeStmt" => "MERGE is not supported by the checker; use INSERT … ON CONFLICT or UPDATE",
        "TruncateStmt" => "TRUNCATE skips triggers; use DELETE with a delete grant",
        "CreateTableAsStmt" => "CREATE TABLE AS / SELECT INTO: use CREATE TABLE, then INSERT … SELECT",
        "LoadStmt" => "LOAD loads server code",
        "AlterSystemStmt" | "CreateRoleStmt" | "AlterRoleStmt" | "DropRoleStmt" | "GrantStmt" | "GrantRoleStmt" => {
            "roles and privileges belong to the operator"
        }
        _ => return None,
    })
}

/// Node kinds the walk understands below the top statement. Anything else is
/// refused: an unknown node could hide a relation or a function.
const KNOWN_NODES: &[&str] = &[
    "AArrayExpr",
    "AConst",
    "AExpr",
    "AIndices",
    "AIndirection",
    "AStar",
    "Alias",
    "BitString",
    "BoolExpr",
    "Boolean",
    "BooleanTest",
    "CaseExpr",
    "CaseWhen",
    "CoalesceExpr",
    "CollateClause",
    "ColumnDef",
    "ColumnRef",
    "CommonTableExpr",
    "Constraint",
    "Float",
    "FuncCall",
    "GroupingSet",
    "IndexElem",
    "Integer",
    "JoinExpr",
    "List",
    "MinMaxExpr",
    "MultiAssignRef",
    "NullTest",
    "ParamRef",
    "RangeFunction",
    "RangeSubselect",
    "RangeVar",
    "ResTarget",
    "RowExpr",
    "SqlvalueFunction",
    "SelectStmt",
    "SetToDefault",
    "SortBy",
    "String",
    "SubLink",
    "TypeCast",
    "TypeName",
    "WindowDef",
];

/// Built-in non-aggregate functions that take one whole row (record,
/// anyelement, "any"): `alias.f` on a relation alias is the call `f(alias)`.
const ROW_FUNCTIONS: &[&str] = &[
    "array_dims",
    "array_ndims",
    "array_to_json",
    "cardinality",
    "concat",
    "hash_array",
    "hash_record",
    "json_build_array",
    "json_build_object",
    "jsonb_build_array",
    "jsonb_build_object",
    "num_nonnulls",
    "num_nulls",
    "pg_collation_for",
    "pg_column_compression",
    "pg_column_size",
    "pg_typeof",
    "quote_literal",
    "quote_nullable",
    "record_out",
    "record_send",
    "row_to_json",
    "to_json",
    "to_jsonb",
    "unnest",
];

/// CTE names visible at a point of the tree.
type Scope = Vec<String>;

struct Walk<'c, 'g> {
    checker: &'c Checker<'g>,
    accesses: Vec<(String, Op)>,
    /// Names a function in FROM answers to, with its column aliases: a
    /// scalar there makes `name.f` a call of `f` (attribute notation).
    function_aliases: Vec<(String, Vec<String>)>,
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

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("parse trees serialise to JSON")
}

impl Walk<'_, '_> {
    /// The top statement: its kind decides which write targets exist.
    fn top(&mut self, node: &N, json: &Value) -> Result<String, Refusal> {
        let kind = json.as_object().and_then(|m| m.keys().next()).cloned().unwrap_or_default();
        let body = obj(&json[&kind])?;
        if let Some(reason) = forbidden_reason(&kind) {
            return refuse(format!("{kind} is never allowed: {reason}"));
        }
        let write = |w: &mut Self, target: Option<&pg_query::protobuf::RangeVar>, op| match target {
            Some(rv) => w.relation(&to_json(rv), op, &Vec::new()),
            None => refuse("statement without a target relation"),
        };
        if self.checker.read_only && kind != "SelectStmt" {
            return refuse(format!(
                "{kind} writes, and this plugin is read-only (gate, verify and probe plugins may only SELECT)"
            ));
        }
        match node {
            N::SelectStmt(_) => self.node(&kind, body, &Vec::new())?,
            N::InsertStmt(s) => {
                write(self, s.relation.as_ref(), Op::Insert)?;
                if s.returning_clause.as_ref().is_some_and(|r| !r.exprs.is_empty()) {
                    write(self, s.relation.as_ref(), Op::Read)?;
                }
                if let Some(oc) = &s.on_conflict_clause {
                    if oc.action == OnConflictAction::OnconflictUpdate as i32 {
                        write(self, s.relation.as_ref(), Op::Update)?;
                    }
                }
                self.fields(body, &Vec::new(), &["relation"])?;
            }
            N::UpdateStmt(s) => {
                write(self, s.relation.as_ref(), Op::Update)?;
                // WHERE, FROM and RETURNING read the target (PostgreSQL
                // asks SELECT for them too): they need a read grant.
                if s.where_clause.is_some()
                    || !s.from_clause.is_empty()
                    || s.returning_clause.as_ref().is_some_and(|r| !r.exprs.is_empty())
                {
                    write(self, s.relation.as_ref(), Op::Read)?;
                }
                self.fields(body, &Vec::new(), &["relation"])?;
            }
            N::DeleteStmt(s) => {
                write(self, s.relation.as_ref(), Op::Delete)?;
                if s.where_clause.is_some()
                    || !s.using_clause.is_empty()
                    || s.returning_clause.as_ref().is_some_and(|r| !r.exprs.is_empty())
                {
                    write(self, s.relation.as_ref(), Op::Read)?;
                }
                self.fields(body, &Vec::new(), &["relation"])?;
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
                write(self, s.relation.as_ref(), Op::Create)?;
                self.fields(body, &Vec::new(), &["relation"])?;
            }
            N::DropStmt(s) => self.drop(s)?,
            _ => return refuse(format!("{kind} is not a statement kind plugins may send")),
        }
        Ok(kind)
    }

    fn drop(&mut self, s: &pg_query::protobuf::DropStmt) -> Result<(), Refusal> {
        if s.remove_type != ObjectType::ObjectTable as i32 {
            return refuse("only DROP TABLE is allowed");
        }
        if s.behavior == DropBehavior::DropCascade as i32 {
            return refuse("DROP … CASCADE drops objects no grant names");
        }
        for object in &s.objects {
            let names: Vec<String> = match &object.node {
                Some(N::List(l)) => l
                    .items
                    .iter()
                    .map(|i| match &i.node {
                        Some(N::String(s)) => Ok(s.sval.clone()),
                        _ => refuse("unexpected name in DROP"),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return refuse("unexpected object in DROP"),
            };
            match names.as_slice() {
                [schema, name] => {
                    let rv = serde_json::json!({"catalogname": "", "schemaname": schema, "relname": name,
                        "relpersistence": "p", "inh": true});
                    self.relation(&rv, Op::Drop, &Vec::new())?;
                }
                _ => return refuse(format!("DROP TABLE {}: name the table as schema.name", names.join("."))),
            }
        }
        Ok(())
    }

    /// Any JSON value of the tree: nodes are `{"node": {Kind: body}}`;
    /// typed sub-messages are plain objects, recognised by their shape.
    fn value(&mut self, v: &Value, scope: &Scope) -> Result<(), Refusal> {
        match v {
            Value::Array(items) => items.iter().try_for_each(|i| self.value(i, scope)),
            Value::Object(m) => {
                if let Some(inner) = m.get("node") {
                    if m.len() == 1 {
                        return match inner {
                            Value::Null => Ok(()),
                            Value::Object(k) if k.len() == 1 => {
                                let (kind, body) = k.iter().next().expect("one key");
                                self.node(kind, obj(body)?, scope)
                            }
                            _ => refuse("malformed parse tree"),
                        };
                    }
                }
                if m.contains_key("relname") && m.contains_key("relpersistence") {
                    return self.relation(v, Op::Read, scope);
                }
                if m.contains_key("larg") && m.contains_key("into_clause") {
                    return self.node("SelectStmt", m, scope);
                }
                if m.contains_key("rel") && m.contains_key("on_commit") {
                    return refuse("SELECT … INTO creates a table; use CREATE TABLE, then INSERT … SELECT");
                }
                if m.contains_key("names") && m.contains_key("typemod") {
                    return self.type_name(m, scope);
                }
                self.fields(m, scope, &[])
            }
            _ => Ok(()),
        }
    }

    /// The fields of a node or sub-message, with its WITH clause in scope.
    fn fields(&mut self, m: &Map<String, Value>, scope: &Scope, skip: &[&str]) -> Result<(), Refusal> {
        let mut scope = scope.clone();
        if let Some(with) = m.get("with_clause").filter(|w| !w.is_null()) {
            scope = self.with_clause(obj(with)?, &scope)?;
        }
        for (key, v) in m {
            if key == "with_clause" || skip.contains(&key.as_str()) {
                continue;
            }
            self.value(v, &scope)?;
        }
        Ok(())
    }

    /// CTEs: a non-recursive CTE sees only the ones before it; the statement
    /// sees all of them.
    fn with_clause(&mut self, with: &Map<String, Value>, scope: &Scope) -> Result<Scope, Refusal> {
        let recursive = with.get("recursive").and_then(Value::as_bool).unwrap_or(false);
        let ctes = with.get("ctes").and_then(Value::as_array).cloned().unwrap_or_default();
        let names: Vec<String> = ctes
            .iter()
            .map(|c| c["node"]["CommonTableExpr"]["ctename"].as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| Refusal { reason: "malformed WITH clause".into(), grant: None })?;
        for (i, cte) in ctes.iter().enumerate() {
            let mut inner = scope.clone();
            inner.extend(names[..if recursive { names.len() } else { i }].iter().cloned());
            let body = obj(&cte["node"]["CommonTableExpr"])?;
            if let Some(q) = body.get("ctequery").and_then(|q| q.get("node")).and_then(Value::as_object) {
                if let Some(kind) = q.keys().next().filter(|k| *k != "SelectStmt") {
                    return refuse(format!("a data-modifying statement ({kind}) inside WITH is not allowed"));
                }
            }
            self.node("CommonTableExpr", body, &inner)?;
        }
        let mut out = scope.clone();
        out.extend(names);
        Ok(out)
    }

    fn node(&mut self, kind: &str, body: &Map<String, Value>, scope: &Scope) -> Result<(), Refusal> {
        if !KNOWN_NODES.contains(&kind) {
            return refuse(match forbidden_reason(kind) {
                Some(reason) => format!("{kind} is never allowed: {reason}"),
                None if matches!(kind, "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt") => {
                    format!("{kind} is only allowed as the whole statement, not nested")
                }
                None => format!("the checker does not understand {kind} nodes, so it refuses them"),
            });
        }
        match kind {
            "RangeVar" => return self.relation(&Value::Object(body.clone()), Op::Read, scope),
            "FuncCall" => self.function(body)?,
            "AExpr" => self.operator(body)?,
            "AIndirection" => self.indirection(body)?,
            "ColumnRef" => self.column_ref(body)?,
            "SubLink" => self.operator_list(body.get("oper_name"))?,
            "SortBy" => self.operator_list(body.get("use_op"))?,
            "RangeFunction" => self.range_function(body)?,
            "SelectStmt" => {
                if body.get("into_clause").is_some_and(|v| !v.is_null()) {
                    return refuse("SELECT … INTO creates a table; use CREATE TABLE, then INSERT … SELECT");
                }
                if body.get("locking_clause").and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
                    return refuse("row locks (FOR UPDATE/SHARE) are not allowed");
                }
            }
            "TypeName" => return self.type_name(body, scope),
            _ => {}
        }
        self.fields(body, scope, &[])
    }

    fn relation(&mut self, rv: &Value, op: Op, scope: &Scope) -> Result<(), Refusal> {
        let s = |k: &str| rv.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (catalog, schema, name) = (s("catalogname"), s("schemaname"), s("relname"));
        if let Some(alias) = rv.get("alias").filter(|a| !a.is_null()) {
            self.value(alias, scope)?;
        }
        for ident in [&catalog, &schema, &name] {
            if ident.len() > MAX_IDENT {
                return refuse(format!(
                    "identifier `{ident}` is longer than {MAX_IDENT} bytes; the server would truncate it"
                ));
            }
        }
        if !catalog.is_empty() {
            return refuse(format!("three-part name {catalog}.{schema}.{name}: name relations as schema.name"));
        }
        if s("relpersistence") == "t" || schema == "pg_temp" || schema.starts_with("pg_temp_") {
            return refuse("temporary relations are not allowed");
        }
        if schema.is_empty() {
            if op == Op::Read && scope.contains(&name) {
                return Ok(());
            }
            return refuse(format!(
                "unqualified relation `{name}`: name it as schema.name (search_path is pinned to pg_catalog, pg_temp)"
            ));
        }
        let full = format!("{schema}.{name}");
        if !self.checker.allows(op, &full) {
            let verb = if op == Op::Read { "reading".to_string() } else { format!("{} on", op.grant_key()) };
            return refuse_grant(format!("{verb} {full} is not granted"), op.grant_key(), &full);
        }
        self.accesses.push((full, op));
        Ok(())
    }

    fn function(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let names: Vec<&str> = body
            .get("funcname")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|n| n["node"]["String"]["sval"].as_str()).collect())
            .unwrap_or_default();
        let (schema, name) = match names.as_slice() {
            [name] => ("pg_catalog", *name),
            [schema, name] => (*schema, *name),
            _ => return refuse(format!("function name {} is not schema.name", names.join("."))),
        };
        let full = format!("{schema}.{name}");
        let safe = schema == "pg_catalog" && SAFE_FUNCTIONS.contains(&name);
        if safe || self.checker.grants.functions.iter().any(|f| *f == full) {
            return Ok(());
        }
        refuse_grant(format!("calling function {full} is not granted"), "functions", &full)
    }

    /// Operators are functions too: only the built-in ones are reachable.
    fn operator(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let names = body.get("name").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
        if names > 2 {
            return refuse("an operator name has at most two parts (schema.op)");
        }
        if names == 2 {
            let qualified = body["name"][0]["node"]["String"]["sval"].as_str().unwrap_or("");
            if qualified != "pg_catalog" {
                return refuse(format!("operator in schema {qualified} is not allowed"));
            }
        }
        Ok(())
    }

    /// `(x).name` is field selection, but PostgreSQL also reads it as the
    /// call `name(x)` (attribute notation), which would bypass the function
    /// check: only subscripts and `.*` are allowed.
    fn indirection(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let fields = body.get("indirection").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(name) = fields.iter().find_map(|f| f["node"]["String"]["sval"].as_str()) {
            return refuse(format!(
                "field selection `(…).{name}` can call a function (attribute notation); use `{name}(…)` or a column alias"
            ));
        }
        Ok(())
    }

    /// Column references: `column` or `relation.column` (or `.*`); a third
    /// part could be a function in attribute notation.
    fn column_ref(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let fields: Vec<&str> = body
            .get("fields")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|f| f["node"]["String"]["sval"].as_str()).collect())
            .unwrap_or_default();
        let n = body.get("fields").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
        if n > 2 {
            return refuse("column references have at most two parts (alias.column)");
        }
        if let [qualifier, name] = fields.as_slice() {
            if ROW_FUNCTIONS.contains(name) {
                return refuse(format!(
                    "`{qualifier}.{name}` would call `{name}({qualifier})` (attribute notation); write the call instead"
                ));
            }
            for (alias, cols) in &self.function_aliases {
                if alias == qualifier && !cols.iter().any(|c| c == name) {
                    return refuse(format!(
                        "`{qualifier}.{name}` on a function in FROM can call `{name}` (attribute notation); name the column: `AS {qualifier}({name})`"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `ANY`/`ALL` and `ORDER BY … USING` name operators too.
    fn operator_list(&mut self, list: Option<&Value>) -> Result<(), Refusal> {
        let names = list.and_then(Value::as_array).map(Vec::len).unwrap_or(0);
        let mut body = Map::new();
        if names > 0 {
            body.insert("name".into(), list.cloned().unwrap_or_default());
        }
        self.operator(&body)
    }

    /// Casts and column types: built-in types only, with constant modifiers.
    fn type_name(&mut self, body: &Map<String, Value>, scope: &Scope) -> Result<(), Refusal> {
        let names = body.get("names").and_then(Value::as_array).cloned().unwrap_or_default();
        let typmods = body.get("typmods").and_then(Value::as_array).cloned().unwrap_or_default();
        if names.len() > 2 {
            return refuse("a type name has at most two parts (pg_catalog.type)");
        }
        if names.len() == 2 {
            let schema = names[0]["node"]["String"]["sval"].as_str().unwrap_or("");
            if schema != "pg_catalog" {
                return refuse(format!("type in schema {schema} is not allowed; use built-in types"));
            }
            if !typmods.is_empty() {
                return refuse("write a type with modifiers unqualified, e.g. `numeric(10, 2)`");
            }
        }
        if typmods.iter().any(|m| m.get("node").and_then(|n| n.get("AConst")).is_none()) {
            return refuse("type modifiers must be constants");
        }
        self.fields(body, scope, &["names"])
    }

    /// A function in FROM: only a plain function call (CAST, COALESCE,
    /// NULLIF… there name a single value that `name.f` would call `f` on).
    fn range_function(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        for item in body.get("functions").and_then(Value::as_array).into_iter().flatten() {
            let first = &item["node"]["List"]["items"][0]["node"];
            if first.get("FuncCall").is_none() {
                let kind = first.as_object().and_then(|o| o.keys().next()).cloned().unwrap_or_default();
                return refuse(format!("only function calls may stand in FROM, not {kind}; use a subquery"));
            }
        }
        Ok(())
    }
}

/// Fields that hold offsets into the source text (`location`,
/// `list_start`, `stmt_len`…), which differ between two spellings.
fn is_position(key: &str) -> bool {
    key.ends_with("location") || key.ends_with("_start") || key.ends_with("_end") || key == "stmt_len"
}

/// A parse tree without source positions, to compare two parses.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(k, _)| !is_position(k)).map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn obj(v: &Value) -> Result<&Map<String, Value>, Refusal> {
    v.as_object().ok_or_else(|| Refusal { reason: "malformed parse tree".into(), grant: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants {
            read: vec!["app.team".into(), "app.Secret Case".into()],
            insert: vec!["app.label".into()],
            ..Grants::default()
        }
    }

    fn allowed(sql: &str) -> bool {
        Checker::new(&grants(), false).check(sql, 0).is_ok()
    }

    #[test]
    fn granted_reads_and_writes_pass_and_are_classified() {
        let c = Checker::new(&grants(), false).check("INSERT INTO app.label SELECT code FROM app.team", 0).unwrap();
        assert_eq!(c.accesses, vec![("app.label".into(), Op::Insert), ("app.team".into(), Op::Read)]);
        assert_eq!(c.kind, "InsertStmt");
    }

    #[test]
    fn names_are_resolved_as_the_server_resolves_them() {
        assert!(allowed("SELECT * FROM APP.TEAM"));
        assert!(allowed(r#"SELECT * FROM "app"."team""#));
        assert!(allowed(r#"SELECT * FROM U&"\0061pp".team"#));
        assert!(!allowed(r#"SELECT * FROM "APP".team"#), "quoted upper case is another schema");
        assert!(allowed(r#"SELECT * FROM app."Secret Case""#));
        assert!(!allowed("SELECT * FROM directus.app.team"), "three-part names");
        assert!(!allowed("SELECT * FROM team"), "unqualified names");
    }

    #[test]
    fn ctes_are_scoped_like_postgresql_scopes_them() {
        assert!(allowed("WITH t AS (SELECT code FROM app.team) SELECT * FROM t"));
        assert!(allowed(
            "WITH pg_authid AS (SELECT 1) SELECT * FROM (SELECT 1) s, LATERAL (SELECT * FROM pg_authid) x"
        ));
        assert!(!allowed("SELECT (WITH pg_authid AS (SELECT 1) SELECT 1), * FROM pg_authid"), "out of scope");
        assert!(
            !allowed("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a"),
            "a later sibling is not in scope"
        );
        assert!(allowed(
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r"
        ));
        assert!(!allowed("WITH team AS (SELECT * FROM app.secret) SELECT * FROM team"), "the body is still checked");
    }

    #[test]
    fn statement_kinds_the_host_owns_are_refused() {
        for sql in [
            "COMMIT",
            "SET ROLE postgres",
            "RESET ALL",
            "DO $$ BEGIN END $$",
            "COPY app.team TO PROGRAM 'id'",
            "LISTEN x",
            "PREPARE p AS SELECT 1",
            "DISCARD ALL",
            "LOCK app.team",
            "EXPLAIN ANALYZE DELETE FROM app.label",
            "SELECT * INTO app.copy FROM app.team",
            "TRUNCATE app.label",
            "SELECT 1; SELECT 2",
            "WITH d AS (DELETE FROM app.label RETURNING *) SELECT * FROM d",
            "SELECT code FROM app.team FOR UPDATE",
        ] {
            assert!(!allowed(sql), "{sql} was allowed");
        }
    }

    #[test]
    fn functions_need_the_safe_list_or_a_grant() {
        assert!(allowed("SELECT count(*), lower(code) FROM app.team"));
        assert!(!allowed("SELECT pg_sleep(1)"));
        assert!(!allowed("SELECT query_to_xml('select * from app.secret', true, true, '')"));
        assert!(!allowed("SELECT * FROM app.team WHERE code = (SELECT set_config('role', 'postgres', true))"));
        assert!(!allowed("SELECT public.lower(code) FROM app.team"));
        let g = Grants { functions: vec!["pg_catalog.pg_sleep".into()], ..grants() };
        assert!(Checker::new(&g, false).check("SELECT pg_sleep(1)", 0).is_ok());
    }

    #[test]
    fn read_only_plugins_cannot_write_whatever_they_are_granted() {
        let g = grants();
        let c = Checker::new(&g, true);
        assert!(c.check("SELECT code FROM app.team", 0).is_ok());
        assert!(c.check("INSERT INTO app.label VALUES (1)", 0).is_err());
    }

    #[test]
    fn a_refusal_names_the_manifest_line_that_would_grant_it() {
        let r = Checker::new(&grants(), false).check("UPDATE app.team SET code = 'x'", 0).unwrap_err();
        assert_eq!(r.to_string(), "update on app.team is not granted; to allow it, add to plugin.toml under [grants]: update = [\"app.team\"]");
    }

    #[test]
    fn every_one_roof_shape_survives_the_round_trip() {
        for sql in [
            "SELECT count(*) FROM app.team WHERE code = ANY (ARRAY[$1, $2, $3])",
            "SELECT count(*) FILTER (WHERE code IS NULL) AS n FROM app.team",
            "SELECT code FROM app.team t WHERE NOT EXISTS (SELECT 1 FROM app.team u WHERE u.code = t.code) ORDER BY 1",
        ] {
            assert!(allowed(sql), "{sql}");
        }
    }

    #[test]
    fn writes_that_read_their_target_need_a_read_grant() {
        let g = Grants { update: vec!["app.label".into()], delete: vec!["app.label".into()], ..grants() };
        let c = Checker::new(&g, false);
        assert!(c.check("UPDATE app.label SET text = 'x'", 0).is_ok());
        assert!(c.check("DELETE FROM app.label", 0).is_ok());
        for sql in [
            "UPDATE app.label SET text = 'x' WHERE id = 1",
            "DELETE FROM app.label RETURNING *",
            "INSERT INTO app.label VALUES (1) RETURNING *",
        ] {
            assert!(c.check(sql, 0).unwrap_err().to_string().contains("reading app.label is not granted"), "{sql}");
        }
    }

    #[test]
    fn a_new_table_cannot_reach_other_tables_rows() {
        let g = Grants { create: vec!["app.t".into()], ..grants() };
        assert!(Checker::new(&g, false).check("CREATE TABLE app.t (a int)", 0).is_ok());
        assert!(Checker::new(&g, false).check("CREATE TABLE app.t () INHERITS (app.team)", 0).is_err());
    }

    #[test]
    fn what_is_sent_is_the_checked_tree() {
        let c = Checker::new(&grants(), false).check("select /* hi */ code from APP.team where code = $1", 1).unwrap();
        assert_eq!(c.sql, "SELECT code FROM app.team WHERE code = $1");
    }
}
