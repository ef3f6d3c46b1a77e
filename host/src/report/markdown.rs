//! `report.md`: the report an operator publishes as it is.
//!
//! The host writes its headings and table frames; every other string (a
//! plugin's metric, message or name, the database, the operator, a
//! parameter) goes through [`text::markdown`], so nothing a plugin says can
//! add a heading or a table cell, hide a section in a comment, or put a
//! link, an image or HTML in the published page.

use super::tables::CheckTable;
use super::Summary;
use crate::text::markdown as md;

fn md_table(t: &CheckTable) -> String {
    let mut out = "| metric | expected | actual | result |\n| --- | --- | --- | --- |\n".to_string();
    for m in &t.metrics {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            md(&m.name),
            md(&m.expected),
            md(&m.actual),
            m.result.as_str()
        ));
    }
    for p in &t.problems {
        out.push_str(&format!("\n**FAIL (host):** {}\n", md(p)));
    }
    out
}

/// The whole report as Markdown: a pure function of the summary (the
/// ledger stores it; `host report ID` renders it again).
pub fn render(s: &Summary) -> String {
    let mut out = format!("# Rollout report: {} — {}\n\n", s.verb, s.outcome.to_uppercase());
    out.push_str(&format!(
        "- rollout id: {}\n- database: {}\n- operator: {}\n- started: {}\n- ended: {}\n",
        s.rollout_id.map(|i| i.to_string()).unwrap_or_else(|| "—".into()),
        md(&s.database),
        md(&s.operator),
        s.started_at,
        s.ended_at,
    ));
    for (k, v) in &s.params {
        out.push_str(&format!("- parameter {}: {}\n", md(k), md(v)));
    }
    if !s.roles.is_empty() {
        let each: Vec<String> = s.roles.iter().map(|(p, r)| format!("{} as {}", md(p), md(r))).collect();
        out.push_str(&format!(
            "- PostgreSQL roles: each plugin ran as its own restricted role, proven before the gate: {}\n",
            each.join(", ")
        ));
    }
    if let Some(lock) = &s.lock {
        out.push_str(&lock.markdown());
    }
    if !s.message.is_empty() {
        out.push_str(&format!("\n**{}**\n", md(s.message.trim())));
    }
    out.push_str("\n## Plugins\n\n| name | kind | ordinal | sha256 |\n| --- | --- | --- | --- |\n");
    for p in &s.plugins {
        let ordinal = p.ordinal.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
        out.push_str(&format!("| {} | {} | {ordinal} | `{}` |\n", md(&p.name), md(&p.kind), md(&p.sha256)));
    }
    if let Some(g) = &s.gate {
        out.push_str(&format!("\n## Gate — {}\n\n{}", if g.passed { "READY" } else { "BLOCKED" }, md_table(g)));
    }
    if !s.tiers.is_empty() {
        out.push_str("\n## Tiers\n\n| tier | plugin | action | outcome | ms | statements | rows changed | note |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for t in &s.tiers {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                t.ordinal,
                md(&t.plugin),
                t.action,
                t.outcome,
                t.duration_ms,
                t.statements,
                t.rows_changed,
                md(t.message.as_deref().unwrap_or_default())
            ));
        }
    }
    let batched: Vec<String> =
        s.tiers.iter().filter_map(|t| Some(t.batches.as_ref()?.markdown(&md(&t.plugin)))).collect();
    if !batched.is_empty() {
        out.push_str(&format!("\n## Batches\n\n{}", batched.concat()));
    }
    for t in s.tiers.iter().filter(|t| !t.changes.is_empty()) {
        out.push_str(&format!(
            "\n### Tier {} — {}: what it would change (rolled back)\n\n| # | relation | operation | rows |\n| --- | --- | --- | --- |\n",
            t.ordinal,
            md(&t.plugin)
        ));
        for (i, c) in t.changes.iter().enumerate() {
            out.push_str(&format!("| {} | {} | {} | {} |\n", i + 1, md(&c.relation), c.op.grant_key(), c.rows));
        }
    }
    for t in s.tiers.iter().filter(|t| !t.changed.is_empty()) {
        out.push_str(&format!(
            "\n### Tier {} — {}: rows changed, as the server counted them\n\n| relation | inserted | updated | deleted | no grant of the plugin names |\n| --- | --- | --- | --- | --- |\n",
            t.ordinal,
            md(&t.plugin)
        ));
        for c in &t.changed {
            let flagged: Vec<&str> = c.not_granted.iter().map(|op| op.grant_key()).collect();
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                md(&c.relation),
                c.inserted,
                c.updated,
                c.deleted,
                flagged.join(", ")
            ));
        }
    }
    for t in s.tiers.iter() {
        if let Some(sent) = &t.sql {
            out.push_str(&super::statements::markdown(t.ordinal, &t.plugin, sent));
        }
    }
    for t in s.tiers.iter().filter(|t| !t.footprint.is_empty() || t.lock_retries > 0) {
        out.push_str(&super::footprint::markdown(t.ordinal, &t.plugin, t.lock_retries, &t.footprint));
    }
    for table in s.tiers.iter().filter_map(|t| t.conditions.as_ref()) {
        let verdict = if table.passed { "PASS" } else { "FAIL" };
        out.push_str(&format!("\n### {} — {verdict}\n\n{}", md(&table.title), md_table(table)));
    }
    if let Some(v) = &s.verify {
        out.push_str(&format!("\n## Verify — {}\n\n{}", if v.passed { "PASS" } else { "FAIL" }, md_table(v)));
    }
    for p in &s.probes {
        out.push_str(&format!("\n## {}\n\n{}", md(&p.title), md_table(p)));
    }
    if !s.logs.is_empty() {
        out.push_str("\n## Plugin logs\n\n| plugin | level | message |\n| --- | --- | --- |\n");
        for l in &s.logs {
            out.push_str(&format!("| {} | {} | {} |\n", md(&l.plugin), md(&l.level), md(&l.message)));
        }
        if s.logs_left_out > 0 {
            out.push_str(&format!(
                "\n**{} more log line(s) are left out of this report; `rollout.log` has every line.**\n",
                s.logs_left_out
            ));
        }
    }
    out
}
