//! Test fixture: a gate whose table has the shape its parameter names, so
//! the host's completeness rule is tested on the real path.

use rollout_sdk::{param, scalar, Metric, Phase, Result};

fn check(_: Phase) -> Result<Vec<Metric>> {
    let db: String = scalar("SELECT current_database()::text")?;
    let ok = || vec![metric::DB.equals("directus", &db), metric::READY.equals(1, 1)];
    Ok(match param("verdict")?.as_str() {
        "empty" => vec![],
        "missing" => vec![metric::DB.equals("directus", &db)],
        "extra" => [ok(), vec![Metric::equals("bonus", 1, 1)]].concat(),
        "duplicate" => [ok(), vec![metric::READY.equals(1, 1)]].concat(),
        _ => ok(),
    })
}

rollout_sdk::check! { check: check }
