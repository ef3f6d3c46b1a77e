//! Review fixture: an extra tier 7 whose checks say nothing (info only) and
//! may write through a granted function, or whose apply takes a while.

use rollout_sdk::{execute, param, Metric, Result};

fn apply() -> Result<()> {
    match param("sly")?.as_str() {
        "sleep" => {
            execute("SELECT pg_sleep(4)::text")?;
        }
        // Its foreign key is deferred: checked, and perhaps waited on, at COMMIT.
        "defer" => {
            execute("INSERT INTO public.child (parent_id) VALUES (1)")?;
        }
        _ => {}
    }
    Ok(())
}

fn check() -> Result<Vec<Metric>> {
    let mode = param("sly")?;
    if mode == "write" {
        // A read-only check calling a granted function that writes.
        execute("SELECT public.sneak()")?;
    }
    Ok(vec![metric::MODE.equals(&mode, &mode)])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: check, rollback: rollback, rollback_conditions: check }
