//! A rollout's row: opened with who ran what, held by each change
//! transaction, given the gate's verdict, closed with its outcome and
//! report, and read back for `host report`.

use super::{exists, storable, Outcome, Verdict};
use crate::plan::{Plan, Plugin};
use std::collections::BTreeMap;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Error};

/// The ledger keeps reports (an older host's may not: read-only verbs
/// never upgrade it).
const HAS_REPORTS: &str = "
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('rollout_ledger.rollout') AND attname = 'report' AND NOT attisdropped)";
const START: &str = "
    INSERT INTO rollout_ledger.rollout (verb, operator, client_host, params, approval_ref, plugins, host_version, roles)
    VALUES ($1, $2, $3, $4::text::jsonb, $5, $6::text::jsonb, $7, $8) RETURNING id";
/// In a change transaction (a tier's apply, a rollback): holds the
/// rollout's row until the transaction ends, so no other command settles
/// the rollout while a COMMIT of it may still happen, and says whether the
/// rollout is still running under the rollout lock of the control
/// connection `$3`.
const HOLD: &str = "
    SELECT r.outcome = 'running' AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_lock_status() l
        WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $2::bigint::oid AND l.objsubid = 1
          AND l.granted AND l.pid = $3)
    FROM rollout_ledger.rollout r WHERE r.id = $1 FOR SHARE OF r";
/// Waits (up to the control connection's lock_timeout) until no change
/// transaction of the rollout is open on the server.
const AWAIT_END: &str = "SELECT id FROM rollout_ledger.rollout WHERE id = $1 FOR UPDATE";
const SET_GATE: &str = "UPDATE rollout_ledger.rollout SET gate_verdict = $2 WHERE id = $1";
/// Closes the row; [`finish`] runs it after the statements' INSERT, as one
/// statement.
const FINISH: &str = "
    UPDATE rollout_ledger.rollout
    SET outcome = $2, message = $3, ended_at = clock_timestamp(), report = $4::text::jsonb
    WHERE id = $1";
const STORED: &str = "SELECT outcome, host_version, report::text FROM rollout_ledger.rollout WHERE id = $1";
/// The same of a ledger not yet upgraded (no `report` column): read-only
/// verbs never upgrade it.
const STORED_BEFORE_REPORTS: &str =
    "SELECT outcome, host_version, NULL::text FROM rollout_ledger.rollout WHERE id = $1";

/// In a change transaction on `client`: holds rollout `id` (see [`HOLD`])
/// and says whether it is still running under the rollout lock that the
/// control connection (backend `control_pid`) took.
pub async fn hold(client: &Client, id: i64, control_pid: i32) -> Result<bool, Error> {
    // One round trip (typed, no separate prepare): it runs twice per tier.
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] =
        [(&id, Type::INT8), (&crate::db::ROLLOUT_LOCK_KEY, Type::INT8), (&control_pid, Type::INT4)];
    let rows = client.query_typed(HOLD, &params).await?;
    Ok(rows.first().is_some_and(|r| r.try_get::<_, Option<bool>>(0).ok().flatten() == Some(true)))
}

/// Waits until no change transaction of rollout `id` is open on the server
/// (bounded by the connection's lock_timeout: then an error).
pub async fn await_end(client: &Client, id: i64) -> Result<(), Error> {
    client.query(AWAIT_END, &[&id]).await.map(|_| ())
}

/// Who started a rollout, with what.
pub struct Start<'a> {
    pub verb: &'a str,
    pub operator: &'a str,
    pub client_host: &'a str,
    pub params: &'a BTreeMap<String, String>,
    pub approval_ref: Option<&'a str>,
    pub plan: &'a Plan,
    /// Every plugin runs as its own restricted role, proven first.
    pub roles: bool,
}

/// Records a rollout and returns its id.
pub async fn start(client: &Client, s: Start<'_>) -> Result<i64, Error> {
    let plugins: Vec<_> = s.plan.all().map(Plugin::record).collect();
    let params = serde_json::to_string(s.params).expect("params serialise");
    let plugins = serde_json::to_string(&plugins).expect("plugins serialise");
    let version = env!("CARGO_PKG_VERSION");
    let row = client
        .query_one(
            START,
            &[&s.verb, &s.operator, &s.client_host, &params, &s.approval_ref, &plugins, &version, &s.roles],
        )
        .await?;
    Ok(row.get(0))
}

/// Records the gate's verdict on the rollout.
pub async fn set_gate(client: &Client, id: i64, verdict: Verdict) -> Result<(), Error> {
    client.execute(SET_GATE, &[&id, &verdict.as_str()]).await.map(|_| ())
}

/// Closes the rollout row with its outcome and the report of the command
/// (everything `report.json` and `report.md` show, see `report::stored`),
/// and records what each tier sent ([`statements`](super::statements)) in
/// the same statement: the close costs no round trip more.
pub async fn finish(
    client: &Client,
    id: i64,
    outcome: Outcome,
    message: &str,
    report: Option<&serde_json::Value>,
    listings: &[super::statements::Listing],
) -> Result<(), Error> {
    let report = report.map(serde_json::Value::to_string);
    let columns = super::statements::Columns::of(listings);
    let (outcome, message) = (outcome.as_str(), storable(message));
    let message: &str = &message;
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id, &outcome, &message, &report];
    params.extend(columns.params());
    let sql = format!("WITH listed AS ({}) {FINISH}", super::statements::INSERT);
    client.execute(sql.as_str(), &params).await.map(|_| ())
}

/// What the ledger holds of one rollout's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// No ledger in this database: no run or rollback ever ran here.
    NoLedger,
    /// No rollout of that id.
    NoRollout,
    /// The rollout is there, without a report: still running, abandoned,
    /// or closed by a host that did not store reports.
    Missing { outcome: String, host_version: String },
    /// The report as jsonb text.
    Report(String),
}

/// The report stored with rollout `id`. Reads only: a ledger an older host
/// created is not upgraded here (it has no report to give).
pub async fn stored(client: &Client, id: i64) -> Result<Stored, Error> {
    if !exists(client).await? {
        return Ok(Stored::NoLedger);
    }
    let query =
        if client.query_one(HAS_REPORTS, &[]).await?.get::<_, bool>(0) { STORED } else { STORED_BEFORE_REPORTS };
    let Some(row) = client.query_opt(query, &[&id]).await? else {
        return Ok(Stored::NoRollout);
    };
    Ok(match row.try_get::<_, Option<String>>(2)? {
        Some(report) => Stored::Report(report),
        None => Stored::Missing { outcome: row.try_get(0)?, host_version: row.try_get(1)? },
    })
}
