//! Column grants: a `read`, `insert` or `update` grant limited to columns
//! (`read = ["s.t(a, b)"]`) holds every column a statement names on that
//! table to the list.
//!
//! The check sees names, not the catalog, so where it cannot tell which
//! table a name belongs to it refuses: while a read-limited table is in the
//! statement, an unqualified column must be one its list holds (it could
//! be that table's), `*`, a whole-row reference (`t`, `t.*`, `to_jsonb(t)`)
//! and a NATURAL join are refused, and so are column aliases on the table
//! (`s.t AS x(p, q)` renames its columns) and an alias on a join holding it
//! (`j.c` would reach its columns under another name). An INSERT names its
//! columns (without a list it fills them all, defaults included) and an
//! UPDATE sets only listed ones; an `ON CONFLICT` arbiter's columns are
//! reads, as PostgreSQL asks SELECT on them.

use super::{refuse, Checker, Refusal};
use serde_json::{Map, Value};

/// A read-limited table where the statement names it.
struct Limited<'a> {
    relation: String,
    /// The name its columns are qualified by: its alias, else its name.
    refname: String,
    columns: &'a [String],
}

/// Holds the statement `tree` (the top node, `{Kind: body}`) to the column
/// lists of `checker`'s grants. Runs after the relation checks passed.
pub(super) fn check(checker: &Checker, tree: &Value) -> Result<(), Refusal> {
    let g = &checker.grants;
    if g.columns.is_empty() {
        return Ok(());
    }
    let Some((kind, body)) = tree.as_object().and_then(|m| m.iter().next()) else { return Ok(()) };
    let body = body.as_object().cloned().unwrap_or_default();
    let target = body.get("relation").map(relation_name);
    match (kind.as_str(), &target) {
        ("InsertStmt", Some(t)) => insert(checker, &body, t)?,
        ("UpdateStmt", Some(t)) => {
            if let Some(cols) = g.limited("update", t) {
                set_columns(&body["target_list"], t, cols)?;
            }
        }
        _ => {}
    }
    if let ("InsertStmt", Some(t)) = (kind.as_str(), &target) {
        excluded(checker, &body["on_conflict_clause"], t)?;
    }
    let mut all = Vec::new();
    relations(checker, tree, &mut all)?;
    if all.is_empty() {
        return Ok(());
    }
    joins(tree, &all)?;
    if kind != "InsertStmt" {
        return names(tree, &all.iter().collect::<Vec<_>>());
    }
    // An INSERT's target is in scope only in RETURNING and ON CONFLICT
    // (held to every table's list there); an INSERT … SELECT's names are
    // its own FROM's.
    let mut rest = body.clone();
    for key in ["relation", "returning_clause", "on_conflict_clause"] {
        rest.remove(key);
    }
    let rest = Value::Object(rest);
    let mut inner = Vec::new();
    relations(checker, &rest, &mut inner)?;
    names(&rest, &inner.iter().collect::<Vec<_>>())?;
    let everything: Vec<&Limited> = all.iter().collect();
    for key in ["returning_clause", "on_conflict_clause"] {
        names(&body[key], &everything)?;
    }
    let target = target.unwrap_or_default();
    if let Some(t) = all.iter().find(|l| l.relation == target && l.refname == target_refname(&body)) {
        arbiters(&body["on_conflict_clause"], t)?;
    }
    Ok(())
}

fn relation_name(rv: &Value) -> String {
    format!("{}.{}", rv["schemaname"].as_str().unwrap_or(""), rv["relname"].as_str().unwrap_or(""))
}

fn target_refname(body: &Map<String, Value>) -> String {
    let rv = &body["relation"];
    rv["alias"]["aliasname"].as_str().or(rv["relname"].as_str()).unwrap_or("").to_string()
}

fn listed(cols: &[String]) -> String {
    cols.join(", ")
}

fn grant_with(key: &str, relation: &str, cols: &[String], column: &str) -> String {
    format!("{key} = [\"{relation}({}, {column})\"]", listed(cols))
}

/// An INSERT into an insert-limited table names only listed columns.
fn insert(checker: &Checker, body: &Map<String, Value>, target: &str) -> Result<(), Refusal> {
    let g = &checker.grants;
    if let Some(cols) = g.limited("insert", target) {
        let named: Vec<&str> = body
            .get("cols")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|c| c["node"]["ResTarget"]["name"].as_str()).collect())
            .unwrap_or_default();
        if named.is_empty() {
            return refuse(format!(
                "INSERT into {target} without a column list fills every column (defaults included), and its insert \
                 grant lists only ({}): name the columns, `INSERT INTO {target} ({}) …`",
                listed(cols),
                listed(cols)
            ));
        }
        if let Some(c) = named.iter().find(|c| !cols.iter().any(|x| x == *c)) {
            return refuse(format!(
                "inserting into column `{c}` of {target} is not granted: its insert grant lists only ({}); to \
                 allow it, list it: {}",
                listed(cols),
                grant_with("insert", target, cols, c)
            ));
        }
    }
    let clause = &body["on_conflict_clause"];
    if clause.is_object() {
        if let Some(cols) = g.limited("update", target) {
            set_columns(&clause["target_list"], target, cols)?;
        }
    }
    Ok(())
}

