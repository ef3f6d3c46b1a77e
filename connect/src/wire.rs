//! The wire under tokio-postgres: the host reads the server's message
//! frames as they arrive, before the driver buffers them, for two things
//! the driver cannot do:
//!
//! - **Bounded rows.** The driver holds a whole `DataRow` in memory before
//!   anyone sees it (a 250 MB value is 250 MB in the host). A [`Wire`]
//!   counts each row's length from its header against the budget the SQL
//!   session set for the running plugin statement ([`Wire::bound_rows`]);
//!   a row past it ends the connection at once, before its bytes arrive,
//!   and the session reports the plugin's `memory_mib` as the stop.
//! - **One answer per request.** tokio-postgres 0.7 sends `Sync` twice
//!   around a `COPY … FROM STDIN` (rust-postgres#789); when the server
//!   refuses the COPY before it starts, both are answered, and the second
//!   `ReadyForQuery` would be read as the end of the next request's answer,
//!   shifting every later answer by one. [`Wire::drop_ready`] removes it.
//!
//! It sits above TLS (the frames are read in plaintext): on a socket that
//! starts with an `SSLRequest` it passes the bytes through until the server
//! says whether TLS follows, and the TLS stream is wrapped again by
//! [`Guarded`].

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// What the SQL session tells the wire, and what the wire saw.
#[derive(Debug, Default)]
pub struct Wire {
    /// Bytes of `DataRow` frames the running plugin statement may still
    /// receive; `u64::MAX` for the host's own statements.
    budget: AtomicU64,
    /// `ReadyForQuery` frames to take out of the stream.
    ready_to_drop: AtomicU32,
    /// Why the wire ended the connection, if it did.
    cut: Mutex<Option<u64>>,
}

impl Wire {
    /// A wire with no bound.
    pub fn new() -> Arc<Wire> {
        Arc::new(Wire { budget: AtomicU64::new(u64::MAX), ..Wire::default() })
    }

