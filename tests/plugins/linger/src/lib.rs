//! Session fixture: a tier that leaves what it can on its session, for
//! the next plugin on the same work session to find (tests/session.rs).

use rollout_sdk::{execute, scalar, Metric, Result};

fn apply() -> Result<()> {
    execute("SELECT pg_advisory_lock(4242)::text")?;
    // Session settings, a temporary table, a LISTEN and a PREPARE: the
    // checker refuses them in a plugin's own SQL (and no manifest may grant
    // set_config), a granted function runs them.
    execute("SELECT public.linger()")?;
    Ok(())
}

fn backend() -> Result<Vec<Metric>> {
    let pid: i32 = scalar("SELECT pg_backend_pid()")?;
    Ok(vec![metric::BACKEND.equals(pid, pid)])
}

fn rollback() -> Result<()> {
    Ok(())
}

rollout_sdk::tier! { apply: apply, post_conditions: backend, rollback: rollback, rollback_conditions: backend }
