//! `host rehearse --make-copy`: the copy the host makes itself when the
//! operator has none. A scratch server ([`super::scratch`]) gets the
//! source's roles (`pg_dumpall --roles-only --no-role-passwords`) and its
//! database under its own name (`pg_dump`, restored by [`restore`]), is marked as the copy
//! ([`crate::rehearsal_copy::COPY_MARK`]), and the rehearsal runs there.
//!
//! The source is only read: its connection and both dumps run with
//! `default_transaction_read_only = on`, and a source marked as a copy is
//! refused before anything is dumped. Not copied: role passwords (the
//! copy trusts this OS user alone), tablespaces (all in the default one),
//! subscriptions (a copy must not pull from production's publisher), other
//! databases, and the server's own configuration. The dump files hold the
//! source's data: they are removed once restored, even with `--keep`.

use super::scratch::{run, Bin, Scratch};
use crate::error::Failure;
use crate::rehearsal_copy::{self, COPY_MARK};
use crate::report::Reporter;
use anyhow::{anyhow, Context as _};
use std::path::{Path, PathBuf};

/// A copy the host made, stopped and removed on drop unless kept.
pub struct Made {
    scratch: Scratch,
    /// The copy's connection string (`--copy-url` of a later rehearsal).
    pub url: String,
}

/// Makes the copy of `source` (see the module's docs).
pub async fn make(source: &str, bindir: Option<&Path>, reporter: &Reporter) -> Result<Made, Failure> {
    let target = crate::db::Target::new(Some(source)).map_err(Failure::Plan)?;
    let client = target.connect("host rehearse (source, read only, for its copy)").await.map_err(Failure::Database)?;
    client.batch_execute("SET default_transaction_read_only = on").await?;
    let database = crate::db::current_database(&client).await.map_err(Failure::Database)?;
    if rehearsal_copy::is_marked(&client).await? {
        return Err(Failure::WrongDatabase(format!(
            "--from: database `{}` there is marked as a rehearsal copy ({COPY_MARK}), so it is not production: \
             --make-copy copies the source, so name production with --from",
            crate::text::terminal(&database)
        )));
    }
    let version: String = client.query_one("SHOW server_version_num", &[]).await?.try_get(0)?;
    // The rehearsal's steps connect to the copy as the role they would use
    // on the source, never as the copy's superuser: code in the source
    // database (a trigger, a CHECK's function) runs there with the rights
    // production would give it, on the operator's machine.
    let role: String = client.query_one("SELECT session_user::text", &[]).await?.try_get(0)?;
    let major = version.parse::<u32>().map(|v| v / 10000).unwrap_or_default();
    drop(client);
    let bin = Bin::find(bindir, major).map_err(Failure::Plan)?;
    reporter.status(
        "Copy",
        &format!("making a scratch server with the PostgreSQL {} programs in {}", bin.major, bin.dir.display()),
    );
    let scratch = Scratch::start(bin).await.map_err(Failure::Plan)?;
    let (conninfo, password) = read_only(source).map_err(Failure::Plan)?;
    let dumped = |program: &str| {
        let mut cmd = tokio::process::Command::new(scratch.bin.program(program));
        cmd.arg("-w").arg("-d").arg(&conninfo);
        if let Some(p) = &password {
            cmd.env("PGPASSWORD", p);
        }
        cmd
    };
    let roles = scratch.dir().join("roles.sql");
    let mut dumpall = dumped("pg_dumpall");
    dumpall.args(["--roles-only", "--no-role-passwords", "-f"]).arg(&roles);
    run(dumpall, "pg_dumpall --roles-only of the source").await.map_err(Failure::Plan)?;
    let mut restore_roles = scratch.psql("postgres");
    restore_roles.arg("-f").arg(&roles);
    run(restore_roles, "restoring the source's roles on the copy").await.map_err(Failure::Plan)?;
    let dump = scratch.dir().join("source.dump");
    let mut pg_dump = dumped("pg_dump");
    pg_dump.args(["--format=custom", "--no-subscriptions", "--no-tablespaces", "-f"]).arg(&dump);
    let dumped_ok = run(pg_dump, "pg_dump of the source").await;
    let restored = match dumped_ok {
        Ok(()) => restore(&scratch, &dump, &database).await,
        Err(e) => Err(e),
    };
    // The dumps hold the source's data: gone once used, whatever happened.
    let _ = (std::fs::remove_file(&roles), std::fs::remove_file(&dump));
    restored.map_err(Failure::Plan)?;
    let mark = format!("ALTER DATABASE {} SET {COPY_MARK} = on", crate::quote::ident(&database));
    let mut marked = scratch.psql("postgres");
    marked.arg("-c").arg(mark);
    run(marked, "marking the copy").await.map_err(Failure::Plan)?;
    let url = scratch.conninfo_as(&database, &role);
    reporter.status(
        "Copy",
        &format!(
            "made: `{}` restored from the source's pg_dump on a scratch server in {} (not copied: role passwords, \
             tablespaces, subscriptions, other databases, server settings)",
            crate::text::terminal(&database),
            scratch.dir().display()
        ),
    );
    Ok(Made { scratch, url })
}