/// The columns an UPDATE (or DO UPDATE) sets are all listed.
fn set_columns(targets: &Value, target: &str, cols: &[String]) -> Result<(), Refusal> {
    for t in targets.as_array().into_iter().flatten() {
        let name = t["node"]["ResTarget"]["name"].as_str().unwrap_or("");
        if !cols.iter().any(|c| c == name) {
            return refuse(format!(
                "updating column `{name}` of {target} is not granted: its update grant lists only ({}); to allow \
                 it, list it: {}",
                listed(cols),
                grant_with("update", target, cols, name)
            ));
        }
    }
    Ok(())
}

/// Every read-limited table the statement names; refuses column aliases on one.
fn relations<'a>(checker: &'a Checker, v: &Value, out: &mut Vec<Limited<'a>>) -> Result<(), Refusal> {
    match v {
        Value::Object(m) => {
            if m.contains_key("relname") && m.contains_key("relpersistence") {
                let relation = relation_name(v);
                if let Some(columns) = checker.grants.limited("read", &relation) {
                    let alias = &m.get("alias").cloned().unwrap_or_default();
                    if alias["colnames"].as_array().is_some_and(|c| !c.is_empty()) {
                        return refuse(format!(
                            "column aliases on {relation} rename its columns, and its read grant lists only ({}): \
                             alias the columns in the select list instead",
                            listed(columns)
                        ));
                    }
                    let refname = alias["aliasname"].as_str().or(v["relname"].as_str()).unwrap_or("").to_string();
                    out.push(Limited { relation, refname, columns });
                }
            }
            m.values().try_for_each(|x| relations(checker, x, out))
        }
        Value::Array(a) => a.iter().try_for_each(|x| relations(checker, x, out)),
        _ => Ok(()),
    }
}

/// NATURAL joins and aliased joins reach columns by no name the check sees.
fn joins(v: &Value, all: &[Limited]) -> Result<(), Refusal> {
    match v {
        Value::Object(m) => {
            if let Some(j) = m.get("JoinExpr") {
                let natural = j["is_natural"].as_bool().unwrap_or(false);
                let aliased = j["alias"].is_object() || j["join_using_alias"].is_object();
                if natural || aliased {
                    let what = if natural {
                        "a NATURAL join reads the columns both sides share"
                    } else {
                        "an alias on a join names its tables' columns under another name"
                    };
                    return refuse(format!(
                        "{what}, and the read grant of {} lists only ({}): join with ON and name the columns",
                        all[0].relation,
                        listed(all[0].columns)
                    ));
                }
                for u in j["using_clause"].as_array().into_iter().flatten() {
                    if let Some(name) = u["node"]["String"]["sval"].as_str() {
                        unqualified(name, all.iter().collect::<Vec<_>>().as_slice())?;
                    }
                }
            }
            m.values().try_for_each(|x| joins(x, all))
        }
        Value::Array(a) => a.iter().try_for_each(|x| joins(x, all)),
        _ => Ok(()),
    }
}

/// Every column reference in `v`, held to the lists of `all`.
fn names(v: &Value, all: &[&Limited]) -> Result<(), Refusal> {
    match v {
        Value::Object(m) => {
            if let Some(cr) = m.get("ColumnRef") {
                column_ref(cr, all)?;
            }
            m.values().try_for_each(|x| names(x, all))
        }
        Value::Array(a) => a.iter().try_for_each(|x| names(x, all)),
        _ => Ok(()),
    }
}

fn column_ref(cr: &Value, all: &[&Limited]) -> Result<(), Refusal> {
    let Some(first) = all.first() else { return Ok(()) };
    let fields: Vec<Option<&str>> = cr["fields"]
        .as_array()
        .map(|l| l.iter().map(|f| f["node"]["String"]["sval"].as_str()).collect())
        .unwrap_or_default();
    match fields.as_slice() {
        [None] => refuse(format!(
            "`*` reads every column of {}, and its read grant lists only ({}): name the columns",
            first.relation,
            listed(first.columns)
        )),
        [Some(name)] => {
            if let Some(l) = all.iter().find(|l| l.refname == *name) {
                return refuse(whole_row(name, l));
            }
            unqualified(name, all)
        }
        [Some(q), column] => {
            let Some(l) = all.iter().find(|l| l.refname == *q) else { return Ok(()) };
            match column {
                None => refuse(whole_row(&format!("{q}.*"), l)),
                Some(c) if l.columns.iter().any(|x| x == c) => Ok(()),
                Some(c) => Err(not_listed(c, l)),
            }
        }
        _ => refuse("malformed column reference"),
    }
}

