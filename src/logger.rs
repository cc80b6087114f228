//! The process's logger: env_logger decides what is logged (`RUST_LOG`), this module decides
//! when it is written. `main.rs` installs it and runs the flusher; the library only uses `log`
//! macros.
//!
//! Connection threads log one access line per request. Through a shared lock and a write(2)
//! each, that cost a fifth of the throughput at 64 connections, so each line is formatted into
//! a buffer of the calling thread, and one flusher writes all buffers every
//! `FLUSH_INTERVAL`. Lines from different threads are written in the order they were logged
//! (by their timestamps), and a warning or an error is written at once, together with every
//! line logged before it.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a log line may wait in memory before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// A thread's buffer grown past this (a burst) is given back when flushed.
const KEEP_LINES_BYTES: usize = 4096;

/// Each buffered line is a record: the time it was logged (nanoseconds since the epoch, native
/// endian), the length of the line, then the line itself.
const STAMP_BYTES: usize = 8;
const LEN_BYTES: usize = 4;

type Lines = Arc<Mutex<Vec<u8>>>;

/// A logger that buffers lines per thread; see the module docs.
pub struct ThreadBufferedLogger {
    filter: env_logger::Logger,
    /// Tells this logger's buffers from another's in the thread-local (tests make several).
    id: usize,
    buffers: Mutex<Vec<Lines>>,
    /// Where lines go. Held from collecting the buffers until their lines are written, so that
    /// two flushes (the flusher's and a warning's) cannot swap their batches.
    out: Mutex<Box<dyn Write + Send>>,
}

thread_local! {
    static LINES: std::cell::RefCell<Option<(usize, Lines)>> =
        const { std::cell::RefCell::new(None) };
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl ThreadBufferedLogger {
    /// A logger writing to `out` what `filter` lets through.
    pub fn new(filter: env_logger::Logger, out: Box<dyn Write + Send>) -> ThreadBufferedLogger {
        ThreadBufferedLogger {
            filter,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::new(Vec::new()),
            out: Mutex::new(out),
        }
    }

    /// Installs the process's logger: `info` unless `RUST_LOG` says otherwise, to stderr.
    /// Panics if a logger is already installed.
    pub fn install() -> &'static ThreadBufferedLogger {
        let filter =
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
                .build();
        let max_level = filter.filter();
        let logger: &'static ThreadBufferedLogger = Box::leak(Box::new(ThreadBufferedLogger::new(
            filter,
            Box::new(std::io::stderr()),
        )));
        log::set_logger(logger).expect("the only logger");
        log::set_max_level(max_level);
        logger
    }

    /// Writes out every thread's lines in the order they were logged, and forgets the buffers
    /// of threads that have exited. Lock order: `out`, the buffer list, one buffer; a thread
    /// never calls this while it holds its own buffer.
    pub fn flush_all(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut pending = Vec::new();
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|shared| {
                let mut lines = shared.lock().unwrap_or_else(|e| e.into_inner());
                pending.append(&mut lines);
                if lines.capacity() > KEEP_LINES_BYTES {
                    // a burst is over: an idle thread keeps no large buffer
                    lines.shrink_to_fit();
                }
                drop(lines);
                // the thread-local holds the other reference while its thread lives
                Arc::strong_count(shared) > 1
            });
        if pending.is_empty() {
            return;
        }
        let mut records = records(&pending);
        // each buffer is in order already: the stable sort merges runs, and keeps the order of
        // equal stamps within a thread
        records.sort_by_key(|&(stamp, _)| stamp);
        let mut text = Vec::with_capacity(pending.len());
        for (_, line) in records {
            text.extend_from_slice(line);
        }
        let _ = out.write_all(&text);
        let _ = out.flush();
    }

    /// Runs `f` on this thread's buffer, registering one on first use.
    fn with_lines(&self, f: impl FnOnce(&mut Vec<u8>)) {
        LINES.with(|cell| {
            let mut slot = cell.borrow_mut();
            let lines = match &*slot {
                Some((id, lines)) if *id == self.id => lines.clone(),
                _ => {
                    let lines: Lines = Arc::new(Mutex::new(Vec::new()));
                    self.buffers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(lines.clone());
                    *slot = Some((self.id, lines.clone()));
                    lines
                }
            };
            drop(slot);
            f(&mut lines.lock().unwrap_or_else(|e| e.into_inner()));
        });
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

impl log::Log for ThreadBufferedLogger {
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
        self.with_lines(|out| {
            out.extend_from_slice(&stamp.to_ne_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; LEN_BYTES]);
            // written as bytes with one formatting level: every connection thread logs, and
            // keeps the deepest stack page it has ever touched
            out.push(b'[');
            out.extend_from_slice(&crate::date::rfc3339(now));
            out.push(b' ');
            out.extend_from_slice(record.level().as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(record.target().as_bytes());
            out.extend_from_slice(b"] ");
            let _ = out.write_fmt(*record.args());
            out.push(b'\n');
            let len = (out.len() - len_at - LEN_BYTES) as u32;
            out[len_at..len_at + LEN_BYTES].copy_from_slice(&len.to_ne_bytes());
        });
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

    fn logger(filter: &str) -> (ThreadBufferedLogger, Sink) {
        let sink = Sink::default();
        let filter = env_logger::Builder::new().parse_filters(filter).build();
        (
            ThreadBufferedLogger::new(filter, Box::new(sink.clone())),
            sink,
        )
    }

    fn log(logger: &ThreadBufferedLogger, level: log::Level, message: &str) {
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
    fn buffers_of_exited_threads_are_forgotten() {
        let (logger, sink) = logger("info");
        // joined natively, so that their thread-locals are gone (a scope may end before that)
        let logger: &'static ThreadBufferedLogger = Box::leak(Box::new(logger));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || log(logger, log::Level::Info, &format!("thread {i}")))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(logger.buffers.lock().unwrap().len(), 4);
        logger.flush_all();
        assert_eq!(logger.buffers.lock().unwrap().len(), 0);
        let mut messages = sink.messages();
        messages.sort();
        assert_eq!(messages, ["thread 0", "thread 1", "thread 2", "thread 3"]);
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
