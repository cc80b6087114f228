//! Moving bytes with bounds: the one copy loop (a heap buffer, an exact or a maximum length)
//! and the time helpers that every blocking read and write shares.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The buffer a copy moves bytes through. On the heap: a stack buffer would stay resident in
/// the connection thread's stack.
pub const COPY_CHUNK_BYTES: usize = 64 * 1024;

/// Reads `reader` to its end, or until `limit` bytes, handing each piece to `sink`; returns how
/// many bytes went through. `Interrupted` reads are retried. With `Exact`, ending before
/// `limit` is `UnexpectedEof`.
pub fn copy_with(
    reader: &mut dyn Read,
    limit: Limit,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let (max, exact) = match limit {
        Limit::Exact(n) => (n, true),
        Limit::AtMost(n) => (n, false),
    };
    let mut chunk = vec![0u8; COPY_CHUNK_BYTES.min(usize::try_from(max).unwrap_or(usize::MAX))];
    let mut done = 0u64;
    while done < max {
        let want = chunk
            .len()
            .min(usize::try_from(max - done).unwrap_or(usize::MAX));
        let n = match reader.read(&mut chunk[..want]) {
            Ok(0) if exact => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink(&chunk[..n])?;
        done += n as u64;
    }
    Ok(done)
}

/// How far a bounded copy may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Exactly this many bytes; fewer is an error.
    Exact(u64),
    /// Up to this many, or fewer if the reader ends first.
    AtMost(u64),
}

/// The time left before `deadline`, to set as a socket timeout; `None` once it has passed
/// (std refuses a zero timeout, so the caller must give up instead).
pub fn time_left(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
}

/// Whether a read or write failed because its socket timeout ran out (`EAGAIN` for a socket
/// with a timeout, `ETIMEDOUT` elsewhere).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(input: &[u8], limit: Limit) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        copy_with(&mut &input[..], limit, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .map(|n| {
            assert_eq!(n as usize, out.len());
            out
        })
    }

    #[test]
    fn bounded_copies() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        assert_eq!(copy(&data, Limit::AtMost(u64::MAX)).unwrap(), data);
        assert_eq!(copy(&data, Limit::AtMost(10)).unwrap(), &data[..10]);
        assert_eq!(
            copy(&data, Limit::Exact(100_001)).unwrap(),
            &data[..100_001]
        );
        let short = copy(&data, Limit::Exact(200_001)).unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(copy(b"", Limit::Exact(0)).unwrap(), b"");
    }

    #[test]
    fn timeouts() {
        assert!(is_timeout(&io::ErrorKind::WouldBlock.into()));
        assert!(is_timeout(&io::ErrorKind::TimedOut.into()));
        assert!(!is_timeout(&io::ErrorKind::BrokenPipe.into()));
        assert_eq!(time_left(Instant::now() - Duration::from_millis(1)), None);
        assert!(time_left(Instant::now() + Duration::from_secs(5)) > Some(Duration::from_secs(4)));
    }
}
