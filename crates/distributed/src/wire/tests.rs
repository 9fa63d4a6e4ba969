//! The decoder against arbitrary bytes, and handshakes that must fail.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Decoder;

use super::*;
use crate::messages::{Msg, Role};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes into the frame decoder and the message decoder:
    /// never a panic, and the buffer never grows past the frame limit (a
    /// length prefix over the limit is an error before any allocation).
    #[test]
    fn arbitrary_bytes_never_panic_nor_allocate_without_bound(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let limit = 1024;
        let mut codec = codec(limit);
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    prop_assert!(frame.len() <= limit);
                    let _ = postcard::from_bytes::<Msg>(&frame);
                }
                Ok(None) => break,
                Err(_) => break,
            }
            prop_assert!(buf.capacity() <= bytes.len().max(limit) + 8);
        }
    }

    /// Every message reads back as itself.
    #[test]
    fn messages_round_trip(comp in any::<u64>(), ids in proptest::collection::vec(any::<u32>(), 0..50)) {
        let m = Msg::Release { comp, ids: ids.clone() };
        let back: Msg = postcard::from_bytes(&postcard::to_stdvec(&m).unwrap()).unwrap();
        let Msg::Release { comp: c, ids: i } = back else { panic!("another variant") };
        prop_assert_eq!((c, i), (comp, ids));
    }
}

/// The messages of futures, scatter and retries from arbitrary fields.
fn new_messages() -> impl Strategy<Value = Msg> {
    use crate::messages::{DepAt, External, Failure, RunTask};
    let ext = (any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(id, comp, task)| External {
        id,
        comp,
        task,
    });
    let dep = (
        any::<u32>(),
        proptest::option::of(".{0,12}"),
        proptest::option::of((any::<u64>(), any::<u32>())),
    )
        .prop_map(|(id, at, from)| DepAt { id, at, from });
    let pairs = proptest::collection::vec((any::<u32>(), ".{0,8}"), 0..6);
    prop_oneof![
        (
            any::<u64>(),
            proptest::collection::vec(ext, 0..6),
            any::<bool>(),
            any::<bool>(),
            any::<u32>()
        )
            .prop_map(|(comp, externals, hold, send, retries)| Msg::Submit {
                comp,
                deps: vec![vec![]; externals.len()],
                priority: vec![0; externals.len()],
                outputs: vec![],
                externals,
                hold,
                send,
                retries,
            }),
        (
            any::<u64>(),
            proptest::collection::vec(".{0,8}", 0..6),
            any::<bool>()
        )
            .prop_map(|(comp, codecs, broadcast)| Msg::Scatter {
                comp,
                codecs,
                broadcast
            }),
        (any::<u64>(), any::<u32>(), pairs).prop_map(|(comp, n, items)| Msg::Store {
            comp,
            n,
            items
        }),
        (
            any::<u64>(),
            proptest::collection::vec((any::<u32>(), any::<u64>()), 0..6)
        )
            .prop_map(|(comp, items)| Msg::Stored { comp, items }),
        (any::<u64>(), proptest::collection::vec(dep, 0..6)).prop_map(|(comp, deps)| Msg::Run {
            comp,
            tasks: vec![RunTask {
                id: 1,
                priority: 2,
                deps,
                keep: true,
                output: false
            }],
        }),
        (any::<u64>(), any::<u32>(), ".{0,20}").prop_map(|(comp, task, reason)| Msg::Failed {
            comp,
            failure: Failure::Lost { task, reason },
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The new messages read back as themselves and announce as many data
    /// frames as they carry items; any prefix of, or garbage after, an
    /// encoding decodes to an error or a message, never a panic.
    #[test]
    fn new_messages_round_trip_and_survive_mangling(m in new_messages(), cut in any::<prop::sample::Index>(), junk in proptest::collection::vec(any::<u8>(), 0..64)) {
        let bytes = postcard::to_stdvec(&m).unwrap();
        let back: Msg = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(format!("{back:?}"), format!("{m:?}"));
        let frames = match &m {
            Msg::Scatter { codecs, .. } => codecs.len(),
            Msg::Store { items, .. } => items.len(),
            Msg::Submit { .. } => 1,
            _ => 0,
        };
        prop_assert_eq!(m.data_frames(), frames);
        let _ = postcard::from_bytes::<Msg>(&bytes[..cut.index(bytes.len() + 1)]);
        let mut mangled = bytes.clone();
        mangled.extend_from_slice(&junk);
        let at = cut.index(mangled.len());
        mangled[at] ^= 0x5a;
        let _ = postcard::from_bytes::<Msg>(&mangled);
    }
}

#[test]
fn a_huge_length_prefix_is_refused_before_allocating() {
    let mut codec = codec(HANDSHAKE_FRAME_LIMIT);
    let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
    assert!(codec.decode(&mut buf).is_err());
    assert!(buf.capacity() < 1024);
}

async fn raw_then_accept(bytes: Vec<u8>, token: &str) -> Result<Accepted> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let send = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        // Hold the socket open until the other side has decided.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    });
    let (stream, _) = listener.accept().await.unwrap();
    let r = accept(stream, token, DEFAULT_FRAME_LIMIT, None).await;
    send.abort();
    r
}

fn framed(msg: &Msg) -> Vec<u8> {
    let body = postcard::to_stdvec(msg).unwrap();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn hello(protocol: u32, token: &str) -> Msg {
    Msg::Hello {
        protocol,
        token: token.into(),
        role: Role::Client,
    }
}

#[test]
fn handshakes_are_checked() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = |r: Result<Accepted>| r.err().expect("refused").to_string();
        // Garbage.
        let e = err(raw_then_accept(vec![0, 0, 0, 3, 0xff, 0xff, 0xff], "").await);
        assert!(e.contains("garbage"), "{e}");
        // Oversized first frame.
        let e = err(raw_then_accept(vec![0x7f, 0, 0, 0, 1], "").await);
        assert!(e.contains("frame"), "{e}");
        // Wrong version.
        let e = err(raw_then_accept(framed(&hello(PROTOCOL_VERSION + 1, "t")), "t").await);
        assert!(e.contains("protocol version"), "{e}");
        // Wrong token.
        let e = err(raw_then_accept(framed(&hello(PROTOCOL_VERSION, "x")), "t").await);
        assert!(e.contains("wrong token"), "{e}");
        // Not a Hello.
        let e = err(raw_then_accept(framed(&Msg::Welcome), "").await);
        assert!(e.contains("expected a handshake"), "{e}");
        // The right one.
        assert!(
            raw_then_accept(framed(&hello(PROTOCOL_VERSION, "t")), "t")
                .await
                .is_ok()
        );
    });
}

