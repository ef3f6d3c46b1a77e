//! Connection settings the way libpq reads them: a `postgres://` URL or a
//! `key=value` string, then the service file, then the `PG*` environment,
//! then libpq's defaults. Only keywords the host really honours are
//! accepted; any other is refused by name, so a setting that matters (a CRL,
//! a GSSAPI requirement) is never silently dropped.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Keywords the host understands, with the environment variable libpq reads
/// for each. The order is the order of `describe`-style listings.
pub const KEYWORDS: &[(&str, Option<&str>)] = &[
    ("service", Some("PGSERVICE")),
    ("servicefile", Some("PGSERVICEFILE")),
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("sslmode", Some("PGSSLMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("sslcrl", Some("PGSSLCRL")),
    ("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    ("sslnegotiation", Some("PGSSLNEGOTIATION")),
    ("sslsni", Some("PGSSLSNI")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("application_name", Some("PGAPPNAME")),
    ("options", Some("PGOPTIONS")),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("keepalives", None),
    ("keepalives_idle", None),
];

/// Keywords libpq has that the host does not implement: refused by name
/// rather than ignored, because each one changes security or routing.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("sslcrldir", "give the revocation list as one file with sslcrl"),
    ("sslpassword", "encrypted client keys are not supported; decrypt the key into a file only you can read"),
    ("sslcertmode", "client certificates are sent when sslcert names one"),
    ("requirepeer", "peer checks on unix sockets are not supported"),
    ("krbsrvname", "GSSAPI/Kerberos is not supported"),
    ("gsslib", "GSSAPI/Kerberos is not supported"),
    ("gssdelegation", "GSSAPI/Kerberos is not supported"),
    ("load_balance_hosts", "hosts are tried in the order given"),
    ("replication", "the host never opens a replication connection"),
    ("requiressl", "use sslmode=require"),
    ("ssl_max_protocol_version", "TLS 1.2 and 1.3 are both allowed"),
    ("require_auth", "not supported; use channel_binding=require to insist on SCRAM over TLS"),
];

/// Settings by keyword, as given (not yet defaulted).
pub type Values = BTreeMap<String, String>;

/// Parses a URL (`postgres://` or `postgresql://`) or a `key=value` string.
pub fn parse(s: &str) -> Result<Values> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("postgresql://").or_else(|| s.strip_prefix("postgres://")) {
        parse_url(rest)
    } else if s.contains('=') {
        parse_key_values(s)
    } else if s.contains("://") {
        bail!("the connection URL must start with postgres:// or postgresql://")
    } else {
        // psql treats a bare word as the database name.
        Ok(Values::from([("dbname".to_string(), s.to_string())]))
    }
}

/// Checks a keyword and its value; the error names the keyword, never the
/// value of a password.
fn put(values: &mut Values, key: &str, value: String) -> Result<()> {
    if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
        bail!("connection setting `{key}` is not supported by host: {why}");
    }
    // `ssl=true` is the JDBC spelling libpq accepts in URLs.
    if key == "ssl" {
        if value != "true" {
            bail!("connection setting `ssl` must be `true` (or use sslmode)");
        }
        values.insert("sslmode".into(), "require".into());
        return Ok(());
    }
    if !KEYWORDS.iter().any(|(k, _)| *k == key) {
        // Quote it only when it looks like a keyword, never a stray value.
        if key.len() <= 40 && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            bail!("unknown connection setting `{key}`");
        }
        bail!("unknown connection setting (not a libpq keyword)");
    }
    values.insert(key.to_string(), value);
    Ok(())
}

/// `key = value` pairs separated by spaces; values may be single-quoted,
/// with `\'` and `\\` escapes, as libpq reads them.
fn parse_key_values(s: &str) -> Result<Values> {
    let mut values = Values::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(values);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // Not quoted: the word could be the rest of an unquoted password.
            bail!("connection string: a word without `=` (quote values with spaces: password='a b')");
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => bail!("connection string: unterminated quoted value for `{key}`"),
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().context("connection string: `\\` at the end")?),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(if c == '\\' { chars.next().context("connection string: `\\` at the end")? } else { c });
            }
        }
        put(&mut values, &key, value)?;
    }
}

/// `[user[:password]@][host][:port][,...][/dbname][?key=value&...]`. The
/// credentials are found first (a password may hold `?`), and no error
/// quotes text that could be part of one.
fn parse_url(rest: &str) -> Result<Values> {
    let mut values = Values::new();
    let (userinfo, rest) = match rest.find('@') {
        Some(i) if !rest[..i].contains('/') => (Some(&rest[..i]), &rest[i + 1..]),
        _ => (None, rest),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            put(&mut values, "user", decode(user, "user")?)?;
        }
        if let Some(p) = password {
            put(&mut values, "password", decode(p, "password")?)?;
        }
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (hosts, dbname) = match rest.split_once('/') {
        Some((a, d)) => (a, Some(d)),
        None => (rest, None),
    };
    let (mut host_list, mut port_list) = (Vec::new(), Vec::new());
    for item in hosts.split(',').filter(|h| !h.is_empty()) {
        let (host, port) = if let Some(v6) = item.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').context("connection URL: `[` without `]` in the host")?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').context("connection URL: only `:port` may follow `[address]`")?),
            };
            (addr.to_string(), port)
        } else {
            match item.rsplit_once(':') {
                Some((h, p)) => (decode(h, "host")?, Some(p)),
                None => (decode(item, "host")?, None),
            }
        };
        if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
            bail!(
                "connection URL: a port is not a number (a password holding `@`, `/`, `?` or `:` must be \
                 percent-encoded, e.g. `%40` for `@`)"
            );
        }
        host_list.push(host);
        port_list.push(port.unwrap_or("").to_string());
    }
    if !host_list.is_empty() {
        put(&mut values, "host", host_list.join(","))?;
    }
    if port_list.iter().any(|p| !p.is_empty()) {
        put(&mut values, "port", port_list.join(","))?;
    }
    if let Some(d) = dbname.filter(|d| !d.is_empty()) {
        put(&mut values, "dbname", decode(d, "dbname")?)?;
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').context("connection URL: a query parameter has no `=`")?;
        let k = decode(k, "parameter name")?;
        let v = decode(v, &k)?;
        put(&mut values, &k, v)?;
    }
    Ok(values)
}

