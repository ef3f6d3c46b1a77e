//! Connecting the way psql does, against a real TLS server: a scratch
//! cluster that accepts TCP only over TLS (`scratch-pg.sh tls`), with a test
//! CA, a server certificate for `localhost` only, and a client certificate.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::*;

const PASSWORD: &str = "tls-secret-pw";

/// A `.pgpass` (mode `mode`) holding the TLS role's password.
fn pgpass(c: &Cluster, mode: u32) -> PathBuf {
    let path = c.dir.join("tls").join("pgpass");
    std::fs::write(&path, format!("# test\nlocalhost:{}:directus:rollout_tls:{PASSWORD}\n", c.port.unwrap())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `host ARGS` with `conn` as the whole connection string and nothing from
/// the environment.
fn host_with(c: &Cluster, conn: &str, args: &[&str]) -> Run {
    let mut cmd = c.host_cmd_bare(args);
    cmd.arg("--database-url").arg(conn);
    Run::from(cmd.output().expect("run host"))
}

fn conn(c: &Cluster, extra: &str) -> String {
    format!("host=localhost port={} dbname=directus user=rollout_tls {extra}", c.port.unwrap())
}

fn every_file_under(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            all.push_str(&every_file_under(&p));
        } else {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()));
        }
    }
    all
}

#[test]
fn one_roof_runs_under_verify_full_with_the_password_from_pgpass() {
    let c = Cluster::start_tls("tls-run");
    c.ratify();
    let plan = one_roof();
    // Everything from the standard environment, as an operator sets it.
    let mut cmd = c.host_cmd_bare(&args("run", &plan, &["--param", APR]));
    cmd.env("PGHOST", "localhost")
        .env("PGPORT", c.port.unwrap().to_string())
        .env("PGUSER", "rollout_tls")
        .env("PGDATABASE", "directus")
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", c.tls_file("ca.crt"))
        .env("PGPASSFILE", pgpass(&c, 0o600));
    let r = Run::from(cmd.output().unwrap());
    r.expect_code(0).expect("ROLLOUT COMPLETE — ALL TIERS PASSED");
    // "Connected" names the database user, where, and how much TLS proved.
    let at = format!(
        "Connected to database `directus` as user `rollout_tls` on localhost port {} over TLS, the certificate and \
         host name verified",
        c.port.unwrap()
    );
    assert!(r.stderr.lines().any(|l| l.trim_start().starts_with(&at)), "{at:?} in:\n{}", r.stderr);
    // The server refuses TCP without TLS, so every connection was TLS; the
    // ledger shows who ran it.
    assert_eq!(c.psql("SELECT count(*) FROM rollout_ledger.rollout WHERE outcome = 'complete'"), "1");
    // The password is nowhere the host writes: screen, report, log, ledger.
    assert!(!r.all().contains(PASSWORD), "password on screen:\n{}", r.all());
    let reports = c.reports();
    assert!(!reports.is_empty());
    for dir in reports {
        assert!(!every_file_under(&dir).contains(PASSWORD), "password in {}", dir.display());
    }
    let ledger = c.psql(
        "SELECT (SELECT string_agg(row_to_json(r)::text, '') FROM rollout_ledger.rollout r)
             || (SELECT string_agg(row_to_json(e)::text, '') FROM rollout_ledger.tier_event e)",
    );
    assert!(ledger.contains("complete"), "ledger read: {ledger}");
    assert!(!ledger.contains(PASSWORD), "password in the ledger");
}

