//! Runs what the checker allowed as a restricted role, in a transaction that
//! is always rolled back, and reads the tripwires after each statement: the
//! trap functions' counter, new catalog objects on trap objects, the
//! ledger's state, and the memory the server process held for it (its peak
//! resident size, reset before each statement through
//! `/proc/<pid>/clear_refs`; the scratch cluster runs on this machine).

use bytes::BytesMut;
use futures_util::{pin_mut, TryStreamExt};
use std::sync::{Arc, Mutex};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{AsyncMessage, Client};

/// What PostgreSQL did with one allowed statement.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok,
    /// An error that is not about privileges (undefined table, types,
    /// timeouts…): not a disagreement.
    OtherError(String),
    /// The checker allowed it and the server refused it for lack of
    /// privilege: a disagreement.
    Denied(String),
    /// A trap function ran (`hits`, with the NOTICEs naming it), a new
    /// catalog object depends on a trap object (`catalog`), or the ledger
    /// changed (`ledger`): a disagreement.
    Tripped {
        hits: i64,
        catalog: i64,
        notices: Vec<String>,
        ledger: bool,
    },
    /// The server process held more memory for the statement than the
    /// checker allows a plugin (its `memory_mib`, and slack): a disagreement.
    Memory {
        peak_mib: u64,
    },
}

/// What a statement may make the server hold above its resident size
/// before it: the plugin's memory_mib the checker was given, plus this
/// much for the server's own work (plans, catalog caches, sort buffers
/// within work_mem).
pub const MEMORY_SLACK_MIB: u64 = 48;

/// A NULL for any parameter type: the statements are run for their
/// privileges and side effects, not their values.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// One superuser connection to the scratch cluster; it switches to the
/// restricted role around each statement.
pub struct Executor {
    client: Client,
    notices: Arc<Mutex<Vec<String>>>,
    /// `/proc/<pid>` of the server process, when its peak can be reset.
    process: Option<std::path::PathBuf>,
    /// The most memory (MiB above the resident size before) any statement
    /// made the server hold, for the summary.
    pub peak_mib: std::sync::atomic::AtomicU64,
    /// Memory a statement may hold before it is a disagreement.
    limit_mib: u64,
}

const TRIPWIRES: &str = "SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM trap.hits), \
     oracle_admin.tripped(), oracle_admin.ledger_state()";

