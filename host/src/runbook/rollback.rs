//! `host rollback`: what the ledger says is applied, newest tier first, in
//! one transaction that commits only once it is proven.
//!
//! Each tier's `rollback`, then its `rollback-conditions` (what "undone"
//! means, read-only); then what the COMMIT would check (deferred keys and
//! triggers), the `rolled_back` ledger rows and, for a full rollback, the
//! probes' post-state, all in the same transaction. Only when every
//! table passes does it COMMIT: either the database is back at the baseline
//! and the ledger says so, or nothing changed and the ledger still says
//! applied. `--tier N` is the same with one tier and no probes.

use super::batched::{steps, Batched};
use super::calls::outcome;
use super::checks::{probes, Within};
use super::commit::commit;
use super::context::Context;
use super::control::{CommitMark, Control};
use super::deferred;
use super::footprint::Footprint;
use super::options::Verb;
use super::prologue::{prologue, start_rollout};
use super::sequence_watch::{Ended, Watch};
use super::tier::{done, ledger_event, locked, same_transaction, tier_row, TierRecord};
use super::work::WorkSession;
use crate::bindings::types::Phase;
use crate::db;
use crate::error::Failure;
use crate::grants::Replacements;
use crate::ledger::{self, Outcome, TierEvent};
use crate::manifest::Mode;
use crate::plan::{Plan, Plugin};
use crate::report::TierRow;
use crate::sandbox::Call;
use crate::text::terminal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// Whether the ledger holds steps (batches, index builds) of a plugin's
/// bytes: a tier whose steps those bytes recorded is not a transaction tier.
const STEPPED: &str = "SELECT EXISTS (SELECT 1 FROM rollout_ledger.step WHERE plugin = $1 AND sha256 = $2)";

/// `host rollback [--tier N]`.
pub(super) async fn rollback(
    ctx: &Context,
    plan: &Plan,
    only: Option<u32>,
    replacements: &Replacements,
) -> Result<(), Failure> {
    let opened = prologue(ctx, plan, Verb::Rollback { tier: only }).await?;
    let control = &opened.control;
    let mut replaced = Replaced::new();
    let mut todo = to_undo(plan, &opened.applied, only, replacements, &mut replaced)?;
    for (name, applied) in &replaced {
        // The replacement's own manifest says which mode it is; the ledger
        // says what the applied bytes did. Steps recorded under the applied
        // sha256 (batches, index builds) are undone by those bytes only.
        let stepped: bool = control.client().query_one(STEPPED, &[name, applied]).await?.try_get(0)?;
        if stepped {
            return Err(Failure::LedgerState(format!(
                "{} applied from sha256 {applied} committed batches or index steps under that sha256: a replacement \
                 rolls back a transaction tier only; roll it back with the plugin that applied it",
                terminal(name)
            )));
        }
    }
    for (name, applied) in &replaced {
        let given = todo.iter().find(|t| t.manifest.name == *name).map(|t| t.sha256.as_str()).unwrap_or_default();
        ctx.reporter().status(
            "Replacement",
            &format!("{} applied from sha256 {applied} is rolled back by {given}, which the lock file names as its replacement", terminal(name)),
        );
    }
    partly_applied(control, plan, only, &mut todo).await?;
    if ctx.step().every_tier && only.is_none() {
        // Every tier, newest first: those applied are checked above.
        todo = plan.tiers.iter().rev().collect();
        ctx.reporter().status("Rehearsal", "every tier's rollback is called, applied or not (idempotence)");
    }
    if let (Some(n), true) = (only, todo.is_empty()) {
        ctx.reporter().result(&format!("TIER {n} ROLLBACK OK: not applied, nothing to do"));
        return Ok(());
    }
    let verb = Verb::Rollback { tier: only };
    let id = start_rollout(ctx, control, plan, verb, "stopped before the rollback began").await?;
    if todo.is_empty() {
        ctx.reporter().status("Nothing", "no tier is applied; the rollback changes nothing");
    }
    let result = in_segments(ctx, plan, control, id, &todo, only.is_none(), &replaced).await;
    let (outcome, message) = match &result {
        Ok(m) => (Outcome::RolledBack, m.clone()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    let line = control.close(id, result, outcome, &message).await?;
    ctx.reporter().result(&line);
    Ok(())
}

/// The applied sha256 of each tier a reviewed replacement rolls back, by
/// plugin name ([`crate::grants::Replacements`]).
type Replaced = BTreeMap<String, String>;

/// The tiers to undo, newest first: each must be given with the bytes
/// that applied it, or a replacement the lock file names for them;
/// `--tier N` only when no later tier is applied.
fn to_undo<'p>(
    plan: &'p Plan,
    applied: &[ledger::Applied],
    only: Option<u32>,
    replacements: &Replacements,
    replaced: &mut Replaced,
) -> Result<Vec<&'p Plugin>, Failure> {
    let mut todo = Vec::new();
    for a in applied.iter().rev() {
        let Some(tier) = plan.tiers.iter().find(|t| t.manifest.name == a.plugin) else {
            return Err(Failure::LedgerState(format!(
                "tier {} ({}) is applied, but no plugin of that name was given; pass the plugins of that rollout with --tiers",
                a.ordinal, a.plugin
            )));
        };
        if tier.sha256 != a.sha256 {
            let refused = |why: String| {
                let (label, given) = (tier.label(), &tier.sha256);
                Failure::LedgerState(format!(
                    "{label} was applied from sha256 {}, but the given plugin is {given}: {why}",
                    a.sha256
                ))
            };
            replacements
                .allows(&a.plugin, &tier.sha256, &a.sha256)
                .map_err(|r| refused(r.explain(&a.plugin, &a.sha256)))?;
            if tier.manifest.mode != Mode::Transaction {
                // Its steps are found by the sha256 that recorded them.
                return Err(refused(format!(
                    "a replacement rolls back a transaction tier only, and this one is {} (its steps are recorded under the sha256 that made them)",
                    tier.manifest.mode
                )));
            }
            replaced.insert(tier.manifest.name.clone(), a.sha256.clone());
        }
        todo.push(tier);
    }
    if let Some(n) = only {
        if let Some(later) = applied.iter().filter(|a| a.ordinal as u32 > n).max_by_key(|a| a.ordinal) {
            return Err(Failure::LedgerState(format!(
                "cannot roll back tier {n} alone: tier {} ({}) is still applied; roll that back first, or run a full rollback",
                later.ordinal, later.plugin
            )));
        }
        todo.retain(|t| t.ordinal() as u32 == n);
    }
    Ok(todo)
}

