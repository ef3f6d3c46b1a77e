//! The ledger side of a batched tier: its `batch` steps in
//! `rollout_ledger.step`, each written inside its batch's own transaction
//! (so the data and the checkpoint never disagree), and what they say of a
//! pass an earlier command left open.
//!
//! A step is *settled* once an `applied` or `rolled_back` event of its
//! plugin exists in its rollout or a later one; the open steps are the rest,
//! in order. An open `rollback` step (the marker the host writes when a
//! tier fails, or a committed rollback batch) means the pass is being rolled
//! back: a run refuses to resume it, `host rollback` continues it. Open
//! `apply` steps only: an interrupted apply, which `host run` resumes and
//! `host rollback` undoes. A step whose position is NULL after the first
//! ends its pass.

use crate::db;
use crate::error::Failure;
use crate::plan::Plugin;
use tokio_postgres::Client;

const OPEN: &str = "
    SELECT s.sha256, s.phase, s.seq, s.state, s.position, s.rows_changed
    FROM rollout_ledger.step s
    WHERE s.plugin = $1 AND s.kind = 'batch'
      AND NOT EXISTS (SELECT 1 FROM rollout_ledger.tier_event e
                      WHERE e.plugin = s.plugin AND e.event IN ('applied', 'rolled_back')
                        AND e.rollout_id >= s.rollout_id)
    ORDER BY s.id";
const INSERT: &str = "
    INSERT INTO rollout_ledger.step
        (rollout_id, plugin, ordinal, sha256, phase, kind, seq, state, position, rows_changed, duration_ms, message)
    VALUES ($1, $2, $3, $4, $5, 'batch', $6, $7, $8, $9, $10, $11)";
/// [`INSERT`] kept only in the transaction that began at `$12`
/// (`now()`, as the batch's identity read it): one its plugin ended and
/// replaced, or no transaction at all, writes nothing.
const INSERT_IN: &str = "
    INSERT INTO rollout_ledger.step
        (rollout_id, plugin, ordinal, sha256, phase, kind, seq, state, position, rows_changed, duration_ms, message)
    SELECT $1, $2, $3, $4, $5, 'batch', $6, $7, $8, $9, $10, $11
    WHERE pg_catalog.now()::text = $12";
const HAS: &str = "
    SELECT count(*) FROM rollout_ledger.step
    WHERE rollout_id = $1 AND plugin = $2 AND phase = $3 AND seq = $4 AND state = 'done' AND kind = 'batch'";
const PLUGINS_OPEN: &str = "
    SELECT plugin, max(ordinal) FROM rollout_ledger.step s
    WHERE kind = 'batch'
      AND NOT EXISTS (SELECT 1 FROM rollout_ledger.tier_event e
                      WHERE e.plugin = s.plugin AND e.event IN ('applied', 'rolled_back')
                        AND e.rollout_id >= s.rollout_id)
    GROUP BY plugin ORDER BY 2, 1";
const HAS_STEPS: &str = "SELECT to_regclass('rollout_ledger.step') IS NOT NULL";
const AWAIT_END: &str = "SELECT id FROM rollout_ledger.rollout WHERE id = $1 FOR UPDATE";

/// Which pass of a batched tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    Apply,
    Rollback,
}

impl Pass {
    /// The ledger's `step.phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::Apply => "apply",
            Pass::Rollback => "rollback",
        }
    }
}

/// Where a pass stands: the last batch committed (0: none), its position
/// (none: the start, or, after the first batch, the end), the rows the
/// host counted the committed batches changing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    pub batch: u64,
    pub position: Option<String>,
    pub rows: u64,
}

impl Mark {
    /// Every batch of the pass is committed: only its conditions are left.
    pub fn finished(&self) -> bool {
        self.batch > 0 && self.position.is_none()
    }
}

