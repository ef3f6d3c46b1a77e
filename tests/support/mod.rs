//! Test support: a scratch PostgreSQL cluster per test (copied from one
//! template holding `directus` with the One-Roof baseline), and the real
//! `host` binary run against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub mod audit;
pub mod backfill;
pub mod hostile;
pub mod proxy;
pub mod rehearsal;
pub mod screen;

/// The repository root (the workspace).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn script() -> PathBuf {
    root().join("scripts/scratch-pg.sh")
}

fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rollout-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("bash").arg(script()).arg("template").arg(&dir).output().expect("bash");
        assert!(out.status.success(), "template cluster: {}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

/// One precompiled-component cache for the whole test run, private to the
/// user as the host requires (it refuses a cache others can read or write).
pub fn compile_cache() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = root().join("target/host-compile-cache");
    std::fs::create_dir_all(&dir).expect("compile cache directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("compile cache is private");
    dir
}

/// A running scratch cluster, stopped and deleted on drop.
pub struct Cluster {
    pub dir: PathBuf,
    /// The TCP port of a TLS cluster (its socket moves to it too).
    pub port: Option<u16>,
    reports: PathBuf,
}

impl Cluster {
    /// A fresh cluster with the One-Roof baseline in `directus`.
    pub fn start(name: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("rl-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("bash").arg(script()).arg("clone").arg(template()).arg(&dir).output().expect("bash");
        assert!(out.status.success(), "clone cluster: {}", String::from_utf8_lossy(&out.stderr));
        let reports = std::env::temp_dir().join(format!("rl-reports-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&reports);
        Cluster { dir, port: None, reports }
    }

    /// A fresh cluster that takes TCP connections only over TLS, on
    /// localhost (certificate for `localhost` only); see `scratch-pg.sh tls`.
    pub fn start_tls(name: &str) -> Cluster {
        let mut c = Cluster::start(name);
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        let out =
            Command::new("bash").arg(script()).arg("tls").arg(&c.dir).arg(port.to_string()).output().expect("bash");
        assert!(out.status.success(), "tls cluster: {}", String::from_utf8_lossy(&out.stderr));
        c.port = Some(port);
        c
    }

    /// Stops the server at once, as a crash or a failover would.
    pub fn crash(&self) {
        let out = Command::new("bash").arg(script()).arg("crash").arg(&self.dir).output().expect("bash");
        assert!(out.status.success(), "crash: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server again after [`Cluster::crash`].
    pub fn restart(&self) {
        let out = Command::new("bash").arg(script()).arg("restart").arg(&self.dir).output().expect("bash");
        assert!(out.status.success(), "restart: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A file the TLS set-up made (`ca.crt`, `client.key`, …).
    pub fn tls_file(&self, name: &str) -> PathBuf {
        self.dir.join("tls").join(name)
    }

    /// `host=<socket dir> port=… user=postgres dbname=directus`: this
    /// cluster's connection string, for `--database-url` and the like.
    pub fn url(&self) -> String {
        format!("host={} port={} user=postgres dbname=directus", self.dir.display(), self.port.unwrap_or(5432))
    }

    /// A `psql` command on this cluster's `db` as `user`, without the
    /// caller's `~/.psqlrc` (`-X`); the caller adds its flags, SQL and stdio.
    pub fn psql_cmd_as(&self, user: &str, db: &str) -> Command {
        let mut c = Command::new("psql");
        c.arg("-X").arg("-h").arg(&self.dir).args(["-p", &self.port.unwrap_or(5432).to_string()]);
        c.args(["-U", user, "-d", db]);
        c
    }

    /// [`Cluster::psql_cmd_as`] `postgres` in `directus`.
    pub fn psql_cmd(&self) -> Command {
        self.psql_cmd_as("postgres", "directus")
    }

    /// Runs SQL with psql in `db`; returns trimmed unaligned output.
    pub fn psql_in(&self, db: &str, sql: &str) -> String {
        let out = self
            .psql_cmd_as("postgres", db)
            .args(["-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs SQL in `directus`.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("directus", sql)
    }

    /// A count or other scalar from `directus`.
    pub fn scalar(&self, sql: &str) -> i64 {
        let s = self.psql(sql);
        s.parse().unwrap_or_else(|_| panic!("{sql} returned {s:?}"))
    }

    /// The governance sign-off.
    pub fn ratify(&self) {
        self.psql(&std::fs::read_to_string(root().join("sql/ratify.sql")).unwrap());
    }

    /// A `host` command for this cluster's `directus` (PG* variables).
    pub fn host_cmd(&self, args: &[&str]) -> Command {
        self.host_cmd_db("directus", args)
    }

    /// A `host` command connected to another database.
    pub fn host_cmd_db(&self, db: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_host"));
        c.current_dir(root())
            .args(args)
            .env("PGHOST", &self.dir)
            .env("PGPORT", self.port.unwrap_or(5432).to_string())
            .env("PGUSER", "postgres")
            .env("PGDATABASE", db)
            .env("USER", "test-operator")
            .env("HOST_COMPILE_CACHE", compile_cache())
            .env_remove("HOST_DATABASE_URL");
        // Verbs that write reports write them under the cluster's directory,
        // unless the test says where.
        let writes = matches!(args.first(), Some(&"run") | Some(&"gate") | Some(&"rollback") | Some(&"report"));
        if writes && !args.iter().any(|a| *a == "--reports" || *a == "--out") {
            c.arg("--reports").arg(&self.reports);
        }
        c
    }

    /// A `host` command with no connection settings at all from the test's
    /// environment: the caller gives every one (TLS tests).
    pub fn host_cmd_bare(&self, args: &[&str]) -> Command {
        let mut c = self.host_cmd(args);
        for var in [
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGPASSFILE",
            "PGSSLMODE",
            "PGSSLROOTCERT",
            "PGSERVICE",
        ] {
            c.env_remove(var);
        }
        // No ~/.pgpass or ~/.postgresql of whoever runs the tests.
        c.env("HOME", &self.dir);
        c
    }

    /// Runs `host` to completion.
    pub fn host(&self, args: &[&str]) -> Run {
        Run::from(self.host_cmd(args).output().expect("run host"))
    }

    /// Starts `host` in the background with piped output.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.host_cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn host")
    }

    /// The report directories written so far.
    pub fn reports(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.reports)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Latest event per plugin as `plugin=event`, ordered by ordinal.
    pub fn tier_states(&self) -> String {
        self.psql(
            "SELECT string_agg(plugin || '=' || event, ' ' ORDER BY ordinal)
             FROM (SELECT DISTINCT ON (plugin) plugin, ordinal, event FROM rollout_ledger.tier_event
                   ORDER BY plugin, id DESC) e",
        )
    }

    /// The One-Roof metrics the rollback asserts, as one line.
    pub fn baseline_line(&self) -> String {
        self.psql(
            "SELECT format('ownership=%s gap=%s axis=%s active_axes=%s kg=%s shadow=%s critical=%s containment=%s projection=%s',
               (SELECT count(*) FROM one_roof.resp_ownership),
               (SELECT count(*) FROM one_roof.responsibility r WHERE NOT EXISTS
                  (SELECT 1 FROM one_roof.resp_ownership o WHERE o.area_id = r.area_id)),
               CASE WHEN EXISTS (SELECT 1 FROM one_roof.classification_axis WHERE code = 'release_scope')
                    THEN 'present' ELSE 'absent' END,
               (SELECT count(*) FROM one_roof.classification_axis WHERE status = 'active'),
               (SELECT status FROM one_roof.kg_domain WHERE code = 'kg_domain_x'),
               CASE WHEN to_regclass('one_roof.resp_ownership_shadow') IS NULL THEN 'absent' ELSE 'present' END,
               (SELECT count(*) FROM one_roof.drift_finding WHERE severity = 'critical' AND status = 'open'),
               (SELECT count(*) FROM one_roof.containment),
               (SELECT count(*) FROM one_roof.ui_projection))",
        )
    }
}

impl Cluster {
    /// A digest of every row of every relation in `one_roof` (and which
    /// relations exist): equal digests mean the data did not change.
    pub fn state_digest(&self) -> String {
        let tables = self.psql(
            "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'one_roof' AND c.relkind = 'r'",
        );
        let mut out = format!("relations: {tables}");
        for t in tables.split(' ') {
            let d = self.psql(&format!(
                "SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM one_roof.{t} x"
            ));
            out.push_str(&format!("\n{t}: {d}"));
        }
        out
    }
}

/// The baseline as `Cluster::baseline_line` prints it.
pub const BASELINE: &str =
    "ownership=0 gap=210 axis=absent active_axes=2 kg=draft shadow=absent critical=2 containment=420 projection=0";

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).output();
        let _ = std::fs::remove_dir_all(&self.reports);
    }
}

/// A finished `host` command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Both streams, for assertions and failure messages.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code {} (expected {code}); output:\n{}", self.code, self.all());
        self
    }

    /// Asserts the output contains `text`.
    pub fn expect(&self, text: &str) -> &Self {
        assert!(self.all().contains(text), "expected {text:?} in output:\n{}", self.all());
        self
    }
}

/// The One-Roof plugins, in file-name order (the host orders them).
pub fn one_roof() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("tiers"))
        .expect("tiers/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    v.sort();
    assert!(v.len() >= 11, "build the plugins first: make tiers");
    v
}

/// The One-Roof plugins with one replaced (by file stem) or added.
pub fn plan_with(replace: Option<&str>, add: &[&str]) -> Vec<String> {
    let mut v: Vec<String> =
        one_roof().into_iter().filter(|p| replace.is_none_or(|r| !p.ends_with(&format!("/{r}.wasm")))).collect();
    v.extend(add.iter().map(|a| a.to_string()));
    v
}

/// `run --tiers <plan> --param ratified_apr=… <extra>` arguments.
pub fn args<'a>(verb: &'a str, plan: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![verb, "--tiers"];
    a.extend(plan.iter().map(String::as_str));
    a.extend_from_slice(extra);
    a
}

pub const APR: &str = "ratified_apr=APR-2026-0412";

/// The component's core-module sections and, in each, the byte range of a
/// custom section named `rollout-manifest` (its payload), read with
/// wasmparser as the host reads it.
struct ManifestSite {
    /// Range of the whole module section in the component (header included).
    section: std::ops::Range<usize>,
    /// Range of the module's bytes inside the component.
    module: std::ops::Range<usize>,
    /// Range of the manifest section in the component (header included).
    custom: std::ops::Range<usize>,
    /// Range of the manifest text in the component.
    data: std::ops::Range<usize>,
}

/// How many bytes the LEB128 encoding of `n` takes.
fn leb_len(n: usize) -> usize {
    use wasm_encoder::Encode;
    let mut v = Vec::new();
    n.encode(&mut v);
    v.len()
}

fn manifest_sites(wasm: &[u8]) -> Vec<ManifestSite> {
    use wasmparser::{Parser, Payload};
    let mut sites = Vec::new();
    let mut module: Option<(std::ops::Range<usize>, std::ops::Range<usize>)> = None;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap_or_else(|e| panic!("not a valid component ({} bytes): {e}", wasm.len())) {
            Payload::ModuleSection { unchecked_range, .. } => {
                // The section header (id + LEB size) stands right before the module.
                let start = unchecked_range.start - 1 - leb_len(unchecked_range.len());
                module = Some((start..unchecked_range.end, unchecked_range));
            }
            Payload::CustomSection(reader) if reader.name() == "rollout-manifest" => {
                let (section, module) = module.clone().expect("the manifest sits in a core module");
                let data = reader.data_offset()..reader.data_offset() + reader.data().len();
                let name_len = reader.name().len();
                let content = data.start - name_len - leb_len(name_len);
                let header = content - 1 - leb_len(data.end - content);
                sites.push(ManifestSite { section, module, custom: header..data.end, data });
            }
            _ => {}
        }
    }
    sites
}

