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

use rustix::io::Errno;
use rustix::net::SendFlags;
use rustls::ServerConnection;

use crate::http::response;
use crate::http::transfer::time_left;

/// Size of the buffer a file passes through under TLS: four full TLS records.
const TLS_FILE_CHUNK_BYTES: usize = 64 * 1024;

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
        let mut tcp = self.tcp;
        match self.tls.as_deref_mut() {
            None => tcp.write(data),
            Some(tls) => rustls::Stream::new(tls, &mut tcp).write(data),
        }
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
            return send_file_plain(self.tcp, head, file, start, len);
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

/// Files go to the socket with `sendfile(2)`: no copy through user space. (std's `io::copy`
/// from a `File` to a `TcpStream` does not do this here; strace shows 8 KiB read/write pairs.)
/// The head goes first with `MSG_MORE`, so that head and the start of the file share packets.
fn send_file_plain(
    tcp: &TcpStream,
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
        match rustix::net::send(tcp, head, SendFlags::NOSIGNAL | more) {
            Ok(n) => head = &head[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut offset = start;
    let end = start + len;
    while offset < end {
        // at most 1 GiB per call; the kernel moves `offset` on
        let count = usize::try_from((end - offset).min(1 << 30)).expect("fits in usize");
        match rustix::fs::sendfile(tcp, file, Some(&mut offset), count) {
            Ok(0) => return Err(response::file_shrank()),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(len)
}
