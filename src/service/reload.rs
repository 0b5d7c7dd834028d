//! SIGHUP: the timetable file and `WATCHLIST_FILE` read again and checked
//! as at start-up. A file that does not pass keeps the previous timetable
//! and watchlist running: a typo in a reload must never stop the service.

use std::path::Path;

use super::{Service, Settings};
use crate::schedule::Timetable;

impl Service {
    /// Re-reads the inputs; the new timetable, or `None` to keep the old.
    pub(super) fn reload_inputs(&mut self) -> Option<Timetable> {
        let current = self.timetable.clone()?;
        self.notifier.reloading("reloading the timetable and the watchlist");
        match self.read_inputs(&current.path) {
            Ok((timetable, watchlist)) => {
                log::info!(
                    timetable:% = timetable.path,
                    lines = timetable.lines.len(),
                    was_lines = current.lines.len(),
                    symbols = watchlist.len(),
                    was_symbols = self.config.watchlist.len();
                    "reload"
                );
                // Symbols a firing left for the next one stay queued only
                // while they are still watched.
                for (deferred, cut) in self.deferred.values_mut() {
                    deferred.retain(|s| watchlist.contains(s));
                    cut.retain(|s| watchlist.contains(s));
                }
                self.engine.set_watchlist(watchlist.clone());
                self.config.watchlist = watchlist;
                self.prepare(&timetable);
                self.notifier.ready(&self.running_status());
                Some(timetable)
            }
            Err(e) => {
                let e = crate::echo::cap(&e);
                log::error!(error:% = e, action = "kept the previous timetable and watchlist"; "reload_failed");
                self.notifier
                    .ready(&format!("{}; reload failed, kept the previous inputs: {e}", self.running_status()));
                None
            }
        }
    }

    /// The timetable at `path` and the watchlist, validated together as
    /// `run` validates them at start-up.
    fn read_inputs(&self, path: &str) -> Result<(Timetable, Vec<String>), String> {
        let timetable = Timetable::load(Path::new(path)).map_err(|e| e.to_string())?;
        let mut config = self.config.clone();
        if let Some(watchlist) = config.reread_watchlist().map_err(|e| e.to_string())? {
            config.watchlist = watchlist;
        }
        Settings::validate(&config, &timetable, !self.delivery.posts()).map_err(|e| e.to_string())?;
        Ok((timetable, config.watchlist))
    }
}
