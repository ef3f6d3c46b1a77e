//! The resolved connection settings: every value checked and defaulted the
//! way libpq defaults it, so connecting only reads plain fields.

use super::conninfo::{Environment, Values};
use anyhow::{bail, Context, Result};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `sslmode`, as libpq defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// libpq tries plaintext first; the host tries TLS first (`prefer`),
    /// which never sends less protected traffic than `allow` would.
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => bail!("invalid sslmode `{other}`: use disable, allow, prefer, require, verify-ca or verify-full"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The connection fails rather than go on without TLS.
    pub fn requires_tls(self) -> bool {
        matches!(self, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encryption only (`require`/`prefer` with no root certificate).
    Nothing,
    /// The chain up to a CA in `sslrootcert` (`verify-ca`, or `require`
    /// when a root certificate file exists, as in libpq).
    Chain,
    /// The chain and the host name (`verify-full`).
    ChainAndName,
}

/// Everything TLS needs; the files are checked when the config is built.
#[derive(Debug, Clone)]
pub struct Tls {
    pub mode: SslMode,
    pub verify: Verify,
    pub root_cert: Option<PathBuf>,
    pub crl: Option<PathBuf>,
    /// Client certificate and key, when a certificate file is there.
    pub client: Option<(PathBuf, PathBuf)>,
    pub tls13_only: bool,
    pub direct: bool,
    pub sni: bool,
}

/// Where one server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Tcp(String),
    /// A unix-socket directory. TLS is never used on a socket (as in libpq).
    Unix(PathBuf),
}

/// One server to try, in order.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: Host,
    pub hostaddr: Option<IpAddr>,
    pub port: u16,
}

/// Connection settings with libpq's defaults applied. `Debug` never shows
/// the password.
#[derive(Clone)]
pub struct Settings {
    pub endpoints: Vec<Endpoint>,
    pub user: String,
    pub dbname: String,
    /// From the string or PGPASSWORD; otherwise the password file is read
    /// per endpoint at connect time.
    pub password: Option<String>,
    pub passfile: Option<PathBuf>,
    pub tls: Tls,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
    pub options: Option<String>,
    pub read_write: bool,
    pub channel_binding: tokio_postgres::config::ChannelBinding,
    pub keepalives: bool,
    pub keepalives_idle: Option<Duration>,
}

/// Socket directories searched when no host is given, in order: Debian's
/// libpq default and its target. Never `/tmp`: anyone can create a socket
/// there and collect a password from `.pgpass`.
pub const SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/run/postgresql"];