/// Percent-decoding; the error names the part, not its (maybe secret) text.
fn decode(s: &str, what: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(byte.with_context(|| format!("connection URL: bad %-escape in the {what}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("connection URL: the {what} is not UTF-8 once decoded"))
}

/// Where the environment and the file system come from: the process in
/// production, a fixed map in unit tests.
pub trait Environment {
    fn var(&self, key: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
    fn os_user(&self) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
    fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }
    fn os_user(&self) -> Option<String> {
        os_user()
    }
}

/// The user this process runs as, as libpq names it: the effective uid's
/// name in the password file (`/proc/self/status`, `/etc/passwd`; no
/// `getpwuid`, so no static buffer shared between threads), else `$USER`,
/// then `$LOGNAME` (a user only a directory service lists).
pub fn os_user() -> Option<String> {
    let from_file = || {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd_name(&passwd, effective_uid(&status)?)
    };
    let from_env = |key| std::env::var(key).ok().filter(|v: &String| !v.is_empty());
    from_file().or_else(|| from_env("USER")).or_else(|| from_env("LOGNAME"))
}

/// The effective uid in `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The name of `uid` in a password file (`name:x:uid:gid:…`).
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        let found: u32 = fields.nth(1)?.parse().ok()?;
        (found == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// Fills what the string left unset: the service file first, then the
/// environment, as libpq does. Defaults are applied by [`super::Settings`].
pub fn with_fallbacks(mut values: Values, env: &dyn Environment) -> Result<Values> {
    let service = values.get("service").cloned().or_else(|| env.var("PGSERVICE"));
    if let Some(name) = service {
        for (k, v) in service_values(&name, values.get("servicefile").cloned(), env)? {
            values.entry(k).or_insert(v);
        }
    }
    for (key, var) in KEYWORDS {
        if let (false, Some(var)) = (values.contains_key(*key), var) {
            if let Some(v) = env.var(var) {
                values.insert(key.to_string(), v);
            }
        }
    }
    Ok(values)
}

/// The settings of service `name`: the user's service file, else the
/// system one (`PGSYSCONFDIR/pg_service.conf`). A named service that is in
/// neither is an error, as in libpq.
fn service_values(name: &str, file: Option<String>, env: &dyn Environment) -> Result<Values> {
    let user_file = file
        .or_else(|| env.var("PGSERVICEFILE"))
        .map(PathBuf::from)
        .or_else(|| env.home().map(|h| h.join(".pg_service.conf")));
    let sys_dir = env.var("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".into());
    let candidates = user_file.into_iter().chain([PathBuf::from(sys_dir).join("pg_service.conf")]);
    for path in candidates {
        // Only a missing file is skipped: an unreadable one must not let
        // the system file's service of the same name take its place.
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => bail!("cannot read the service file {}: {e}", path.display()),
        };
        if let Some(values) =
            service_section(&text, name).with_context(|| format!("service file {}", path.display()))?
        {
            return Ok(values);
        }
    }
    bail!("definition of service `{name}` not found (looked in PGSERVICEFILE or ~/.pg_service.conf, then PGSYSCONFDIR/pg_service.conf)")
}

/// One `[name]` section of a service file: `key=value` lines.
fn service_section(text: &str, name: &str) -> Result<Option<Values>> {
    let mut found: Option<Values> = None;
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if inside {
                break;
            }
            inside = section == name;
            if inside {
                found = Some(Values::new());
            }
            continue;
        }
        if let (true, Some(values)) = (inside, found.as_mut()) {
            let (k, v) = line.split_once('=').with_context(|| format!("line {}: expected key=value", n + 1))?;
            let key = k.trim();
            if key == "service" {
                bail!("line {}: nested service specifications are not supported", n + 1);
            }
            put(values, key, v.trim().to_string()).with_context(|| format!("line {}", n + 1))?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod os_user_tests {
    use super::{effective_uid, os_user, passwd_name};

    #[test]
    fn the_effective_uid_is_the_second_of_the_status_uids() {
        let status = "Name:\thost\nUmask:\t0022\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t5\t5\t5\n";
        assert_eq!(effective_uid(status), Some(1001));
        assert_eq!(effective_uid("Name:\thost\n"), None);
    }

    #[test]
    fn a_uid_is_named_by_its_own_line_of_the_password_file() {
        let passwd = "# comment:x:7:7\nroot:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                      al:x:10000:1:::\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 10000).as_deref(), Some("al"));
        assert_eq!(passwd_name(passwd, 7), None);
        assert_eq!(passwd_name(passwd, 1), None);
    }

    /// The oracle: `id -un` names the effective user as libpq does.
    #[test]
    fn the_os_user_is_the_one_id_names() {
        let Ok(out) = std::process::Command::new("id").arg("-un").output() else { return };
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(os_user().as_deref(), Some(id.as_str()));
    }
}
