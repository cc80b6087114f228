//! What the open-files limit allows the server: how many threads may wait in `accept()`, how
//! many connections it may serve, and the log of `accept()` failures, which arrive in storms
//! when descriptors run out.
//!
//! Linux takes a descriptor for each thread blocked in `accept()` before it waits (fs/file.c
//! `get_unused_fd_flags` in `do_accept`). Without a bound, the threads left idle after a burst
//! held the whole limit: every later `open` failed, after the clients had gone.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::{error, warn};

/// Descriptors kept for what a request opens besides its socket (a file, its directory, an
/// upload's temporary) and for the process itself (standard streams, the listener, logs).
const RESERVED_DESCRIPTORS: u64 = 32;
/// At most one descriptor in this many goes to threads waiting in `accept()`.
const IDLE_SHARE: u64 = 8;
/// A storm of `accept()` failures is logged once per this long, with a count.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Caps derived from the open-files limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorCaps {
    /// Most threads waiting in `accept()` at once; a thread beyond it exits.
    pub max_idle: usize,
    /// Most connections served at once, leaving the reserve for what requests open.
    pub max_connections: usize,
}

impl DescriptorCaps {
    /// The caps for a soft open-files limit of `limit` descriptors.
    pub fn for_limit(limit: u64) -> DescriptorCaps {
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(1);
        let max_idle = limit / IDLE_SHARE;
        let max_connections = limit.saturating_sub(RESERVED_DESCRIPTORS + max_idle);
        DescriptorCaps {
            max_idle: to_usize(max_idle),
            max_connections: to_usize(max_connections),
        }
    }

    /// The caps for this process's soft open-files limit (as raised at start-up).
    pub fn current() -> DescriptorCaps {
        let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
        DescriptorCaps::for_limit(limit)
    }
}

/// Whether an `accept()` failed for want of descriptors or memory: the thread should step
/// aside (or back off, if it is the last waiter) rather than retry at once.
pub fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// `accept()` failures, logged at most once per `FAILURE_LOG_INTERVAL` with how many there
/// were: during descriptor exhaustion every waiter fails at once, over and over, and a line
/// per failure buried everything else (97 lines a second).
#[derive(Debug)]
pub struct FailureLog {
    /// Failures not yet reported; read without the lock on every successful accept.
    unreported: AtomicU64,
    /// When the last report was written.
    last_report: Mutex<Option<Instant>>,
}

impl Default for FailureLog {
    fn default() -> Self {
        FailureLog {
            unreported: AtomicU64::new(0),
            last_report: Mutex::new(None),
        }
    }
}

impl FailureLog {
    /// Counts a failure; writes a line when none was written for an interval.
    pub fn failed(&self, e: &io::Error) {
        self.unreported.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_report.lock().expect("failure log lock");
        if last.is_some_and(|at| at.elapsed() < FAILURE_LOG_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        let count = self.unreported.swap(0, Ordering::Relaxed);
        error!(
            "accept failed {count} time(s) since the last report: {e} (reported at most every {} s)",
            FAILURE_LOG_INTERVAL.as_secs()
        );
    }

    /// After a successful accept: reports the failures counted since the last line, once the
    /// interval allows, so a storm's end is logged too.
    pub fn succeeded(&self) {
        if self.unreported.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut last = self.last_report.lock().expect("failure log lock");
        if last.is_some_and(|at| at.elapsed() < FAILURE_LOG_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        let count = self.unreported.swap(0, Ordering::Relaxed);
        if count > 0 {
            warn!("accept works again after {count} more failure(s)");
        }
    }
}

/// How long the last waiting thread pauses after its `n`th exhaustion failure in a row: short
/// at first, so that a brief shortage costs little, and never so long that the server stays
/// deaf for long once descriptors are back.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(10u64 << n.min(4)).min(Duration::from_millis(160))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_limit() {
        assert_eq!(
            DescriptorCaps::for_limit(64),
            DescriptorCaps {
                max_idle: 8,
                max_connections: 24
            }
        );
        let big = DescriptorCaps::for_limit(1 << 20);
        assert_eq!(big.max_idle, 1 << 17);
        assert!(big.max_connections > 900_000);
        // however small the limit, one thread waits and one connection is served
        assert_eq!(
            DescriptorCaps::for_limit(3),
            DescriptorCaps {
                max_idle: 1,
                max_connections: 1
            }
        );
    }

    #[test]
    fn a_storm_is_one_line_per_interval() {
        let log = FailureLog::default();
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(is_exhaustion(&e));
        assert!(!is_exhaustion(&io::ErrorKind::ConnectionAborted.into()));
        log.failed(&e);
        assert_eq!(
            log.unreported.load(Ordering::Relaxed),
            0,
            "the first is reported"
        );
        for _ in 0..1000 {
            log.failed(&e);
        }
        log.succeeded();
        assert_eq!(
            log.unreported.load(Ordering::Relaxed),
            1000,
            "held for the interval"
        );
    }

    #[test]
    fn backoff_grows_and_stays_short() {
        assert_eq!(backoff(0), Duration::from_millis(10));
        assert!(backoff(1) > backoff(0));
        assert_eq!(backoff(100), Duration::from_millis(160));
    }
}
