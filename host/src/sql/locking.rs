//! A DDL statement's table lock, production first: each attempt waits at
//! most `ddl_lock_timeout_ms` inside a savepoint (while a DDL statement
//! waits for its lock every later query on the table queues behind it), is
//! retried after a growing, jittered pause up to `ddl_lock_retries`, and,
//! when the retries are spent, names the sessions that held the lock. The
//! relation locks the session's transaction holds are read here too, for
//! the tier's lock footprint. The SQL is in `locking.sql`.

use super::check::LockMode;
use crate::manifest::Limits;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// The savepoint each attempt runs in; a plugin cannot name it (the
/// checker refuses transaction control).
const SAVEPOINT: &str = "rollout_host_ddl";

/// Sent with the statement, before it: its own savepoint and short wait.
pub(super) fn before(limits: &Limits) -> String {
    format!("SAVEPOINT {SAVEPOINT}; SET LOCAL lock_timeout = '{}ms'", limits.ddl_lock_timeout_ms)
}

/// Sent with the statement, after it: keep what it did and give the tier
/// its own lock_timeout back. After a failed statement it fails too
/// (the transaction is aborted), and [`UNDO`] follows.
pub(super) fn after(limits: &Limits) -> String {
    format!("RELEASE SAVEPOINT {SAVEPOINT}; SET LOCAL lock_timeout = '{}ms'", limits.lock_timeout_ms)
}

/// After an attempt whose wait ran out: back to before it (the short wait
/// goes with the savepoint's rollback).
pub(super) const UNDO: &str = "ROLLBACK TO SAVEPOINT rollout_host_ddl; RELEASE SAVEPOINT rollout_host_ddl";

/// The pause before retry `n` (1-based): 50 ms·2^(n-1), at most 2 s, then
/// ±50 % jitter, so that several waiting hosts do not retry in step.
pub(super) fn pause(n: u64, rng: &mut fastrand::Rng) -> Duration {
    let base = 50u64.saturating_mul(1u64 << (n.saturating_sub(1)).min(16)).min(2_000);
    Duration::from_millis(base / 2 + rng.u64(0..=base))
}

/// The lock modes in `pg_locks` that conflict with `mode`, as PostgreSQL's
/// table of conflicting lock modes says.
fn conflicting(mode: LockMode) -> &'static [&'static str] {
    match mode {
        LockMode::ShareUpdateExclusive => {
            &["ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
        }
        LockMode::Share => &[
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        ],
        LockMode::ShareRowExclusive => &[
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        ],
        LockMode::AccessExclusive => &[
            "AccessShareLock",
            "RowShareLock",
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        ],
    }
}

const SQL: &str = include_str!("locking.sql");

/// One query of `locking.sql`, by its `-- name:` line.
fn sql(name: &str) -> &'static str {
    SQL.split("-- name: ").find_map(|q| q.strip_prefix(name)).map(str::trim).unwrap_or_default()
}

/// A session holding a lock the statement needed.
#[derive(Debug, Clone)]
pub struct Blocker {
    pub pid: i32,
    pub application: String,
    pub state: String,
    pub query_start: String,
    /// How long its transaction has been open: it holds the lock since
    /// some time in it.
    pub holding_ms: i64,
    pub relation: String,
    pub mode: String,
}

impl Blocker {
    /// `pid 123 (app)`, for a status line.
    pub fn short(&self) -> String {
        format!("pid {} ({})", self.pid, self.application)
    }

    /// What the operator needs to find it, for the failure. Not its
    /// query: the failure reaches the plugin, its log and the published
    /// report, and another session's SQL carries values no grant lets the
    /// plugin read (`pg_stat_activity`, read by the host's role); the pid
    /// finds it.
    pub fn describe(&self) -> String {
        format!(
            "pid {} (application `{}`, {}, query started {}, transaction open {} ms, holds {} on {})",
            self.pid,
            self.application,
            self.state,
            self.query_start,
            self.holding_ms,
            mode_name(&self.mode),
            self.relation
        )
    }
}

/// The relations a lock names: `s.t`, or `s.t and s.referenced`.
pub(super) fn relations(relation: &str) -> Vec<String> {
    relation.split(" and ").map(str::to_string).collect()
}

