//! The role SQL: every plugin's restricted role holding exactly what
//! [`Roles`] says, the wall (runner, admin, writer, `rollout_roles`), and
//! what the plan needs to pass under them. `host roles apply` runs it in
//! one transaction; `host grants --role-sql` prints it for a person to read
//! or run with psql.
//!
//! By construction, nothing of a plugin's text can leave its place: every
//! identifier goes through [`ident`]/[`qualified`], every value through
//! [`literal`]; there is no `DO` block and no dollar quote; a comment holds
//! only host text and names shown by [`inert`] (no line break, no
//! backslash, nothing psql reads as input). What only the catalog can say
//! (the sequences behind an insert, a function's signatures) comes from
//! [`Derived`] when there is a database, and is said plainly when not.

use super::objects;
use super::{split, Handoff, PluginRole, Roles, ADMIN, WRITER};
use crate::quote::{ident, qualified};
use std::collections::{BTreeMap, BTreeSet};

/// One line of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A comment for the reader; its text is host text or [`inert`].
    Note(String),
    /// A statement, every name and value in it quoted.
    Sql(String),
}

/// The role SQL, as statements and notes.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub items: Vec<Item>,
}

impl Script {
    fn note(&mut self, text: impl Into<String>) {
        self.items.push(Item::Note(text.into()));
    }

    fn sql(&mut self, statement: impl Into<String>) {
        self.items.push(Item::Sql(statement.into()));
    }

    /// The statements alone, in order.
    pub fn statements(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|i| match i {
            Item::Sql(s) => Some(s.as_str()),
            Item::Note(_) => None,
        })
    }

    /// The script for psql: one transaction, comments as `--` lines.
    pub fn render(&self) -> String {
        let mut out = String::from("BEGIN;\n");
        for item in &self.items {
            match item {
                Item::Note(text) => {
                    for line in text.lines() {
                        out.push_str(&format!("-- {}\n", inert(line)));
                    }
                }
                Item::Sql(s) => {
                    out.push_str(s);
                    out.push('\n');
                }
            }
        }
        out.push_str("COMMIT;\n");
        out
    }
}

/// Text shown in a `--` comment: printable ASCII but the backslash, and
/// every other character as `<U+XXXX>`, so no name can end the comment or
/// say anything to psql.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (' '..='~').contains(&c) && c != '\\' {
            out.push(c);
        } else {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
    }
    out
}

/// What only the catalog says, read by `host roles apply`.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// Roles that exist already (altered rather than created).
    pub roles: BTreeSet<String>,
    /// Plugin role → the quoted sequences its inserts draw from (serial).
    pub sequences: BTreeMap<String, BTreeSet<String>>,
    /// Granted function (`schema.name`) → the quoted signature of each overload.
    pub functions: BTreeMap<String, Vec<String>>,
}

/// The whole script: the ledger and the wall, then the roles, then the
/// hand-offs. `operator` is the role of the host's control connection;
/// `derived` what the catalog says (None: no database, said so).
pub fn role_sql(roles: &Roles, operator: &str, derived: Option<&Derived>) -> Script {
    let mut s = Script::default();
    s.note(
        "Restricted roles: each plugin's calls run as its own role on a session authenticated as the runner,\n\
         which holds nothing and is a member of no role; `host roles prove` checks the result.",
    );
    if derived.is_none() {
        s.note("The ledger (host/sql/ledger.sql, as `host run` creates it): the writer's grants need its tables.");
        let ledger = objects::without_dollar_quotes(include_str!("../../sql/ledger.sql"));
        s.items.extend(ledger_statements(&ledger).into_iter().map(Item::Sql));
    }
    s.note("The wall's roles.");
    for (role, login) in [(roles.runner.as_str(), true), (ADMIN, false), (WRITER, false)] {
        create_role(&mut s, role, login, derived);
    }
    s.note("The wall's objects (host/sql/roles.sql and host/sql/roles/*.sql).");
    for stmt in objects::statements(&roles.runner, operator) {
        s.sql(stmt);
    }
    s.note("The ledger writer: the host's own ledger rows on the work session, nothing else.");
    for stmt in writer_grants() {
        s.sql(stmt);
    }
    wall_membership(&mut s, WRITER);
    for p in &roles.plugins {
        plugin(&mut s, roles, p, derived);
    }
    if !roles.handoffs.is_empty() {
        s.note(
            "Tables one plugin creates and a later one uses: the creator's role owns them, so it\n\
             hands the later role exactly its grants on them as it creates them.",
        );
    }
    for h in &roles.handoffs {
        let tables: Vec<&str> = h.for_tables.iter().map(String::as_str).collect();
        s.note(format!("{} creates {}", h.creator, tables.join(", ")));
        for line in handoff_sql(h) {
            s.sql(line);
        }
    }
    for why in &roles.impossible {
        s.note(format!("NOT POSSIBLE UNDER ROLES: {why}"));
    }
    s
}