/// Without `connect_timeout`, libpq waits forever; an operator's rollout
/// must not, so the host gives up on one server after this long.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoints", &self.endpoints)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("passfile", &self.passfile)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Applies libpq's defaults to the given (string + service + env) values.
    pub fn resolve(v: &Values, env: &dyn Environment) -> Result<Settings> {
        let get = |k: &str| v.get(k).map(String::as_str).filter(|s| !s.is_empty());
        let dot_pg = env.home().map(|h| h.join(".postgresql"));
        let user = match get("user") {
            Some(u) => u.to_string(),
            None => env.os_user().context("no database user given (user, PGUSER) and the OS user name is unknown")?,
        };
        let endpoints = endpoints(get("host"), get("hostaddr"), get("port"))?;
        let mode = SslMode::parse(get("sslmode").unwrap_or("prefer"))?;
        let tls = tls(v, mode, dot_pg.as_deref())?;
        let connect_timeout = match get("connect_timeout") {
            None => Some(DEFAULT_CONNECT_TIMEOUT),
            Some(s) => {
                let n: i64 =
                    s.parse().with_context(|| format!("invalid connect_timeout `{s}`: a number of seconds"))?;
                // As libpq: 0 or less waits forever; 1 is taken as 2.
                (n > 0).then(|| Duration::from_secs(n.max(2) as u64))
            }
        };
        let read_write = match get("target_session_attrs").unwrap_or("any") {
            "any" => false,
            "read-write" => true,
            other => bail!("target_session_attrs `{other}` is not supported: use any or read-write"),
        };
        let channel_binding = match get("channel_binding").unwrap_or("prefer") {
            "disable" => tokio_postgres::config::ChannelBinding::Disable,
            "prefer" => tokio_postgres::config::ChannelBinding::Prefer,
            "require" => tokio_postgres::config::ChannelBinding::Require,
            other => bail!("invalid channel_binding `{other}`: use disable, prefer or require"),
        };
        match get("gssencmode").unwrap_or("prefer") {
            "disable" | "prefer" => {}
            "require" => {
                bail!("gssencmode=require: GSSAPI encryption is not supported by host; use sslmode=verify-full")
            }
            other => bail!("invalid gssencmode `{other}`"),
        }
        let keepalives = match get("keepalives").unwrap_or("1") {
            "1" => true,
            "0" => false,
            other => bail!("invalid keepalives `{other}`: use 0 or 1"),
        };
        let keepalives_idle = match get("keepalives_idle") {
            None => None,
            Some(s) => {
                let n: u64 = s
                    .parse()
                    .ok()
                    .filter(|n| (1..=86_400).contains(n))
                    .with_context(|| format!("invalid keepalives_idle `{s}`: seconds from 1 to 86400"))?;
                Some(Duration::from_secs(n))
            }
        };
        let passfile = get("passfile").map(PathBuf::from).or_else(|| env.home().map(|h| h.join(".pgpass")));
        Ok(Settings {
            endpoints,
            dbname: get("dbname").unwrap_or(&user).to_string(),
            user,
            // An empty password is no password: `.pgpass` is read, as in libpq.
            password: get("password").map(String::from),
            passfile,
            tls,
            connect_timeout,
            application_name: get("application_name").map(String::from),
            options: get("options").map(String::from),
            read_write,
            channel_binding,
            keepalives,
            keepalives_idle,
        })
    }
}

/// `host`, `hostaddr` and `port` lists, paired as libpq pairs them: one
/// port for all hosts, or one per host.
fn endpoints(hosts: Option<&str>, addrs: Option<&str>, ports: Option<&str>) -> Result<Vec<Endpoint>> {
    let ports: Vec<u16> = match ports {
        None => vec![5432],
        Some(p) => p
            .split(',')
            .map(|p| match p.trim() {
                "" => Ok(5432),
                p if p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse::<u16>().ok().filter(|n| *n > 0).with_context(|| format!("invalid port `{p}`: 1 to 65535"))
                }
                _ => bail!("invalid port: a number from 1 to 65535"),
            })
            .collect::<Result<_>>()?,
    };
    let addrs: Vec<Option<IpAddr>> = match addrs {
        None => Vec::new(),
        Some(a) => a
            .split(',')
            .map(|a| match a.trim() {
                "" => Ok(None),
                a => a.parse().map(Some).with_context(|| format!("invalid hostaddr `{a}`: a numeric IP address")),
            })
            .collect::<Result<_>>()?,
    };
    let hosts: Vec<String> = match hosts {
        Some(h) => h.split(',').map(|h| h.trim().to_string()).collect(),
        None => vec![String::new(); addrs.len().max(1)],
    };
    if !addrs.is_empty() && addrs.len() != hosts.len() {
        bail!("{} hostaddr values for {} hosts: give one per host", addrs.len(), hosts.len());
    }
    if ports.len() != 1 && ports.len() != hosts.len() {
        bail!("{} ports for {} hosts: give one port, or one per host", ports.len(), hosts.len());
    }
    let mut out = Vec::new();
    for (i, h) in hosts.into_iter().enumerate() {
        let port = ports[if ports.len() == 1 { 0 } else { i }];
        let hostaddr = addrs.get(i).copied().flatten();
        let host = if h.starts_with('/') {
            Host::Unix(PathBuf::from(h))
        } else if h.is_empty() {
            match hostaddr {
                Some(a) => Host::Tcp(a.to_string()),
                None => Host::Unix(default_socket_dir(port)),
            }
        } else {
            Host::Tcp(h)
        };
        out.push(Endpoint { host, hostaddr, port });
    }
    Ok(out)
}

