//! The rustls server configuration: certificate chain and key from PEM files, TLS 1.2 and 1.3,
//! ALPN `http/1.1`, and reloading the pair on SIGHUP. Nothing else in the crate names rustls
//! except `stream.rs` (the byte stream) and `connection.rs` (the handshake).
//!
//! The crypto provider is `ring`: it builds from crates alone with a C compiler, where
//! `aws-lc-rs` also wants cmake.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate/key pair that cannot be used, with a message a user can act on.
#[derive(Debug)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

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
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError(format!(
            "--tls-key {}: no private key found in the PEM file",
            key.display()
        )),
        e => TlsError(format!("--tls-key {}: {}", key.display(), pem_error(&e))),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(format!("TLS set-up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError(format!(
                "--tls-key {} does not belong to the certificate in --tls-cert {}",
                key.display(),
                cert.display()
            )),
            e => TlsError(format!(
                "--tls-cert {} / --tls-key {}: {e}",
                cert.display(),
                key.display()
            )),
        })?;
    // RFC 7301: we speak HTTP/1.1 only; a client offering just h2 gets an alert
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let describe = |e: &rustls_pki_types::pem::Error| {
        TlsError(format!("--tls-cert {}: {}", path.display(), pem_error(e)))
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| describe(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| describe(&e))?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "--tls-cert {}: no certificate found in the PEM file",
            path.display()
        )));
    }
    Ok(chain)
}

fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        e => format!("not a valid PEM file ({e:?})"),
    }
}
