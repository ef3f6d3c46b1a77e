//! Test fixture: a check plugin whose `plugin.toml` says `kind = "tier"`.
//! The SDK's `check!` refuses that manifest at build time, so this crate
//! exports the `check` world by hand (as any author bypassing the SDK can)
//! and embeds the manifest itself: the component exports `check` and none
//! of a tier's exports, and the host must refuse it at load. Never meant to
//! run: if it did, its table would be empty.

use rollout_sdk::__bindings::check;
use rollout_sdk::{Metric, Phase};

/// The manifest, embedded as the SDK does it: a custom section
/// `rollout-manifest` holding plugin.toml's bytes.
const BYTES: &[u8] = include_bytes!("../plugin.toml");
#[used]
#[allow(unsafe_code, reason = "a custom section by hand, as the SDK's macro writes it: this fixture bypasses the SDK")]
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

struct Fixture;

impl check::Guest for Fixture {
    fn check(_: Phase) -> Result<Vec<Metric>, String> {
        Ok(vec![])
    }
}

check::__export_check!(Fixture with_types_in rollout_sdk::__bindings::check);
