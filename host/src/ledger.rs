//! The ledger in the target database (schema `rollout_ledger`): one row per
//! rollout and an append-only event per tier.
//!
//! The `applied` and `rolled_back` events are written on the tier's own
//! connection inside its transaction, so ledger and data never disagree;
//! `failed` and `interrupted` events are written afterwards on the control
//! connection, since the tier's transaction is gone.

use crate::plan::{Plan, Plugin};
use std::collections::BTreeMap;

mod signed;
pub mod statements;
pub use signed::{set_lock, LockSigned};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Error};

const SCHEMA: &str = include_str!("../sql/ledger.sql");
const EXISTS: &str = "SELECT to_regclass('rollout_ledger.tier_event') IS NOT NULL";
/// The newest change ledger.sql makes is there: the ledger is current.
const CURRENT: &str = "
    SELECT to_regclass('rollout_ledger.statement') IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('rollout_ledger.tier_event') AND attname = 'replaces' AND NOT attisdropped)";
/// The ledger has the step table (read-only verbs never upgrade it).
const HAS_STEPS: &str = "SELECT to_regclass('rollout_ledger.step') IS NOT NULL";
/// The ledger keeps reports (an older host's may not: read-only verbs
/// never upgrade it).
const HAS_REPORTS: &str = "
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('rollout_ledger.rollout') AND attname = 'report' AND NOT attisdropped)";
const START: &str = "
    INSERT INTO rollout_ledger.rollout (verb, operator, client_host, params, approval_ref, plugins, host_version, roles)
    VALUES ($1, $2, $3, $4::text::jsonb, $5, $6::text::jsonb, $7, $8) RETURNING id";
const ABANDON: &str = "
    UPDATE rollout_ledger.rollout
    SET outcome = 'abandoned', ended_at = clock_timestamp(),
        message = format('abandoned: still marked running when %s took the rollout lock at %s; '
                         'the host that ran it stopped without closing it (killed, crashed, or cut off)',
                         $1::text, clock_timestamp())
    WHERE id IN (SELECT id FROM rollout_ledger.rollout WHERE outcome = 'running' FOR UPDATE SKIP LOCKED)
    RETURNING id";
/// Rollouts still `running` after [`ABANDON`]: each has a change transaction
/// open on the server (it holds its row, [`HOLD`]), so it is not settled.
const BUSY: &str = "SELECT id FROM rollout_ledger.rollout WHERE outcome = 'running' ORDER BY id";
/// In a change transaction (a tier's apply, a rollback): holds the
/// rollout's row until the transaction ends, so no other command settles
/// the rollout while a COMMIT of it may still happen, and says whether the
/// rollout is still running under the rollout lock of the control
/// connection `$3`.
const HOLD: &str = "
    SELECT r.outcome = 'running' AND EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = $2::bigint::oid AND l.objsubid = 1
          AND l.granted AND l.pid = $3)
    FROM rollout_ledger.rollout r WHERE r.id = $1 FOR SHARE OF r";
/// Waits (up to the control connection's lock_timeout) until no change
/// transaction of the rollout is open on the server.
const AWAIT_END: &str = "SELECT id FROM rollout_ledger.rollout WHERE id = $1 FOR UPDATE";
const EVENTS_OF: &str = "
    SELECT rollout_id, ordinal, plugin, event FROM rollout_ledger.tier_event
    WHERE rollout_id = ANY ($1) ORDER BY id";
/// The batches a rollout committed, per tier and pass (a batched tier's
/// steps commit before its event).
const BATCHES_OF: &str = "
    SELECT rollout_id, ordinal, plugin, phase, count(*), sum(rows_changed)::int8 FROM rollout_ledger.step
    WHERE rollout_id = ANY ($1) AND kind = 'batch' AND state = 'done' AND seq > 0
    GROUP BY rollout_id, ordinal, plugin, phase ORDER BY rollout_id, ordinal, phase";
const SET_GATE: &str = "UPDATE rollout_ledger.rollout SET gate_verdict = $2 WHERE id = $1";
const FINISH: &str = "
    UPDATE rollout_ledger.rollout
    SET outcome = $2, message = $3, ended_at = clock_timestamp(), report = $4::text::jsonb
    WHERE id = $1";
