//! Slots for CPU-heavy work done for one request: hashing a whole file for
//! `Want-Content-Digest`, gzipping a large file on the fly. A cheap request (a few KB of
//! headers) must not be able to buy seconds of CPU without bound: at most one such job per
//! CPU runs at once, and a request that finds them all busy is refused or served the cheap way.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fixed number of slots, taken and given back by `Slot`'s drop.
#[derive(Debug)]
pub struct Slots {
    busy: AtomicUsize,
    max: usize,
}

/// One taken slot; dropping it gives it back.
#[derive(Debug)]
pub struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    pub const fn new(max: usize) -> Slots {
        Slots {
            busy: AtomicUsize::new(0),
            max,
        }
    }

    /// A slot, or `None` when all are taken (the caller does not wait).
    pub fn try_take(&self) -> Option<Slot<'_>> {
        self.busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self))
    }
}

/// The process's slots for heavy work: one per CPU, at least 2.
pub fn heavy_work() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Slots::new(cpus.max(2))
    })
}

/// `Retry-After` for a request refused because every slot was busy: such work takes seconds.
pub const RETRY_AFTER_SECS: &str = "1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_slots_and_a_dropped_one_comes_back() {
        let slots = Slots::new(1);
        let first = slots.try_take().expect("one free");
        assert!(slots.try_take().is_none(), "the second waits for the first");
        drop(first);
        let again = slots.try_take();
        assert!(again.is_some());
        drop(again);
        let two = Slots::new(2);
        let held: Vec<_> = (0..2).filter_map(|_| two.try_take()).collect();
        assert_eq!(held.len(), 2);
        assert!(two.try_take().is_none());
        assert!(heavy_work().max >= 2);
    }
}
