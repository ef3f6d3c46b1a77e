//! Ctrl-C: one flag the whole run watches, so the running statement is
//! cancelled on the server, the plugin stopped, and the tier rolled back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Set once by Ctrl-C (SIGINT) or SIGTERM; never cleared.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<Inner>);

#[derive(Default)]
struct Inner {
    set: AtomicBool,
    woken: Notify,
    /// The command saw the interrupt and is winding down on its own (the
    /// plugin stopped, its tier rolling back and being recorded).
    heard: AtomicBool,
    /// A step whose outcome the host must learn before it stops (a COMMIT
    /// whose answer is in flight), named for the operator.
    critical: std::sync::Mutex<Option<String>>,
}

/// While alive, Ctrl-C waits for the step it names instead of abandoning it
/// ([`Interrupt::critical`]).
pub struct Critical(Interrupt);

impl Drop for Critical {
    fn drop(&mut self) {
        if let Ok(mut step) = self.0 .0.critical.lock() {
            *step = None;
        }
    }
}

impl Interrupt {
    /// Watches SIGINT and SIGTERM for the rest of the process.
    pub fn install() -> Self {
        let interrupt = Interrupt::default();
        let on_signal = interrupt.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            on_signal.set();
        });
        interrupt
    }

    /// Marks the run interrupted and wakes every waiter.
    pub fn set(&self) {
        self.0.set.store(true, Ordering::SeqCst);
        self.0.woken.notify_waiters();
    }

    /// True once the operator asked to stop.
    pub fn is_set(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// The command heard the interrupt and is now only rolling back and
    /// recording it: its wind-down gets time to finish, so the ledger keeps
    /// the interruption and the report instead of a rollout left `running`.
    pub fn hear(&self) {
        self.0.heard.store(true, Ordering::SeqCst);
    }

    /// True once the command said it is winding down ([`Interrupt::hear`]).
    pub fn heard(&self) -> bool {
        self.0.heard.load(Ordering::SeqCst)
    }

    /// Marks `what` (a COMMIT in flight) as a step whose answer decides what
    /// the database kept: an interrupt lets it end, and cancels its wait on
    /// the server only after the wind-down, so the command learns the
    /// outcome instead of leaving it unknown.
    pub fn critical(&self, what: impl Into<String>) -> Critical {
        if let Ok(mut step) = self.0.critical.lock() {
            *step = Some(what.into());
        }
        Critical(self.clone())
    }

    /// The critical step in flight, if any.
    pub fn critical_step(&self) -> Option<String> {
        self.0.critical.lock().ok().and_then(|s| s.clone())
    }

    /// Resolves when the run is interrupted.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.woken.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}
