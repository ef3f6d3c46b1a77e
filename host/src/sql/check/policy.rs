//! The policy a security reviewer audits: limits, the statement kinds a plugin
//! may send, the parse-tree nodes the walk understands, and the functions any
//! plugin may call without a grant. Nothing here decides alone; `mod.rs` and
//! `walk.rs` consult these tables, and anything not listed is refused.

use super::StatementKind::{self, *};

/// Longest statement text a plugin may send.
pub const MAX_STATEMENT_BYTES: usize = 64 * 1024;
/// Deepest nesting of brackets in a statement's text. Deeper trees fail the
/// protobuf decoder's nesting limit (100 levels) anyway, with a message no
/// plugin author could act on; 32 is far beyond any statement a tier needs.
pub const MAX_NESTING: usize = 32;
/// Most parameters a statement may bind.
pub const MAX_PARAMS: usize = 1_000;
/// PostgreSQL's identifier limit (NAMEDATALEN - 1): the server truncates longer
/// names, so two spellings could name one object (libpg_query truncates too).
pub(super) const MAX_IDENT: usize = 63;

/// The only statement kinds a plugin may send; every other kind is refused.
pub(super) const ALLOWED_STATEMENTS: &[StatementKind] =
    &[Select, Insert, Update, Delete, CreateTable, Drop, AlterTable, Index, Rename, Comment, View, AlterEnum];

/// What gate, verify and probe plugins may send: they must not change the database.
pub(super) const READ_ONLY_STATEMENTS: &[StatementKind] = &[Select];

/// Statement kinds that are never allowed, with the reason the refusal gives:
/// each reaches past the host's transaction, session or checks.
pub(super) fn forbidden_reason(kind: &StatementKind) -> Option<&'static str> {
    Some(match kind {
        Transaction => "transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT): the host owns the transaction",
        VariableSet | VariableShow => "SET/RESET/SHOW: session settings and role belong to the host",
        Do => "DO runs procedural code the host cannot check",
        Call => "CALL runs a procedure the host cannot check",
        Copy => "COPY reaches server files and programs",
        Listen | Unlisten | Notify => "LISTEN/NOTIFY outlive the transaction",
        Prepare | Execute | Deallocate => "prepared statements outlive the transaction",
        Discard => "DISCARD: session state belongs to the host",
        Lock => "LOCK: explicit table locks belong to the host",
        DeclareCursor | Fetch | ClosePortal => "cursors can outlive the transaction",
        Explain => "EXPLAIN ANALYZE executes its statement; send the statement itself",
        Merge => "MERGE is not supported by the checker; use INSERT … ON CONFLICT or UPDATE",
        Truncate => "TRUNCATE skips triggers; use DELETE with a delete grant",
        CreateTableAs => {
            "CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW: use CREATE TABLE, then INSERT … SELECT (or a \
             plain CREATE VIEW)"
        }
        Load => "LOAD loads server code",
        AlterSystem | CreateRole | AlterRole | DropRole | Grant | GrantRole => {
            "roles and privileges belong to the operator"
        }
        _ => return None,
    })
}

/// Why a statement kind plugins may not send is refused, and what to do
/// instead, where the kind is one a tier author reaches for.
pub(super) fn unsupported_reason(kind: &StatementKind) -> Option<&'static str> {
    let Other(name) = kind else { return None };
    Some(match name.as_str() {
        "AlterObjectSchemaStmt" => "moving an object to another schema changes what the grants name",
        "AlterOwnerStmt" => "owners belong to the operator",
        "CreateTrigStmt" | "CreateFunctionStmt" | "CreateEventTrigStmt" => {
            "it creates code the host cannot check; the catalog audit refuses code the review did not see"
        }
        "ReindexStmt" | "ClusterStmt" | "VacuumStmt" => "maintenance belongs to the operator",
        "CreateEnumStmt" | "CompositeTypeStmt" | "DefineStmt" | "CreateDomainStmt" | "AlterDomainStmt"
        | "AlterTypeStmt" | "CreateRangeStmt" => {
            "types, domains, operators and aggregates belong to the operator (a type's functions run on every \
             use); an existing enum may grow with ALTER TYPE … ADD VALUE under an alter grant naming it"
        }
        "RuleStmt" => "a rule rewrites other statements, code the host cannot check",
        "RefreshMatViewStmt" => "materialized views belong to the operator; use a plain view (CREATE VIEW)",
        "CreateStatsStmt" | "AlterStatsStmt" => "planner statistics belong to the operator",
        "CreateSeqStmt" | "AlterSeqStmt" => "use a serial or identity column of a table the tier creates",
        "CreateSchemaStmt" | "CreateExtensionStmt" | "CreatePolicyStmt" | "AlterPolicyStmt" => {
            "schemas, extensions and policies belong to the operator"
        }
        _ => return None,
    })
}

