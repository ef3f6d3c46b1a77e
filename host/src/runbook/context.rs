//! What every command on a plan shares: who runs it and from where, the
//! parameters, what it reports, Ctrl-C, its connections, and its plugin
//! calls ([`Calls`]). The control connection is the command's own
//! ([`super::control::Control`]), opened by the prologue.

use super::calls::Calls;
use super::connections::Connections;
use super::options::RehearsalStep;
use crate::audit::Reviewed;
use crate::error::Failure;
use crate::ledger;
use crate::plan::Plan;
use crate::report::Reporter;
use crate::roles::Roles;
use crate::sandbox::Sandbox;
use crate::signal::Interrupt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One command on a plan.
pub(super) struct Context {
    reporter: Arc<Reporter>,
    interrupt: Interrupt,
    operator: String,
    client_host: String,
    params: BTreeMap<String, String>,
    /// What a rehearsal's step asks; nothing for an operator's command.
    step: RehearsalStep,
    /// What the lock file says was reviewed of the catalog (`--lock`);
    /// none without a lock file, and then any implicit code is refused.
    reviewed: Option<Reviewed>,
    connections: Arc<Connections>,
    calls: Calls,
}

/// Who runs a command, and from where, as the ledger records it.
pub(super) struct Operator {
    pub name: String,
    pub client_host: String,
}

impl Operator {
    /// `--operator`, else the OS user ([`operator_name`]); this machine's name.
    pub fn of(given: Option<String>) -> Operator {
        let client_host =
            std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into());
        Operator { name: given.unwrap_or_else(operator_name), client_host }
    }
}

/// The operator the ledger names when none is given: `$USER`, else
/// `$LOGNAME`, else the user the process runs as ([`rollout_connect::os_user`]).
pub fn operator_name() -> String {
    let from_env = |key| std::env::var(key).ok().filter(|v: &String| !v.is_empty());
    from_env("USER")
        .or_else(|| from_env("LOGNAME"))
        .or_else(rollout_connect::os_user)
        .unwrap_or_else(|| "unknown".into())
}

/// The parts a command is built from ([`super::launch`] reads them).
pub(super) struct Parts {
    pub reporter: Arc<Reporter>,
    pub interrupt: Interrupt,
    pub operator: Operator,
    pub params: BTreeMap<String, String>,
    pub step: RehearsalStep,
    pub reviewed: Option<Reviewed>,
    pub roles: Option<Arc<Roles>>,
    pub connections: Connections,
    pub sandbox: Sandbox,
}

impl Context {
    pub fn new(parts: Parts) -> Context {
        let interrupt = parts.interrupt;
        let connections = Arc::new(parts.connections);
        let calls = Calls::new(
            parts.sandbox,
            parts.reporter.clone(),
            interrupt.clone(),
            parts.params.clone(),
            parts.roles,
            connections.clone(),
        );
        Context {
            reporter: parts.reporter,
            interrupt,
            operator: parts.operator.name,
            client_host: parts.operator.client_host,
            params: parts.params,
            step: parts.step,
            reviewed: parts.reviewed,
            connections,
            calls,
        }
    }

    pub fn reporter(&self) -> &Arc<Reporter> {
        &self.reporter
    }

    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    pub fn operator(&self) -> &str {
        &self.operator
    }

    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    pub fn step(&self) -> &RehearsalStep {
        &self.step
    }

    pub fn reviewed(&self) -> Option<&Reviewed> {
        self.reviewed.as_ref()
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The call side: the work session, the role wall, the plugin calls.
    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    /// The plan and its parameters, recorded for the report.
    pub fn record_plan(&self, plan: &Plan) {
        self.reporter.record_plan(&self.operator, &self.params, plan);
    }

    /// The command stops on Ctrl-C at `what`, and says so to the signal
    /// watcher: what follows is only its own wind-down (roll back, record).
    pub fn stopped(&self, what: impl Into<String>) -> Failure {
        self.interrupt.hear();
        Failure::Interrupted(what.into())
    }

    /// The rollout row the command opens in the ledger (`verb` as the
    /// ledger records it).
    pub fn rollout_row<'a>(
        &'a self,
        verb: &'a str,
        plan: &'a Plan,
        approval_ref: Option<&'a str>,
    ) -> ledger::Start<'a> {
        ledger::Start {
            verb,
            operator: &self.operator,
            client_host: &self.client_host,
            params: &self.params,
            approval_ref,
            plan,
            roles: self.calls.under_roles(),
        }
    }
}
