//! The WebAssembly sandbox: engine, per-call store, limits, and the WIT host
//! trait (the plugin's only way out).
//!
//! Each call into a plugin gets a fresh `Store` and instance: nothing a call
//! leaves in memory reaches the next one, and a trapped instance is never
//! re-entered. Limits: linear memory and instance/table counts through a
//! resource limiter; wall time through epoch interruption (a 10 ms ticker),
//! which also stops the plugin on Ctrl-C; host SQL calls race the same
//! deadline and cancel the statement on the server. WASI gives nothing but
//! stdout/stderr (into the tier's log) and the granted data files read-only.
//! What the plugin says (log lines, stdout, metrics) is bounded per call
//! ([`output`]).
//!
//! `engine.rs` holds the engine and a plugin's compile, `call.rs` what a call
//! is, `store.rs` one call in its fresh store, `host.rs` the store's data
//! and the WIT host traits, `output.rs` what the plugin says within its caps,
//! and `cache.rs` the compile cache.

mod cache;
mod call;
mod engine;
mod host;
mod output;
mod store;

pub use call::{BatchAt, Call, CallError, CallSpec, LogSink, Returned, World};
pub use engine::{Sandbox, COMPILER};