/// Node kinds the walk understands below the top statement. Anything else is
/// refused: an unknown node could hide a relation or a function.
#[rustfmt::skip]
pub(super) const KNOWN_NODES: &[&str] = &[
    "AArrayExpr", "AConst", "AExpr", "AIndices", "AIndirection", "AStar", "Alias", "BitString", "BoolExpr",
    "Boolean", "BooleanTest", "CaseExpr", "CaseWhen", "CoalesceExpr", "CollateClause", "ColumnDef", "ColumnRef",
    "CommonTableExpr", "Constraint", "Float", "FuncCall", "GroupingSet", "IndexElem", "Integer", "JoinExpr",
    "List", "MinMaxExpr", "MultiAssignRef", "NullTest", "ParamRef", "RangeFunction", "RangeSubselect",
    "RangeVar", "ResTarget", "RowExpr", "SqlvalueFunction", "SelectStmt", "SetToDefault", "SortBy", "String",
    "SubLink", "TypeCast", "TypeName", "WindowDef",
];

/// Functions (in `pg_catalog`) any plugin may call without a grant: each only
/// computes a value, from its arguments, the clock, randomness or a catalog
/// lookup; none runs SQL given as text, reaches files or changes settings,
/// and none tells a rehearsal copy from production (no server address,
/// start time, backend or transaction id: `tests/classes.rs` holds every
/// argument-less built-in to that). Their sizes are bounded by `sizes.rs`;
/// the aggregates that hold every row (`string_agg`, `array_agg`,
/// `json(b)_agg`, `jsonb_object_agg`) are refused there, whatever a grant
/// says, and so are not on this list. `to_regclass` names a relation by
/// text, held to `names.rs`.
#[rustfmt::skip]
pub(super) const SAFE_FUNCTIONS: &[&str] = &[
    "abs", "array_length", "avg", "bool_and", "bool_or", "btrim", "cardinality", "ceil",
    "char_length", "concat", "concat_ws", "count", "current_database", "date_part", "date_trunc", "dense_rank",
    "every", "floor", "format", "gen_random_uuid", "generate_series", "jsonb_build_array",
    "jsonb_build_object", "json_build_object", "lag", "lead", "left", "length",
    "lower", "lpad", "ltrim", "max", "md5", "min", "mod", "now", "rank", "replace", "right", "round",
    "row_number", "rpad", "rtrim", "similar_to_escape", "split_part", "starts_with", "strpos", "substr", "substring",
    "sum", "to_char", "to_jsonb", "to_regclass", "trim", "unnest", "upper",
];

/// The schema of the host's ledger: no statement names anything in it, by
/// a relation or by text (`setval('rollout_ledger.…')`).
pub(super) const LEDGER_SCHEMA: &str = "rollout_ledger";

/// System columns: a row's transaction ids, command ids, physical place and
/// table oid. They are facts about a copy, not data (every row a `pg_dump`
/// restore wrote has one `xmin`; the oids and places differ), so a plugin
/// reading them could tell a rehearsal copy from production and behave
/// well only on the copy. No grant allows them: every use a tier has (a
/// row version, a row's identity) has a data column to use instead.
pub(super) const SYSTEM_COLUMNS: &[&str] = &["ctid", "xmin", "cmin", "xmax", "cmax", "tableoid"];

/// What a built-in function does with the relation (or other object) an
/// argument names by text; the grant it needs is in `names.rs`. A function
/// the catalog says takes a relation or schema by name and this table does
/// not know (`brin_summarize_range`, `pg_extension_config_dump`, …) is
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameUse {
    /// Only resolves the name (`to_regclass`, a cast to `regclass`): the
    /// schema must be one the grants name, as PostgreSQL asks USAGE on it.
    Lookup,
    /// Reads about the relation (its size, properties): `read` on it.
    Read,
    /// Reads a sequence's state (`currval`): `sequences` on it.
    Sequence,
    /// Advances a sequence (`nextval`): `sequences`, and not read-only.
    Draw,
    /// Sets a sequence (`setval`): `sequences` and `update`, not read-only.
    Set,
}

