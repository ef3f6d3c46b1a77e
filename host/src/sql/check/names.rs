//! Objects named by text: an argument of a built-in function that takes a
//! `regclass`, `regproc`, … (`setval('s.seq', 1)`, `pg_relation_size('s.t')`),
//! a lookup that returns one (`to_regclass('s.t')`), and a cast to a reg*
//! type (`'s.t'::regclass`). The walk sees a string, the server an object:
//! a granted `setval('rollout_ledger.rollout_id_seq', 1)` broke every later
//! run and rollback.
//!
//! Which arguments name what comes from the catalog ([`Catalog::name_args`],
//! `names.sql`), never from a hand list. Each such argument must be a
//! constant the checker reads exactly as PostgreSQL reads it (quoting, case
//! folding, qualification: [`qualified_name`] is `SplitIdentifierString`
//! with the server's downcasing), and the grants must cover the object for
//! what the function does with it ([`NameUse`], `policy.rs`). The ledger
//! (`rollout_ledger`) is never named, and a name that is not a constant is
//! refused: the checker cannot check what it cannot read.

use super::policy::{name_use, NameUse, LEDGER_SCHEMA, MAX_IDENT, SAFE_FUNCTIONS};
use super::{refuse, refuse_grant, Checker, Op, Refusal};
use serde_json::Value;

/// What kind of object a reg* type names, as the checker resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `regclass`: a relation, `schema.name`.
    Relation,
    /// `regnamespace`: a schema.
    Schema,
    /// `regproc`: a function by name.
    Function,
    /// `regtype`: a type, as the type grammar reads it.
    Type,
    /// `regoper`, `regconfig`, `regdictionary`, `regcollation`: a built-in
    /// object, one name or `pg_catalog.name`.
    Builtin,
    /// `regrole`, `regprocedure`, `regoperator`, a name the catalog gives no
    /// type (`oid`), or a reg* type this host does not know: refused.
    Refused(&'static str),
}

impl Kind {
    fn of(reg: &str) -> Kind {
        match reg {
            "regclass" => Kind::Relation,
            "regnamespace" => Kind::Schema,
            "regproc" => Kind::Function,
            "regtype" => Kind::Type,
            "regoper" | "regconfig" | "regdictionary" | "regcollation" => Kind::Builtin,
            "regrole" => Kind::Refused("a role: roles belong to the operator"),
            "regprocedure" | "regoperator" => {
                Kind::Refused("a signature, which the checker does not read: name the function with regproc")
            }
            "oid" => Kind::Refused(
                "an object whose kind the catalog does not say (a text twin of an oid argument), so no grant can be checked",
            ),
            _ => Kind::Refused("an object of a reg* type this host does not know"),
        }
    }
}

/// Whether a type name (the parse tree's `names`) is a reg* type: its last
/// part, unqualified or in `pg_catalog`.
pub(super) fn reg_type(names: &[&str]) -> Option<&'static str> {
    const REG: &[&str] = &[
        "regclass",
        "regcollation",
        "regconfig",
        "regdictionary",
        "regnamespace",
        "regoper",
        "regoperator",
        "regproc",
        "regprocedure",
        "regrole",
        "regtype",
    ];
    match names {
        [name] | ["pg_catalog", name] => REG.iter().find(|r| *r == name).copied(),
        _ => None,
    }
}

/// The constant an argument holds: `Some(text)` for a string literal (or a
/// cast of one), `None` for NULL (which names nothing); an error for
/// anything else, which the checker cannot read.
fn constant_text(arg: &Value) -> Result<Option<&str>, ()> {
    let node = arg.get("node").and_then(Value::as_object).and_then(|n| n.iter().next());
    match node {
        Some((kind, body)) if kind == "AConst" => {
            if body.get("isnull").and_then(Value::as_bool) == Some(true) {
                return Ok(None);
            }
            body.pointer("/val/Sval/sval").and_then(Value::as_str).map(Some).ok_or(())
        }
        Some((kind, body)) if kind == "TypeCast" => body.get("arg").map_or(Err(()), constant_text),
        _ => Err(()),
    }
}

