//! Compatibility fixture: a tier built for rollout:plugin@0.3.0 (the frozen
//! contract in wit/), without the SDK, must still load and run on a host
//! that speaks 0.3.1.

// Without the SDK, the exports wit-bindgen writes into this crate and the
// manifest's custom section are the crate's own code.
#![allow(unsafe_code, reason = "wit-bindgen's exports and a custom section, written here as the SDK would")]

wit_bindgen::generate!({ world: "tier", path: "wit" });

use rollout::plugin::sql;
use rollout::plugin::types::SqlValue;

/// The manifest, embedded as the SDK does it: a custom section
/// `rollout-manifest` holding plugin.toml's bytes.
const BYTES: &[u8] = include_bytes!("../plugin.toml");
#[used]
#[link_section = "rollout-manifest"]
static MANIFEST: [u8; BYTES.len()] = {
    let mut out = [0u8; BYTES.len()];
    let mut i = 0;
    while i < BYTES.len() {
        out[i] = BYTES[i];
        i += 1;
    }
    out
};

fn approvals() -> Result<Vec<Metric>, String> {
    let set = sql::query("SELECT count(*) AS n FROM one_roof.approval", &[]).map_err(|e| e.message)?;
    let n = match set.rows.first().and_then(|r| r.first()) {
        Some(SqlValue::Int8(n)) => *n,
        other => return Err(format!("unexpected count {other:?}")),
    };
    Ok(vec![Metric {
        name: "approvals".into(),
        expected: "> 0".into(),
        actual: n.to_string(),
        passed: n > 0,
        info: false,
    }])
}

struct Fixture;

impl Guest for Fixture {
    fn apply() -> Result<(), String> {
        approvals().map(drop)
    }
    fn post_conditions() -> Result<Vec<Metric>, String> {
        approvals()
    }
    fn rollback() -> Result<(), String> {
        Ok(())
    }
    fn rollback_conditions() -> Result<Vec<Metric>, String> {
        approvals()
    }
}

export!(Fixture);
