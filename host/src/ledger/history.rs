//! Past rollouts, newest first, for `host status`.

use super::{exists, signed};
use tokio_postgres::{Client, Error};

const HISTORY: &str = "
    SELECT id, verb, operator, coalesce(approval_ref, ''), coalesce(gate_verdict, ''), outcome,
           started_at::text, coalesce(ended_at::text, ''), coalesce(message, '')
    FROM rollout_ledger.rollout ORDER BY id DESC LIMIT $1";

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
