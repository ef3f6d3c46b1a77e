//! Check plugins (gate, verify, probes) in a read-only transaction, and the
//! rule every call's result goes through: a swallowed SQL error still fails.

use super::work::WorkSession;
use super::Context;
use crate::bindings::types::{Metric, Phase};
use crate::db;
use crate::error::Failure;
use crate::plan::{Plan, Plugin};
use crate::report::CheckTable;
use crate::sandbox::{Call, CallError, Returned};
use crate::sql::{Stats, Stop};
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// A check plugin's table, with what its SQL did and how long it took.
pub struct Checked {
    pub table: CheckTable,
    pub statements: u64,
    pub duration_ms: u128,
}

/// Runs a check plugin on the work session, clean for it, in a read-only
/// transaction of its own that is always rolled back. (Under roles the
/// transaction is read-write for the host's own membership grant, and the
/// plugin's call runs in a read-only savepoint: `Context::table`.)
pub async fn check(
    ctx: &Context,
    plan: &Plan,
    plugin: &Plugin,
    phase: Phase,
    title: &str,
    work: &mut WorkSession,
) -> Result<Checked, Failure> {
    let client = work.next(ctx).await?;
    let read_only = ctx.wall.get().is_none();
    db::open(&client, &plugin.manifest.limits, read_only).await.map_err(Failure::Database)?;
    let checked = table_of(ctx, plan, plugin, phase, title, &client).await;
    db::rollback(&client).await;
    checked
}

/// Runs a check plugin inside the transaction open on `client` (a full
/// rollback's, before it commits), under the plugin's own timeouts.
pub async fn check_in(
    ctx: &Context,
    plan: &Plan,
    plugin: &Plugin,
    phase: Phase,
    title: &str,
    client: &Arc<Client>,
) -> Result<Checked, Failure> {
    db::limit(client, &plugin.manifest.limits).await.map_err(Failure::Database)?;
    table_of(ctx, plan, plugin, phase, title, client).await
}

/// The check plugin's call and table, under the limits already set.
async fn table_of(
    ctx: &Context,
    plan: &Plan,
    plugin: &Plugin,
    phase: Phase,
    title: &str,
    client: &Arc<Client>,
) -> Result<Checked, Failure> {
    let started = Instant::now();
    let sql = ctx.session(plugin, client);
    let title = format!("{title} — {}", plugin.manifest.name);
    let table = ctx.table(plan, plugin, Call::Check(phase), client, &sql, &plugin.manifest.metrics, &title).await?;
    let statements = sql.lock().await.stats.statements;
    Ok(Checked { table, statements, duration_ms: started.elapsed().as_millis() })
}

/// Where probes run.
pub enum Within<'a> {
    /// Each in a read-only transaction of its own on the work session (a run).
    Own(&'a mut WorkSession),
    /// All in the transaction open on that session (a full rollback's, a dry run's).
    Open(&'a Arc<Client>),
}

/// Every probe in order, shown and reported; the first failing one stops.
pub async fn probes(
    ctx: &Context,
    plan: &Plan,
    phase: Phase,
    mut within: Within<'_>,
) -> Result<Vec<CheckTable>, Failure> {
    let mut tables = Vec::new();
    for probe in &plan.probes {
        let title = format!("Probe {}", probe.manifest.name);
        let checked = match &mut within {
            Within::Open(client) => check_in(ctx, plan, probe, phase, &title, client).await?,
            Within::Own(work) => check(ctx, plan, probe, phase, &title, work).await?,
        };
        let table = checked.table;
        ctx.reporter.table(&table);
        ctx.reporter.add_probe(&table);
        if !table.passed {
            return Err(Failure::TierFailed { label: probe.label(), cause: table.failures() });
        }
        tables.push(table);
    }
    Ok(tables)
}

/// Turns a call's result and the session's record into metrics or a
/// failure: a swallowed SQL error still fails.
pub fn outcome(
    plugin: &Plugin,
    call: Call,
    result: Result<Returned, CallError>,
    stats: &Stats,
) -> Result<Vec<Metric>, Failure> {
    let fail = |cause: String| Failure::TierFailed { label: format!("{} {}", plugin.label(), call.name()), cause };
    let metrics = match result {
        Ok(Returned::Done) => Vec::new(),
        Ok(Returned::Metrics(m)) => m,
        Err(CallError::Stopped(Stop::Interrupted)) => {
            return Err(Failure::Interrupted(format!("{} stopped during {}", plugin.label(), call.name())))
        }
        Err(CallError::Stopped(Stop::ConnectionLost(why))) => {
            return Err(Failure::Database(anyhow::anyhow!(
                "{} {}: the database connection was lost: {why}",
                plugin.label(),
                call.name()
            )))
        }
        Err(CallError::Stopped(stop)) => return Err(fail(format!("stopped by the host: {stop}"))),
        Err(e) => return Err(fail(with_first_error(&e.to_string(), stats.errors.first()))),
    };
    if let Some(first) = stats.errors.first() {
        let more = stats.errors.len() - 1;
        let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        return Err(fail(format!("{first}{more}; an SQL error fails the tier even when the plugin ignores it")));
    }
    Ok(metrics)
}

/// A plugin's error, and the first SQL error or refusal of its call said
/// once: when the plugin's text already quotes that error's message (it
/// passed the error on), only where it happened is added.
fn with_first_error(said: &str, first: Option<&String>) -> String {
    let Some(first) = first else {
        return said.to_string();
    };
    // `refused `stmt`: why` / `SQL error X in `stmt`: message`.
    match first.split_once("`: ") {
        Some((at, why)) if said.contains(why) => format!("{said} ({at}`)"),
        _ if said.contains(first.as_str()) => said.to_string(),
        _ => format!("{said} (first SQL error or refusal: {first})"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_first_error;

    #[test]
    fn a_refusal_the_plugin_passed_on_is_said_once() {
        let first = "refused `DELETE FROM t`: no grant allows DELETE on public.t".to_string();
        let said = "plugin error: SQL error RL000: no grant allows DELETE on public.t";
        let shown = with_first_error(said, Some(&first));
        assert_eq!(shown.matches("no grant allows DELETE on public.t").count(), 1, "{shown}");
        assert!(shown.ends_with("(refused `DELETE FROM t`)"), "{shown}");
        // A plugin that said something else keeps the refusal in full.
        let other = with_first_error("plugin error: gave up", Some(&first));
        assert_eq!(other, format!("plugin error: gave up (first SQL error or refusal: {first})"));
        assert_eq!(with_first_error("plugin error: x", None), "plugin error: x");
    }
}
