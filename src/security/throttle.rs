//! Bounds on password checks, both counters with guards. Per client address, `Throttle`
//! counts failures within a window, and counts a check as a failure from the moment it
//! starts (a success gives it back), so parallel guesses cannot outrun the limit while their
//! hashes are being computed. Globally, `Slots` caps how many hashes are computed at once (an
//! argon2id check allocates its `m` KiB, 19 MiB by default). A guard gives its count back
//! however the check ends, a panic inside a hash crate included.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Failed attempts one client address may make within `THROTTLE_WINDOW`; then 429.
pub const MAX_FAILURES: u32 = 10;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// Client addresses the throttle tracks; beyond it, stale entries are dropped first.
const MAX_TRACKED: usize = 16384;

/// One client address's recent attempts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attempts {
    /// When the first failure of the current window happened (before any: when the first
    /// check in flight began).
    since: Instant,
    failures: u32,
    /// Checks begun and not yet finished: they count as failures until they succeed.
    in_flight: u32,
}

impl Attempts {
    /// Failures within the window that `now` falls in.
    fn failures(&self, now: Instant) -> u32 {
        if now.duration_since(self.since) < THROTTLE_WINDOW {
            self.failures
        } else {
            0
        }
    }

    /// How long the client must wait, if failures and checks in flight use up its limit.
    fn wait(&self, now: Instant) -> Option<Duration> {
        (self.failures(now) + self.in_flight >= MAX_FAILURES)
            .then(|| (self.since + THROTTLE_WINDOW).saturating_duration_since(now))
    }
}

/// Failures and checks in flight per client address (IPv6 per /64).
#[derive(Debug, Default)]
pub(super) struct Throttle {
    pub(super) attempts: Mutex<HashMap<IpAddr, Attempts>>,
    /// Whether `attempts` may have an entry: spares the common case (none) its lock.
    any_attempts: AtomicBool,
}

impl Throttle {
    /// How long `peer` must wait, if it has used up its failures.
    pub(super) fn wait(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        if !self.any_attempts.load(Ordering::Relaxed) {
            return None;
        }
        let attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        attempts.get(&throttle_key(peer))?.wait(now)
    }

    /// Counts a check from `peer` as in flight, under the same lock that decides whether the
    /// client is throttled: parallel guesses see each other before any hash is computed.
    /// `Err` is how long the client must wait.
    pub(super) fn begin(&self, peer: IpAddr, now: Instant) -> Result<Attempt<'_>, Duration> {
        let client = throttle_key(peer);
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.len() >= MAX_TRACKED && !attempts.contains_key(&client) {
            attempts.retain(|_, a| a.in_flight > 0 || a.failures(now) > 0);
            if attempts.len() >= MAX_TRACKED {
                // a flood from more addresses than we track: forget their failures rather
                // than grow (checks in flight are bounded by the connection threads)
                attempts.retain(|_, a| a.in_flight > 0);
            }
        }
        let entry = attempts.entry(client).or_insert(Attempts {
            since: now,
            failures: 0,
            in_flight: 0,
        });
        if let Some(wait) = entry.wait(now) {
            return Err(wait);
        }
        entry.in_flight += 1;
        self.any_attempts.store(true, Ordering::Relaxed);
        Ok(Attempt {
            throttle: self,
            client,
            now,
            failed: false,
        })
    }

    /// Ends a check begun by `begin`: a failure stays counted, a success (or a check that
    /// never ran) is given back.
    fn end(&self, client: IpAddr, now: Instant, failed: bool) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        // entries with checks in flight are never dropped, so it is there
        let Some(entry) = attempts.get_mut(&client) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if failed {
            if entry.failures(now) == 0 {
                entry.since = now;
                entry.failures = 0;
            }
            entry.failures += 1;
        }
        if entry.in_flight == 0 && entry.failures(now) == 0 {
            attempts.remove(&client);
        }
        if attempts.is_empty() {
            self.any_attempts.store(false, Ordering::Relaxed);
        }
    }
}

/// A check counted in flight by `Throttle::begin`. Dropping it gives the attempt back unless
/// `fail` was called; being a guard, a panic inside a hash crate cannot leak the count (which
/// would lock the address out for good).
pub(super) struct Attempt<'a> {
    throttle: &'a Throttle,
    client: IpAddr,
    now: Instant,
    failed: bool,
}

impl Attempt<'_> {
    /// The check failed: it stays counted toward the throttle.
    pub(super) fn fail(mut self) {
        self.failed = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.throttle.end(self.client, self.now, self.failed);
    }
}

/// How many password checks may run at once: one per CPU, at least 2. Each costs a CPU for
/// tens to hundreds of milliseconds (and an argon2id one its `m` KiB of memory), so more at
/// once would only make every one of them slower and the memory unbounded.
pub fn verification_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

/// The password hashes being computed now, never more than `max`.
#[derive(Debug)]
pub(super) struct Slots {
    busy: AtomicUsize,
    pub(super) max: usize,
}

impl Slots {
    pub(super) fn new(max: usize) -> Slots {
        Slots {
            busy: AtomicUsize::new(0),
            max,
        }
    }

    /// One of the `max` slots for computing a hash, or `None` when all are taken.
    pub(super) fn take(&self) -> Option<Slot<'_>> {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(&self.busy))
    }
}

/// A slot taken from `Slots`, given back on drop.
pub(super) struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The client an address belongs to, for per-client limits: IPv4 addresses count one by one;
/// IPv6 clients usually own a whole /64.
pub fn throttle_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_throttled_per_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(throttle_key(a), throttle_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(throttle_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn failures_stay_counted_and_successes_are_given_back() {
        let throttle = Throttle::default();
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.begin(me, now).unwrap().fail();
        }
        // a check in flight counts: the tenth is refused until the first one ends
        let in_flight = throttle.begin(me, now).unwrap();
        assert_eq!(throttle.wait(me, now), Some(THROTTLE_WINDOW));
        assert!(throttle.begin(me, now).is_err());
        drop(in_flight);
        assert_eq!(throttle.wait(me, now), None);
        throttle.begin(me, now).unwrap().fail();
        assert!(throttle.begin(me, now).is_err());
        assert_eq!(throttle.wait(me, now + THROTTLE_WINDOW), None);
    }

    #[test]
    fn slots_are_bounded_and_given_back() {
        let slots = Slots::new(2);
        let taken = [slots.take(), slots.take()];
        assert!(taken.iter().all(Option::is_some));
        assert!(slots.take().is_none());
        drop(taken);
        assert!(slots.take().is_some());
    }
}
