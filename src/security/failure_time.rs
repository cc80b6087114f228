//! How long a failed login takes. A wrong password for a user with a cheap hash would answer
//! sooner than an unknown user (checked against the slowest hash in the file), and the
//! difference names the users who exist. So every failure is padded to the time a check
//! against the slowest hash takes: measured once at load, then followed as the machine's load
//! changes, from each check that really computed the slowest hash.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The time of a check against the slowest hash, in nanoseconds: up at once when a check
/// took longer, down by a sixteenth of the way per faster check, so one busy moment does not
/// slow every later failure for good, and a loaded machine does not make the padded failures
/// quicker than the real slow checks.
pub(super) struct FailureTime {
    nanos: AtomicU64,
}

impl FailureTime {
    pub(super) fn new(slowest_check: Duration) -> FailureTime {
        FailureTime {
            nanos: AtomicU64::new(nanos(slowest_check)),
        }
    }

    /// Learns from a check that computed the slowest hash and took `took`.
    pub(super) fn observe(&self, took: Duration) {
        let took = nanos(took);
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(took.max(old - (old - took.min(old)) / 16))
            });
    }

    /// How much longer a failure whose check took `took` must wait before it is answered.
    pub(super) fn remaining(&self, took: Duration) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed)).saturating_sub(took)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pads_to_the_slowest_check_and_follows_it() {
        let time = FailureTime::new(100 * MS);
        assert_eq!(time.remaining(2 * MS), 98 * MS);
        assert_eq!(time.remaining(150 * MS), Duration::ZERO);
        // a slower check raises it at once
        time.observe(160 * MS);
        assert_eq!(time.remaining(Duration::ZERO), 160 * MS);
        // faster ones lower it slowly: a sixteenth of the difference each
        time.observe(Duration::ZERO);
        assert_eq!(time.remaining(Duration::ZERO), 150 * MS);
        for _ in 0..200 {
            time.observe(80 * MS);
        }
        let settled = time.remaining(Duration::ZERO);
        assert!(settled >= 80 * MS && settled < 81 * MS, "{settled:?}");
    }
}
