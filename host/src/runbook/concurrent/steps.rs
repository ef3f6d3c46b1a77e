//! A concurrent tier's steps: each `CREATE INDEX CONCURRENTLY` / `DROP
//! INDEX CONCURRENTLY` the plugin sends runs here, in autocommit on the
//! work session, recorded in `rollout_ledger.step` on the control
//! connection (`started` committed before it is sent, `done` or `failed`
//! after); and the recovery that finds what an interrupted step left.
//!
//! What an interruption can leave is one thing: an INVALID index
//! (`pg_index.indisvalid = false`) with the name the ledger recorded. A
//! build that failed, was cancelled, lost its connection or lost its host
//! leaves one (the catalog row is committed before the build starts); so
//! does a concurrent drop stopped half way. Before a step, and before a
//! concurrent tier's apply or rollback, the host drops every such index
//! with `DROP INDEX CONCURRENTLY IF EXISTS`, names quoted by the host, so
//! `CREATE INDEX CONCURRENTLY IF NOT EXISTS` never accepts an INVALID one,
//! and after a build the host proves the index valid. The host drops an
//! index, and counts a build as done, only on a table the plugin's `index`
//! grant names: a name the plugin chose (or forged in the ledger) never
//! reaches an index of any other table. And it drops an INVALID index only
//! when this plugin left it: one its build made in this step (an oid that
//! was not there before), or one the ledger says a step of the same
//! plugin name *and sha256* started and never finished. One of the same
//! name that production, another plugin, or other bytes of this plugin's
//! name left is named with the statement that drops it, never dropped.

mod invalid;

use invalid::{drop_invalid, drop_statement, index, not_left, not_ours, still_building, Index};
pub(crate) use invalid::{recover, Reach};

use crate::manifest::Limits;
use crate::quote;
use crate::report::Reporter;
use crate::sql::check::{Step, StepAction};
use crate::sql::{StepError, Steps};
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

const RECORD: &str = include_str!("step_record.sql");
const LEFT: &str = include_str!("step_left.sql");

/// The longest pause between two attempts of a step blocked on a lock.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Which call of the tier a step belongs to (the ledger's `phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Apply,
    Rollback,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Rollback => "rollback",
        }
    }
}

/// Who a tier's steps are recorded for.
pub(crate) struct Owner {
    pub rollout_id: i64,
    pub plugin: String,
    pub ordinal: i32,
    pub sha256: String,
    pub phase: Phase,
}

/// Runs one tier's steps (one call: its apply or its rollback).
pub(crate) struct Runner {
    pub control: Arc<Client>,
    pub reporter: Arc<Reporter>,
    pub owner: Owner,
    pub limits: Limits,
    /// What the plugin may index or drop.
    pub tables: Reach,
    seq: AtomicI32,
}

impl Runner {
    pub fn new(control: Arc<Client>, reporter: Arc<Reporter>, owner: Owner, limits: Limits, tables: Reach) -> Runner {
        Runner { control, reporter, owner, limits, tables, seq: AtomicI32::new(0) }
    }

