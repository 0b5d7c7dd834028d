//! The service's signals. SIGTERM and SIGINT request a shutdown: the loop
//! finishes the current request, stops between jobs, and the process exits
//! 0. SIGHUP (`systemctl reload orakl`) asks the loop to re-read the
//! timetable and the watchlist between jobs.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::clock::Shutdown;

pub fn install_signal_handlers(shutdown: &Shutdown) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let shutdown = shutdown.clone();
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        for sig in signals.forever() {
            if sig == SIGHUP {
                log::info!(signal = "SIGHUP", action = "reload"; "signal");
                shutdown.request_reload();
                continue;
            }
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            log::info!(signal = name, action = "shutdown"; "signal");
            shutdown.request();
            // Dropping the handlers gives the signals their default action
            // back: a second SIGTERM ends a shutdown that hangs.
            break;
        }
    })?;
    Ok(())
}
