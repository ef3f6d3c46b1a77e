//! What a reviewer reads without running anything: `inspect` (manifest,
//! WIT interface, digest) and `explain` (would this statement be allowed?).

use crate::error::Failure;
use crate::manifest::Phase;
use crate::plan::Plugin;
use crate::sandbox::Sandbox;
use crate::sql::check::Checker;
use crate::sql::one_line;
use crate::text::terminal;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// Prints each plugin's manifest, imports/exports and sha256; refuses a
/// plugin the host would refuse to run (imports, wrong world).
pub fn print(sandbox: &Sandbox, plugins: &[Plugin], as_json: bool) -> anyhow::Result<()> {
    let mut all = Vec::new();
    let mut text = Vec::new();
    for p in plugins {
        let (imports, exports) = sandbox.interface(&p.compile(sandbox)?);
        if as_json {
            all.push(json!({
                "path": p.path, "sha256": p.sha256, "manifest": p.manifest,
                "files": p.files.iter().map(|f| json!({"name": f.name, "sha256": f.sha256})).collect::<Vec<_>>(),
                "imports": imports, "exports": exports,
            }));
            continue;
        }
        // Manifest strings, data file names and WIT names are the plugin's:
        // each line is rendered inert ([`terminal`]).
        text.push(terminal(&format!("{} — {}", p.path.display(), p.label())));
        text.push(format!("  sha256      {}", p.sha256));
        for (key, object, why) in crate::grants::warnings(&p.manifest) {
            text.push(format!("  {}", terminal(&format!("WARNING     {key} {object}: {why} (acknowledged)"))));
        }
        // Serialised by TOML's own rules, so each string is one quoted,
        // escaped TOML value: the block reads back as the manifest.
        let manifest = toml::to_string_pretty(&p.manifest)
            .map_err(|e| anyhow::anyhow!("cannot show the manifest of {} as TOML: {e}", p.path.display()))?;
        text.push("  manifest".into());
        for line in manifest.lines() {
            text.push(format!("    {}", terminal(line)));
        }
        for f in &p.files {
            text.push(format!("  data file   {} sha256 {}", terminal(&f.name), f.sha256));
        }
        text.push(format!("  imports     {}", terminal(&imports.join(", "))));
        text.push(format!("  exports     {}", terminal(&exports.join(", "))));
        text.push(String::new());
    }
    emit(&all, &text, as_json);
    Ok(())
}

/// One statement's verdict, as `explain --format json` gives it.
#[derive(Debug, Serialize)]
struct Verdict {
    sql: String,
    allowed: bool,
    /// The statement's kind (`SELECT`, `UPDATE`, …), when allowed.
    kind: Option<String>,
    /// `operation relation` for each access it makes, when allowed.
    accesses: Vec<String>,
    /// Why it is refused, and what grant would allow it, when refused.
    refusal: Option<String>,
    /// The table lock a DDL statement takes and what production waits on.
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<crate::sql::check::Lock>,
}

/// `explain`'s whole result.
#[derive(Debug, Serialize)]
struct Explained {
    plugin: String,
    statements: Vec<Verdict>,
    allowed: usize,
    refused: usize,
    /// The catalog lists the check used (built into the host: no database).
    catalog: String,
}

/// Checks each statement against the plugin's grants; exit 4 if any refused.
pub fn explain(plugin: &Plugin, statements: &[String]) -> Result<(), Failure> {
    if statements.is_empty() {
        return Err(Failure::Params("no statement to explain; pass one or --file".into()));
    }
    let m = &plugin.manifest;
    // The plugin's own memory limit bounds constant sizes, as in a run.
    let checker = |g: &crate::manifest::Grants| {
        Checker::new(g, m.kind.read_only()).mode(m.mode).limits(m.limits.memory_mib, None)
    };
    // A tier whose grants differ by phase: allowed in a phase, said so.
    let check = |sql: &str| {
        if !m.phases.split {
            return checker(&m.grants).check(sql, 0).map(|c| (c, String::new()));
        }
        let in_phase = |p: Phase| checker(m.phases.of(p)).in_phase(p, Arc::new(m.phases.of(p.other()).clone()));
        match (in_phase(Phase::Apply).check(sql, 0), in_phase(Phase::Rollback).check(sql, 0)) {
            (Ok(c), Ok(_)) => Ok((c, String::new())),
            (Ok(c), Err(_)) => Ok((c, " (apply only)".into())),
            (Err(_), Ok(c)) => Ok((c, " (rollback only)".into())),
            (Err(r), Err(_)) => Err(r),
        }
    };
    let verdicts: Vec<Verdict> = statements
        .iter()
        .map(|sql| match check(sql) {
            Ok((c, only)) => Verdict {
                sql: sql.clone(),
                allowed: true,
                kind: Some(format!("{}{only}", c.kind)),
                accesses: c.accesses.iter().map(|(r, op)| format!("{} {r}", op.grant_key())).collect(),
                refusal: None,
                lock: c.lock,
            },
            Err(r) => Verdict {
                sql: sql.clone(),
                allowed: false,
                kind: None,
                accesses: Vec::new(),
                refusal: Some(r.to_string()),
                lock: None,
            },
        })
        .collect();
    let refused = verdicts.iter().filter(|v| !v.allowed).count();
    // Without a database, the lists derived from the catalog are the ones
    // built into the host; a run uses the server's.
    let catalog = crate::sql::check::Catalog::built().describe();
    let printer = crate::printer::get();
    if printer.json() {
        printer.result_json(&Explained {
            plugin: plugin.label(),
            allowed: verdicts.len() - refused,
            refused,
            statements: verdicts,
            catalog,
        });
    } else {
        let mut out = Vec::new();
        for v in &verdicts {
            let (word, why) = match &v.refusal {
                None => {
                    let reach = if v.accesses.is_empty() { "no relation".into() } else { v.accesses.join(", ") };
                    ("ALLOWED ", format!("{} — {reach}", v.kind.as_deref().unwrap_or_default()))
                }
                Some(refusal) => ("REFUSED ", refusal.clone()),
            };
            out.push(format!("{word} {}\n         {}", terminal(&one_line(&v.sql)), terminal(&why)));
            // What production waits on while the tier holds it.
            if let Some(lock) = v.lock.as_ref().filter(|l| l.holds_production_up()) {
                out.push(format!("         {}", terminal(&format!("LOCK {}", lock.describe()))));
            }
        }
        out.push(format!(
            "{} allowed, {refused} refused for {}",
            statements.len() - refused,
            terminal(&plugin.label())
        ));
        out.push(catalog);
        printer.result(&out.join("\n"));
    }
    if refused > 0 {
        return Err(Failure::TierFailed { label: plugin.label(), cause: format!("{refused} statement(s) refused") });
    }
    Ok(())
}

