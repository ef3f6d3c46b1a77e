//! What the rehearsal tests share: production and a copy of it on another
//! server, restored from production's pg_dump as an operator would; the
//! real `host rehearse` between them; and a pooler-like switch that lands
//! later connections on another server than the first ones.

use super::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Production (ratified) and a copy of it on another server, marked.
pub fn production_and_copy(name: &str) -> (Cluster, Cluster) {
    production_and_copy_with(name, "")
}

/// As [`production_and_copy`], with `setup` run on production before its dump.
pub fn production_and_copy_with(name: &str, setup: &str) -> (Cluster, Cluster) {
    let prod = Cluster::start(&format!("{name}-prod"));
    prod.ratify();
    if !setup.is_empty() {
        prod.psql(setup);
    }
    let copy = restored(&prod, &format!("{name}-copy"));
    // The operator's word that this one is the copy.
    copy.psql_in("postgres", "ALTER DATABASE directus SET host.rehearsal_copy = on");
    (prod, copy)
}

/// A new server holding `prod`'s `directus`, restored from its pg_dump
/// (not marked as a copy).
pub fn restored(prod: &Cluster, name: &str) -> Cluster {
    let copy = Cluster::start(name);
    copy.psql_in("postgres", "DROP DATABASE directus");
    copy.psql_in("postgres", "CREATE DATABASE directus");
    let mut dump = Command::new("pg_dump")
        .args(["-h", prod.dir.to_str().unwrap(), "-p", &prod.port.unwrap_or(5432).to_string(), "-U", "postgres"])
        .arg("directus")
        .stdout(Stdio::piped())
        .spawn()
        .expect("pg_dump");
    let restored = copy
        .psql_cmd()
        .args(["-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(dump.stdout.take().expect("pg_dump's output"))
        .stdout(Stdio::null())
        .status()
        .expect("psql");
    assert!(dump.wait().unwrap().success() && restored.success(), "the copy was not restored");
    copy
}

/// `host rehearse` of `plan` from `prod` onto `copy`, reports under `reports`.
pub fn rehearse(prod: &Cluster, copy: &Cluster, plan: &[String], extra: &[&str], reports: &Path) -> Run {
    rehearse_urls(prod, &prod.url(), &copy.url(), plan, extra, reports, &[])
}

/// `host rehearse` with the URLs given as they are, and `env` set: run
/// from `runner`'s environment otherwise.
pub fn rehearse_urls(
    runner: &Cluster,
    from: &str,
    to: &str,
    plan: &[String],
    extra: &[&str],
    reports: &Path,
    env: &[(&str, &str)],
) -> Run {
    let mut a = args("rehearse", plan, &["--param", APR, "--from", from, "--copy-url", to]);
    a.extend(extra);
    a.extend(["--reports", reports.to_str().unwrap()]);
    let mut cmd = runner.host_cmd(&a);
    cmd.envs(env.iter().copied());
    Run::from(cmd.output().expect("run host"))
}

/// The rehearsal's own report.json (the only report under `reports`).
pub fn report(reports: &Path) -> serde_json::Value {
    let dirs: Vec<PathBuf> = std::fs::read_dir(reports).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    serde_json::from_slice(&std::fs::read(dirs[0].join("report.json")).expect("report.json")).unwrap()
}

/// Nothing was written to `c`: it has no ledger.
pub fn production_untouched(c: &Cluster) {
    assert_eq!(
        c.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'rollout_ledger'"),
        0,
        "the source got a ledger: something was written to production"
    );
}

/// The identity `host rehearse` pins its steps to: system identifier,
/// database oid, server start in microseconds.
pub fn identity(c: &Cluster) -> host::rehearsal_copy::Identity {
    let text = c.psql(
        "SELECT (SELECT system_identifier FROM pg_control_system()) || ':' ||
                (SELECT oid FROM pg_database WHERE datname = current_database()) || ':' ||
                (EXTRACT(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint",
    );
    let n: Vec<i64> = text.split(':').map(|p| p.parse().unwrap()).collect();
    host::rehearsal_copy::Identity { system: n[0], database: n[1], started_us: n[2] }
}

/// One rehearsal step, a run of `plan`, started on its own as `host
/// rehearse` starts it (`host rehearsal-step`, its options in the
/// environment, written by the host's own type), pinned to `pinned`,
/// connected to `on`'s `directus`.
pub fn step_run(on: &Cluster, plan: &[String], pinned: host::rehearsal_copy::Identity, reports: &Path) -> Run {
    use host::runbook::{ConnArgs, PlanArgs, RehearsalStep, RunArgs};
    let plan = PlanArgs {
        tiers: plan.iter().map(std::path::PathBuf::from).collect(),
        params: vec![APR.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap()],
        data_dir: None,
        reports: reports.to_path_buf(),
        lock: None,
        allowed_signers: None,
        roles: false,
        runner_role: host::roles::DEFAULT_RUNNER.to_string(),
        operator: None,
    };
    let asked = RehearsalStep { on_copy: Some(pinned), ..RehearsalStep::default() };
    let spec =
        host::rehearse::Spec::new(host::rehearse::StepVerb::Run, RunArgs { plan, conn: ConnArgs::default() }, asked);
    let (var, value) = spec.env().unwrap();
    Run::from(on.host_cmd(&["rehearsal-step"]).env(var, value).output().expect("run host"))
}

/// A TCP front on loopback that sends its first `first_n` connections to
/// one server and every later one to another, as a pooler or a load
/// balancer with two backends may. Runs until the test ends.
pub struct Switch {
    pub port: u16,
}

impl Switch {
    pub fn start(first: &Cluster, first_n: usize, then: &Cluster) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the switch");
        let port = listener.local_addr().expect("switch address").port();
        let (a, b) = (first.dir.join(".s.PGSQL.5432"), then.dir.join(".s.PGSQL.5432"));
        let seen = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let to = if seen.fetch_add(1, Ordering::SeqCst) < first_n { &a } else { &b };
                let Ok(server) = UnixStream::connect(to) else { continue };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                std::thread::spawn(move || pipe(client, server));
                std::thread::spawn(move || pipe_back(s2, c2));
            }
        });
        Switch { port }
    }

    /// A URL through the switch.
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=directus sslmode=disable", self.port)
    }
}

fn pipe(mut from: TcpStream, mut to: UnixStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

fn pipe_back(mut from: UnixStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}
