//! What PUBLIC — every role, the runner and each plugin's role among them
//! — holds that no role of the proof may (the catalog's scan), and where
//! `lo_compat_privileges` is on (then every role reads and writes every
//! large object): each a finding for PUBLIC, with the SQL that takes it
//! back.

use super::catalog::{Catalog, LoCompat};
use super::{Finding, Findings};
use crate::quote::ident;

/// PUBLIC's privileges: every role holds them, the runner too, so a
/// plugin that left its role would still have them. Only USAGE on a schema
/// (names and nothing else) stays.
pub(super) fn prove(out: &mut Vec<Finding>, catalog: &Catalog) {
    let mut f = Findings { role: "PUBLIC", out };
    for g in &catalog.public {
        let (on, columns) = match g.class.as_str() {
            "function" => ("ROUTINE", String::new()),
            "column" => ("TABLE", format!(" ({})", g.column)),
            other => (class_keyword(other), String::new()),
        };
        let what = match g.class.as_str() {
            "column" => format!(
                "holds {} on column {} of {}: every role holds it, the runner too",
                g.privilege, g.column, g.name
            ),
            class => format!("holds {} on {class} {}: every role holds it, the runner too", g.privilege, g.name),
        };
        // A parameter's name is the server's text (`ext.name` allowed):
        // each part quoted.
        let name = match g.class.as_str() {
            "parameter" => g.name.split('.').map(ident).collect::<Vec<_>>().join("."),
            _ => g.name.clone(),
        };
        f.add(&what, vec![format!("REVOKE {}{columns} ON {on} {name} FROM PUBLIC;", g.privilege)]);
    }
    for at in &catalog.lo_compat {
        let (where_, fix) = lo_compat(at);
        f.add(
            &format!(
                "can read and write every large object whatever its ACL: lo_compat_privileges is on {where_}, and \
                 every role holds it, the runner too"
            ),
            fix,
        );
    }
}

/// Where `lo_compat_privileges` is on, said, and the statements that turn it off.
fn lo_compat(at: &LoCompat) -> (String, Vec<String>) {
    const NAME: &str = "lo_compat_privileges";
    match at {
        LoCompat::Server(source) => (
            format!("in the server's configuration (its source: {source})"),
            vec![format!("ALTER SYSTEM SET {NAME} = off;"), "SELECT pg_reload_conf();".into()],
        ),
        LoCompat::Set { database, role } => match (database.is_empty(), role.is_empty()) {
            (false, true) => (
                format!("for the database {} (ALTER DATABASE … SET)", ident(database)),
                vec![format!("ALTER DATABASE {} RESET {NAME};", ident(database))],
            ),
            (true, false) => (
                format!("for the role {} (ALTER ROLE … SET)", ident(role)),
                vec![format!("ALTER ROLE {} RESET {NAME};", ident(role))],
            ),
            (false, false) => (
                format!(
                    "for the role {} in the database {} (ALTER ROLE … IN DATABASE … SET)",
                    ident(role),
                    ident(database)
                ),
                vec![format!("ALTER ROLE {} IN DATABASE {} RESET {NAME};", ident(role), ident(database))],
            ),
            (true, true) => {
                ("for every role (ALTER ROLE ALL SET)".to_string(), vec![format!("ALTER ROLE ALL RESET {NAME};")])
            }
        },
    }
}

fn class_keyword(class: &str) -> &'static str {
    match class {
        "sequence" => "SEQUENCE",
        "schema" => "SCHEMA",
        "database" => "DATABASE",
        "large object" => "LARGE OBJECT",
        "foreign data wrapper" => "FOREIGN DATA WRAPPER",
        "foreign server" => "FOREIGN SERVER",
        "tablespace" => "TABLESPACE",
        "parameter" => "PARAMETER",
        _ => "TABLE",
    }
}
