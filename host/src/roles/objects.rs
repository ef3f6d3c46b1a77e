//! The role wall's own objects in the database, in one place: the schema
//! `rollout_roles` (`host/sql/roles.sql`), its functions (bodies in
//! `host/sql/roles/*.sql`, pinned by digest), the deferred trigger, and who
//! owns and may use each. `host roles apply` runs these statements,
//! `host grants --role-sql` prints them, and the proof checks the catalog
//! against the same definitions.
//!
//! The bodies are written into the SQL as standard string literals
//! ([`crate::quote::literal`]), never dollar-quoted: the printed script
//! has no delimiter a name could close.

use super::{ADMIN, WALL_SCHEMA};
use crate::quote::{ident, literal};
use sha2::{Digest, Sha256};

/// The tables and schema (idempotent, no names in it).
pub const TABLES: &str = include_str!("../../sql/roles.sql");

/// The `search_path` every wall function runs under: the catalog first,
/// the session's temporary schema last (never first, where PostgreSQL
/// puts it when it is not named).
pub const SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// Who may call a wall function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The runner (the work session's login role): enter, leave.
    Runner,
    /// The operator's control connection: register, unregister.
    Operator,
    /// Nobody (a trigger function).
    Nobody,
}

/// One function of the wall.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    /// Arguments as `pg_get_function_arguments` prints them.
    pub arguments: &'static str,
    /// Argument types as `pg_get_function_identity_arguments` prints them
    /// without names, for GRANT/REVOKE/ALTER.
    pub signature: &'static str,
    pub returns: &'static str,
    /// Runs as its owner (the admin role) rather than as its caller.
    pub definer: bool,
    pub caller: Caller,
    pub body: &'static str,
}

impl Function {
    /// `rollout_roles.name(types)`, quoted.
    pub fn qualified(&self) -> String {
        format!("{}.{}({})", ident(WALL_SCHEMA), ident(self.name), self.signature)
    }

    /// The sha256 of the body as the catalog keeps it (`prosrc`).
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.body.as_bytes()))
    }

    /// `CREATE OR REPLACE FUNCTION …` with the body as a string literal.
    pub fn create(&self) -> String {
        let security = if self.definer { "SECURITY DEFINER" } else { "SECURITY INVOKER" };
        format!(
            "CREATE OR REPLACE FUNCTION {}.{}({}) RETURNS {} LANGUAGE plpgsql {security} SET search_path = {SEARCH_PATH} AS {};",
            ident(WALL_SCHEMA),
            ident(self.name),
            self.arguments,
            self.returns,
            literal(self.body)
        )
    }
}

/// Every function of the wall.
pub const FUNCTIONS: [Function; 5] = [
    Function {
        name: "enter",
        arguments: "key bytea, role name",
        signature: "bytea, name",
        returns: "name",
        definer: true,
        caller: Caller::Runner,
        body: include_str!("../../sql/roles/enter.sql"),
    },
    Function {
        name: "leave",
        arguments: "key bytea",
        signature: "bytea",
        returns: "void",
        definer: true,
        caller: Caller::Runner,
        body: include_str!("../../sql/roles/leave.sql"),
    },
    Function {
        name: "register",
        arguments: "key_digest bytea",
        signature: "bytea",
        returns: "void",
        definer: true,
        caller: Caller::Operator,
        body: include_str!("../../sql/roles/register.sql"),
    },
    Function {
        name: "unregister",
        arguments: "key_digest bytea",
        signature: "bytea",
        returns: "void",
        definer: true,
        caller: Caller::Operator,
        body: include_str!("../../sql/roles/unregister.sql"),
    },
    Function {
        name: "left_nothing",
        arguments: "",
        signature: "",
        returns: "trigger",
        definer: false,
        caller: Caller::Nobody,
        body: include_str!("../../sql/roles/left_nothing.sql"),
    },
];

/// The tables of the wall (all owned by the admin role).
pub const TABLE_NAMES: [&str; 3] = ["allowed", "key", "entry"];

/// The wall's table `name`, quoted.
pub fn table(name: &str) -> String {
    format!("{}.{}", ident(WALL_SCHEMA), ident(name))
}

