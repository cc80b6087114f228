//! Binding, the threads, the connection cap and graceful shutdown. One connection per thread:
//! idle threads wait in `accept()` on the shared listener themselves, so a new connection wakes
//! exactly one thread (the kernel wakes one waiter per connection), with no handoff. When the
//! last waiter accepts, it starts a thread for that connection and goes on waiting.

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use socket2::{Domain, SockRef, Socket, Type};

use crate::config::{Config, Limits};
use crate::files::FileRoot;
use crate::http::transfer::is_timeout;
use crate::net::clients::ClientCounts;
use crate::net::connection::{self, Buffers, Context};
use crate::net::descriptors::{DescriptorCaps, FailureLog, backoff, is_exhaustion};
use crate::net::shutdown::ShutdownSignal;
use crate::net::tls::TlsFiles;
use crate::security::auth::Accounts;

/// Pending connections the kernel queues for us; std's 128 overflows when hundreds of clients
/// connect at once, and each overflow costs a client a 1 s SYN retry.
const LISTEN_BACKLOG: i32 = 4096;
/// Stack of a connection thread. Only touched pages cost memory, so this is a ceiling, not a
/// cost; deflate and sha-256 state live on the heap.
const THREAD_STACK_BYTES: usize = 256 * 1024;
/// An idle thread with no new connection for this long exits, unless it is the last one. It
/// notices when its `accept()` times out, that is after the idle timeout (the listener's read
/// timeout, there for accepted sockets to inherit): a longer idle timeout keeps it longer.
const IDLE_THREAD_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound server, ready to `run`.
pub struct Server {
    shared: Arc<Shared>,
}

struct Shared {
    listener: TcpListener,
    ctx: Context,
    max_connections: usize,
    /// Connections being served, by client.
    clients: ClientCounts,
    shutdown_grace: Duration,
    /// Connections being served.
    active: AtomicUsize,
    /// Threads waiting in `accept()`, or about to. Never brought to 0 by a thread exiting:
    /// only by one that takes a connection, and that one starts the next waiter.
    idle: AtomicUsize,
    /// Most threads waiting at once: each holds a descriptor (`descriptors.rs`).
    max_idle: usize,
    /// `accept()` failures, logged once per interval.
    accept_failures: FailureLog,
    idle_thread_timeout: Duration,
    /// Set once the shutdown has started; `run` waits on it.
    stopping: (Mutex<bool>, Condvar),
    /// Tests: how many more threads may be started, to see a start failure.
    #[cfg(test)]
    thread_budget: AtomicUsize,
}

/// Stops a running server from another thread (a signal handler thread, a test).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Stops accepting, wakes idle connections so that they close, and lets `run` return once
    /// in-flight requests are done (or the grace period is over).
    pub fn shutdown(&self) {
        let shared = &self.shared;
        if shared.ctx.shutdown.is_started() {
            return;
        }
        shared.ctx.shutdown.start();
        // Linux: shutting a listening socket down ends every accept() waiting on it, and any
        // later one, with EINVAL; new connection attempts are refused
        let _ = SockRef::from(&shared.listener).shutdown(std::net::Shutdown::Read);
        *shared.stopping.0.lock().expect("stopping lock") = true;
        shared.stopping.1.notify_all();
    }
}

/// What the server runs beside its configuration: the accounts behind `Authorization` and the
/// TLS certificate, both reloaded on SIGHUP by whoever keeps the other handle.
#[derive(Debug, Default)]
pub struct Services {
    pub accounts: Option<Arc<Accounts>>,
    pub tls: Option<Arc<TlsFiles>>,
}

/// Why `bind` failed: which of its two jobs, on what, and the system's reason (`source`).
#[derive(Debug)]
pub enum BindError {
    /// The directory to serve cannot be opened, or is not a directory.
    Directory { path: PathBuf, source: io::Error },
    /// The listening socket cannot be made.
    Listen { addr: SocketAddr, source: io::Error },
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Directory { path, .. } => write!(f, "directory {}", path.display()),
            BindError::Listen { addr, .. } => write!(f, "cannot listen on {addr}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::Directory { source, .. } | BindError::Listen { source, .. } => Some(source),
        }
    }
}

