//! The one place that reads the OS clock or sleeps.
//!
//! Everything else asks a [`Clock`] for the time and waits through it, so the
//! same main loop runs live (on [`SystemClock`]) and in tests and replays (on
//! [`SimClock`], which jumps to the next deadline instead of sleeping).
//! A test greps `src/` to keep this true.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// How a [`Clock::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The full duration passed.
    Elapsed,
    /// Shutdown was requested before (or during) the wait.
    Shutdown,
}

/// Time as the service sees it: wall time for the timetable, monotonic time
/// for rate limits and timeouts, and a wait that a shutdown interrupts.
/// Nanoseconds since the Unix epoch, as Polygon stamps times; outside
/// 1677..2262 (never a market time) saturated rather than failed.
pub fn unix_nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

pub trait Clock: Send + Sync {
    /// Wall-clock time. May jump (NTP, suspend); callers must tolerate that.
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time since the clock was created. Never goes backwards.
    fn elapsed(&self) -> Duration;
    /// Waits up to `d`, returning early when shutdown is requested.
    fn wait(&self, d: Duration) -> Waited;
    /// The main loop's wait for its next firing: as [`Clock::wait`], but a
    /// reload request also ends it early (as `Elapsed`), so SIGHUP is acted
    /// on at once rather than at the next firing.
    fn idle(&self, d: Duration) -> Waited {
        self.wait(d)
    }
    /// The shutdown flag this clock's waits listen to.
    fn shutdown(&self) -> &Shutdown;
}

/// A shared "please stop" flag with a condition variable, so a SIGTERM wakes
/// a sleeping main loop at once. It also carries "please reload" (SIGHUP),
/// which wakes only the main loop's idle wait ([`Clock::idle`]): a rate
/// limit's wait must run its full length whatever the operator does.
#[derive(Clone, Default)]
pub struct Shutdown(Arc<(Mutex<Requests>, Condvar)>);

#[derive(Default)]
struct Requests {
    stop: bool,
    reload: bool,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn request(&self) {
        let (flag, cv) = &*self.0;
        lock(flag).stop = true;
        cv.notify_all();
    }

    pub fn is_requested(&self) -> bool {
        lock(&self.0.0).stop
    }

    /// Asks the main loop to re-read its timetable and watchlist.
    pub fn request_reload(&self) {
        let (flag, cv) = &*self.0;
        lock(flag).reload = true;
        cv.notify_all();
    }

    /// Whether a reload was asked for since the last call (clears it).
    pub fn take_reload(&self) -> bool {
        std::mem::take(&mut lock(&self.0.0).reload)
    }

    /// Blocks up to `d` or until shutdown is requested (or, with
    /// `or_reload`, a reload): `Shutdown` for a shutdown, `Elapsed` for a
    /// reload (the caller looks), None when `d` ran out.
    fn wait_timeout(&self, d: Duration, or_reload: bool) -> Option<Waited> {
        let (flag, cv) = &*self.0;
        let deadline = Instant::now() + d;
        let woken = |r: &Requests| r.stop || (or_reload && r.reload);
        let mut requests = lock(flag);
        while !woken(&requests) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            requests = match cv.wait_timeout(requests, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        if requests.stop { Some(Waited::Shutdown) } else { woken(&requests).then_some(Waited::Elapsed) }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// data (a flag, a time) is still meaningful, so keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Called at least every `every` while a wait is in progress.
type Tick = (Duration, Box<dyn Fn() + Send + Sync>);

/// The production clock: the operating system's.
pub struct SystemClock {
    start: Instant,
    shutdown: Shutdown,
    tick: Option<Tick>,
}

impl SystemClock {
    pub fn new(shutdown: Shutdown) -> Self {
        Self { start: Instant::now(), shutdown, tick: None }
    }

    /// Calls `f` at least every `every` during waits. A wait is the service
    /// being idle or patient (a rate limit, a `Retry-After`), not hung, so
    /// systemd's watchdog must keep hearing from it.
    pub fn with_tick(mut self, every: Duration, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.tick = Some((every.max(Duration::from_millis(1)), Box::new(f)));
        self
    }

    /// Waits up to `d`; shutdown ends it early, and so does a reload
    /// request when `or_reload` (returning `Elapsed`: the caller looks).
    fn wait_for(&self, d: Duration, or_reload: bool) -> Waited {
        let Some((every, tick)) = &self.tick else {
            return self.shutdown.wait_timeout(d, or_reload).unwrap_or(Waited::Elapsed);
        };
        let deadline = Instant::now() + d;
        loop {
            tick();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Waited::Elapsed;
            }
            if let Some(w) = self.shutdown.wait_timeout(left.min(*every), or_reload) {
                return w;
            }
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn wait(&self, d: Duration) -> Waited {
        self.wait_for(d, false)
    }

    fn idle(&self, d: Duration) -> Waited {
        self.wait_for(d, true)
    }

    fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}

struct SimState {
    /// Monotonic time since creation.
    mono: Duration,
    /// Wall time at `mono == 0`, plus any wall-clock jumps applied since.
    wall_origin: DateTime<Utc>,
    /// Monotonic instant at which shutdown will be requested, if any.
    shutdown_at: Option<Duration>,
}

/// A simulated clock for tests and replays: `wait` advances time instantly.
///
/// It is shared (`Arc`) so that a fake server on another thread can advance
/// it to model latency, and so that a test can script a wall-clock jump or a
/// SIGTERM at a chosen simulated instant.
pub struct SimClock {
    state: Mutex<SimState>,
    shutdown: Shutdown,
}

impl SimClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            state: Mutex::new(SimState { mono: Duration::ZERO, wall_origin: start, shutdown_at: None }),
            shutdown: Shutdown::new(),
        }
    }

    /// Moves both monotonic and wall time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let _ = self.wait(d);
    }

