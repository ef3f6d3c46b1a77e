//! The two plugin shapes and the macros that export them as a component.
//!
//! `export_tier!(T)` / `export_check!(T)` also embed the crate's
//! `plugin.toml` in a custom section of the component, so the manifest a
//! reviewer reads travels inside the bytes whose sha256 the host records.

use crate::bindings::rollout::plugin::context;
use crate::bindings::rollout::plugin::types::Level;
use crate::error::Result;
use crate::{Metric, Phase};

/// A tier: a change made in one host-owned transaction, its post-conditions
/// checked before COMMIT, and the way to undo it.
pub trait Tier {
    /// Makes the change.
    fn apply() -> Result<()>;
    /// The post-conditions, checked in the same transaction; a failing
    /// metric rolls the tier back.
    fn post_conditions() -> Result<Vec<Metric>>;
    /// Undoes the change; running it twice changes nothing the second time.
    fn rollback() -> Result<()>;
}

/// A gate, verify or probe plugin: read-only, answers with a metric table.
pub trait Check {
    /// The table for this phase.
    fn check(phase: Phase) -> Result<Vec<Metric>>;
}

/// Sends a panic's message to the host's log before the plugin traps, so
/// the operator reads the cause and not only "unreachable executed".
#[doc(hidden)]
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            context::log(Level::Error, &format!("plugin panicked: {info}"));
        }))
    });
}

#[doc(hidden)]
pub fn not_a(kind: &str, export: &str) -> String {
    format!("this plugin is not a {kind}: it does not implement `{export}`")
}

#[doc(hidden)]
pub fn to_wit<T>(r: Result<T>) -> std::result::Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Embeds `plugin.toml` from the crate root as the component's manifest.
#[doc(hidden)]
#[macro_export]
macro_rules! __embed_manifest {
    () => {
        const _: () = {
            const BYTES: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml"));
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
        };
    };
}

/// Exports a type implementing [`Tier`] as the plugin component.
#[macro_export]
macro_rules! export_tier {
    ($tier:ty) => {
        $crate::__embed_manifest!();
        struct __RolloutPlugin;
        impl $crate::bindings::Guest for __RolloutPlugin {
            fn apply() -> Result<(), String> {
                $crate::install_panic_hook();
                $crate::to_wit(<$tier as $crate::Tier>::apply())
            }
            fn post_conditions() -> Result<Vec<$crate::Metric>, String> {
                $crate::install_panic_hook();
                $crate::to_wit(<$tier as $crate::Tier>::post_conditions())
            }
            fn rollback() -> Result<(), String> {
                $crate::install_panic_hook();
                $crate::to_wit(<$tier as $crate::Tier>::rollback())
            }
            fn check(_: $crate::Phase) -> Result<Vec<$crate::Metric>, String> {
                Err($crate::not_a("check", "check"))
            }
        }
        $crate::bindings::__export_plugin!(__RolloutPlugin with_types_in $crate::bindings);
    };
}

/// Exports a type implementing [`Check`] (gate, verify, probe).
#[macro_export]
macro_rules! export_check {
    ($check:ty) => {
        $crate::__embed_manifest!();
        struct __RolloutPlugin;
        impl $crate::bindings::Guest for __RolloutPlugin {
            fn apply() -> Result<(), String> {
                Err($crate::not_a("tier", "apply"))
            }
            fn post_conditions() -> Result<Vec<$crate::Metric>, String> {
                Err($crate::not_a("tier", "post-conditions"))
            }
            fn rollback() -> Result<(), String> {
                Err($crate::not_a("tier", "rollback"))
            }
            fn check(phase: $crate::Phase) -> Result<Vec<$crate::Metric>, String> {
                $crate::install_panic_hook();
                $crate::to_wit(<$check as $crate::Check>::check(phase))
            }
        }
        $crate::bindings::__export_plugin!(__RolloutPlugin with_types_in $crate::bindings);
    };
}
