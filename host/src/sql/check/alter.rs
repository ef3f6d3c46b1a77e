//! DDL on relations that already exist: `ALTER TABLE` (the sub-commands a
//! schema change is made of), `CREATE INDEX`, `COMMENT ON` and renaming a
//! column or a constraint. Each is decided here, sub-command by
//! sub-command; whatever is not listed is refused with the reason. The
//! names and expressions inside (a column's type and default, a
//! constraint's check, a foreign key's table, an index's expressions) go
//! through the walk's rules like any other statement's.
//!
//! PostgreSQL lets only a table's owner alter it or index it, so no
//! privilege a restricted role could hold backs these grants: the checker
//! is the only wall for an `alter` or `index` line (`host grants` says so,
//! and a plan altering a table it did not create cannot run under roles).

use super::locks::{Lock, LockMode};
use super::rules::system_column;
use super::walk::Walk;
use super::{obj, refuse, target, Op, Refusal};
use pg_query::protobuf::{node::Node as N, AlterTableType as T, ConstrType, DropBehavior, ObjectType};
use serde_json::Value;

/// `ALTER TABLE schema.table …`: every sub-command allowed, against the
/// table's `alter` grant (and its `index` grant where one builds an index).
pub(super) fn alter_table(
    walk: &mut Walk,
    s: &pg_query::protobuf::AlterTableStmt,
    body: &Value,
) -> Result<Lock, Refusal> {
    if s.objtype != ObjectType::ObjectTable as i32 {
        return refuse(
            "only ALTER TABLE is allowed (not ALTER INDEX, VIEW, SEQUENCE, MATERIALIZED VIEW or FOREIGN TABLE); \
             change a view with CREATE OR REPLACE VIEW",
        );
    }
    let relation = s.relation.as_ref();
    target(walk, relation, Op::Alter)?;
    let name = relation.map(|r| format!("{}.{}", r.schemaname, r.relname)).unwrap_or_default();
    let mut lock = Lock::on(&name, LockMode::ShareUpdateExclusive);
    for (i, cmd) in s.cmds.iter().enumerate() {
        let Some(N::AlterTableCmd(cmd)) = &cmd.node else { return refuse("malformed ALTER TABLE") };
        let def = &body["cmds"][i]["node"]["AlterTableCmd"]["def"];
        lock = lock.max(command(walk, relation, cmd, def, &name)?);
    }
    Ok(lock)
}

