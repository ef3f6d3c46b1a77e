//! The verbs that read and print: `status`, `report`, `inspect`, `explain`.

use super::args::PluginArgs;
use crate::error::Failure;
use crate::runbook::{self, ConnArgs, Destination};
use crate::signal::Interrupt;
use crate::{inspect, plan};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// `host status`.
pub async fn status(conn: &ConnArgs, limit: i64) -> Result<(), Failure> {
    runbook::status(&conn.target()?, limit, Interrupt::install()).await
}

/// `host report ID`: under `--reports`, or exactly `--out`.
pub async fn report(id: i64, conn: &ConnArgs, reports: PathBuf, out: Option<PathBuf>) -> Result<(), Failure> {
    let to = out.map(Destination::Exactly).unwrap_or(Destination::Under(reports));
    runbook::report(&conn.target()?, id, &to).await
}

/// `host inspect`.
pub fn inspect(args: &PluginArgs) -> Result<(), Failure> {
    let sandbox = crate::sandbox::Sandbox::new().map_err(Failure::Plan)?;
    let plugins = plan::read_all(&args.plugins, args.data_dir.as_deref()).map_err(Failure::Plan)?;
    inspect::print(&sandbox, &plugins, args.json || crate::printer::get().json()).map_err(Failure::Plan)
}

/// `host inspect --sql`: reads the plugins (for their sha256) and the ledger.
pub async fn inspect_sql(args: &super::args::InspectArgs) -> Result<(), Failure> {
    let plugins = plan::read_all(&args.args.plugins, args.args.data_dir.as_deref()).map_err(Failure::Plan)?;
    let target = rollout_connect::Target::new(args.db.as_deref()).map_err(Failure::Plan)?;
    let verb = args.verb.map(super::args::SqlOf::ledger_name);
    inspect::sql(&target, &plugins, verb, args.args.json || crate::printer::get().json()).await
}

/// `host explain`: the statements given, and those of `file` (one a line,
/// blank lines and `--` lines skipped).
pub fn explain(
    plugin: &Path,
    statements: Vec<String>,
    file: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<(), Failure> {
    let loaded =
        plan::read(plugin, data_dir).with_context(|| format!("plugin {}", plugin.display())).map_err(Failure::Plan)?;
    let mut all = statements;
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read {}", f.display()))
            .map_err(Failure::Plan)?;
        all.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("--")).map(String::from));
    }
    inspect::explain(&loaded, &all)
}
