//! The runbook, in order: gate, run, rollback, status.
//!
//! `run`: parameters → identity guard → rollout lock → ledger state → gate
//! (read-only) → each tier in its own transaction (apply, post-conditions,
//! ledger row, COMMIT) → verify → probes. Any failure rolls back that tier,
//! is written to the ledger, and stops the run; committed tiers stay, and
//! `host rollback` restores the baseline.

use crate::db::{self, Target};
use crate::error::Failure;
use crate::ledger;
use crate::plan::{Plan, Plugin};
use crate::report::{CheckTable, Reporter, TierRow};
use crate::sandbox::bindings::rollout::plugin::types::{Metric, Phase};
use crate::sandbox::{Call, CallError, Returned, Sandbox, Stop};
use crate::signal::Interrupt;
use crate::sql::SqlSession;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// What every command needs: where, who, with what.
pub struct Context {
    pub target: Target,
    pub sandbox: Sandbox,
    pub reporter: Arc<Reporter>,
    pub interrupt: Interrupt,
    pub operator: String,
    pub client_host: String,
    pub params: BTreeMap<String, String>,
}

impl Context {
    fn app_name(&self, verb: &str) -> String {
        let name = format!("host {verb} by {} pid {}", self.operator, std::process::id());
        name.chars().take(63).collect()
    }

    /// Connects the control connection and applies the identity guard.
    async fn control(&self, verb: &str, plan: &Plan) -> Result<Arc<Client>, Failure> {
        let client = self.target.connect(&self.app_name(verb)).await.map_err(Failure::Database)?;
        let database = db::current_database(&client).await.map_err(Failure::Database)?;
        self.reporter.summary.lock().expect("summary").database = database.clone();
        guard_database(&database, plan)?;
        self.reporter.status("Connected", &format!("to database `{database}` as {}", self.operator));
        Ok(client)
    }

    async fn lock(&self, control: &Client) -> Result<(), Failure> {
        match db::try_rollout_lock(control).await.map_err(Failure::Database)? {
            Ok(()) => {
                self.reporter.status("Locked", "rollout lock taken (released when this command ends)");
                Ok(())
            }
            Err(holder) => Err(Failure::LockHeld(holder)),
        }
    }
}

/// Every plugin must allow the database it is about to run against.
fn guard_database(database: &str, plan: &Plan) -> Result<(), Failure> {
    for p in plan.all() {
        if !p.manifest.databases.iter().any(|d| d == database) {
            return Err(Failure::WrongDatabase(format!(
                "refusing to run against database `{database}`: plugin {} allows only {:?}; connect to the right database",
                p.label(),
                p.manifest.databases
            )));
        }
    }
    Ok(())
}

/// Every declared parameter must be given and match its pattern.
pub fn check_params(plan: &Plan, params: &BTreeMap<String, String>) -> Result<(), Failure> {
    for p in plan.all() {
        for (name, spec) in &p.manifest.params {
            let Some(value) = params.get(name) else {
                return Err(Failure::Params(format!(
                    "missing parameter `{name}` ({}), required by {}; pass --param {name}=…",
                    spec.description,
                    p.label()
                )));
            };
            let re = regex::Regex::new(&format!("^(?:{})$", spec.pattern)).expect("validated at load");
            if !re.is_match(value) {
                return Err(Failure::Params(format!(
                    "parameter `{name}`={value:?} does not match `{}` ({}), required by {}",
                    spec.pattern,
                    spec.description,
                    p.label()
                )));
            }
        }
    }
    Ok(())
}

fn approval_ref<'a>(plan: &Plan, params: &'a BTreeMap<String, String>) -> Option<&'a str> {
    plan.all()
        .flat_map(|p| p.manifest.params.iter())
        .find(|(_, spec)| spec.approval)
        .and_then(|(name, _)| params.get(name).map(String::as_str))
}

fn record_plan(ctx: &Context, plan: &Plan) {
    let mut s = ctx.reporter.summary.lock().expect("summary");
    s.operator = ctx.operator.clone();
    s.params = ctx.params.clone();
    s.plugins = plan.all().map(Plugin::record).collect();
}

/// `host gate`: the gate table and verdict, read-only, no ledger write.
pub async fn gate(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    check_params(plan, &ctx.params)?;
    record_plan(ctx, plan);
    let _control = ctx.control("gate", plan).await?;
    let table = run_gate(ctx, plan).await?;
    if table.passed {
        Ok(())
    } else {
        Err(Failure::Blocked(table.failures()))
    }
}

