//! A batched pass's conditions (post-conditions after the apply, rollback
//! conditions after the rollback): once, after the last batch, in a
//! transaction of their own that commits with the tier's event.

use super::steps::Pass;
use super::Batched;
use crate::db;
use crate::error::Failure;
use crate::ledger::TierEvent;
use crate::runbook::commit::commit;
use crate::runbook::control::CommitMark;
use crate::runbook::tier::{ledger_event, same_transaction, TierRecord};
use crate::sandbox::Call;
use crate::sql::Stats;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

impl Batched<'_> {
    /// The pass's conditions (post-conditions after the apply, rollback
    /// conditions after the rollback) in a transaction of their own that
    /// commits with the tier's event.
    pub(super) async fn conditions(
        &mut self,
        pass: Pass,
        stats: &Stats,
        started: Instant,
    ) -> Result<TierRecord, (Failure, TierRecord)> {
        let mut record = TierRecord { stats: stats.clone(), ..Default::default() };
        let client = match self.work.next(self.ctx).await {
            Ok(c) => c,
            Err(f) => return Err((f, record)),
        };
        match self.conditions_in(&client, pass, &mut record, started).await {
            Ok(()) => Ok(record),
            Err(f) => {
                db::rollback(&client).await;
                Err((f, record))
            }
        }
    }

    async fn conditions_in(
        &self,
        client: &Arc<Client>,
        pass: Pass,
        record: &mut TierRecord,
        started: Instant,
    ) -> Result<(), Failure> {
        let (ctx, tier, calls) = (self.ctx, self.tier, self.ctx.calls());
        let label = tier.label();
        let before = db::begin(client, &tier.manifest.limits, false).await.map_err(Failure::Database)?;
        self.control.hold(calls, client, self.rollout_id).await?;
        let sql = calls.sql_access(tier, client);
        let m = &tier.manifest;
        let (call, declared, what, event) = match pass {
            Pass::Apply => (Call::PostConditions, &m.post_conditions, "Post-conditions", TierEvent::Applied),
            Pass::Rollback => {
                (Call::RollbackConditions, &m.rollback_conditions, "Rollback conditions", TierEvent::RolledBack)
            }
        };
        let title = format!("{what} — {label}");
        let table = calls.table(self.plan, tier, call, client, &sql, declared, &title).await;
        sql.lock().await.close_streams().await;
        let s = sql.lock().await.stats.clone();
        record.stats.statements += s.statements;
        record.stats.rows_returned += s.rows_returned;
        record.stats.sent.absorb(&s.sent);
        let table = table?;
        record.conditions = Some(table.clone());
        if !table.passed {
            let cause = format!("{} not met: {}", what.to_lowercase(), table.failures());
            return Err(Failure::TierFailed { label, cause });
        }
        if pass == Pass::Apply && ctx.step().fail_at == Some(tier.ordinal()) {
            return Err(Failure::Injected { label });
        }
        same_transaction(client, &before, &label).await?;
        calls.prove_in(client, &label).await?;
        let last = db::last_count(client).await.map_err(|e| Failure::Database(e.into()))?;
        let e = ledger_event(self.rollout_id, tier, event, started.elapsed().as_millis(), &record.stats, None);
        calls.record_in(client, &e).await?;
        let mark = CommitMark { rollout_id: self.rollout_id, plugin: &m.name, event };
        commit(ctx, client, self.control, &label, mark, last).await
    }
}
