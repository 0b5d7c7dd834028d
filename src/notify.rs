//! systemd notifications (`Type=notify`): readiness, watchdog pings,
//! reloads, stopping, and `STATUS=` lines for `systemctl status`.
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
    /// Reads `NOTIFY_SOCKET`, and the watchdog settings through
    /// `sd_notify::watchdog_enabled`, which applies `sd_watchdog_enabled(3)`'s
    /// rule: on when `WATCHDOG_USEC` is set, unless `WATCHDOG_PID` names
    /// another process (a child that inherited the variables must not ping).
    pub fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        // `WATCHDOG_USEC=0` is no watchdog; without a socket there is no one to ping.
        let watchdog = sd_notify::watchdog_enabled().filter(|d| enabled && !d.is_zero());
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

    /// Start-up is done (or a reload is), with what `systemctl status` shows.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Tells systemd the loop is alive. Called between jobs and before every
    /// HTTP request, whose global timeout is kept below half the watchdog
    /// interval so pings keep coming even when a server stalls.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            self.send(&[NotifyState::Watchdog]);
        }
    }

    /// A reload (SIGHUP) begins; [`Notifier::ready`] ends it. systemd wants
    /// the monotonic time with it, to match the reload to its request.
    pub fn reloading(&self, status: &str) {
        if !self.enabled {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now, NotifyState::Status(status)]),
            Err(e) => log::warn!(error:% = e, what = "monotonic clock"; "sd_notify_failed"),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// One line for `systemctl status` (the health after each heartbeat).
    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    fn send(&self, states: &[NotifyState]) {
        if self.enabled {
            if let Err(e) = sd_notify::notify(states) {
                log::warn!(error:% = e; "sd_notify_failed");
            }
        }
    }
}