async fn run_gate(ctx: &Context, plan: &Plan) -> Result<CheckTable, Failure> {
    let (table, _) = check(ctx, &plan.gate, Phase::Gate, "Gate").await?;
    ctx.reporter.summary.lock().expect("summary").gate = Some(table.clone());
    ctx.reporter.table(&table);
    ctx.reporter.result(&format!("GATE {}", if table.passed { "READY" } else { "BLOCKED" }));
    Ok(table)
}

/// `host run`: the whole rollout.
pub async fn run(ctx: &Context, plan: &Plan) -> Result<(), Failure> {
    check_params(plan, &ctx.params)?;
    record_plan(ctx, plan);
    let control = ctx.control("run", plan).await?;
    ctx.lock(&control).await?;
    ledger::ensure(&control).await?;
    let applied = ledger::applied(&control).await?;
    if !applied.is_empty() {
        let list: Vec<String> = applied.iter().map(|a| format!("tier {} ({})", a.ordinal, a.plugin)).collect();
        return Err(Failure::LedgerState(format!(
            "a rollout is already applied here ({}); reconcile, then `host rollback` restores the baseline before a new run — never hand-patch",
            list.join(", ")
        )));
    }
    let id = ledger::start(
        &control,
        ledger::Start {
            verb: "run",
            operator: &ctx.operator,
            client_host: &ctx.client_host,
            params: &ctx.params,
            approval_ref: approval_ref(plan, &ctx.params),
            plan,
        },
    )
    .await?;
    ctx.reporter.summary.lock().expect("summary").rollout_id = Some(id);
    ctx.reporter.status("Started", &format!("rollout {id}"));
    let result = run_steps(ctx, plan, &control, id).await;
    let (outcome, message) = match &result {
        Ok(()) => ("complete", "ROLLOUT COMPLETE — ALL TIERS PASSED".to_string()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    if let Err(e) = ledger::finish(&control, id, outcome, &message).await {
        ctx.reporter.error(&format!("could not close rollout {id} in the ledger: {e}"));
    }
    if result.is_ok() {
        ctx.reporter.result(&message);
    }
    result
}

async fn run_steps(ctx: &Context, plan: &Plan, control: &Client, id: i64) -> Result<(), Failure> {
    let gate = run_gate(ctx, plan).await?;
    ledger::set_gate(control, id, if gate.passed { "READY" } else { "BLOCKED" }).await?;
    if !gate.passed {
        return Err(Failure::Blocked(gate.failures()));
    }
    for tier in &plan.tiers {
        if ctx.interrupt.is_set() {
            return Err(Failure::Interrupted(format!("stopped before {}", tier.label())));
        }
        run_tier(ctx, control, id, tier, Call::Apply).await?;
    }
    let (verify, stats) = check(ctx, &plan.verify, Phase::Verify, "Verify").await?;
    let n = plan.verify.ordinal();
    ctx.reporter.table(&verify);
    ctx.reporter.summary.lock().expect("summary").verify = Some(verify.clone());
    let message = (!verify.passed).then(|| verify.failures());
    let event = ledger::Event {
        rollout_id: id,
        plugin: &plan.verify.manifest.name,
        ordinal: n as i32,
        sha256: &plan.verify.sha256,
        event: if verify.passed { "verified" } else { "failed" },
        duration_ms: stats.1 as i64,
        statements: stats.0 as i64,
        rows_changed: 0,
        message: message.as_deref(),
    };
    ledger::event(control, &event).await?;
    if !verify.passed {
        ctx.reporter.result(&format!("TIER {n} VERIFY FAIL"));
        return Err(Failure::TierFailed { label: format!("tier {n} verify"), cause: verify.failures() });
    }
    ctx.reporter.result(&format!("TIER {n} VERIFY PASS"));
    run_probes(ctx, plan, Phase::AfterRun).await?;
    Ok(())
}

async fn run_probes(ctx: &Context, plan: &Plan, phase: Phase) -> Result<Vec<CheckTable>, Failure> {
    let mut tables = Vec::new();
    for probe in &plan.probes {
        let (table, _) = check(ctx, probe, phase, &format!("Probe {}", probe.manifest.name)).await?;
        ctx.reporter.table(&table);
        ctx.reporter.summary.lock().expect("summary").probes.push(table.clone());
        if !table.passed {
            return Err(Failure::TierFailed { label: probe.label(), cause: table.failures() });
        }
        tables.push(table);
    }
    Ok(tables)
}

/// Runs a check plugin in a read-only transaction; returns its table and
/// (statements, milliseconds).
async fn check(
    ctx: &Context,
    plugin: &Plugin,
    phase: Phase,
    title: &str,
) -> Result<(CheckTable, (u64, u128)), Failure> {
    let started = Instant::now();
    let client = ctx.target.connect(&ctx.app_name("check")).await.map_err(Failure::Database)?;
    let limits = &plugin.manifest.limits;
    db::begin(&client, limits, true).await.map_err(Failure::Database)?;
    let sql = session(ctx, plugin, &client);
    let (result, sql) = ctx
        .sandbox
        .call(plugin, Call::Check(phase), sql, &ctx.params, ctx.reporter.clone(), ctx.interrupt.clone())
        .await;
    db::rollback(&client).await;
    let metrics = outcome(plugin, Call::Check(phase), result, &sql)?;
    let table = CheckTable::new(&plugin.manifest.name, &format!("{title} — {}", plugin.manifest.name), &metrics);
    Ok((table, (sql.stats.statements, started.elapsed().as_millis())))
}

fn session(ctx: &Context, plugin: &Plugin, client: &Arc<Client>) -> SqlSession {
    let m = &plugin.manifest;
    SqlSession::new(
        client.clone(),
        ctx.target.canceller(&client),
        m.grants.clone(),
        m.kind.read_only(),
        m.limits.clone(),
        Instant::now(),
        ctx.interrupt.clone(),
    )
}

/// Turns a call's result and the session's record into metrics or a
/// failure: a swallowed SQL error still fails.
fn outcome(
    plugin: &Plugin,
    call: Call,
    result: Result<Returned, CallError>,
    sql: &SqlSession,
) -> Result<Vec<Metric>, Failure> {
    let fail = |cause: String| Failure::TierFailed { label: format!("{} {}", plugin.label(), call.name()), cause };
    let metrics = match result {
        Ok(Returned::Done) => Vec::new(),
        Ok(Returned::Metrics(m)) => m,
        Err(CallError::Stopped(Stop::Interrupted)) => {
            return Err(Failure::Interrupted(format!("{} stopped during {}", plugin.label(), call.name())))
        }
        Err(CallError::Stopped(stop)) => return Err(fail(format!("stopped by the host: {stop}"))),
        Err(e) => {
            let earlier =
                sql.stats.errors.first().map(|f| format!(" (first SQL error or refusal: {f})")).unwrap_or_default();
            return Err(fail(format!("{e}{earlier}")));
        }
    };
    if let Some(first) = sql.stats.errors.first() {
        let more = sql.stats.errors.len() - 1;
        let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        return Err(fail(format!("{first}{more}; an SQL error fails the tier even when the plugin ignores it")));
    }
    Ok(metrics)
}

/// One tier, apply or rollback, in its own transaction with its ledger row.
async fn run_tier(ctx: &Context, control: &Client, id: i64, tier: &Plugin, call: Call) -> Result<(), Failure> {
    let started = Instant::now();
    let ordinal = tier.ordinal() as u32;
    let (verb_ing, verb_ed, event) = match call {
        Call::Rollback => ("Rolling back", "Rolled back", "rolled_back"),
        _ => ("Applying", "Applied", "applied"),
    };
    ctx.reporter.status(verb_ing, &tier.label());
    let client = ctx.target.connect(&ctx.app_name(event)).await.map_err(Failure::Database)?;
    let result = tier_transaction(ctx, &client, control, id, tier, call, event, started).await;
    let ms = started.elapsed().as_millis();
    let (stats, post) = match &result {
        Ok(r) | Err((_, r)) => (r.0.clone(), r.1.clone()),
    };
    let mut row = TierRow {
        ordinal,
        plugin: tier.manifest.name.clone(),
        action: call.name().into(),
        outcome: event.into(),
        duration_ms: ms,
        statements: stats.statements,
        rows_changed: stats.rows_changed,
        message: None,
        post_conditions: post.clone(),
    };
    if let Some(table) = &post {
        ctx.reporter.table(table);
    }
    match result {
        Ok(_) => {
            ctx.reporter.status(
                verb_ed,
                &format!(
                    "{} in {ms} ms — {} statements, {} rows changed",
                    tier.label(),
                    stats.statements,
                    stats.rows_changed
                ),
            );
            ctx.reporter.summary.lock().expect("summary").tiers.push(row);
            Ok(())
        }
        Err((failure, _)) => {
            db::rollback(&client).await;
            let kind = if matches!(failure, Failure::Interrupted(_)) { "interrupted" } else { "failed" };
            let message = failure.to_string();
            ctx.reporter.status(
                "Rolled back",
                &format!("{} — its transaction was rolled back; nothing of it was kept", tier.label()),
            );
            let e = ledger::Event {
                rollout_id: id,
                plugin: &tier.manifest.name,
                ordinal: ordinal as i32,
                sha256: &tier.sha256,
                event: kind,
                duration_ms: ms as i64,
                statements: stats.statements as i64,
                rows_changed: 0,
                message: Some(&message),
            };
            if let Err(err) = ledger::event(control, &e).await {
                ctx.reporter.error(&format!("could not write the {kind} event to the ledger: {err}"));
            }
            row.outcome = kind.into();
            row.rows_changed = 0;
            row.message = Some(message);
            ctx.reporter.summary.lock().expect("summary").tiers.push(row);
            Err(failure)
        }
    }
}

type TierRecord = (crate::sql::Stats, Option<CheckTable>);

/// BEGIN … plugin … ledger row … COMMIT; on error the caller rolls back.
#[allow(clippy::too_many_arguments)]
async fn tier_transaction(
    ctx: &Context,
    client: &Arc<Client>,
    control: &Client,
    id: i64,
    tier: &Plugin,
    call: Call,
    event: &str,
    started: Instant,
) -> Result<TierRecord, (Failure, TierRecord)> {
    let no_record = || (crate::sql::Stats::default(), None);
    let before =
        db::begin(client, &tier.manifest.limits, false).await.map_err(|e| (Failure::Database(e), no_record()))?;
    let sql = session(ctx, tier, client);
    let (result, sql) =
        ctx.sandbox.call(tier, call, sql, &ctx.params, ctx.reporter.clone(), ctx.interrupt.clone()).await;
    let record = |sql: &SqlSession, post: Option<CheckTable>| (sql.stats.clone(), post);
    if let Err(f) = outcome(tier, call, result, &sql) {
        return Err((f, record(&sql, None)));
    }
    let (sql, post) = if matches!(call, Call::Apply) {
        let (result, sql) = ctx
            .sandbox
            .call(tier, Call::PostConditions, sql, &ctx.params, ctx.reporter.clone(), ctx.interrupt.clone())
            .await;
        let metrics = outcome(tier, Call::PostConditions, result, &sql).map_err(|f| (f, record(&sql, None)))?;
        let table = CheckTable::new(&tier.manifest.name, &format!("Post-conditions — {}", tier.label()), &metrics);
        if !table.passed {
            let cause = format!("post-conditions not met: {}", table.failures());
            let f = Failure::TierFailed { label: tier.label(), cause };
            return Err((f, record(&sql, Some(table))));
        }
        (sql, Some(table))
    } else {
        (sql, None)
    };
    let rec = record(&sql, post);
    if ctx.interrupt.is_set() {
        return Err((Failure::Interrupted(format!("{} stopped before COMMIT", tier.label())), rec));
    }
    // The transaction must be the one the host opened, alive, same identity.
    match db::identity(client).await {
        Ok(after) if after == before => {}
        Ok(after) => {
            let cause = format!("the session changed under the plugin (before {before:?}, after {after:?})");
            return Err((Failure::TierFailed { label: tier.label(), cause }, rec));
        }
        Err(e) => {
            let cause = format!("the transaction is no longer usable: {e}");
            return Err((Failure::TierFailed { label: tier.label(), cause }, rec));
        }
    }
    let e = ledger::Event {
        rollout_id: id,
        plugin: &tier.manifest.name,
        ordinal: tier.ordinal() as i32,
        sha256: &tier.sha256,
        event,
        duration_ms: started.elapsed().as_millis() as i64,
        statements: rec.0.statements as i64,
        rows_changed: rec.0.rows_changed as i64,
        message: None,
    };
    if let Err(err) = ledger::event(client, &e).await {
        return Err((Failure::Database(anyhow::anyhow!("cannot write the ledger row: {err}")), rec));
    }
    if let Err(err) = db::commit(client).await {
        // The answer to COMMIT can be lost after the server committed: the
        // ledger row, written in the same transaction, says which.
        if ledger::has_event(control, id, &tier.manifest.name, event).await.unwrap_or(false) {
            ctx.reporter.status(
                "Warning",
                &format!("the answer to COMMIT was lost ({err}), but the ledger shows {} committed", tier.label()),
            );
            return Ok(rec);
        }
        return Err((Failure::Database(anyhow::anyhow!("COMMIT failed: {err}")), rec));
    }
    Ok(rec)
}

/// `host rollback`: reverse order over what the ledger says is applied.
pub async fn rollback(ctx: &Context, plan: &Plan, only: Option<u32>) -> Result<(), Failure> {
    record_plan(ctx, plan);
    let control = ctx.control("rollback", plan).await?;
    ctx.lock(&control).await?;
    ledger::ensure(&control).await?;
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
    let id = ledger::start(
        &control,
        ledger::Start {
            verb: "rollback",
            operator: &ctx.operator,
            client_host: &ctx.client_host,
            params: &ctx.params,
            approval_ref: None,
            plan,
        },
    )
    .await?;
    ctx.reporter.summary.lock().expect("summary").rollout_id = Some(id);
    if todo.is_empty() {
        ctx.reporter.status("Nothing", "no tier is applied; the rollback changes nothing");
    }
    let result = rollback_steps(ctx, plan, &control, id, &todo, only).await;
    let (outcome, message) = match &result {
        Ok(m) => ("rolled_back", m.clone()),
        Err(f) => (f.outcome(), f.to_string()),
    };
    if let Err(e) = ledger::finish(&control, id, outcome, &message).await {
        ctx.reporter.error(&format!("could not close rollback {id} in the ledger: {e}"));
    }
    let line = result?;
    ctx.reporter.result(&line);
    Ok(())
}

async fn rollback_steps(
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
        run_tier(ctx, control, id, tier, Call::Rollback).await?;
    }
    if let Some(n) = only {
        return Ok(format!("TIER {n} ROLLBACK OK"));
    }
    let probes = run_probes(ctx, plan, Phase::AfterRollback).await?;
    let summary: Vec<String> = probes
        .iter()
        .zip(&plan.probes)
        .flat_map(|(table, probe)| {
            probe.manifest.summary.iter().map(move |m| format!("{m}={}", table.actual(m).unwrap_or("?")))
        })
        .collect();
    Ok(format!("FULL ROLLBACK OK: {}", summary.join(" ")).trim_end().to_string())
}

/// `host status`: what the ledger says is applied, and the latest rollouts.
pub async fn status(ctx: &Context, limit: i64) -> Result<(), Failure> {
    let client = ctx.target.connect(&ctx.app_name("status")).await.map_err(Failure::Database)?;
    let database = db::current_database(&client).await.map_err(Failure::Database)?;
    let applied = ledger::applied(&client).await?;
    let history = ledger::history(&client, limit).await?;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["tier", "plugin", "applied at", "by", "approval", "rollout", "sha256"]);
    for a in &applied {
        t.add_row(vec![
            a.ordinal.to_string(),
            a.plugin.clone(),
            a.at.clone(),
            a.operator.clone(),
            a.approval_ref.clone(),
            a.rollout_id.to_string(),
            a.sha256.chars().take(12).collect(),
        ]);
    }
    println!("Database `{database}`: {} tier(s) applied", applied.len());
    if !applied.is_empty() {
        println!("{t}");
    }
    let mut h = comfy_table::Table::new();
    h.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    h.set_header(vec!["rollout", "verb", "operator", "approval", "gate", "outcome", "started", "ended", "message"]);
    for p in &history {
        h.add_row(vec![
            p.id.to_string(),
            p.verb.clone(),
            p.operator.clone(),
            p.approval_ref.clone(),
            p.gate.clone(),
            p.outcome.clone(),
            p.started.clone(),
            p.ended.clone(),
            p.message.chars().take(80).collect(),
        ]);
    }
    if history.is_empty() {
        println!("No rollout has run here yet.");
    } else {
        println!("Latest rollouts:\n{h}");
    }
    Ok(())
}
