//! The connection's byte stream, plain or TLS, so that `connection.rs` stays one loop. Plain
//! files go out with `sendfile(2)`; under TLS they must be encrypted in user space, through
//! one heap buffer the thread reuses.
//!
//! Under TLS, reads give up at a deadline, not merely after a quiet spell: a record may reach us
//! a byte at a time, and each byte would restart a plain socket timeout (see `DeadlineSocket`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};
use rustls::ServerConnection;

use crate::http::response;
use crate::http::transfer::time_left;
use crate::net::body_source::Pace;

/// Size of the buffer a file passes through under TLS: four full TLS records.
const TLS_FILE_CHUNK_BYTES: usize = 64 * 1024;
/// The send pace lowers a socket's write timeout only when it would otherwise overshoot the
/// pace's deadline by more than this: one syscall per response saved, the bound a hair looser.
const PACE_SLACK: Duration = Duration::from_millis(250);

/// A borrowed view of one connection's transport.
pub struct Stream<'a> {
    pub tcp: &'a TcpStream,
    /// The TLS session, once its handshake is done.
    pub tls: Option<&'a mut ServerConnection>,
    /// Heap space for files sent under TLS, kept by the thread between responses.
    pub scratch: Option<&'a mut Vec<u8>>,
    /// The socket's read timeout as last set: the connection's record, kept true here.
    read_timeout: &'a mut Option<Duration>,
    /// Under TLS, when the next read gives up; set by `set_read_timeout`.
    deadline: Option<Instant>,
    /// The socket's timeout was just set to the time left before `deadline`.
    timeout_fresh: bool,
    /// While a response is sent: the minimum send rate it is held to (`pace_sends`).
    send_pace: Option<SendPace>,
}

/// A response's minimum send rate, and the socket's write timeout as last set for it.
struct SendPace {
    pace: Pace,
    write_timeout: Duration,
}

impl<'a> Stream<'a> {
    /// `read_timeout` is the connection's record of the socket's read timeout.
    pub fn new(
        tcp: &'a TcpStream,
        tls: Option<&'a mut ServerConnection>,
        read_timeout: &'a mut Option<Duration>,
    ) -> Stream<'a> {
        Stream {
            tcp,
            tls,
            scratch: None,
            read_timeout,
            deadline: None,
            timeout_fresh: false,
            send_pace: None,
        }
    }

    /// Holds the writes from now on to `pace`: each partial write or `sendfile` shortens the
    /// socket's write timeout to what the rate leaves, instead of waiting a whole timeout
    /// again. The socket's write timeout must be the pace's io timeout now; `end_pace` puts
    /// it back.
    pub fn pace_sends(&mut self, pace: Pace) {
        let write_timeout = pace.io_timeout();
        self.send_pace = Some(SendPace {
            pace,
            write_timeout,
        });
    }

    /// Ends `pace_sends`, giving the socket back its io timeout if the pace had lowered it.
    pub fn end_pace(&mut self) {
        if let Some(paced) = self.send_pace.take()
            && paced.write_timeout != paced.pace.io_timeout()
        {
            let _ = self.tcp.set_write_timeout(Some(paced.pace.io_timeout()));
        }
    }

    /// Before a write: fails once the response is late, else sets the write timeout to what
    /// is left (no syscall while it is the whole io timeout).
    fn before_write(&mut self) -> io::Result<()> {
        let Some(paced) = self.send_pace.as_mut() else {
            return Ok(());
        };
        let wait = paced.pace.wait()?;
        if wait > paced.write_timeout || paced.write_timeout > wait + PACE_SLACK {
            self.tcp.set_write_timeout(Some(wait))?;
            paced.write_timeout = wait;
        }
        Ok(())
    }

    fn sent(&mut self, n: usize) {
        if let Some(paced) = self.send_pace.as_mut() {
            paced.pace.count(n);
        }
    }

    /// Makes the next read fail (`WouldBlock` or `TimedOut`) once `timeout` has passed with no
    /// data for the caller. On a plain stream this is the socket's read timeout, and costs no
    /// syscall when it is unchanged. Under TLS it is also a deadline that holds however slowly
    /// a record trickles in.
    pub fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        set_socket_read_timeout(self.tcp, self.read_timeout, timeout)?;
        if self.tls.is_some() {
            self.deadline = Some(Instant::now() + timeout);
            self.timeout_fresh = true;
        }
        Ok(())
    }

    /// Sends TLS `close_notify` (RFC 8446 §6.1) so that the client can tell our close from a
    /// truncation; nothing on a plain stream.
    pub fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            let mut tcp = self.tcp;
            while tls.wants_write() {
                if tls.write_tls(&mut tcp).is_err() {
                    break;
                }
            }
        }
    }
}

/// Whether the peer has closed or reset the connection, asked without waiting and without
/// taking any byte. A client that only half-closed after its request counts as gone too: few
/// do, and work done for it (a whole file's digest) would otherwise go on for nobody (nginx
/// takes an end of input as the client's abort too).
pub fn peer_has_left(tcp: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match rustix::net::recv(tcp, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((0, _)) => true,
        Ok(_) | Err(Errno::AGAIN | Errno::INTR) => false,
        Err(_) => true,
    }
}

/// Sets `tcp`'s read timeout unless `current`, the record of the last one set, says it is
/// already that; keeps the record true.
pub fn set_socket_read_timeout(
    tcp: &TcpStream,
    current: &mut Option<Duration>,
    timeout: Duration,
) -> io::Result<()> {
    if *current != Some(timeout) {
        tcp.set_read_timeout(Some(timeout))?;
        *current = Some(timeout);
    }
    Ok(())
}

