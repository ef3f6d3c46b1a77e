//! Grants a reviewer must never give silently: objects that reach past the
//! tier's tables and transaction (server files and programs, large objects,
//! settings, other sessions, other servers) or catalogs holding secrets.
//!
//! Where PostgreSQL itself decides, the list is its decision, read from the
//! catalog of a fresh server (`dangerous.sql` → `dangerous.txt`: what it
//! does not let PUBLIC use, and the large-object functions), and
//! `tests/dangerous.rs` fails when the server the tests run says otherwise.
//! The rest is [`WRITTEN`] here, each entry with its class. A manifest
//! naming one under any grant key is refused at load ([`Class::Never`]
//! classes), or needs `acknowledge = ["schema.name"]` beside the grant
//! ([`Class::acknowledgeable`]): `host grants` shows that as a WARNING and
//! the lock file records it. The list in docs/manifest-and-sql.md is
//! [`readme`]'s output.

/// Why an object is dangerous to grant; each class says what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Functions PostgreSQL runs only for superusers and the roles they
    /// grant (derived): server files and programs, configuration, WAL.
    Superuser,
    /// Large objects (derived functions, and their two catalogs).
    LargeObjects,
    /// Relations holding secrets (derived: PUBLIC may not read them; and
    /// the user-mapping views that show passwords to owners).
    Secrets,
    /// `set_config`: the session's settings belong to the host.
    Settings,
    /// Ending or cancelling other sessions.
    Sessions,
    /// Connecting from the server to other servers.
    Reach,
    /// Reading every setting, secrets included (acknowledgeable).
    ReadsSettings,
    /// Reading other sessions' statements (acknowledgeable).
    ReadsSessions,
    /// Messages to other sessions at commit (acknowledgeable).
    Notify,
}

impl Class {
    /// Every class, in the order docs/manifest-and-sql.md lists them.
    pub const ALL: [Class; 9] = [
        Class::Superuser,
        Class::LargeObjects,
        Class::Secrets,
        Class::Settings,
        Class::Sessions,
        Class::Reach,
        Class::ReadsSettings,
        Class::ReadsSessions,
        Class::Notify,
    ];

    /// Whether a manifest may hold it with an explicit `acknowledge` (a
    /// real use exists: a gate counting the sessions that would block a
    /// tier, a probe reading a setting the application relies on, a tier
    /// telling the application to reload). The others are never granted.
    pub fn acknowledgeable(self) -> bool {
        matches!(self, Class::ReadsSettings | Class::ReadsSessions | Class::Notify)
    }

    /// What granting it would let a plugin do.
    pub fn why(self) -> &'static str {
        match self {
            Class::Superuser => {
                "PostgreSQL runs it only for superusers and the roles they grant it to: it reaches the server's \
                 files and programs, configuration, logs, WAL, backups, replication or statistics"
            }
            Class::LargeObjects => {
                "large objects live outside every table a grant can name (and lo_import/lo_export reach server files)"
            }
            Class::Secrets => {
                "it holds secrets (password hashes, user-mapping passwords, connection strings, configuration \
                 files, sampled column values), which PostgreSQL does not let PUBLIC read"
            }
            Class::Settings => {
                "it changes the session's settings, which belong to the host (role, search_path, statement_timeout)"
            }
            Class::Sessions => "it ends or cancels other sessions, the host's own included",
            Class::Reach => "it connects from the database server to other servers",
            Class::ReadsSettings => {
                "it reads every server setting, secrets included for a superuser (primary_conninfo's password)"
            }
            Class::ReadsSessions => {
                "it shows other sessions' statements, which can hold secrets (ALTER ROLE … PASSWORD '…')"
            }
            Class::Notify => "it sends a message to every session listening on the channel when the tier commits",
        }
    }

    /// What a plugin author does instead.
    pub fn instead(self) -> &'static str {
        match self {
            Class::Superuser => "server administration is the operator's, outside a rollout",
            Class::LargeObjects => "keep the data in a table column (bytea) and grant that table",
            Class::Secrets => "read pg_catalog.pg_roles for role attributes, and the table itself, not its statistics",
            Class::Settings => "declare the tier's limits under [limits]; the host sets them",
            Class::Sessions => {
                "a gate can count the sessions that would block (acknowledged pg_stat_activity) and say BLOCKED"
            }
            Class::Reach => "a rollout touches one database; run a plan against the other one",
            Class::ReadsSettings | Class::ReadsSessions | Class::Notify => "",
        }
    }

    /// The docs' name for the class.
    fn title(self) -> &'static str {
        match self {
            Class::Superuser => "Superuser functions",
            Class::LargeObjects => "Large objects",
            Class::Secrets => "Catalogs holding secrets",
            Class::Settings => "Settings",
            Class::Sessions => "Other sessions",
            Class::Reach => "Other servers",
            Class::ReadsSettings => "Reading settings",
            Class::ReadsSessions => "Other sessions' statements",
            Class::Notify => "Notifications",
        }
    }

    /// The class a line of `dangerous.txt` names.
    fn derived(name: &str) -> Option<Class> {
        match name {
            "superuser" => Some(Class::Superuser),
            "large-object" => Some(Class::LargeObjects),
            "catalog" => Some(Class::Secrets),
            _ => None,
        }
    }
}

