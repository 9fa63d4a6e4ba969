//! The wire: length-prefixed frames over TCP, a handshake, control
//! messages and raw data frames.
//!
//! Every frame is a 4-byte big-endian length and that many bytes (read with
//! `tokio-util`'s [`LengthDelimitedCodec`], which refuses a length above
//! its limit before allocating anything). A connection starts with one
//! [`Msg::Hello`] (protocol version, token, role) read under a small limit
//! ([`HANDSHAKE_FRAME_LIMIT`]), so an unauthenticated peer can make the
//! other side allocate at most that much; only after the token checks out
//! is the limit raised to the connection's frame limit. Then control
//! messages ([`Msg`], postcard) follow, each followed by the number of raw
//! data frames it announces ([`Msg::data_frames`]): encoded values travel
//! as those frames, written straight from the codec's buffer, never copied
//! through the serializer. Sockets set `TCP_NODELAY`; a writer queues many
//! frames into one buffer and flushes once, so small messages go out
//! batched. With [`Tls`] given, the connection is TLS first (see
//! [`crate::tls`]) and all of the above runs inside it.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use crate::error::{Error, Result};
use crate::messages::{Msg, Role};
use crate::tls::Tls;

/// The reading half of a connection's byte stream (plain TCP or TLS).
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half.
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// The protocol version; peers of another version are refused. Bump it
/// with any change to the messages' encoding (postcard is not
/// self-describing: an added field shifts every byte after it).
/// 2: `MemoryReport::paused`, `Steal`, `Stolen` and `NotSendable`.
pub const PROTOCOL_VERSION: u32 = 2;

/// The largest frame read before the handshake is done.
pub const HANDSHAKE_FRAME_LIMIT: usize = 64 * 1024;

/// The default largest frame of an authenticated connection (one encoded
/// value, or one control message): 2 GiB.
pub const DEFAULT_FRAME_LIMIT: usize = 2 << 30;

/// How long a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The reading half of a connection: whole frames.
pub struct FrameReader {
    inner: FramedRead<ReadHalf, LengthDelimitedCodec>,
}

/// The writing half of a connection: frames are buffered until [`flush`](FrameWriter::flush).
pub struct FrameWriter {
    inner: BufWriter<WriteHalf>,
}

/// A frame decoder with a size limit (exposed for the fuzz tests).
pub fn codec(limit: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(limit)
        .new_codec()
}

/// Splits a connected socket into frame halves, with `TCP_NODELAY` set and
/// the handshake's frame limit.
pub fn split(stream: TcpStream) -> io::Result<(FrameReader, FrameWriter)> {
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok(frames(Box::new(r), Box::new(w)))
}

fn frames(r: ReadHalf, w: WriteHalf) -> (FrameReader, FrameWriter) {
    (
        FrameReader {
            inner: FramedRead::with_capacity(r, codec(HANDSHAKE_FRAME_LIMIT), 64 * 1024),
        },
        FrameWriter {
            inner: BufWriter::with_capacity(256 * 1024, w),
        },
    )
}

/// Frame halves of a TLS stream (whose two directions share one session,
/// so they are split behind a lock).
fn split_tls<S>(stream: S) -> (FrameReader, FrameWriter)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    frames(Box::new(r), Box::new(w))
}

impl FrameReader {
    /// The next frame, `None` at a clean end of the stream.
    pub async fn frame(&mut self) -> Result<Option<BytesMut>> {
        match self.inner.next().await {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(Error::Protocol(format!("reading a frame: {e}"))),
        }
    }

