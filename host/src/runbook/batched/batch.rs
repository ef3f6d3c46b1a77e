//! One batch of a batched tier: its transaction (`BEGIN`, the batch's own
//! statement timeout and row limit, the plugin's call from the last
//! committed position, the server's count of what it changed, its ledger
//! step, `COMMIT`), and what a timeout, a bad answer or a lost COMMIT
//! answer make of it.

use super::kept;
use super::size::Size;
use super::steps::{self, Mark, Pass, Step};
use super::{Batched, Tried, POSITION_BYTES, TIMEOUTS};
use crate::audit::{Changed, Counts};
use crate::db;
use crate::error::Failure;
use crate::manifest::{Batches, Limits};
use crate::runbook::calls::outcome;
use crate::runbook::sequence_watch::Watch;
use crate::runbook::tier::same_transaction;
use crate::sandbox::{BatchAt, Call, Returned};
use crate::sql::{CheckCache, Stats};
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// What one batch leaves for the next of its pass.
#[derive(Default)]
pub(super) struct Carried {
    /// The sequence watch's reading the batch before proved at its COMMIT,
    /// used as this batch's BEGIN reading (one reading a batch, not two).
    pub watch: Option<Watch>,
    /// The texts the pass's batches passed the grants check with: the same
    /// UPDATE in every batch is checked once.
    pub checks: CheckCache,
    /// What the reset before the batch does with cached plans: discarded
    /// before a pass's first batch (another plugin ran last), kept after.
    pub plans: db::Plans,
}

