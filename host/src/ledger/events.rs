//! Tier events: appended per tier (inside its transaction when it
//! committed), and read back as what is applied now and what a reviewed
//! replacement rolled back.

use super::{exists, storable, TierEvent};
use tokio_postgres::{Client, Error};

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