    /// The next control message and its data frames; `None` at the end of
    /// the stream.
    pub async fn msg(&mut self) -> Result<Option<(Msg, Vec<Bytes>)>> {
        let Some(frame) = self.frame().await? else {
            return Ok(None);
        };
        let msg: Msg = postcard::from_bytes(&frame)
            .map_err(|e| Error::Protocol(format!("not a message ({} bytes): {e}", frame.len())))?;
        let n = msg.data_frames();
        let mut data = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            match self.frame().await? {
                Some(f) => data.push(f.freeze()),
                None => {
                    return Err(Error::Protocol(
                        "the stream ended inside a message's data frames".into(),
                    ));
                }
            }
        }
        Ok(Some((msg, data)))
    }

    /// The next control message alone, `None` at the end of the stream:
    /// the caller reads the data frames it announces (with
    /// [`frame_into`](FrameReader::frame_into)).
    pub async fn head(&mut self) -> Result<Option<Msg>> {
        let Some(frame) = self.frame().await? else {
            return Ok(None);
        };
        let msg = postcard::from_bytes(&frame)
            .map_err(|e| Error::Protocol(format!("not a message ({} bytes): {e}", frame.len())))?;
        Ok(Some(msg))
    }

    /// Reads the next frame into `buf` (cleared first, its capacity kept):
    /// what is already buffered is copied, the rest is read from the socket
    /// straight into `buf`. A caller that reuses `buf` receives a large
    /// value without a fresh allocation — and so without the page faults
    /// of first touching it — per frame. The frame limit holds as for
    /// [`frame`](FrameReader::frame).
    pub async fn frame_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        use bytes::Buf;
        use tokio::io::AsyncReadExt;
        let ended = || Error::Protocol("the stream ended inside a data frame".into());
        let io = |e: io::Error| Error::io("reading a data frame", e);
        while self.inner.read_buffer().len() < 4 {
            // Read only what the header still needs, so nothing past it
            // lands in the framed reader's buffer.
            let have = self.inner.read_buffer().len();
            let mut tmp = [0u8; 4];
            let n = self
                .inner
                .get_mut()
                .read(&mut tmp[..4 - have])
                .await
                .map_err(io)?;
            if n == 0 {
                return Err(ended());
            }
            self.inner.read_buffer_mut().extend_from_slice(&tmp[..n]);
        }
        let head = self.inner.read_buffer_mut();
        let len = head.get_u32() as usize;
        let limit = self.inner.decoder().max_frame_length();
        if len > limit {
            return Err(Error::Protocol(format!(
                "a data frame of {len} bytes is over the connection's limit of {limit}"
            )));
        }
        buf.clear();
        buf.reserve(len);
        let rb = self.inner.read_buffer_mut();
        let have = rb.len().min(len);
        buf.extend_from_slice(&rb[..have]);
        rb.advance(have);
        let stream = self.inner.get_mut();
        while buf.len() < len {
            let want = (len - buf.len()) as u64;
            let n = (&mut *stream).take(want).read_buf(buf).await.map_err(io)?;
            if n == 0 {
                return Err(ended());
            }
        }
        Ok(())
    }

    /// Raises (or lowers) the largest frame accepted from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.inner.decoder_mut().set_max_frame_length(limit);
    }
}

impl FrameWriter {
    /// Queues one frame.
    pub async fn frame(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a frame of {} bytes is over the 4 GiB format limit",
                    bytes.len()
                ),
            )
        })?;
        self.inner.write_u32(len).await?;
        self.inner.write_all(bytes).await
    }

    /// Queues a control message and its data frames (as many as
    /// [`Msg::data_frames`] says).
    pub async fn msg(&mut self, msg: &Msg, data: &[Bytes]) -> io::Result<()> {
        debug_assert_eq!(msg.data_frames(), data.len(), "{msg:?}");
        let head = postcard::to_stdvec(msg)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.frame(&head).await?;
        for d in data {
            self.frame(d).await?;
        }
        Ok(())
    }

    /// Queues a control message and its data frames given as borrowed
    /// slices (a buffer the caller reuses, so no fresh allocation of a
    /// large value's size is made per send).
    pub async fn msg_slices(&mut self, msg: &Msg, data: &[&[u8]]) -> io::Result<()> {
        debug_assert_eq!(msg.data_frames(), data.len(), "{msg:?}");
        let head = postcard::to_stdvec(msg)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.frame(&head).await?;
        for d in data {
            self.frame(d).await?;
        }
        Ok(())
    }

    /// Sends what is queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().await
    }
}

/// What the accepting side learned from a handshake.
pub struct Accepted {
    /// The frames of the connection.
    pub reader: FrameReader,
    /// The writing half.
    pub writer: FrameWriter,
    /// Who connected.
    pub role: Role,
}