/// What the catalog cannot say. `*.` matches any schema (an extension can
/// live in any), a trailing `*` any rest of the name.
pub const WRITTEN: &[(&str, Class)] = &[
    ("pg_catalog.pg_largeobject_metadata", Class::LargeObjects),
    ("pg_catalog.pg_user_mappings", Class::Secrets),
    ("information_schema.user_mapping_options", Class::Secrets),
    ("information_schema.user_mappings", Class::Secrets),
    ("pg_catalog.set_config", Class::Settings),
    ("pg_catalog.pg_terminate_backend", Class::Sessions),
    ("pg_catalog.pg_cancel_backend", Class::Sessions),
    ("*.dblink", Class::Reach),
    ("*.dblink_*", Class::Reach),
    ("*.postgres_fdw_*", Class::Reach),
    // adminpack: server files, superuser only.
    ("*.pg_file_write", Class::Superuser),
    ("*.pg_file_rename", Class::Superuser),
    ("*.pg_file_unlink", Class::Superuser),
    ("*.pg_file_sync", Class::Superuser),
    ("*.pg_logdir_ls", Class::Superuser),
    ("*.pg_stat_statements_reset", Class::Superuser),
    ("pg_catalog.current_setting", Class::ReadsSettings),
    ("pg_catalog.pg_settings", Class::ReadsSettings),
    ("pg_catalog.pg_show_all_settings", Class::ReadsSettings),
    ("pg_catalog.pg_stat_activity", Class::ReadsSessions),
    ("pg_catalog.pg_stat_get_activity", Class::ReadsSessions),
    ("pg_catalog.pg_stat_get_backend_activity", Class::ReadsSessions),
    ("*.pg_stat_statements", Class::ReadsSessions),
    ("*.pg_stat_statements_info", Class::ReadsSessions),
    ("pg_catalog.pg_notify", Class::Notify),
];

/// The catalog's list (`dangerous.txt`), as `(class, schema.name)`.
pub fn derived() -> impl Iterator<Item = (Class, &'static str)> {
    include_str!("dangerous.txt").lines().filter_map(|l| {
        let (class, name) = l.trim().split_once(' ')?;
        Some((Class::derived(class)?, name))
    })
}

/// The text `dangerous.txt` holds, for the test that compares it with the
/// server's catalog.
pub fn derived_text() -> &'static str {
    include_str!("dangerous.txt")
}

/// Whether a `WRITTEN` pattern names `object` (`schema.name`).
fn matches(pattern: &str, object: &str) -> bool {
    let (Some((ps, pn)), Some((os, on))) = (pattern.split_once('.'), object.split_once('.')) else {
        return false;
    };
    let schema = ps == "*" || ps == os;
    let name = match pn.strip_suffix('*') {
        Some(prefix) => on.starts_with(prefix),
        None => pn == on,
    };
    schema && name
}

