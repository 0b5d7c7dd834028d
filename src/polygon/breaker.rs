//! A circuit breaker: after repeated failed calls, stop calling for a while.
//!
//! Pure state over monotonic time; the client feeds it `now` and outcomes.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    /// Refusing calls until this monotonic instant.
    Open {
        until: Duration,
    },
    /// The cooldown passed and one trial call is in flight (or pending).
    HalfOpen,
}

/// Whether a call may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The first call after the cooldown: its outcome decides the state.
    Trial,
    Rejected {
        retry_in: Duration,
    },
}

/// What a finished call did to the breaker, so the caller can log changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened,
    Closed,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: State,
}

impl Breaker {
    /// A `threshold` of 0 disables the breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold, cooldown, state: State::Closed { failures: 0 } }
    }

    pub fn admit(&mut self, now: Duration) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Allowed,
            State::HalfOpen => Admission::Trial,
            State::Open { until } => {
                if now >= until {
                    self.state = State::HalfOpen;
                    Admission::Trial
                } else {
                    Admission::Rejected { retry_in: until - now }
                }
            }
        }
    }

    pub fn on_success(&mut self) -> Transition {
        let was_tripped = !matches!(self.state, State::Closed { .. });
        self.state = State::Closed { failures: 0 };
        if was_tripped { Transition::Closed } else { Transition::None }
    }

    pub fn on_failure(&mut self, now: Duration) -> Transition {
        match self.state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if self.threshold > 0 && failures >= self.threshold {
                    self.state = State::Open { until: now.saturating_add(self.cooldown) };
                    Transition::Opened
                } else {
                    self.state = State::Closed { failures };
                    Transition::None
                }
            }
            // A failed trial re-opens for a full cooldown.
            State::HalfOpen => {
                self.state = State::Open { until: now.saturating_add(self.cooldown) };
                Transition::Opened
            }
            State::Open { .. } => Transition::None,
        }
    }

    /// Opens (or keeps open) until `until` whatever the failure count: the
    /// server said when to come back (a long `Retry-After`), so calls wait
    /// for that instead of a job sleeping through it. Works even with the
    /// threshold at 0, which only turns off opening on counted failures.
    pub fn open_until(&mut self, until: Duration) -> Transition {
        match self.state {
            State::Open { until: current } => {
                self.state = State::Open { until: current.max(until) };
                Transition::None
            }
            _ => {
                self.state = State::Open { until };
                Transition::Opened
            }
        }
    }

    /// Open or waiting for its trial call: the endpoint is not healthy.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let mut b = Breaker::new(3, 60 * S);
        assert_eq!(b.on_failure(S), Transition::None);
        assert_eq!(b.on_failure(2 * S), Transition::None);
        assert_eq!(b.admit(2 * S), Admission::Allowed);
        assert_eq!(b.on_failure(3 * S), Transition::Opened);
        assert!(b.is_open());
        assert_eq!(b.admit(33 * S), Admission::Rejected { retry_in: 30 * S });
        assert_eq!(b.admit(63 * S), Admission::Trial);
        assert_eq!(b.on_failure(64 * S), Transition::Opened);
        assert_eq!(b.admit(100 * S), Admission::Rejected { retry_in: 24 * S });
        assert_eq!(b.admit(124 * S), Admission::Trial);
        assert_eq!(b.on_success(), Transition::Closed);
        assert!(!b.is_open());
        assert_eq!(b.admit(125 * S), Admission::Allowed);
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut b = Breaker::new(2, S);
        b.on_failure(S);
        assert_eq!(b.on_success(), Transition::None);
        assert_eq!(b.on_failure(S), Transition::None);
        assert_eq!(b.on_failure(S), Transition::Opened);
    }

    #[test]
    fn open_until_holds_calls_until_the_given_instant() {
        let mut b = Breaker::new(0, 60 * S);
        assert_eq!(b.open_until(30 * S), Transition::Opened);
        assert_eq!(b.admit(10 * S), Admission::Rejected { retry_in: 20 * S });
        assert_eq!(b.open_until(20 * S), Transition::None);
        assert_eq!(b.admit(29 * S), Admission::Rejected { retry_in: S });
        assert_eq!(b.admit(30 * S), Admission::Trial);
        assert_eq!(b.on_success(), Transition::Closed);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let mut b = Breaker::new(0, S);
        for _ in 0..100 {
            assert_eq!(b.on_failure(S), Transition::None);
        }
        assert_eq!(b.admit(S), Admission::Allowed);
    }
}
