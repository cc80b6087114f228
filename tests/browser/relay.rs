//! A loopback TCP relay between the browser and the server, which the test can point at a
//! restarted server, hold at a given byte, and cut: the browser's connection then breaks
//! exactly where the test says, however fast loopback is.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub struct Relay {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// bytes relayed towards the server since the last `arm`
    forwarded: u64,
    /// hold the connection that carries the byte at this count
    hold_at: Option<u64>,
    held: bool,
    cuts: u64,
}

impl Relay {
    pub fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let addr = listener.local_addr().unwrap();
        let accepting = shared.clone();
        thread::spawn(move || {
            for browser in listener.incoming().flatten() {
                let shared = accepting.clone();
                thread::spawn(move || relay(&shared, browser));
            }
        });
        Relay { addr, shared }
    }

    /// New connections go to `upstream` from now on.
    pub fn point_at(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = upstream;
    }

    /// Counts bytes towards the server from zero, and holds whichever connection carries the
    /// `after`th: it relays up to there, then reads nothing more until `cut`.
    pub fn arm(&self, after: u64) {
        let mut state = self.shared.state.lock().unwrap();
        state.forwarded = 0;
        state.hold_at = Some(after);
        state.held = false;
    }

    /// Bytes relayed towards the server since `arm`.
    pub fn forwarded(&self) -> u64 {
        self.shared.state.lock().unwrap().forwarded
    }

    /// Waits (at most 60 s) until a connection is held.
    pub fn wait_held(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut state = self.shared.state.lock().unwrap();
        while !state.held {
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("no connection reached the hold within 60 s");
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Closes the held connection both ways.
    pub fn cut(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.cuts += 1;
        state.held = false;
        self.shared.changed.notify_all();
    }
}

impl Shared {
    /// Of `n` bytes read from the browser, how many to relay, and whether to hold after them
    /// (until the cut after the one counted here).
    fn take(&self, n: usize) -> (usize, Option<u64>) {
        let mut state = self.state.lock().unwrap();
        let n = n as u64;
        match state.hold_at {
            Some(at) if state.forwarded + n >= at => {
                let send = at - state.forwarded;
                state.forwarded = at;
                state.hold_at = None;
                state.held = true;
                self.changed.notify_all();
                (send as usize, Some(state.cuts))
            }
            _ => {
                state.forwarded += n;
                (n as usize, None)
            }
        }
    }

    fn wait_cut(&self, cuts: u64) {
        let mut state = self.state.lock().unwrap();
        while state.cuts == cuts {
            state = self.changed.wait(state).unwrap();
        }
    }
}

fn relay(shared: &Shared, mut browser: TcpStream) {
    let upstream = *shared.upstream.lock().unwrap();
    // a server that is away: the browser sees its connection closed, as it would
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (mut back, mut from) = (browser.try_clone().unwrap(), server.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut back);
        let _ = back.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match browser.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (send, hold) = shared.take(n);
        if server.write_all(&buf[..send]).is_err() {
            break;
        }
        if let Some(cuts) = hold {
            shared.wait_cut(cuts);
            break;
        }
    }
    let _ = browser.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}
