//! What a statement makes the server hold in memory. `statement_timeout`
//! does not stop an allocation: six `rpad('', abs(250000000), 'x')` terms
//! held 1.7 GB in one backend for 12 s past a 3 s timeout, nested `replace`
//! 2.9 GB, `string_agg` of 100 kB pads over a 100,000-row series 1 GB in
//! 0.7 s, a recursive CTE doubling a string 1.5 GB. So the check bounds it:
//!
//! - **Sizes are constants.** A pad length, a `repeat` count, a series'
//!   bounds and step, a `format` width (and the format string) must be
//!   constants; so must a replacement (`replace`, `regexp_replace`), whose
//!   size multiplies the text's. What the constants ask for (each call's
//!   result counted at its largest, 4 bytes a character, every
//!   intermediate result of the statement summed, series rows at 8 bytes)
//!   is at most the plugin's `memory_mib`.
//! - **Values are copied, not multiplied.** A value the statement reads (a
//!   column, a parameter, a subquery) may be copied into its results at most
//!   [`MAX_COPIES`] times in all (concatenation adds, `repeat` and a growing
//!   `replace` multiply, a row or array's text doubles its quotes, JSON's
//!   escapes grow sixfold): linear in the statement's text, never
//!   exponential in its nesting. The host also holds each statement to
//!   copies × its largest parameter ≤ `memory_mib` before sending it.
//! - **No value built from every row.** `string_agg`, `array_agg`,
//!   `json(b)_agg`, `json(b)_object_agg`, `xmlagg`, `range_agg` and
//!   `ARRAY(SELECT …)` hold what every row adds, and the checker cannot
//!   bound rows (a join, a series): refused whatever the grants; the plugin
//!   reads the rows instead, bounded by `rows_returned` and `memory_mib`.
//! - **A recursive CTE carries its values without growth**: in its
//!   recursive term a value of the CTE itself (an unqualified column, or
//!   one qualified by the CTE) may be copied once per expression, never
//!   twice (`s || s` doubles per iteration).
//!
//! A constant is a literal, a cast of one, or `+ - * /` over constants.
//! Functions outside the table below (granted ones) are counted as the sum
//! of their arguments. What stays the operator's: values already stored
//! are read as they are (a 1 MB stored value copied 1,024 times is 1 GB).

use super::constants::{constant, format_size, text};
use super::{refuse, Refusal};
use pg_query::protobuf::SubLinkType;
use serde_json::{Map, Value};

/// Most copies of the values it reads a statement may make.
pub const MAX_COPIES: f64 = 1024.0;

/// Aggregates whose result holds every row they aggregate.
const ACCUMULATORS: &[&str] = &[
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_agg_strict",
    "jsonb_agg_strict",
    "json_object_agg_strict",
    "jsonb_object_agg_strict",
    "json_object_agg_unique",
    "jsonb_object_agg_unique",
    "json_object_agg_unique_strict",
    "jsonb_object_agg_unique_strict",
    "xmlagg",
    "range_agg",
    "range_intersect_agg",
];

/// Functions whose result is a small scalar whatever their arguments.
#[rustfmt::skip]
const SCALAR: &[&str] = &[
    "count", "length", "char_length", "character_length", "octet_length", "bit_length", "strpos", "position",
    "starts_with", "cardinality", "array_length", "array_ndims", "bool_and", "bool_or", "every", "rank",
    "dense_rank", "row_number", "percent_rank", "cume_dist", "ntile", "date_part", "extract", "now",
    "gen_random_uuid", "md5", "current_database", "to_regclass", "ascii", "sign", "isfinite",
];

/// Functions that build JSON from their arguments: its text escapes a
/// control character as six.
const JSON: &[&str] = &[
    "to_json",
    "to_jsonb",
    "row_to_json",
    "array_to_json",
    "json_build_array",
    "json_build_object",
    "jsonb_build_array",
    "jsonb_build_object",
    "json_object",
    "jsonb_object",
];

/// An upper bound on a value's size: `bytes` from constants, plus `copies`
/// times the largest value the statement reads, plus `carried` times a
/// value a recursive CTE carries between iterations (in its recursive term).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Size {
    bytes: f64,
    copies: f64,
    carried: f64,
}

impl Size {
    pub(super) const fn bytes(bytes: f64) -> Size {
        Size { bytes, copies: 0.0, carried: 0.0 }
    }
    pub(super) fn add(self, o: Size) -> Size {
        Size { bytes: self.bytes + o.bytes, copies: self.copies + o.copies, carried: self.carried + o.carried }
    }
    pub(super) fn times(self, k: f64) -> Size {
        Size { bytes: self.bytes * k, copies: self.copies * k, carried: self.carried * k }
    }
    fn max(self, o: Size) -> Size {
        Size { bytes: self.bytes.max(o.bytes), copies: self.copies.max(o.copies), carried: self.carried.max(o.carried) }
    }
    fn constant(self) -> bool {
        self.copies == 0.0 && self.carried == 0.0
    }
}