impl Checker {
    /// The arguments of `pg_catalog.function(args)` that name an object.
    pub(super) fn named_arguments(&self, function: &str, args: &[Value], variadic: bool) -> Result<(), Refusal> {
        let named = self.catalog.name_args(function, args.len());
        if named.is_empty() {
            return Ok(());
        }
        if variadic {
            return refuse(format!("{function}(VARIADIC …) names objects the checker cannot read; pass each name"));
        }
        for (position, kind) in named {
            let Some(arg) = args.get(position) else { continue };
            let what = format!("{function}(…)'s argument {}", position + 1);
            let Ok(text) = constant_text(arg) else {
                return refuse(format!(
                    "{what} names {} by text and is not a constant: the checker can only check a name it can read; \
                     write it as a literal ('schema.name')",
                    noun(kind)
                ));
            };
            self.named(kind, text, name_use(function), &what)?;
        }
        Ok(())
    }

    /// A cast to a reg* type (`'s.t'::regclass`): a name lookup, held to
    /// the same rules as `to_regclass`.
    pub(super) fn named_by_cast(&self, reg: &str, arg: &Value, array: bool) -> Result<(), Refusal> {
        let what = format!("a cast to {reg}");
        if array {
            return refuse(format!("{what}[] names objects the checker does not read one by one; cast each name"));
        }
        match constant_text(arg) {
            Ok(text) => self.named(reg, text, Some(NameUse::Lookup), &what),
            Err(()) => refuse(format!(
                "{what} resolves a name, and this one is not a constant: the checker can only check a name it can \
                 read; write it as a literal ('schema.name'::{reg})"
            )),
        }
    }

    /// One name of a reg* `kind`, used as `how` (None: a use the policy
    /// does not know).
    fn named(&self, reg: &str, text: Option<&str>, how: Option<NameUse>, what: &str) -> Result<(), Refusal> {
        let Some(text) = text else { return Ok(()) };
        let kind = Kind::of(reg);
        if let Kind::Refused(why) = kind {
            return refuse(format!("{what} names {why}"));
        }
        if text.trim() == "-"
            || (text.starts_with(|c: char| c.is_ascii_digit()) && text.bytes().all(|b| b.is_ascii_digit()))
        {
            return refuse(format!("{what} names an object by number ({text}), which no grant names; write its name"));
        }
        let parts = match kind {
            Kind::Type => type_name(text),
            _ => qualified_name(text),
        }
        .or_else(|e| refuse(format!("{what}: `{text}` {e}")))?;
        if parts.first().is_some_and(|s| s == LEDGER_SCHEMA) {
            return refuse(format!("{what} names the ledger ({text}): it belongs to the host; no plugin may touch it"));
        }
        match kind {
            Kind::Relation => self.named_relation(&parts, how, what),
            Kind::Schema => match (parts.as_slice(), how) {
                ([schema], Some(NameUse::Lookup)) if self.schema_named(schema) => Ok(()),
                ([schema], Some(NameUse::Lookup)) => {
                    refuse(format!("{what} looks up schema {schema}, which none of the plugin's grants names"))
                }
                ([_], _) => {
                    refuse(format!("{what} names a schema, and the checker does not know what the function does to it"))
                }
                _ => refuse(format!("{what}: a schema's name has one part, not `{text}`")),
            },
            Kind::Function => {
                let (schema, name) = match parts.as_slice() {
                    [name] => ("pg_catalog", name.as_str()),
                    [schema, name] => (schema.as_str(), name.as_str()),
                    _ => return refuse(format!("{what}: a function's name has at most two parts, not `{text}`")),
                };
                let full = format!("{schema}.{name}");
                if (schema == "pg_catalog" && SAFE_FUNCTIONS.contains(&name)) || self.grants.functions.contains(&full) {
                    return Ok(());
                }
                refuse_grant(format!("{what} names function {full}, which is not granted"), "functions", &full)
            }
            Kind::Type | Kind::Builtin => match parts.as_slice() {
                [_] => Ok(()),
                [schema, _] if schema == "pg_catalog" => Ok(()),
                _ => {
                    refuse(format!("{what} names {text}, which is not built in: only unqualified or pg_catalog names"))
                }
            },
            Kind::Refused(_) => Ok(()),
        }
    }

