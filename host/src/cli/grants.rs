//! `host grants`: every plugin's grants as text or JSON, the lock file a
//! reviewer pins them with, or the SQL of the restricted roles; with
//! `--database-url`, the catalog audit of that database beside them.

use super::args::GrantsArgs;
use crate::audit::{self, Audit};
use crate::error::Failure;
use crate::plan::{self, Plugin};
use crate::roles::{self, Roles};
use crate::{db, grants};

/// `host grants …`.
pub async fn grants(asked: GrantsArgs) -> Result<(), Failure> {
    let GrantsArgs { args, lock, role_sql, runner_role, roles: under_roles, database_url, replaces } = asked;
    let plugins = plan::read_all(&args.plugins, args.data_dir.as_deref()).map_err(Failure::Plan)?;
    let catalog = match &database_url {
        Some(url) => Some(review_catalog(url, &plugins).await?),
        None if role_sql.is_none() => {
            crate::printer::get().status(crate::printer::Tone::Warning, "Note", audit::NEEDS_A_DATABASE);
            None
        }
        None => None,
    };
    if let Some(path) = lock {
        let mut lock = grants::Lock::of(&plugins);
        grants::name_replacements(&mut lock, &replaces).map_err(Failure::Plan)?;
        if let Some((audit, _)) = &catalog {
            lock.catalog = Some(audit.reviewable());
        }
        if under_roles {
            // The roles must be possible before the reviewer says so.
            Roles::of(&plugins).map_err(Failure::Plan)?;
            lock.roles = true;
        }
        lock.write(&path).map_err(Failure::Plan)?;
        let under = if under_roles { ", to run under their restricted roles" } else { "" };
        let objects = match &catalog {
            Some(_) => format!(", {} reviewed catalog object(s)", lock.catalog.as_ref().map_or(0, |c| c.len())),
            None => String::new(),
        };
        let replacing: Vec<String> = replaces
            .iter()
            .map(|r| format!(", {} replacing sha256 {}", crate::text::terminal(&r.name), r.sha256))
            .collect();
        let replacing = replacing.concat();
        let wrote = format!("the lock file {} ({} plugins{under}{objects}{replacing})", path.display(), plugins.len());
        crate::printer::get().status(crate::printer::Tone::Progress, "Wrote", &wrote);
        // What the reviewer's lock now vouches for, by name: the
        // definitions are `host grants … --database-url`'s listing.
        for (object, digest) in lock.catalog.iter().flatten() {
            let short = digest.get(..12).unwrap_or(digest);
            let pinned = format!("{} (definition sha256 {short}…)", crate::text::terminal(object));
            crate::printer::get().status(crate::printer::Tone::Progress, "Pinned", &pinned);
        }
    } else if let Some(operator) = role_sql {
        roles::check_role_name("the operator role", &operator).map_err(Failure::Plan)?;
        let roles = Roles::with_runner(&plugins, &runner_role).map_err(Failure::Plan)?;
        crate::printer::get().result(&roles::sql::role_sql(&roles, &operator, None).render());
    } else if args.json || crate::printer::get().json() {
        let mut json = grants::json(&plugins);
        if let Some((audit, database)) = &catalog {
            json["catalog"] = audit::json(audit, &plugins, database);
        }
        crate::printer::get().result_json(&json);
    } else {
        let mut text = grants::text(&plugins);
        if let Some((audit, database)) = &catalog {
            text.push_str(&format!("\n{}", audit::text(audit, &plugins, database)));
        }
        crate::printer::get().result(&text);
    }
    Ok(())
}

/// `host grants … --database-url URL`: the catalog audit of the plugins on
/// that database, read-only, for the reviewer; and the database's name.
async fn review_catalog(url: &str, plugins: &[Plugin]) -> Result<(Audit, String), Failure> {
    let target = db::Target::new(Some(url)).map_err(Failure::Plan)?;
    let operator = crate::runbook::operator_name();
    let name = format!("host grants by {operator} pid {}", std::process::id());
    let client = target.connect(&name.chars().take(63).collect::<String>()).await.map_err(Failure::Database)?;
    client.batch_execute(crate::runbook::CONTROL_SETTINGS).await?;
    let database = db::current_database(&client).await.map_err(Failure::Database)?;
    let all: Vec<&Plugin> = plugins.iter().collect();
    let audit = audit::read(&client, &all).await.map_err(Failure::Database)?;
    Ok((audit, database))
}
