//! The tier author's SDK: write a gate, tier, verify or probe plugin as plain
//! Rust functions plus their SQL, and export them with one macro call that
//! names each entry point.
//!
//! ```ignore
//! use rollout_sdk::{count, execute, Metric, Result};
//!
//! fn apply() -> Result<()> {
//!     execute("INSERT INTO app.axis (code, status) VALUES ('release_scope', 'active')")?;
//!     Ok(())
//! }
//!
//! fn post_conditions() -> Result<Vec<Metric>> {
//!     let n = count("SELECT count(*) FROM app.axis WHERE status = 'active'")?;
//!     Ok(vec![metric::ACTIVE_AXES.equals(3, n)])
//! }
//!
//! fn rollback() -> Result<()> {
//!     execute("DELETE FROM app.axis WHERE code = 'release_scope'")?;
//!     Ok(())
//! }
//!
//! fn rollback_conditions() -> Result<Vec<Metric>> {
//!     let n = count("SELECT count(*) FROM app.axis WHERE code = 'release_scope'")?;
//!     Ok(vec![metric::RELEASE_SCOPE_ROWS.equals(0, n)])
//! }
//!
//! rollout_sdk::tier! {
//!     apply: apply,
//!     post_conditions: post_conditions,
//!     rollback: rollback,
//!     rollback_conditions: rollback_conditions,
//! }
//! ```
//!
//! A gate, verify or probe is one function, `fn(Phase) ->
//! Result<Vec<Metric>>`, exported with `rollout_sdk::check! { check: my_fn }`.
//!
//! What a plugin sees: [`execute`] / [`query`] for SQL, and the typed
//! one-value helpers [`count`], [`scalar`], [`exists`]; each has a `_with`
//! twin taking bound parameters (`execute_with("… $1", &[&code])`), the only
//! way to pass a value into SQL. [`stream`] reads a large SELECT in
//! batches; [`Loader`] / [`copy_in`] load many rows with one COPY each. [`param`] reads a rollout parameter the
//! manifest declares, [`data_file`] a data file it is granted, [`log`]
//! writes to the tier's log, [`Metric`] builds check tables. A panic reaches
//! the host's log with its message before the plugin traps.
//!
//! The WIT contract (`wit/plugin.wit`, `rollout:plugin@0.3.2`) has three
//! worlds: [`tier!`] builds the component for the `tier` world (exports
//! `apply`, `post-conditions`, `rollback`, `rollback-conditions`),
//! [`batched_tier!`] for the `batched-tier` world (`mode = "batched"`:
//! `apply-batch`, `post-conditions`, `rollback-batch`,
//! `rollback-conditions`), [`check!`] for the `check` world (exports
//! `check`). Each checks the crate's
//! `plugin.toml` with the host's parser while the crate is built and embed
//! it in the component. Every table a plugin returns must hold exactly the
//! metric names its `plugin.toml` declares (`metrics` for a check;
//! `post_conditions` and `rollback_conditions` for a tier): the macros give
//! them as constants, `metric::NAME` (see [`MetricName`]).

#![forbid(unsafe_code)]

mod error;
mod export;
mod metric;
mod rows;
mod sql;
mod stream;
mod value;

/// The generated WIT bindings, one module per world, behind the SDK.
///
/// Only imports are embedded by this crate (wit-bindgen's
/// `pub_export_macro`); a world's exports enter a component only through
/// the export macro [`tier!`] or [`check!`] expands in the plugin, so a tier
/// never exports `check` and a check never exports `apply`.
#[doc(hidden)]
pub mod __bindings {
    /// The `tier` world; owns the interfaces both worlds import.
    pub mod tier {
        wit_bindgen::generate!({
            world: "tier",
            path: "../wit",
            pub_export_macro: true,
            export_macro_name: "__export_tier",
            default_bindings_module: "rollout_sdk::__bindings::tier",
        });
    }

    /// The `check` world; its interfaces are the `tier` world's.
    pub mod check {
        wit_bindgen::generate!({
            world: "check",
            path: "../wit",
            with: {
                "rollout:plugin/types@0.3.2": crate::__bindings::tier::rollout::plugin::types,
                "rollout:plugin/sql@0.3.2": crate::__bindings::tier::rollout::plugin::sql,
                "rollout:plugin/context@0.3.2": crate::__bindings::tier::rollout::plugin::context,
            },
            pub_export_macro: true,
            export_macro_name: "__export_check",
            default_bindings_module: "rollout_sdk::__bindings::check",
        });
    }

    /// The `batched-tier` world (0.3.2); its interfaces are the `tier` world's.
    pub mod batched {
        wit_bindgen::generate!({
            world: "batched-tier",
            path: "../wit",
            with: {
                "rollout:plugin/types@0.3.2": crate::__bindings::tier::rollout::plugin::types,
                "rollout:plugin/sql@0.3.2": crate::__bindings::tier::rollout::plugin::sql,
                "rollout:plugin/context@0.3.2": crate::__bindings::tier::rollout::plugin::context,
            },
            pub_export_macro: true,
            export_macro_name: "__export_batched_tier",
            default_bindings_module: "rollout_sdk::__bindings::batched",
        });
    }

