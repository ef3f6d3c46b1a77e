//! `report.md`: the report an operator publishes as it is.

use super::tables::CheckTable;
use super::Summary;

fn md_table(t: &CheckTable) -> String {
    let mut out = "| metric | expected | actual | result |\n| --- | --- | --- | --- |\n".to_string();
    for m in &t.metrics {
        out.push_str(&format!("| {} | {} | {} | {} |\n", m.name, m.expected, m.actual, m.result.as_str()));
    }
    out
}

/// The whole report as Markdown.
pub fn render(s: &Summary) -> String {
    let mut out = format!("# Rollout report: {} — {}\n\n", s.verb, s.outcome.to_uppercase());
    out.push_str(&format!(
        "- rollout id: {}\n- database: {}\n- operator: {}\n- started: {}\n- ended: {}\n- exit code: {}\n",
        s.rollout_id.map(|i| i.to_string()).unwrap_or_else(|| "—".into()),
        s.database,
        s.operator,
        s.started_at,
        s.ended_at,
        s.exit_code
    ));
    for (k, v) in &s.params {
        out.push_str(&format!("- parameter `{k}`: `{v}`\n"));
    }
    if !s.message.is_empty() {
        out.push_str(&format!("\n**{}**\n", s.message));
    }
    out.push_str("\n## Plugins\n\n| name | kind | ordinal | sha256 |\n| --- | --- | --- | --- |\n");
    for p in &s.plugins {
        let ordinal = p["ordinal"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "—".into());
        out.push_str(&format!("| {} | {} | {ordinal} | `{}` |\n", p["name"], p["kind"], p["sha256"]).replace('"', ""));
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
                t.plugin,
                t.action,
                t.outcome,
                t.duration_ms,
                t.statements,
                t.rows_changed,
                t.message.clone().unwrap_or_default().replace('|', "\\|")
            ));
        }
    }
    if let Some(v) = &s.verify {
        out.push_str(&format!("\n## Verify — {}\n\n{}", if v.passed { "PASS" } else { "FAIL" }, md_table(v)));
    }
    for p in &s.probes {
        out.push_str(&format!("\n## {}\n\n{}", p.title, md_table(p)));
    }
    out
}
