//! Test fixture: a tier that reads through a stream and changes nothing.

use rollout_sdk::{count, stream, Metric, Result};

fn streamed() -> Result<Metric> {
    let mut rows = 0i64;
    for batch in stream("SELECT node_id FROM one_roof.containment")? {
        rows += batch?.len() as i64;
    }
    let expected = count("SELECT count(*) FROM one_roof.containment")?;
    Ok(metric::STREAMED.equals(expected, rows))
}

fn apply() -> Result<()> {
    streamed().map(|_| ())
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![streamed()?])
}

fn rollback() -> Result<()> {
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    post_conditions()
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
