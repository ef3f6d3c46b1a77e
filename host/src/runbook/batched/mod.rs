//! A batched tier (`mode = "batched"`, world `batched-tier`): a backfill
//! the host drives one batch at a time.
//!
//! Each batch is a transaction of its own: `BEGIN`, the batch's own
//! `statement_timeout` and row limit (`[batches]`, and what is left of the
//! tier's `rows_changed`), the plugin's `apply-batch` from the last
//! committed position, its ledger step ([`steps`]), `COMMIT`. A batch that
//! hits a statement or lock timeout is rolled back and retried smaller
//! ([`size`]); a pause between batches gives production the table. After
//! the last batch the post-conditions run once, in a transaction of their
//! own that commits with the `applied` event.
//!
//! An interrupted pass (Ctrl-C, a kill, a lost connection) keeps its
//! committed batches and is resumed by the next `host run` from its last
//! step; a tier that *failed* (its plugin's error, its post-conditions, a
//! limit) is rolled back at once, batched the same way (`rollback-batch`
//! from the start, then the rollback conditions with the `rolled_back`
//! event), never resumed.

/// Batches in a row that change no row before a pass is judged stuck.
const IDLE_BATCHES: u32 = 1_000;

mod batch;
mod conditions;
pub(super) mod dry;
mod kept;
mod lag;
mod size;
pub(super) mod steps;

use super::context::Context;
use super::control::Control;
use super::footprint::Footprint;
use super::tier::{done, ledger_event, locked, tier_row, TierRecord};
use super::work::WorkSession;
use crate::error::Failure;
use crate::ledger::TierEvent;
use crate::plan::{Plan, Plugin};
use crate::report::{BatchLine, BatchRecord, Resumed};
use crate::sandbox::Call;
use crate::sql::Stats;
use size::Size;
use std::time::{Duration, Instant};
use steps::{Mark, Open, Pass, Step};

/// The longest position the host keeps, in bytes: plugin text, stored in
/// the ledger and shown to the operator.
const POSITION_BYTES: usize = 1024;
/// A batch that hit one of these held production up: rolled back, retried
/// smaller. Statement timeout, lock timeout.
const TIMEOUTS: [&str; 2] = ["57014", "55P03"];

/// One batched tier of a command.
pub(super) struct Batched<'a> {
    pub ctx: &'a Context,
    pub plan: &'a Plan,
    pub tier: &'a Plugin,
    pub rollout_id: i64,
    pub control: &'a Control,
    pub work: &'a mut WorkSession,
}

/// What one try of a batch came to.
enum Tried {
    Committed {
        next: Option<String>,
        total: Option<u64>,
        /// Boxed: a batch's statistics carry its statements sent.
        stats: Box<Stats>,
        /// What the server counted it changing.
        changed: Vec<crate::audit::Changed>,
        /// The locks its transaction held before COMMIT, and its BEGIN.
        held: Vec<crate::sql::locking::Held>,
        began: Instant,
        /// From the plugin's call to the end of its COMMIT: how long
        /// production's writes to its rows could wait for it.
        holding: std::time::Duration,
    },
    /// Rolled back: the first timeout's message.
    TimedOut(String),
}

