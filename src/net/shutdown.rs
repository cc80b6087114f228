//! The registry a graceful shutdown works through: every open connection, and whether it sits
//! idle between requests. `start` closes the idle ones at once (their read ends, so their
//! loop sees EOF); busy ones finish their request with `Connection: close`. Accepting and
//! waiting for the grace period are `server.rs`'s.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Lets a graceful shutdown close connections that sit idle between requests, while those in
/// the middle of a request finish it (with `Connection: close`).
#[derive(Debug, Default)]
pub struct ShutdownSignal {
    started: AtomicBool,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Registered>>>,
}

/// A connection as the shutdown sees it. The stream is shared rather than cloned: a
/// `try_clone` would spend a second descriptor on every connection.
#[derive(Debug)]
struct Registered {
    stream: TcpStream,
    idle: AtomicBool,
}

impl ShutdownSignal {
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Starts the shutdown: idle connections are woken and close; busy ones close after their
    /// current response.
    pub fn start(&self) {
        self.started.store(true, Ordering::SeqCst);
        for conn in self.open.lock().expect("registry lock").values() {
            // pairs with the idle store then is_started check in read_head: one side sees the other
            if conn.idle.load(Ordering::SeqCst) {
                let _ = conn.stream.shutdown(Shutdown::Read);
            }
        }
    }

    /// Adds a connection, busy; it stays registered until the returned `Registration` drops
    /// (a panic included: the registry's reference would otherwise keep the socket open).
    pub fn register(&self, stream: TcpStream) -> Registration<'_> {
        let conn = Arc::new(Registered {
            stream,
            idle: AtomicBool::new(false),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .expect("registry lock")
            .insert(id, conn.clone());
        Registration {
            signal: self,
            id,
            conn,
        }
    }

    fn unregister(&self, id: u64) {
        self.open.lock().expect("registry lock").remove(&id);
    }
}

/// A connection's place in the registry; removes it when dropped.
#[derive(Debug)]
pub struct Registration<'a> {
    signal: &'a ShutdownSignal,
    id: u64,
    conn: Arc<Registered>,
}

impl Registration<'_> {
    /// The connection's socket.
    pub fn stream(&self) -> &TcpStream {
        &self.conn.stream
    }

    /// Marks the connection idle (waiting for a request's first byte) or busy; returns whether
    /// it was idle. Marking it idle and then checking `is_started` pairs with `start`'s store
    /// then scan: one of the two sides sees the other.
    pub fn set_idle(&self, idle: bool) -> bool {
        self.conn.idle.swap(idle, Ordering::SeqCst)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.signal.unregister(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected pair over loopback: (our accepted side, the client).
    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (accepted, client)
    }

    fn open(signal: &ShutdownSignal) -> usize {
        signal.open.lock().unwrap().len()
    }

    #[test]
    fn registrations_come_and_go_with_their_guard() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let signal = ShutdownSignal::default();
        let (a, _client_a) = pair(&listener);
        let (b, _client_b) = pair(&listener);
        let first = signal.register(a);
        let second = signal.register(b);
        assert_ne!(first.id, second.id);
        assert_eq!(open(&signal), 2);
        drop(first);
        assert_eq!(open(&signal), 1);
        // the guard unregisters on a panic too
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = second;
            panic!("serving failed");
        }));
        assert!(unwound.is_err());
        assert_eq!(open(&signal), 0);
        assert!(!signal.is_started());
    }

    #[test]
    fn start_wakes_idle_connections_and_leaves_busy_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let signal = ShutdownSignal::default();
        let (idle, _idle_client) = pair(&listener);
        let (busy, mut busy_client) = pair(&listener);
        let idle = signal.register(idle);
        let busy = signal.register(busy);
        assert!(!idle.set_idle(true), "registered busy");
        signal.start();
        assert!(signal.is_started());
        // the idle one reads EOF at once, though its client sent nothing and is still there
        let mut byte = [0u8];
        assert_eq!(idle.stream().read(&mut byte).unwrap(), 0);
        // the busy one still reads what its client sends
        busy_client.write_all(b"x").unwrap();
        assert_eq!(busy.stream().read(&mut byte).unwrap(), 1);
        assert_eq!(&byte, b"x");
        // and waits for more rather than seeing EOF
        busy.stream()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let err = busy.stream().read(&mut byte).unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        assert!(idle.set_idle(false), "was idle");
    }

    #[test]
    fn a_connection_registered_after_start_is_left_to_its_loop() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let signal = ShutdownSignal::default();
        signal.start();
        let (late, mut client) = pair(&listener);
        let late = signal.register(late);
        // the loop checks is_started after marking itself idle; the registry does not touch it
        client.write_all(b"y").unwrap();
        let mut byte = [0u8];
        assert_eq!(late.stream().read(&mut byte).unwrap(), 1);
        assert!(signal.is_started());
    }
}