/// One sub-command: refused, or the lock it takes.
fn command(
    walk: &mut Walk,
    relation: Option<&pg_query::protobuf::RangeVar>,
    cmd: &pg_query::protobuf::AlterTableCmd,
    def: &Value,
    table: &str,
) -> Result<Lock, Refusal> {
    let subtype = T::try_from(cmd.subtype).unwrap_or(T::Undefined);
    if cmd.behavior == DropBehavior::DropCascade as i32 {
        return refuse("ALTER TABLE … CASCADE drops objects no grant names");
    }
    if !cmd.name.is_empty() && matches!(subtype, T::AtDropColumn | T::AtSetNotNull | T::AtDropNotNull) {
        system_column(&cmd.name, "ALTER TABLE")?;
    }
    let exclusive = Lock::on(table, LockMode::AccessExclusive);
    Ok(match subtype {
        T::AtAddColumn => {
            let Some(N::ColumnDef(column)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return refuse("malformed ADD COLUMN");
            };
            if let Some(seq) = super::ddl::column_sequence(relation, column)? {
                walk.relation(obj(&seq)?, Op::Create)?;
            }
            if !column.storage.is_empty() || !column.storage_name.is_empty() || !column.compression.is_empty() {
                return refuse("ADD COLUMN … STORAGE / COMPRESSION: how a column is stored belongs to the operator");
            }
            if column.constraints.iter().any(builds_index) {
                target(walk, relation, Op::Index)?;
            }
            let mut lock = exclusive;
            for c in column.constraints.iter().filter_map(|c| match &c.node {
                Some(N::Constraint(c)) => Some(c),
                _ => None,
            }) {
                lock = lock.max(constraint_lock(walk, table, c)?);
            }
            walk_def(walk, def)?;
            let rewrites = super::ddl::column_sequence(relation, column)?.is_some()
                || column.constraints.iter().any(|c| {
                    matches!(&c.node, Some(N::Constraint(c)) if c.contype == ConstrType::ConstrGenerated as i32
                        || c.contype == ConstrType::ConstrIdentity as i32
                        || (c.contype == ConstrType::ConstrDefault as i32 && calls_a_function(&c.raw_expr)))
                });
            lock.rewriting(
                rewrites,
                "add the column without a default that calls a function, then backfill it in batches",
            )
        }
        T::AtDropColumn => exclusive,
        T::AtColumnDefault => {
            walk_def(walk, def)?;
            exclusive
        }
        T::AtSetNotNull => exclusive.scanning(
            "ADD CONSTRAINT … CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later tier, then SET \
             NOT NULL (PostgreSQL uses the valid check and skips the scan)",
        ),
        T::AtDropNotNull => exclusive,
        T::AtAlterColumnType => {
            walk_def(walk, def)?;
            exclusive.rewriting(true, "add a column of the new type, backfill it in batches, then switch readers to it")
        }
        T::AtAddConstraint => {
            let Some(N::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
                return refuse("malformed ADD CONSTRAINT");
            };
            if cmd.def.as_deref().is_some_and(builds_index) {
                target(walk, relation, Op::Index)?;
            }
            let lock = constraint_lock(walk, table, c)?;
            walk_def(walk, def)?;
            lock
        }
        // A foreign key's validation reads both tables (ROW SHARE on the
        // one it references), blocking neither's reads or writes.
        T::AtValidateConstraint => Lock::on(table, LockMode::ShareUpdateExclusive)
            .scanning("it blocks no read or write; it reads every row (and a foreign key's referenced rows)"),
        T::AtDropConstraint => exclusive,
        other => return refuse(refused_command(other)),
    })
}

/// The lock a constraint added to `table` takes and the work it does; a
/// foreign key needs the `references` grant of the table it points at (it
/// installs triggers there and locks that table's writes until the tier
/// commits), as PostgreSQL asks REFERENCES, not SELECT, for it.
fn constraint_lock(walk: &mut Walk, table: &str, c: &pg_query::protobuf::Constraint) -> Result<Lock, Refusal> {
    let foreign = c.contype == ConstrType::ConstrForeign as i32;
    let checked = c.contype == ConstrType::ConstrCheck as i32 || foreign;
    let builds = [ConstrType::ConstrPrimary, ConstrType::ConstrUnique, ConstrType::ConstrExclusion]
        .iter()
        .any(|t| *t as i32 == c.contype);
    let mode = if foreign { LockMode::ShareRowExclusive } else { LockMode::AccessExclusive };
    let mut lock = Lock::on(table, mode);
    if foreign {
        let Some(pk) = c.pktable.as_ref() else { return refuse("malformed FOREIGN KEY") };
        let referenced = format!("{}.{}", pk.schemaname, pk.relname);
        if !walk.may_reference(&referenced) {
            return super::refuse_grant(
                format!(
                    "a foreign key to {referenced} installs triggers on it and holds its writes until the tier \
                     commits: it needs the references grant, not only read"
                ),
                "references",
                &referenced,
            );
        }
        lock.relation = format!("{table} and {referenced}");
    }
    Ok(match () {
        _ if checked && c.skip_validation => lock,
        _ if checked => lock.scanning("add it NOT VALID, then VALIDATE CONSTRAINT in a later tier"),
        _ if builds => lock.scanning("build the index first (CREATE UNIQUE INDEX), then ADD CONSTRAINT … USING INDEX"),
        _ => lock,
    })
}

