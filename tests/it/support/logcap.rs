//! Log capture for tests: one process-wide logger that keeps each thread's
//! records apart, so tests running in parallel see only their own lines.

use std::cell::RefCell;
use std::sync::OnceLock;

thread_local! {
    static LINES: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        // The production logger's filter, so a test sees what an operator would.
        if orakl::logging::is_quiet_target(record.target()) {
            return;
        }
        // And its text form: control characters escaped.
        let line = orakl::logging::message(record);
        LINES.with(|l| l.borrow_mut().push((record.level(), line)));
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

/// Installs the capture once per test binary; false if another logger got
/// there first (then `take` sees nothing, and tests relying on it must say so).
pub fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let ok = log::set_logger(&LOGGER).is_ok();
        if ok {
            log::set_max_level(log::LevelFilter::Trace);
        }
        ok
    })
}

/// This thread's records since the last call, oldest first.
pub fn take() -> Vec<(log::Level, String)> {
    LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// This thread's lines since the last call, as text.
pub fn take_lines() -> Vec<String> {
    take().into_iter().map(|(lvl, msg)| format!("{lvl} {msg}")).collect()
}
