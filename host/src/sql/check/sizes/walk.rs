//! The size check's walk over one statement's tree: what each node's
//! value can hold, every result the server makes counted against the
//! statement's bounds, and a recursive CTE's carried values marked.

use super::bound::Size;
use super::calls::{self, accumulator};
use super::MAX_COPIES;
use crate::sql::check::{refuse, Refusal};
use pg_query::protobuf::SubLinkType;
use serde_json::{Map, Value};

/// The qualifiers that do not name a recursive CTE's own row in its
/// recursive term: aliases of stored relations.
struct Recursion {
    stored: Vec<String>,
}

/// One statement's size check.
struct Sizes {
    limit_mib: u64,
    /// Bytes the statement's results ask for, summed.
    asked: f64,
    /// Copies of read values, summed.
    copies: f64,
    recursion: Option<Recursion>,
}

/// Refuses a statement whose sizes are not bounded as the module doc says.
pub(in crate::sql::check) fn check(statement: &Value, memory_mib: u64) -> Result<f64, Refusal> {
    let mut s = Sizes { limit_mib: memory_mib, asked: 0.0, copies: 0.0, recursion: None };
    s.value(statement)?;
    Ok(s.copies)
}

impl Sizes {
    fn value(&mut self, v: &Value) -> Result<Size, Refusal> {
        match v {
            Value::Array(items) => {
                let mut total = Size::default();
                for item in items {
                    total = total.add(self.value(item)?);
                }
                Ok(total)
            }
            Value::Object(m) => match m.get("node").and_then(Value::as_object).filter(|_| m.len() == 1) {
                Some(inner) => match inner.iter().next() {
                    Some((kind, Value::Object(body))) => self.node(kind, body),
                    _ => Ok(Size::default()),
                },
                None if m.contains_key("ctes") && m.contains_key("recursive") => self.with_clause(m),
                None => self.fields(m),
            },
            _ => Ok(Size::default()),
        }
    }

    /// Every field, for the calls inside; the node itself is no value.
    fn fields(&mut self, m: &Map<String, Value>) -> Result<Size, Refusal> {
        for v in m.values() {
            self.value(v)?;
        }
        Ok(Size::default())
    }

    fn node(&mut self, kind: &str, body: &Map<String, Value>) -> Result<Size, Refusal> {
        let field = |k: &str| body.get(k).unwrap_or(&Value::Null);
        let size = match kind {
            "AConst" => {
                let val = field("val");
                match val.pointer("/Sval/sval").and_then(Value::as_str) {
                    Some(s) => Size::bytes(s.len() as f64),
                    None => Size::bytes(8.0),
                }
            }
            "ColumnRef" => self.column(body),
            "ParamRef" => Size { copies: 1.0, ..Size::default() },
            "TypeCast" | "CollateClause" | "AIndirection" | "ResTarget" | "NamedArgExpr" => {
                self.fields_but(body, &["arg", "val", "expr"])?;
                let arg = body.get("arg").or_else(|| body.get("val")).or_else(|| body.get("expr"));
                arg.map_or(Ok(Size::default()), |a| self.value(a))?
            }
            "FuncCall" => return self.call(body),
            "AExpr" => return self.operator(body),
            "BoolExpr" | "NullTest" | "BooleanTest" => {
                self.fields(body)?;
                Size::bytes(1.0)
            }
            "CaseExpr" => {
                self.value(field("arg"))?;
                let mut most = self.value(field("defresult"))?;
                for when in field("args").as_array().into_iter().flatten() {
                    let w = when.pointer("/node/CaseWhen").and_then(Value::as_object);
                    self.value(w.and_then(|w| w.get("expr")).unwrap_or(&Value::Null))?;
                    most = most.max(self.value(w.and_then(|w| w.get("result")).unwrap_or(&Value::Null))?);
                }
                most
            }
            "CoalesceExpr" | "MinMaxExpr" => {
                let mut most = Size::default();
                for a in field("args").as_array().into_iter().flatten() {
                    most = most.max(self.value(a)?);
                }
                most
            }
            // A row's or an array's text doubles the quotes of what it holds.
            "RowExpr" | "AArrayExpr" => {
                let elements = if kind == "RowExpr" { field("args") } else { field("elements") };
                let inner = self.value(elements)?;
                self.made(inner.times(2.0), if kind == "RowExpr" { "ROW(…)" } else { "ARRAY[…]" })?
            }
            "SubLink" => {
                let t = field("sub_link_type").as_i64().unwrap_or(0);
                if t == SubLinkType::ArraySublink as i64 {
                    return refuse(
                        "ARRAY(SELECT …) builds one value from every row of its subquery, and the checker cannot \
                         bound the rows; read the rows in the plugin, where rows_returned and memory_mib bound them",
                    );
                }
                self.fields(body)?;
                if t == SubLinkType::ExprSublink as i64 || t == SubLinkType::MultiexprSublink as i64 {
                    Size { copies: 1.0, ..Size::default() }
                } else {
                    Size::bytes(1.0)
                }
            }
            "SqlvalueFunction" => Size::bytes(64.0),
            _ => return self.fields(body),
        };
        Ok(size)
    }

    fn fields_but(&mut self, body: &Map<String, Value>, skip: &[&str]) -> Result<(), Refusal> {
        for (k, v) in body {
            if !skip.contains(&k.as_str()) {
                self.value(v)?;
            }
        }
        Ok(())
    }