/// The class of a granted `schema.name`, if it is dangerous. Names only:
/// a grant names a function with every overload, and a relation and a
/// function may share a name (`pg_catalog.pg_hba_file_rules`).
pub fn classify(object: &str) -> Option<Class> {
    derived()
        .find(|(_, name)| *name == object)
        .map(|(class, _)| class)
        .or_else(|| WRITTEN.iter().find(|(pattern, _)| matches(pattern, object)).map(|(_, class)| *class))
}

/// Why a manifest may not grant `object` of `class`, and what to do.
pub fn refusal(object: &str, class: Class) -> String {
    if class.acknowledgeable() {
        format!(
            "`{object}` is granted only with an acknowledgement: {}; to grant it anyway, add \
             `acknowledge = [\"{object}\"]` under [grants] (host grants shows it as a WARNING and the lock file \
             records it)",
            class.why()
        )
    } else {
        format!("no plugin may be granted `{object}`: {}; instead, {}", class.why(), class.instead())
    }
}

/// The paragraph of what no manifest may grant in
/// docs/manifest-and-sql.md: generated, so the docs' list is the code's
/// (`tests/dangerous.rs` compares them).
pub fn readme() -> String {
    let mut out = String::from(
        "<!-- generated by host::manifest::dangerous::readme(); tests/dangerous.rs compares it with the code -->\n",
    );
    for (heading, acknowledgeable) in [
        ("**Never granted**: a manifest naming one under any grant key is refused at load, saying why and what to do instead.", false),
        ("**Granted only with `acknowledge = [\"schema.name\"]`** beside the grant: `host grants` shows each as a WARNING line, the lock file lists them (`acknowledged`), and `host run` says so before the gate.", true),
    ] {
        out.push_str(&format!("\n{heading}\n\n"));
        for class in Class::ALL.into_iter().filter(|c| c.acknowledgeable() == acknowledgeable) {
            let mut names: Vec<String> =
                derived().filter(|(c, _)| *c == class).map(|(_, n)| n.to_string()).collect();
            names.extend(WRITTEN.iter().filter(|(_, c)| *c == class).map(|(n, _)| n.to_string()));
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            out.push_str(&format!("- **{}** ({}): {}.\n", class.title(), class.why(), names.join(", ")));
        }
    }
    out.push_str("\n<!-- end of the generated list -->\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_is_found_by_name_and_pattern() {
        assert_eq!(classify("pg_catalog.pg_read_file"), Some(Class::Superuser));
        assert_eq!(classify("pg_catalog.lo_import"), Some(Class::Superuser));
        assert_eq!(classify("pg_catalog.lo_create"), Some(Class::LargeObjects));
        assert_eq!(classify("pg_catalog.pg_authid"), Some(Class::Secrets));
        assert_eq!(classify("pg_catalog.set_config"), Some(Class::Settings));
        assert_eq!(classify("pg_catalog.pg_terminate_backend"), Some(Class::Sessions));
        assert_eq!(classify("ext.dblink_exec"), Some(Class::Reach));
        assert_eq!(classify("public.dblink"), Some(Class::Reach));
        assert_eq!(classify("pg_catalog.current_setting"), Some(Class::ReadsSettings));
        assert_eq!(classify("pg_catalog.pg_stat_activity"), Some(Class::ReadsSessions));
        // A user's function of the same name in another schema is not the built-in one.
        assert_eq!(classify("public.pg_read_file"), None);
        assert_eq!(classify("public.set_config"), None);
        assert_eq!(classify("one_roof.team"), None);
        assert_eq!(classify("public.dblinker"), None);
        // Every class has at least one name, and the derived list was read.
        for class in Class::ALL {
            let n =
                derived().filter(|(c, _)| *c == class).count() + WRITTEN.iter().filter(|(_, c)| *c == class).count();
            assert!(n > 0, "{class:?} names nothing");
        }
        assert!(derived().count() > 50);
    }
}