    /// From now on, rows may bring at most `bytes` more; `None` lifts it.
    pub fn bound_rows(&self, bytes: Option<u64>) {
        self.budget.store(bytes.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// The size of the frame that made the wire end the connection, once.
    pub fn cut_for_size(&self) -> Option<u64> {
        self.cut.lock().ok().and_then(|c| *c)
    }

    /// The server will answer one request twice: take one `ReadyForQuery`
    /// out (either: they are identical and the request is still the first
    /// one waiting for an answer).
    pub fn drop_ready(&self) {
        self.ready_to_drop.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes one `DataRow` of `len` bytes from the budget; an error if it
    /// does not fit.
    fn take_row(&self, len: u64) -> io::Result<()> {
        let fits = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                if left == u64::MAX {
                    Some(left)
                } else {
                    left.checked_sub(len)
                }
            })
            .is_ok();
        if fits {
            return Ok(());
        }
        if let Ok(mut cut) = self.cut.lock() {
            cut.get_or_insert(len);
        }
        Err(io::Error::other(format!("a result row of {len} bytes is past the plugin's memory")))
    }

    fn take_ready(&self) -> bool {
        self.ready_to_drop.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// Where the reader is in the server's byte stream.
#[derive(Debug)]
enum Read {
    /// Not known yet: the first frontend message decides.
    Unknown,
    /// The frontend asked for TLS: the next byte is `S` or `N`.
    AwaitingTlsAnswer,
    /// Ciphertext (TLS accepted here, or a direct TLS handshake): a
    /// [`Guarded`] stream above reads the frames.
    Passthrough,
    /// Frames: collecting a 5-byte header.
    Header { bytes: [u8; 5], have: usize },
    /// Inside a frame's body, `left` bytes to go, dropped or passed.
    Body { left: u64, drop: bool },
}

/// A stream whose incoming frames the host reads on their way to the driver.
pub struct Framed<S> {
    inner: S,
    wire: Arc<Wire>,
    read: Read,
    /// Bytes read and decided, not yet given to the driver.
    out: Vec<u8>,
    sent: usize,
}

/// `SSLRequest`'s code, the bytes after its length.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// A TLS record starts with 0x16 (handshake): direct TLS, no SSLRequest.
const TLS_HANDSHAKE: u8 = 0x16;

impl<S> Framed<S> {
    /// A raw socket: the first message the driver writes says what follows.
    pub fn socket(inner: S, wire: Arc<Wire>) -> Self {
        Framed { inner, wire, read: Read::Unknown, out: Vec::new(), sent: 0 }
    }

    /// A stream that carries frames from its first byte (after TLS).
    pub fn frames(inner: S, wire: Arc<Wire>) -> Self {
        Framed { inner, wire, read: Read::Header { bytes: [0; 5], have: 0 }, out: Vec::new(), sent: 0 }
    }

    /// Decides `input` byte by byte into `self.out`.
    fn decide(&mut self, input: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < input.len() {
            match &mut self.read {
                Read::Unknown | Read::Passthrough => {
                    self.out.extend_from_slice(&input[i..]);
                    return Ok(());
                }
                Read::AwaitingTlsAnswer => {
                    self.read =
                        if input[i] == b'S' { Read::Passthrough } else { Read::Header { bytes: [0; 5], have: 0 } };
                    self.out.push(input[i]);
                    i += 1;
                }
                Read::Header { bytes, have } => {
                    bytes[*have] = input[i];
                    *have += 1;
                    i += 1;
                    if *have == 5 {
                        let header = *bytes;
                        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as u64;
                        let body = len.saturating_sub(4);
                        if header[0] == b'D' {
                            self.wire.take_row(len)?;
                        }
                        let drop = header[0] == b'Z' && self.wire.take_ready();
                        if !drop {
                            self.out.extend_from_slice(&header);
                        }
                        self.read = if body == 0 {
                            Read::Header { bytes: [0; 5], have: 0 }
                        } else {
                            Read::Body { left: body, drop }
                        };
                    }
                }
                Read::Body { left, drop } => {
                    let n = (*left).min((input.len() - i) as u64) as usize;
                    if !*drop {
                        self.out.extend_from_slice(&input[i..i + n]);
                    }
                    *left -= n as u64;
                    i += n;
                    if *left == 0 {
                        self.read = Read::Header { bytes: [0; 5], have: 0 };
                    }
                }
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Framed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.sent < this.out.len() {
                let n = (this.out.len() - this.sent).min(buf.remaining());
                buf.put_slice(&this.out[this.sent..this.sent + n]);
                this.sent += n;
                if this.sent == this.out.len() {
                    this.out.clear();
                    this.sent = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    let got = read.filled().to_vec();
                    this.decide(&got)?;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Framed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if matches!(self.read, Read::Unknown) {
            // The driver writes its first message whole: an SSLRequest, a
            // TLS handshake (direct TLS), or the StartupMessage.
            self.read = if data.starts_with(&SSL_REQUEST) {
                Read::AwaitingTlsAnswer
            } else if data.first() == Some(&TLS_HANDSHAKE) {
                Read::Passthrough
            } else {
                Read::Header { bytes: [0; 5], have: 0 }
            };
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Framed<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose streams the wire reads in plaintext.
pub struct Guarded<T> {
    pub tls: T,
    pub wire: Arc<Wire>,
}

impl<S, T> TlsConnect<S> for Guarded<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
    T::Stream: 'static,
{
    type Stream = Framed<T::Stream>;
    type Error = T::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Stream, T::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let (future, wire) = (self.tls.connect(stream), self.wire);
        Box::pin(async move { future.await.map(|s| Framed::frames(s, wire)) })
    }
}

/// A TCP or unix socket, opened by the host.
pub enum Socket {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, data),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend(((body.len() + 4) as u32).to_be_bytes());
        f.extend(body);
        f
    }

    fn through(framed: &mut Framed<()>, input: &[u8], split: usize) -> io::Result<Vec<u8>> {
        for piece in input.chunks(split.max(1)) {
            framed.decide(piece)?;
        }
        Ok(std::mem::take(&mut framed.out))
    }

    #[test]
    fn frames_pass_whole_whatever_the_reads_split() {
        let stream =
            [frame(b'T', b"cols"), frame(b'D', b"row-one"), frame(b'C', b"SELECT 1"), frame(b'Z', b"I")].concat();
        for split in [1, 2, 3, 5, 7, 64] {
            let mut f = Framed::frames((), Wire::new());
            assert_eq!(through(&mut f, &stream, split).unwrap(), stream, "split {split}");
        }
    }

    #[test]
    fn one_ready_for_query_is_taken_out_when_asked() {
        let stream = [frame(b'E', b"err"), frame(b'Z', b"E"), frame(b'Z', b"E"), frame(b'C', b"x")].concat();
        for split in [1, 4, 6, 64] {
            let wire = Wire::new();
            wire.drop_ready();
            let mut f = Framed::frames((), wire);
            let expect = [frame(b'E', b"err"), frame(b'Z', b"E"), frame(b'C', b"x")].concat();
            assert_eq!(through(&mut f, &stream, split).unwrap(), expect, "split {split}");
        }
    }

    #[test]
    fn a_row_past_the_budget_is_refused_at_its_header() {
        let wire = Wire::new();
        wire.bound_rows(Some(20));
        let mut f = Framed::frames((), wire.clone());
        let ok = frame(b'D', &[b'x'; 8]);
        assert_eq!(through(&mut f, &ok, 64).unwrap(), ok, "13 bytes fit in 20");
        let big = frame(b'D', &[b'x'; 100]);
        // Only the header is needed to refuse it.
        assert!(through(&mut f, &big[..5], 64).is_err());
        assert_eq!(wire.cut_for_size(), Some(104));
        wire.bound_rows(None);
        let mut g = Framed::frames((), wire);
        assert_eq!(through(&mut g, &big, 64).unwrap(), big, "unbounded again for the host's statements");
    }

    #[test]
    fn the_tls_answer_decides_between_frames_and_ciphertext() {
        let mut plain = Framed::socket((), Wire::new());
        plain.read = Read::AwaitingTlsAnswer;
        let wire_bytes = [vec![b'N'], frame(b'R', &[0, 0, 0, 0])].concat();
        assert_eq!(through(&mut plain, &wire_bytes, 1).unwrap(), wire_bytes);
        assert!(matches!(plain.read, Read::Header { have: 0, .. }));
        let mut tls = Framed::socket((), Wire::new());
        tls.read = Read::AwaitingTlsAnswer;
        assert_eq!(through(&mut tls, &[b'S', 0x16, 3, 3], 64).unwrap(), vec![b'S', 0x16, 3, 3]);
        assert!(matches!(tls.read, Read::Passthrough));
    }
}
