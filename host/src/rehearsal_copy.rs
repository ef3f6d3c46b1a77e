//! The rehearsal copy: the operator's mark that a database is one, and the
//! server identity that pins every connection of a rehearsal to it.
//!
//! The mark is read from the catalog (`pg_db_role_setting`, the database's
//! own setting for every role), never with `current_setting`: a client sets
//! that too (`options` in a URL, `PGOPTIONS`, a service file, `ALTER ROLE …
//! SET`), so production reached with such a setting would pass for the copy.
//! The identity (system identifier, database oid, postmaster start time) is
//! read once by the rehearsal on the connection its digests use, and every
//! step's connection proves it stands on the same server and database before
//! it runs anything: a multi-host URL, a pooler or a load balancer that lands
//! a step elsewhere is refused.
//!
//! Depends on nothing else in the host.

use std::fmt;
use tokio_postgres::Client;

/// The setting that marks a database as a rehearsal copy, set by its
/// operator on the copy only (`ALTER DATABASE … SET host.rehearsal_copy =
/// on`): `host rehearse` and its steps run only where it is on, and never
/// read a source where it is.
pub const COPY_MARK: &str = "host.rehearsal_copy";

/// Whether the database's own setting for every role (`ALTER DATABASE …
/// SET`, `setrole = 0`) carries [`COPY_MARK`] = `on`. Setting names are
/// case-insensitive; the value must be exactly `on`.
const MARKED: &str = "SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_db_role_setting s
      JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
      CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(setting)
     WHERE d.datname = pg_catalog.current_database() AND s.setrole = 0
       AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) = $1
       AND pg_catalog.substr(c.setting, pg_catalog.strpos(c.setting, '=') + 1) = 'on')";

/// Whether the session's database is marked as a rehearsal copy in the
/// catalog (whatever the session's own settings say).
pub async fn is_marked(client: &Client) -> Result<bool, tokio_postgres::Error> {
    client.query_one(MARKED, &[&COPY_MARK]).await?.try_get(0)
}

/// Why a database that is not marked as a copy is refused for a rehearsal.
pub fn unmarked(database: &str) -> String {
    format!(
        "database `{database}` is not marked as a rehearsal copy: a rehearsal runs and rolls back the plan again and \
         again, so it runs only where the operator said so; on the copy (never on production) run `ALTER DATABASE \
         {database} SET {COPY_MARK} = on` (a setting given by the client — URL options, PGOPTIONS, a role's \
         settings — does not count), or check that --copy-url and --from are not swapped"
    )
}

/// Which server and database a connection stands on. The start time tells
/// apart two servers with one system identifier (a copy made from a file
/// system snapshot or a base backup of the other), the oid two databases
/// of one name on one server's successive lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// `pg_control_system().system_identifier`, set by initdb.
    pub system: i64,
    /// The database's oid.
    pub database: i64,
    /// `pg_postmaster_start_time()`, in microseconds since the epoch (a
    /// number, so no session's TimeZone or DateStyle changes its text).
    pub started_us: i64,
}

const IDENTITY: &str = "SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system()),
       (SELECT oid::bigint FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()),
       (EXTRACT(epoch FROM pg_catalog.pg_postmaster_start_time()) * 1000000)::bigint";

impl Identity {
    /// The identity of the server and database `client` stands on.
    pub async fn of(client: &Client) -> Result<Identity, tokio_postgres::Error> {
        let row = client.query_one(IDENTITY, &[]).await?;
        Ok(Identity { system: row.try_get(0)?, database: row.try_get(1)?, started_us: row.try_get(2)? })
    }

    /// The server's start, for messages.
    fn started(&self) -> String {
        let secs = self.started_us.div_euclid(1_000_000);
        let micros = self.started_us.rem_euclid(1_000_000) as u32;
        chrono::DateTime::from_timestamp(secs, micros * 1000)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f UTC").to_string())
            .unwrap_or_else(|| format!("{} µs after the epoch", self.started_us))
    }
}

/// As messages show it.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "system {}, database oid {}, server started {}", self.system, self.database, self.started())
    }
}

/// Why a connection of a rehearsal step is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "this connection reached another server or database than the copy the rehearsal reads ({reached}; the copy: \
         {copy}): a multi-host URL, a pooler or a load balancer sent it elsewhere; a step runs only where the \
         rehearsal's digests are read, so point --copy-url at the copy's server alone"
    )]
    Elsewhere { reached: Identity, copy: Identity },
    #[error("{}", unmarked(.0))]
    Unmarked(String),
    #[error("cannot prove this connection stands on the rehearsal's copy: {0}")]
    Unreadable(#[from] tokio_postgres::Error),
}

/// Proves, before anything else runs on it, that `client` stands on the
/// copy the rehearsal pinned (`copy`) and that its database is marked.
pub async fn prove(client: &Client, copy: &Identity) -> Result<(), Refused> {
    let reached = Identity::of(client).await?;
    if reached != *copy {
        return Err(Refused::Elsewhere { reached, copy: *copy });
    }
    if !is_marked(client).await? {
        let database: String = client.query_one("SELECT pg_catalog.current_database()::text", &[]).await?.try_get(0)?;
        return Err(Refused::Unmarked(database));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Identity;

    #[test]
    fn an_identity_reads_back_as_passed_and_nothing_else_does() {
        let id = Identity { system: -7716239831049466389, database: 16384, started_us: 1_751_367_600_123_456 };
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), id);
        for bad in ["", "{}", r#"{"system":1,"database":2}"#, r#"{"system":"a","database":2,"started_us":3}"#, "on"] {
            assert!(serde_json::from_str::<Identity>(bad).is_err(), "{bad:?}");
        }
        assert!(id.to_string().contains("server started 2025-07-01 11:00:00.123456 UTC"), "{id}");
    }
}
