//! Binding, the accept loop, and the threads: one connection per thread, with finished threads
//! parked for the next connection. Also the connection cap and graceful shutdown.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use socket2::{Domain, Socket, Type};

use crate::config::{Config, Limits};
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
    let socket = listening_socket(config.addr, &config.limits)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.addr)))?;
    let accepted_inherit_options = inherits_options(config.addr, &config.limits);
    if !accepted_inherit_options {
        debug!("accepted sockets do not inherit the listener's options; setting them each time");
    }
    let ctx = Context {
        accepted_inherit_options,
        limits: config.limits,
        files,
        shutdown: ShutdownSignal::default(),
        date: config.date,
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

/// A listening socket whose options accepted connections inherit on Linux: `TCP_NODELAY`
/// (one write per response: Nagle would hold a small response for the client's delayed ACK)
/// and the idle read and write timeouts. Three system calls fewer per connection.
fn listening_socket(addr: SocketAddr, limits: &Limits) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.set_read_timeout(Some(limits.idle_timeout))?;
    socket.set_write_timeout(Some(limits.io_timeout))?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// Whether this kernel hands the listener's options to accepted sockets, tried on a throwaway
/// loopback listener so that no real client's connection is taken.
fn inherits_options(addr: SocketAddr, limits: &Limits) -> bool {
    let probe = || -> io::Result<bool> {
        let loopback = match addr {
            SocketAddr::V4(_) => SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
            SocketAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
        };
        let listener: TcpListener = listening_socket(loopback, limits)?.into();
        let _client = TcpStream::connect_timeout(&listener.local_addr()?, Duration::from_secs(1))?;
        let (accepted, _) = listener.accept()?;
        Ok(accepted.nodelay()?
            && accepted.read_timeout()? == Some(limits.idle_timeout)
            && accepted.write_timeout()? == Some(limits.io_timeout))
    };
    probe().unwrap_or(false)
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
        loop {
            let accepted = self.listener.accept();
            if shared.ctx.shutdown.is_started() {
                break;
            }
            // accept() gives the peer's address: no getpeername per connection
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                // a signal (our own SIGTERM handler, say): try again, or see the shutdown flag;
                // the listener's read timeout (there for accepted sockets to inherit) also
                // ends an accept that waited that long
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on the error
                    error!("accept failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
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
            // their uploads will not land: leave no temporary behind
            crate::files::remove_unfinished_uploads();
        }
        Ok(())
    }
}

/// 503 for a connection over the cap (or one no thread could be started for), then close.
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
    loop {
        // the pool lock is released before sending
        let parked = shared.parked.lock().expect("pool lock").pop();
        let Some((_, sender)) = parked else { break };
        match sender.send(job) {
            Ok(()) => return,
            // that thread exited in between; try the next
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    // the job goes over the channel, not into the closure: if the thread cannot be started,
    // the connection is still ours to answer
    let (sender, receiver) = mpsc::sync_channel::<Job>(1);
    let worker_shared = shared.clone();
    let spawned = thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || worker(&worker_shared, receiver));
    match spawned {
        Ok(_) => {
            let _ = sender.send(job);
        }
        Err(e) => {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            error!("cannot start a connection thread: {e}");
            refuse(job.0);
        }
    }
}

/// Serves connections one after another: the first, then whatever `dispatch` hands over
/// while parked. Each park makes a fresh channel whose only sender sits in the parked list,
/// so a thread learns that no job will come (a shutdown cleared the list) by disconnection.
fn worker(shared: &Shared, first: Receiver<Job>) {
    let id = shared.next_thread.fetch_add(1, Ordering::Relaxed);
    let mut buffers = Buffers::default();
    let Ok(mut job) = first.recv() else { return };
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
        let (sender, receiver) = mpsc::sync_channel::<Job>(1);
        shared.parked.lock().expect("pool lock").push((id, sender));
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
                // dispatch took our sender just now: its job comes, or the sender is dropped
                match receiver.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
    }
}
