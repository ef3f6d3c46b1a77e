//! UI read contract: the shape the Directus UI reads, and complete rows.

use rollout_sdk::{query, Metric, Phase, Result};

/// Columns the UI reads, with their types.
const CONTRACT: [(&str, &str); 5] = [
    ("responsibility_id", "bigint"),
    ("area_code", "text"),
    ("owner_team", "text"),
    ("node_code", "text"),
    ("label", "text"),
];

fn check(_: Phase) -> Result<Vec<Metric>> {
    let cols = query(
        "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns
         WHERE table_schema = 'one_roof' AND table_name = 'ui_projection'",
    )?;
    let mut metrics = Vec::new();
    for (name, ty) in CONTRACT {
        let found = cols.iter().find(|r| r.get::<String>("name").ok().as_deref() == Some(name));
        let actual = match found {
            Some(r) => r.get::<String>("type")?,
            None => "missing".into(),
        };
        metrics.push(Metric::equals(&format!("column {name}"), ty, actual));
    }
    let r = query(
        "SELECT count(*) AS n,
                count(*) FILTER (WHERE coalesce(owner_team, '') = '' OR coalesce(node_code, '') = ''
                                 OR coalesce(label, '') = '') AS incomplete
         FROM one_roof.ui_projection",
    )?;
    let row = r.one()?;
    metrics.push(Metric::equals("incomplete_rows", 0, row.get::<i64>("incomplete")?));
    metrics.push(Metric::info("rows", row.get::<i64>("n")?));
    Ok(metrics)
}

rollout_sdk::check!(check);