const STORED: &str = "SELECT outcome, host_version, report::text FROM rollout_ledger.rollout WHERE id = $1";
/// The same of a ledger not yet upgraded (no `report` column): read-only
/// verbs never upgrade it.
const STORED_BEFORE_REPORTS: &str =
    "SELECT outcome, host_version, NULL::text FROM rollout_ledger.rollout WHERE id = $1";
const EVENT: &str = "
    INSERT INTO rollout_ledger.tier_event
        (rollout_id, plugin, ordinal, sha256, event, duration_ms, statements, rows_changed, message, replaces)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const APPLIED: &str = "
    SELECT e.plugin, e.ordinal, e.sha256, e.at::text, r.operator, coalesce(r.approval_ref, ''), e.rollout_id
    FROM (SELECT DISTINCT ON (plugin) * FROM rollout_ledger.tier_event
          WHERE event IN ('applied', 'rolled_back') ORDER BY plugin, id DESC) e
    JOIN rollout_ledger.rollout r ON r.id = e.rollout_id
    WHERE e.event = 'applied'
    ORDER BY e.ordinal";
const HAS_EVENT: &str =
    "SELECT count(*) FROM rollout_ledger.tier_event WHERE rollout_id = $1 AND plugin = $2 AND event = $3";
const HISTORY: &str = "
    SELECT id, verb, operator, coalesce(approval_ref, ''), coalesce(gate_verdict, ''), outcome,
           started_at::text, coalesce(ended_at::text, ''), coalesce(message, '')
    FROM rollout_ledger.rollout ORDER BY id DESC LIMIT $1";

/// What happened to a tier: the ledger's `tier_event.event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierEvent {
    Applied,
    RolledBack,
    Failed,
    Interrupted,
    Verified,
}

impl TierEvent {
    /// The word the ledger stores (its CHECK constraint lists them).
    pub fn as_str(self) -> &'static str {
        match self {
            TierEvent::Applied => "applied",
            TierEvent::RolledBack => "rolled_back",
            TierEvent::Failed => "failed",
            TierEvent::Interrupted => "interrupted",
            TierEvent::Verified => "verified",
        }
    }

    /// Written in the change's own transaction: true only once it committed.
    pub fn committed(self) -> bool {
        matches!(self, TierEvent::Applied | TierEvent::RolledBack)
    }
}

/// How a command ended: `rollout.outcome` in the ledger, `outcome` in the
/// report (where a command that succeeded is `ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Complete,
    RolledBack,
    Blocked,
    Failed,
    Interrupted,
    Refused,
    /// Found still `running` by a later command holding the lock: the host
    /// that ran it is gone.
    Abandoned,
    /// A COMMIT's answer was lost and the ledger could not be read.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Complete => "complete",
            Outcome::RolledBack => "rolled_back",
            Outcome::Blocked => "blocked",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Refused => "refused",
            Outcome::Abandoned => "abandoned",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The gate's verdict, as the ledger and the operator's screen say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    Blocked,
}

impl Verdict {
    pub fn of(passed: bool) -> Verdict {
        if passed {
            Verdict::Ready
        } else {
            Verdict::Blocked
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "READY",
            Verdict::Blocked => "BLOCKED",
        }
    }
}

/// Creates the ledger, or upgrades one an older host created, when it is
/// not current (call under the lock). `ledger.sql` is idempotent and runs
/// whole, in one implicit transaction, only then: a current ledger sees no
/// DDL.
pub async fn ensure(client: &Client) -> Result<(), Error> {
    if !client.query_one(CURRENT, &[]).await?.get::<_, bool>(0) {
        client.batch_execute(SCHEMA).await?;
    }
    Ok(())
}

/// True once some `run` or `rollback` has created the ledger.
pub async fn exists(client: &Client) -> Result<bool, Error> {
    Ok(client.query_one(EXISTS, &[]).await?.get(0))
}

/// A rollout found still `running` under the lock, settled from its
/// ledger rows: what committed is exactly what has an `applied` or
/// `rolled_back` event (written in the change's own transaction).
#[derive(Debug, Clone)]
pub struct Settled {
    pub id: i64,
    /// `tier N (plugin) event`, in the order they were written.
    pub events: Vec<String>,
}

