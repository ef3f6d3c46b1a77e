//! `host roles apply` and `host roles prove`: the role SQL run by the host
//! itself, in one transaction, with what only the catalog can say (the
//! sequences behind an insert, a function's overloads) read from the
//! database it runs on; then the proof. Nobody pipes printed SQL into
//! psql to set roles up.

use super::proof::{self, Finding, Scope, DRAWS, FUNCTIONS};
use super::sql::{role_sql, Derived};
use super::Roles;
use crate::db;
use crate::error::Failure;
use crate::ledger;
use crate::printer::Tone;
use crate::quote::ident;
use rollout_connect::Target;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

/// The connection's own bounds: a role change never waits long on a lock.
const SETTINGS: &str = "SET statement_timeout = '30s'; SET lock_timeout = '5s'; SET jit = off";
const EXISTING: &str = "SELECT rolname::text FROM pg_roles WHERE rolname = ANY ($1)";
const SESSION_USER: &str = "SELECT session_user::text";

/// `host roles apply`: under the rollout lock (no rollout runs meanwhile),
/// the ledger is made current, the role SQL runs in one transaction, and
/// the proof must pass. `operator`: the role that runs `host` (its control
/// connection); default: who applies.
pub async fn apply(target: &Target, roles: &Roles, operator: Option<&str>) -> Result<(), Failure> {
    if let Some(why) = roles.impossible.first() {
        return Err(Failure::Roles(format!("this plan cannot run under roles: {why}")));
    }
    let client = connect(target, "roles apply").await?;
    if let Err(holder) = db::try_rollout_lock(&client).await.map_err(Failure::Database)? {
        return Err(Failure::LockHeld(holder));
    }
    ledger::ensure(&client).await?;
    let session = session_user(&client).await?;
    let operator = operator.unwrap_or(&session).to_string();
    super::check_role_name("the operator role", &operator).map_err(Failure::Plan)?;
    let derived = derive(&client, roles).await?;
    let script = role_sql(roles, &operator, Some(&derived));
    client.batch_execute("BEGIN").await?;
    for statement in script.statements() {
        if let Err(e) = client.batch_execute(statement).await {
            db::rollback(&client).await;
            return Err(Failure::Database(anyhow::anyhow!(
                "the role SQL stopped at `{}`: {e}; nothing of it was kept",
                crate::text::terminal(statement)
            )));
        }
    }
    client.batch_execute("COMMIT").await?;
    let printer = crate::printer::get();
    printer.result(&script.render());
    let n = script.statements().count();
    printer.status(Tone::Progress, "Applied", &format!("{n} statements in one transaction (printed on stdout)"));
    let findings = proof::prove(&client, roles, Scope { operator: &operator, before_gate: true }).await?;
    verdict(roles, &findings)
}

/// `host roles prove`: the proof alone, as the operator's next run would
/// make it (reads only, takes no lock).
pub async fn prove(target: &Target, roles: &Roles) -> Result<(), Failure> {
    let client = connect(target, "roles prove").await?;
    let operator = session_user(&client).await?;
    let findings = proof::prove(&client, roles, Scope { operator: &operator, before_gate: true }).await?;
    verdict(roles, &findings)
}

async fn connect(target: &Target, verb: &str) -> Result<Arc<Client>, Failure> {
    let name = format!("host {verb} pid {}", std::process::id());
    let client = target.connect(&name).await.map_err(Failure::Database)?;
    client.batch_execute(SETTINGS).await?;
    Ok(client)
}

async fn session_user(client: &Client) -> Result<String, Failure> {
    let rows = client.query_typed(SESSION_USER, &[]).await?;
    Ok(rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or_default())
}

/// A text[] parameter, typed (one round trip).
#[allow(clippy::ptr_arg)] // a Vec<String> is what binds as text[]
fn param(v: &Vec<String>) -> [(&(dyn ToSql + Sync), Type); 1] {
    [(v as &(dyn ToSql + Sync), Type::TEXT_ARRAY)]
}

/// What only the catalog says: which roles exist, the sequences each
/// plugin's inserts draw from, every overload of a granted function.
async fn derive(client: &Client, roles: &Roles) -> Result<Derived, Failure> {
    let mut d = Derived::default();
    let names: Vec<String> =
        roles.plugins.iter().map(|p| p.role.clone()).chain(roles.wall_roles().map(String::from)).collect();
    for r in client.query_typed(EXISTING, &param(&names)).await? {
        d.roles.insert(r.try_get(0)?);
    }
    let tables: Vec<String> = roles.plugins.iter().flat_map(|p| p.draws.iter().cloned()).collect();
    let mut drawn: Vec<(String, String)> = Vec::new();
    for r in client.query_typed(DRAWS, &param(&tables)).await? {
        drawn.push((r.try_get(0)?, r.try_get(2)?));
    }
    for p in &roles.plugins {
        let seqs: BTreeSet<String> =
            drawn.iter().filter(|(t, _)| p.draws.contains(t)).map(|(_, s)| s.clone()).collect();
        d.sequences.insert(p.role.clone(), seqs);
    }
    let functions: Vec<String> = roles.plugins.iter().flat_map(|p| p.functions.iter().cloned()).collect();
    for r in client.query_typed(FUNCTIONS, &param(&functions)).await? {
        d.functions.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    Ok(d)
}

/// Prints the proof's outcome: proven, or each problem and the SQL that
/// fixes it (exit 2).
fn verdict(roles: &Roles, findings: &[Finding]) -> Result<(), Failure> {
    if findings.is_empty() {
        let proven = format!(
            "{} restricted roles hold exactly their plugins' grants; the runner {} holds nothing and is a member \
             of no role",
            roles.plugins.len(),
            ident(&roles.runner)
        );
        crate::printer::get().status(Tone::Progress, "Proven", &proven);
        return Ok(());
    }
    let (problems, fix) = proof::message(findings);
    let printer = crate::printer::get();
    for p in &problems {
        printer.status(Tone::Warning, "Role", p);
    }
    let mut sql = vec!["-- The SQL that fixes it (as a superuser, or the owner of the roles and objects):".to_string()];
    sql.extend(fix.iter().cloned());
    printer.result(&sql.join("\n"));
    Err(Failure::Roles(format!(
        "{} problem(s) with the plan's restricted roles or the role wall (first: {}: {}); the SQL above fixes them",
        problems.len(),
        findings[0].role,
        findings[0].what
    )))
}
