//! TLS with rustls: the server configuration (certificate chain and key from PEM files, TLS 1.2
//! and 1.3, ALPN `http/1.1`, reloading the pair on SIGHUP) and the handshake that starts each
//! session. Nothing else in the crate names rustls except `stream.rs` (the byte stream) and
//! `connection.rs` (which holds the session).
//!
//! The crypto provider is `ring`: it builds from crates alone with a C compiler, where
//! `aws-lc-rs` also wants cmake.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::http::transfer::time_left;
use crate::net::stream::set_socket_read_timeout;

/// A certificate/key pair that cannot be used. `Display` names the file and the problem; the
/// binary, which knows which flag named the file, may say so instead.
#[derive(Debug)]
pub enum TlsError {
    /// The certificate file cannot be read, is not PEM, or holds no certificate.
    Cert { path: PathBuf, problem: PemProblem },
    /// The key file cannot be read, is not PEM, or holds no private key.
    Key { path: PathBuf, problem: PemProblem },
    /// The key does not belong to the certificate.
    Mismatch { cert: PathBuf, key: PathBuf },
    /// rustls refused the pair for another reason.
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        reason: rustls::Error,
    },
    /// rustls refused the protocol versions: not the files' fault.
    Setup(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Cert { path, problem } => {
                write!(f, "certificate {}: {problem}", path.display())
            }
            TlsError::Key { path, problem } => {
                write!(f, "private key {}: {problem}", path.display())
            }
            TlsError::Mismatch { cert, key } => write!(
                f,
                "private key {} does not belong to the certificate {}",
                key.display(),
                cert.display()
            ),
            TlsError::Rejected { cert, key, reason } => write!(
                f,
                "certificate {} / private key {}: {reason}",
                cert.display(),
                key.display()
            ),
            TlsError::Setup(e) => write!(f, "TLS set-up: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// What is wrong with one PEM file.
#[derive(Debug)]
pub enum PemProblem {
    NoCertificate,
    NoPrivateKey,
    /// Unreadable, or not PEM.
    Invalid(pem::Error),
}

impl fmt::Display for PemProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemProblem::NoCertificate => f.write_str("no certificate found in the PEM file"),
            PemProblem::NoPrivateKey => f.write_str("no private key found in the PEM file"),
            PemProblem::Invalid(pem::Error::Io(io)) => write!(f, "{io}"),
            PemProblem::Invalid(e) => write!(f, "not a valid PEM file ({e:?})"),
        }
    }
}

/// The PEM files and the configuration built from them; new connections take the latest.
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFiles")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl TlsFiles {
    pub fn load(cert: &Path, key: &Path) -> Result<TlsFiles, TlsError> {
        Ok(TlsFiles {
            current: RwLock::new(Arc::new(server_config(cert, key)?)),
            cert: cert.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Reads both files again; on failure the pair in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        Ok(())
    }

    /// The configuration for a new connection.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = read_certificates(cert)?;
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        problem: match e {
            pem::Error::NoItemsFound => PemProblem::NoPrivateKey,
            e => PemProblem::Invalid(e),
        },
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            reason => TlsError::Rejected {
                cert: cert.to_owned(),
                key: key.to_owned(),
                reason,
            },
        })?;
    // RFC 7301: we speak HTTP/1.1 only; a client offering just h2 gets an alert
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let describe = |problem| TlsError::Cert {
        path: path.to_owned(),
        problem,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| describe(PemProblem::Invalid(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| describe(PemProblem::Invalid(e)))?;
    if chain.is_empty() {
        return Err(describe(PemProblem::NoCertificate));
    }
    Ok(chain)
}

/// Why a connection on the TLS port did not become a TLS session.
#[derive(Debug)]
pub enum HandshakeError {
    /// The client spoke plain HTTP: it should be told, in plain HTTP, to use https.
    PlainHttp,
    Io(io::Error),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::PlainHttp => f.write_str("plain HTTP on the TLS port"),
            HandshakeError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

/// The server side of the TLS handshake on `tcp`, within `timeout` however slowly the client
/// trickles it. A first byte that cannot start a TLS record but can start an HTTP method is
/// `PlainHttp`, read no further. `read_timeout` is the connection's record of the socket's
/// read timeout (see `stream::set_socket_read_timeout`).
// Not inlined into the connection: its frame (a rustls session is built on the stack before
// it is boxed) would otherwise be reserved on every connection, plain ones too, and an idle
// thread keeps every stack page it has touched.
#[inline(never)]
pub fn handshake(
    tcp: &TcpStream,
    files: &TlsFiles,
    timeout: Duration,
    read_timeout: &mut Option<Duration>,
) -> Result<Box<ServerConnection>, HandshakeError> {
    let deadline = Instant::now() + timeout;
    let mut tls = ServerConnection::new(files.config())
        .map(Box::new)
        .map_err(io::Error::other)?;
    let mut tcp = tcp;
    let mut first = [0u8; 1];
    set_socket_read_timeout(tcp, read_timeout, timeout)?;
    // RFC 8446 §5.1: a TLS record starts with its content type, 22 for a handshake
    if tcp.peek(&mut first)? == 1 && first[0] != 22 && first[0].is_ascii_uppercase() {
        return Err(HandshakeError::PlainHttp);
    }
    while tls.is_handshaking() {
        if tls.wants_write() {
            tls.write_tls(&mut tcp)?;
            continue;
        }
        let Some(left) = time_left(deadline) else {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timed out").into());
        };
        set_socket_read_timeout(tcp, read_timeout, left.max(Duration::from_millis(1)))?;
        if tls.read_tls(&mut tcp)? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        if let Err(e) = tls.process_new_packets() {
            // the alert that says why
            while tls.wants_write() && tls.write_tls(&mut tcp).is_ok() {}
            return Err(io::Error::new(io::ErrorKind::InvalidData, e).into());
        }
    }
    while tls.wants_write() {
        tls.write_tls(&mut tcp)?;
    }
    Ok(tls)
}