/// The trigger that refuses a COMMIT holding a membership.
pub const TRIGGER: &str = "left_nothing";

/// The statements that create the wall's objects, owned by the admin
/// role, usable by `runner` (enter, leave) and `operator` (register,
/// unregister, reading the allow-list), and by nobody else.
pub fn statements(runner: &str, operator: &str) -> Vec<String> {
    let admin = ident(ADMIN);
    let schema = ident(WALL_SCHEMA);
    let mut out: Vec<String> = Vec::new();
    out.extend(split_statements(TABLES));
    for f in &FUNCTIONS {
        out.push(f.create());
    }
    let entry = table("entry");
    out.push(format!("DROP TRIGGER IF EXISTS {} ON {entry};", ident(TRIGGER)));
    out.push(format!(
        "CREATE CONSTRAINT TRIGGER {} AFTER INSERT ON {entry} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {}.{}();",
        ident(TRIGGER),
        schema,
        ident(TRIGGER)
    ));
    out.push(format!("ALTER SCHEMA {schema} OWNER TO {admin};"));
    out.push(format!("REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;"));
    for t in TABLE_NAMES {
        out.push(format!("ALTER TABLE {} OWNER TO {admin};", table(t)));
        out.push(format!("REVOKE ALL ON TABLE {} FROM PUBLIC;", table(t)));
    }
    for f in &FUNCTIONS {
        out.push(format!("ALTER FUNCTION {} OWNER TO {admin};", f.qualified()));
        out.push(format!("REVOKE ALL ON FUNCTION {} FROM PUBLIC;", f.qualified()));
    }
    out.extend(usage(runner, Caller::Runner));
    out.extend(usage(operator, Caller::Operator));
    out
}

/// What `who` needs of the wall to play `caller`: USAGE on the schema and
/// EXECUTE on its functions (the operator also reads the allow-list, for
/// the proof).
pub fn usage(who: &str, caller: Caller) -> Vec<String> {
    let who = ident(who);
    let mut out = vec![format!("GRANT USAGE ON SCHEMA {} TO {who};", ident(WALL_SCHEMA))];
    for f in FUNCTIONS.iter().filter(|f| f.caller == caller) {
        out.push(format!("GRANT EXECUTE ON FUNCTION {} TO {who};", f.qualified()));
    }
    if caller == Caller::Operator {
        out.push(format!("GRANT SELECT ON TABLE {} TO {who};", table("allowed")));
    }
    out
}

/// `role` may be entered (`rollout_roles.enter`): listed in the allow-list.
pub fn allow(role: &str) -> String {
    format!("INSERT INTO {} (role_name) VALUES ({}) ON CONFLICT DO NOTHING;", table("allowed"), literal(role))
}

/// The statements of a file of the host's own SQL, split at `;` line ends
/// (the file has no function bodies or strings holding one).
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let code = line.split("--").next().unwrap_or("").trim_end();
        if code.trim().is_empty() {
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(code);
        if code.ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// `sql` with every `$$`-quoted body of the host's own file (the ledger's
/// trigger function) written as a string literal instead, so that a
/// printed script holds no dollar quote at all.
pub fn without_dollar_quotes(sql: &str) -> String {
    let parts: Vec<&str> = sql.split("$$").collect();
    debug_assert!(parts.len() % 2 == 1, "an unclosed $$ in the host's own SQL");
    parts.iter().enumerate().map(|(i, part)| if i % 2 == 1 { literal(part) } else { part.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_sql_has_no_dollar_quote_and_every_body_is_a_literal() {
        for s in statements("rollout_runner", "op") {
            assert!(!s.contains('$'), "{s}");
        }
        let ledger = without_dollar_quotes(include_str!("../../sql/ledger.sql"));
        assert!(!ledger.contains('$'), "{ledger}");
        assert!(ledger
            .contains("AS '\nBEGIN\n    RAISE EXCEPTION ''rollout_ledger.% is append-only'', TG_TABLE_NAME;\nEND\n';"));
        assert_eq!(split_statements(TABLES).len(), 4);
        assert!(FUNCTIONS.iter().all(|f| f.digest().len() == 64));
    }
}
