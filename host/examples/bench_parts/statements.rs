//! `make bench`'s round-trip figure: the statements the server received
//! during one One-Roof `host run`, from the scratch cluster's own log
//! (`log_statement = all`, each line prefixed with its session), split into
//! the plugins' and the host's own (ledger, lock, identity, session reset,
//! the rollout-hold proof, the footprint's and the counters' reads).
//!
//! Which are the host's: every simple query (a plugin's SQL is always sent
//! with bound parameters, never as a simple query), every named prepared
//! statement (tokio-postgres names the statements it prepares; a plugin's
//! goes unnamed), and the unnamed one-row reads the host sends with
//! `query_typed`, by their text ([`HOST_UNNAMED`]). A host statement missing
//! from that list would be counted as the plugins': the plugins' count is
//! printed beside it so a change shows (105 at this writing, the statements
//! `bench/one-roof.sql` replays, give or take its own `current_database`).

use std::path::{Path, PathBuf};

/// The starts of the host's own statements sent unnamed (`query_typed`).
const HOST_UNNAMED: &[&str] = &[
    "SELECT r.outcome = 'running' AND EXISTS",                 // ledger.rs HOLD
    "SELECT pg_catalog.pg_backend_pid()",                      // the footprint's work pid
    "SELECT n.nspname || '.' || c.relname, c.relkind IN",      // locking::held
    "SELECT current_user::text, session_user::text",           // db::identity
    "SELECT current_user::text",                               // the role proof
    "SELECT session_user::text, host(inet_server_addr())",     // db::connection
    "SELECT current_database()::text",                         // db::current_database
    "SELECT current_user::text, pg_catalog.set_config('role'", // roles::wall
    "SELECT name, seqstart, seqmin, seqmax",                   // digest/sequences.sql (the sequence watch)
    "SELECT n.nspname || '.' || c.relname, pg_catalog.pg_stat_get_xact", // audit::changed COUNTS
    "INSERT INTO rollout_ledger.step",                         // a batch's step row
];

/// The statements of one run, by whose they are.
#[derive(Default, Debug)]
pub struct Count {
    /// The host's own, per session (control first: the first to connect).
    pub host: Vec<(String, u32)>,
    pub plugins: u32,
}

impl Count {
    pub fn host_total(&self) -> u32 {
        self.host.iter().map(|(_, n)| n).sum()
    }

    /// `158 (control 47, work 111); the plugins' 105`
    pub fn show(&self) -> String {
        let names = ["control", "work"];
        let per: Vec<String> = self
            .host
            .iter()
            .enumerate()
            .map(|(i, (_, n))| format!("{} {n}", names.get(i).copied().unwrap_or("another")))
            .collect();
        format!("{} ({}); the plugins' {}", self.host_total(), per.join(", "), self.plugins)
    }
}

/// The server log of the cluster at `PGHOST` (`scripts/scratch-pg.sh`
/// writes it there), if there is one.
pub fn server_log() -> Option<PathBuf> {
    let log = Path::new(&std::env::var_os("PGHOST")?).join("server.log");
    log.is_file().then_some(log)
}

/// The `log_statement` settings the count needs, or back to the defaults.
pub fn logging(on: bool) -> Vec<String> {
    if on {
        vec![
            "ALTER SYSTEM SET log_statement = 'all'".into(),
            "ALTER SYSTEM SET log_line_prefix = '@@%c|'".into(),
            "SELECT pg_reload_conf()".into(),
        ]
    } else {
        vec![
            "ALTER SYSTEM RESET log_statement".into(),
            "ALTER SYSTEM RESET log_line_prefix".into(),
            "SELECT pg_reload_conf()".into(),
        ]
    }
}

/// Counts the statements in `log` (what was written after the run began).
pub fn count(log: &str) -> Count {
    let mut sessions: Vec<(String, u32)> = Vec::new();
    let mut plugins = 0;
    let mut unnamed: Option<(String, String)> = None;
    let settle = |u: &mut Option<(String, String)>, sessions: &mut Vec<(String, u32)>, plugins: &mut u32| {
        if let Some((session, text)) = u.take() {
            // The host's .sql files open with `--` comment lines (the
            // One-Roof plugins' statements never do).
            let text = text.trim_start();
            if text.starts_with("--") || HOST_UNNAMED.iter().any(|p| text.starts_with(p)) {
                bump(sessions, &session);
            } else {
                *plugins += 1;
            }
        }
    };
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix('\t') {
            if let Some((_, text)) = &mut unnamed {
                text.push('\n');
                text.push_str(rest.trim());
            }
            continue;
        }
        settle(&mut unnamed, &mut sessions, &mut plugins);
        let Some((session, rest)) = line.strip_prefix("@@").and_then(|l| l.split_once('|')) else { continue };
        if let Some(text) = rest.strip_prefix("LOG:  execute <unnamed>: ") {
            unnamed = Some((session.to_string(), text.to_string()));
        } else if rest.starts_with("LOG:  statement: ") || rest.starts_with("LOG:  execute ") {
            bump(&mut sessions, session);
        }
    }
    settle(&mut unnamed, &mut sessions, &mut plugins);
    Count { host: sessions, plugins }
}

fn bump(sessions: &mut Vec<(String, u32)>, session: &str) {
    match sessions.iter_mut().find(|(s, _)| s == session) {
        Some((_, n)) => *n += 1,
        None => sessions.push((session.to_string(), 1)),
    }
}