/// A batched tier with batches committed that no event settled (a run
/// interrupted in it, or a failed one whose rollback did not finish), or a
/// concurrent tier whose steps built or dropped an index before it failed,
/// is undone too, first: a run stops at it, so no later tier is applied.
async fn partly_applied<'p>(
    control: &Control,
    plan: &'p Plan,
    only: Option<u32>,
    todo: &mut Vec<&'p Plugin>,
) -> Result<(), Failure> {
    for tier in plan.tiers.iter().filter(|t| t.manifest.mode != Mode::Transaction) {
        if todo.iter().any(|t| t.manifest.name == tier.manifest.name) {
            continue;
        }
        let left = match tier.manifest.mode {
            Mode::Batched => steps::open(control.client(), tier).await? != steps::Open::Nothing,
            _ => super::concurrent::unsettled(control, tier).await?,
        };
        if !left {
            continue;
        }
        match only {
            Some(n) if n == tier.ordinal() as u32 => todo.insert(0, tier),
            Some(n) if n < tier.ordinal() as u32 => {
                return Err(Failure::LedgerState(format!(
                    "cannot roll back tier {n} alone: {} has work committed outside a transaction (batches or index steps); roll that back first, or run a full rollback",
                    tier.label()
                )))
            }
            Some(_) => {}
            None => todo.insert(0, tier),
        }
    }
    Ok(())
}

/// The tiers to undo, newest first: a batched tier's rollback commits batch
/// by batch ([`Batched::undo`]), so the tiers newer than it are undone (and
/// committed) in one transaction before it, and those older in one after
/// it, which ends with the probes for a full rollback.
async fn in_segments(
    ctx: &Context,
    plan: &Plan,
    control: &Control,
    rollout_id: i64,
    todo: &[&Plugin],
    full: bool,
    replaced: &Replaced,
) -> Result<String, Failure> {
    let mut rest = todo;
    let mut work: Option<WorkSession> = None;
    let mut line = None;
    while let Some(first) = rest.first() {
        let n = rest.iter().position(|t| t.manifest.mode == Mode::Batched).unwrap_or(rest.len());
        if n == 0 {
            let work = match &mut work {
                Some(w) => w,
                None => work.insert(WorkSession::open(ctx, "rollback").await?),
            };
            Batched { ctx, plan, tier: first, rollout_id, control, work }.undo().await?;
            rest = &rest[1..];
            line = Some(format!("TIER {} ROLLBACK OK", first.ordinal()));
            continue;
        }
        let (segment, after) = rest.split_at(n);
        let probes = full && after.is_empty();
        line = Some(Undo { ctx, plan, control, rollout_id, todo: segment, full: probes, replaced }.run().await?);
        rest = after;
    }
    let last_batched = todo.last().is_some_and(|t| t.manifest.mode == Mode::Batched);
    match line {
        // The probes' post-state after a batched tier's rollback.
        Some(_) | None if full && (last_batched || todo.is_empty()) => {
            Undo { ctx, plan, control, rollout_id, todo: &[], full: true, replaced }.run().await
        }
        Some(line) => Ok(line),
        None => Ok("ROLLBACK OK: nothing to undo".into()),
    }
}

