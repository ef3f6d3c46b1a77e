//! The tier author's SDK: write a gate, tier, verify or probe plugin in plain
//! Rust plus its SQL, and export it with one macro.
//!
//! The generated WIT bindings stay behind this crate. A plugin sees:
//! [`query`] / [`execute`] for SQL (always bound parameters), [`param`] for
//! the rollout parameters its manifest declares, [`data_file`] for the data
//! files it is granted, [`log`] for the tier log, and [`Metric`] for check
//! tables. A panic reaches the host's log with its message before the plugin
//! traps.
//!
//! ```ignore
//! use rollout_sdk::{execute, param, Metric, Result, Tier};
//!
//! struct Axis;
//! impl Tier for Axis {
//!     fn apply() -> Result<()> {
//!         execute("INSERT INTO app.axis (code) VALUES ($1)", &[&"release_scope"])?;
//!         Ok(())
//!     }
//!     fn post_conditions() -> Result<Vec<Metric>> { Ok(vec![]) }
//!     fn rollback() -> Result<()> { Ok(()) }
//! }
//! rollout_sdk::export_tier!(Axis);
//! ```

mod error;
mod export;
mod metric;
mod rows;
mod value;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "rollout_sdk::bindings",
    });
}

pub use error::{Error, Result};
#[doc(hidden)]
pub use export::{install_panic_hook, not_a, to_wit};
pub use export::{Check, Tier};
pub use metric::Metric;
pub use rows::{Row, Rows};
pub use value::{FromValue, ToValue, Value};

/// When a check plugin is being asked (gate, verify, after a run, after a
/// rollback, or on its own), so a probe can say what it expects.
pub use bindings::rollout::plugin::types::Phase;

use bindings::rollout::plugin::{context, sql};

/// Runs one SQL statement through the host and returns its rows.
///
/// Parameters are bound (`$1`, `$2`, …), never spliced. The host checks the
/// statement against the plugin's grants first; a refusal or an SQL error
/// comes back as an [`Error`] and fails the tier even if it is ignored.
pub fn query(statement: &str, params: &[&dyn ToValue]) -> Result<Rows> {
    let params: Vec<Value> = params.iter().map(|p| p.to_value()).collect();
    let set = sql::query(statement, &params).map_err(Error::from_sql)?;
    Ok(Rows::new(set))
}

/// Runs one statement for its effect; returns the rows it changed.
pub fn execute(statement: &str, params: &[&dyn ToValue]) -> Result<u64> {
    Ok(query(statement, params)?.changed)
}

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
    use crate::bindings::rollout::plugin::{context, types::Level};

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
