//! Connections, the rollout lock, and the host-owned tier transaction.
//!
//! Where and how to connect (URL, environment, TLS) is [`rollout_connect`].
//! The rollout lock is a session advisory lock on a connection of its own,
//! taken with a try-lock (a blocking lock can deadlock with
//! `CREATE INDEX CONCURRENTLY`). The plugins run on one work session,
//! reset between plugins ([`reset_session`]), so no session state a plugin
//! could leave behind reaches the next.

mod commit;
mod deferred;
mod prepared;
pub use commit::{commit, gate_refused, last_count, refusal, Last, LAST};
pub use deferred::{check_deferred, Deferred, Modes};
pub use prepared::Prepared;

use crate::manifest::Limits;
use anyhow::{Context, Result};
use tokio_postgres::Client;

pub use rollout_connect::Target;

/// Key of the session advisory lock that serialises rollouts on a database.
pub const ROLLOUT_LOCK_KEY: i64 = 0x5449_4552; // "TIER"

const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1)";
const LOCK_HOLDER: &str = "
    SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
           coalesce(a.client_addr::text, 'local socket'), a.backend_start::text
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $1::bigint::oid AND l.granted";
/// Every name in it qualified: it is what finds a `search_path` changed
/// inside the transaction (a deferred trigger's local `set_config`), so it
/// must not resolve through that path to a function or type that lies.
const IDENTITY: &str = "SELECT current_user::pg_catalog.text, session_user::pg_catalog.text, \
    pg_catalog.current_setting('search_path'), pg_catalog.now()::pg_catalog.text, pg_catalog.pg_backend_pid()";

/// A database error as the operator needs it: the server's severity,
/// SQLSTATE and message (tokio-postgres says only "db error"), or the
/// cause of a lost connection. Never just "db error".
pub fn why(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" (detail: {detail})"));
            }
            text
        }
        None => rollout_connect::chain(e),
    }
}

/// `current_database()`: the identity guard compares it with every
/// plugin's allowed names.
pub async fn current_database(client: &Client) -> Result<String> {
    Ok(client.query_one("SELECT current_database()::text", &[]).await?.get(0))
}

/// Who holds the rollout lock, for the refusal message.
#[derive(Debug, Clone)]
pub struct LockHolder {
    pub pid: i32,
    pub application: String,
    pub user: String,
    pub client: String,
    pub since: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}), user {}, from {}, connected since {}",
            self.pid, self.application, self.user, self.client, self.since
        )
    }
}

/// Tries the rollout lock on `client` (its own connection, held until it
/// closes); on failure says who holds it.
pub async fn try_rollout_lock(client: &Client) -> Result<Result<(), Option<LockHolder>>> {
    let got: bool = client.query_one(TRY_LOCK, &[&ROLLOUT_LOCK_KEY]).await?.get(0);
    if got {
        return Ok(Ok(()));
    }
    Ok(Err(lock_holder(client).await?))
}

/// Releases the rollout lock taken on `client` (a command that needed it
/// only for a moment: `host status` settling stale rollouts).
pub async fn release_rollout_lock(client: &Client) -> Result<()> {
    client.query_one("SELECT pg_advisory_unlock($1)", &[&ROLLOUT_LOCK_KEY]).await?;
    Ok(())
}

/// Who holds the rollout lock now, if anyone (without taking it).
pub async fn lock_holder(client: &Client) -> Result<Option<LockHolder>> {
    Ok(client.query_opt(LOCK_HOLDER, &[&ROLLOUT_LOCK_KEY]).await?.map(|r| LockHolder {
        pid: r.get(0),
        application: r.get(1),
        user: r.get(2),
        client: r.get(3),
        since: r.get(4),
    }))
}

/// Who and where a connection is, as the server says it: the user it
/// authenticated as, the server's address and port, and whether the
/// connection is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub user: String,
    /// `None` on a unix socket.
    pub address: Option<String>,
    pub port: Option<i32>,
    pub tls: bool,
    /// The server process serving it: fixed for the connection's life.
    pub pid: i32,
}

const CONNECTION: &str = "SELECT session_user::text, host(inet_server_addr()), inet_server_port(), \
    coalesce((SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()), false), \
    pg_catalog.pg_backend_pid()";

/// The server's own account of `client`'s connection.
pub async fn connection(client: &Client) -> Result<Connection> {
    let r = one_row(client, CONNECTION).await?;
    Ok(Connection {
        user: r.try_get(0)?,
        address: r.try_get(1)?,
        port: r.try_get(2)?,
        tls: r.try_get(3)?,
        pid: r.try_get(4)?,
    })
}

