//! `host rollback`: what the ledger says is applied, newest tier first,
//! then the probes' post-state line.

use super::checks::probes;
use super::tier::{Action, TierTransaction};
use super::Context;
use crate::bindings::types::Phase;
use crate::error::Failure;
use crate::ledger::{self, Outcome};
use crate::plan::{Plan, Plugin};
use tokio_postgres::Client;

/// `host rollback [--tier N]`.
pub async fn rollback(ctx: &Context, plan: &Plan, only: Option<u32>) -> Result<(), Failure> {
    ctx.reporter.record_plan(&ctx.operator, &ctx.params, plan);
    let control = ctx.control("rollback", plan).await?;
    ctx.lock(&control).await?;
    ledger::ensure(&control).await?;
    ctx.abandon_stale(&control, "rollback").await?;
    let applied = ledger::applied(&control).await?;
    let mut todo = Vec::new();
    for a in applied.iter().rev() {
        let Some(tier) = plan.tiers.iter().find(|t| t.manifest.name == a.plugin) else {
            return Err(Failure::LedgerState(format!(
                "tier {} ({}) is applied, but no plugin of that name was given; pass the plugins of that rollout with --tiers",
                a.ordinal, a.plugin
            )));
        };
        if tier.sha256 != a.sha256 {
            return Err(Failure::LedgerState(format!(
                "{} was applied from sha256 {}, but the given plugin is {}; roll back with the plugin that applied it",
                tier.label(),
                a.sha256,
                tier.sha256
            )));
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
        if todo.is_empty() {
            ctx.reporter.result(&format!("TIER {n} ROLLBACK OK: not applied, nothing to do"));
            return Ok(());
        }
    }
    let start = ledger::Start {
        verb: "rollback",
        operator: &ctx.operator,
        client_host: &ctx.client_host,
        params: &ctx.params,
        approval_ref: None,
        plan,
    };
    let id = ledger::start(&control, start).await?;
    ctx.reporter.set_rollout_id(id);
    if todo.is_empty() {
        ctx.reporter.status("Nothing", "no tier is applied; the rollback changes nothing");
    }
    let result = steps(ctx, plan, &control, id, &todo, only).await;
    let (outcome, message) = match &result {
        Ok(m) => (Outcome::RolledBack, m.clone()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    ctx.close(&control, id, outcome, &message).await;
    let line = result?;
    ctx.reporter.result(&line);
    Ok(())
}

/// Each tier's rollback in its own transaction, then (for a full rollback)
/// the probes; returns the closing line.
async fn steps(
    ctx: &Context,
    plan: &Plan,
    control: &Client,
    id: i64,
    todo: &[&Plugin],
    only: Option<u32>,
) -> Result<String, Failure> {
    for tier in todo {
        if ctx.interrupt.is_set() {
            return Err(Failure::Interrupted(format!("stopped before rolling back {}", tier.label())));
        }
        TierTransaction { ctx, plan, tier, action: Action::Rollback, rollout_id: id, control }.run().await?;
    }
    if let Some(n) = only {
        return Ok(format!("TIER {n} ROLLBACK OK"));
    }
    let tables = probes(ctx, plan, Phase::AfterRollback).await?;
    let summary: Vec<String> = tables
        .iter()
        .zip(&plan.probes)
        .flat_map(|(table, probe)| {
            probe.manifest.summary.iter().map(move |m| format!("{m}={}", table.actual(m).unwrap_or("?")))
        })
        .collect();
    Ok(format!("FULL ROLLBACK OK: {}", summary.join(" ")).trim_end().to_string())
}
