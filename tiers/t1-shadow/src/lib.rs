//! Tier 1, shadow: the proposed ownership, staged beside the real table.

use rollout_sdk::{bail, count, data_file, execute, execute_with, log, query, Metric, Result};

const CREATE: &str = "CREATE TABLE one_roof.resp_ownership_shadow (
    area_code text PRIMARY KEY REFERENCES one_roof.resp_area (code),
    team_code text NOT NULL REFERENCES one_roof.team (code))";
const INSERT: &str = "INSERT INTO one_roof.resp_ownership_shadow (area_code, team_code) VALUES ($1, $2)";

fn apply() -> Result<()> {
    execute(CREATE)?;
    let csv = data_file("one-roof-assignments.csv")?;
    let mut n = 0;
    for (i, line) in csv.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let Some((area, team)) = line.split_once(',') else {
            bail!("one-roof-assignments.csv line {}: expected area_code,team_code", i + 1);
        };
        n += execute_with(INSERT, &[&area.trim(), &team.trim()])?;
    }
    log::info(format!("loaded {n} proposed assignments"));
    Ok(())
}

fn post_conditions() -> Result<Vec<Metric>> {
    let rows = query(
        "SELECT count(*) AS n, count(DISTINCT s.area_code) AS areas,
                count(*) FILTER (WHERE t.code IS NULL) AS unknown_teams
         FROM one_roof.resp_ownership_shadow s LEFT JOIN one_roof.team t ON t.code = s.team_code",
    )?;
    let r = rows.one()?;
    Ok(vec![
        metric::SHADOW_ROWS.equals(30, r.get::<i64>("n")?),
        metric::AREAS_ONCE.equals(30, r.get::<i64>("areas")?),
        metric::UNKNOWN_TEAMS.equals(0, r.get::<i64>("unknown_teams")?),
    ])
}

fn rollback() -> Result<()> {
    execute("DROP TABLE IF EXISTS one_roof.resp_ownership_shadow")?;
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    let n = count(
        "SELECT count(*) FROM (VALUES (to_regclass('one_roof.resp_ownership_shadow'))) AS v (r) WHERE r IS NOT NULL",
    )?;
    Ok(vec![metric::SHADOW_TABLES.equals(0, n)])
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
