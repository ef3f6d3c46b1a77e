//! `max_replica_lag_ms`: before each batch, wait while a replica's replay
//! lag is above the bound, so a backfill never outruns the replicas
//! (gh-ost's throttle). The host must be able to read the lag: a role
//! without `pg_read_all_stats` sees NULL, which would read as "no lag", so
//! the tier fails instead of not waiting. With no replica streaming there
//! is nothing to wait for: the host says so once per pass and reads again
//! before every batch (one may connect).

use super::Batched;
use crate::error::Failure;
use std::time::Duration;

/// The largest replay lag of a streaming replica, in ms (0: none, or all
/// caught up), whether this session may read it, and how many replicas.
const LAG: &str = "
    SELECT coalesce(max(extract(epoch FROM replay_lag) * 1000), 0)::float8,
           pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
           count(*)::int8
    FROM pg_stat_replication";

impl Batched<'_> {
    /// Returns once no replica lags more than `bound` ms (none set: at once).
    /// `told` is whether this pass has said no replica streams.
    pub(super) async fn replicas_caught_up(&mut self, bound: Option<u64>, told: &mut bool) -> Result<(), Failure> {
        let Some(bound) = bound else { return Ok(()) };
        let mut said = false;
        loop {
            let client = self.work.next(self.ctx).await?;
            let row = client.query_one(LAG, &[]).await.map_err(|e| Failure::Database(e.into()))?;
            let read =
                |e: tokio_postgres::Error| Failure::Database(anyhow::anyhow!("cannot read the replicas' lag: {e}"));
            let (lag, may): (f64, bool) = (row.try_get(0).map_err(read)?, row.try_get(1).map_err(read)?);
            let replicas: i64 = row.try_get(2).map_err(read)?;
            if !may {
                return Err(Failure::TierFailed {
                    label: self.tier.label(),
                    cause: format!(
                        "batches.max_replica_lag_ms = {bound}, but the connected role cannot read the replicas' \
                         lag (grant it pg_read_all_stats, or remove the bound)"
                    ),
                });
            }
            if replicas == 0 && !*told {
                let line = format!(
                    "{}: batches.max_replica_lag_ms = {bound}, but no replica streams from this server \
                     (pg_stat_replication is empty): no batch waits unless one connects",
                    self.tier.label()
                );
                self.ctx.reporter().status("Note", &line);
                *told = true;
            }
            if lag <= bound as f64 {
                return Ok(());
            }
            if !said {
                let line = format!("{}: a replica's replay lag is {lag:.0} ms, above {bound} ms", self.tier.label());
                self.ctx.reporter().status("Waiting", &line);
                said = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = self.ctx.interrupt().wait() => {
                    return Err(self.ctx.stopped(format!("{} stopped waiting for its replicas", self.tier.label())));
                }
            }
        }
    }
}