impl Made {
    /// Stops and removes the copy, saying so.
    pub fn remove(self, reporter: &Reporter) {
        let dir = self.scratch.dir().display().to_string();
        drop(self.scratch);
        reporter.status("Removed", &format!("the rehearsal copy (its server stopped, {dir} removed)"));
    }

    /// Keeps the copy running, and says where it is and how to stop it.
    pub fn keep(self, reporter: &Reporter) -> PathBuf {
        let stop = self.scratch.stop_line();
        let dir = self.scratch.keep();
        reporter.warning(
            "Kept",
            &format!(
                "the rehearsal copy, still running: --copy-url \"{}\"; stop it with `{stop}` and remove {}",
                self.url,
                dir.display()
            ),
        );
        dir
    }
}

/// Restores `dump` on the copy in pg_dump's three sections. The schema and
/// what follows the rows (indexes, constraints, triggers) are made by the
/// copy's superuser, as a restore must; the rows are loaded as each table's
/// owner (`SET SESSION AUTHORIZATION`): loading a row evaluates code a
/// table's owner wrote (a CHECK's function, a domain, a generated column),
/// which on the source runs as whoever writes the row, never as a superuser
/// on the operator's machine. (PostgreSQL itself builds an index and
/// validates a constraint as the table's owner.)
async fn restore(scratch: &Scratch, dump: &Path, database: &str) -> anyhow::Result<()> {
    let section = |section: &str, on: &str, extra: &[&str]| {
        let mut cmd = super::scratch::scratch_command(&scratch.bin.program("pg_restore"));
        cmd.args(["--exit-on-error", "--no-subscriptions", "--no-tablespaces"])
            .arg(format!("--section={section}"))
            .args(extra)
            .arg("-d")
            .arg(scratch.conninfo(on))
            .arg(dump);
        cmd
    };
    run(section("pre-data", "postgres", &["--create"]), "restoring the source's schema on the copy").await?;
    let rows = section("data", database, &["--use-set-session-authorization"]);
    run(rows, "loading the source's rows on the copy, each table's as its owner").await?;
    run(section("post-data", database, &[]), "restoring the source's indexes, constraints and triggers on the copy")
        .await
}

/// The source's connection string for `pg_dump` and `pg_dumpall`, every
/// transaction read-only, and its password apart (given in the
/// environment, never on the command line, where `ps` shows it).
fn read_only(source: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut values = rollout_connect::conninfo::parse(source).context("cannot read the source's connection string")?;
    let password = values.remove("password");
    let options = values.remove("options").unwrap_or_default();
    values.insert("options".into(), format!("{options} -c default_transaction_read_only=on").trim().to_string());
    let mut out = Vec::new();
    for (k, v) in &values {
        if !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(anyhow!("the source's connection string has the odd keyword `{}`", crate::text::terminal(k)));
        }
        out.push(format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")));
    }
    Ok((out.join(" "), password))
}