#[test]
fn a_wrong_ca_or_a_wrong_host_name_is_refused_before_any_statement() {
    let c = Cluster::start_tls("tls-refuse");
    c.ratify();
    let plan = one_roof();
    let run = args("run", &plan, &["--param", APR]);
    let wrong_ca = conn(
        &c,
        &format!("password={PASSWORD} sslmode=verify-full sslrootcert={}", c.tls_file("other-ca.crt").display()),
    );
    host_with(&c, &wrong_ca, &run).expect_code(8).expect("not signed by a CA in sslrootcert=").expect("other-ca.crt");
    // The certificate names localhost only; 127.0.0.1 is the same server
    // under a name the certificate does not list.
    let wrong_name = format!(
        "host=127.0.0.1 port={} dbname=directus user=rollout_tls password={PASSWORD} sslmode=verify-full sslrootcert={}",
        c.port.unwrap(),
        c.tls_file("ca.crt").display()
    );
    host_with(&c, &wrong_name, &run).expect_code(8).expect("not valid for the host name `127.0.0.1`");
    // Nothing reached the database: not even the ledger schema exists.
    assert_eq!(c.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"), "0");
    // verify-ca checks the chain only, so the same name is accepted.
    let ca_only = wrong_name.replace("verify-full", "verify-ca");
    host_with(&c, &ca_only, &run)
        .expect_code(0)
        .expect("ROLLOUT COMPLETE")
        .expect(" over TLS, the certificate chain verified (not the host name)");
}

#[test]
fn require_encrypts_without_a_ca_and_fails_against_a_server_without_tls() {
    let c = Cluster::start_tls("tls-require");
    let status = ["status"];
    let require = conn(&c, &format!("password={PASSWORD} sslmode=require"));
    host_with(&c, &require, &status).expect_code(0);
    // The server refuses plaintext TCP (pg_hba): disable cannot get in.
    host_with(&c, &conn(&c, &format!("password={PASSWORD} sslmode=disable")), &status)
        .expect_code(8)
        .expect("no encryption");
    // A server without TLS: require refuses to go on in plaintext.
    c.psql_in("postgres", "ALTER SYSTEM SET ssl = off");
    c.psql_in("postgres", "SELECT pg_reload_conf()");
    std::thread::sleep(std::time::Duration::from_millis(500));
    host_with(&c, &require, &status)
        .expect_code(8)
        .expect("the server does not offer TLS, and sslmode=require requires it");
}

#[test]
fn a_client_certificate_logs_in_and_a_readable_key_is_refused() {
    let c = Cluster::start_tls("tls-cert");
    let key = c.dir.join("tls/client-copy.key");
    std::fs::copy(c.tls_file("client.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cert_conn = format!(
        "postgresql://rollout_cert@localhost:{}/directus?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        c.port.unwrap(),
        c.tls_file("ca.crt").display(),
        c.tls_file("client.crt").display(),
        key.display()
    );
    host_with(&c, &cert_conn, &["status"]).expect_code(0);
    // Without the certificate the server refuses the same user.
    let no_cert = format!(
        "host=localhost port={} dbname=directus user=rollout_cert sslmode=verify-full sslrootcert={}",
        c.port.unwrap(),
        c.tls_file("ca.crt").display()
    );
    host_with(&c, &no_cert, &["status"]).expect_code(8).expect("certificate");
    // A key group or others can read is refused before connecting.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    host_with(&c, &cert_conn, &["status"]).expect_code(2).expect("group or world access").expect("client-copy.key");
}

#[test]
fn a_pgpass_others_can_read_is_ignored_with_a_warning() {
    let c = Cluster::start_tls("tls-pgpass");
    let loose = pgpass(&c, 0o644);
    let mut cmd = c.host_cmd_bare(&["status"]);
    cmd.arg("--database-url")
        .arg(conn(&c, &format!("sslmode=verify-full sslrootcert={}", c.tls_file("ca.crt").display())));
    cmd.env("PGPASSFILE", &loose);
    let r = Run::from(cmd.output().unwrap());
    r.expect_code(8).expect("has group or world access").expect("ignored");
    assert!(!r.all().contains(PASSWORD));
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = c.host_cmd_bare(&["status"]);
    cmd.arg("--database-url")
        .arg(conn(&c, &format!("sslmode=verify-full sslrootcert={}", c.tls_file("ca.crt").display())));
    cmd.env("PGPASSFILE", &loose);
    Run::from(cmd.output().unwrap()).expect_code(0);
}

#[test]
fn an_unreachable_host_exits_8_naming_the_target_but_not_the_password() {
    let c = Cluster::start("unreachable");
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let r = host_with(&c, "postgres://op:hunter2secret@127.0.0.1:1/directus?sslmode=require", &["status"]);
    r.expect_code(8).expect("127.0.0.1 port 1").expect("database `directus` as `op`");
    assert!(!r.all().contains("hunter2secret"), "password printed:\n{}", r.all());
    // A malformed string is a usage error (exit 2), and names the setting.
    host_with(&c, "host=localhost sslmode=verify-al", &["status"]).expect_code(2).expect("invalid sslmode `verify-al`");
}

#[test]
fn a_server_that_accepts_and_stalls_is_given_up_after_connect_timeout() {
    // A loopback listener that accepts and never answers: TCP connects, the
    // TLS request and the startup get no reply.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(std::time::Duration::from_secs(4));
        drop(conns);
    });
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_host"))
        .args([
            "status",
            "-d",
            &format!("host=127.0.0.1 port={port} user=op dbname=d sslmode=require connect_timeout=2"),
        ])
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    let r = Run::from(out);
    r.expect_code(8).expect("no answer within connect_timeout=2s");
    assert!(started.elapsed() < std::time::Duration::from_secs(6), "took {:?}", started.elapsed());
    held.join().unwrap();
}
