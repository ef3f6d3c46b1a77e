//! Rollouts a gone host left `running`: marked abandoned under the
//! rollout lock and settled from their ledger rows.

use tokio_postgres::{Client, Error};

/// The ledger has the step table (read-only verbs never upgrade it).
const HAS_STEPS: &str = "SELECT to_regclass('rollout_ledger.step') IS NOT NULL";
const ABANDON: &str = "
    UPDATE rollout_ledger.rollout
    SET outcome = 'abandoned', ended_at = clock_timestamp(),
        message = format('abandoned: still marked running when %s took the rollout lock at %s; '
                         'the host that ran it stopped without closing it (killed, crashed, or cut off)',
                         $1::text, clock_timestamp())
    WHERE id IN (SELECT id FROM rollout_ledger.rollout WHERE outcome = 'running' FOR UPDATE SKIP LOCKED)
    RETURNING id";
/// Rollouts still `running` after [`ABANDON`]: each has a change transaction
/// open on the server (it holds its row: `rollout::HOLD`), so it is not settled.
const BUSY: &str = "SELECT id FROM rollout_ledger.rollout WHERE outcome = 'running' ORDER BY id";
const EVENTS_OF: &str = "
    SELECT rollout_id, ordinal, plugin, event FROM rollout_ledger.tier_event
    WHERE rollout_id = ANY ($1) ORDER BY id";
/// The batches a rollout committed, per tier and pass (a batched tier's
/// steps commit before its event).
const BATCHES_OF: &str = "
    SELECT rollout_id, ordinal, plugin, phase, count(*), sum(rows_changed)::int8 FROM rollout_ledger.step
    WHERE rollout_id = ANY ($1) AND kind = 'batch' AND state = 'done' AND seq > 0
    GROUP BY rollout_id, ordinal, plugin, phase ORDER BY rollout_id, ordinal, phase";

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