/// What `function` does with the object its name argument names.
pub(super) fn name_use(function: &str) -> Option<NameUse> {
    use NameUse::*;
    Some(match function {
        "to_regclass" | "to_regproc" | "to_regprocedure" | "to_regoper" | "to_regoperator" | "to_regtype"
        | "to_regnamespace" | "to_regrole" | "to_regcollation" | "regclass" => Lookup,
        "pg_relation_size"
        | "pg_total_relation_size"
        | "pg_table_size"
        | "pg_indexes_size"
        | "pg_relation_filenode"
        | "pg_relation_filepath"
        | "pg_column_is_updatable"
        | "pg_relation_is_updatable"
        | "pg_index_has_property"
        | "pg_index_column_has_property"
        | "pg_get_replica_identity_index"
        | "pg_partition_root"
        | "pg_partition_ancestors"
        | "pg_partition_tree"
        | "pg_relation_is_publishable" => Read,
        "currval" | "pg_sequence_last_value" => Sequence,
        "nextval" => Draw,
        "setval" => Set,
        _ => return None,
    })
}

/// Functions libpg_query's deparser writes back in their SQL form
/// (`TRIM(BOTH … FROM …)`), with the argument counts it handles. The parser
/// accepts others (`TRIM(BOTH FROM a, b, c)` has three): a debug build's
/// deparser aborts on them and a release build drops arguments, so they are
/// refused before deparse.
pub(super) const SQL_SYNTAX_ARITIES: &[(&str, &[usize])] = &[
    ("btrim", &[1, 2]),
    ("ltrim", &[1, 2]),
    ("rtrim", &[1, 2]),
    ("substring", &[2, 3]),
    ("normalize", &[1, 2]),
    ("is_normalized", &[1, 2]),
    ("timezone", &[1, 2]),
    ("overlay", &[3, 4]),
    ("position", &[2]),
    ("extract", &[2]),
    ("overlaps", &[4]),
    ("xmlexists", &[2]),
    ("pg_collation_for", &[1]),
];

/// Parse-tree fields that name an object other than a relation, function,
/// operator or type (which have rules of their own in `walk.rs`): every
/// one is held to a rule here, so a name no grant covers never reaches the
/// server. Looked up by field name wherever the field appears.
pub(super) enum NameRule {
    /// A built-in object: one unqualified name (the host pins `search_path`
    /// to `pg_catalog, pg_temp`, and plugins cannot create temporary
    /// objects) or `pg_catalog.name`. Collations, operator classes.
    Builtin(&'static str),
    /// One of the built-in names listed (access methods and compression
    /// methods have no schema, so a name is the whole answer).
    OneOf(&'static str, &'static [&'static str]),
    /// Never allowed with a value (tablespaces, an existing index).
    Empty(&'static str),
}

/// The rule for a field that names an object, by the field's name.
pub(super) fn name_rule(field: &str) -> Option<NameRule> {
    use NameRule::*;
    Some(match field {
        "collname" | "collation" => Builtin("collation"),
        "opclass" => Builtin("operator class"),
        "access_method" => OneOf("access method", &["heap", "btree", "hash", "gist", "spgist", "gin", "brin"]),
        "compression" => OneOf("compression method", &["pglz", "lz4", "default"]),
        "tablespacename" | "indexspace" | "table_space_name" => Empty("a tablespace"),
        "indexname" => Empty("an existing index"),
        _ => return None,
    })
}

/// Column types that make `CREATE TABLE` create a sequence as well.
pub(super) const SERIAL_TYPES: &[&str] = &["smallserial", "serial2", "serial", "serial4", "bigserial", "serial8"];

/// Parse-tree fields that hold offsets into the source text (`location`,
/// `list_start`, `stmt_len`…): the only fields allowed to differ when the
/// re-emitted statement is compared with the checked tree.
pub(super) fn is_position(key: &str) -> bool {
    key.ends_with("location") || key.ends_with("_start") || key.ends_with("_end") || key == "stmt_len"
}