/// A copy of a plugin whose embedded manifest is `manifest`: what a plugin
/// rebuilt with an edited `plugin.toml` would be. Lets a test remove a grant
/// without recompiling.
pub fn with_manifest(wasm: &[u8], manifest: &str) -> Vec<u8> {
    use wasm_encoder::{ComponentSection, Section};
    let sites = manifest_sites(wasm);
    assert_eq!(sites.len(), 1, "the plugin has one embedded manifest");
    let site = &sites[0];
    let mut module = wasm[site.module.start..site.custom.start].to_vec();
    wasm_encoder::CustomSection { name: "rollout-manifest".into(), data: manifest.as_bytes().into() }
        .append_to(&mut module);
    module.extend_from_slice(&wasm[site.custom.end..site.module.end]);
    let mut out = wasm[..site.section.start].to_vec();
    // Section id 1 of a component: a core module.
    wasm_encoder::RawSection { id: 1, data: &module }.append_to_component(&mut out);
    out.extend_from_slice(&wasm[site.section.end..]);
    assert_eq!(manifest_of(&out), manifest, "the rewritten plugin carries the new manifest");
    out
}

/// The manifest embedded in a plugin, as text.
pub fn manifest_of(wasm: &[u8]) -> String {
    let sites = manifest_sites(wasm);
    assert_eq!(sites.len(), 1, "one embedded manifest");
    String::from_utf8_lossy(&wasm[sites[0].data.clone()]).into_owned()
}