/// The qualifiers that do not name a recursive CTE's own row in its
/// recursive term: aliases of stored relations.
struct Recursion {
    stored: Vec<String>,
}

/// One statement's size check.
pub(super) struct Sizes {
    limit_mib: u64,
    /// Bytes the statement's results ask for, summed.
    asked: f64,
    /// Copies of read values, summed.
    copies: f64,
    recursion: Option<Recursion>,
}

/// Refuses a statement whose sizes are not bounded as the module doc says.
pub(super) fn check(statement: &Value, memory_mib: u64) -> Result<f64, Refusal> {
    let mut s = Sizes { limit_mib: memory_mib, asked: 0.0, copies: 0.0, recursion: None };
    s.value(statement)?;
    Ok(s.copies)
}

/// The refusal for an aggregate that holds every row, if `name` is one.
pub(super) fn accumulator(name: &str) -> Result<(), Refusal> {
    if ACCUMULATORS.contains(&name) {
        return refuse(format!(
            "{name}(…) builds one value from every row it aggregates, and the checker cannot bound the rows (a \
             series of 100 kB values held 1 GB in 0.7 s); read the rows and combine them in the plugin, where \
             rows_returned and memory_mib bound them"
        ));
    }
    Ok(())
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
        let what = format!("{name}(…)");
        let refuse_size = |arg: &str| {
            refuse(format!(
                "{what}'s {arg} is not a constant: the server allocates what it says in one piece, which \
                 statement_timeout does not stop (rpad('', abs(250000000), 'x') held 1.7 GB past a 3 s timeout); \
                 write it as a constant (the statement's constant sizes may ask for at most memory_mib)"
            ))
        };
        let size = match (name, args) {
            ("lpad" | "rpad", [_, n, ..]) => match constant(n) {
                Some(n) => Size::bytes(n.max(0.0) * 4.0),
                None => return refuse_size("length"),
            },
            ("repeat", [_, n]) => match constant(n) {
                Some(n) => sizes[0].times(n.max(0.0)),
                None => return refuse_size("count"),
            },
            ("replace", [_, from, _]) => {
                if !sizes[2].constant() {
                    return refuse_size("replacement");
                }
                let to = sizes[2].bytes;
                let ratio = match text(from) {
                    Some(f) if !f.is_empty() => (to / f.len() as f64).ceil(),
                    Some(_) => 1.0,
                    None => to,
                };
                sizes[0].times(ratio.max(1.0))
            }
            ("regexp_replace", [_, _, repl, ..]) => {
                let Some(r) = text(repl) else { return refuse_size("replacement") };
                // Each match (one may start at every character) becomes the
                // replacement, and each back reference copies the match.
                let refs = r.matches('\\').count() as f64;
                sizes[0].times(1.0 + r.len() as f64 + refs).add(Size::bytes(r.len() as f64))
            }
            ("translate", [_, ..]) => sizes[0].times(4.0),
            ("upper" | "lower" | "initcap", [_]) => sizes[0].times(2.0),
            ("format", [fmt, rest @ ..]) => match text(fmt) {
                Some(f) => match format_size(f, rest, &sizes[1..]) {
                    Some(size) => size,
                    None => return refuse_size("width"),
                },
                None => return refuse_size("format string"),
            },
            ("to_char", [_, _, ..]) => sizes[1].times(16.0).add(Size::bytes(64.0)),
            ("generate_series", [start, stop, rest @ ..]) => {
                let step = match rest {
                    [] => Some(1.0),
                    [step] => constant(step),
                    _ => None,
                };
                match (constant(start), constant(stop), step) {
                    (Some(a), Some(b), Some(s)) if s != 0.0 => Size::bytes((((b - a) / s).max(0.0) + 1.0) * 8.0),
                    _ => {
                        return refuse(format!(
                            "{what}: a series' bounds and step must be constant numbers, so the checker can count \
                             its rows; bound it with constants (`generate_series(1, 1000) AS n … WHERE n <= $1`, or a \
                             date as `date $1 + n`)"
                        ))
                    }
                }
            }
            ("string_to_array" | "regexp_split_to_array" | "string_to_table" | "regexp_split_to_table", _) => {
                sum.times(8.0)
            }
            _ if JSON.contains(&name) => sum.times(6.0),
            _ if SCALAR.contains(&name) => Size::bytes(64.0),
            _ => sum,
        };
        self.made(size, &what)
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
