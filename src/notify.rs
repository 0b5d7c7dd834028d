//! systemd readiness and watchdog notifications (`Type=notify`).
//!
//! Outside systemd (`NOTIFY_SOCKET` unset: tests, replays, a shell) every call
//! is a no-op, so callers never need to ask whether they run under systemd.

use std::time::Duration;

use sd_notify::NotifyState;

#[derive(Debug, Clone, Default)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` as systemd set them.
    pub fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0u64;
        let watchdog = (enabled && sd_notify::watchdog_enabled(false, &mut usec)).then(|| Duration::from_micros(usec));
        Self { enabled, watchdog }
    }

    /// A notifier that never sends anything.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The watchdog interval systemd asked for, if any.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// Tells systemd the loop is alive. Called between jobs and before every
    /// HTTP request, whose global timeout is kept below half the watchdog
    /// interval so pings keep coming even when a server stalls.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            self.send(&[NotifyState::Watchdog]);
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    fn send(&self, states: &[NotifyState]) {
        if self.enabled {
            if let Err(e) = sd_notify::notify(false, states) {
                log::warn!("event=sd_notify_failed error=\"{e}\"");
            }
        }
    }
}