    /// A relation named by text: `schema.name`, used as `how` allows.
    fn named_relation(&self, parts: &[String], how: Option<NameUse>, what: &str) -> Result<(), Refusal> {
        let (schema, name) = match parts {
            [schema, name] => (schema.as_str(), name.as_str()),
            [name] => {
                return refuse(format!(
                    "{what} names the unqualified relation `{name}`: name it as schema.name (search_path is pinned \
                     to pg_catalog, pg_temp)"
                ))
            }
            _ => return refuse(format!("{what}: name the relation as schema.name, not {}", parts.join("."))),
        };
        let full = format!("{schema}.{name}");
        let temp = schema == "pg_temp" || schema.starts_with("pg_temp_");
        let Some(how) = how else {
            return refuse(format!("{what} names {full}, and the checker does not know what the function does to it"));
        };
        if temp && how != NameUse::Lookup {
            return refuse("temporary relations are not allowed");
        }
        let has = |key: &[String]| key.contains(&full);
        let g = &self.grants;
        match how {
            // A lookup only resolves the name: PostgreSQL asks USAGE on its
            // schema, which a plugin's role holds on the schemas its grants
            // name (and on pg_catalog, and its own temporary schema).
            NameUse::Lookup if temp || schema == "pg_catalog" || self.schema_named(schema) => Ok(()),
            NameUse::Lookup => refuse(format!("{what} looks up {full}, in a schema none of the plugin's grants names")),
            NameUse::Read if self.allows(Op::Read, &full) => Ok(()),
            NameUse::Read => refuse_grant(format!("{what} reads {full}, and reading it is not granted"), "read", &full),
            NameUse::Sequence | NameUse::Draw | NameUse::Set if !has(&g.sequences) => {
                refuse_grant(format!("{what} uses the sequence {full}, which is not granted"), "sequences", &full)
            }
            NameUse::Draw | NameUse::Set if self.read_only => {
                refuse(format!("{what} advances or sets the sequence {full}, a write, and this call is read-only"))
            }
            // PostgreSQL asks UPDATE for setval; USAGE (what `sequences`
            // gives a role) allows nextval and currval only.
            NameUse::Set if !self.allows(Op::Update, &full) => refuse_grant(
                format!("{what} sets the sequence {full}, which needs an update grant on it besides sequences"),
                "update",
                &full,
            ),
            NameUse::Sequence | NameUse::Draw | NameUse::Set => Ok(()),
        }
    }

    /// Whether any grant names an object in `schema` (its role then holds
    /// USAGE on it).
    fn schema_named(&self, schema: &str) -> bool {
        let g = &self.grants;
        [&g.read, &g.insert, &g.update, &g.delete, &g.create, &g.drop, &g.sequences, &g.references, &g.functions]
            .into_iter()
            .flatten()
            .any(|object| object.split_once('.').is_some_and(|(s, _)| s == schema))
    }
}

fn noun(reg: &str) -> &'static str {
    match reg {
        "regclass" => "a relation",
        "regnamespace" => "a schema",
        "regproc" | "regprocedure" => "a function",
        "regtype" => "a type",
        "regrole" => "a role",
        _ => "an object",
    }
}

/// The parts of a qualified name as PostgreSQL's `SplitIdentifierString`
/// reads it for a reg* input (`stringToQualifiedNameList`): `.`-separated,
/// whitespace around parts skipped, a quoted part taken as written (`""`
/// is one quote), an unquoted one lower-cased (ASCII only: a non-ASCII
/// unquoted part is refused, since a single-byte server encoding would
/// fold it by its locale). A part over 63 bytes is refused (the server
/// would truncate it), and so is anything the server would call invalid.
pub(super) fn qualified_name(text: &str) -> Result<Vec<String>, String> {
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c);
    let b = text.as_bytes();
    let mut i = 0;
    let mut parts = Vec::new();
    while i < b.len() && space(b[i]) {
        i += 1;
    }
    if i == b.len() {
        return Err("is not a name".into());
    }
    loop {
        let mut part = Vec::new();
        if b[i] == b'"' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err("has an unclosed quote".into()),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                        part.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        part.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != b'.' && !space(b[i]) {
                i += 1;
            }
            if i == start {
                return Err("has an empty part".into());
            }
            if b[start..i].iter().any(|c| *c >= 0x80) {
                return Err("has a non-ASCII part that is not quoted; quote it".into());
            }
            part = b[start..i].to_ascii_lowercase();
        }
        while i < b.len() && space(b[i]) {
            i += 1;
        }
        let part = String::from_utf8(part).map_err(|_| "is not UTF-8".to_string())?;
        if part.is_empty() {
            return Err("has an empty part".into());
        }
        if part.len() > MAX_IDENT {
            return Err(format!("has a part longer than {MAX_IDENT} bytes, which the server would truncate"));
        }
        parts.push(part);
        match b.get(i) {
            None => return Ok(parts),
            Some(b'.') => {
                i += 1;
                while i < b.len() && space(b[i]) {
                    i += 1;
                }
                if i == b.len() {
                    return Err("ends with a dot".into());
                }
            }
            Some(_) => return Err("is not a valid name".into()),
        }
    }
}

