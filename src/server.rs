//! Binding, the accept loop, and the threads: one connection per thread, with finished threads
//! parked for the next connection. Also the connection cap and graceful shutdown.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use socket2::{Domain, Socket, Type};

use crate::config::Config;
use crate::connection::{self, Buffers, Context, ShutdownSignal};
use crate::files::FileRoot;

/// Pending connections the kernel queues for us; std's 128 overflows when hundreds of clients
/// connect at once, and each overflow costs a client a 1 s SYN retry.
const LISTEN_BACKLOG: i32 = 4096;
/// Stack of a connection thread. Only touched pages cost memory, so this is a ceiling, not a
/// cost; deflate and sha-256 state live on the heap.
const THREAD_STACK_BYTES: usize = 256 * 1024;
/// A parked thread with no new connection for this long exits.
const PARKED_THREAD_TIMEOUT: Duration = Duration::from_secs(30);

type Job = (TcpStream, SocketAddr);

/// A bound server, ready to `run`.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    ctx: Context,
    max_connections: usize,
    shutdown_grace: Duration,
    active: AtomicUsize,
    /// Parked threads, each waiting on its own channel for its next connection.
    parked: Mutex<Vec<(u64, SyncSender<Job>)>>,
    next_thread: AtomicU64,
}

/// Stops a running server from another thread (a signal handler thread, a test).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Stops accepting, wakes idle connections so that they close, and lets `run` return once
    /// in-flight requests are done (or the grace period is over).
    pub fn shutdown(&self) {
        if self.shared.ctx.shutdown.is_started() {
            return;
        }
        self.shared.ctx.shutdown.start();
        self.shared.parked.lock().expect("pool lock").clear();
        // accept() has no timeout: wake it with a connection of our own
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

/// Binds the listening socket and canonicalises the file root.
pub fn bind(config: Config) -> io::Result<Server> {
    let files = match &config.directory {
        Some(dir) => Some(FileRoot::new(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("--directory {}: {e}", dir.display()))
        })?),
        None => None,
    };
    let socket = Socket::new(Domain::for_address(config.addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if config.addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket
        .bind(&config.addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.addr)))?;
    socket.listen(LISTEN_BACKLOG)?;
    let ctx = Context {
        limits: config.limits,
        files,
        shutdown: ShutdownSignal::default(),
    };
    let shared = Shared {
        ctx,
        max_connections: config.max_connections,
        shutdown_grace: config.shutdown_grace,
        active: AtomicUsize::new(0),
        parked: Mutex::new(Vec::new()),
        next_thread: AtomicU64::new(0),
    };
    Ok(Server {
        listener: socket.into(),
        shared: Arc::new(shared),
    })
}

impl Server {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn shutdown_handle(&self) -> io::Result<ShutdownHandle> {
        Ok(ShutdownHandle {
            shared: self.shared.clone(),
            addr: self.local_addr()?,
        })
    }

    /// Accepts connections until shut down, then waits up to the grace period for in-flight
    /// requests.
    pub fn run(self) -> io::Result<()> {
        let shared = &self.shared;
        for conn in self.listener.incoming() {
            if shared.ctx.shutdown.is_started() {
                break;
            }
            let stream = match conn {
                Ok(stream) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on the error
                    error!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let Ok(peer) = stream.peer_addr() else {
                continue;
            };
            if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.max_connections {
                shared.active.fetch_sub(1, Ordering::SeqCst);
                warn!(
                    "{peer}: refused, {} connections open",
                    shared.max_connections
                );
                refuse(stream);
                continue;
            }
            dispatch(shared, (stream, peer));
        }
        drop(self.listener);
        info!(
            "shutting down: waiting for {} connections",
            shared.active.load(Ordering::SeqCst)
        );
        let deadline = Instant::now() + shared.shutdown_grace;
        while shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let left = shared.active.load(Ordering::SeqCst);
        if left > 0 {
            warn!("grace period over with {left} connections still open");
        }
        Ok(())
    }
}

/// 503 for a connection over the cap, then close.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let body = "too many connections, try again later\n";
    let _ = write!(
        stream,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Hands the connection to a parked thread, or starts a new one.
fn dispatch(shared: &Arc<Shared>, mut job: Job) {
    while let Some((_, sender)) = shared.parked.lock().expect("pool lock").pop() {
        match sender.send(job) {
            Ok(()) => return,
            // that thread exited in between; try the next
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    let worker_shared = shared.clone();
    let spawned = thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || worker(&worker_shared, job));
    if let Err(e) = spawned {
        // the job went down with the closure: its socket is closed, which the client sees
        shared.active.fetch_sub(1, Ordering::SeqCst);
        error!("cannot start a connection thread: {e}");
    }
}

/// Serves connections one after another: the first, then whatever `dispatch` hands over
/// while parked.
fn worker(shared: &Shared, first: Job) {
    let id = shared.next_thread.fetch_add(1, Ordering::Relaxed);
    let (sender, receiver) = mpsc::sync_channel::<Job>(1);
    let mut buffers = Buffers::default();
    let mut job = first;
    loop {
        let (stream, peer) = job;
        let served = catch_unwind(AssertUnwindSafe(|| {
            connection::serve(stream, peer, &shared.ctx, &mut buffers);
        }));
        if served.is_err() {
            error!("{peer}: connection thread panicked; connection dropped");
            buffers = Buffers::default();
        }
        shared.active.fetch_sub(1, Ordering::SeqCst);
        if shared.ctx.shutdown.is_started() {
            return;
        }
        shared
            .parked
            .lock()
            .expect("pool lock")
            .push((id, sender.clone()));
        job = match receiver.recv_timeout(PARKED_THREAD_TIMEOUT) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut parked = shared.parked.lock().expect("pool lock");
                if let Some(i) = parked.iter().position(|(other, _)| *other == id) {
                    parked.swap_remove(i);
                    debug!("parked thread exits after {PARKED_THREAD_TIMEOUT:?} unused");
                    return;
                }
                drop(parked);
                // dispatch took our sender just now: its job is on the way
                match receiver.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
    }
}