impl Batched<'_> {
    /// `host run`'s part: resume or start the apply, every batch, the
    /// post-conditions; on the tier's own failure, its batched rollback.
    pub async fn run(mut self) -> Result<(), Failure> {
        let (ctx, tier) = (self.ctx, self.tier);
        let started = Instant::now();
        ctx.reporter().status("Applying", &format!("{} in batches", tier.label()));
        let from = match self.open().await? {
            Open::Nothing => Mark::default(),
            Open::Apply { at, .. } => {
                ctx.reporter().status("Resumed", &format!("{} {}", tier.label(), resumed_line(&at)));
                at
            }
            Open::Rollback { .. } => {
                return Err(Failure::LedgerState(format!(
                    "{} failed in an earlier rollout and its batched rollback is not finished; a failed tier is \
                     rolled back, not resumed: run `host rollback` with the same plugins",
                    tier.label()
                )))
            }
        };
        let mut record = new_record(Pass::Apply, &from);
        let mut stats = Stats::default();
        let mut footprint = self.footprint().await?;
        let passed = self.batches(Pass::Apply, from, &mut record, &mut stats, &mut footprint).await;
        let held = footprint.end(&Stats::default()).await;
        let result = match passed {
            Ok(_) => self.conditions(Pass::Apply, &stats, started).await,
            Err(f) => Err((f, TierRecord { stats: stats.clone(), ..Default::default() })),
        };
        let ms = started.elapsed().as_millis();
        let (failure, mut rec) = match result {
            Ok(mut rec) => {
                if let Some(table) = &rec.conditions {
                    ctx.reporter().table(table);
                }
                rec.footprint = held;
                locked(ctx, &rec);
                ctx.reporter().status("Applied", &summary(tier, ms, &rec.stats, &record));
                for line in crate::runbook::tier::not_granted(tier, &record.changed) {
                    ctx.reporter().status("Changed", &line);
                }
                let mut row = tier_row(tier, Call::Apply, TierEvent::Applied, ms, &rec);
                row.changed = std::mem::take(&mut record.changed);
                row.batches = Some(record);
                ctx.reporter().add_tier(row);
                return Ok(());
            }
            Err(e) => e,
        };
        if let Some(table) = &rec.conditions {
            ctx.reporter().table(table);
        }
        rec.footprint = held;
        locked(ctx, &rec);
        let message = failure.to_string();
        let event = failure.event();
        if !matches!(failure, Failure::CommitUnknown(_)) {
            let e = ledger_event(self.rollout_id, tier, event, ms, &rec.stats, Some(&message));
            self.control.record_failure(&e).await;
        }
        let mut row = tier_row(tier, Call::Apply, event, ms, &rec);
        // The committed batches are kept whatever became of the tier.
        row.rows_changed = record.rows_committed();
        row.message = Some(message.clone());
        let kept = record.rows_committed();
        row.changed = std::mem::take(&mut record.changed);
        row.batches = Some(record);
        ctx.reporter().add_tier(row);
        if matches!(failure, Failure::TierFailed { .. } | Failure::Injected { .. }) {
            self.roll_back_failed(&message).await;
        } else {
            ctx.reporter().status(
                "Stopped",
                &format!(
                    "{} — the batches committed so far are kept ({kept} rows by this command); the next `host run` \
                     resumes after the last one, `host rollback` undoes them",
                    tier.label()
                ),
            );
        }
        Err(failure)
    }

    /// `host rollback`'s part: the rollback pass from the start, or from
    /// where an earlier rollback of it stopped.
    pub async fn undo(mut self) -> Result<(), Failure> {
        let from = match self.open().await? {
            Open::Rollback { at, .. } => {
                let line = format!("{} {}", self.tier.label(), resumed_line(&at));
                self.ctx.reporter().status("Resumed", &format!("the rollback of {line}"));
                at
            }
            _ => {
                self.mark_rollback("host rollback").await?;
                Mark::default()
            }
        };
        self.rollback_pass(from).await
    }

    /// The open steps of the tier, which must be the bytes that wrote them.
    async fn open(&self) -> Result<Open, Failure> {
        let open = steps::open(self.control.client(), self.tier).await?;
        if let Open::Apply { sha256, .. } | Open::Rollback { sha256, .. } = &open {
            if *sha256 != self.tier.sha256 {
                return Err(Failure::LedgerState(format!(
                    "{} has batches committed by the plugin with sha256 {sha256}, but the given plugin is {}; \
                     resume or roll it back with the plugin that committed them",
                    self.tier.label(),
                    self.tier.sha256
                )));
            }
        }
        Ok(open)
    }

    /// The rollback marker: from here on the pass is rolled back, never resumed.
    async fn mark_rollback(&self, why: &str) -> Result<(), Failure> {
        let step = Step {
            rollout_id: self.rollout_id,
            tier: self.tier,
            pass: Pass::Rollback,
            batch: 0,
            done: false,
            position: None,
            rows: 0,
            duration_ms: 0,
            message: Some(why),
        };
        steps::insert(self.control.client(), &step, None).await?;
        Ok(())
    }

    /// A failed tier's batched rollback, said either way (the run fails
    /// with the tier's own failure).
    async fn roll_back_failed(&mut self, why: &str) {
        let (ctx, label) = (self.ctx, self.tier.label());
        if let Err(e) = self.mark_rollback(why).await {
            ctx.reporter().error(&format!(
                "{label} failed and its batches stay committed: the rollback could not start ({e}); run `host rollback`"
            ));
            return;
        }
        ctx.reporter()
            .status("Rolling back", &format!("{label} in batches: a failed tier is rolled back, not resumed"));
        if let Err(e) = self.rollback_pass(Mark::default()).await {
            ctx.reporter().error(&format!(
                "the rollback of {label} did not finish: {e}; its committed batches are recorded, and \
                 `host rollback` with the same plugins finishes it"
            ));
        }
    }

    /// Rollback batches from `from`, then the rollback conditions with the
    /// `rolled_back` event; reported.
    async fn rollback_pass(&mut self, from: Mark) -> Result<(), Failure> {
        let (ctx, tier) = (self.ctx, self.tier);
        let started = Instant::now();
        ctx.reporter().status("Rolling back", &format!("{} in batches", tier.label()));
        let mut record = new_record(Pass::Rollback, &from);
        let mut stats = Stats::default();
        let mut footprint = self.footprint().await?;
        let passed = self.batches(Pass::Rollback, from, &mut record, &mut stats, &mut footprint).await;
        let held = footprint.end(&Stats::default()).await;
        let result = match passed {
            Ok(_) => self.conditions(Pass::Rollback, &stats, started).await,
            Err(f) => Err((f, TierRecord { stats: stats.clone(), ..Default::default() })),
        };
        let ms = started.elapsed().as_millis();
        let mut rec = match &result {
            Ok(r) => r.clone(),
            Err((_, r)) => r.clone(),
        };
        if let Some(table) = &rec.conditions {
            ctx.reporter().table(table);
        }
        rec.footprint = held;
        locked(ctx, &rec);
        let event = match &result {
            Ok(_) => TierEvent::RolledBack,
            Err((f, _)) => f.event(),
        };
        let mut row = tier_row(tier, Call::Rollback, event, ms, &rec);
        row.rows_changed = record.rows_committed();
        if let Err((f, _)) = &result {
            row.message = Some(f.to_string());
            let e = ledger_event(self.rollout_id, tier, event, ms, &rec.stats, row.message.as_deref());
            self.control.record_failure(&e).await;
        } else {
            ctx.reporter().status("Rolled back", &summary(tier, ms, &rec.stats, &record));
        }
        row.changed = std::mem::take(&mut record.changed);
        row.batches = Some(record);
        ctx.reporter().add_tier(row);
        result.map(drop).map_err(|(f, _)| f)
    }

    /// Every batch of `pass` from `from` until the plugin says done; where
    /// it ended.
    async fn batches(
        &mut self,
        pass: Pass,
        from: Mark,
        record: &mut BatchRecord,
        stats: &mut Stats,
        footprint: &mut Footprint,
    ) -> Result<Mark, Failure> {
        let (ctx, tier) = (self.ctx, self.tier);
        let bounds = tier.manifest.batches.clone().unwrap_or_default();
        let mut size = Size::new(&bounds);
        let label = format!("{} {}", tier.label(), pass.as_str());
        let progress = crate::printer::get().progress(&label, from.rows);
        let mut at = from;
        // A pass must move on: a position it was at before, or a long run
        // of batches that change nothing, would never end.
        let mut positions: std::collections::HashSet<String> = at.position.iter().cloned().collect();
        let mut idle = 0u32;
        let mut told = false;
        // What the last batch left for the next: its sequence reading, its checks.
        let mut carried = batch::Carried::default();
        while !at.finished() {
            if ctx.interrupt().is_set() {
                return Err(ctx.stopped(format!("{} stopped before batch {}", tier.label(), at.batch + 1)));
            }
            self.replicas_caught_up(bounds.max_replica_lag_ms, &mut told).await?;
            let started = Instant::now();
            let tried = self.one(pass, &at, &size, &bounds, &mut carried).await;
            let ms = started.elapsed().as_millis() as u64;
            let mut line = BatchLine {
                batch: at.batch + 1,
                size: size.get(),
                rows_changed: 0,
                duration_ms: ms,
                outcome: "failed".into(),
            };
            match tried {
                Err(f) => {
                    record.batches.push(line);
                    return Err(f);
                }
                Ok(Tried::TimedOut(why)) => {
                    line.outcome = "timed_out".into();
                    record.batches.push(line);
                    let tried = size.get();
                    if !size.halve() {
                        return Err(Failure::TierFailed {
                            label: tier.label(),
                            cause: format!(
                                "batch {} timed out at the smallest size, batches.min_size = {tried} ({why}); the \
                                 batches before it are committed",
                                at.batch + 1
                            ),
                        });
                    }
                    let n = at.batch + 1;
                    let line = format!(
                        "{}: batch {n} of {tried} rows timed out ({why}); retrying it with {} rows",
                        tier.label(),
                        size.get()
                    );
                    ctx.reporter().status("Shrinking", &line);
                }
                Ok(Tried::Committed { next, total, stats: s, changed, held, began, holding }) => {
                    footprint.batch(&held, began);
                    batch::add_changed(&mut record.changed, changed);
                    line.outcome = "committed".into();
                    line.rows_changed = s.rows_changed;
                    record.batches.push(line);
                    stats.statements += s.statements;
                    stats.rows_returned += s.rows_returned;
                    stats.rows_changed += s.rows_changed;
                    stats.sent.absorb(&s.sent);
                    record.total = total.or(record.total);
                    progress.add(s.rows_changed);
                    if let Some(total) = record.total {
                        progress.total(total);
                    }
                    idle = if s.rows_changed == 0 { idle + 1 } else { 0 };
                    let again = next.as_ref().is_some_and(|p| !positions.insert(p.clone()));
                    at = Mark { batch: at.batch + 1, position: next, rows: at.rows + s.rows_changed };
                    if again || idle >= IDLE_BATCHES {
                        let why = match again {
                            true => "its next position is one this pass was at before".to_string(),
                            false => format!("{IDLE_BATCHES} batches in a row changed no row"),
                        };
                        return Err(Failure::TierFailed {
                            label: tier.label(),
                            cause: format!("batch {}: {why}: the pass would never end", at.batch),
                        });
                    }
                    size.after(holding.as_millis() as u64);
                    let injected = pass == Pass::Apply && ctx.step().fail_at == Some(tier.ordinal());
                    if injected && !at.finished() {
                        return Err(Failure::Injected { label: tier.label() });
                    }
                    if !at.finished() {
                        self.pause(bounds.pause_ms).await;
                    }
                }
            }
        }
        Ok(at)
    }

    /// The pass's lock footprint, measured on the work session its
    /// batches run on ([`Footprint::batch`]).
    async fn footprint(&mut self) -> Result<Footprint, Failure> {
        let client = self.work.next(self.ctx).await?;
        Ok(Footprint::start(self.control, self.tier, &client, false).await)
    }

    /// Waits `ms` between two batches, or until Ctrl-C.
    async fn pause(&self, ms: u64) {
        if ms == 0 {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = self.ctx.interrupt().wait() => {}
        }
    }
}

fn new_record(pass: Pass, from: &Mark) -> BatchRecord {
    let resumed_at = (from.batch > 0).then(|| Resumed {
        batch: from.batch,
        position: from.position.clone(),
        rows_changed: from.rows,
    });
    BatchRecord { phase: pass.as_str().into(), resumed_at, total: None, batches: Vec::new(), changed: Vec::new() }
}

/// `at batch 4, position "12000" (15000 rows committed before)`.
fn resumed_line(at: &Mark) -> String {
    let position = match &at.position {
        Some(p) => format!("position {}", crate::text::terminal(&format!("{p:?}"))),
        None => "the end of its batches".into(),
    };
    format!("at batch {}, {position} ({} rows committed before)", at.batch + 1, at.rows)
}

/// The status line of a finished pass.
fn summary(tier: &Plugin, ms: u128, stats: &Stats, record: &BatchRecord) -> String {
    let committed = record.batches.iter().filter(|b| b.outcome == "committed").count();
    let slowest = record.batches.iter().map(|b| b.duration_ms).max().unwrap_or(0);
    format!("{} — {committed} batch(es) committed, slowest {slowest} ms", done(tier, ms, stats))
}
