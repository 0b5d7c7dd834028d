//! SIGINT and SIGTERM for the one-shot commands that keep temporary state
//! (`replay`, `demo`, `evaluate`): the signal stops the replay loop between
//! jobs, the command returns an error carrying the shell's code (128 + the
//! signal: 130 for Ctrl-C, 143 for SIGTERM) and the temporary database and
//! tape are removed by their destructors on the way out. Without this the
//! default action kills the process where it stands and leaves them behind.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::Failure;
use crate::clock::Shutdown;

#[derive(Default)]
struct Inner {
    /// The signal received, 0 while none.
    signal: AtomicI32,
    /// The loops to stop when it comes.
    listeners: Mutex<Vec<Shutdown>>,
}

/// Signals are process-wide; so is the one handler that turns them into a
/// stop request.
static INSTALLED: OnceLock<Arc<Inner>> = OnceLock::new();

/// Replaces the default action of SIGINT and SIGTERM with a stop request.
pub(super) fn install() -> Result<(), Failure> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let inner = Arc::new(Inner::default());
    let seen = inner.clone();
    super::on_signal(move |sig| {
        seen.signal.store(sig, Ordering::SeqCst);
        for s in lock(&seen.listeners).iter() {
            s.request();
        }
        // Logged after the stop request: the log may block on a full
        // stderr pipe, and the stop must not wait for it.
        log::warn!(signal = sig, action = "stop"; "signal");
    })
    .map_err(Failure::runtime)?;
    let _ = INSTALLED.set(inner);
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stops `shutdown`'s loop when a signal comes (at once if one came).
pub(super) fn listen(shutdown: &Shutdown) {
    let Some(inner) = INSTALLED.get() else { return };
    lock(&inner.listeners).push(shutdown.clone());
    if inner.signal.load(Ordering::SeqCst) != 0 {
        shutdown.request();
    }
}

/// An error with code 128 + signal once a signal has come.
pub(super) fn check() -> Result<(), Failure> {
    let sig = INSTALLED.get().map_or(0, |i| i.signal.load(Ordering::SeqCst));
    if sig == 0 {
        return Ok(());
    }
    let name = if sig == signal_hook::consts::SIGINT { "SIGINT" } else { "SIGTERM" };
    Err(Failure { code: 128 + sig, error: anyhow::anyhow!("interrupted by {name}; temporary files removed") })
}