    async fn record(&self, seq: i32, state: &str, step: &Step, sql: &str, ms: i64, message: Option<&str>) -> bool {
        let o = &self.owner;
        let object = quoted(step);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
            &o.rollout_id,
            &o.plugin,
            &o.ordinal,
            &o.sha256,
            &o.phase.as_str(),
            &seq,
            &state,
            &sql,
            &object,
            &ms,
            &message,
        ];
        match self.control.execute(RECORD, &params).await {
            Ok(_) => true,
            Err(e) => {
                let why = crate::db::why(&e);
                self.reporter.error(&format!("could not record the {state} step {object} in the ledger: {why}"));
                false
            }
        }
    }

    /// One step, the session writable only for its length.
    async fn step(&self, client: &Client, step: &Step, sql: &str) -> Result<(), StepError> {
        client.batch_execute("SET default_transaction_read_only = off").await.map_err(StepError::Sql)?;
        let result = self.recorded(client, step, sql).await;
        if let Err(e) = client.batch_execute("SET default_transaction_read_only = on").await {
            return Err(result.err().unwrap_or(StepError::Sql(e)));
        }
        result
    }

    async fn recorded(&self, client: &Client, step: &Step, sql: &str) -> Result<(), StepError> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        // The index of the step's name before it: an INVALID one this
        // plugin did not leave fails the step before it is recorded or
        // sent (so the ledger never claims it), and a build that fails
        // drops only what it made.
        let found = index(client, &quoted(step)).await.map_err(StepError::Sql)?;
        if let Some(i) = found.as_ref().filter(|i| !i.valid && step.action == StepAction::Build) {
            self.ours(i, seq).await?;
        }
        let found = found.map(|i| i.oid);
        if !self.record(seq, "started", step, sql, 0, None).await {
            return Err(StepError::Failed("cannot record the step in the ledger before sending it".into()));
        }
        let result = self.attempts(client, step, sql).await;
        let ms = started.elapsed().as_millis() as i64;
        let result = match result {
            Ok(()) => self.proven(client, step).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(()) => {
                self.record(seq, "done", step, sql, ms, None).await;
                let verb = if step.action == StepAction::Build { "Built" } else { "Dropped" };
                self.reporter.status(verb, &format!("index {} in {ms} ms (outside a transaction)", step.object()));
            }
            Err(e) => {
                let why = match e {
                    StepError::Sql(e) => crate::db::why(e),
                    StepError::Failed(why) => why.clone(),
                };
                self.record(seq, "failed", step, sql, ms, Some(&why)).await;
                // What it left is dropped now when the session is there,
                // or by the next run's or rollback's recovery.
                if let Err(left) = self.drop_made(client, step, found).await {
                    self.reporter.warning("Left", &left);
                }
            }
        }
        result
    }

    /// The statement under a short lock wait, again after a lock timeout
    /// with a growing pause and jitter, up to the manifest's retries; what
    /// a timed-out build left is dropped before the next attempt.
    async fn attempts(&self, client: &Client, step: &Step, sql: &str) -> Result<(), StepError> {
        let (wait, retries) = (self.limits.ddl_lock_timeout_ms, self.limits.ddl_lock_retries);
        for attempt in 0..=retries {
            client.batch_execute(&format!("SET lock_timeout = '{wait}ms'")).await.map_err(StepError::Sql)?;
            let sent = self.attempt(client, step, sql).await;
            let _ = client.batch_execute(&format!("SET lock_timeout = '{}ms'", self.limits.lock_timeout_ms)).await;
            let e = match sent {
                Ok(()) => return Ok(()),
                Err(AttemptError::Step(e)) => return Err(e),
                Err(AttemptError::Sql(e)) if e.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                    return Err(StepError::Sql(e))
                }
                Err(AttemptError::Sql(e)) => e,
            };
            if attempt == retries {
                return Err(StepError::Failed(format!(
                    "{}: lock not granted within {wait} ms on any of {} attempts (ddl_lock_timeout_ms, \
                     ddl_lock_retries); {}",
                    step.object(),
                    retries + 1,
                    crate::db::why(&e)
                )));
            }
            let pause = pause(wait, attempt);
            let what = format!(
                "{}: lock not granted within {wait} ms (attempt {} of {}); again in {} ms",
                step.object(),
                attempt + 1,
                retries + 1,
                pause.as_millis()
            );
            self.reporter.status("Retrying", &what);
            tokio::time::sleep(pause).await;
        }
        Err(StepError::Failed("no attempt was made".into()))
    }

    /// One attempt under the short lock wait: a build first drops the
    /// INVALID index of its name (one this plugin's steps left, as
    /// [`Runner::ours`] proved before the step, or an earlier attempt's),
    /// which `IF NOT EXISTS` would keep.
    async fn attempt(&self, client: &Client, step: &Step, sql: &str) -> Result<(), AttemptError> {
        if step.action == StepAction::Build {
            let object = quoted(step);
            if let Some(left) = index(client, &object).await?.filter(|i| !i.valid) {
                if !self.tables.covers(&left) {
                    return Err(AttemptError::Step(StepError::Failed(not_ours(&object, &left))));
                }
                if left.builder != 0 {
                    return Err(AttemptError::Step(StepError::Failed(still_building(&object, &left))));
                }
                client.batch_execute(&drop_statement(&left)).await?;
                self.reporter.status("Recovered", &format!("dropped INVALID index {object} before building it"));
            }
        }
        Ok(client.batch_execute(sql).await?)
    }

    /// The INVALID index `i` of a build's name is this plugin's to drop: on
    /// a table its `index` grant names, and left by a step of this plugin
    /// (name and sha256) other than step `seq`, as the ledger says.
    async fn ours(&self, i: &Index, seq: i32) -> Result<(), StepError> {
        let (o, object) = (&self.owner, format!("{}.{}", quote::ident(&i.schema), quote::ident(&i.name)));
        if !self.tables.covers(i) {
            return Err(StepError::Failed(not_ours(&object, i)));
        }
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&o.plugin, &o.sha256, &object, &o.rollout_id, &o.phase.as_str(), &seq];
        let left: bool =
            self.control.query_one(LEFT, &params).await.and_then(|r| r.try_get(0)).map_err(StepError::Sql)?;
        match left {
            true => Ok(()),
            false => Err(StepError::Failed(not_left(&object, i, o))),
        }
    }

    /// After a failed attempt: the INVALID index of the step's name is
    /// dropped when this step made it (a build: its oid was not `found`
    /// before the step) or was dropping it (a drop stopped half way).
    async fn drop_made(&self, client: &Client, step: &Step, found: Option<i64>) -> Result<(), String> {
        let object = quoted(step);
        if step.action == StepAction::Build {
            let now = index(client, &object)
                .await
                .map_err(|e| format!("cannot read index {object}: {}", crate::db::why(&e)))?;
            if now.is_none_or(|i| Some(i.oid) == found) {
                return Ok(());
            }
        }
        drop_invalid(client, &self.reporter, &object, &self.tables).await
    }

    /// A build left a valid index; a drop left none.
    async fn proven(&self, client: &Client, step: &Step) -> Result<(), StepError> {
        let found = index(client, &quoted(step)).await.map_err(StepError::Sql)?;
        match (step.action, found) {
            (StepAction::Build, Some(i)) if !self.tables.tables.contains(&i.table) => Err(StepError::Failed(format!(
                "index {} is on {}, a table this tier's `index` grant does not name: the statement built nothing \
                 (IF NOT EXISTS found another table's index of that name)",
                step.object(),
                crate::text::terminal(&i.table)
            ))),
            (StepAction::Build, Some(i)) if i.valid => Ok(()),
            (StepAction::Build, Some(_)) => Err(StepError::Failed(format!(
                "index {} is INVALID after the build (an earlier one kept by IF NOT EXISTS, or a build that failed)",
                step.object()
            ))),
            (StepAction::Build, None) => {
                Err(StepError::Failed(format!("index {} does not exist after the build", step.object())))
            }
            (StepAction::Drop, None) => Ok(()),
            (StepAction::Drop, Some(_)) => {
                Err(StepError::Failed(format!("index {} still exists after the drop", step.object())))
            }
        }
    }
}

