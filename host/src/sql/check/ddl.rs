//! What a CREATE TABLE or DROP TABLE touches beyond the relation it names:
//! the sequences of serial and identity columns, the indexes of named
//! constraints, and each victim of a DROP, as relations the walk's one
//! relation rule decides.

use super::locks::{Lock, LockMode};
use super::walk::Walk;
use super::{obj, policy, refuse, Op, Refusal};
use pg_query::protobuf::{node::Node as N, DropBehavior, ObjectType};
use serde_json::Value;

/// The sequences `CREATE TABLE` makes for serial and identity columns,
/// named as PostgreSQL names them (`table_column_seq`): each needs a create
/// grant like the table. A name the server would have to shorten or
/// change is refused, since the grant could not name it.
pub(super) fn implicit_sequences(s: &pg_query::protobuf::CreateStmt) -> Result<Vec<Value>, Refusal> {
    let mut out = Vec::new();
    for element in &s.table_elts {
        let Some(N::ColumnDef(column)) = &element.node else { continue };
        out.extend(column_sequence(s.relation.as_ref(), column)?);
    }
    Ok(out)
}

/// The sequence a serial or identity column of `table` makes (`CREATE
/// TABLE`, `ALTER TABLE … ADD COLUMN`), if it is one.
pub(super) fn column_sequence(
    table: Option<&pg_query::protobuf::RangeVar>,
    column: &pg_query::protobuf::ColumnDef,
) -> Result<Option<Value>, Refusal> {
    let Some(table) = table else { return Ok(None) };
    let type_names: Vec<&str> = column
        .type_name
        .iter()
        .flat_map(|t| &t.names)
        .filter_map(|n| match &n.node {
            Some(N::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    let serial = matches!(type_names.as_slice(), [name] | ["pg_catalog", name] if policy::SERIAL_TYPES.contains(name));
    let identity = column.constraints.iter().any(|c| {
        matches!(&c.node, Some(N::Constraint(c)) if c.contype == pg_query::protobuf::ConstrType::ConstrIdentity as i32)
    });
    if !(serial || identity) {
        return Ok(None);
    }
    let name = format!("{}_{}_seq", table.relname, column.colname);
    if name.len() > policy::MAX_IDENT {
        return refuse(format!(
            "serial/identity column {}: its sequence's name ({name}) is too long for a grant to name; use a shorter name",
            column.colname
        ));
    }
    Ok(Some(relation_named(&table.schemaname, &name)))
}

/// The indexes a PRIMARY KEY, UNIQUE or EXCLUDE constraint creates under
/// the name the statement gives it (`CONSTRAINT name PRIMARY KEY`): a
/// relation in the table's schema like any other, so it needs its own
/// create grant. (Unnamed ones get the server's `table_…_pkey`/`_key`/`_excl`
/// names, which the table's own grant covers.)
pub(super) fn named_indexes(s: &pg_query::protobuf::CreateStmt) -> Vec<Value> {
    use pg_query::protobuf::ConstrType;
    let Some(table) = &s.relation else { return Vec::new() };
    let column_constraints = s.table_elts.iter().filter_map(|e| match &e.node {
        Some(N::ColumnDef(c)) => Some(c.constraints.iter()),
        _ => None,
    });
    let constraints = s.table_elts.iter().chain(column_constraints.flatten()).chain(&s.constraints);
    constraints
        .filter_map(|c| match &c.node {
            Some(N::Constraint(c)) => Some(c),
            _ => None,
        })
        .filter(|c| {
            !c.conname.is_empty()
                && [ConstrType::ConstrPrimary, ConstrType::ConstrUnique, ConstrType::ConstrExclusion]
                    .iter()
                    .any(|t| *t as i32 == c.contype)
        })
        .map(|c| relation_named(&table.schemaname, &c.conname))
        .collect()
}

/// A relation the statement names only implicitly (a drop's victim, a
/// sequence or index it creates), in the parse tree's `RangeVar` shape, so
/// the walk's one relation rule decides it.
pub(super) fn relation_named(schema: &str, name: &str) -> Value {
    serde_json::json!({"catalogname": "", "schemaname": schema, "relname": name, "relpersistence": "p", "inh": true})
}

/// A qualified name as the parser gives it (`List` of `String`s).
pub(super) fn name_list(node: Option<&pg_query::protobuf::Node>) -> Result<Vec<String>, Refusal> {
    match node.and_then(|n| n.node.as_ref()) {
        Some(N::List(l)) => name_list_of(&l.items),
        _ => refuse("unexpected object name"),
    }
}

/// The parts of a qualified name given as a list of `String` nodes.
pub(super) fn name_list_of(items: &[pg_query::protobuf::Node]) -> Result<Vec<String>, Refusal> {
    items
        .iter()
        .map(|i| match &i.node {
            Some(N::String(s)) => Ok(s.sval.clone()),
            _ => refuse("unexpected name"),
        })
        .collect()
}

/// `DROP TABLE schema.name, …`, `DROP VIEW …` or `DROP INDEX …` without
/// CASCADE: the only DROPs whose every victim is named, so the drop grant
/// naming each covers all it removes. An index's drop takes its table's
/// strongest lock.
pub(super) fn drop_relation(walk: &mut Walk, s: &pg_query::protobuf::DropStmt) -> Result<Option<Lock>, Refusal> {
    let index = s.remove_type == ObjectType::ObjectIndex as i32;
    let view = s.remove_type == ObjectType::ObjectView as i32;
    if s.remove_type != ObjectType::ObjectTable as i32 && !index && !view {
        return refuse(
            "only DROP TABLE, DROP VIEW and DROP INDEX are allowed: other objects (types, functions, sequences, \
             schemas) belong to the operator",
        );
    }
    if s.behavior == DropBehavior::DropCascade as i32 {
        return refuse("DROP … CASCADE drops objects no grant names");
    }
    let mut lock = None;
    for object in &s.objects {
        let names = name_list(Some(object))?;
        match names.as_slice() {
            [schema, name] => {
                let rv = relation_named(schema, name);
                walk.relation(obj(&rv)?, Op::Drop)?;
                if index {
                    // CONCURRENTLY (a concurrent tier only, `concurrent.rs`)
                    // lets reads and writes go on.
                    let mode = if s.concurrent { LockMode::ShareUpdateExclusive } else { LockMode::AccessExclusive };
                    let on = Lock::on(&format!("the table of index {schema}.{name}"), mode);
                    lock = Some(match lock {
                        None => on,
                        Some(l) => on.max(l),
                    });
                }
            }
            _ => return refuse(format!("DROP {}: name it as schema.name", names.join("."))),
        }
    }
    Ok(lock)
}
