//! Where the database is and how to reach it, the way psql reaches it: a
//! URL or `key=value` string, the service file, the `PG*` environment,
//! `.pgpass`, and `sslmode` with rustls. Every connection the host opens
//! (control, tier, check, and cancel requests) goes through one [`Target`],
//! so all of them use the same settings.
//!
//! Depends on nothing else in the host.

pub mod conninfo;
pub mod pgpass;
pub mod settings;
pub mod tls;
pub mod wire;

use anyhow::{anyhow, Result};
pub use conninfo::os_user;
use settings::{Endpoint, Host, Settings};
pub use settings::{SslMode, Verify};
use std::sync::{Arc, Mutex, Weak};
use tokio_postgres::config::SslNegotiation;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{CancelToken, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;
use wire::{Framed, Guarded, Socket, Wire};

/// Where to connect, with every setting resolved and TLS ready.
#[derive(Clone)]
pub struct Target {
    settings: Settings,
    tls: Option<MakeRustlsConnect>,
    /// Every connection this target opened: where it went (cancel requests
    /// go to the same server) and its [`Wire`].
    links: Arc<Mutex<Vec<Link>>>,
}

/// What the host knows of one of its connections.
struct Link {
    client: Weak<Client>,
    endpoint: Endpoint,
    wire: Arc<Wire>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Target {
    /// From a connection string (URL or `key=value`), or from the
    /// environment alone, as psql does.
    pub fn new(conn: Option<&str>) -> Result<Target> {
        Target::with_env(conn, &conninfo::ProcessEnv)
    }

    /// The same, with an explicit environment (tests).
    pub fn with_env(conn: Option<&str>, env: &dyn conninfo::Environment) -> Result<Target> {
        let given = conn.map(conninfo::parse).transpose()?.unwrap_or_default();
        let values = conninfo::with_fallbacks(given, env)?;
        let settings = Settings::resolve(&values, env)?;
        let tls = tls::client_config(&settings.tls)?.map(MakeRustlsConnect::new);
        Ok(Target { settings, tls, links: Arc::default() })
    }

    /// The same server, database and settings as another user (the
    /// runner of restricted roles): a password given for this user (in the
    /// string or PGPASSWORD) is not that user's and is dropped; the
    /// password file is read for the new user at connect time, as libpq
    /// would.
    pub fn as_user(&self, user: &str) -> Target {
        let mut t = self.clone();
        t.settings.user = user.to_string();
        t.settings.password = None;
        t
    }

    /// The resolved settings (for `describe`, tests and the ledger).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new connection, named for `pg_stat_activity`. Tries each host in
    /// order, like libpq; the error names every host tried and why.
    pub async fn connect(&self, application_name: &str) -> Result<Arc<Client>> {
        let mut failures = Vec::new();
        for endpoint in &self.settings.endpoints {
            match self.connect_to(endpoint, application_name).await {
                Ok((client, wire)) => {
                    let client = Arc::new(client);
                    if let Ok(mut links) = self.links.lock() {
                        links.retain(|l| l.client.strong_count() > 0);
                        links.push(Link { client: Arc::downgrade(&client), endpoint: endpoint.clone(), wire });
                    }
                    return Ok(client);
                }
                Err(e) => failures.push((endpoint_name(endpoint), e.to_string())),
            }
        }
        let why = match failures.as_slice() {
            [(_, only)] => only.clone(),
            all => all.iter().map(|(host, e)| format!("{host}: {e}")).collect::<Vec<_>>().join("; "),
        };
        Err(anyhow!("cannot connect to {}: {why}", self.describe()))
    }

    /// One host, bounded as a whole by `connect_timeout`: the TCP connect,
    /// the TLS handshake and authentication (a server that accepts and then
    /// stalls must not hang a rollout).
    async fn connect_to(&self, endpoint: &Endpoint, application_name: &str) -> Result<(Client, Arc<Wire>)> {
        match self.settings.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, self.connect_unbounded(endpoint, application_name))
                .await
                .map_err(|_| anyhow!("no answer within connect_timeout={}s", limit.as_secs()))?,
            None => self.connect_unbounded(endpoint, application_name).await,
        }
    }

    /// One connection on a socket the host opens itself, under a [`Wire`]
    /// (above TLS when TLS is used).
    async fn connect_unbounded(&self, endpoint: &Endpoint, application_name: &str) -> Result<(Client, Arc<Wire>)> {
        let config = self.config(endpoint, application_name);
        let host_name = match &endpoint.host {
            Host::Tcp(h) => h.clone(),
            Host::Unix(_) => String::new(),
        };
        let explain = |e: tokio_postgres::Error| match tls::explain(&e, &self.settings.tls, &host_name) {
            Some(why) => anyhow!("{why}"),
            None => anyhow!("{}", chain(&e)),
        };
        let wire = Wire::new();
        let socket = self.socket(endpoint).await?;
        let client = match (&self.tls, &endpoint.host) {
            (Some(tls), Host::Tcp(h)) => {
                let connector = MakeTlsConnect::<Framed<Socket>>::make_tls_connect(&mut tls.clone(), h)
                    .map_err(|e| anyhow!("TLS for {h}: {e}"))?;
                let guarded = Guarded { tls: connector, wire: wire.clone() };
                let (client, connection) =
                    config.connect_raw(Framed::socket(socket, wire.clone()), guarded).await.map_err(explain)?;
                tokio::spawn(log_end(connection));
                client
            }
            _ => {
                let framed = Framed::frames(socket, wire.clone());
                let (client, connection) = config.connect_raw(framed, tokio_postgres::NoTls).await.map_err(explain)?;
                tokio::spawn(log_end(connection));
                client
            }
        };
        if self.settings.read_write {
            let row = client.query_one("SHOW transaction_read_only", &[]).await.map_err(explain)?;
            if row.try_get::<_, String>(0).map_err(explain)? == "on" {
                return Err(anyhow!("the server is read-only (target_session_attrs=read-write)"));
            }
        }
        Ok((client, wire))
    }

    /// A socket to `endpoint`: TCP (`hostaddr`, else every address the name
    /// resolves to, in order) with keepalives as libpq sets them, or the
    /// unix socket in the given directory.
    async fn socket(&self, endpoint: &Endpoint) -> Result<Socket> {
        open_socket(endpoint, &self.settings).await
    }

    fn config(&self, endpoint: &Endpoint, application_name: &str) -> Config {
        let s = &self.settings;
        let mut c = Config::new();
        match &endpoint.host {
            Host::Tcp(h) => c.host(h),
            Host::Unix(dir) => c.host_path(dir),
        };
        if let Some(addr) = endpoint.hostaddr {
            c.hostaddr(addr);
        }
        c.port(endpoint.port).user(&s.user).dbname(&s.dbname);
        let name = match &s.application_name {
            Some(given) => format!("{given} ({application_name})"),
            None => application_name.to_string(),
        };
        c.application_name(&name);
        if let Some(pw) = self.password(endpoint) {
            c.password(pw);
        }
        if let Some(o) = &s.options {
            c.options(o);
        }
        if let Some(t) = s.connect_timeout {
            c.connect_timeout(t);
        }
        c.keepalives(s.keepalives);
        if let Some(idle) = s.keepalives_idle {
            c.keepalives_idle(idle);
        }
        if s.read_write {
            c.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        c.channel_binding(s.channel_binding);
        // TLS is never used on a unix socket (as in libpq); `allow` is
        // taken as `prefer`.
        let mode = match (&endpoint.host, s.tls.mode) {
            (Host::Unix(_), _) | (_, SslMode::Disable) => tokio_postgres::config::SslMode::Disable,
            (_, m) if m.requires_tls() => tokio_postgres::config::SslMode::Require,
            _ => tokio_postgres::config::SslMode::Prefer,
        };
        c.ssl_mode(mode);
        if s.tls.direct {
            c.ssl_negotiation(SslNegotiation::Direct);
        }
        c
    }

    /// The string's or PGPASSWORD's password, else the password file's.
    fn password(&self, endpoint: &Endpoint) -> Option<String> {
        let s = &self.settings;
        if s.password.is_some() {
            return s.password.clone();
        }
        let file = s.passfile.as_ref()?;
        let host = match &endpoint.host {
            Host::Tcp(h) => h.clone(),
            Host::Unix(dir) => dir.display().to_string(),
        };
        let mut hosts = vec![host.as_str()];
        if matches!(&endpoint.host, Host::Unix(d) if settings::SOCKET_DIRS.iter().any(|s| d.as_path() == std::path::Path::new(s)))
        {
            hosts.push("localhost");
        }
        let found = pgpass::lookup(file, &hosts, endpoint.port, &s.dbname, &s.user);
        if let Some(w) = found.warning {
            eprintln!("warning: {w}");
        }
        found.password
    }

    /// A handle that cancels the running statement of `client`, sent to
    /// the same server with the same TLS settings as the connection.
    pub fn canceller(&self, client: &Client) -> Canceller {
        let endpoint = self.link(client, |l| l.endpoint.clone());
        Canceller { token: client.cancel_token(), tls: self.tls.clone(), endpoint, settings: self.settings.clone() }
    }

    /// The [`Wire`] under `client`, if this target opened it.
    pub fn wire(&self, client: &Client) -> Option<Arc<Wire>> {
        self.link(client, |l| l.wire.clone())
    }

    /// Where `client` connected, as this host dialled it (`db (10.0.0.5)
    /// port 5432`, `socket /run/postgresql/.s.PGSQL.5432`), if this target
    /// opened it.
    pub fn endpoint_of(&self, client: &Client) -> Option<String> {
        self.link(client, |l| endpoint_name(&l.endpoint))
    }

    fn link<T>(&self, client: &Client, what: impl Fn(&Link) -> T) -> Option<T> {
        let links = self.links.lock().ok()?;
        links.iter().find(|l| std::ptr::eq(l.client.as_ptr(), client)).map(what)
    }

    /// Hosts, database, user and sslmode, for messages; never the password.
    pub fn describe(&self) -> String {
        let s = &self.settings;
        let hosts: Vec<String> = s.endpoints.iter().map(endpoint_name).collect();
        format!("database `{}` as `{}` on {} (sslmode={})", s.dbname, s.user, hosts.join(", "), s.tls.mode.name())
    }
}

fn endpoint_name(e: &Endpoint) -> String {
    match &e.host {
        Host::Tcp(h) => match e.hostaddr {
            Some(a) if a.to_string() != *h => format!("{h} ({a}) port {}", e.port),
            _ => format!("{h} port {}", e.port),
        },
        Host::Unix(dir) => format!("socket {}/.s.PGSQL.{}", dir.display(), e.port),
    }
}

/// An error and its causes on one line (tokio-postgres says only "db
/// error" at the top; the server's message is the cause).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A socket to `endpoint`, as [`Target::socket`] says.
async fn open_socket(endpoint: &Endpoint, settings: &Settings) -> Result<Socket> {
    let port = endpoint.port;
    let addresses: Vec<std::net::SocketAddr> = match (&endpoint.host, endpoint.hostaddr) {
        (Host::Unix(dir), _) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let socket = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| anyhow!("cannot connect to the socket {}: {e}", path.display()))?;
            return Ok(Socket::Unix(socket));
        }
        (_, Some(addr)) => vec![std::net::SocketAddr::new(addr, port)],
        (Host::Tcp(h), None) => {
            tokio::net::lookup_host((h.as_str(), port)).await.map_err(|e| anyhow!("cannot resolve {h}: {e}"))?.collect()
        }
    };
    let mut last = anyhow!("no address to connect to");
    for addr in addresses {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                if settings.keepalives {
                    let idle = settings.keepalives_idle.unwrap_or(std::time::Duration::from_secs(2 * 60 * 60));
                    let keepalive = socket2::TcpKeepalive::new().with_time(idle);
                    socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
                }
                return Ok(Socket::Tcp(stream));
            }
            Err(e) => last = anyhow!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

