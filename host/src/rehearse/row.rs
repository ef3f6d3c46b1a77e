//! One line of a rehearsal's step table: what a step did, and whether the
//! state after it equals the baseline.

use super::step::{Ran, Verb};
use crate::digest::{Reach, State};
use std::time::Instant;

pub use crate::report::rehearsal::{Equal, Step as Row};

impl Row {
    /// A digest taken by the rehearsal itself.
    pub fn digest(step: &str, state: &State, equal: Equal, started: Instant) -> Row {
        let outcome = format!(
            "{} relations, {} rows; the net: {} relations, {} rows",
            state.relations(Reach::Exact),
            state.rows(Reach::Exact),
            state.relations(Reach::Net),
            state.rows(Reach::Net)
        );
        let digest = Some(state.digest().to_string());
        Row {
            step: step.into(),
            outcome,
            digest,
            equal_to_baseline: equal,
            ms: started.elapsed().as_millis(),
            log: None,
        }
    }

    /// A step command that ran; `expected` is the exit code it should have.
    /// The outcome says only what the step's own report shows: a run whose
    /// report has no verify table is not called a verify PASS.
    pub fn ran(step: &str, verb: Verb, ran: &Ran, expected: i32) -> Row {
        let outcome = match (ran.code, verb, expected) {
            (Some(0), Verb::Run, _) if ran.verify().is_some() => "COMPLETE, verify PASS".to_string(),
            (Some(0), Verb::Run, _) => "COMPLETE, no verify table in its report".to_string(),
            (Some(0), Verb::Rollback, _) => "ROLLED BACK".to_string(),
            (Some(c), _, e) if c == e && c == i32::from(crate::error::INJECTED) => {
                format!("FAILED as injected (exit {c})")
            }
            (Some(c), _, e) => format!("exit {c}, expected {e}"),
            (None, _, _) => "killed by a signal".to_string(),
        };
        let log = Some(ran.log.display().to_string());
        Row { step: step.into(), outcome, digest: None, equal_to_baseline: Equal::NotCompared, ms: ran.ms, log }
    }
}

#[cfg(test)]
mod tests {
    use super::{Row, Verb};
    use crate::rehearse::step::Ran;
    use crate::report::{CheckTable, Summary};

    fn ran(code: i32, report: Option<Summary>) -> Ran {
        Ran { code: Some(code), ms: 1, log: "output.log".into(), report }
    }

    #[test]
    fn a_run_without_a_verify_table_is_not_called_rolled_back_or_a_pass() {
        let complete = Row::ran("run", Verb::Run, &ran(0, Some(Summary::default())), 0);
        assert_eq!(complete.outcome, "COMPLETE, no verify table in its report");
        let verify = CheckTable::new("verify", "Verify", &[], &[]);
        let passed =
            Row::ran("run", Verb::Run, &ran(0, Some(Summary { verify: Some(verify), ..Summary::default() })), 0);
        assert_eq!(passed.outcome, "COMPLETE, verify PASS");
        assert_eq!(Row::ran("rollback", Verb::Rollback, &ran(0, None), 0).outcome, "ROLLED BACK");
    }
}