impl Connection {
    /// `to database `d` as user `u` on 10.0.0.5 port 5432 over TLS, the
    /// certificate and host name verified`: what the operator must know
    /// before a rollout (the database user, not the OS user; where; how
    /// protected). `verify` is what the host checked of the certificate.
    ///
    /// `dialled` is where the host connected (a proxy or pooler may stand
    /// between it and the server); without it, the server's own address.
    pub fn describe(&self, database: &str, dialled: Option<String>, tls: &rollout_connect::settings::Tls) -> String {
        use rollout_connect::{SslMode, Verify};
        let at = dialled.unwrap_or_else(|| match (&self.address, self.port) {
            (Some(a), Some(p)) => format!("{a} port {p}"),
            (Some(a), None) => a.clone(),
            _ => "a local socket".into(),
        });
        // What this end required is certain; otherwise the server says.
        let encrypted = match tls.mode {
            SslMode::Disable => false,
            mode if mode.requires_tls() => true,
            _ => self.tls,
        };
        let verify = tls.verify;
        let tls = match (encrypted, verify) {
            (false, _) => "without TLS",
            (true, Verify::Nothing) => "over TLS, the server's certificate NOT verified",
            (true, Verify::Chain) => "over TLS, the certificate chain verified (not the host name)",
            (true, Verify::ChainAndName) => "over TLS, the certificate and host name verified",
        };
        crate::text::terminal(&format!("to database `{database}` as user `{}` on {at} {tls}", self.user))
    }
}

/// The session identity a plugin must not change inside its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub current_user: String,
    pub session_user: String,
    pub search_path: String,
    /// `now()`, the start of the transaction: a new value means the plugin
    /// ended the host's transaction and another one began.
    pub transaction_start: String,
    /// The backend serving the session (the sequence watch tells its locks
    /// from every other session's).
    pub pid: i32,
}

impl Identity {
    /// What differs from `before`, in words: `search_path \`a\` → \`b\``.
    pub fn changes_from(&self, before: &Identity) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, was: &str, now: &str| {
            if was != now {
                out.push(format!("{name} `{was}` → `{now}`"));
            }
        };
        field("current_user", &before.current_user, &self.current_user);
        field("session_user", &before.session_user, &self.session_user);
        field("search_path", &before.search_path, &self.search_path);
        if before.transaction_start != self.transaction_start {
            out.push("its transaction ended and another began".to_string());
        }
        out
    }
}

/// Reads the identity; fails if the transaction was aborted.
pub async fn identity(client: &Client) -> Result<Identity> {
    identity_in(&client.simple_query(IDENTITY).await?)
}

/// The identity from the answer to a simple query that ends with
/// [`IDENTITY`] (its only row).
fn identity_in(messages: &[tokio_postgres::SimpleQueryMessage]) -> Result<Identity> {
    let row = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("`{IDENTITY}` returned no row"))?;
    let text = |i: usize| -> Result<String> {
        row.try_get(i)?.map(str::to_string).ok_or_else(|| anyhow::anyhow!("`{IDENTITY}` returned a NULL"))
    };
    let pid = text(4)?.parse().context("`pg_backend_pid()` is not a number")?;
    Ok(Identity {
        current_user: text(0)?,
        session_user: text(1)?,
        search_path: text(2)?,
        transaction_start: text(3)?,
        pid,
    })
}

/// The host's own one-row statement without parameters, in one round trip
/// (`query_typed` sends it unnamed: no separate prepare).
async fn one_row(client: &Client, sql: &str) -> Result<tokio_postgres::Row> {
    let rows = client.query_typed(sql, &[]).await?;
    rows.into_iter().next().ok_or_else(|| anyhow::anyhow!("`{sql}` returned no row"))
}

/// What `DISCARD ALL` resets, but `DEALLOCATE ALL`: the connection's own
/// protocol-level prepared statements (tokio-postgres caches the ones that
/// look up types; a batch keeps its reads) must survive, so only the
/// statements SQL `PREPARE` made (a granted function could run one) are
/// deallocated, by name. One round trip; every name is schema-qualified,
/// whatever `search_path` is. `{plans}` is `DISCARD PLANS` or nothing.
const RESET_SESSION: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
    SELECT pg_catalog.pg_advisory_unlock_all(); {plans} DISCARD TEMP; DISCARD SEQUENCES; \
    SELECT name AS sql_prepared, from_sql, statement FROM pg_catalog.pg_prepared_statements";

/// Whether a reset drops the session's cached plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Plans {
    /// Between two plugins: as a new connection, no plan carried.
    #[default]
    Discard,
    /// Between two batches of one plugin: the host's kept reads keep the
    /// plans they were prepared with (a plan is still revalidated by the
    /// server whenever what it depends on changes).
    Keep,
}