/// The first socket directory holding this port's socket, else Debian's.
fn default_socket_dir(port: u16) -> PathBuf {
    SOCKET_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join(format!(".s.PGSQL.{port}")).exists())
        .unwrap_or_else(|| PathBuf::from(SOCKET_DIRS[0]))
}

fn tls(v: &Values, mode: SslMode, dot_pg: Option<&Path>) -> Result<Tls> {
    let get = |k: &str| v.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let default = |name: &str| dot_pg.map(|d| d.join(name));
    let root_cert = match get("sslrootcert") {
        Some("system") => bail!("sslrootcert=system is not supported by host: name the CA file of your server"),
        Some(p) => Some(PathBuf::from(p)),
        None => default("root.crt"),
    }
    .filter(|p| p.exists());
    let verify = match (mode, &root_cert) {
        (SslMode::VerifyFull, Some(_)) => Verify::ChainAndName,
        (SslMode::VerifyCa, Some(_)) => Verify::Chain,
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => bail!(
            "sslmode={} needs the CA that signed the server's certificate, and the root certificate file {} does not exist: \
             give it with sslrootcert (or PGSSLROOTCERT), or use sslmode=require to encrypt without verifying",
            mode.name(),
            get("sslrootcert").map(String::from).or_else(|| default("root.crt").map(|p| p.display().to_string())).unwrap_or_else(|| "~/.postgresql/root.crt".into())
        ),
        // As libpq: with a root certificate file present, require (and
        // prefer) verify the chain.
        (SslMode::Disable, _) | (_, None) => Verify::Nothing,
        (_, Some(_)) => Verify::Chain,
    };
    let crl = match get("sslcrl") {
        Some(p) if !Path::new(p).exists() => bail!("sslcrl: the revocation list {p} does not exist"),
        Some(p) => Some(PathBuf::from(p)),
        None => default("root.crl").filter(|p| p.exists()),
    };
    let client = match get("sslcert") {
        Some(p) if !Path::new(p).exists() => bail!("sslcert: the client certificate {p} does not exist"),
        Some(p) => Some(PathBuf::from(p)),
        None => default("postgresql.crt").filter(|p| p.exists()),
    }
    .map(|cert| {
        let key = get("sslkey").map(PathBuf::from).or_else(|| default("postgresql.key"));
        key.map(|k| (cert, k))
            .context("sslcert is set but no sslkey (and no home directory for ~/.postgresql/postgresql.key)")
    })
    .transpose()?;
    let tls13_only = match get("ssl_min_protocol_version").unwrap_or("TLSv1.2") {
        "TLSv1.2" => false,
        "TLSv1.3" => true,
        "TLSv1" | "TLSv1.1" => bail!("ssl_min_protocol_version below TLSv1.2 is not supported by host"),
        other => bail!("invalid ssl_min_protocol_version `{other}`: use TLSv1.2 or TLSv1.3"),
    };
    let direct = match get("sslnegotiation").unwrap_or("postgres") {
        "postgres" => false,
        "direct" if mode.requires_tls() => true,
        "direct" => bail!("sslnegotiation=direct needs sslmode=require, verify-ca or verify-full"),
        other => bail!("invalid sslnegotiation `{other}`: use postgres or direct"),
    };
    let sni = match get("sslsni").unwrap_or("1") {
        "1" => true,
        "0" => false,
        other => bail!("invalid sslsni `{other}`: use 0 or 1"),
    };
    Ok(Tls { mode, verify, root_cert, crl, client, tls13_only, direct, sni })
}