/// The ledger's statements (the host's own file, its one body already a
/// literal): split at `;` that end a line.
fn ledger_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with("--")) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') && !in_literal(&current) {
            out.push(current.trim_end().to_string());
            current.clear();
        }
    }
    out
}

/// Whether `sql` ends inside a string literal (an odd number of quotes).
fn in_literal(sql: &str) -> bool {
    sql.matches('\'').count() % 2 == 1
}

/// `CREATE ROLE` with every attribute said (or `ALTER ROLE` to the same
/// when the role exists).
fn create_role(s: &mut Script, role: &str, login: bool, derived: Option<&Derived>) {
    let verb = if derived.is_some_and(|d| d.roles.contains(role)) { "ALTER" } else { "CREATE" };
    s.sql(format!("{verb} ROLE {} {};", ident(role), attributes(login)));
}

/// A role's attributes, every one said: only the runner logs in.
pub fn attributes(login: bool) -> String {
    let login = if login { "LOGIN" } else { "NOLOGIN" };
    format!("{login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS")
}

/// `CREATE ROLE` of a plugin's role, as the proof's fix gives it.
pub fn create_plugin_role(role: &str) -> String {
    format!("CREATE ROLE {} {};", ident(role), attributes(false))
}

/// The admin role may grant `role` (ADMIN OPTION), and `rollout_roles.enter`
/// may (the allow-list).
fn wall_membership(s: &mut Script, role: &str) {
    s.sql(format!("GRANT {} TO {} WITH ADMIN OPTION;", ident(role), ident(ADMIN)));
    s.sql(objects::allow(role));
}

/// The ledger tables and what the writer may do on each: the `applied`
/// and `rolled_back` rows (INSERT on tier_event and its sequence), a
/// batch's checkpoint (INSERT on step and its sequence) and the
/// rollout row's hold (`SELECT … FOR SHARE` reads id and outcome and needs
/// UPDATE on one column: `message`, the least of them).
pub const WRITER_GRANTS: &[(&str, &str, &str)] = &[
    ("schema", "rollout_ledger", "USAGE"),
    ("table", "rollout_ledger.tier_event", "INSERT"),
    ("sequence", "rollout_ledger.tier_event_id_seq", "USAGE"),
    ("table", "rollout_ledger.step", "INSERT"),
    ("sequence", "rollout_ledger.step_id_seq", "USAGE"),
    ("column", "rollout_ledger.rollout.id", "SELECT"),
    ("column", "rollout_ledger.rollout.outcome", "SELECT"),
    ("column", "rollout_ledger.rollout.message", "UPDATE"),
];

/// [`WRITER_GRANTS`] as statements.
pub fn writer_grants() -> Vec<String> {
    let to = ident(WRITER);
    WRITER_GRANTS
        .iter()
        .map(|(kind, name, privilege)| match *kind {
            "schema" => format!("GRANT {privilege} ON SCHEMA {} TO {to};", ident(name)),
            "sequence" => format!("GRANT {privilege} ON SEQUENCE {} TO {to};", qualified(name)),
            "column" => {
                let (table, column) = name.rsplit_once('.').unwrap_or((name, ""));
                format!("GRANT {privilege} ({}) ON TABLE {} TO {to};", ident(column), qualified(table))
            }
            _ => format!("GRANT {privilege} ON TABLE {} TO {to};", qualified(name)),
        })
        .collect()
}

