//! The catalog audit as a runbook step: on the control connection, after
//! the identity guard, the rollout lock and the role proof, before the gate
//! and before anything is written (`gate`, `run`, `run --dry-run`,
//! `rollback`, and so every step of a rehearsal).

use super::Context;
use crate::audit;
use crate::error::Failure;
use crate::plan::Plan;
use tokio_postgres::Client;

impl Context {
    /// Reads what the catalog makes the plan do beyond what its statements
    /// name, and refuses the plan (exit 2) when any of it is unreviewed
    /// code or a write no grant names; says what passed otherwise.
    pub(super) async fn audit_catalog(&self, control: &Client, plan: &Plan) -> Result<(), Failure> {
        let plugins: Vec<_> = plan.all().collect();
        let audit = audit::read(control, &plugins).await.map_err(Failure::Database)?;
        let verdict = audit.verdict(self.reviewed.as_ref());
        if verdict.passes() {
            self.reporter.status("Audited", &verdict.summary(&audit));
            return Ok(());
        }
        for (verb, line) in verdict.lines() {
            self.reporter.status(verb, &line);
        }
        Err(Failure::Audit(verdict.refusal()))
    }
}
