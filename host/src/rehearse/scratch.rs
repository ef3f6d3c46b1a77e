//! A scratch PostgreSQL server the host starts for a rehearsal copy it
//! makes itself (`host rehearse --make-copy`): initdb in a private temp
//! directory, reachable only on a Unix socket in that directory (mode
//! 0700, no TCP), trust authentication for this OS user alone; stopped and
//! removed on drop unless kept.
//!
//! The PostgreSQL programs come from one directory, so their versions
//! agree: `--pg-bindir` when given, else the first of the `PATH`
//! directories, `pg_config --bindir`, and `/usr/lib/postgresql/*/bin`
//! (newest first) that holds all of them at a major version no older than
//! the source server's (`pg_dump` reads only servers up to its own).

use anyhow::{anyhow, bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The programs a made copy needs.
const PROGRAMS: [&str; 6] = ["initdb", "pg_ctl", "pg_dump", "pg_dumpall", "pg_restore", "psql"];

/// The scratch server's bootstrap superuser: a name a source is unlikely to
/// have among its roles (they are copied beside it).
pub const SUPERUSER: &str = "host_rehearsal";

/// The directory the PostgreSQL programs are run from, and its version.
#[derive(Debug, Clone)]
pub struct Bin {
    pub dir: PathBuf,
    pub major: u32,
}

impl Bin {
    /// One of [`PROGRAMS`] in it.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Finds the directory (see the module's docs) for a source at `major`.
    pub fn find(given: Option<&Path>, source_major: u32) -> Result<Bin> {
        let candidates: Vec<PathBuf> = match given {
            Some(dir) => vec![dir.to_path_buf()],
            None => {
                let mut v: Vec<PathBuf> =
                    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
                if let Ok(out) = std::process::Command::new("pg_config").arg("--bindir").output() {
                    if out.status.success() {
                        v.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
                    }
                }
                let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
                            .collect()
                    })
                    .unwrap_or_default();
                versioned.sort_by_key(|b| std::cmp::Reverse(b.0));
                v.extend(versioned.into_iter().map(|(_, p)| p));
                v
            }
        };
        let mut seen = Vec::new();
        for dir in candidates {
            if !PROGRAMS.iter().all(|p| dir.join(p).is_file()) {
                continue;
            }
            match major_of(&dir.join("pg_dump")) {
                Some(major) if major >= source_major => return Ok(Bin { dir, major }),
                found => seen.push(format!(
                    "{} (version {})",
                    dir.display(),
                    found.map(|m| m.to_string()).unwrap_or_else(|| "unknown".into())
                )),
            }
        }
        let looked = match given {
            Some(dir) => format!("--pg-bindir {}", dir.display()),
            None => "PATH, `pg_config --bindir` and /usr/lib/postgresql/*/bin".into(),
        };
        let found = match seen.is_empty() {
            true => "none holds them all".to_string(),
            false => format!("found only older ones: {}", seen.join(", ")),
        };
        bail!(
            "--make-copy needs the PostgreSQL {source_major} (or newer) programs {} in one directory; looked in \
             {looked}: {found}; install the server package of that version (e.g. postgresql-{source_major}) or name \
             its bin directory with --pg-bindir",
            PROGRAMS.join(", ")
        )
    }
}

/// The major version `program --version` prints (`pg_dump (PostgreSQL) 15.4`).
fn major_of(program: &Path) -> Option<u32> {
    let out = std::process::Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().last()?;
    version.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Runs a PostgreSQL program to its end; an error names it, its exit and
/// the end of what it said. `what` says what it was doing.
pub async fn run(mut cmd: tokio::process::Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot start the program for {what}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = said.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    Err(anyhow!("{what} failed ({}): {}", out.status, crate::text::terminal(&tail.join(" / "))))
}

/// A command for `program` that reads no connection setting of the
/// operator's environment (the scratch server is named in full).
pub fn scratch_command(program: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    for var in ["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSERVICE"] {
        cmd.env_remove(var);
    }
    for var in ["PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE", "PGSSLROOTCERT", "PGTARGETSESSIONATTRS", "PSQLRC"] {
        cmd.env_remove(var);
    }
    cmd
}

/// PostgreSQL will not run as root: as root, the server's programs run as
/// the `postgres` OS user (`runuser`), its directory given to that user.
fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A command that runs `program` as the server's owner (see [`as_root`]).
fn server_command(program: &Path) -> tokio::process::Command {
    let mut cmd = match as_root() {
        true => {
            let mut c = scratch_command(Path::new("runuser"));
            c.args(["-u", "postgres", "--"]).arg(program).current_dir("/");
            c
        }
        false => scratch_command(program),
    };
    cmd.stdout(Stdio::null());
    cmd
}

/// As root, gives `dir` to the `postgres` OS user.
fn owned_by_server(dir: &Path) -> Result<()> {
    if !as_root() {
        return Ok(());
    }
    let out =
        std::process::Command::new("id").args(["-u", "postgres"]).output().context("cannot run `id -u postgres`")?;
    let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
        anyhow!("running as root, the copy's server must run as the OS user `postgres`, and there is none")
    })?;
    std::os::unix::fs::chown(dir, Some(uid), None).with_context(|| format!("cannot give {} to postgres", dir.display()))
}

