//! The process's logger: env_logger decides what is logged (`RUST_LOG`), this module decides
//! when it is written. `main.rs` installs it and runs the flusher; the library only uses `log`
//! macros.
//!
//! Connection threads log one access line per request. Through one shared lock and a write(2)
//! each, that cost a fifth of the throughput at 64 connections, so each line is formatted into
//! one of `SHARDS` buffers, picked by thread, and one flusher writes them all every
//! `FLUSH_INTERVAL`. Shards rather than a buffer per thread: 10,000 idle connection threads
//! held 3 MB of per-thread buffers. Lines are written in the order they were logged (by their
//! timestamps), and a warning or an error is written at once, with every line logged before it.

use std::cell::Cell;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a log line may wait in memory before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Buffers shared by the threads: threads are dealt to them in turn, so up to this many
/// threads log without ever meeting on a lock (but the flusher's).
const SHARDS: usize = 64;

/// A buffer grown past this (a burst) is given back when flushed.
const KEEP_LINES_BYTES: usize = 4096;

/// Each buffered line is a record: the time it was logged (nanoseconds since the epoch, native
/// endian), the length of the line, then the line itself.
const STAMP_BYTES: usize = 8;
const LEN_BYTES: usize = 4;

/// A logger that buffers lines in shards; see the module docs.
pub struct BufferedLogger {
    filter: env_logger::Logger,
    shards: Box<[Mutex<Vec<u8>>]>,
    /// Where lines go. Held from collecting the buffers until their lines are written, so that
    /// two flushes (the flusher's and a warning's) cannot swap their batches.
    out: Mutex<Box<dyn Write + Send>>,
}

thread_local! {
    /// This thread's shard; `usize::MAX` until it first logs. No destructor, no allocation.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl BufferedLogger {
    /// A logger writing to `out` what `filter` lets through.
    pub fn new(filter: env_logger::Logger, out: Box<dyn Write + Send>) -> BufferedLogger {
        BufferedLogger {
            filter,
            shards: (0..SHARDS).map(|_| Mutex::new(Vec::new())).collect(),
            out: Mutex::new(out),
        }
    }

    /// Installs the process's logger: `info` unless `RUST_LOG` says otherwise, to stderr.
    /// Panics if a logger is already installed.
    pub fn install() -> &'static BufferedLogger {
        let filter =
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
                .build();
        let max_level = filter.filter();
        let logger: &'static BufferedLogger = Box::leak(Box::new(BufferedLogger::new(
            filter,
            Box::new(std::io::stderr()),
        )));
        log::set_logger(logger).expect("the only logger");
        log::set_max_level(max_level);
        logger
    }

    /// Writes out every buffered line in the order they were logged. Lock order: `out`, then
    /// one shard; a thread never calls this while it holds a shard.
    pub fn flush_all(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut pending = Vec::new();
        for shard in &self.shards {
            let mut lines = shard.lock().unwrap_or_else(|e| e.into_inner());
            pending.extend_from_slice(&lines);
            lines.clear();
            if lines.capacity() > KEEP_LINES_BYTES {
                // a burst is over
                lines.shrink_to(KEEP_LINES_BYTES);
            }
        }
        if pending.is_empty() {
            return;
        }
        let mut records = records(&pending);
        // each shard is nearly in order already: the stable sort merges runs, and keeps the
        // order of equal stamps
        records.sort_by_key(|&(stamp, _)| stamp);
        let mut text = Vec::with_capacity(pending.len());
        for (_, line) in records {
            text.extend_from_slice(line);
        }
        let _ = out.write_all(&text);
        let _ = out.flush();
    }

    /// This thread's shard.
    fn shard(&self) -> &Mutex<Vec<u8>> {
        let index = SHARD.with(|shard| {
            if shard.get() == usize::MAX {
                shard.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            shard.get()
        });
        &self.shards[index]
    }
}

/// Splits buffered bytes into (stamp, line) records.
fn records(mut bytes: &[u8]) -> Vec<(u64, &[u8])> {
    let mut records = Vec::new();
    while let Some((stamp, rest)) = bytes.split_first_chunk::<STAMP_BYTES>() {
        let Some((len, rest)) = rest.split_first_chunk::<LEN_BYTES>() else {
            break;
        };
        let len = (u32::from_ne_bytes(*len) as usize).min(rest.len());
        let (line, rest) = rest.split_at(len);
        records.push((u64::from_ne_bytes(*stamp), line));
        bytes = rest;
    }
    records
}