async fn log_end<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::warn!("database connection ended: {e}");
    }
}

/// How long a cancel request may take before the host stops waiting.
const CANCEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Cancels a running statement on the server (Ctrl-C, a deadline).
#[derive(Clone)]
pub struct Canceller {
    token: CancelToken,
    tls: Option<MakeRustlsConnect>,
    /// Where the connection went (none for one the target did not open).
    endpoint: Option<Endpoint>,
    settings: Settings,
}

impl Canceller {
    /// Asks the server to cancel; failures are ignored (the caller is
    /// already stopping, and a lost connection ends the statement anyway).
    pub async fn cancel(&self) {
        let Some(endpoint) = &self.endpoint else { return };
        let send = async {
            let Ok(socket) = open_socket(endpoint, &self.settings).await else { return };
            let _ = match (&self.tls, &endpoint.host) {
                (Some(tls), Host::Tcp(h)) => {
                    let Ok(connector) = MakeTlsConnect::<Socket>::make_tls_connect(&mut tls.clone(), h);
                    self.token.cancel_query_raw(socket, connector).await
                }
                _ => self.token.cancel_query_raw(socket, tokio_postgres::NoTls).await,
            };
        };
        // Bounded: the operator's Ctrl-C must not wait on a silent server.
        let _ = tokio::time::timeout(CANCEL_TIMEOUT, send).await;
    }
}

#[cfg(test)]
mod tests;
