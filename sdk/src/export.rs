//! The two macros that make a crate's plain functions a plugin component:
//! [`tier!`](crate::tier) for the WIT world `tier`, [`check!`](crate::check)
//! for the world `check`.
//!
//! Both also embed the crate's `plugin.toml` in the core module's custom
//! section `rollout-manifest`, so the manifest a reviewer reads travels
//! inside the bytes whose sha256 the host records. The host refuses at load
//! a plugin whose exports are not the world its manifest's `kind` names
//! (`tier` → `tier!`; `gate`, `verify`, `probe` → `check!`).

use crate::__bindings::context;
use crate::__bindings::types::Level;
use crate::error::Result;

/// Sends a panic's message to the host's log before the plugin traps, so
/// the operator reads the cause and not only "unreachable executed".
#[doc(hidden)]
pub fn __install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            context::log(Level::Error, &format!("plugin panicked: {info}"));
        }))
    });
}

/// Runs one export of the plugin: the panic hook first, then the author's
/// function, its error as the operator's message.
#[doc(hidden)]
pub fn __guard<T>(f: fn() -> Result<T>) -> std::result::Result<T, String> {
    __install_panic_hook();
    f().map_err(|e| e.to_string())
}

/// Embeds `plugin.toml` from the crate root as the component's manifest: a
/// custom section `rollout-manifest` holding the file's bytes as they are.
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

/// Exports four plain functions as a tier (`kind = "tier"` in
/// `plugin.toml`), in this order:
///
/// - `apply: fn() -> Result<()>` makes the change, inside the transaction
///   the host opened;
/// - `post_conditions: fn() -> Result<Vec<Metric>>`, checked before COMMIT
///   in the same transaction; a failing metric rolls the tier back;
/// - `rollback: fn() -> Result<()>` undoes the change; running it twice
///   changes nothing the second time;
/// - `rollback_conditions: fn() -> Result<Vec<Metric>>`, what "undone"
///   means, checked after `rollback` in the same transaction; the rollback
///   is kept only when every metric passes.
///
/// Each table must hold exactly the metric names `plugin.toml` declares
/// (`post_conditions = [...]`, `rollback_conditions = [...]`).
///
/// ```ignore
/// rollout_sdk::tier!(apply, post_conditions, rollback, rollback_conditions);
/// ```
#[macro_export]
macro_rules! tier {
    ($apply:path, $post_conditions:path, $rollback:path, $rollback_conditions:path $(,)?) => {
        $crate::__embed_manifest!();
        const _: () = {
            struct __RolloutTier;
            impl $crate::__bindings::tier::Guest for __RolloutTier {
                fn apply() -> ::core::result::Result<(), ::std::string::String> {
                    let apply: fn() -> $crate::Result<()> = $apply;
                    $crate::__guard(apply)
                }
                fn post_conditions() -> ::core::result::Result<::std::vec::Vec<$crate::Metric>, ::std::string::String> {
                    let post_conditions: fn() -> $crate::Result<::std::vec::Vec<$crate::Metric>> = $post_conditions;
                    $crate::__guard(post_conditions)
                }
                fn rollback() -> ::core::result::Result<(), ::std::string::String> {
                    let rollback: fn() -> $crate::Result<()> = $rollback;
                    $crate::__guard(rollback)
                }
                fn rollback_conditions(
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Metric>, ::std::string::String> {
                    let rollback_conditions: fn() -> $crate::Result<::std::vec::Vec<$crate::Metric>> =
                        $rollback_conditions;
                    $crate::__guard(rollback_conditions)
                }
            }
    $crate::__bindings::tier::__export_tier!(__RolloutTier with_types_in $crate::__bindings::tier);
        };
    };
}

/// Exports one plain function as a gate, verify or probe plugin
/// (`kind = "gate" | "verify" | "probe"` in `plugin.toml`):
/// `check: fn(Phase) -> Result<Vec<Metric>>`, the plugin's table for that
/// phase. Its statements run read-only.
///
/// ```ignore
/// rollout_sdk::check!(check);
/// ```
#[macro_export]
macro_rules! check {
    ($check:path $(,)?) => {
        $crate::__embed_manifest!();
        const _: () = {
            struct __RolloutCheck;
            impl $crate::__bindings::check::Guest for __RolloutCheck {
                fn check(
                    phase: $crate::Phase,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Metric>, ::std::string::String> {
                    let check: fn($crate::Phase) -> $crate::Result<::std::vec::Vec<$crate::Metric>> = $check;
                    $crate::__install_panic_hook();
                    check(phase).map_err(|e| e.to_string())
                }
            }
    $crate::__bindings::check::__export_check!(__RolloutCheck with_types_in $crate::__bindings::check);
        };
    };
}
