//! SIGINT and SIGTERM during `dossier publish`: stop after the batch in flight, report what was
//! committed, and exit 130 or 143.
//!
//! Before anything is handed to the ledger, and after the run, a signal ends the process at
//! once, as it would without a handler. While batches are being published, the first signal
//! asks the publisher to commit no further batch; a second one ends the process at once (the
//! batch in flight is then committed or not as a whole, as after a kill).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// Exit code after SIGINT (128 + 2).
pub const SIGINT_EXIT: u8 = 130;
/// Exit code after SIGTERM (128 + 15).
pub const SIGTERM_EXIT: u8 = 143;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing handed to the ledger yet: a signal ends the process.
    Before,
    /// Batches are being committed: a signal stops the run after the batch in flight.
    Publishing,
    /// The run is over: a signal ends the process.
    After,
}

/// The signal watch of one publish run.
#[derive(Debug)]
pub struct Interrupt {
    phase: Arc<Mutex<Phase>>,
    stop: Arc<AtomicBool>,
    code: Arc<AtomicU8>,
}

impl Interrupt {
    /// Starts watching SIGINT and SIGTERM (in the phase before publishing).
    ///
    /// # Errors
    /// The handlers could not be installed.
    pub fn install() -> anyhow::Result<Interrupt> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let this = Interrupt {
            phase: Arc::new(Mutex::new(Phase::Before)),
            stop: Arc::new(AtomicBool::new(false)),
            code: Arc::new(AtomicU8::new(0)),
        };
        let (phase, stop, code) = (
            Arc::clone(&this.phase),
            Arc::clone(&this.stop),
            Arc::clone(&this.code),
        );
        tokio::spawn(async move {
            loop {
                let (name, exit) = tokio::select! {
                    _ = term.recv() => ("SIGTERM", SIGTERM_EXIT),
                    _ = int.recv() => ("SIGINT", SIGINT_EXIT),
                };
                // Held while deciding, so that publishing cannot begin behind an exit.
                let phase = phase
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match *phase {
                    Phase::Before => {
                        eprintln!("dossier: {name}: nothing was appended");
                        std::process::exit(i32::from(exit));
                    }
                    Phase::After => std::process::exit(i32::from(exit)),
                    Phase::Publishing if stop.load(Ordering::SeqCst) => {
                        eprintln!(
                            "dossier: {name} again: ending now; the batch in flight is committed or not as a whole, and every file reported above is committed"
                        );
                        std::process::exit(i32::from(exit));
                    }
                    Phase::Publishing => {
                        code.store(exit, Ordering::SeqCst);
                        stop.store(true, Ordering::SeqCst);
                        eprintln!(
                            "dossier: {name}: stopping after the batch in flight (again to end at once)"
                        );
                    }
                }
            }
        });
        Ok(this)
    }

    /// Batches are about to be handed to the ledger.
    pub fn publishing(&self) {
        self.set(Phase::Publishing);
    }

    /// The run is over.
    pub fn finished(&self) {
        self.set(Phase::After);
    }

    fn set(&self, to: Phase) {
        *self
            .phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }

    /// Set once a signal asked the run to stop.
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// The exit code of the signal that stopped the run, if one did.
    pub fn exit_code(&self) -> Option<u8> {
        match self.code.load(Ordering::SeqCst) {
            0 => None,
            c => Some(c),
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.set(Phase::After);
    }
}