/// An unqualified name could be any read-limited table's column: each
/// must list it.
fn unqualified(name: &str, all: &[&Limited]) -> Result<(), Refusal> {
    match all.iter().find(|l| !l.columns.iter().any(|c| c == name)) {
        Some(l) => Err(Refusal {
            reason: format!(
                "{} (an unqualified name may be a column of {}; if it is another table's, qualify it with that \
                 table's alias)",
                not_listed(name, l).reason,
                l.relation
            ),
            grant: None,
        }),
        None => Ok(()),
    }
}

fn not_listed(column: &str, l: &Limited) -> Refusal {
    Refusal {
        reason: format!(
            "reading column `{column}` of {} is not granted: its read grant lists only ({}); to allow it, list it: {}",
            l.relation,
            listed(l.columns),
            grant_with("read", &l.relation, l.columns, column)
        ),
        grant: None,
    }
}

fn whole_row(shown: &str, l: &Limited) -> String {
    format!(
        "`{shown}` is the whole row of {} (every column), and its read grant lists only ({}): name the columns",
        l.relation,
        listed(l.columns)
    )
}

/// `EXCLUDED` in `ON CONFLICT DO UPDATE` is the row the INSERT proposed:
/// the columns the plugin gave, and every other column's default or what
/// a trigger wrote there. PostgreSQL checks no privilege on it; a
/// column-limited target's `EXCLUDED` is held to the columns the plugin
/// may insert (when its insert grant lists them) and may read (when its
/// read grant does).
fn excluded(checker: &Checker, clause: &Value, target: &str) -> Result<(), Refusal> {
    if !clause.is_object() {
        return Ok(());
    }
    let g = &checker.grants;
    for key in ["insert", "read"] {
        if let Some(cols) = g.limited(key, target) {
            excluded_refs(clause, key, target, cols)?;
        }
    }
    Ok(())
}

fn excluded_refs(v: &Value, key: &str, target: &str, cols: &[String]) -> Result<(), Refusal> {
    match v {
        Value::Object(m) => {
            if let Some(cr) = m.get("ColumnRef") {
                let fields: Vec<Option<&str>> = cr["fields"]
                    .as_array()
                    .map(|f| f.iter().map(|x| x["node"]["String"]["sval"].as_str()).collect())
                    .unwrap_or_default();
                let is_excluded = |q: &str| q.eq_ignore_ascii_case("excluded");
                let refused = |what: String, column: Option<&str>| Refusal {
                    reason: format!(
                        "{what} the row proposed for {target} (`excluded`), and its {key} grant lists only ({}): {}",
                        listed(cols),
                        match column {
                            Some(c) => format!(
                                "use the value itself, or list the column: {}",
                                grant_with(key, target, cols, c)
                            ),
                            None => "name the columns".to_string(),
                        }
                    ),
                    grant: None,
                };
                match fields.as_slice() {
                    [Some(q)] | [Some(q), None] if is_excluded(q) => {
                        return Err(refused("`excluded` as a whole row reads every column of".into(), None))
                    }
                    [Some(q), Some(c)] if is_excluded(q) && !cols.iter().any(|x| x == c) => {
                        return Err(refused(format!("`{q}.{c}` reads column `{c}` of"), Some(c)))
                    }
                    _ => {}
                }
            }
            m.values().try_for_each(|x| excluded_refs(x, key, target, cols))
        }
        Value::Array(a) => a.iter().try_for_each(|x| excluded_refs(x, key, target, cols)),
        _ => Ok(()),
    }
}

/// `ON CONFLICT (c)` looks `c` up among the existing rows: a read.
fn arbiters(clause: &Value, target: &Limited) -> Result<(), Refusal> {
    if clause["infer"]["conname"].as_str().is_some_and(|c| !c.is_empty()) {
        return refuse(format!(
            "ON CONFLICT ON CONSTRAINT reads the constraint's columns of {}, which the check cannot see, and its \
             read grant lists only ({}): name the columns, `ON CONFLICT (…)`",
            target.relation,
            listed(target.columns)
        ));
    }
    for e in clause["infer"]["index_elems"].as_array().into_iter().flatten() {
        let elem = &e["node"]["IndexElem"];
        match elem["name"].as_str() {
            Some(c) if !c.is_empty() && !target.columns.iter().any(|x| x == c) => return Err(not_listed(c, target)),
            Some(c) if !c.is_empty() => {}
            // An expression arbiter: its names are column references.
            _ => names(&elem["expr"], &[target])?,
        }
    }
    Ok(())
}
