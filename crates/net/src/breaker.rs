//! Per-destination circuit breakers. When a destination (the hub, an org's server) fails several
//! times in a row, further deliveries to it are not attempted for a cool-down, so a dead server
//! is not hammered by every queued message and the worker's time goes to destinations that work.
//! After the cool-down one delivery is let through as a probe: success closes the breaker,
//! failure opens it again for twice as long (up to a cap).
//!
//! The state is per process and forgotten on restart, which is safe: it only delays attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failures that open a breaker.
pub const FAILURES_TO_OPEN: u32 = 5;
/// First cool-down; doubles on each failed probe up to [`MAX_COOL_DOWN`].
pub const FIRST_COOL_DOWN: Duration = Duration::from_secs(1);
pub const MAX_COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        cool_down: Duration,
    },
    /// A probe is out; others wait until it reports or `until`.
    Probing {
        until: Instant,
        cool_down: Duration,
    },
}

/// The breakers of one worker, keyed by destination (e.g. a base URL).
#[derive(Debug, Default)]
pub struct Breakers {
    states: Mutex<HashMap<String, State>>,
}

impl Breakers {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Ok` if a delivery to `dest` may be attempted now; otherwise how long to wait.
    pub fn permit(&self, dest: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut states) = self.states.lock() else { return Ok(()) };
        let state = states.entry(dest.to_owned()).or_insert(State::Closed { failures: 0 });
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until, cool_down } if now >= until => {
                // The probe may take as long as a request; others wait that long at most.
                *state = State::Probing { until: now + cool_down.max(Duration::from_secs(30)), cool_down };
                Ok(())
            }
            State::Probing { until, cool_down } if now >= until => {
                *state = State::Probing { until: now + cool_down.max(Duration::from_secs(30)), cool_down };
                Ok(())
            }
            State::Open { until, .. } | State::Probing { until, .. } => Err(until - now),
        }
    }

    /// A delivery to `dest` worked.
    pub fn success(&self, dest: &str) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(dest.to_owned(), State::Closed { failures: 0 });
        }
    }

    /// A delivery to `dest` failed for a reason that may pass (unreachable, 5xx, timeout).
    pub fn failure(&self, dest: &str, now: Instant) {
        let Ok(mut states) = self.states.lock() else { return };
        let state = states.entry(dest.to_owned()).or_insert(State::Closed { failures: 0 });
        *state = match *state {
            State::Closed { failures } if failures + 1 >= FAILURES_TO_OPEN => {
                State::Open { until: now + FIRST_COOL_DOWN, cool_down: FIRST_COOL_DOWN }
            }
            State::Closed { failures } => State::Closed { failures: failures + 1 },
            State::Probing { cool_down, .. } | State::Open { cool_down, .. } => {
                let next = (cool_down * 2).min(MAX_COOL_DOWN);
                State::Open { until: now + next, cool_down: next }
            }
        };
    }

    /// Whether `dest`'s breaker is open (for logs and status).
    pub fn is_open(&self, dest: &str) -> bool {
        self.states.lock().map(|s| matches!(s.get(dest), Some(State::Open { .. } | State::Probing { .. }))).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_opens_after_repeated_failures_and_others_stay_closed() {
        let b = Breakers::new();
        let t = Instant::now();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            b.failure("hub", t);
            assert!(b.permit("hub", t).is_ok());
        }
        b.failure("hub", t);
        assert_eq!(b.permit("hub", t), Err(FIRST_COOL_DOWN));
        assert!(b.permit("other", t).is_ok());
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_and_its_result_decides() {
        let b = Breakers::new();
        let t = Instant::now();
        for _ in 0..FAILURES_TO_OPEN {
            b.failure("hub", t);
        }
        let later = t + FIRST_COOL_DOWN;
        assert!(b.permit("hub", later).is_ok(), "the probe");
        assert!(b.permit("hub", later).is_err(), "others wait for the probe");
        b.failure("hub", later);
        assert_eq!(b.permit("hub", later), Err(FIRST_COOL_DOWN * 2), "a failed probe doubles the cool-down");
        let again = later + FIRST_COOL_DOWN * 2;
        assert!(b.permit("hub", again).is_ok());
        b.success("hub");
        assert!(!b.is_open("hub"));
        assert!(b.permit("hub", again).is_ok() && b.permit("hub", again).is_ok(), "closed again: everything goes");
    }

    #[test]
    fn the_cool_down_is_capped() {
        let b = Breakers::new();
        let mut t = Instant::now();
        for _ in 0..FAILURES_TO_OPEN {
            b.failure("x", t);
        }
        for _ in 0..10 {
            t += MAX_COOL_DOWN;
            assert!(b.permit("x", t).is_ok());
            b.failure("x", t);
        }
        assert_eq!(b.permit("x", t), Err(MAX_COOL_DOWN));
    }
}