impl Settled {
    /// One line for the operator: what the ledger shows that rollout did.
    pub fn describe(&self) -> String {
        if self.events.is_empty() {
            "the ledger shows no tier event for it: nothing of it committed".to_string()
        } else {
            format!("the ledger shows {}; anything else of it did not commit", self.events.join(", "))
        }
    }
}

/// What [`abandon_stale`] found: rollouts settled, and rollouts left
/// running because a change transaction of theirs is still open on the
/// server (its COMMIT may still happen; its host may still be alive).
#[derive(Debug, Default)]
pub struct Stale {
    pub settled: Vec<Settled>,
    pub busy: Vec<i64>,
}

/// Marks every rollout still `running` as abandoned, saying which command
/// found it, and settles each from its ledger rows. Call only under the
/// rollout lock. A rollout with a change transaction still open (a COMMIT
/// the server is still working on, a host that lost its lock but not its
/// tier's connection) is not settled: it is returned in `busy`.
pub async fn abandon_stale(client: &Client, by: &str) -> Result<Stale, Error> {
    let ids: Vec<i64> = client.query(ABANDON, &[&by]).await?.iter().map(|r| r.get(0)).collect();
    let busy: Vec<i64> = client.query(BUSY, &[]).await?.iter().map(|r| r.get(0)).collect();
    let settled = settle(client, ids).await?;
    Ok(Stale { settled, busy })
}

/// Each abandoned rollout with what its ledger rows show committed.
async fn settle(client: &Client, ids: Vec<i64>) -> Result<Vec<Settled>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut settled: Vec<Settled> = ids.iter().map(|&id| Settled { id, events: Vec::new() }).collect();
    for r in client.query(EVENTS_OF, &[&ids]).await? {
        let (id, ordinal, plugin, event): (i64, i32, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        if let Some(s) = settled.iter_mut().find(|s| s.id == id) {
            s.events.push(format!("tier {ordinal} ({plugin}) {event}"));
        }
    }
    let has_steps: bool = client.query_one(HAS_STEPS, &[]).await?.get(0);
    for r in if has_steps { client.query(BATCHES_OF, &[&ids]).await? } else { Vec::new() } {
        let (id, ordinal, plugin, phase): (i64, i32, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3));
        let (n, rows): (i64, i64) = (r.get(4), r.get(5));
        if let Some(s) = settled.iter_mut().find(|s| s.id == id) {
            s.events.push(format!("tier {ordinal} ({plugin}) {n} {phase} batch(es) committed ({rows} rows)"));
        }
    }
    Ok(settled)
}

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
/// (everything `report.json` and `report.md` show, see `report::stored`).
pub async fn finish(
    client: &Client,
    id: i64,
    outcome: Outcome,
    message: &str,
    report: Option<&serde_json::Value>,
) -> Result<(), Error> {
    let report = report.map(serde_json::Value::to_string);
    client.execute(FINISH, &[&id, &outcome.as_str(), &storable(message).as_ref(), &report]).await.map(|_| ())
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

/// PostgreSQL's text and jsonb cannot hold U+0000, and plugin text can: the
/// ledger keeps it as U+FFFD, so that a plugin's NUL can never stop a
/// rollout from being closed or its events from being written.
pub fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}").into()
    } else {
        text.into()
    }
}

/// [`storable`] over every string (and key) of a JSON value.
pub fn storable_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(storable(&s).into_owned()),
        Value::Array(a) => Value::Array(a.into_iter().map(storable_json).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (storable(&k).into_owned(), storable_json(v))).collect())
        }
        other => other,
    }
}

/// One tier event.
pub struct Event<'a> {
    pub rollout_id: i64,
    pub plugin: &'a str,
    pub ordinal: i32,
    pub sha256: &'a str,
    pub event: TierEvent,
    pub duration_ms: i64,
    pub statements: i64,
    pub rows_changed: i64,
    pub message: Option<&'a str>,
    /// A rollback by a reviewed replacement: the sha256 that applied the
    /// tier (`sha256` is the replacement's).
    pub replaces: Option<&'a str>,
}