/// Binds the listening socket and canonicalises the file root.
pub fn bind(config: Config, services: Services) -> Result<Server, BindError> {
    let files = match &config.directory {
        Some(dir) => Some(
            FileRoot::new(dir, config.dot_files)
                .and_then(|root| crate::serve::resumable::start(dir, &config.limits).map(|()| root))
                .map_err(|source| BindError::Directory {
                    path: dir.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    let socket =
        listening_socket(config.addr, &config.limits).map_err(|source| BindError::Listen {
            addr: config.addr,
            source,
        })?;
    let accepted_inherit_options = inherits_options(config.addr, &config.limits);
    if !accepted_inherit_options {
        debug!("accepted sockets do not inherit the listener's options; setting them each time");
    }
    let ctx = Context {
        accepted_inherit_options,
        limits: config.limits,
        files,
        shutdown: ShutdownSignal::default(),
        policy: config.policy,
        accounts: services.accounts,
        tls: services.tls,
        date: config.date,
    };
    let caps = DescriptorCaps::current();
    let max_connections = config.max_connections.min(caps.max_connections);
    if max_connections < config.max_connections {
        info!("at most {max_connections} connections at once: the open-files limit allows no more");
    }
    let shared = Shared {
        listener: socket.into(),
        ctx,
        max_connections,
        clients: ClientCounts::new(config.max_connections_per_client),
        shutdown_grace: config.shutdown_grace,
        active: AtomicUsize::new(0),
        idle: AtomicUsize::new(0),
        max_idle: caps.max_idle,
        accept_failures: FailureLog::default(),
        idle_thread_timeout: IDLE_THREAD_TIMEOUT,
        stopping: (Mutex::new(false), Condvar::new()),
        #[cfg(test)]
        thread_budget: AtomicUsize::new(usize::MAX),
    };
    Ok(Server {
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
        self.shared.listener.local_addr()
    }

    pub fn shutdown_handle(&self) -> io::Result<ShutdownHandle> {
        Ok(ShutdownHandle {
            shared: self.shared.clone(),
        })
    }

    /// Serves connections until shut down, then waits up to the grace period for in-flight
    /// requests. Fails only when not even the first connection thread can be started.
    pub fn run(self) -> io::Result<()> {
        let shared = &self.shared;
        shared.idle.fetch_add(1, Ordering::SeqCst);
        start_thread(shared, None).map_err(|(e, _)| {
            io::Error::new(e.kind(), format!("cannot start a connection thread: {e}"))
        })?;
        let mut stopping = shared.stopping.0.lock().expect("stopping lock");
        while !*stopping {
            stopping = shared.stopping.1.wait(stopping).expect("stopping lock");
        }
        drop(stopping);
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

/// Why a connection is refused before it is served.
const TOO_MANY: &str = "too many connections, try again later\n";
const TOO_MANY_FROM_CLIENT: &str = "too many connections from your address, try again later\n";

/// 503 for a connection over a cap (or one no thread could be started for), then close.
fn refuse(mut stream: TcpStream, body: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = write!(
        stream,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// An accepted connection and its peer.
type Job = (TcpStream, SocketAddr);

/// Starts a connection thread: a waiter (counted in `idle` by the caller), or one that serves
/// `first` and then waits. If no thread can be started, `first` comes back with the error.
fn start_thread(shared: &Arc<Shared>, first: Option<Job>) -> Result<(), (io::Error, Option<Job>)> {
    #[cfg(test)]
    if shared
        .thread_budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_err()
    {
        return Err((io::Error::other("thread budget of the test spent"), first));
    }
    // the job waits in a slot, not in the closure: a closure that cannot run is dropped, and
    // the connection with it
    let slot = Arc::new(Mutex::new(first));
    let thread_slot = slot.clone();
    let worker_shared = shared.clone();
    thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || {
            let first = thread_slot.lock().expect("slot lock").take();
            drop(thread_slot);
            worker(&worker_shared, first);
        })
        .map(drop)
        .map_err(|e| (e, slot.lock().expect("slot lock").take()))
}

/// Serves `first`, if any, then waits in `accept()` and serves the connection it gets, over
/// and over, until the server shuts down or the thread has been idle for
/// `idle_thread_timeout` while others wait too.
///
/// The last waiter does not serve what it accepts: it starts a thread for that connection and
/// goes on waiting, as an accept loop would. A thread that has waited is scheduled promptly
/// when a connection wakes it; a new one waits its turn behind the running ones, and with new
/// threads as the waiters, a burst of 10,000 connections overflowed the accept queue (1 s SYN
/// retries). Once enough threads exist, nothing is handed over.
fn worker(shared: &Arc<Shared>, mut first: Option<Job>) {
    let mut buffers = Buffers::default();
    let mut idle_since = Instant::now();
    loop {
        let (stream, peer) = match first.take() {
            Some(job) => job,
            None => {
                let Some(job) = wait_for_connection(shared, &mut idle_since) else {
                    return;
                };
                job
            }
        };
        let served = catch_unwind(AssertUnwindSafe(|| {
            connection::serve(stream, peer, &shared.ctx, &mut buffers);
        }));
        if served.is_err() {
            error!("{peer}: connection thread panicked; connection dropped");
            buffers = Buffers::default();
        }
        shared.clients.leave(peer.ip());
        shared.active.fetch_sub(1, Ordering::SeqCst);
        if shared.ctx.shutdown.is_started() || !start_waiting_unless_enough(shared) {
            return;
        }
        idle_since = Instant::now();
    }
}

/// Accepts until this thread has a connection to serve (and so is no longer idle), or should
/// exit (`None`: shutdown, idle too long while others wait, or descriptors ran out while
/// others wait: one fewer thread in `accept()` is one more descriptor free).
fn wait_for_connection(shared: &Arc<Shared>, idle_since: &mut Instant) -> Option<Job> {
    let mut exhausted = 0;
    loop {
        let accepted = shared.listener.accept();
        if shared.ctx.shutdown.is_started() {
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        // accept() gives the peer's address: no getpeername per connection
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            // the listener's read timeout (there for accepted sockets to inherit) ends an
            // accept that waited that long: the moment to see whether we are still needed
            Err(e) if is_timeout(&e) => {
                if idle_since.elapsed() >= shared.idle_thread_timeout
                    && stop_waiting_unless_last(shared)
                {
                    debug!("idle thread exits after {:?} unused", idle_since.elapsed());
                    return None;
                }
                continue;
            }
            // a signal, or a client that reset before we took it: try again
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) =>
            {
                continue;
            }
            Err(e) => {
                shared.accept_failures.failed(&e);
                if is_exhaustion(&e) && stop_waiting_unless_last(shared) {
                    return None;
                }
                // the last waiter backs off instead of spinning on the error
                thread::sleep(backoff(exhausted));
                exhausted += 1;
                continue;
            }
        };
        shared.accept_failures.succeeded();
        exhausted = 0;
        if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.max_connections {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            warn!(
                "{peer}: refused, {} connections open",
                shared.max_connections
            );
            refuse(stream, TOO_MANY);
            continue;
        }
        if !shared.clients.admit(peer.ip()) {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            // debug, not warn: one client's flood would otherwise flood the log
            debug!("{peer}: refused, too many connections from this client");
            refuse(stream, TOO_MANY_FROM_CLIENT);
            continue;
        }
        if stop_waiting_unless_last(shared) {
            // others are waiting: serve it ourselves
            return Some((stream, peer));
        }
        // the last waiter: a new thread serves it, and we keep waiting
        if let Err((e, job)) = start_thread(shared, Some((stream, peer))) {
            // the connection no thread could be started for
            shared.active.fetch_sub(1, Ordering::SeqCst);
            shared.clients.leave(peer.ip());
            error!("cannot start a connection thread: {e}");
            if let Some((stream, _)) = job {
                refuse(stream, TOO_MANY);
            }
        }
        *idle_since = Instant::now();
    }
}

/// Counts this thread among the waiters again unless there are enough already (then it
/// should exit). True if it was counted.
fn start_waiting_unless_enough(shared: &Shared) -> bool {
    shared
        .idle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < shared.max_idle).then_some(n + 1)
        })
        .is_ok()
}

/// Takes this thread off the count of waiters unless it is the last one, which must go on
/// waiting in `accept()`. True if it was taken off (and may serve a connection, or exit).
fn stop_waiting_unless_last(shared: &Shared) -> bool {
    shared
        .idle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n > 1).then(|| n - 1)
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn server(idle_timeout: Duration) -> Server {
        bind(
            Config {
                addr: SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
                directory: None,
                max_connections: 100,
                max_connections_per_client: 100,
                shutdown_grace: Duration::from_secs(5),
                date: crate::http::response::DateField::Omit,
                limits: Limits {
                    idle_timeout,
                    ..Limits::default()
                },
                policy: crate::security::access::Policy {
                    bind: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                    ..Default::default()
                },
                dot_files: Default::default(),
            },
            Services::default(),
        )
        .unwrap()
    }

    /// Sends one keep-alive GET and returns the response head.
    fn get(stream: &mut TcpStream) -> String {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /echo/hi HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        let mut byte = [0u8];
        while !response.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed early");
            response.push(byte[0]);
        }
        String::from_utf8(response).unwrap()
    }

    /// Waits (up to 10 s) for `check`, which reads state other threads change.
    fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "never: {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_connection_no_thread_can_be_started_for_gets_503_and_the_waiter_stays() {
        let server = server(Duration::from_secs(60));
        // the first waiter only
        server.shared.thread_budget.store(1, Ordering::SeqCst);
        let addr = server.local_addr().unwrap();
        let handle = server.shutdown_handle().unwrap();
        let running = thread::spawn(move || server.run());
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).unwrap();
            let head = get(&mut stream);
            assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
            assert!(head.contains("Retry-After: 1\r\n"), "{head}");
        }
        assert_eq!(handle.shared.active.load(Ordering::SeqCst), 0);
        assert_eq!(handle.shared.idle.load(Ordering::SeqCst), 1);
        handle.shutdown();
        running.join().unwrap().unwrap();
    }

    #[test]
    fn no_thread_at_all_is_an_error_from_run() {
        let server = server(Duration::from_secs(60));
        server.shared.thread_budget.store(0, Ordering::SeqCst);
        assert!(server.run().is_err());
    }

    #[test]
    fn idle_threads_beyond_one_exit_after_their_timeout() {
        // accept() times out every second, and a thread idle for 1 s may exit
        let mut server = server(Duration::from_secs(1));
        Arc::get_mut(&mut server.shared)
            .unwrap()
            .idle_thread_timeout = Duration::from_secs(1);
        let addr = server.local_addr().unwrap();
        let handle = server.shutdown_handle().unwrap();
        let running = thread::spawn(move || server.run());
        let shared = &handle.shared;
        // three connections at once: three threads serving them, and a fourth waiting
        let mut streams: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for stream in &mut streams {
            assert!(get(stream).starts_with("HTTP/1.1 200 "));
        }
        assert_eq!(shared.active.load(Ordering::SeqCst), 3);
        assert_eq!(shared.idle.load(Ordering::SeqCst), 1);
        drop(streams);
        eventually("all three back to waiting", || {
            shared.active.load(Ordering::SeqCst) == 0 && shared.idle.load(Ordering::SeqCst) == 4
        });
        eventually("all but one idle thread gone", || {
            shared.idle.load(Ordering::SeqCst) == 1
        });
        // and the one left serves
        assert!(get(&mut TcpStream::connect(addr).unwrap()).starts_with("HTTP/1.1 200 "));
        handle.shutdown();
        running.join().unwrap().unwrap();
    }

    #[test]
    fn shutdown_ends_every_waiting_thread_and_refuses_new_connections() {
        let server = server(Duration::from_secs(60));
        let addr = server.local_addr().unwrap();
        let handle = server.shutdown_handle().unwrap();
        let running = thread::spawn(move || server.run());
        let mut streams: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for stream in &mut streams {
            assert!(get(stream).starts_with("HTTP/1.1 200 "));
        }
        drop(streams);
        let shared = handle.shared.clone();
        eventually("all back to waiting", || {
            shared.idle.load(Ordering::SeqCst) == 4
        });
        handle.shutdown();
        running.join().unwrap().unwrap();
        eventually("every waiter gone", || {
            shared.idle.load(Ordering::SeqCst) == 0
        });
        assert!(TcpStream::connect(addr).is_err());
    }
}
