//! `host run --dry-run`: the whole plan — gate, every tier's apply and
//! post-conditions, verify, probes — inside one transaction on the target
//! that is always rolled back. The rollout lock is taken as for a run, and
//! the ledger gets one committed `dry_run` rollout row on the control
//! connection (who, when, which plugins, outcome); no tier event is ever
//! written, so no tier is ever marked applied.

use super::checks::{self, RolloutRow, Within};
use super::context::Context;
use super::control::Control;
use super::deferred;
use super::footprint::Footprint;
use super::options::Verb;
use super::prologue::{from_baseline, prologue, start_rollout};
use super::sequence_watch::{Ended, Watch};
use super::tier::{apply_and_check, counted, done, locked, tier_row, TierRecord};
use super::work::WorkSession;
use crate::audit::plan::Within as Catalog;
use crate::audit::Changed;
use crate::db;
use crate::error::Failure;
use crate::ledger::{Outcome, TierEvent};
use crate::manifest::Mode;
use crate::plan::{Plan, Plugin};
use crate::sandbox::Call;
use crate::sql::Change;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

const NOTHING_WAS: &str = "nothing was committed: the transaction was rolled back";

/// `host run --dry-run`.
pub(super) async fn dry_run(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    let opened = prologue(ctx, plan, Verb::DryRun).await?;
    from_baseline(&opened, "a dry run previews a run from the baseline: `host rollback` first")?;
    let (control, created_ledger) = (&opened.control, opened.created_ledger);
    let before = "stopped before the rollout began; no ledger row was written";
    let id = start_rollout(ctx, control, plan, Verb::DryRun, before).await?;
    let watch = Watch::begin(control.client()).await?;
    ctx.reporter().status("Started", &format!("dry run {id} (recorded in the ledger as dry_run)"));
    let client = WorkSession::open(ctx, "dry-run").await?.next(ctx).await?;
    let result = match db::begin(&client, &plan.gate.manifest.limits, false).await {
        Ok(before) => steps(ctx, plan, &client, control, id, &before).await,
        Err(e) => Err(Failure::Database(e)),
    };
    // Always: whatever happened, nothing of it stays but what no rollback
    // undoes, which the watch and the ledger say.
    db::rollback(&client).await;
    let ended = watch.after_rollback(control.client()).await;
    let result = match result {
        // A sequence set back is production's even in a dry run: it fails.
        Ok(()) if !ended.repaired.is_empty() => {
            let cause = "it set a sequence back (sequences do not roll back)".to_string();
            Err(ended.amend(Failure::TierFailed { label: "the dry run".into(), cause }))
        }
        Ok(()) if !ended.clean() => Err(ended.amend(Failure::TierFailed {
            label: "the dry run".into(),
            cause: "the host cannot prove it set no sequence back".into(),
        })),
        Ok(()) => Ok(()),
        Err(f) => Err(ended.amend(f)),
    };
    let kept = kept_anyway(created_ledger, &ended);
    let nothing = match ended.left_behind() {
        Some(left) => format!("the transaction was rolled back, but {left}"),
        None if kept.is_empty() => NOTHING_WAS.to_string(),
        None => format!("{NOTHING_WAS}; not undone by a rollback: {}", kept.join("; ")),
    };
    match ended.left_behind() {
        Some(left) => ctx.reporter().status("Rolled back", &format!("the dry run's transaction, but {left}")),
        None => ctx.reporter().status(
            "Rolled back",
            &format!(
                "the dry run's transaction: nothing was committed{}",
                ended.repaired_note().map(|n| format!("; {n}")).unwrap_or_default()
            ),
        ),
    }
    for line in &kept {
        ctx.reporter().status("Not undone", line);
    }
    let (outcome, message) = match &result {
        Ok(()) => (Outcome::Complete, format!("DRY RUN COMPLETE — ALL TIERS WOULD PASS; {nothing}")),
        Err(f) => (f.outcome(), format!("DRY RUN: {f}; {nothing}")),
    };
    match control.close(id, result, outcome, &message).await {
        Ok(()) => {
            ctx.reporter().result(&message);
            Ok(())
        }
        // The last line the operator reads says it too.
        Err(Failure::Blocked(why)) => Err(Failure::Blocked(format!("{why} (dry run: {nothing})"))),
        Err(Failure::TierFailed { label, cause }) => {
            Err(Failure::TierFailed { label, cause: format!("{cause} (dry run: {nothing})") })
        }
        Err(f) => Err(f),
    }
}

/// What the dry run changed that no rollback undoes: the ledger schema it
/// created for its own record, values drawn from sequences (gaps), and the
/// sequences it set back, which the host moved forward again. Anything
/// outside this database (a function's dblink call, a file) the host cannot
/// see, and docs/operator.md says so.
fn kept_anyway(created_ledger: bool, ended: &Ended) -> Vec<String> {
    let mut out = Vec::new();
    if created_ledger {
        out.push("the ledger schema rollout_ledger, created for this dry run's own record".to_string());
    }
    out.extend(ended.repaired_note());
    out.extend(ended.drawn_lines());
    out
}