/// Appends a tier event (inside the tier's transaction when `client` is
/// the tier's connection).
pub async fn event(client: &Client, e: &Event<'_>) -> Result<(), Error> {
    client
        .execute(
            EVENT,
            &[
                &e.rollout_id,
                &e.plugin,
                &e.ordinal,
                &e.sha256,
                &e.event.as_str(),
                &e.duration_ms,
                &e.statements,
                &e.rows_changed,
                &e.message.map(storable).as_deref(),
                &e.replaces,
            ],
        )
        .await
        .map(|_| ())
}

/// Whether this rollout recorded `event` for `plugin` (a committed tier).
pub async fn has_event(client: &Client, rollout_id: i64, plugin: &str, event: TierEvent) -> Result<bool, Error> {
    let n: i64 = client.query_one(HAS_EVENT, &[&rollout_id, &plugin, &event.as_str()]).await?.get(0);
    Ok(n > 0)
}

/// A tier the ledger says is applied now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub plugin: String,
    pub ordinal: i32,
    pub sha256: String,
    pub at: String,
    pub operator: String,
    pub approval_ref: String,
    pub rollout_id: i64,
}

/// The tiers applied and not rolled back since, by ordinal.
pub async fn applied(client: &Client) -> Result<Vec<Applied>, Error> {
    if !exists(client).await? {
        return Ok(Vec::new());
    }
    let rows = client.query(APPLIED, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| Applied {
            plugin: r.get(0),
            ordinal: r.get(1),
            sha256: r.get(2),
            at: r.get(3),
            operator: r.get(4),
            approval_ref: r.get(5),
            rollout_id: r.get(6),
        })
        .collect())
}

/// Rollbacks by a reviewed replacement, newest first: the tier, both
/// sha256s, the rollout. A ledger without the column (an older host's,
/// which read-only verbs never upgrade) has none.
const REPLACED: &str = "
    SELECT e.ordinal, e.plugin, e.replaces, e.sha256, e.rollout_id, e.at::text
    FROM rollout_ledger.tier_event e
    WHERE e.replaces IS NOT NULL AND e.event = 'rolled_back' ORDER BY e.id DESC LIMIT $1";
const HAS_REPLACES: &str = "
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = to_regclass('rollout_ledger.tier_event') AND attname = 'replaces' AND NOT attisdropped)";

/// A tier a reviewed replacement rolled back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replaced {
    pub ordinal: i32,
    pub plugin: String,
    /// The sha256 that applied the tier.
    pub applied: String,
    /// The replacement's, which rolled it back.
    pub rolled_back_by: String,
    pub rollout_id: i64,
    pub at: String,
}

/// The latest rollbacks by a reviewed replacement, newest first.
pub async fn replaced(client: &Client, limit: i64) -> Result<Vec<Replaced>, Error> {
    if !exists(client).await? || !client.query_one(HAS_REPLACES, &[]).await?.try_get::<_, bool>(0)? {
        return Ok(Vec::new());
    }
    let rows = client.query(REPLACED, &[&limit]).await?;
    rows.iter()
        .map(|r| {
            Ok(Replaced {
                ordinal: r.try_get(0)?,
                plugin: r.try_get(1)?,
                applied: r.try_get(2)?,
                rolled_back_by: r.try_get(3)?,
                rollout_id: r.try_get(4)?,
                at: r.try_get(5)?,
            })
        })
        .collect()
}

/// One past rollout, for `host status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Past {
    pub id: i64,
    pub verb: String,
    pub operator: String,
    pub approval_ref: String,
    pub gate: String,
    pub outcome: String,
    pub started: String,
    pub ended: String,
    pub message: String,
    /// The lock file it ran under: its sha256, who signed it (empty without one).
    pub lock: String,
}

/// The latest rollouts, newest first.
pub async fn history(client: &Client, limit: i64) -> Result<Vec<Past>, Error> {
    if !exists(client).await? {
        return Ok(Vec::new());
    }
    let rows = client.query(HISTORY, &[&limit]).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let mut locks = signed::lock_lines(client, &ids).await?;
    Ok(rows
        .iter()
        .map(|r| Past {
            id: r.get(0),
            verb: r.get(1),
            operator: r.get(2),
            approval_ref: r.get(3),
            gate: r.get(4),
            outcome: r.get(5),
            started: r.get(6),
            ended: r.get(7),
            message: r.get(8),
            lock: locks.remove(&r.get::<_, i64>(0)).unwrap_or_default(),
        })
        .collect())
}