/// Puts the session on `client` back as it was when it connected, outside
/// any transaction: settings (to the connection's own, `application_name`
/// included), role and session authorization, cursors, LISTEN, session
/// advisory locks, cached plans (unless `plans` keeps them), temporary
/// tables, sequence state and SQL-level prepared statements. The rollout
/// lock is on the control connection, never this one. Returns the texts of
/// the protocol-level statements the session still has: one the host kept
/// and that is not among them was deallocated ([`Prepared::forget_gone`]).
pub async fn reset_session(client: &Client, plans: Plans) -> Result<Vec<String>, tokio_postgres::Error> {
    let discard = if plans == Plans::Discard { "DISCARD PLANS;" } else { "" };
    let (mut from_sql, mut kept) = (Vec::new(), Vec::new());
    for message in client.simple_query(&RESET_SESSION.replace("{plans}", discard)).await? {
        // Only the last statement's rows (the advisory unlock returns one too).
        let tokio_postgres::SimpleQueryMessage::Row(row) = message else { continue };
        if row.columns().first().map(|c| c.name()) != Some("sql_prepared") {
            continue;
        }
        match (row.try_get(0), row.try_get(1), row.try_get(2)) {
            (Ok(Some(name)), Ok(Some("t")), _) => from_sql.push(format!("DEALLOCATE {};", crate::quote::ident(name))),
            (_, Ok(Some("f")), Ok(Some(text))) => kept.push(text.to_string()),
            _ => {}
        }
    }
    if !from_sql.is_empty() {
        client.batch_execute(&from_sql.concat()).await?;
    }
    Ok(kept)
}

/// How many statements SQL `PREPARE` made on the session (a granted
/// function can `DEALLOCATE` a host statement and `PREPARE` another under
/// its name): while there are any, the host's kept statements are not used.
/// Unnamed and schema-qualified, so nothing the plugin left can answer it.
pub async fn sql_prepared(client: &Client) -> Result<i64, tokio_postgres::Error> {
    let rows = client.query_typed(SQL_PREPARED, &[]).await?;
    Ok(rows.first().and_then(|r| r.try_get(0).ok()).unwrap_or(i64::MAX))
}

const SQL_PREPARED: &str = "SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql";

/// Opens the host's transaction for one plugin call: timeouts and the
/// pinned `search_path` are `SET LOCAL`, so they end with it. The `BEGIN`,
/// the limits and the identity read are one simple query (one round trip,
/// one statement for the server): the identity is read after the `SET
/// LOCAL`s, inside the new transaction, as two exchanges read it.
pub async fn begin(client: &Client, limits: &Limits, read_only: bool) -> Result<Identity> {
    let sql = format!("{}; {IDENTITY}", begin_sql(limits, read_only));
    identity_in(&client.simple_query(&sql).await.context(CANNOT_LIMIT)?)
}

/// [`begin`] without reading the identity (a check's transaction, which is
/// always rolled back): one round trip.
pub async fn open(client: &Client, limits: &Limits, read_only: bool) -> Result<()> {
    client.batch_execute(&begin_sql(limits, read_only)).await.context(CANNOT_LIMIT)
}

/// `BEGIN [READ ONLY]` and the plugin's limits, as one simple query.
fn begin_sql(limits: &Limits, read_only: bool) -> String {
    let begin = if read_only { "BEGIN READ ONLY" } else { "BEGIN" };
    format!("{begin}; {}", limits_sql(limits))
}

/// Sets one plugin's timeouts (and the pinned `search_path`) for the rest
/// of the open transaction: each plugin of a shared transaction (a full
/// rollback) runs under its own.
pub async fn limit(client: &Client, limits: &Limits) -> Result<()> {
    client.batch_execute(&limits_sql(limits)).await.context(CANNOT_LIMIT)
}

const CANNOT_LIMIT: &str = "cannot set the plugin's statement_timeout, lock_timeout and search_path";

/// The `SET LOCAL`s of one plugin's limits, as one simple query (one round
/// trip). The values are integers from the manifest, so writing them into
/// the text is safe.
fn limits_sql(limits: &Limits) -> String {
    format!(
        "SET LOCAL statement_timeout = '{}ms'; SET LOCAL lock_timeout = '{}ms'; \
         SET LOCAL search_path = pg_catalog, pg_temp; SET LOCAL idle_in_transaction_session_timeout = 0",
        limits.statement_timeout_ms, limits.lock_timeout_ms
    )
}

/// Opens a read-only scope inside the open transaction: a savepoint with
/// `transaction_read_only` on, so the server itself refuses any write a
/// check's statements would make (a granted function that writes, `nextval`).
pub async fn read_only_scope(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("SAVEPOINT host_check; SET LOCAL transaction_read_only = on").await
}

/// Ends the read-only scope: back to the savepoint, so nothing of the check
/// stays, and the transaction is read-write again for the host.
pub async fn end_read_only_scope(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute("ROLLBACK TO SAVEPOINT host_check; RELEASE SAVEPOINT host_check").await
}

/// Ends a transaction without keeping anything; errors are ignored because
/// a lost connection rolls back on its own.
pub async fn rollback(client: &Client) {
    let _ = client.batch_execute("ROLLBACK").await;
}