/// What the ledger holds of a batched tier that no event settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Open {
    Nothing,
    /// An apply an earlier command committed part of.
    Apply {
        sha256: String,
        at: Mark,
    },
    /// A rollback that is started (a failed tier) or part done.
    Rollback {
        sha256: String,
        at: Mark,
        applied_rows: u64,
    },
}

/// The open steps of `tier` on the control connection.
pub(crate) async fn open(client: &Client, tier: &Plugin) -> Result<Open, Failure> {
    open_of(client, &tier.manifest.name).await
}

async fn open_of(client: &Client, plugin: &str) -> Result<Open, Failure> {
    let rows = client.query(OPEN, &[&plugin]).await?;
    let mut open = Open::Nothing;
    for r in rows {
        let sha256: String = r.try_get(0)?;
        let phase: String = r.try_get(1)?;
        let seq: i32 = r.try_get(2)?;
        let state: String = r.try_get(3)?;
        let position: Option<String> = r.try_get(4)?;
        let rows: i64 = r.try_get(5)?;
        let done = state == "done" && seq > 0;
        let step = Mark { batch: seq.max(0) as u64, position, rows: rows.max(0) as u64 };
        open = match (open, phase.as_str()) {
            (Open::Nothing, "apply") => Open::Apply { sha256, at: Mark { rows: step.rows, ..step } },
            (Open::Apply { at, .. }, "apply") if done => {
                Open::Apply { sha256, at: Mark { rows: at.rows + step.rows, ..step } }
            }
            (Open::Apply { at, .. }, "rollback") => {
                Open::Rollback { sha256, at: if done { step } else { Mark::default() }, applied_rows: at.rows }
            }
            (Open::Nothing, "rollback") => {
                Open::Rollback { sha256, at: if done { step } else { Mark::default() }, applied_rows: 0 }
            }
            (Open::Rollback { at, applied_rows, .. }, "rollback") if done => {
                Open::Rollback { sha256, at: Mark { rows: at.rows + step.rows, ..step }, applied_rows }
            }
            (other, _) => other,
        };
    }
    Ok(open)
}

/// One step row, in the transaction open on `client` (a batch's), or on
/// the control connection (the rollback marker).
pub(crate) struct Step<'a> {
    pub rollout_id: i64,
    pub tier: &'a Plugin,
    pub pass: Pass,
    pub batch: u64,
    pub done: bool,
    pub position: Option<&'a str>,
    pub rows: u64,
    /// From the batch's BEGIN to the plugin's answer: the step is written
    /// in the same round trip as the checks before its COMMIT, so their
    /// time is not in it (the report's batch lines hold the whole batch).
    pub duration_ms: u64,
    pub message: Option<&'a str>,
}

/// Writes `s`. `within`: the `now()` its batch's transaction began at, as
/// the batch's identity read it; the row is then written only in that
/// transaction, and `false` says the one open on `client` is another
/// (or none), nothing written.
pub(crate) async fn insert(client: &Client, s: &Step<'_>, within: Option<&str>) -> Result<bool, tokio_postgres::Error> {
    use tokio_postgres::types::{ToSql, Type};
    let state = if s.done { "done" } else { "started" };
    let (ordinal, batch, rows, ms) = (s.tier.ordinal() as i32, s.batch as i32, s.rows as i64, s.duration_ms as i64);
    let phase = s.pass.as_str();
    let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&s.rollout_id, Type::INT8),
        (&s.tier.manifest.name, Type::TEXT),
        (&ordinal, Type::INT4),
        (&s.tier.sha256, Type::TEXT),
        (&phase, Type::TEXT),
        (&batch, Type::INT4),
        (&state, Type::TEXT),
        (&s.position, Type::TEXT),
        (&rows, Type::INT8),
        (&ms, Type::INT8),
        (&s.message, Type::TEXT),
    ];
    let sql = match &within {
        Some(began) => {
            params.push((began, Type::TEXT));
            INSERT_IN
        }
        None => INSERT,
    };
    // Typed, with no separate prepare: one round trip in every batch. The
    // rows written from the server's command tag (`RETURNING` would need
    // the SELECT the ledger writer does not hold under roles).
    let mut written = std::pin::pin!(client.query_typed_raw(sql, params).await?);
    while futures_util::StreamExt::next(&mut written).await.transpose()?.is_some() {}
    Ok(within.is_none() || written.rows_affected() == Some(1))
}