/// The other sessions holding, on `relations` (or their indexes), a lock
/// that conflicts with `mode`. Read on the statement's own session right
/// after its wait ran out (the session is usable again after [`UNDO`]).
pub(super) async fn blockers(client: &Client, relations: &[String], mode: LockMode) -> Vec<Blocker> {
    let modes: Vec<String> = conflicting(mode).iter().map(|m| m.to_string()).collect();
    let rows = match client.query(sql("blockers"), &[&relations, &modes]).await {
        Ok(rows) => rows,
        Err(_) => return Vec::new(),
    };
    rows.iter()
        .filter_map(|r| {
            Some(Blocker {
                pid: r.try_get(0).ok()?,
                application: r.try_get(1).ok()?,
                state: r.try_get(2).ok()?,
                query_start: r.try_get(3).ok()?,
                holding_ms: r.try_get(4).ok()?,
                relation: r.try_get(6).ok()?,
                mode: r.try_get(7).ok()?,
            })
        })
        .collect()
}

/// One relation lock the session's transaction held when the host looked.
#[derive(Debug, Clone)]
pub struct Held {
    /// `schema.name`.
    pub relation: String,
    /// An index rather than a table.
    pub index: bool,
    /// As `pg_locks` names it (`AccessExclusiveLock`).
    pub mode: String,
    pub seen: Instant,
}

/// The relation locks this session's transaction holds now, outside the
/// system schemas and the host's own: one query, no parameters (it can be
/// sent in the same round trip as the statement before it).
pub async fn held(client: &Client) -> Result<Vec<Held>, tokio_postgres::Error> {
    let rows = client.query_typed(sql("held"), &[]).await?;
    Ok(rows_held(&rows))
}

/// The SQL of [`held`], for a caller that keeps it prepared (a batch's).
pub fn held_sql() -> &'static str {
    sql("held")
}

/// [`Held`] from the rows of `held` or of a read of the same columns (the
/// footprint's sampler reads another backend's).
pub fn rows_held(rows: &[tokio_postgres::Row]) -> Vec<Held> {
    let seen = Instant::now();
    rows.iter()
        .filter_map(|r| {
            Some(Held { relation: r.try_get(0).ok()?, index: r.try_get(1).ok()?, mode: r.try_get(2).ok()?, seen })
        })
        .collect()
}

/// How strong a `pg_locks` mode is (0 for one it does not name).
pub fn strength(mode: &str) -> u8 {
    match mode {
        "AccessShareLock" => 1,
        "RowShareLock" => 2,
        "RowExclusiveLock" => 3,
        "ShareUpdateExclusiveLock" => 4,
        "ShareLock" => 5,
        "ShareRowExclusiveLock" => 6,
        "ExclusiveLock" => 7,
        "AccessExclusiveLock" => 8,
        _ => 0,
    }
}

/// `AccessExclusiveLock` as PostgreSQL's documentation names it:
/// `ACCESS EXCLUSIVE`.
pub fn mode_name(mode: &str) -> String {
    let bare = mode.strip_suffix("Lock").unwrap_or(mode);
    let mut out = String::new();
    for c in bare.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The failure when the retries are spent: what waited, who held it, and
/// what to do.
pub(super) fn spent(relation: &str, limits: &Limits, waited: Duration, blockers: &[Blocker]) -> String {
    let held = if blockers.is_empty() {
        "no session held a conflicting lock when the host looked (it may have just ended)".to_string()
    } else {
        format!("held by {}", blockers.iter().map(Blocker::describe).collect::<Vec<_>>().join("; "))
    };
    format!(
        "could not take its lock on {relation} in {} attempts of {} ms each over {} ms (limits \
         ddl_lock_timeout_ms, ddl_lock_retries); {held}. Production queries never queued behind it longer than \
         one attempt. Run the tier again when those sessions have ended (or end them), or raise ddl_lock_retries",
        limits.ddl_lock_retries + 1,
        limits.ddl_lock_timeout_ms,
        waited.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_two_seconds_with_jitter() {
        let mut rng = fastrand::Rng::with_seed(7);
        for n in 1..40 {
            let base = (50u64 << (n - 1).min(16)).min(2_000);
            let p = pause(n, &mut rng).as_millis() as u64;
            assert!(p >= base / 2 && p <= base + base / 2, "retry {n}: {p} ms for base {base}");
        }
    }

    #[test]
    fn modes_read_as_documented() {
        assert_eq!(mode_name("AccessExclusiveLock"), "ACCESS EXCLUSIVE");
        assert_eq!(mode_name("ShareLock"), "SHARE");
        assert!(strength("AccessExclusiveLock") > strength("ShareLock"));
        for name in ["held", "blockers"] {
            // `sql` of a name locking.sql lacks is empty: a read of nothing.
            assert!(!sql(name).is_empty(), "{name}");
        }
    }
}