/// Runs the accepting side of the handshake: the TLS handshake first if
/// `tls` is given (within [`HANDSHAKE_TIMEOUT`]; a peer without a
/// certificate the CA signed is dropped), then reads a [`Msg::Hello`]
/// within [`HANDSHAKE_TIMEOUT`] under [`HANDSHAKE_FRAME_LIMIT`], checks the
/// version and token, answers [`Msg::Welcome`] and raises the frame limit
/// to `frame_limit`. A refused peer is told why ([`Msg::Refused`], best
/// effort) and the reason is returned for the caller to log.
pub async fn accept(
    stream: TcpStream,
    token: &str,
    frame_limit: usize,
    tls: Option<&Tls>,
) -> Result<Accepted> {
    let (mut reader, mut writer) = match tls {
        None => split(stream).map_err(|e| Error::io("setting up a connection", e))?,
        Some(tls) => {
            stream
                .set_nodelay(true)
                .map_err(|e| Error::io("setting up a connection", e))?;
            let secured = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream))
                .await
                .map_err(|_| {
                    Error::Protocol("no TLS handshake within 10 s (a peer without TLS?)".into())
                })?
                .map_err(|e| Error::Protocol(format!("TLS handshake failed: {e}")))?;
            split_tls(secured)
        }
    };
    let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.frame())
        .await
        .map_err(|_| Error::Protocol("no handshake within 10 s".into()))??
        .ok_or_else(|| Error::Protocol("closed before the handshake".into()))?;
    let (protocol, their_token, role) = match postcard::from_bytes::<Msg>(&hello) {
        Ok(Msg::Hello {
            protocol,
            token,
            role,
        }) => (protocol, token, role),
        Ok(other) => {
            return refuse(
                &mut writer,
                format!("expected a handshake, got {}", other.kind()),
            )
            .await;
        }
        Err(e) => {
            return refuse(
                &mut writer,
                format!(
                    "garbage instead of a handshake ({} bytes): {e}",
                    hello.len()
                ),
            )
            .await;
        }
    };
    if protocol != PROTOCOL_VERSION {
        return refuse(&mut writer, format!(
            "protocol version {protocol} is not this side's {PROTOCOL_VERSION}; run the same oxidask version everywhere"
        ))
        .await;
    }
    if their_token != token {
        return refuse(
            &mut writer,
            "wrong token (set the same --token or OXIDASK_TOKEN on every process)".into(),
        )
        .await;
    }
    writer
        .msg(&Msg::Welcome, &[])
        .await
        .map_err(|e| Error::io("answering a handshake", e))?;
    writer
        .flush()
        .await
        .map_err(|e| Error::io("answering a handshake", e))?;
    reader.set_limit(frame_limit);
    Ok(Accepted {
        reader,
        writer,
        role,
    })
}

/// Tells a refused peer why (best effort) and returns the reason as the error.
async fn refuse<T>(writer: &mut FrameWriter, reason: String) -> Result<T> {
    let _ = writer
        .msg(
            &Msg::Refused {
                reason: reason.clone(),
            },
            &[],
        )
        .await;
    let _ = writer.flush().await;
    Err(Error::Protocol(reason))
}

/// Connects to `addr` and runs the connecting side of the handshake as
/// `role` with `token` — inside TLS if `tls` is given. Errors name the
/// address.
pub async fn connect(
    addr: &str,
    token: &str,
    role: Role,
    frame_limit: usize,
    tls: Option<&Tls>,
) -> Result<(FrameReader, FrameWriter)> {
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Unreachable {
            addr: addr.to_string(),
            message: "no answer within 10 s".into(),
        })?
        .map_err(|e| Error::Unreachable {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
    let (mut reader, mut writer) = match tls {
        None => split(stream).map_err(|e| Error::io(format!("connecting to {addr}"), e))?,
        Some(tls) => {
            stream
                .set_nodelay(true)
                .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
            let secured = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.connect(addr, stream))
                .await
                .map_err(|_| Error::Refused {
                    addr: addr.to_string(),
                    reason: "no TLS handshake within 10 s (is TLS on at the other end?)".into(),
                })??;
            split_tls(secured)
        }
    };
    let hello = Msg::Hello {
        protocol: PROTOCOL_VERSION,
        token: token.to_string(),
        role,
    };
    let io = |e| Error::io(format!("handshake with {addr}"), e);
    writer.msg(&hello, &[]).await.map_err(io)?;
    writer.flush().await.map_err(io)?;
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.msg())
        .await
        .map_err(|_| Error::Protocol(format!("{addr} did not answer the handshake within 10 s")))?;
    match answer {
        Ok(Some((Msg::Welcome, _))) => {
            reader.set_limit(frame_limit);
            Ok((reader, writer))
        }
        Ok(Some((Msg::Refused { reason }, _))) => Err(Error::Refused {
            addr: addr.to_string(),
            reason,
        }),
        Ok(Some((other, _))) => Err(Error::Protocol(format!(
            "{addr} answered the handshake with {}",
            other.kind()
        ))),
        Ok(None) | Err(_) => Err(Error::Refused {
            addr: addr.to_string(),
            reason: "the connection was closed during the handshake".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
