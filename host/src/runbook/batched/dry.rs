//! The dry run's view of a batched tier: its first batch, inside the dry
//! run's one transaction (rolled back with it), under the batch's own
//! limits. The rest of the pass and the post-conditions are not run: they
//! would test a database the dry run does not build, so it says so. The
//! server counts what the batch changed, as it does for a run's batch.

use crate::audit::Counts;
use crate::db;
use crate::error::Failure;
use crate::manifest::Limits;
use crate::plan::{Plan, Plugin};
use crate::runbook::calls::outcome;
use crate::runbook::context::Context;
use crate::runbook::tier::{same_transaction, TierError, TierRecord};
use crate::sandbox::{BatchAt, Call, Returned};
use std::sync::Arc;
use tokio_postgres::Client;

/// The first batch of `tier` on `client`, in the transaction open there.
pub(in crate::runbook) async fn dry_apply(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    client: &Arc<Client>,
    before: &db::Identity,
) -> Result<TierRecord, TierError> {
    let fail = |failure: Failure, record: &TierRecord| TierError { failure, record: record.clone() };
    let mut record = TierRecord::default();
    let bounds = tier.manifest.batches.clone().unwrap_or_default();
    let limits = Limits {
        statement_timeout_ms: bounds.statement_timeout_ms,
        rows_changed: bounds.rows_changed.min(tier.manifest.limits.rows_changed),
        ..tier.manifest.limits.clone()
    };
    db::limit(client, &limits).await.map_err(|e| fail(Failure::Database(e), &record))?;
    let counted = |e: anyhow::Error| Failure::Database(e.context("cannot read the transaction's row counts"));
    let counts = Counts::read(client).await.map_err(|e| fail(counted(e), &record))?;
    let calls = ctx.calls();
    let sql = calls.sql_access_within(tier, client, limits);
    let call = Call::ApplyBatch(BatchAt { position: None, size: u32::try_from(bounds.size).unwrap_or(u32::MAX) });
    let (result, stats) = calls.call_closed(plan, tier, call.clone(), client, &sql).await;
    record.stats = stats;
    let result = result.map_err(|f| fail(f, &record))?;
    let next = match &result {
        Ok(Returned::Batch(b)) if record.stats.errors.is_empty() => b.next.clone(),
        _ => {
            outcome(tier, &call, result, &record.stats).map_err(|f| fail(f, &record))?;
            let cause = "it returned no batch".to_string();
            return Err(fail(Failure::TierFailed { label: tier.label(), cause }, &record));
        }
    };
    same_transaction(client, before, &tier.label()).await.map_err(|f| fail(f, &record))?;
    let after = Counts::read(client).await.map_err(|e| fail(counted(e), &record))?;
    record.changed = after.since(&counts, &tier.manifest.grants);
    let label = tier.label();
    let last = db::last_count(client).await.map_err(|e| fail(Failure::Database(e.into()), &record))?;
    if !last.blocking.is_empty() {
        let cause = format!(
            "its first batch locks {}: a batch changes rows; DDL belongs in a tier of its own",
            last.blocking.join(", ")
        );
        return Err(fail(Failure::TierFailed { label, cause }, &record));
    }
    let after = match next {
        Some(p) => format!("the pass would go on from position \"{}\"", crate::text::terminal(&p)),
        None => "it was the whole pass".to_string(),
    };
    let rows = record.stats.rows_changed;
    ctx.reporter().status("Previewed", &format!("{}: its first batch only ({rows} rows); {after}", tier.label()));
    let why = "a batched tier's dry run runs its first batch only";
    ctx.reporter().warning("Not proven", &format!("post-conditions of {}: {why}", tier.label()));
    Ok(record)
}