/// Why an `ALTER TABLE` sub-command stays refused.
fn refused_command(subtype: T) -> String {
    let why = match subtype {
        T::AtChangeOwner => "the table's owner belongs to the operator",
        T::AtSetTableSpace | T::AtSetAccessMethod | T::AtSetLogged | T::AtSetUnLogged => {
            "where and how the table is stored belongs to the operator"
        }
        T::AtEnableTrig
        | T::AtEnableAlwaysTrig
        | T::AtEnableReplicaTrig
        | T::AtDisableTrig
        | T::AtEnableTrigAll
        | T::AtDisableTrigAll
        | T::AtEnableTrigUser
        | T::AtDisableTrigUser
        | T::AtEnableRule
        | T::AtEnableAlwaysRule
        | T::AtEnableReplicaRule
        | T::AtDisableRule => {
            "triggers and rules are code the catalog audit reviewed; switching them belongs to the operator"
        }
        T::AtEnableRowSecurity | T::AtDisableRowSecurity | T::AtForceRowSecurity | T::AtNoForceRowSecurity => {
            "row security belongs to the operator"
        }
        T::AtAddInherit | T::AtDropInherit | T::AtAddOf | T::AtDropOf | T::AtAttachPartition => {
            "it ties the table to relations no grant names"
        }
        T::AtDetachPartition | T::AtDetachPartitionFinalize => "it moves rows out of the relations the grants name",
        T::AtSetRelOptions
        | T::AtResetRelOptions
        | T::AtReplaceRelOptions
        | T::AtSetOptions
        | T::AtResetOptions
        | T::AtSetStorage
        | T::AtSetCompression
        | T::AtSetStatistics
        | T::AtReplicaIdentity
        | T::AtClusterOn
        | T::AtDropCluster => "storage and replication settings belong to the operator",
        T::AtAddIdentity | T::AtSetIdentity | T::AtDropIdentity => {
            "an identity creates or changes a sequence no grant names; add a column with a default instead"
        }
        T::AtSetExpression | T::AtDropExpression => "a generated column's expression is changed by adding a new column",
        T::AtAlterConstraint => "drop the constraint and add it again",
        _ => "the checker does not allow it",
    };
    format!("ALTER TABLE {subtype:?} is not allowed: {why}")
}

/// A constraint that builds an index (PRIMARY KEY, UNIQUE, EXCLUDE).
fn builds_index(node: &pg_query::protobuf::Node) -> bool {
    matches!(&node.node, Some(N::Constraint(c)) if [ConstrType::ConstrPrimary, ConstrType::ConstrUnique, ConstrType::ConstrExclusion]
        .iter()
        .any(|t| *t as i32 == c.contype))
}

/// Whether an expression calls a function (which may be volatile: a
/// default that does makes ADD COLUMN rewrite the table).
fn calls_a_function(expr: &Option<Box<pg_query::protobuf::Node>>) -> bool {
    let Some(expr) = expr else { return false };
    serde_json::to_string(expr).is_ok_and(|s| s.contains("\"FuncCall\""))
}

/// The sub-command's definition (a column, a constraint, an expression)
/// through the walk's rules.
fn walk_def(walk: &mut Walk, def: &Value) -> Result<(), Refusal> {
    if def.is_null() {
        return Ok(());
    }
    walk.any(def)
}

/// `CREATE [UNIQUE] INDEX name ON schema.table …` against the table's
/// `index` grant. CONCURRENTLY only in a concurrent tier (`concurrent.rs`
/// decides before this runs), where it takes the weaker lock.
pub(super) fn create_index(walk: &mut Walk, s: &pg_query::protobuf::IndexStmt, body: &Value) -> Result<Lock, Refusal> {
    if !s.table_space.is_empty() {
        return refuse("CREATE INDEX … TABLESPACE: where an index is stored belongs to the operator");
    }
    if !s.options.is_empty() {
        return refuse("CREATE INDEX … WITH (…): storage parameters belong to the operator");
    }
    // A type's default class for gist, gin, … may come from an extension
    // (btree_gist's for int4): its functions would run on every write.
    let method = if s.access_method.is_empty() { "btree" } else { s.access_method.as_str() };
    let unnamed = s.index_params.iter().any(|p| matches!(&p.node, Some(N::IndexElem(e)) if e.opclass.is_empty()));
    if matches!(method, "gist" | "gin" | "spgist" | "brin") && unnamed {
        return refuse(format!(
            "CREATE INDEX … USING {method}: name each element's operator class (a built-in one, e.g. \
             `jsonb_path_ops`); the type's default class for {method} may come from an extension, whose functions \
             would run on every write"
        ));
    }
    target(walk, s.relation.as_ref(), Op::Index)?;
    walk.fields(obj(body)?, &["relation", "options"])?;
    let table = s.relation.as_ref().map(|r| format!("{}.{}", r.schemaname, r.relname)).unwrap_or_default();
    if s.concurrent {
        return Ok(Lock::on(&table, LockMode::ShareUpdateExclusive));
    }
    Ok(Lock::on(&table, LockMode::Share).scanning(
        "CREATE INDEX CONCURRENTLY, which blocks no write, in a tier of its own with mode = \"concurrent\" (it runs \
         outside a transaction)",
    ))
}