    pub(crate) use tier::rollout::plugin::{context, sql, types};
}

pub use error::{Error, Result};
#[doc(hidden)]
pub use export::{__guard, __install_panic_hook};
pub use metric::{Metric, MetricName};
pub use rows::{Row, Rows};
pub use sql::{count, count_with, execute, execute_with, exists, exists_with, query, query_with, scalar, scalar_with};
pub use stream::{copy_in, stream, stream_with, Loader, Stream, BATCH};
pub use value::{FromValue, ToValue, Value};

/// Exports a crate's functions as a tier (`kind = "tier"` in
/// `plugin.toml`), each entry point named:
///
/// ```ignore
/// rollout_sdk::tier! {
///     apply: apply,
///     post_conditions: post_conditions,
///     rollback: rollback,
///     rollback_conditions: rollback_conditions,
/// }
/// ```
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
/// The key is the export, the value your function: a missing, unknown or
/// repeated key does not compile. The macro also parses `plugin.toml` (beside
/// Cargo.toml) with the host's own parser, refuses one whose `kind` is not
/// `tier`, embeds it, and defines `metric::NAME` for each declared metric
/// name (`post_conditions = [...]`, `rollback_conditions = [...]`). The
/// crate must depend on the SDK as `rollout-sdk`.
pub use rollout_sdk_macros::tier;

/// Exports a crate's functions as a batched tier (`kind = "tier"` and
/// `mode = "batched"` with a `[batches]` table in `plugin.toml`): a
/// backfill the host drives one committed batch at a time.
///
/// ```ignore
/// rollout_sdk::batched_tier! {
///     apply_batch: apply_batch,
///     post_conditions: post_conditions,
///     rollback_batch: rollback_batch,
///     rollback_conditions: rollback_conditions,
/// }
/// ```
///
/// - `apply_batch: fn(Option<String>, u32) -> Result<Batch>` changes at most
///   about `size` rows from `position` on (none: the start) and returns a
///   [`Batch`]: the rows it changed, where the next batch starts (`next`,
///   none when done) and, if known, the pass's total rows. Each call runs
///   in its own transaction, which the host commits with the batch's ledger
///   checkpoint; after an interruption the host calls it again from the
///   last committed position, so a batch must depend only on its position;
/// - `post_conditions`, once after the last batch;
/// - `rollback_batch`: the same shape, undoing the change batch by batch;
/// - `rollback_conditions`, once after the last rollback batch.
pub use rollout_sdk_macros::batched_tier;

/// What one batch of a batched tier did: `rows` changed, the `next`
/// position (none: done), the pass's `total` rows when known.
pub use __bindings::types::Batch;

/// Exports a crate's function as a gate, verify or probe plugin
/// (`kind = "gate" | "verify" | "probe"` in `plugin.toml`):
///
/// ```ignore
/// rollout_sdk::check! { check: check }
/// ```
///
/// `check: fn(Phase) -> Result<Vec<Metric>>` returns the plugin's table for
/// that phase; its statements run read-only. As [`tier!`], it checks and
/// embeds `plugin.toml` and defines `metric::NAME` for each name in
/// `metrics = [...]`.
pub use rollout_sdk_macros::check;

/// When a check plugin is being asked (gate, verify, after a run, after a
/// rollback, or on its own), so a probe can say what it expects.
pub use __bindings::types::Phase;

use __bindings::context;

/// The value of a parameter the manifest declares; an error naming it when
/// the operator did not pass it.
pub fn param(name: &str) -> Result<String> {
    context::param(name)
        .ok_or_else(|| Error::msg(format!("parameter `{name}` is not set (is it declared in plugin.toml?)")))
}

/// Reads a data file granted in the manifest (`files = ["name"]`),
/// read-only, from the plugin's `/data` directory.
pub fn data_file(name: &str) -> Result<String> {
    std::fs::read_to_string(format!("/data/{name}")).map_err(|e| Error::msg(format!("data file `{name}`: {e}")))
}

/// Lines in the tier's log, the run log and the report.
pub mod log {
    use crate::__bindings::{context, types::Level};

    /// Progress an operator wants to read.
    pub fn info(message: impl AsRef<str>) {
        context::log(Level::Info, message.as_ref());
    }
    /// Something odd that does not fail the tier.
    pub fn warn(message: impl AsRef<str>) {
        context::log(Level::Warn, message.as_ref());
    }
    /// Detail for the log file only.
    pub fn debug(message: impl AsRef<str>) {
        context::log(Level::Debug, message.as_ref());
    }
    /// A failure, said before returning it.
    pub fn error(message: impl AsRef<str>) {
        context::log(Level::Error, message.as_ref());
    }
}
