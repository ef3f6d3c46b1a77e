//! The walk's rules for what a node names: a relation (qualified,
//! granted for the operation), a function (safe or granted), an operator,
//! a column reference, a type, a constraint, and any other named object
//! held to its [`NameRule`]. `walk.rs` decides where they apply.

use super::policy::{name_use, NameRule, NameUse, MAX_IDENT, SAFE_FUNCTIONS, SQL_SYNTAX_ARITIES, SYSTEM_COLUMNS};
use super::walk::Walk;
use super::{names, refuse, refuse_grant, sizes, Op, Refusal};
use pg_query::protobuf::CoercionForm;
use serde_json::{Map, Value};

impl<'c> Walk<'c> {
    /// Whether the plugin's grants name `relation` (`schema.name`) under
    /// `references` (a foreign key to it installs triggers on it and locks
    /// its writes: PostgreSQL's REFERENCES privilege, not SELECT).
    pub(super) fn may_reference(&self, relation: &str) -> bool {
        self.checker.grants.references.iter().any(|r| r == relation)
    }

    /// A relation, read or written: schema-qualified, not temporary, and
    /// granted for `op`; an unqualified name may only read a CTE in scope.
    pub(super) fn relation(&mut self, rv: &Map<String, Value>, op: Op) -> Result<(), Refusal> {
        let s = |k: &str| rv.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (catalog, schema, name) = (s("catalogname"), s("schemaname"), s("relname"));
        if let Some(alias) = rv.get("alias").filter(|a| !a.is_null()) {
            self.value(alias)?;
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
            if op == Op::Read && self.scope.contains(&name) {
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

    /// A function call: on the safe list (unqualified or `pg_catalog`) or
    /// granted by its `schema.name`.
    pub(super) fn function(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
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
        // Before the grant: no grant allows these, so none is suggested.
        if schema == "pg_catalog" {
            sizes::accumulator(name)?;
        }
        let safe = schema == "pg_catalog" && SAFE_FUNCTIONS.contains(&name);
        self.calls_writer |= !safe || matches!(name_use(name), Some(NameUse::Draw | NameUse::Set));
        if !safe && !self.checker.grants.functions.contains(&full) {
            return refuse_grant(format!("calling function {full} is not granted"), "functions", &full);
        }
        let args: &[Value] = body.get("args").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let sql_syntax = body.get("funcformat").and_then(Value::as_i64) == Some(CoercionForm::CoerceSqlSyntax as i64);
        if sql_syntax && schema == "pg_catalog" {
            if let Some((_, arities)) = SQL_SYNTAX_ARITIES.iter().find(|(f, _)| *f == name) {
                if !arities.contains(&args.len()) {
                    return refuse(format!(
                        "{} written in its SQL form with {} arguments: the checker cannot re-emit that shape \
                         (it takes {arities:?}); call {name}(…) as a function",
                        name.to_uppercase(),
                        args.len()
                    ));
                }
            }
        }
        if schema == "pg_catalog" {
            let variadic = body.get("func_variadic").and_then(Value::as_bool).unwrap_or(false);
            self.checker.named_arguments(name, args, variadic)?;
        }
        Ok(())
    }

    /// A cast to a reg* type resolves a name (`'s.t'::regclass`): held to
    /// `names.rs` like `to_regclass`.
    pub(super) fn reg_cast(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let ty = body.get("type_name").unwrap_or(&Value::Null);
        let names: Vec<&str> = ty["names"]
            .as_array()
            .map(|l| l.iter().filter_map(|n| n["node"]["String"]["sval"].as_str()).collect())
            .unwrap_or_default();
        let Some(reg) = names::reg_type(&names) else { return Ok(()) };
        let array = ty["array_bounds"].as_array().is_some_and(|b| !b.is_empty());
        self.checker.named_by_cast(reg, body.get("arg").unwrap_or(&Value::Null), array)
    }

    /// An exclusion constraint runs its operators on every later write:
    /// they are held to the operator rule, and a name of more than two
    /// parts is refused before the deparser sees it. Its operator classes
    /// run too: outside btree and hash (whose defaults for built-in types
    /// are built in, as PRIMARY KEY and UNIQUE use them), a type's default
    /// class often comes from an extension (btree_gist's `gist_int4_ops`),
    /// so each element must name a class, which the name rule holds to
    /// built-in ones.
    pub(super) fn constraint(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        for key in ["keys", "including", "fk_attrs", "pk_attrs"] {
            for name in body.get(key).and_then(Value::as_array).into_iter().flatten() {
                system_column(name["node"]["String"]["sval"].as_str().unwrap_or(""), "a constraint")?;
            }
        }
        let method = body.get("access_method").and_then(Value::as_str).unwrap_or("");
        let defaults_built_in = matches!(method, "" | "btree" | "hash");
        for exclusion in body.get("exclusions").and_then(Value::as_array).into_iter().flatten() {
            // Each is the list (index element, operator name).
            let items = exclusion["node"]["List"]["items"].as_array();
            match items.map(Vec::as_slice) {
                Some([element, op]) => {
                    self.operator_list(op["node"]["List"].get("items"))?;
                    let class = element["node"]["IndexElem"]["opclass"].as_array();
                    if !defaults_built_in && class.is_none_or(|c| c.is_empty()) {
                        return refuse(format!(
                            "EXCLUDE USING {method}: name each element's operator class (e.g. `range_ops`); the \
                             type's default class for {method} may come from an extension, whose functions would \
                             run on every write"
                        ));
                    }
                }
                _ => return refuse("malformed exclusion constraint"),
            }
        }
        Ok(())
    }

    /// Operators are functions too: only the built-in ones are reachable.
    pub(super) fn operator(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
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
    pub(super) fn indirection(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let fields = body.get("indirection").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(name) = fields.iter().find_map(|f| f["node"]["String"]["sval"].as_str()) {
            return refuse(format!(
                "field selection `(…).{name}` can call a function (attribute notation); use `{name}(…)` or a column alias"
            ));
        }
        Ok(())
    }

    /// Column references: `column` or `relation.column` (or `.*`); a third
    /// part could be a function in attribute notation, and no part may be a
    /// system column. `alias.f` is the call `f(alias)` where `alias` has no
    /// column `f`, for any `pg_catalog` function one argument can call: the
    /// list is the connected server's (`catalog.rs`), so a newer server's
    /// functions are in it.
    pub(super) fn column_ref(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
        let fields: Vec<&str> = body
            .get("fields")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|f| f["node"]["String"]["sval"].as_str()).collect())
            .unwrap_or_default();
        let n = body.get("fields").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
        if n > 2 {
            return refuse("column references have at most two parts (alias.column)");
        }
        if let Some(last) = fields.last().filter(|_| fields.len() == n) {
            system_column(last, "a column reference")?;
        }
        if let [qualifier, name] = fields.as_slice() {
            if self.checker.catalog.callable_with_one_argument(name) {
                return refuse(format!(
                    "`{qualifier}.{name}` can call the function `{name}({qualifier})` (attribute notation) where \
                     `{qualifier}` has no column `{name}`; write the column unqualified (`{name}`), or rename it \
                     in a subquery (`SELECT {name} AS {qualifier}_{name} …`)"
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
    pub(super) fn operator_list(&mut self, list: Option<&Value>) -> Result<(), Refusal> {
        let names = list.and_then(Value::as_array).map(Vec::len).unwrap_or(0);
        let mut body = Map::new();
        if names > 0 {
            body.insert("name".into(), list.cloned().unwrap_or_default());
        }
        self.operator(&body)
    }

    /// Casts and column types: a type outside `pg_catalog` could run code no
    /// grant names, and a modifier could hide an expression. Only unqualified
    /// or `pg_catalog` names pass; modifiers must be constants, and only on an
    /// unqualified name or on one of the SQL-standard types the parser itself
    /// writes as `pg_catalog.…` (`numeric(10, 2)`, `varchar(10)`).
    pub(super) fn type_name(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
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
            let name = names[1]["node"]["String"]["sval"].as_str().unwrap_or("");
            if !typmods.is_empty() && !STANDARD_TYPES_WITH_MODIFIERS.contains(&name) {
                return refuse("write a type with modifiers unqualified, e.g. `numeric(10, 2)`");
            }
        }
        if typmods.iter().any(|m| m.get("node").and_then(|n| n.get("AConst")).is_none()) {
            return refuse("type modifiers must be constants");
        }
        self.fields(body, &["names"])
    }

    /// A function in FROM: only a plain function call (CAST, COALESCE,
    /// NULLIF… there name a single value that `name.f` would call `f` on).
    pub(super) fn range_function(&mut self, body: &Map<String, Value>) -> Result<(), Refusal> {
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

/// The SQL-standard types with modifiers the parser names `pg_catalog.…`
/// itself (`varchar(10)` is `pg_catalog.varchar`).
const STANDARD_TYPES_WITH_MODIFIERS: &[&str] =
    &["bpchar", "varchar", "numeric", "bit", "varbit", "timestamp", "timestamptz", "time", "timetz", "interval"];

/// A system column (`xmin`, `ctid`, …) is refused wherever a name stands:
/// see `policy::SYSTEM_COLUMNS`.
pub(super) fn system_column(name: &str, what: &str) -> Result<(), Refusal> {
    if SYSTEM_COLUMNS.contains(&name) {
        return refuse(format!(
            "{what} names the system column {name}: system columns tell a restored copy from its source (every \
             row a restore wrote has one xmin; oids and row places differ), so no plugin may read them; use a data \
             column (a version number, the primary key)"
        ));
    }
    Ok(())
}

/// A column of a reg* type would store names the server resolves as the
/// checker does not see them (a literal inserted into it): refused.
pub(super) fn column_type(body: &Map<String, Value>) -> Result<(), Refusal> {
    let names: Vec<&str> = body["type_name"]["names"]
        .as_array()
        .map(|l| l.iter().filter_map(|n| n["node"]["String"]["sval"].as_str()).collect())
        .unwrap_or_default();
    if let Some(reg) = names::reg_type(&names) {
        return refuse(format!(
            "a column of type {reg} stores objects by name, resolved where the checker does not see it; store the \
             name as text"
        ));
    }
    Ok(())
}

/// A field naming an object other than a relation, function, operator or
/// type, held to its [`NameRule`]. Only text values name anything: the same
/// field name may hold a resolved number elsewhere (`SetToDefault.collation`).
pub(super) fn named_object(rule: NameRule, v: &Value) -> Result<(), Refusal> {
    match (rule, v) {
        (NameRule::Builtin(what), Value::Array(parts)) => {
            let names: Option<Vec<&str>> = parts.iter().map(|p| p["node"]["String"]["sval"].as_str()).collect();
            let Some(names) = names else { return refuse(format!("malformed {what} name")) };
            match names.as_slice() {
                [] | [_] | ["pg_catalog", _] => Ok(()),
                _ => refuse(format!(
                    "{what} {} is not built in: only unqualified or pg_catalog names may be used",
                    names.join(".")
                )),
            }
        }
        (NameRule::OneOf(what, allowed), Value::String(name))
            if !name.is_empty() && !allowed.contains(&name.as_str()) =>
        {
            refuse(format!("{what} `{name}` is not built in (allowed: {})", allowed.join(", ")))
        }
        (NameRule::Empty(what), Value::String(name)) if !name.is_empty() => {
            refuse(format!("naming {what} (`{name}`) is not allowed"))
        }
        _ => Ok(()),
    }
}