/// The rollback's one transaction.
struct Undo<'a> {
    ctx: &'a Context,
    plan: &'a Plan,
    control: &'a Control,
    rollout_id: i64,
    todo: &'a [&'a Plugin],
    /// A full rollback ends with the probes' post-state, inside the transaction.
    full: bool,
    replaced: &'a Replaced,
}

impl Undo<'_> {
    /// Runs it, commits only a proven rollback, and reports either way;
    /// returns the closing line.
    async fn run(self) -> Result<String, Failure> {
        let ctx = self.ctx;
        let client = WorkSession::open(ctx, "rollback").await?.next(ctx).await?;
        let (mut rows, mut footprint) = (Vec::new(), None);
        let watch = Watch::begin(self.control.client()).await?;
        let result = self.transaction(&client, &mut rows, &mut footprint, &watch).await;
        let kept = result.is_ok();
        let mut ended = Ended::default();
        if !kept {
            db::rollback(&client).await;
            if !matches!(result, Err(Failure::CommitUnknown(_))) {
                ended = watch.after_rollback(self.control.client()).await;
            }
        }
        let result = result.map_err(|f| ended.amend(f));
        // The transaction's locks, on the row of the tier that commits it.
        if let (Some(f), Some(last)) = (footprint, rows.last_mut()) {
            let record = TierRecord { footprint: f.end(&Default::default()).await, ..Default::default() };
            locked(ctx, &record);
            last.footprint.extend(record.footprint);
        }
        for mut row in rows {
            if !kept {
                row.outcome = TierEvent::Failed.as_str().into();
                row.rows_changed = 0;
                row.message.get_or_insert_with(|| "not kept: the rollback's transaction was rolled back".into());
            }
            ctx.reporter().add_tier(row);
        }
        let failure = match result {
            Ok(line) => return Ok(line),
            Err(f) => f,
        };
        if !matches!(failure, Failure::CommitUnknown(_)) {
            let names = self.todo.iter().map(|t| t.label()).collect::<Vec<_>>().join(", ");
            let line = match ended.left_behind() {
                Some(left) => format!("the rollback's transaction, but {left}; the ledger still says applied: {names}"),
                None => format!(
                    "the rollback's transaction — nothing changed{}; the ledger still says applied: {names}",
                    ended.kept_note()
                ),
            };
            ctx.reporter().status("Rolled back", &line);
        }
        Err(failure)
    }

    async fn transaction(
        &self,
        client: &Arc<Client>,
        rows: &mut Vec<TierRow>,
        footprint: &mut Option<Footprint>,
        watch: &Watch,
    ) -> Result<String, Failure> {
        let ctx = self.ctx;
        // A concurrent tier's drops cannot be in the transaction: they run
        // first, and its rollback conditions below (runbook/concurrent.rs).
        let stepped =
            super::concurrent::before_rollback(ctx, self.plan, self.control, self.rollout_id, self.todo, client);
        let stepped = stepped.await?;
        let footprint = footprint.insert(Footprint::over(self.control, self.todo, client).await);
        let first = self.todo.first().map(|t| t.manifest.limits.clone()).unwrap_or_default();
        let before = db::begin(client, &first, false).await.map_err(Failure::Database)?;
        self.control.hold(ctx.calls(), client, self.rollout_id).await?;
        let (mut undone, mut ledger_rows) = (Vec::new(), Vec::new());
        for tier in self.todo {
            if ctx.interrupt().is_set() {
                return Err(ctx.stopped(format!("stopped before rolling back {}", tier.label())));
            }
            let started = Instant::now();
            let mut record = TierRecord::default();
            let ran = stepped.iter().find(|(name, _, _)| *name == tier.manifest.name);
            let (ran, steps_held) = (ran.map(|(_, stats, _)| stats), ran.map(|(_, _, held)| held.clone()));
            let result = self.undo(tier, client, &mut record, ran).await;
            footprint.saw(&record.stats);
            let ms = started.elapsed().as_millis();
            if let Some(table) = &record.conditions {
                ctx.reporter().table(table);
            }
            let mut row = tier_row(tier, Call::Rollback, TierEvent::RolledBack, ms, &record);
            // A concurrent tier's steps' locks, before the transaction's.
            row.footprint = steps_held.unwrap_or_default();
            let replaces = self.replaced.get(&tier.manifest.name).map(String::as_str);
            row.message = replaces.map(|applied| replacement_line(tier, applied));
            if let Err(f) = result {
                let message = f.to_string();
                let mut e = ledger_event(self.rollout_id, tier, f.event(), ms, &record.stats, Some(&message));
                e.replaces = replaces;
                self.control.record_failure(&e).await;
                row.outcome = f.event().as_str().into();
                row.message = Some(message);
                rows.push(row);
                return Err(f);
            }
            // Said once it is committed: until then every later check can still undo it.
            undone.push(done(tier, ms, &record.stats));
            ledger_rows.push((tier, ms, record.stats));
            rows.push(row);
            same_transaction(client, &before, &tier.label()).await?;
        }
        // What the COMMIT would check, before the probes behind the proof
        // line and before the ledger rows (their own deferred triggers, if
        // any, fire at COMMIT only).
        deferred::check(ctx, client, "the rollback", db::Modes::PutBack, deferred::Wait::LeaveToCommit).await?;
        for (tier, ms, stats) in &ledger_rows {
            let mut e = ledger_event(self.rollout_id, tier, TierEvent::RolledBack, *ms, stats, None);
            e.replaces = self.replaced.get(&tier.manifest.name).map(String::as_str);
            ctx.calls().record_in(client, &e).await?;
        }
        let line = if self.full {
            let tables = probes(ctx, self.plan, Phase::AfterRollback, Within::Open(client)).await?;
            let summary: Vec<String> = tables
                .iter()
                .zip(&self.plan.probes)
                .flat_map(|(t, p)| {
                    p.manifest.summary.iter().map(move |m| format!("{m}={}", t.actual(m).unwrap_or("?")))
                })
                .collect();
            format!("FULL ROLLBACK OK: {}", summary.join(" ")).trim_end().to_string()
        } else {
            let n = self.todo.first().map(|t| t.ordinal()).unwrap_or_default();
            format!("TIER {n} ROLLBACK OK")
        };
        same_transaction(client, &before, "the rollback").await?;
        let counted = db::last_count(client).await.map_err(|e| Failure::Database(e.into()))?;
        if ctx.interrupt().is_set() {
            return Err(ctx.stopped("stopped before the rollback's COMMIT"));
        }
        self.control.hold(ctx.calls(), client, self.rollout_id).await?;
        // No ROLLBACK OK beside a sequence set back behind what production drew.
        watch.before_commit(self.control.client(), "the rollback", before.pid).await?;
        footprint.before_commit(client).await;
        match self.todo.last() {
            Some(last) => {
                let mark = CommitMark {
                    rollout_id: self.rollout_id,
                    plugin: &last.manifest.name,
                    event: TierEvent::RolledBack,
                };
                commit(ctx, client, self.control, "the rollback", mark, counted).await?;
                let n = self.todo.len();
                ctx.reporter().status("Committed", &format!("the rollback of {n} tier(s), every check passed"));
                for line in &undone {
                    ctx.reporter().status("Rolled back", line);
                }
            }
            None => db::rollback(client).await,
        }
        Ok(line)
    }

    /// One tier's rollback and its rollback conditions (its ledger row
    /// comes after the deferred check, in [`Undo::transaction`]), in
    /// the shared transaction, under the tier's own limits and grants.
    /// `stepped`: a concurrent tier's rollback call already ran, as steps
    /// before the transaction; only its conditions are checked here.
    async fn undo(
        &self,
        tier: &Plugin,
        client: &Arc<Client>,
        record: &mut TierRecord,
        stepped: Option<&crate::sql::Stats>,
    ) -> Result<(), Failure> {
        let ctx = self.ctx;
        ctx.reporter().status("Rolling back", &tier.label());
        db::limit(client, &tier.manifest.limits).await.map_err(Failure::Database)?;
        let calls = ctx.calls();
        let sql = calls.sql_access(tier, client);
        if let Some(stats) = stepped {
            record.stats = stats.clone();
        } else {
            let result = calls.call(self.plan, tier, Call::Rollback, client, &sql).await;
            record.stats = sql.lock().await.stats.clone();
            let result = result?;
            outcome(tier, &Call::Rollback, result, &record.stats)?;
        }
        let title = format!("Rollback conditions — {}", tier.label());
        let declared = &tier.manifest.rollback_conditions;
        let table = calls.table(self.plan, tier, Call::RollbackConditions, client, &sql, declared, &title).await;
        record.stats = sql.lock().await.stats.clone();
        let table = table?;
        record.conditions = Some(table.clone());
        if !table.passed {
            let cause = format!("rollback conditions not met: {}", table.failures());
            return Err(Failure::TierFailed { label: tier.label(), cause });
        }
        calls.prove_in(client, &tier.label()).await
    }
}

/// The report's line for a tier a reviewed replacement rolled back.
fn replacement_line(tier: &Plugin, applied: &str) -> String {
    format!(
        "rolled back by sha256 {}, the lock file's reviewed replacement of sha256 {applied} (which applied it)",
        tier.sha256
    )
}
