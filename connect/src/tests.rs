//! Connection strings and defaults, checked against what libpq does with
//! the same input. The TLS handshake itself is tested against a real TLS
//! server in `tests/tls.rs`.

use super::conninfo::{parse, Environment};
use super::settings::{Host, SslMode, Verify};
use super::Target;
use std::collections::HashMap;
use std::path::PathBuf;

/// A fixed environment: variables, a home directory, an OS user.
#[derive(Default)]
struct Env {
    vars: HashMap<&'static str, String>,
    home: Option<PathBuf>,
}

impl Environment for Env {
    fn var(&self, key: &str) -> Option<String> {
        self.vars.get(key).cloned()
    }
    fn home(&self) -> Option<PathBuf> {
        self.home.clone()
    }
    fn os_user(&self) -> Option<String> {
        Some("osuser".into())
    }
}

fn env(vars: &[(&'static str, &str)]) -> Env {
    Env { vars: vars.iter().map(|(k, v)| (*k, v.to_string())).collect(), home: Some("/nonexistent-home".into()) }
}

fn target(conn: Option<&str>, e: &Env) -> Target {
    Target::with_env(conn, e).unwrap_or_else(|err| panic!("{conn:?}: {err:#}"))
}

fn error(conn: Option<&str>, e: &Env) -> String {
    format!("{:#}", Target::with_env(conn, e).expect_err("should be refused"))
}

#[test]
fn url_with_everything_percent_decoded() {
    let v = parse("postgresql://op%40corp:p%3Ass@db.example:6543/dir%20ectus?sslmode=verify-full&application_name=x")
        .unwrap();
    assert_eq!(v["user"], "op@corp");
    assert_eq!(v["password"], "p:ss");
    assert_eq!(v["host"], "db.example");
    assert_eq!(v["port"], "6543");
    assert_eq!(v["dbname"], "dir ectus");
    assert_eq!(v["sslmode"], "verify-full");
}

#[test]
fn url_with_ipv6_several_hosts_and_a_socket_path() {
    let v = parse("postgres://[::1]:5433,db2/x").unwrap();
    assert_eq!(v["host"], "::1,db2");
    assert_eq!(v["port"], "5433,");
    let t = target(Some("postgres://[::1]:5433,db2/x"), &env(&[]));
    let ports: Vec<u16> = t.settings().endpoints.iter().map(|e| e.port).collect();
    assert_eq!(ports, [5433, 5432]);
    let v = parse("postgresql://%2Fvar%2Frun%2Fpg/directus").unwrap();
    assert_eq!(v["host"], "/var/run/pg");
    assert_eq!(
        target(Some("postgresql://%2Fvar%2Frun%2Fpg/directus"), &env(&[])).settings().endpoints[0].host,
        Host::Unix("/var/run/pg".into())
    );
}

#[test]
fn key_value_strings_with_quotes_and_escapes() {
    let v = parse(r"host=db  port = 5433 dbname='my db' password='it\'s \\ here' user=op").unwrap();
    assert_eq!(v["host"], "db");
    assert_eq!(v["port"], "5433");
    assert_eq!(v["dbname"], "my db");
    assert_eq!(v["password"], r"it's \ here");
    assert_eq!(v["user"], "op");
    assert!(parse("host='db").unwrap_err().to_string().contains("unterminated"));
    assert!(parse("host port=1").unwrap_err().to_string().contains("a word without `=`"));
}

#[test]
fn a_bare_word_is_the_database_as_in_psql() {
    assert_eq!(parse("directus").unwrap()["dbname"], "directus");
}

#[test]
fn unknown_and_unsupported_settings_are_refused_by_name() {
    assert!(parse("host=db sslmdoe=require").unwrap_err().to_string().contains("unknown connection setting `sslmdoe`"));
    let e = parse("postgres://db/x?sslcrldir=/etc/crl").unwrap_err().to_string();
    assert!(e.contains("`sslcrldir` is not supported"), "{e}");
    assert!(error(Some("host=db gssencmode=require"), &env(&[])).contains("GSSAPI"));
    assert!(error(Some("host=db sslmode=verify-everything"), &env(&[])).contains("invalid sslmode `verify-everything`"));
}

#[test]
fn errors_never_repeat_a_password() {
    let e = parse("postgres://u:s3cr%zzet@db/x").unwrap_err().to_string();
    assert!(!e.contains("s3cr"), "{e}");
    let e = error(Some("postgres://u:s3cret@db/x?port=notaport"), &env(&[]));
    assert!(!e.contains("s3cret"), "{e}");
    let t = target(Some("postgres://u:s3cret@db/x"), &env(&[]));
    assert!(!t.describe().contains("s3cret") && !format!("{t:?}").contains("s3cret"));
}

#[test]
fn a_password_holding_url_delimiters_never_reaches_an_error_message() {
    // Found by review: fragments of these passwords were quoted in errors
    // (and so in published reports).
    let v = parse("postgres://u:s3cr?leaked=x@h/db").unwrap();
    assert_eq!((v["password"].as_str(), v["host"].as_str()), ("s3cr?leaked=x", "h"));
    for bad in ["postgres://u:tls/secret@h/db", "postgres://[::1]secret:5432/db"] {
        let e = format!("{:#}", Target::with_env(Some(bad), &env(&[])).unwrap_err());
        assert!(!e.contains("secret") && !e.contains("tls"), "{bad}: {e}");
    }
    let e = parse("host=h password=hunter2 part2").unwrap_err().to_string();
    assert!(!e.contains("part2") && !e.contains("hunter2"), "{e}");
    let e = parse("host=h password=a b=c").unwrap_err().to_string();
    assert!(e.contains("unknown connection setting `b`"), "an identifier-like key is named: {e}");
    let e = parse("host=h password=a B9!x=c").unwrap_err().to_string();
    assert!(!e.contains("B9!x"), "{e}");
}

#[test]
fn an_empty_password_reads_pgpass_and_tmp_is_never_a_default_socket_directory() {
    assert_eq!(target(Some("host=h password="), &env(&[])).settings().password, None);
    assert_eq!(target(Some("postgres://u:@h/db"), &env(&[])).settings().password, None);
    assert!(!super::settings::SOCKET_DIRS.contains(&"/tmp"));
    assert!(error(Some("host=h port=+5432"), &env(&[])).contains("invalid port"));
    assert!(error(Some("host=h sslsni=false"), &env(&[])).contains("invalid sslsni"));
}

#[test]
fn an_unreadable_user_service_file_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user.conf");
    std::fs::create_dir(&user).unwrap(); // exists, cannot be read as a file
    let sys = dir.path().join("sys");
    std::fs::create_dir(&sys).unwrap();
    std::fs::write(sys.join("pg_service.conf"), "[prod]\nhost=elsewhere\n").unwrap();
    let e = env(&[("PGSERVICEFILE", user.to_str().unwrap()), ("PGSYSCONFDIR", sys.to_str().unwrap())]);
    assert!(error(Some("service=prod"), &e).contains("cannot read the service file"));
    // Latin-1 bytes in a comment do not hide the file either.
    std::fs::remove_dir(&user).unwrap();
    std::fs::write(&user, b"# caf\xe9\n[prod]\nhost=mine\n").unwrap();
    assert_eq!(target(Some("service=prod"), &e).settings().endpoints[0].host, Host::Tcp("mine".into()));
}

#[test]
fn the_string_beats_the_environment_which_fills_the_rest() {
    let e = env(&[
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGDATABASE", "envdb"),
        ("PGSSLMODE", "require"),
    ]);
    let t = target(Some("host=strhost dbname=strdb"), &e);
    let s = t.settings();
    assert_eq!(s.endpoints[0].host, Host::Tcp("strhost".into()));
    assert_eq!(s.endpoints[0].port, 6000);
    assert_eq!((s.user.as_str(), s.dbname.as_str()), ("envuser", "strdb"));
    assert_eq!(s.tls.mode, SslMode::Require);
}

#[test]
fn libpq_defaults() {
    let t = target(None, &env(&[]));
    let s = t.settings();
    assert_eq!(s.user, "osuser", "user defaults to the OS user");
    assert_eq!(s.dbname, "osuser", "dbname defaults to the user");
    assert_eq!(s.endpoints[0].port, 5432);
    assert!(matches!(&s.endpoints[0].host, Host::Unix(_)), "no host means a unix socket");
    assert_eq!(s.tls.mode, SslMode::Prefer);
    assert_eq!(s.passfile, Some(PathBuf::from("/nonexistent-home/.pgpass")));
}

#[test]
fn the_default_socket_directory_is_the_one_holding_the_socket() {
    // Only checks the search order when no candidate has a socket: the
    // Debian directory, which is what psql on this machine uses.
    let t = target(Some("port=1"), &env(&[]));
    assert_eq!(t.settings().endpoints[0].host, Host::Unix(super::settings::SOCKET_DIRS[0].into()));
}

#[test]
fn service_file_fills_what_the_string_leaves_and_beats_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("services.conf");
    std::fs::write(
        &file,
        "# services\n[other]\nhost=nope\n[prod]\nhost=svc-host\nport=7000\ndbname=svcdb\nsslmode=require\n",
    )
    .unwrap();
    let e = env(&[("PGSERVICEFILE", file.to_str().unwrap()), ("PGPORT", "6000"), ("PGUSER", "envuser")]);
    let t = target(Some("service=prod dbname=strdb"), &e);
    let s = t.settings();
    assert_eq!(s.endpoints[0].host, Host::Tcp("svc-host".into()));
    assert_eq!(s.endpoints[0].port, 7000, "the service beats PGPORT");
    assert_eq!(s.dbname, "strdb", "the string beats the service");
    assert_eq!(s.user, "envuser", "the environment fills what both leave");
    assert_eq!(s.tls.mode, SslMode::Require);
    // PGSERVICE names it too; a missing service is an error.
    let mut e2 = env(&[("PGSERVICEFILE", file.to_str().unwrap()), ("PGSERVICE", "prod")]);
    assert_eq!(target(None, &e2).settings().dbname, "svcdb");
    e2.vars.insert("PGSERVICE", "missing".into());
    assert!(error(None, &e2).contains("service `missing` not found"));
}

