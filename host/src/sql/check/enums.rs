//! `ALTER TYPE schema.enum ADD VALUE [IF NOT EXISTS] 'v' [BEFORE|AFTER 'w']`
//! under an `alter` grant naming the type. Adding a label changes no stored
//! row and takes no table lock; PostgreSQL lets only the type's owner do
//! it, so the checker alone holds the line (as for ALTER TABLE). The new
//! value cannot be used before the tier commits (the server says "unsafe
//! use of new value"): use it in a later tier.

use super::ddl::{name_list_of, relation_named};
use super::walk::Walk;
use super::{obj, refuse, Op, Refusal};
use pg_query::protobuf::AlterEnumStmt;

/// Refused (renaming a value), or allowed against the type's alter grant.
pub(super) fn add_value(walk: &mut Walk, s: &AlterEnumStmt) -> Result<(), Refusal> {
    if !s.old_val.is_empty() {
        return refuse(
            "ALTER TYPE … RENAME VALUE is not allowed: every stored row and every query that names the old label \
             would change meaning at once; add the new value (ADD VALUE), move the rows to it in a later tier, \
             and leave the old one unused",
        );
    }
    let names = name_list_of(&s.type_name)?;
    let [schema, name] = names.as_slice() else {
        return refuse(format!("ALTER TYPE {}: name the type as schema.name", names.join(".")));
    };
    let rv = relation_named(schema, name);
    walk.relation(obj(&rv)?, Op::Alter)
}