impl Batched<'_> {
    /// One try of one batch, in a transaction of its own; rolled back
    /// unless it committed.
    /// `carried`: what the batch before left for this one (see [`Carried`]);
    /// this batch leaves its own there for the next.
    pub(super) async fn one(
        &mut self,
        pass: Pass,
        at: &Mark,
        size: &Size,
        bounds: &Batches,
        carried: &mut Carried,
    ) -> Result<Tried, Failure> {
        let tier_limits = &self.tier.manifest.limits;
        let limits = Limits {
            statement_timeout_ms: bounds.statement_timeout_ms,
            rows_changed: bounds.rows_changed.min(tier_limits.rows_changed.saturating_sub(at.rows)),
            ..tier_limits.clone()
        };
        let started = Instant::now();
        // Before the plugin runs, in one round trip on the work connection:
        // the session's reset, BEGIN, and (unless the hold switches roles
        // around its statement) the hold on the rollout's row and the
        // counts before the call. Beside them, the sequences' positions on
        // the control connection, unless the last COMMIT's reading carried.
        let (client, reset_due) = self.work.unreset();
        let calls = self.ctx.calls();
        let early = !calls.under_roles();
        let plans = std::mem::replace(&mut carried.plans, db::Plans::Keep);
        let reset = async {
            match reset_due {
                true => db::reset_session(&client, plans).await.map(|present| kept::forget_gone(&client, &present)),
                false => Ok(()),
            }
        };
        let held_and_counted = async {
            match early {
                true => Some(self.hold_and_count(&client).await),
                false => None,
            }
        };
        let watch = async {
            match carried.watch.take() {
                Some(w) => Ok(w),
                None => Watch::begin(self.control.client()).await,
            }
        };
        let (reset, before, counted, watch) =
            futures_util::join!(reset, db::begin(&client, &limits, false), held_and_counted, watch);
        let (client, before, counted) = match reset {
            Ok(()) => (client, before, counted),
            Err(e) => {
                // What the pipeline began after a failed reset is not used.
                db::rollback(&client).await;
                let client = self.work.recover(self.ctx, e).await?;
                let before = db::begin(&client, &limits, false).await;
                (client, before, None)
            }
        };
        let watch = match watch {
            Ok(w) => w,
            Err(f) => {
                db::rollback(&client).await;
                return Err(f);
            }
        };
        let result = match before {
            Ok(before) => {
                let batch = (pass, at, size);
                let begun = (before, started, counted);
                self.transaction(&client, batch, limits, (&watch, &mut carried.checks), begun).await
            }
            Err(e) => Err(Failure::Database(e)),
        };
        if matches!(result, Ok(Tried::Committed { .. })) {
            carried.watch = watch.carried();
        }
        if matches!(result, Ok(Tried::Committed { .. }) | Err(Failure::CommitUnknown(_))) {
            return result;
        }
        db::rollback(&client).await;
        let ended = watch.after_rollback(self.control.client()).await;
        let label = format!("{} batch {}", self.tier.label(), at.batch + 1);
        match result {
            Err(f) => Err(ended.amend(f)),
            // A timed-out batch is tried again smaller, unless it set a
            // sequence back: that fails the pass, whatever its size.
            Ok(tried) if ended.repaired.is_empty() && ended.clean() => Ok(tried),
            Ok(_) => {
                let cause = "it set a sequence back before it timed out".to_string();
                Err(ended.amend(Failure::TierFailed { label, cause }))
            }
        }
    }

    async fn transaction(
        &self,
        client: &Arc<Client>,
        (pass, at, size): (Pass, &Mark, &Size),
        limits: Limits,
        (watch, checks): (&Watch, &mut CheckCache),
        (before, started, early): (db::Identity, Instant, Option<Result<Counts, Failure>>),
    ) -> Result<Tried, Failure> {
        let (tier, calls) = (self.tier, self.ctx.calls());
        let label = format!("{} batch {}", tier.label(), at.batch + 1);
        let counts = match early {
            Some(counts) => counts?,
            None => self.hold_and_count(client).await?,
        };
        let sql = calls.sql_access_within(tier, client, limits);
        let call_at = BatchAt { position: at.position.clone(), size: size.as_u32() };
        let call = match pass {
            Pass::Apply => Call::ApplyBatch(call_at),
            Pass::Rollback => Call::RollbackBatch(call_at),
        };
        // From here to its COMMIT the batch holds what it locks: the time
        // production's writes to its rows may wait, which sizes the next.
        let calling = Instant::now();
        sql.lock().await.swap_checks(checks);
        let result = calls.call(self.plan, tier, call.clone(), client, &sql).await;
        sql.lock().await.swap_checks(checks);
        let result = result?;
        sql.lock().await.close_streams().await;
        let stats = sql.lock().await.stats.clone();
        if let Some(why) = timed_out(&stats) {
            return Ok(Tried::TimedOut(why));
        }
        let batch = match result {
            Ok(Returned::Batch(b)) if stats.errors.is_empty() => b,
            other => {
                outcome(tier, &call, other, &stats)?;
                let cause = "it returned no batch".to_string();
                return Err(Failure::TierFailed { label: format!("{label} {}", call.name()), cause });
            }
        };
        let fail = |cause: String| Failure::TierFailed { label: format!("{label} {}", call.name()), cause };
        if let Some(p) = batch.next.as_ref().filter(|p| p.len() > POSITION_BYTES) {
            return Err(fail(format!(
                "its next position is {} bytes; the host keeps at most {POSITION_BYTES}",
                p.len()
            )));
        }
        if batch.next.is_some() && batch.next == at.position {
            return Err(fail("its next position is the one it was given: the pass would never end".into()));
        }
        let step = Step {
            rollout_id: self.rollout_id,
            tier,
            pass,
            batch: at.batch + 1,
            done: true,
            position: batch.next.as_deref(),
            rows: stats.rows_changed,
            duration_ms: started.elapsed().as_millis() as u64,
            message: None,
        };
        // While the batch's rows are locked, what its COMMIT would check,
        // the reads that prove it and its step go in one round trip, in
        // this order on the work connection (the checks' triggers write
        // before the counts read). The sequences are read on the control
        // connection once the check is back (a deferred trigger may set
        // one back), beside the rest, prepared there once. Under roles the
        // step waits for the ledger writer's role switch, and the check
        // puts the constraint modes back: the role wall's own deferred
        // trigger must fire at COMMIT, after that switch.
        let pipelined = !calls.under_roles();
        let step_label = format!("{label} {}", call.name());
        let modes = if pipelined { db::Modes::LeaveImmediate } else { db::Modes::PutBack };
        let checked_then_watched = async {
            crate::runbook::deferred::check(
                self.ctx,
                client,
                &step_label,
                modes,
                crate::runbook::deferred::Wait::AsCommit,
            )
            .await?;
            watch.before_commit(self.control.client(), &label, before.pid).await
        };
        // Its counts and its locks (for the pass's footprint, in its own
        // transaction: a relation it created is there), kept prepared.
        let reads = async { futures_util::join!(same_transaction(client, &before, &label), kept::read(client)) };
        // Written only in the transaction the batch began: were it ended,
        // the step would not be kept in one of its own.
        let insert = || async {
            match steps::insert(client, &step, Some(&before.transaction_start)).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(Failure::TierFailed {
                    label: label.clone(),
                    cause: "its transaction ended before its step was written; nothing of it is kept".into(),
                }),
                Err(e) => Err(Failure::from(e)),
            }
        };
        let pipelined_insert = async {
            match pipelined {
                true => Some(insert().await),
                false => None,
            }
        };
        let (checked, (same, read), inserted) = futures_util::join!(checked_then_watched, reads, pipelined_insert);
        checked?;
        same?;
        let kept::Proven { counts: now, held, last } = read.proven(&label)?;
        let changed = now.since(&counts, &tier.manifest.grants);
        calls.prove_in(client, &label).await?;
        match inserted {
            Some(done) => done?,
            None => calls.as_writer(client, insert()).await?,
        }
        self.commit_batch(client, &step, last).await?;
        let (stats, began, holding) = (Box::new(stats), started, calling.elapsed());
        Ok(Tried::Committed { next: batch.next, total: batch.total, stats, changed, held, began, holding })
    }

    /// The hold on the rollout's row, then the counts before the call (the
    /// server's counts of a session carry earlier transactions' until it
    /// reports them: the batch's are the difference). Pipelined, one round
    /// trip, unless the hold switches roles around its statement: then the
    /// counts wait for it.
    async fn hold_and_count(&self, client: &Client) -> Result<Counts, Failure> {
        let calls = self.ctx.calls();
        let hold = self.control.hold(calls, client, self.rollout_id);
        let counts = if calls.under_roles() {
            hold.await?;
            Counts::read(client).await
        } else {
            let (held_rollout, counts) = futures_util::join!(hold, Counts::read(client));
            held_rollout?;
            counts
        };
        counts.map_err(counted)
    }

    /// COMMIT of one batch; a lost answer is settled from the ledger's step.
    async fn commit_batch(&self, client: &Client, step: &Step<'_>, last: db::Last) -> Result<(), Failure> {
        let ctx = self.ctx;
        let what = format!("batch {} of {}", step.batch, self.tier.label());
        let _critical = ctx.interrupt().critical(format!("COMMIT of {what}"));
        let err = match db::commit(client, &last).await {
            Ok(()) => return Ok(()),
            Err(e) if db::gate_refused(&e) => {
                return Err(Failure::TierFailed { label: what, cause: crate::runbook::commit::gated(&e) })
            }
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) && ctx.interrupt().is_set() =>
            {
                return Err(ctx.stopped(format!("the COMMIT of {what} was cancelled by the interrupt: not kept")));
            }
            Err(e) if e.code().is_some() && !crate::sql::convert::connection_lost(&e) => {
                let cause = format!("its COMMIT was refused ({}); nothing of it was kept", db::why(&e));
                return Err(Failure::TierFailed { label: what, cause });
            }
            Err(e) => e,
        };
        match steps::committed(self.control.client(), step).await {
            Ok(true) => {
                let line = format!("the answer to COMMIT was lost ({}), but the ledger shows {what} committed", db::why(&err));
                ctx.reporter().status("Warning", &line);
                Ok(())
            }
            Ok(false) => Err(Failure::Database(anyhow::anyhow!(
                "the answer to COMMIT of {what} was lost ({}); the ledger shows it did not commit: nothing of it was kept",
                db::why(&err)
            ))),
            Err(f) => Err(Failure::CommitUnknown(format!(
                "the answer to COMMIT of {what} was lost ({}) and the ledger cannot be read ({f}): the batch is \
                 committed with its step or not at all; the next `host run` or `host rollback` reads the steps first",
                db::why(&err)
            ))),
        }
    }
}

/// A failed counts read, as the batch's failure.
fn counted(e: anyhow::Error) -> Failure {
    Failure::Database(e.context("cannot read the batch's row counts"))
}

/// Adds one batch's counted changes to the pass's, relation by relation.
pub(super) fn add_changed(pass: &mut Vec<Changed>, batch: Vec<Changed>) {
    for c in batch {
        match pass.iter_mut().find(|p| p.relation == c.relation) {
            Some(p) => {
                p.inserted += c.inserted;
                p.updated += c.updated;
                p.deleted += c.deleted;
                for op in c.not_granted {
                    if !p.not_granted.contains(&op) {
                        p.not_granted.push(op);
                    }
                }
            }
            None => pass.push(c),
        }
    }
}

/// The first timeout among a batch's SQL errors (the host writes each as
/// `SQL error <SQLSTATE> in …`, the SQLSTATE the server's).
fn timed_out(stats: &Stats) -> Option<String> {
    stats.errors.iter().find(|e| TIMEOUTS.iter().any(|code| e.starts_with(&format!("SQL error {code} ")))).cloned()
}