#[test]
fn verify_modes_need_a_root_certificate() {
    let e = error(Some("host=db sslmode=verify-full"), &env(&[]));
    assert!(e.contains("sslmode=verify-full needs the CA") && e.contains("sslrootcert"), "{e}");
    let e = error(Some("host=db sslmode=verify-ca sslrootcert=/nonexistent/ca.crt"), &env(&[]));
    assert!(e.contains("/nonexistent/ca.crt does not exist"), "{e}");
    // require without a CA encrypts without verifying.
    assert_eq!(target(Some("host=db sslmode=require"), &env(&[])).settings().tls.verify, Verify::Nothing);
}

#[test]
fn require_with_a_root_certificate_verifies_the_chain_as_libpq_does() {
    let dir = tempfile::tempdir().unwrap();
    let pg = dir.path().join(".postgresql");
    std::fs::create_dir(&pg).unwrap();
    std::fs::write(pg.join("root.crt"), "not a certificate").unwrap();
    let e = Env { home: Some(dir.path().to_path_buf()), ..env(&[]) };
    let err = error(Some("host=db sslmode=require"), &e);
    assert!(err.contains("sslrootcert") && err.contains("root.crt"), "the default root.crt is read: {err}");
}

#[test]
fn ports_and_hosts_must_pair_up() {
    assert!(error(Some("host=a,b,c port=1,2"), &env(&[])).contains("2 ports for 3 hosts"));
    assert!(error(Some("host=a port=99999"), &env(&[])).contains("invalid port `99999`"));
    assert!(error(Some("host=a hostaddr=not-ip"), &env(&[])).contains("invalid hostaddr"));
    let t = target(Some("host=a,b port=1,2"), &env(&[]));
    assert_eq!(t.settings().endpoints.iter().map(|e| e.port).collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn connect_timeout_is_bounded_by_default() {
    assert_eq!(
        target(Some("host=a"), &env(&[])).settings().connect_timeout,
        Some(super::settings::DEFAULT_CONNECT_TIMEOUT)
    );
    assert_eq!(target(Some("host=a connect_timeout=0"), &env(&[])).settings().connect_timeout, None);
    assert_eq!(
        target(Some("host=a"), &env(&[("PGCONNECT_TIMEOUT", "1")])).settings().connect_timeout,
        Some(std::time::Duration::from_secs(2))
    );
}

#[test]
fn a_client_key_others_can_read_is_refused_as_libpq_refuses_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("c.key");
    std::fs::write(&key, "x").unwrap();
    for (mode, ok) in [(0o600, true), (0o400, true), (0o640, false), (0o604, false), (0o644, false)] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let r = super::tls::check_key_permissions(&key);
        // Owned by root (as the tests run), 0640 is allowed; otherwise not.
        #[allow(unsafe_code)] // std has no safe call for the effective uid
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let expect = ok || (root && mode == 0o640);
        assert_eq!(r.is_ok(), expect, "mode {mode:o}: {r:?}");
        if let Err(e) = r {
            assert!(e.to_string().contains("group or world access") && e.to_string().contains("c.key"), "{e}");
        }
    }
}
