//! The work session: the one connection a command's plugins run on (the
//! gate, every tier, verify, the probes; a rollback's or a dry run's one
//! transaction), beside the control connection that holds the rollout lock
//! and writes the ledger.
//!
//! One connection instead of one per plugin saves a connect and its
//! authentication per plugin (≈ 4 ms each). What a fresh connection gave
//! for free, the reset gives back: before each plugin after the first, the
//! session is put back as it was when it connected ([`db::reset_session`]:
//! settings, role, temporary tables, LISTEN, session advisory locks,
//! cursors, SQL-level prepared statements), outside any transaction, so
//! nothing one plugin left on the session reaches the next. The host's own
//! settings for a plugin (timeouts, the pinned `search_path`, its role) are
//! `SET LOCAL` in that plugin's transaction, set anew each time.
//!
//! Under roles the work session is authenticated as the runner, which
//! holds nothing and is a member of no role (`roles::wall`): a plugin that
//! leaves its role within a statement is the runner, not the operator.

use super::context::Context;
use crate::db;
use crate::error::Failure;
use std::sync::Arc;
use tokio_postgres::Client;

/// The work session of one command.
pub(super) struct WorkSession {
    client: Arc<Client>,
    /// Its name in `pg_stat_activity` (`host apply by …`).
    verb: &'static str,
    /// A plugin ran on it since it connected or was last reset.
    used: bool,
}

impl WorkSession {
    /// Connects the work session, registered for Ctrl-C, and, the first
    /// time in a command, reads the checker's catalog lists from the server
    /// ([`super::calls::Calls::read_catalog_once`]).
    pub async fn open(ctx: &Context, verb: &'static str) -> Result<WorkSession, Failure> {
        let client = ctx.calls().connect_work(verb).await?;
        ctx.calls().read_catalog_once(&client).await?;
        Ok(WorkSession { client, verb, used: false })
    }

    /// The session for the next plugin, as clean as a new connection:
    /// reset when a plugin ran on it before. Call it outside a transaction.
    /// A connection found lost between two plugins (a DBA ended an idle
    /// backend) is replaced by a new one, as a new connection per plugin
    /// would have been; one lost during a plugin fails that plugin.
    pub async fn next(&mut self, ctx: &Context) -> Result<Arc<Client>, Failure> {
        if self.used {
            if let Err(e) = db::reset_session(&self.client, db::Plans::Discard).await {
                self.recover(ctx, e).await?;
            }
        }
        self.used = true;
        Ok(self.client.clone())
    }

    /// [`next`](Self::next) with the reset left to the caller, who sends
    /// [`db::reset_session`] (when `true` says one is due) ahead of its own
    /// first statements, pipelined: one round trip for both. A reset that
    /// failed goes to [`recover`](Self::recover).
    pub fn unreset(&mut self) -> (Arc<Client>, bool) {
        let due = self.used;
        self.used = true;
        (self.client.clone(), due)
    }

    /// After the reset failed with `e`: a lost connection is replaced by
    /// a new one, which is returned; anything else fails the plugin.
    pub async fn recover(&mut self, ctx: &Context, e: tokio_postgres::Error) -> Result<Arc<Client>, Failure> {
        if !crate::sql::convert::connection_lost(&e) {
            return Err(Failure::Database(anyhow::anyhow!(
                "cannot reset the work session between two plugins: {}",
                db::why(&e)
            )));
        }
        ctx.reporter()
            .status("Reconnecting", &format!("the work session was lost between two plugins ({})", db::why(&e)));
        self.client = ctx.calls().connect_work(self.verb).await?;
        Ok(self.client.clone())
    }
}
