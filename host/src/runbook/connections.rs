//! Every connection a command opens, the control connection and the work
//! session alike: named in `pg_stat_activity`, pinned to a rehearsal's
//! copy when a rehearsal's step runs, and registered so an interrupt can
//! cancel whatever the host waits on.

use crate::error::Failure;
use crate::rehearsal_copy::{self, Identity, Refused};
use rollout_connect::{Canceller, Target};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::Client;

/// The command's connections to its database.
pub(super) struct Connections {
    target: Target,
    /// Who runs the command, for `pg_stat_activity`.
    operator: String,
    /// A rehearsal's step: the copy every connection must stand on.
    on_copy: Option<Identity>,
    open: Mutex<Vec<Canceller>>,
}

impl Connections {
    pub fn new(target: Target, operator: &str, on_copy: Option<Identity>) -> Connections {
        Connections { target, operator: operator.to_string(), on_copy, open: Mutex::default() }
    }

    /// The database the command runs against.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// How the host's connections appear in `pg_stat_activity`.
    fn app_name(&self, verb: &str) -> String {
        let name = format!("host {verb} by {} pid {}", self.operator, std::process::id());
        name.chars().take(63).collect()
    }

    /// A new connection for `verb` to the command's database.
    pub async fn connect(&self, verb: &str) -> Result<Arc<Client>, Failure> {
        self.connect_as(verb, &self.target).await
    }

    /// A new connection to `target` (the operator's, or the runner's),
    /// proven to stand on a rehearsal's copy when a step runs, and
    /// registered for [`Connections::cancel_all`].
    pub async fn connect_as(&self, verb: &str, target: &Target) -> Result<Arc<Client>, Failure> {
        let client = target.connect(&self.app_name(verb)).await.map_err(Failure::Database)?;
        if let Some(copy) = &self.on_copy {
            rehearsal_copy::prove(&client, copy).await.map_err(|e| match e {
                Refused::Unreadable(_) => Failure::Database(e.into()),
                refused => Failure::WrongDatabase(refused.to_string()),
            })?;
        }
        if let Ok(mut open) = self.open.lock() {
            open.push(target.canceller(&client));
        }
        Ok(client)
    }

    /// Cancels on the server whatever statement any of the command's
    /// connections runs (Ctrl-C while the host itself waits: a lock, the
    /// ledger). Bounded: a silent server does not hold the exit.
    pub async fn cancel_all(&self) {
        let all: Vec<Canceller> = self.open.lock().map(|o| o.clone()).unwrap_or_default();
        let cancels = all.iter().map(|c| c.cancel());
        let _ = tokio::time::timeout(Duration::from_millis(300), futures_util::future::join_all(cancels)).await;
    }
}