/// The scratch server: its directory, its socket and port, its programs.
pub struct Scratch {
    /// Removed with the server on drop, unless kept.
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    pub port: u16,
    pub bin: Bin,
}

impl Scratch {
    /// initdb in a new private temp directory, then start the server on a
    /// Unix socket there.
    pub async fn start(bin: Bin) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("host-rehearsal-copy-")
            .tempdir()
            .context("cannot make a temp directory for the rehearsal copy")?;
        let path = dir.path().to_path_buf();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .context("cannot find a free port")?;
        let scratch = Scratch { dir: Some(dir), path, port, bin };
        let data = scratch.data();
        owned_by_server(&scratch.path)?;
        let mut initdb = server_command(&scratch.bin.program("initdb"));
        initdb.arg("-D").arg(&data).args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        run(initdb, "initdb of the rehearsal copy's server").await?;
        // Only this OS user reaches it: a socket in a 0700 directory, no TCP.
        let socket = scratch.path.display().to_string().replace('\'', "''");
        let settings = format!(
            "\n# host rehearse --make-copy\nlisten_addresses = ''\nunix_socket_directories = '{socket}'\n\
             unix_socket_permissions = 0700\nport = {port}\nfsync = off\nfull_page_writes = off\n"
        );
        append(&data.join("postgresql.conf"), &settings)?;
        let mut start = server_command(&scratch.bin.program("pg_ctl"));
        start.arg("-D").arg(&data).arg("-l").arg(scratch.path.join("server.log")).args(["-w", "-t", "60", "start"]);
        run(start, "starting the rehearsal copy's server").await.with_context(|| {
            format!("its log: {}", crate::text::terminal(&scratch.path.join("server.log").display().to_string()))
        })?;
        Ok(scratch)
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.path.join("data")
    }

    /// The directory everything is in.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// A libpq connection string for `database` on it, as its superuser.
    pub fn conninfo(&self, database: &str) -> String {
        self.conninfo_as(database, SUPERUSER)
    }

    /// A libpq connection string for `database` on it, as `user`.
    pub fn conninfo_as(&self, database: &str, user: &str) -> String {
        let q = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        format!(
            "host={} port={} user={} dbname={} sslmode=disable",
            q(&self.path.display().to_string()),
            self.port,
            q(user),
            q(database)
        )
    }

    /// A `psql` that runs `sql` (or a file) in `database` on it.
    pub fn psql(&self, database: &str) -> tokio::process::Command {
        let mut cmd = scratch_command(&self.bin.program("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"]).arg(self.conninfo(database));
        cmd
    }

    /// The command that stops the server, as the operator types it.
    pub fn stop_line(&self) -> String {
        let runuser = if as_root() { "runuser -u postgres -- " } else { "" };
        format!("{runuser}{} -D {} stop", self.bin.program("pg_ctl").display(), self.data().display())
    }

    /// Leaves the server running and its directory in place.
    pub fn keep(mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.path.clone()
    }
}

fn append(file: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", file.display()))
}

/// Stops the server (fast: its sessions are the rehearsal's, all ended)
/// and removes its directory, unless it was kept.
impl Drop for Scratch {
    fn drop(&mut self) {
        if self.dir.is_none() {
            return;
        }
        let mut stop = match as_root() {
            true => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(self.bin.program("pg_ctl")).current_dir("/");
                c
            }
            false => std::process::Command::new(self.bin.program("pg_ctl")),
        };
        let _ = stop
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
