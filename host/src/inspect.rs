//! What a reviewer reads without running anything: `inspect` (manifest,
//! WIT interface, digest) and `explain` (would this statement be allowed?).

use crate::error::Failure;
use crate::plan::Plugin;
use crate::sandbox::Sandbox;
use crate::sql::check::Checker;
use crate::sql::one_line;
use crate::text::terminal;
use serde_json::json;

/// Prints each plugin's manifest, imports/exports and sha256; refuses a
/// plugin the host would refuse to run (imports, wrong world).
pub fn print(sandbox: &Sandbox, plugins: &[Plugin], as_json: bool) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for p in plugins {
        let (imports, exports) = sandbox.interface(&p.compile(sandbox)?);
        if as_json {
            all.push(json!({
                "path": p.path, "sha256": p.sha256, "manifest": p.manifest,
                "files": p.files.iter().map(|f| json!({"name": f.name, "sha256": f.sha256})).collect::<Vec<_>>(),
                "imports": imports, "exports": exports,
            }));
            continue;
        }
        // Manifest strings, data file names and WIT names are the plugin's:
        // each line is rendered inert ([`terminal`]).
        println!("{}", terminal(&format!("{} — {}", p.path.display(), p.label())));
        println!("  sha256      {}", p.sha256);
        for (key, object, why) in crate::grants::warnings(&p.manifest) {
            println!("  {}", terminal(&format!("WARNING     {key} {object}: {why} (acknowledged)")));
        }
        // Serialised by TOML's own rules, so each string is one quoted,
        // escaped TOML value: the block reads back as the manifest.
        let manifest = toml::to_string_pretty(&p.manifest)
            .map_err(|e| anyhow::anyhow!("cannot show the manifest of {} as TOML: {e}", p.path.display()))?;
        println!("  manifest");
        for line in manifest.lines() {
            println!("    {}", terminal(line));
        }
        for f in &p.files {
            println!("  data file   {} sha256 {}", terminal(&f.name), f.sha256);
        }
        println!("  imports     {}", terminal(&imports.join(", ")));
        println!("  exports     {}", terminal(&exports.join(", ")));
        println!();
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

/// Checks each statement against the plugin's grants; exit 4 if any refused.
pub fn explain(plugin: &Plugin, statements: &[String]) -> Result<(), Failure> {
    if statements.is_empty() {
        return Err(Failure::Params("no statement to explain; pass one or --file".into()));
    }
    let m = &plugin.manifest;
    // The plugin's own memory limit bounds constant sizes, as in a run.
    let checker = Checker::new(&m.grants, m.kind.read_only()).limits(m.limits.memory_mib, None);
    let mut refused = 0;
    for sql in statements {
        match checker.check(sql, 0) {
            Ok(c) => {
                let access: Vec<String> = c.accesses.iter().map(|(r, op)| format!("{} {r}", op.grant_key())).collect();
                println!(
                    "ALLOWED  {}\n         {}",
                    terminal(&one_line(sql)),
                    terminal(&format!(
                        "{} — {}",
                        c.kind,
                        if access.is_empty() { "no relation".into() } else { access.join(", ") }
                    ))
                );
                // What production waits on while the tier holds it.
                if let Some(lock) = c.lock.as_ref().filter(|l| l.holds_production_up()) {
                    println!("         {}", terminal(&format!("LOCK {}", lock.describe())));
                }
            }
            Err(r) => {
                refused += 1;
                println!("REFUSED  {}\n         {}", terminal(&one_line(sql)), terminal(&r.to_string()));
            }
        }
    }
    println!("{} allowed, {refused} refused for {}", statements.len() - refused, terminal(&plugin.label()));
    // Without a database, the lists derived from the catalog are the ones
    // built into the host; a run uses the server's.
    println!("{}", crate::sql::check::Catalog::built().describe());
    if refused > 0 {
        return Err(Failure::TierFailed { label: plugin.label(), cause: format!("{refused} statement(s) refused") });
    }
    Ok(())
}
