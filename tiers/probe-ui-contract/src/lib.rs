//! UI read contract: the shape the Directus UI reads, and complete rows.

use rollout_sdk::{query, Metric, MetricName, Phase, Result};

/// Columns the UI reads, with their types and metrics.
const CONTRACT: [(&str, &str, MetricName); 5] = [
    ("responsibility_id", "bigint", metric::COLUMN_RESPONSIBILITY_ID),
    ("area_code", "text", metric::COLUMN_AREA_CODE),
    ("owner_team", "text", metric::COLUMN_OWNER_TEAM),
    ("node_code", "text", metric::COLUMN_NODE_CODE),
    ("label", "text", metric::COLUMN_LABEL),
];

fn check(_: Phase) -> Result<Vec<Metric>> {
    let cols = query(
        "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns
         WHERE table_schema = 'one_roof' AND table_name = 'ui_projection'",
    )?;
    let mut metrics = Vec::new();
    for (name, ty, line) in CONTRACT {
        let found = cols.iter().find(|r| r.get::<String>("name").ok().as_deref() == Some(name));
        let actual = match found {
            Some(r) => r.get::<String>("type")?,
            None => "missing".into(),
        };
        metrics.push(line.equals(ty, actual));
    }
    let r = query(
        "SELECT count(*) AS n,
                count(*) FILTER (WHERE coalesce(owner_team, '') = '' OR coalesce(node_code, '') = ''
                                 OR coalesce(label, '') = '') AS incomplete
         FROM one_roof.ui_projection",
    )?;
    let row = r.one()?;
    metrics.push(metric::INCOMPLETE_ROWS.equals(0, row.get::<i64>("incomplete")?));
    metrics.push(metric::ROWS.info(row.get::<i64>("n")?));
    Ok(metrics)
}

rollout_sdk::check! { check: check }
