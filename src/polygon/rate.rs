//! The token bucket every Polygon request passes through, driven by the
//! project's clock so that a replay spends simulated time exactly as live.

use std::sync::Arc;
use std::time::Duration;

use ratelimit::{Ratelimiter, TryWaitError};

use crate::clock::{BucketClock, Clock, Waited};

/// The bucket refills only after at least a microsecond has passed, so a
/// shorter wait could spin; waits are rounded up to this.
const MIN_WAIT: Duration = Duration::from_micros(1);
/// A bound on try/wait rounds for one token. Each round waits for the
/// deficit, so two rounds are the norm; more means the clock is not moving.
const MAX_ROUNDS: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateError {
    Shutdown,
    /// The clock's waits return without time passing.
    Stuck,
}

pub struct RateGate {
    bucket: Ratelimiter<BucketClock>,
    clock: Arc<dyn Clock>,
}

impl RateGate {
    /// `rate_per_sec` tokens per second, at most `burst` at once (clamped to
    /// 1..=rate). The bucket starts full.
    pub fn new(rate_per_sec: u64, burst: u64, clock: Arc<dyn Clock>) -> Result<Self, String> {
        if rate_per_sec == 0 {
            return Err("rate limit must be at least 1 request per second".into());
        }
        let burst = burst.clamp(1, rate_per_sec);
        let bucket = ratelimit::Builder::with_clock(rate_per_sec, BucketClock(clock.clone()))
            .max_tokens(burst)
            .initial_available(burst)
            .build()
            .map_err(|e| format!("rate limiter: {e}"))?;
        Ok(Self { bucket, clock })
    }

    /// Takes one token, waiting through the clock as long as needed, and
    /// returns how long it waited.
    pub fn acquire(&self) -> Result<Duration, GateError> {
        let mut waited = Duration::ZERO;
        for _ in 0..MAX_ROUNDS {
            match self.bucket.try_wait() {
                Ok(()) => return Ok(waited),
                Err(TryWaitError::Insufficient(d)) => {
                    let d = d.max(MIN_WAIT);
                    if self.clock.wait(d) == Waited::Shutdown {
                        return Err(GateError::Shutdown);
                    }
                    waited += d;
                }
                // One token never exceeds a capacity of at least one.
                Err(_) => return Err(GateError::Stuck),
            }
        }
        Err(GateError::Stuck)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;
    use chrono::{TimeZone, Utc};

    #[test]
    fn spaces_tokens_at_the_rate_in_simulated_time() {
        let clock = Arc::new(SimClock::new(Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap()));
        let gate = RateGate::new(5, 1, clock.clone()).unwrap();
        let mut times = Vec::new();
        for _ in 0..11 {
            gate.acquire().unwrap();
            times.push(clock.elapsed());
        }
        assert_eq!(times[0], Duration::ZERO);
        let total = times[10];
        assert!(total >= Duration::from_secs(2) && total < Duration::from_millis(2010), "{total:?}");
    }

    #[test]
    fn shutdown_interrupts_the_wait() {
        let clock = Arc::new(SimClock::new(Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap()));
        let gate = RateGate::new(1, 1, clock.clone()).unwrap();
        gate.acquire().unwrap();
        clock.shutdown().request();
        assert_eq!(gate.acquire(), Err(GateError::Shutdown));
    }

    #[test]
    fn zero_rate_is_refused() {
        let clock = Arc::new(SimClock::new(Utc.with_ymd_and_hms(2026, 3, 9, 14, 30, 0).unwrap()));
        assert!(RateGate::new(0, 1, clock).is_err());
    }
}