/// `host inspect --sql PLUGIN… --db URL`: the SQL each plugin (matched by
/// its sha256) sent in the last rollout the ledger recorded — a run, a
/// rollback or a dry run, or only those of `verb` (its ledger name) —
/// without running anything. Every statement text is the plugin's and is
/// shown inert ([`terminal`]).
pub async fn sql(
    target: &rollout_connect::Target,
    plugins: &[Plugin],
    verb: Option<&str>,
    as_json: bool,
) -> Result<(), Failure> {
    let client =
        target.connect(&format!("host inspect pid {}", std::process::id())).await.map_err(Failure::Database)?;
    let mut all = Vec::new();
    let mut text = Vec::new();
    for p in plugins {
        let found = crate::ledger::statements::last(&client, &p.sha256, verb).await?;
        text.push(terminal(&format!("{} — {} (sha256 {})", p.path.display(), p.label(), p.sha256)));
        let Some(found) = found else {
            let which = match verb {
                Some("dry_run") => "dry run",
                Some(other) => other,
                None => "run, rollback or dry run",
            };
            text.push(format!(
                "  no {which} of this plugin (these bytes, by sha256) is recorded in this database's ledger: run it \
                 (`host run --dry-run --tiers PLAN… --database-url URL` changes nothing; a rehearsal's steps are in \
                 its copy's ledger), then ask again\n"
            ));
            all.push(json!({ "path": p.path, "sha256": p.sha256, "recorded": null }));
            continue;
        };
        text.push(format!(
            "  sent in rollout {} ({}, by {}, started {}) as tier {}:",
            found.rollout_id,
            terminal(&found.verb),
            terminal(&found.operator),
            terminal(&found.started_at),
            found.ordinal
        ));
        for (i, s) in found.sent.statements.iter().enumerate() {
            let params = if s.params.is_empty() { "no parameters".to_string() } else { s.params.join(", ") };
            text.push(format!(
                "  [{}] {} call(s), {} failed, {} row(s), {} ms; {}",
                i + 1,
                s.calls,
                s.failed,
                s.rows,
                crate::report::sql_millis(s.time_us),
                terminal(&params)
            ));
            for line in crate::text::terminal_lines(&s.sql) {
                text.push(format!("      {line}"));
            }
        }
        if found.sent.statements.is_empty() {
            text.push("  it sent no statement".into());
        }
        if found.sent.left_out_calls > 0 {
            text.push(format!(
                "  {} more send(s) of plain reads past the first {} distinct statements were not recorded (every \
                 statement that may change rows or schema, or failed, was)",
                found.sent.left_out_calls,
                crate::sql::sent::MAX_STATEMENTS
            ));
        }
        if found.sent.left_out_changes > 0 {
            text.push(format!(
                "  {} send(s) of statements that may change rows or schema were NOT recorded: the listing reached its \
                 bound; do not accept this SQL as reviewed",
                found.sent.left_out_changes
            ));
        }
        text.push(String::new());
        all.push(json!({ "path": p.path, "sha256": p.sha256, "recorded": found }));
    }
    emit(&all, &text, as_json);
    Ok(())
}

/// `inspect`'s answer: the JSON of every plugin, or the text lines.
fn emit(all: &[serde_json::Value], text: &[String], as_json: bool) {
    let printer = crate::printer::get();
    if as_json {
        printer.result_json(&all);
    } else {
        printer.result(&(text.join("\n") + "\n"));
    }
}