/// A field of `/proc/<pid>/status` in kB.
fn status_kb(process: &std::path::Path, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(process.join("status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Executor {
    pub async fn connect(socket_dir: &std::path::Path, memory_mib: u64) -> Executor {
        let (client, mut connection) = tokio_postgres::Config::new()
            .host_path(socket_dir)
            .port(5432)
            .user("postgres")
            .dbname("directus")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the scratch cluster");
        let notices = Arc::new(Mutex::new(Vec::new()));
        let sink = notices.clone();
        tokio::spawn(async move {
            while let Some(m) = futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match m {
                    Ok(AsyncMessage::Notice(n)) if n.message().starts_with("TRAP ") => {
                        sink.lock().expect("notice sink").push(n.message().to_string())
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.expect("backend pid").get(0);
        let process = std::path::PathBuf::from(format!("/proc/{pid}"));
        let process = std::fs::write(process.join("clear_refs"), "5").is_ok().then_some(process);
        if process.is_none() {
            eprintln!(
                "oracle: cannot reset the server process's peak memory (/proc/{pid}/clear_refs): no memory tripwire"
            );
        }
        let limit_mib = memory_mib + MEMORY_SLACK_MIB;
        Executor { client, notices, process, peak_mib: Default::default(), limit_mib }
    }

    async fn tripwires(&self) -> (i64, i64, String) {
        let row = self.client.query_one(TRIPWIRES, &[]).await.expect("read the tripwires");
        (row.get(0), row.get(1), row.get(2))
    }

    /// Resets the server process's peak to its resident size now (kB).
    fn reset_peak(&self) -> Option<u64> {
        let process = self.process.as_ref()?;
        std::fs::write(process.join("clear_refs"), "5").ok()?;
        status_kb(process, "VmRSS:")
    }

    /// MiB the server process's peak rose above `before` (kB).
    fn peak_since(&self, before: Option<u64>) -> u64 {
        let (Some(process), Some(before)) = (&self.process, before) else { return 0 };
        let peak = status_kb(process, "VmHWM:").unwrap_or(before);
        let mib = peak.saturating_sub(before) / 1024;
        self.peak_mib.fetch_max(mib, std::sync::atomic::Ordering::Relaxed);
        mib
    }

    /// Runs `script` (checked texts; `None` for a statement the checker
    /// refused, which is skipped) as `role`, in one transaction rolled back
    /// at the end; one outcome per allowed statement.
    pub async fn run(&self, role: &str, script: &[Option<String>]) -> Vec<Outcome> {
        self.client
            .batch_execute(
                "BEGIN; SET LOCAL search_path = pg_catalog, pg_temp; SET LOCAL statement_timeout = '2s';
                 SET LOCAL lock_timeout = '1s'",
            )
            .await
            .expect("begin");
        let mut out = Vec::new();
        for sql in script.iter().flatten() {
            let before = self.tripwires().await;
            self.notices.lock().expect("notices").clear();
            let resident = self.reset_peak();
            let result = self.one(role, sql).await;
            let peak_mib = self.peak_since(resident);
            match &result {
                Ok(()) => self.client.batch_execute("RELEASE SAVEPOINT oracle; RESET ROLE").await,
                Err(_) => self.client.batch_execute("ROLLBACK TO SAVEPOINT oracle").await,
            }
            .expect("end the statement's savepoint");
            let after = self.tripwires().await;
            // Only new references count: a DROP removes some, which is no trip.
            let (hits, catalog) = (after.0 - before.0, (after.1 - before.1).max(0));
            let ledger = after.2 != before.2;
            let notices = std::mem::take(&mut *self.notices.lock().expect("notices"));
            out.push(if hits > 0 || catalog > 0 || ledger {
                Outcome::Tripped { hits, catalog, notices, ledger }
            } else if peak_mib > self.limit_mib {
                Outcome::Memory { peak_mib }
            } else {
                match result {
                    Ok(()) => Outcome::Ok,
                    Err(e) if e.0 == "42501" || e.1.contains("permission denied") => {
                        Outcome::Denied(format!("{}: {}", e.0, e.1))
                    }
                    Err(e) => Outcome::OtherError(format!("{}: {}", e.0, e.1)),
                }
            });
        }
        self.client.batch_execute("ROLLBACK").await.expect("rollback");
        out
    }

    /// The statement as the host sends it (prepared, then bound and run
    /// with the extended protocol), as `role`. It is prepared once as
    /// superuser first, only to fill the client's cache of non-built-in
    /// types (its look-ups read catalogs the role may not read); then
    /// prepared again as the role, because the server resolves names (and
    /// checks USAGE on their schemas) when it parses, not when it runs.
    async fn one(&self, role: &str, sql: &str) -> Result<(), (String, String)> {
        let err = |e: tokio_postgres::Error| match e.as_db_error() {
            Some(db) => (db.code().code().to_string(), db.message().to_string()),
            None => ("client".to_string(), e.to_string()),
        };
        self.client.batch_execute("SAVEPOINT oracle").await.map_err(err)?;
        drop(self.client.prepare(sql).await.map_err(err)?);
        self.client.batch_execute(&format!("SET LOCAL ROLE {role}")).await.map_err(err)?;
        let stmt = self.client.prepare(sql).await.map_err(err)?;
        let params: Vec<Null> = stmt.params().iter().map(|_| Null).collect();
        let stream = self.client.query_raw(&stmt, params.iter()).await.map_err(err)?;
        pin_mut!(stream);
        while stream.try_next().await.map_err(err)?.is_some() {}
        Ok(())
    }
}
