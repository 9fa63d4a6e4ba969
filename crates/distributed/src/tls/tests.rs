//! TLS: loading the files (and naming the one at fault), and handshakes
//! over loopback — accepted with the cluster's certificates, refused for a
//! peer without TLS or with a certificate another CA signed.

use std::ffi::OsString;

use oxidask_testing::{TempDir, TestPki};

use super::*;
use crate::messages::{Msg, Role};
use crate::wire::{self, Accepted, DEFAULT_FRAME_LIMIT};

fn files(ca: &Path, cert: &Path, key: &Path) -> TlsFiles {
    TlsFiles {
        ca_file: ca.to_path_buf(),
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    }
}

fn cluster(pki: &TestPki) -> TlsFiles {
    files(&pki.ca_file, &pki.cert, &pki.key)
}

fn error_of(r: Result<Tls>) -> String {
    r.expect_err("an error").to_string()
}

#[test]
fn the_environment_gives_all_three_files_or_none() {
    let from = |set: &[&str]| {
        TlsFiles::from_vars(|name| {
            set.contains(&name)
                .then(|| OsString::from(format!("/pki/{name}")))
        })
    };
    assert_eq!(from(&[]).unwrap(), None);
    let all = from(&[CA_ENV, CERT_ENV, KEY_ENV]).unwrap().unwrap();
    assert_eq!(all.ca_file, Path::new("/pki/OXIDASK_TLS_CA_FILE"));
    assert_eq!(all.key, Path::new("/pki/OXIDASK_TLS_KEY"));
    let e = from(&[CA_ENV]).unwrap_err().to_string();
    assert!(e.contains(CERT_ENV) && e.contains(KEY_ENV), "{e}");
    assert!(!e.contains(&format!("{CA_ENV} and")), "{e}");
    assert_eq!(host_of("10.0.0.5:8786"), "10.0.0.5");
    assert_eq!(host_of("[::1]:8786"), "::1");
    assert_eq!(host_of("node-3.cluster:8786"), "node-3.cluster");
}

#[test]
fn bad_files_are_named() {
    let dir = TempDir::new("tls-files");
    let pki = TestPki::generate(dir.path());
    assert!(cluster(&pki).load().is_ok());
    // Missing.
    let missing = dir.path().join("nowhere.pem");
    let e = error_of(files(&missing, &pki.cert, &pki.key).load());
    assert!(e.contains("CA file") && e.contains("nowhere.pem"), "{e}");
    // Not PEM.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = error_of(files(&pki.ca_file, &junk, &pki.key).load());
    assert!(
        e.contains("certificate file") && e.contains("junk.pem"),
        "{e}"
    );
    let e = error_of(files(&pki.ca_file, &pki.cert, &junk).load());
    assert!(
        e.contains("private key file") && e.contains("junk.pem"),
        "{e}"
    );
    // A key of another certificate.
    let e = error_of(files(&pki.ca_file, &pki.cert, &pki.stranger_key).load());
    assert!(
        e.contains("do not go together") && e.contains("stranger-key.pem"),
        "{e}"
    );
}

/// Runs one handshake over loopback: a listener with `server` TLS (or
/// none) accepting one connection from a client with `client` TLS (or
/// none); both sides' results.
async fn handshake(
    server: Option<Tls>,
    client: Option<Tls>,
) -> (
    crate::Result<Accepted>,
    crate::Result<(wire::FrameReader, wire::FrameWriter)>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepting = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        wire::accept(stream, "t", DEFAULT_FRAME_LIMIT, server.as_ref()).await
    });
    let connected = wire::connect(
        &addr,
        "t",
        Role::Client,
        DEFAULT_FRAME_LIMIT,
        client.as_ref(),
    )
    .await;
    (accepting.await.unwrap(), connected)
}

#[tokio::test]
async fn connections_are_encrypted_and_strangers_refused() {
    let dir = TempDir::new("tls-handshake");
    let pki = TestPki::generate(dir.path());
    let ours = cluster(&pki).load().unwrap();

    // Both sides with the cluster's certificates: messages and a large
    // data frame cross.
    let (accepted, connected) = handshake(Some(ours.clone()), Some(ours.clone())).await;
    let mut accepted = accepted.unwrap();
    let (mut r, mut w) = connected.unwrap();
    assert!(matches!(accepted.role, Role::Client));
    let big = bytes::Bytes::from(vec![9u8; 3 << 20]);
    w.msg(&Msg::Data { codec: "x".into() }, std::slice::from_ref(&big))
        .await
        .unwrap();
    w.flush().await.unwrap();
    let (msg, data) = accepted.reader.msg().await.unwrap().unwrap();
    assert!(matches!(msg, Msg::Data { .. }));
    assert_eq!(data[0], big);
    accepted.writer.msg(&Msg::Welcome, &[]).await.unwrap();
    accepted.writer.flush().await.unwrap();
    assert!(matches!(r.msg().await.unwrap(), Some((Msg::Welcome, _))));

    // A client without TLS: the listener drops it, saying why.
    let (accepted, connected) = handshake(Some(ours.clone()), None).await;
    let e = accepted.err().expect("refused").to_string();
    assert!(e.contains("TLS handshake failed"), "{e}");
    assert!(connected.is_err());

    // A client whose certificate another CA signed.
    let stranger = files(&pki.stranger_ca_file, &pki.stranger_cert, &pki.stranger_key)
        .load()
        .unwrap();
    let (accepted, connected) = handshake(Some(ours.clone()), Some(stranger.clone())).await;
    assert!(accepted.is_err());
    let e = connected.err().expect("refused").to_string();
    assert!(
        e.contains("refused the connection") && e.contains("TLS"),
        "{e}"
    );

    // A listener whose certificate another CA signed: the client refuses it.
    let (_, connected) = handshake(Some(stranger), Some(ours.clone())).await;
    let e = connected.err().expect("refused").to_string();
    assert!(e.contains("TLS handshake failed"), "{e}");

    // A TLS client at a listener without TLS.
    let (accepted, connected) = handshake(None, Some(ours)).await;
    assert!(accepted.is_err());
    assert!(connected.is_err());
}