impl Steps for Runner {
    fn run<'a>(&'a self, client: &'a Client, step: &'a Step, sql: &'a str) -> BoxFuture<'a, Result<(), StepError>> {
        Box::pin(self.step(client, step, sql))
    }
}

/// Why one attempt did not complete.
enum AttemptError {
    /// The server said no (a lock timeout is retried).
    Sql(tokio_postgres::Error),
    /// The host's own judgement: not retried.
    Step(StepError),
}

impl From<tokio_postgres::Error> for AttemptError {
    fn from(e: tokio_postgres::Error) -> Self {
        AttemptError::Sql(e)
    }
}

/// The dry run's steps: checked, not sent.
pub(crate) struct NotSent {
    pub reporter: Arc<Reporter>,
}

impl Steps for NotSent {
    fn run<'a>(&'a self, _: &'a Client, step: &'a Step, _: &'a str) -> BoxFuture<'a, Result<(), StepError>> {
        let verb = if step.action == StepAction::Build { "build" } else { "drop" };
        let line = format!("{verb} index {} — checked, not sent (runs outside a transaction)", step.object());
        self.reporter.status("Not sent", &line);
        Box::pin(async { Ok(()) })
    }
}

/// The pause after attempt `attempt` (from 0): the lock wait doubled each
/// time, capped, plus up to half of it again as jitter, so two hosts (or a
/// host and an application's own retries) do not keep colliding.
fn pause(wait_ms: u64, attempt: u64) -> Duration {
    let base = wait_ms.saturating_mul(1u64 << attempt.min(16)).min(MAX_PAUSE.as_millis() as u64);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos());
    let jitter = nanos.unwrap_or(0) as u64 % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

/// `schema.name` quoted by the host: the ledger's `object`, which
/// `to_regclass` reads back exactly.
fn quoted(step: &Step) -> String {
    format!("{}.{}", quote::ident(&step.schema), quote::ident(&step.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_with_jitter_and_are_capped() {
        for attempt in 0..20 {
            let p = pause(200, attempt).as_millis() as u64;
            let base = (200u64 << attempt.min(16)).min(5_000);
            assert!(p >= base && p <= base + base / 2, "attempt {attempt}: {p} ms");
        }
    }

    #[test]
    fn the_object_is_quoted_so_to_regclass_reads_it_back() {
        let step = Step { action: StepAction::Build, schema: "app".into(), name: "we\"ird.idx".into() };
        assert_eq!(quoted(&step), "\"app\".\"we\"\"ird.idx\"");
    }
}
