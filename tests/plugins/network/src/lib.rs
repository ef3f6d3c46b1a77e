//! Test fixture: a tier that wants the network. It is never instantiated:
//! its wasi:sockets import is refused when the host loads it.

use rollout_sdk::{bail, Metric, Result};

fn apply() -> Result<()> {
    match std::net::TcpStream::connect("127.0.0.1:5432") {
        Ok(_) => bail!("ESCAPED (network): connected"),
        Err(e) => bail!("network refused: {e}"),
    }
}

fn post_conditions() -> Result<Vec<Metric>> {
    Ok(vec![metric::FIXTURE.equals("no change", "no change")])
}

fn rollback() -> Result<()> {
    Ok(())
}

fn rollback_conditions() -> Result<Vec<Metric>> {
    post_conditions()
}

rollout_sdk::tier! { apply: apply, post_conditions: post_conditions, rollback: rollback, rollback_conditions: rollback_conditions }
