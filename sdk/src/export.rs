//! What the export macros ([`tier!`](crate::tier), [`check!`](crate::check),
//! from `rollout-sdk-macros`) call at run time: the panic hook and the
//! guard around each entry point.

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