    /// Moves wall time only (an NTP step or a suspend); monotonic time is
    /// untouched. Negative values step the wall clock backwards.
    pub fn jump_wall(&self, delta: chrono::Duration) {
        let mut s = lock(&self.state);
        s.wall_origin += delta;
    }

    /// Requests shutdown once `after` more simulated time has passed, as a
    /// SIGTERM arriving at that instant would.
    pub fn shutdown_after(&self, after: Duration) {
        let mut s = lock(&self.state);
        s.shutdown_at = Some(s.mono + after);
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let s = lock(&self.state);
        s.wall_origin + chrono::Duration::from_std(s.mono).unwrap_or(chrono::Duration::MAX)
    }

    fn elapsed(&self) -> Duration {
        lock(&self.state).mono
    }

    fn wait(&self, d: Duration) -> Waited {
        if self.shutdown.is_requested() {
            return Waited::Shutdown;
        }
        let mut s = lock(&self.state);
        let target = s.mono.saturating_add(d);
        match s.shutdown_at {
            Some(at) if at <= target => {
                s.mono = s.mono.max(at);
                s.shutdown_at = None;
                drop(s);
                self.shutdown.request();
                Waited::Shutdown
            }
            _ => {
                s.mono = target;
                Waited::Elapsed
            }
        }
    }

    fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}

/// Adapts a [`Clock`] to the `ratelimit` crate, so the token bucket refills
/// in simulated time during replays exactly as it does live.
pub struct BucketClock(pub Arc<dyn Clock>);

impl ratelimit::Clock for BucketClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sim_clock_jumps_instead_of_sleeping() {
        let start = Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap();
        let c = SimClock::new(start);
        assert_eq!(c.wait(Duration::from_secs(90)), Waited::Elapsed);
        assert_eq!(c.now(), start + chrono::Duration::seconds(90));
        assert_eq!(c.elapsed(), Duration::from_secs(90));
    }

    #[test]
    fn wall_jumps_leave_monotonic_time_alone() {
        let start = Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap();
        let c = SimClock::new(start);
        c.jump_wall(chrono::Duration::hours(-1));
        assert_eq!(c.now(), start - chrono::Duration::hours(1));
        assert_eq!(c.elapsed(), Duration::ZERO);
    }

    #[test]
    fn scripted_shutdown_interrupts_the_wait_at_its_instant() {
        let start = Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap();
        let c = SimClock::new(start);
        c.shutdown_after(Duration::from_secs(5));
        assert_eq!(c.wait(Duration::from_secs(60)), Waited::Shutdown);
        assert_eq!(c.elapsed(), Duration::from_secs(5));
        assert!(c.shutdown().is_requested());
        assert_eq!(c.wait(Duration::from_secs(1)), Waited::Shutdown);
    }

    #[test]
    fn system_clock_ticks_during_a_long_wait() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // The third tick asks for shutdown, so an hour-long wait proves it
        // ticks (and ends) after a few milliseconds.
        let shutdown = Shutdown::new();
        let n = Arc::new(AtomicUsize::new(0));
        let (seen, stop) = (n.clone(), shutdown.clone());
        let c = SystemClock::new(shutdown).with_tick(Duration::from_millis(1), move || {
            if seen.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                stop.request();
            }
        });
        assert_eq!(c.wait(Duration::from_secs(3600)), Waited::Shutdown);
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn system_clock_wait_returns_at_once_after_shutdown() {
        let s = Shutdown::new();
        let c = SystemClock::new(s.clone());
        s.request();
        assert_eq!(c.wait(Duration::from_secs(3600)), Waited::Shutdown);
    }
}