/// `COMMENT ON` an object an `alter` grant names: `TABLE`, `VIEW` or
/// `INDEX schema.name`, `COLUMN schema.table.column`, `CONSTRAINT c ON
/// schema.table`, `TYPE schema.type`. Other objects (functions, schemas,
/// roles, …) belong to the operator.
pub(super) fn comment(walk: &mut Walk, s: &pg_query::protobuf::CommentStmt) -> Result<Lock, Refusal> {
    const ONLY: &str = "only COMMENT ON TABLE, VIEW, INDEX, COLUMN, CONSTRAINT … ON and TYPE are allowed: other \
                        objects belong to the operator";
    use ObjectType as O;
    let kind = ObjectType::try_from(s.objtype).unwrap_or(O::Undefined);
    if !matches!(
        kind,
        O::ObjectTable | O::ObjectView | O::ObjectIndex | O::ObjectType | O::ObjectColumn | O::ObjectTabconstraint
    ) {
        return refuse(ONLY);
    }
    let names = match (kind, s.object.as_deref().and_then(|o| o.node.as_ref())) {
        (ObjectType::ObjectType, Some(N::TypeName(t))) => super::ddl::name_list_of(&t.names)?,
        (ObjectType::ObjectType, _) => return refuse("malformed COMMENT ON TYPE"),
        _ => super::ddl::name_list(s.object.as_deref())?,
    };
    let (schema, name) = match (kind, names.as_slice()) {
        (ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectIndex, [schema, name]) => (schema, name),
        (ObjectType::ObjectType, [schema, name]) => (schema, name),
        (ObjectType::ObjectColumn, [schema, table, column]) => {
            system_column(column, "COMMENT ON COLUMN")?;
            (schema, table)
        }
        (ObjectType::ObjectTabconstraint, [schema, table, _constraint]) => (schema, table),
        _ => {
            return refuse(
                "COMMENT ON: name the object as schema.name (a column as schema.table.column, a constraint as \
                 CONSTRAINT c ON schema.table)",
            )
        }
    };
    let rv = super::ddl::relation_named(schema, name);
    walk.relation(obj(&rv)?, Op::Alter)?;
    Ok(Lock::on(&format!("{schema}.{name}"), LockMode::ShareUpdateExclusive))
}

/// `ALTER TABLE schema.table RENAME COLUMN a TO b` or `RENAME CONSTRAINT`,
/// against the table's `alter` grant. Renaming the table itself would
/// change what every grant names.
pub(super) fn rename(walk: &mut Walk, s: &pg_query::protobuf::RenameStmt) -> Result<Lock, Refusal> {
    // A column's rename says which kind of relation it is on (ALTER VIEW,
    // ALTER INDEX … RENAME COLUMN are other statements); a constraint's
    // comes only from ALTER TABLE.
    let column = s.rename_type == ObjectType::ObjectColumn as i32 && s.relation_type == ObjectType::ObjectTable as i32;
    let constraint = s.rename_type == ObjectType::ObjectTabconstraint as i32;
    if !(column || constraint) {
        return refuse(
            "only ALTER TABLE … RENAME COLUMN and RENAME CONSTRAINT are allowed: renaming a table or another object \
             changes what the grants name; create the new one and move the rows",
        );
    }
    if column {
        system_column(&s.subname, "RENAME COLUMN")?;
        system_column(&s.newname, "RENAME COLUMN")?;
    }
    target(walk, s.relation.as_ref(), Op::Alter)?;
    let table = s.relation.as_ref().map(|r| format!("{}.{}", r.schemaname, r.relname)).unwrap_or_default();
    Ok(Lock::on(&table, LockMode::AccessExclusive))
}