    /// A column: a value read, and in a recursive term possibly the CTE's
    /// own (unless qualified by a stored relation's name).
    fn column(&self, body: &Map<String, Value>) -> Size {
        let fields: Vec<&str> = body
            .get("fields")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(|x| x.pointer("/node/String/sval").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let carried = match (&self.recursion, fields.as_slice()) {
            (None, _) => 0.0,
            (Some(r), [qualifier, _]) if r.stored.iter().any(|s| s == qualifier) => 0.0,
            (Some(_), _) => 1.0,
        };
        Size { bytes: 0.0, copies: 1.0, carried }
    }

    /// A result the server makes: counted against the statement's bounds.
    fn made(&mut self, size: Size, what: &str) -> Result<Size, Refusal> {
        if size.carried > 1.0 {
            return refuse(format!(
                "{what} in a recursive CTE's recursive term copies a value the CTE carries more than once, so it \
                 grows with every iteration (`s || s` doubles); copy it once, and qualify the other columns by \
                 their table (an unqualified column counts as the CTE's own)"
            ));
        }
        self.asked += size.bytes;
        self.copies += size.copies;
        let limit = (self.limit_mib * 1024 * 1024) as f64;
        if self.asked > limit {
            return refuse(format!(
                "{what} with constant size arguments asks the server for about {:.0} MiB; a statement's constant \
                 sizes (lpad/rpad/repeat/format widths, replacements, generate_series rows, and every result built \
                 from them) may ask for at most the plugin's memory limit, memory_mib = {}",
                self.asked / 1024.0 / 1024.0,
                self.limit_mib
            ));
        }
        if self.copies > MAX_COPIES {
            return refuse(format!(
                "{what}: the statement copies the values it reads more than {MAX_COPIES} times in all (each `||` \
                 copies both sides again; concat(…) copies each part once): a statement's size must grow with its \
                 text, not with its nesting"
            ));
        }
        Ok(size)
    }

    fn operator(&mut self, body: &Map<String, Value>) -> Result<Size, Refusal> {
        let name = body
            .get("name")
            .and_then(Value::as_array)
            .and_then(|n| n.last())
            .and_then(|n| n.pointer("/node/String/sval"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = body.get("kind").and_then(Value::as_i64).unwrap_or(0);
        let left = self.value(body.get("lexpr").unwrap_or(&Value::Null))?;
        let right = self.value(body.get("rexpr").unwrap_or(&Value::Null))?;
        let plain = kind == pg_query::protobuf::AExprKind::AexprOp as i64;
        let size = match name {
            "||" | "+" | "-" | "*" | "/" | "%" | "^" | "#" if plain => left.add(right),
            "->" | "->>" | "#>" | "#>>" | "#-" if plain => left,
            _ if kind == pg_query::protobuf::AExprKind::AexprNullif as i64 => left,
            _ => return Ok(Size::bytes(1.0)),
        };
        self.made(size, &format!("`{name}`"))
    }

    /// A function call: a built-in's result as `calls.rs` bounds it, a
    /// granted function's as the sum of its arguments.
    fn call(&mut self, body: &Map<String, Value>) -> Result<Size, Refusal> {
        let names: Vec<&str> = body
            .get("funcname")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|n| n.pointer("/node/String/sval").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let args: &[Value] = body.get("args").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        self.fields_but(body, &["args"])?;
        let sizes: Vec<Size> = args.iter().map(|a| self.value(a)).collect::<Result<_, _>>()?;
        let sum = sizes.iter().fold(Size::default(), |a, s| a.add(*s));
        let name = match names.as_slice() {
            [name] | ["pg_catalog", name] => *name,
            _ => return self.made(sum, "a granted function"),
        };
        accumulator(name)?;
        let size = calls::size(name, args, &sizes, sum)?;
        self.made(size, &format!("{name}(…)"))
    }

    /// `WITH RECURSIVE`: each CTE's recursive term (the right side of its
    /// UNION) with the values the CTE carries marked.
    fn with_clause(&mut self, with: &Map<String, Value>) -> Result<Size, Refusal> {
        let recursive = with.get("recursive").and_then(Value::as_bool).unwrap_or(false);
        for cte in with.get("ctes").and_then(Value::as_array).into_iter().flatten() {
            let Some(body) = cte.pointer("/node/CommonTableExpr").and_then(Value::as_object) else {
                self.value(cte)?;
                continue;
            };
            let query = body.get("ctequery").and_then(|q| q.pointer("/node/SelectStmt")).and_then(Value::as_object);
            let Some(query) = query.filter(|q| recursive && q.get("rarg").is_some_and(|r| !r.is_null())) else {
                self.value(cte)?;
                continue;
            };
            let recursive_term = query.get("rarg").unwrap_or(&Value::Null);
            self.fields_but(query, &["rarg"])?;
            let stored = stored_aliases(recursive_term);
            let outer = self.recursion.replace(Recursion { stored });
            let r = self.value(recursive_term);
            self.recursion = outer;
            r?;
        }
        Ok(Size::default())
    }
}

/// The names by which the FROM clause of `select` (a `SelectStmt` message,
/// as a set operation's sides are) and its joins read stored relations:
/// `schema.table [alias]`.
fn stored_aliases(select: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = select.get("from_clause").and_then(Value::as_array).into_iter().flatten().collect();
    while let Some(item) = stack.pop() {
        if let Some(rv) = item.pointer("/node/RangeVar") {
            if rv["schemaname"].as_str().is_some_and(|s| !s.is_empty()) {
                let alias = rv.pointer("/alias/aliasname").and_then(Value::as_str);
                out.push(alias.or(rv["relname"].as_str()).unwrap_or("").to_string());
            }
        }
        if let Some(join) = item.pointer("/node/JoinExpr") {
            stack.extend([&join["larg"], &join["rarg"]]);
        }
    }
    out
}
