//! The threads checks run on. libpg_query sizes its stack-depth guard from
//! the calling thread's stack, which a wasmtime fiber does not describe, so
//! a check runs on a thread with a known stack ([`STACK_BYTES`]); and a
//! panic in the parser's or the walk's code must refuse that statement, not
//! end the host.
//!
//! Spawning and joining an 8 MiB thread per check was most of the check's
//! tail (p99 4 ms over the regression corpus on a loaded machine), so the
//! threads persist: a check takes an idle one (or starts one), hands it the
//! statement, waits for the answer and gives the thread back. A thread that
//! panicked unwinds and ends: its answer never comes, the statement is
//! refused, and the next check starts a new thread in its place. At most
//! [`MAX_IDLE`] threads wait between checks (the host checks one statement
//! at a time; the oracle and the benches, a few).

use super::{refuse, Checked, Checker, Refusal};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

/// Stack of the thread a check runs on: libpg_query's stack-depth guard
/// allows itself up to 2 MB (plus 512 kB of slack) and the walk's recursion
/// is bounded by the decoder's nesting limit; 8 MiB leaves room for both.
const STACK_BYTES: usize = 8 * 1024 * 1024;

/// Threads kept waiting between checks.
const MAX_IDLE: usize = 4;

/// One statement to check, and where its answer goes.
struct Job {
    checker: Checker,
    sql: String,
    answer: SyncSender<Result<Checked, Refusal>>,
}

/// A waiting checker thread: what it is handed work through.
struct Worker {
    jobs: Sender<Job>,
}

static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

/// Checker threads started since the process began (for the tests).
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Checks `sql` on a checker thread and waits for the answer.
pub(super) fn check(checker: &Checker, sql: &str) -> Result<Checked, Refusal> {
    let (answer, answered) = sync_channel(1);
    let mut job = Job { checker: checker.clone(), sql: sql.to_string(), answer };
    // An idle thread that has ended since (it cannot, but a send says so
    // for sure) is skipped for a new one.
    let worker = loop {
        let worker = match take_idle() {
            Some(w) => w,
            None => start().or_else(|e| refuse(format!("the checker could not start: {e}")))?,
        };
        match worker.jobs.send(job) {
            Ok(()) => break worker,
            Err(returned) => job = returned.0,
        }
    };
    match answered.recv() {
        Ok(result) => {
            give_back(worker);
            result
        }
        // The thread panicked on this statement and has ended.
        Err(_) => refuse("the checker failed on this statement"),
    }
}

fn take_idle() -> Option<Worker> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner()).pop()
}

fn give_back(worker: Worker) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE {
        idle.push(worker);
    }
    // Otherwise it is dropped: its thread sees the channel close and ends.
}

fn start() -> std::io::Result<Worker> {
    let (jobs, inbox) = channel::<Job>();
    std::thread::Builder::new().name("sql-check".into()).stack_size(STACK_BYTES).spawn(move || serve(inbox))?;
    STARTED.fetch_add(1, Ordering::Relaxed);
    Ok(Worker { jobs })
}

/// A checker thread's life: one job at a time until its channel closes (or
/// a check panics, which unwinds it and drops the job's answer unsent).
fn serve(inbox: Receiver<Job>) {
    while let Ok(job) = inbox.recv() {
        let result = job.checker.check_here(&job.sql);
        let _ = job.answer.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Grants;

    #[test]
    fn checks_reuse_their_threads_and_a_panic_refuses_and_is_replaced() {
        let g = Grants { read: vec!["app.team".into()], ..Grants::default() };
        let c = Checker::new(&g, true);
        c.check("SELECT code FROM app.team", 0).unwrap();
        let before = STARTED.load(Ordering::Relaxed);
        for _ in 0..200 {
            c.check("SELECT code FROM app.team", 0).unwrap();
        }
        // Other tests check on their own threads meanwhile: a few new
        // threads at most, not one per check.
        let started = STARTED.load(Ordering::Relaxed) - before;
        assert!(started < 20, "{started} threads started for 200 checks");
        // A check that panics (`check_here`'s test hook) is refused, the
        // host goes on, and the next check runs on a new thread.
        let r = c.check(super::super::PANIC_FOR_TESTS, 0).unwrap_err();
        assert_eq!(r.reason, "the checker failed on this statement");
        c.check("SELECT code FROM app.team", 0).unwrap();
    }
}
