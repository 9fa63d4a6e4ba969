//! TLS for traffic between machines: mutual TLS, as Dask's
//! `--tls-ca-file`/`--tls-cert`/`--tls-key`.
//!
//! Every process of a cluster — scheduler, workers, clients — is given the
//! same certificate authority (CA) and a certificate of its own signed by
//! it, with its private key. Each connection is then encrypted, and both
//! ends prove themselves: a listener accepts only peers whose certificate
//! the CA signed, and a connecting side checks that the listener's
//! certificate names the host it dialled (so a certificate must list, as
//! subject alternative names, every host name or IP address peers use to
//! reach that process). The token handshake runs inside the encrypted
//! stream, so tokens never cross in the clear.
//!
//! The files are PEM: the CA file one or more certificates, the certificate
//! file the process's certificate (then any intermediates), the key file
//! its private key (PKCS#8, PKCS#1 or SEC1). rustls with the `ring`
//! provider does the cryptography; TLS 1.2 and 1.3 are accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{Error, Result};

/// The environment variable naming the CA file (all three set, or none).
pub const CA_ENV: &str = "OXIDASK_TLS_CA_FILE";
/// The environment variable naming this process's certificate file.
pub const CERT_ENV: &str = "OXIDASK_TLS_CERT";
/// The environment variable naming this process's private key file.
pub const KEY_ENV: &str = "OXIDASK_TLS_KEY";

/// Where a process finds its TLS material; see the module docs. Give the
/// same `ca_file` to every process of a cluster, and each process a
/// certificate (and key) the CA signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates of the authority every peer's certificate must be
    /// signed by.
    pub ca_file: PathBuf,
    /// PEM certificate chain of this process.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files named by `OXIDASK_TLS_CA_FILE`, `OXIDASK_TLS_CERT` and
    /// `OXIDASK_TLS_KEY`; `None` when none is set, an error naming the
    /// missing ones when only some are.
    pub fn from_env() -> Result<Option<TlsFiles>> {
        TlsFiles::from_vars(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
    }

    fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Option<TlsFiles>> {
        let [ca, cert, key] = [CA_ENV, CERT_ENV, KEY_ENV].map(|n| var(n).map(PathBuf::from));
        TlsFiles::from_parts([ca, cert, key], [CA_ENV, CERT_ENV, KEY_ENV])
    }

    /// The files from the CA file, certificate and key given (or not) by
    /// settings `names` (flags, variables): `None` when none is given, an
    /// error naming the missing ones when only some are.
    pub fn from_parts(parts: [Option<PathBuf>; 3], names: [&str; 3]) -> Result<Option<TlsFiles>> {
        let missing: Vec<&str> = parts
            .iter()
            .zip(names)
            .filter(|(p, _)| p.is_none())
            .map(|(_, n)| n)
            .collect();
        match parts {
            [None, None, None] => Ok(None),
            [Some(ca_file), Some(cert), Some(key)] => Ok(Some(TlsFiles { ca_file, cert, key })),
            _ => Err(Error::Tls(format!(
                "TLS needs {}, {} and {} together; {} not set",
                names[0],
                names[1],
                names[2],
                missing.join(" and ")
            ))),
        }
    }

    /// The environment variables that hand these files to a child process.
    pub fn env(&self) -> [(&'static str, &Path); 3] {
        [
            (CA_ENV, &self.ca_file),
            (CERT_ENV, &self.cert),
            (KEY_ENV, &self.key),
        ]
    }

    /// Reads and checks the files: an error names the file at fault and
    /// why (missing, not PEM, no certificate, a key that does not match).
    pub fn load(&self) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in read_certs(&self.ca_file, "CA")? {
            roots
                .add(cert)
                .map_err(|e| file_error(&self.ca_file, "CA", e))?;
        }
        let roots = Arc::new(roots);
        let certs = read_certs(&self.cert, "certificate")?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| file_error(&self.key, "private key", e))?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| file_error(&self.ca_file, "CA", e))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| self.pair_error(e))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| self.pair_error(e))?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    fn pair_error(&self, e: rustls::Error) -> Error {
        Error::Tls(format!(
            "the certificate {} and the key {} do not go together: {e}",
            self.cert.display(),
            self.key.display()
        ))
    }
}

fn file_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("TLS {what} file {}: {e}", path.display()))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| file_error(path, what, e))?;
    if certs.is_empty() {
        return Err(file_error(path, what, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// Loaded TLS material: what encrypts this process's connections, both the
/// ones it accepts and the ones it makes. Cheap to clone.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The accepting side's TLS handshake.
    pub(crate) async fn accept(
        &self,
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
        self.acceptor.accept(stream).await
    }

    /// The connecting side's TLS handshake with the listener at `addr`
    /// (`host:port`), whose certificate must name `host`.
    pub(crate) async fn connect(
        &self,
        addr: &str,
        stream: tokio::net::TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_string()).map_err(|e| Error::Refused {
            addr: addr.to_string(),
            reason: format!("{host:?} is not a host name TLS can check: {e}"),
        })?;
        self.connector
            .connect(name, stream)
            .await
            .map_err(|e| Error::Refused {
                addr: addr.to_string(),
                reason: format!("TLS handshake failed: {e}"),
            })
    }
}

/// The host part of `host:port` (`[v6]:port` without its brackets).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests;