impl log::Log for BufferedLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if !self.filter.matches(record) {
            return;
        }
        let now = SystemTime::now();
        let stamp = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        {
            let mut out = self.shard().lock().unwrap_or_else(|e| e.into_inner());
            out.extend_from_slice(&stamp.to_ne_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; LEN_BYTES]);
            // written as bytes with one formatting level: every connection thread logs, and
            // keeps the deepest stack page it has ever touched
            out.push(b'[');
            out.extend_from_slice(&http_server::rfc3339(now));
            out.push(b' ');
            out.extend_from_slice(record.level().as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(record.target().as_bytes());
            out.extend_from_slice(b"] ");
            let _ = out.write_fmt(*record.args());
            out.push(b'\n');
            let len = (out.len() - len_at - LEN_BYTES) as u32;
            out[len_at..len_at + LEN_BYTES].copy_from_slice(&len.to_ne_bytes());
        }
        if record.level() <= log::Level::Warn {
            // with everything logged before it, in order
            self.flush_all();
        }
    }

    fn flush(&self) {
        self.flush_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log;
    use std::sync::Arc;

    /// Collects what the logger writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        /// The messages written so far, without their `[time level target] ` prefix.
        fn messages(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|line| line.split_once("] ").unwrap().1.to_owned())
                .collect()
        }
    }

    fn logger(filter: &str) -> (BufferedLogger, Sink) {
        let sink = Sink::default();
        let filter = env_logger::Builder::new().parse_filters(filter).build();
        (BufferedLogger::new(filter, Box::new(sink.clone())), sink)
    }

    fn log(logger: &BufferedLogger, level: log::Level, message: &str) {
        logger.log(
            &log::Record::builder()
                .level(level)
                .target("test")
                .args(format_args!("{message}"))
                .build(),
        );
    }

    #[test]
    fn lines_wait_for_a_flush_and_keep_their_format() {
        let (logger, sink) = logger("info");
        log(&logger, log::Level::Info, "one");
        log(&logger, log::Level::Debug, "filtered out");
        assert!(sink.messages().is_empty());
        logger.flush_all();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        // [2026-11-28T20:16:14Z INFO test] one
        assert!(text.starts_with('['), "{text:?}");
        assert!(text.ends_with("Z INFO test] one\n"), "{text:?}");
        logger.flush_all();
        assert_eq!(sink.messages(), ["one"]);
    }

    #[test]
    fn a_warning_is_written_at_once_after_the_lines_before_it() {
        let (logger, sink) = logger("info");
        log(&logger, log::Level::Info, "before");
        log(&logger, log::Level::Warn, "warning");
        assert_eq!(sink.messages(), ["before", "warning"]);
        log(&logger, log::Level::Info, "after");
        log(&logger, log::Level::Error, "error");
        assert_eq!(sink.messages(), ["before", "warning", "after", "error"]);
    }

    #[test]
    fn lines_of_different_threads_are_written_in_the_order_logged() {
        // the shutdown's case: main logged first (registering its buffer first), the signal
        // thread logged "shutting down", then main logged "stopped"
        let (logger, sink) = logger("info");
        log(&logger, log::Level::Info, "listening");
        std::thread::scope(|s| {
            s.spawn(|| log(&logger, log::Level::Info, "signal 15: shutting down"));
        });
        log(&logger, log::Level::Info, "stopped");
        logger.flush_all();
        assert_eq!(
            sink.messages(),
            ["listening", "signal 15: shutting down", "stopped"]
        );
    }

    #[test]
    fn a_warning_on_one_thread_brings_the_earlier_lines_of_others() {
        let (logger, sink) = logger("info");
        std::thread::scope(|s| {
            s.spawn(|| log(&logger, log::Level::Info, "other thread"));
        });
        log(&logger, log::Level::Warn, "warning");
        assert_eq!(sink.messages(), ["other thread", "warning"]);
    }

    #[test]
    fn more_threads_than_shards_lose_nothing_and_keep_nothing_after_a_flush() {
        let (logger, sink) = logger("info");
        std::thread::scope(|s| {
            for i in 0..SHARDS * 2 {
                let logger = &logger;
                s.spawn(move || log(logger, log::Level::Info, &format!("thread {i}")));
            }
        });
        logger.flush_all();
        let mut messages = sink.messages();
        messages.sort();
        let mut want: Vec<_> = (0..SHARDS * 2).map(|i| format!("thread {i}")).collect();
        want.sort();
        assert_eq!(messages, want);
        assert!(logger.shards.iter().all(|s| s.lock().unwrap().is_empty()));
    }

    #[test]
    fn many_threads_logging_and_warning_lose_nothing() {
        let (logger, sink) = logger("info");
        std::thread::scope(|s| {
            for t in 0..4 {
                let logger = &logger;
                s.spawn(move || {
                    for i in 0..200 {
                        let level = if i % 50 == 0 {
                            log::Level::Warn
                        } else {
                            log::Level::Info
                        };
                        log(logger, level, &format!("{t} {i}"));
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..50 {
                    logger.flush_all();
                }
            });
        });
        logger.flush_all();
        let messages = sink.messages();
        assert_eq!(messages.len(), 800);
        // each thread's lines stay in its order
        for t in 0..4 {
            let own: Vec<_> = messages
                .iter()
                .filter(|m| m.starts_with(&format!("{t} ")))
                .cloned()
                .collect();
            let want: Vec<_> = (0..200).map(|i| format!("{t} {i}")).collect();
            assert_eq!(own, want);
        }
    }
}