/// After a batch's COMMIT lost its answer: once the batch's transaction
/// has ended (it held the rollout's row), whether its step is there.
pub(crate) async fn committed(client: &Client, s: &Step<'_>) -> Result<bool, Failure> {
    let bound = std::time::Duration::from_secs(35);
    let read = async {
        client.query(AWAIT_END, &[&s.rollout_id]).await?;
        let n: i64 = client
            .query_one(HAS, &[&s.rollout_id, &s.tier.manifest.name, &s.pass.as_str(), &(s.batch as i32)])
            .await?
            .try_get(0)?;
        Ok::<bool, tokio_postgres::Error>(n > 0)
    };
    match tokio::time::timeout(bound, read).await {
        Ok(Ok(kept)) => Ok(kept),
        Ok(Err(e)) => Err(Failure::Database(anyhow::anyhow!("cannot read the ledger: {}", db::why(&e)))),
        Err(_) => Err(Failure::Database(anyhow::anyhow!("no answer from the ledger in {} s", bound.as_secs()))),
    }
}

/// When a rollout is applied up to a batched tier whose apply an earlier
/// command left open (the tiers before it applied by exactly these bytes,
/// nothing after it), how many tiers `host run` skips to resume it; none
/// otherwise (the run then starts from the baseline or refuses as usual).
pub(crate) async fn resumable_after(
    client: &Client,
    plan: &crate::plan::Plan,
    applied: &[crate::ledger::Applied],
) -> Result<Option<usize>, Failure> {
    let k = applied.len();
    let Some(next) = plan.tiers.get(k) else {
        return Ok(None);
    };
    let prefix = plan.tiers[..k].iter().zip(applied).all(|(t, a)| t.manifest.name == a.plugin && t.sha256 == a.sha256);
    if k == 0 || !prefix || next.manifest.mode != crate::manifest::Mode::Batched {
        return Ok(None);
    }
    Ok(matches!(open(client, next).await?, Open::Apply { .. }).then_some(k))
}

/// `host status`'s lines: every batched tier with batches committed that no
/// event settled, where it stands and what comes next.
pub(crate) async fn open_lines(client: &Client) -> Result<Vec<String>, Failure> {
    let has: bool = client.query_one(HAS_STEPS, &[]).await?.try_get(0)?;
    if !has {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for r in client.query(PLUGINS_OPEN, &[]).await? {
        let (plugin, ordinal): (String, i32) = (r.try_get(0)?, r.try_get(1)?);
        let name = crate::text::terminal(&plugin);
        let at = |m: &Mark| match &m.position {
            Some(p) => format!("position {}", crate::text::terminal(&format!("{p:?}"))),
            None if m.batch > 0 => "every batch done".into(),
            None => "not started".into(),
        };
        lines.push(match open_of(client, &plugin).await? {
            Open::Nothing => continue,
            Open::Apply { at: m, .. } => format!(
                "Tier {ordinal} ({name}) is partly applied in batches: {} batch(es) committed, {} rows, {}; \
                 `host run` resumes it, `host rollback` undoes it.",
                m.batch,
                m.rows,
                at(&m)
            ),
            Open::Rollback { at: m, applied_rows, .. } => format!(
                "Tier {ordinal} ({name}) is being rolled back in batches: {} rollback batch(es) committed, {} rows, \
                 {} ({applied_rows} rows were applied); `host rollback` finishes it.",
                m.batch,
                m.rows,
                at(&m)
            ),
        });
    }
    Ok(lines)
}