/// A type's name as `regtype` reads it (the type grammar: `int4[]`,
/// `double precision`, `pg_catalog.numeric(10,2)`), through the same parser:
/// `SELECT NULL::<text>` must be one cast of NULL to one type name, whose
/// qualified name is returned.
fn type_name(text: &str) -> Result<Vec<String>, String> {
    let invalid = || "is not a type name the checker can read".to_string();
    let parsed = pg_query::parse(&format!("SELECT NULL::{text}"), 0).map_err(|_| invalid())?;
    let [stmt] = parsed.protobuf.stmts.as_slice() else { return Err(invalid()) };
    use pg_query::protobuf::node::Node as N;
    let Some(N::SelectStmt(select)) = stmt.stmt.as_ref().and_then(|s| s.node.as_ref()) else { return Err(invalid()) };
    let [target] = select.target_list.as_slice() else { return Err(invalid()) };
    let Some(N::ResTarget(target)) = &target.node else { return Err(invalid()) };
    let Some(N::TypeCast(cast)) = target.val.as_ref().and_then(|v| v.node.as_ref()) else { return Err(invalid()) };
    let constant_null = matches!(cast.arg.as_ref().and_then(|a| a.node.as_ref()), Some(N::AConst(c)) if c.isnull);
    let plain = select.from_clause.is_empty() && select.where_clause.is_none() && select.with_clause.is_none();
    let Some(ty) = cast.type_name.as_ref().filter(|_| constant_null && plain) else { return Err(invalid()) };
    let typmods_constant = ty.typmods.iter().all(|m| matches!(&m.node, Some(N::AConst(_))));
    if !typmods_constant || ty.setof || ty.pct_type {
        return Err(invalid());
    }
    ty.names
        .iter()
        .map(|n| match &n.node {
            Some(N::String(s)) => Ok(s.sval.clone()),
            _ => Err(invalid()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_split_and_folded_as_the_server_does() {
        let ok = |t: &str| qualified_name(t).unwrap();
        assert_eq!(ok("one_roof.team"), ["one_roof", "team"]);
        assert_eq!(ok("  ONE_ROOF . Team  "), ["one_roof", "team"]);
        assert_eq!(ok(r#""ONE_ROOF".team"#), ["ONE_ROOF", "team"]);
        assert_eq!(ok(r#""a.b"."c""d""#), ["a.b", "c\"d"]);
        assert_eq!(ok(r#""rollout_ledger"."x""#), ["rollout_ledger", "x"]);
        assert_eq!(ok("+"), ["+"]);
        for bad in ["", "  ", "a..b", "a.", ".a", "\"a", "a b", "\"\".x", "ÄB.c", &"x".repeat(64)] {
            assert!(qualified_name(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(ok(&"x".repeat(63)).len(), 1);
    }

    #[test]
    fn type_names_are_read_by_the_type_grammar() {
        assert_eq!(type_name("int4[]").unwrap(), ["int4"]);
        assert_eq!(type_name("double precision").unwrap(), ["pg_catalog", "float8"]);
        assert_eq!(type_name("trap.dom").unwrap(), ["trap", "dom"]);
        assert!(type_name("int4) FROM one_roof.team --").is_err());
        assert!(type_name("int4; SELECT 1").is_err());
        assert!(type_name("numeric((SELECT 1))").is_err());
    }
}
