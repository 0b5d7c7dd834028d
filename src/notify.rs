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
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` as systemd
    /// sets them.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        Self::from_vars(var("NOTIFY_SOCKET"), var("WATCHDOG_USEC"), var("WATCHDOG_PID"), std::process::id())
    }

    /// The watchdog rule of `sd_watchdog_enabled(3)`: on when `WATCHDOG_USEC`
    /// is a positive number, unless `WATCHDOG_PID` is set and names another
    /// process (a child that inherited the variables must not ping).
    fn from_vars(socket: Option<String>, usec: Option<String>, pid: Option<String>, own_pid: u32) -> Self {
        let enabled = socket.is_some_and(|s| !s.is_empty());
        let for_us = pid.is_none_or(|p| p.trim().parse::<u32>().is_ok_and(|p| p == own_pid));
        let watchdog = usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| enabled && for_us && u > 0)
            .map(Duration::from_micros);
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
                log::warn!(error:% = e; "sd_notify_failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_settings() {
        let s = |v: &str| Some(v.to_string());
        let cases = [
            (s("/run/notify"), s("30000000"), None, Some(30)),
            (s("/run/notify"), s("30000000"), s("42"), Some(30)),
            (s("/run/notify"), s("30000000"), s("43"), None),
            (s("/run/notify"), s("0"), None, None),
            (s("/run/notify"), s("soon"), None, None),
            (None, s("30000000"), None, None),
            (s("/run/notify"), None, None, None),
        ];
        for (socket, usec, pid, want) in cases {
            let n = Notifier::from_vars(socket.clone(), usec.clone(), pid.clone(), 42);
            assert_eq!(n.watchdog_interval().map(|d| d.as_secs()), want, "{socket:?} {usec:?} {pid:?}");
        }
    }
}