/// Gate, every tier, verify, probes, in the transaction open on `client`.
async fn steps(
    ctx: &Context,
    plan: &Plan,
    client: &Arc<Client>,
    control: &Control,
    id: i64,
    before: &db::Identity,
) -> Result<(), Failure> {
    let row = RolloutRow { control, rollout_id: id };
    checks::gate(ctx, plan, &mut Within::Open(client), Some(&row)).await?;
    for tier in &plan.tiers {
        if ctx.interrupt().is_set() {
            return Err(ctx.stopped(format!("stopped before {}", tier.label())));
        }
        tier_in(ctx, plan, tier, client, control, before).await?;
    }
    checks::verify_and_probes(ctx, plan, Within::Open(client), None).await
}

/// One tier's apply and post-conditions in the shared transaction, under
/// its own timeouts; what it would change is shown and reported.
async fn tier_in(
    ctx: &Context,
    plan: &Plan,
    tier: &Plugin,
    client: &Arc<Client>,
    control: &Control,
    before: &db::Identity,
) -> Result<(), Failure> {
    let started = Instant::now();
    ctx.reporter().status("Applying", &format!("{} (dry run)", tier.label()));
    if let Err(f) = super::reached::check(ctx, plan, tier, client, Catalog::Open).await {
        show(ctx, tier, started, &TierRecord::default(), Some(&f));
        return Err(f);
    }
    db::limit(client, &tier.manifest.limits).await.map_err(Failure::Database)?;
    let mut footprint = Footprint::start(control, tier, client, true).await;
    let applied = match tier.manifest.mode {
        Mode::Concurrent => counted(client, tier, super::concurrent::dry_apply(ctx, plan, tier, client, before)).await,
        Mode::Batched => super::batched::dry::dry_apply(ctx, plan, tier, client, before).await,
        Mode::Transaction => apply_and_check(ctx, plan, tier, client, before, deferred::Wait::AsCommit).await,
    };
    let (mut record, mut failure) = match applied {
        Ok(record) => (record, None),
        Err(e) => (e.record, Some(e.failure)),
    };
    // What each tier's own COMMIT would check (a transaction-mode tier's
    // was checked after its apply, before its post-conditions).
    if failure.is_none() && tier.manifest.mode != Mode::Transaction {
        failure = deferred::check(ctx, client, &tier.label(), db::Modes::PutBack, deferred::Wait::AsCommit).await.err();
    }
    footprint.before_commit(client).await;
    record.footprint = footprint.end(&record.stats).await;
    if let Some(table) = &record.conditions {
        ctx.reporter().table(table);
    }
    locked(ctx, &record);
    show(ctx, tier, started, &record, failure.as_ref());
    // The SQL it sent goes to the ledger with the rollout's close.
    failure.map_or(Ok(()), Err)
}

/// The tier's row (outcome `would_apply` or `failed`, every change it
/// made in the transaction) and its lines on screen.
fn show(ctx: &Context, tier: &Plugin, started: Instant, record: &TierRecord, failure: Option<&Failure>) {
    let ms = started.elapsed().as_millis();
    let mut row = tier_row(tier, Call::Apply, TierEvent::Failed, ms, record);
    row.rows_changed = record.stats.rows_changed;
    row.changes = record.stats.changes.clone();
    row.changed = record.changed.clone();
    match failure {
        None => {
            row.outcome = "would_apply".into();
            ctx.reporter().status("Would apply", &done(tier, ms, &record.stats));
        }
        Some(f) => row.message = Some(f.to_string()),
    }
    for line in summary(&record.stats.changes, &record.changed, &tier.manifest.name) {
        ctx.reporter().status("Would change", &line);
    }
    ctx.reporter().add_tier(row);
}

/// One line per relation and operation: `one_roof.label — insert 12 rows
/// (3 statements)`. The rows are the server's count
/// (`pg_stat_xact_user_tables`), so a relation no statement named (a
/// cascade, a partition, a view's base table, a rule, a trigger) is there
/// too, flagged when no grant of `plugin` names that change; the
/// statements' own figure stands for a relation the server no longer
/// counts (created and dropped within the tier) or one it never counts
/// rows in (a partitioned table, a view: their rows land elsewhere, shown
/// on their own lines).
fn summary(changes: &[Change], changed: &[Changed], plugin: &str) -> Vec<String> {
    let mut by: BTreeMap<(String, &str), (u64, u64, Option<bool>)> = BTreeMap::new();
    for c in changes {
        let e = by.entry((c.relation.clone(), c.op.grant_key())).or_default();
        e.0 += c.rows;
        e.1 += 1;
    }
    for c in changed {
        for (op, rows) in c.by_op() {
            let e = by.entry((c.relation.clone(), op.grant_key())).or_default();
            e.0 = rows;
            e.2 = Some(c.not_granted.contains(&op));
        }
    }
    let plural = |k: u64| if k == 1 { "" } else { "s" };
    by.into_iter()
        .map(|((relation, op), (rows, n, not_granted))| {
            let how = match n {
                0 => "no statement named it: reached through the catalog".to_string(),
                n => format!("{n} statement{}", plural(n)),
            };
            let flag = match not_granted {
                Some(true) => format!("; no {op} grant of {plugin} names it"),
                _ => String::new(),
            };
            format!("{relation} — {op} {rows} row{} ({how}){flag}", plural(rows))
        })
        .collect()
}
