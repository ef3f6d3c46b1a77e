//! The password file (`~/.pgpass`, or `passfile`/`PGPASSFILE`) read as
//! libpq reads it: `host:port:database:user:password` lines, `*` matches
//! anything, `\:` and `\\` escape, the first matching line wins, and a file
//! that group or others can read is ignored with a warning.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What a lookup found: the password, and a warning to show the operator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub password: Option<String>,
    pub warning: Option<String>,
}

/// The password for `host` (a name, an address, or a socket directory;
/// `localhost` also matches the default socket directories), `port`,
/// `database` and `user`.
pub fn lookup(file: &Path, hosts: &[&str], port: u16, database: &str, user: &str) -> Found {
    let Ok(meta) = std::fs::metadata(file) else { return Found::default() };
    if !meta.is_file() {
        return Found {
            password: None,
            warning: Some(format!("password file {} is not a plain file; ignored", file.display())),
        };
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Found {
            password: None,
            warning: Some(format!(
                "password file {} has group or world access; permissions should be u=rw (0600) or less; ignored",
                file.display()
            )),
        };
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return Found {
            password: None,
            warning: Some(format!("cannot read the password file {}; ignored", file.display())),
        };
    };
    let port = port.to_string();
    let password = text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let fields = split(line);
        let [h, p, d, u, pw] = fields.as_slice() else { return None };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        (hosts.iter().any(|host| matches(h, host)) && matches(p, &port) && matches(d, database) && matches(u, user))
            .then(|| pw.clone())
    });
    Found { password, warning: None }
}

/// Splits a line on unescaped `:`; the fifth field keeps any later `:`.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("one field").extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let f = file(
            "# comment\nother:5432:*:*:nope\ndb.example:5432:directus:op:first\\:pw\\\\x\n*:*:*:op:second\n",
            0o600,
        );
        let pw = |h: &str, p, d, u| lookup(f.path(), &[h], p, d, u).password;
        assert_eq!(pw("db.example", 5432, "directus", "op").as_deref(), Some("first:pw\\x"));
        assert_eq!(pw("db.example", 5433, "directus", "op").as_deref(), Some("second"));
        assert_eq!(pw("db.example", 5432, "directus", "someone"), None);
    }

    #[test]
    fn the_password_field_keeps_colons() {
        let f = file("h:1:d:u:a:b:c\n", 0o600);
        assert_eq!(lookup(f.path(), &["h"], 1, "d", "u").password.as_deref(), Some("a:b:c"));
    }

    #[test]
    fn a_file_others_can_read_is_ignored_with_a_warning() {
        let f = file("*:*:*:*:secret\n", 0o644);
        let found = lookup(f.path(), &["h"], 5432, "d", "u");
        assert_eq!(found.password, None);
        assert!(found.warning.unwrap().contains("group or world access"));
        let f = file("*:*:*:*:secret\n", 0o640);
        assert_eq!(lookup(f.path(), &["h"], 5432, "d", "u").password, None);
    }

    #[test]
    fn a_missing_file_is_no_password_and_no_warning() {
        assert_eq!(lookup(Path::new("/nonexistent/.pgpass"), &["h"], 1, "d", "u"), Found::default());
    }
}
