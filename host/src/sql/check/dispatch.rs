//! The statement dispatch: a statement's top-level kind decides whether
//! it may be sent at all (the policy's lists) and which relations it
//! writes or reads as its target; the walk checks everything else in it.

use super::checker::{to_json, Checker};
use super::ddl::{drop_relation, implicit_sequences, named_indexes};
use super::kind::{Op, StatementKind};
use super::verdict::{refuse, Refusal};
use super::walk::Walk;
use super::{alter, enums, policy, view, Lock};
use pg_query::protobuf::{node::Node as N, OnConflictAction, RangeVar};
use serde_json::{Map, Value};

impl Checker {
    /// The top statement: its kind decides whether it may be sent at all and
    /// which relations it writes; the walk checks everything else in it.
    pub(super) fn dispatch(
        &self,
        walk: &mut Walk,
        node: &N,
        json: &Value,
    ) -> Result<(StatementKind, Option<Lock>), Refusal> {
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
pub(super) fn target(walk: &mut Walk, relation: Option<&RangeVar>, op: Op) -> Result<(), Refusal> {
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

pub(super) fn obj(v: &Value) -> Result<&Map<String, Value>, Refusal> {
    v.as_object().ok_or_else(|| Refusal { reason: "malformed parse tree".into(), grant: None })
}