impl Read for Stream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut tcp = self.tcp;
        match self.tls.as_deref_mut() {
            None => tcp.read(out),
            Some(tls) => {
                let mut socket = DeadlineSocket {
                    tcp,
                    deadline: self.deadline,
                    timeout_fresh: &mut self.timeout_fresh,
                    read_timeout: self.read_timeout,
                };
                rustls::Stream::new(tls, &mut socket).read(out)
            }
        }
    }
}

/// The socket as rustls reads it. `rustls::Stream::read` reads the socket until a whole record
/// decrypts, and a record sent a byte at a time would restart the socket's timeout with every
/// byte (a thread held forever by one slow client). So before each socket read, bar one that
/// `Stream::set_read_timeout` has just timed, the timeout is lowered to what is left before the
/// deadline, and once nothing is left the read fails with `TimedOut`.
struct DeadlineSocket<'s> {
    tcp: &'s TcpStream,
    deadline: Option<Instant>,
    timeout_fresh: &'s mut bool,
    read_timeout: &'s mut Option<Duration>,
}

impl Read for DeadlineSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline
            && !std::mem::take(self.timeout_fresh)
        {
            let Some(left) = time_left(deadline) else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "read deadline passed",
                ));
            };
            // round up so that the last read does not wake a hair early
            let timeout = left.max(Duration::from_millis(1));
            set_socket_read_timeout(self.tcp, self.read_timeout, timeout)?;
        }
        let mut tcp = self.tcp;
        tcp.read(buf)
    }
}

impl Write for DeadlineSocket<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut tcp = self.tcp;
        tcp.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.before_write()?;
        let mut tcp = self.tcp;
        let n = match self.tls.as_deref_mut() {
            None => tcp.write(data),
            Some(tls) => rustls::Stream::new(tls, &mut tcp).write(data),
        }?;
        self.sent(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut tcp = self.tcp;
        match self.tls.as_deref_mut() {
            None => Ok(()),
            Some(tls) => rustls::Stream::new(tls, &mut tcp).flush(),
        }
    }
}

impl response::Sink for Stream<'_> {
    fn send_file(&mut self, head: &[u8], file: &File, start: u64, len: u64) -> io::Result<u64> {
        if self.tls.is_none() {
            return self.send_file_plain(head, file, start, len);
        }
        self.write_all(head)?;
        let mut scratch = self.scratch.take();
        let mut own = Vec::new();
        let chunk = scratch.as_deref_mut().unwrap_or(&mut own);
        chunk.resize(TLS_FILE_CHUNK_BYTES, 0);
        let mut file = file;
        file.seek(SeekFrom::Start(start))?;
        let mut left = len;
        let result = loop {
            if left == 0 {
                break self.flush().map(|()| len);
            }
            let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match file.read(&mut chunk[..want]) {
                Ok(0) => break Err(response::file_shrank()),
                Ok(n) => {
                    if let Err(e) = self.write_all(&chunk[..n]) {
                        break Err(e);
                    }
                    left -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.scratch = scratch;
        result
    }
}

impl Stream<'_> {
    /// Files go to the socket with `sendfile(2)`: no copy through user space. (std's
    /// `io::copy` from a `File` to a `TcpStream` does not do this here; strace shows 8 KiB
    /// read/write pairs.) The head goes first with `MSG_MORE`, so that head and the start of
    /// the file share packets. Each call is held to the send pace.
    fn send_file_plain(
        &mut self,
        mut head: &[u8],
        file: &File,
        start: u64,
        len: u64,
    ) -> io::Result<u64> {
        let more = if len > 0 {
            SendFlags::MORE
        } else {
            SendFlags::empty()
        };
        while !head.is_empty() {
            self.before_write()?;
            match rustix::net::send(self.tcp, head, SendFlags::NOSIGNAL | more) {
                Ok(n) => {
                    head = &head[n..];
                    self.sent(n);
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut offset = start;
        if self.send_pace.as_ref().is_some_and(|p| p.pace.has_rate()) {
            self.tcp.set_nonblocking(true)?;
            let sent = self.sendfile_from(file, &mut offset, start + len);
            let restored = self.tcp.set_nonblocking(false);
            return sent.and(restored).map(|()| len);
        }
        self.sendfile_from(file, &mut offset, start + len)?;
        Ok(len)
    }

    /// `sendfile` from `offset` to `end`. On a non-blocking socket each wait for room is a
    /// `poll` bounded by the send pace: a blocking `sendfile` goes on for as long as a slow
    /// reader keeps taking a little (the kernel restarts the socket's timeout for each piece
    /// it moves inside one call), so only this bounds a whole response.
    fn sendfile_from(&mut self, file: &File, offset: &mut u64, end: u64) -> io::Result<()> {
        while *offset < end {
            // at most 1 GiB per call; the kernel moves `offset` on
            let count = usize::try_from((end - *offset).min(1 << 30)).expect("fits in usize");
            match rustix::fs::sendfile(self.tcp, file, Some(&mut *offset), count) {
                Ok(0) => return Err(response::file_shrank()),
                Ok(n) => self.sent(n),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => self.wait_for_room()?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Waits until the socket takes more, for as long as the send pace allows.
    fn wait_for_room(&mut self) -> io::Result<()> {
        let wait = match &self.send_pace {
            Some(paced) => paced.pace.wait()?,
            None => return Err(io::ErrorKind::WouldBlock.into()),
        };
        let timeout = Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let mut fds = [PollFd::new(self.tcp, PollFlags::OUT)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing for too long",
            )),
            // an error or hang-up shows in the next sendfile
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
