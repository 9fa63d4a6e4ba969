//! Certificates for TLS tests, made fresh per test (rcgen).

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// PEM files of a test cluster's TLS material, written into one directory:
/// a CA and a certificate it signed for `127.0.0.1` and `localhost` (every
/// process of the test uses that one), and a *stranger*: another CA and a
/// certificate of its own, which the cluster must refuse.
pub struct TestPki {
    /// The cluster's CA certificate.
    pub ca_file: PathBuf,
    /// The cluster's certificate for 127.0.0.1 / localhost.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// Another CA.
    pub stranger_ca_file: PathBuf,
    /// A certificate for 127.0.0.1 / localhost that the other CA signed.
    pub stranger_cert: PathBuf,
    /// Its key.
    pub stranger_key: PathBuf,
}

impl TestPki {
    /// Generates the material into `dir` (which must exist).
    pub fn generate(dir: &Path) -> TestPki {
        let (ca_file, cert, key) = authority_and_leaf(dir, "cluster");
        let (stranger_ca_file, stranger_cert, stranger_key) = authority_and_leaf(dir, "stranger");
        TestPki {
            ca_file,
            cert,
            key,
            stranger_ca_file,
            stranger_cert,
            stranger_key,
        }
    }
}

fn authority_and_leaf(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("oxidask test CA {name}"));
    let ca = ca.self_signed(&ca_key).expect("a self-signed CA");
    let leaf_key = KeyPair::generate().expect("a key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("certificate parameters")
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("a signed certificate");
    let write = |file: &str, pem: String| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, pem).expect("writing a PEM file");
        path
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", leaf.pem()),
        write("key.pem", leaf_key.serialize_pem()),
    )
}