fn plugin(s: &mut Script, roles: &Roles, p: &PluginRole, derived: Option<&Derived>) {
    let role = ident(&p.role);
    s.note(p.label.clone());
    create_role(s, &p.role, false, derived);
    wall_membership(s, &p.role);
    for schema in &p.usage {
        s.sql(format!("GRANT USAGE ON SCHEMA {} TO {role};", ident(schema)));
    }
    for schema in &p.create {
        let tables: Vec<String> =
            p.creates.iter().filter(|r| split(r).0 == schema).map(|r| format!("create = [{r}]")).collect();
        s.note(format!(
            "CREATE ON SCHEMA {schema}: broader than `{}` - the role may create any table, view, function or type in {schema}; \
             the grants check refuses all but those tables, and the proof after each tier refuses anything else it finds",
            tables.join(", ")
        ));
        s.sql(format!("GRANT CREATE ON SCHEMA {} TO {role};", ident(schema)));
    }
    for rel in p.owns.iter().filter(|r| !p.creates.contains(*r)) {
        s.note(format!("drop {rel}: only the owner may DROP"));
        s.sql(format!("ALTER TABLE {} OWNER TO {role};", qualified(rel)));
    }
    // A table another plugin creates does not exist yet: its creator hands
    // these over as it creates it (the hand-offs below).
    for (rel, privileges) in p.tables.iter().filter(|(r, _)| roles.creator_of(r).is_none()) {
        let list: Vec<&str> = privileges.iter().map(|x| x.as_sql()).collect();
        s.sql(format!("GRANT {} ON TABLE {} TO {role};", list.join(", "), qualified(rel)));
    }
    for ((rel, privilege), cols) in p.columns.iter().filter(|((r, _), _)| roles.creator_of(r).is_none()) {
        let cols: Vec<String> = cols.iter().map(|c| crate::quote::ident(c)).collect();
        s.sql(format!("GRANT {} ({}) ON TABLE {} TO {role};", privilege.as_sql(), cols.join(", "), qualified(rel)));
    }
    for seq in &p.sequences {
        s.sql(format!("GRANT USAGE ON SEQUENCE {} TO {role};", qualified(seq)));
    }
    draws(s, p, derived);
    for f in &p.functions {
        match derived.and_then(|d| d.functions.get(f)) {
            Some(overloads) => {
                for o in overloads {
                    s.sql(format!("GRANT EXECUTE ON ROUTINE {o} TO {role};"));
                }
            }
            None => s.note(format!(
                "Not derived without a database: EXECUTE on function {f} (its signatures are in the catalog); \
                 `host roles apply` grants it on each overload, `host roles prove` names what is missing"
            )),
        }
    }
}

/// `USAGE` on the sequences the inserted tables' column defaults draw from
/// (serial): the manifest names the tables, the catalog their sequences.
/// Identity columns need no grant (PostgreSQL does not check it there).
fn draws(s: &mut Script, p: &PluginRole, derived: Option<&Derived>) {
    if p.draws.is_empty() {
        return;
    }
    let Some(d) = derived else {
        let tables: Vec<&str> = p.draws.iter().map(String::as_str).collect();
        s.note(format!(
            "Not derived without a database: USAGE on the sequences the column defaults of {} draw from (serial), \
             which its inserts need; `host roles apply` grants them from the catalog, `host roles prove` names each",
            tables.join(", ")
        ));
        return;
    };
    for seq in d.sequences.get(&p.role).into_iter().flatten() {
        s.sql(format!("GRANT USAGE ON SEQUENCE {seq} TO {};", ident(&p.role)));
    }
}

/// The `ALTER DEFAULT PRIVILEGES` statements of one hand-off.
pub fn handoff_sql(h: &Handoff) -> Vec<String> {
    let mut out = Vec::new();
    let head = format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}", ident(&h.creator), ident(&h.schema));
    let list: Vec<&str> = h.tables.iter().map(|p| p.as_sql()).collect();
    out.push(format!("{head} GRANT {} ON TABLES TO {};", list.join(", "), ident(&h.grantee)));
    if h.sequences {
        out.push(format!("{head} GRANT USAGE ON SEQUENCES TO {};", ident(&h.grantee)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_cannot_end_its_comment_or_speak_to_psql() {
        for hostile in ["a\nb", "a\rb", "x\\! touch /tmp/p", "caf\u{e9}", "\u{2028}"] {
            let shown = inert(hostile);
            assert!(!shown.contains(['\n', '\r', '\\']) && shown.is_ascii(), "{shown:?}");
        }
        let mut s = Script::default();
        s.note("one\ntwo");
        assert_eq!(s.render(), "BEGIN;\n-- one\n-- two\nCOMMIT;\n");
    }

    #[test]
    fn the_ledger_splits_into_its_statements_with_the_body_whole() {
        let ledger = objects::without_dollar_quotes(include_str!("../../sql/ledger.sql"));
        let all = ledger_statements(&ledger);
        assert!(all.iter().all(|s| s.ends_with(';') && !in_literal(s)), "{all:#?}");
        assert!(all.iter().any(|s| s.starts_with("CREATE OR REPLACE FUNCTION") && s.contains("append-only")));
    }
}
