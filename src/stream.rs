//! The connection's byte stream, plain or TLS, so that `connection.rs` stays one loop. Plain
//! files go out with `sendfile(2)`; under TLS they must be encrypted in user space, through
//! one heap buffer the thread reuses.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;

use rustix::io::Errno;
use rustix::net::SendFlags;
use rustls::ServerConnection;

use crate::response;

/// Size of the buffer a file passes through under TLS: four full TLS records.
const TLS_FILE_CHUNK_BYTES: usize = 64 * 1024;

/// A borrowed view of one connection's transport.
pub struct Stream<'a> {
    pub tcp: &'a TcpStream,
    /// The TLS session, once its handshake is done.
    pub tls: Option<&'a mut ServerConnection>,
    /// Heap space for files sent under TLS, kept by the thread between responses.
    pub scratch: Option<&'a mut Vec<u8>>,
}

impl<'a> Stream<'a> {
    pub fn new(tcp: &'a TcpStream, tls: Option<&'a mut ServerConnection>) -> Stream<'a> {
        Stream {
            tcp,
            tls,
            scratch: None,
        }
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

impl Read for Stream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut tcp = self.tcp;
        match self.tls.as_deref_mut() {
            None => tcp.read(out),
            Some(tls) => rustls::Stream::new(tls, &mut tcp).read(out),
        }
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