#[test]
#[ignore = "a measurement: cargo test --release -p oxidask-distributed -- --ignored wire_speed --nocapture"]
fn wire_speed() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let payload = bytes::Bytes::from(vec![7u8; 64 << 20]);
        let p2 = payload.clone();
        // The sender on a thread of its own, as another process would be.
        let send = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let (_r, mut w) = split(s).unwrap();
                for _ in 0..5 {
                    w.msg(&Msg::Data { codec: "x".into() }, std::slice::from_ref(&p2))
                        .await
                        .unwrap();
                    w.flush().await.unwrap();
                }
            })
        });
        let (s, _) = listener.accept().await.unwrap();
        let (mut r, _w) = split(s).unwrap();
        r.set_limit(DEFAULT_FRAME_LIMIT);
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let (_, data) = r.msg().await.unwrap().unwrap();
            let e = t.elapsed();
            assert_eq!(data[0].len(), payload.len());
            eprintln!(
                "64 MiB frame in {:?}: {:.2} GB/s",
                e,
                (64 << 20) as f64 / e.as_secs_f64() / 1e9
            );
        }
        send.join().unwrap();
    });
}

/// A connected pair of frame halves over loopback (no handshake).
async fn pair(limit: usize) -> ((FrameReader, FrameWriter), (FrameReader, FrameWriter)) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (mut ra, wa) = split(a.unwrap()).unwrap();
    let (mut rb, wb) = split(b.unwrap().0).unwrap();
    ra.set_limit(limit);
    rb.set_limit(limit);
    ((ra, wa), (rb, wb))
}

#[tokio::test]
async fn data_frames_read_into_a_reused_buffer_keep_the_stream_in_step() {
    let ((_ra, mut wa), (mut rb, _wb)) = pair(8 << 20).await;
    // Sizes around the reader's 64 KiB buffer, an empty frame, and a
    // frame larger than any buffer.
    let sizes = [0usize, 1, 3, 65_535, 65_536, 65_537, 200_000, 5 << 20];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| (i * 31 + k) as u8).collect())
        .collect();
    let sent = frames.clone();
    let writer = tokio::spawn(async move {
        for (k, f) in sent.iter().enumerate() {
            let msg = Msg::Data {
                codec: format!("c{k}"),
            };
            wa.msg(&msg, &[Bytes::from(f.clone())]).await.unwrap();
            // A message without data frames between, read by `msg`.
            wa.msg(&Msg::NoData, &[]).await.unwrap();
        }
        wa.flush().await.unwrap();
        wa
    });
    let mut buf = Vec::new();
    for (k, f) in frames.iter().enumerate() {
        let Some(Msg::Data { codec }) = rb.head().await.unwrap() else {
            panic!("expected Data")
        };
        assert_eq!(codec, format!("c{k}"));
        rb.frame_into(&mut buf).await.unwrap();
        assert_eq!(&buf, f, "frame {k}");
        assert!(matches!(rb.msg().await.unwrap(), Some((Msg::NoData, _))));
    }
    assert!(buf.capacity() >= 5 << 20, "the buffer keeps its capacity");
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn a_data_frame_over_the_limit_or_cut_short_is_an_error() {
    let ((_ra, mut wa), (mut rb, _wb)) = pair(1024).await;
    // A length prefix over the limit.
    wa.frame(&[0u8; 2048]).await.unwrap();
    wa.flush().await.unwrap();
    let mut buf = Vec::new();
    let e = rb.frame_into(&mut buf).await.unwrap_err().to_string();
    assert!(e.contains("2048") && e.contains("1024"), "{e}");
    assert!(buf.capacity() < 2048, "nothing was allocated for it");
    // A stream that ends inside a frame.
    let ((_ra, mut wa), (mut rb, _wb)) = pair(1 << 20).await;
    wa.frame(&[]).await.unwrap();
    let mut raw = 1000u32.to_be_bytes().to_vec();
    raw.extend_from_slice(&[7u8; 10]);
    wa.inner.write_all(&raw).await.unwrap();
    wa.flush().await.unwrap();
    drop(wa);
    rb.frame_into(&mut buf).await.unwrap();
    assert!(buf.is_empty());
    let e = rb.frame_into(&mut buf).await.unwrap_err().to_string();
    assert!(e.contains("ended"), "{e}");
}
