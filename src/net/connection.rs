//! The connection every protocol session runs on: plain TCP or TLS, a bounded line reader
//! (line length, session bytes, per-read timeout capped by the target's deadline), STARTTLS
//! that refuses to carry bytes across the upgrade, and a transcript with credentials redacted.
//!
//! It also implements `AsyncRead`/`AsyncWrite`, so async-imap can run on it with the same
//! limits and transcript.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::tls::{self, TlsError, TlsFacts, TlsTrust};
use crate::model::Limits;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between taking the TCP stream for a STARTTLS upgrade and getting it back.
    Gone,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
            Stream::Gone => "Stream::Gone",
        })
    }
}

/// Why a read or write failed. Each maps to a reason code in diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ConnError {
    #[error("no answer within {waited_ms} ms")]
    Timeout { waited_ms: u64 },
    #[error("the server closed the connection")]
    Closed,
    #[error("the server sent a line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("the server sent more than {limit} bytes in one session")]
    SessionTooLarge { limit: usize },
    #[error("connection error: {detail}")]
    Io { detail: String },
}

impl ConnError {
    fn from_io(e: &io::Error) -> ConnError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => ConnError::Closed,
            _ => ConnError::Io {
                detail: e.to_string(),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// Client to server.
    #[serde(rename = "C")]
    Client,
    /// Server to client.
    #[serde(rename = "S")]
    Server,
    /// A note by mailcheck (TLS handshake, timeouts).
    #[serde(rename = "*")]
    Note,
}

#[derive(Debug, Clone, Serialize)]
pub struct TranscriptLine {
    pub ms: u64,
    pub dir: Direction,
    pub text: String,
}

/// Redacted record of a session. Kept only with `--trace`, but redaction applies regardless.
#[derive(Debug, Default)]
pub struct Transcript {
    enabled: bool,
    lines: Vec<TranscriptLine>,
    /// Exact strings that must never appear (the secret and its encodings).
    redact: Vec<String>,
    /// While set, client lines are recorded as the command word and `<redacted>` only.
    sensitive: bool,
    pending_in: Vec<u8>,
    pending_out: Vec<u8>,
    /// The last lines the server sent, kept even without `--trace`: a driver that let a library
    /// run the exchange (async-imap) reads the server's exact words from here.
    recent: std::collections::VecDeque<String>,
}

/// A transcript shared between the connection and whoever must read it after the connection
/// is gone (a timed-out library call drops the stream with it).
pub type SharedTranscript = std::sync::Arc<std::sync::Mutex<Transcript>>;

/// Lines kept at most in a transcript; a flood is cut, not stored.
const TRANSCRIPT_MAX_LINES: usize = 500;
/// Characters kept of one transcript line.
const TRANSCRIPT_MAX_CHARS: usize = 400;
/// Server lines kept for drivers, with or without `--trace`.
const RECENT_LINES: usize = 16;

impl Transcript {
    fn push(&mut self, started: Instant, dir: Direction, raw: &str) {
        self.push_at(started.elapsed().as_millis() as u64, dir, raw);
    }

    fn push_at(&mut self, ms: u64, dir: Direction, raw: &str) {
        if dir == Direction::Server {
            if self.recent.len() == RECENT_LINES {
                self.recent.pop_front();
            }
            self.recent
                .push_back(raw.chars().take(TRANSCRIPT_MAX_CHARS).collect());
        }
        if !self.enabled || self.lines.len() >= TRANSCRIPT_MAX_LINES {
            return;
        }
        let mut text = if dir == Direction::Client && self.sensitive {
            redact_auth_line(raw)
        } else {
            raw.to_string()
        };
        for r in &self.redact {
            if !r.is_empty() && text.contains(r.as_str()) {
                text = text.replace(r.as_str(), "<redacted>");
            }
        }
        let mut text = printable(&text);
        if text.chars().count() > TRANSCRIPT_MAX_CHARS {
            text = text.chars().take(TRANSCRIPT_MAX_CHARS).collect::<String>() + "…";
        }
        self.lines.push(TranscriptLine { ms, dir, text });
    }

    /// Mark the authentication exchange (see [`Connection::set_sensitive`]), for a caller that
    /// has handed the connection to a library and kept only the [`SharedTranscript`].
    pub fn set_sensitive(&mut self, on: bool) {
        self.sensitive = on;
    }

    /// The most recent server lines, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &str> {
        self.recent.iter().map(|s| s.as_str())
    }

    pub fn take_lines(&mut self) -> Vec<TranscriptLine> {
        std::mem::take(&mut self.lines)
    }

    fn raw_bytes(&mut self, started: Instant, dir: Direction, data: &[u8]) {
        let mut pending = std::mem::take(match dir {
            Direction::Server => &mut self.pending_in,
            _ => &mut self.pending_out,
        });
        pending.extend_from_slice(data);
        let mut done = 0;
        while let Some(nl) = pending[done..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&pending[done..done + nl]);
            let line = line.trim_end_matches('\r').to_string();
            self.push(started, dir, &line);
            done += nl + 1;
        }
        pending.drain(..done);
        // A line that never ends is cut at the transcript's width, not buffered forever.
        if pending.len() > TRANSCRIPT_MAX_CHARS * 4 {
            pending.clear();
        }
        match dir {
            Direction::Server => self.pending_in = pending,
            _ => self.pending_out = pending,
        }
    }
}

/// Show control characters and invalid bytes as escapes, so a transcript is safe on a terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// During authentication, keep only what identifies the command, never its arguments.
fn redact_auth_line(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let find = |name: &str| upper.iter().position(|w| w == name);
    if let Some(i) = find("AUTHENTICATE").or_else(|| find("AUTH")) {
        // Command and mechanism are safe; an initial response is not.
        let keep = (i + 2).min(words.len());
        let mut out = words[..keep].join(" ");
        if words.len() > keep {
            out.push_str(" <redacted>");
        }
        return out;
    }
    if let Some(i) = find("LOGIN").or_else(|| find("PASS")) {
        return format!("{} <redacted>", words[..=i].join(" "));
    }
    if upper.first().is_some_and(|w| w == "USER") {
        return line.to_string();
    }
    "<redacted>".to_string()
}

pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    limits: Limits,
    deadline: Instant,
    bytes_read: usize,
    started: Instant,
    transcript: SharedTranscript,
    /// Once set, every write fails: a driver that cannot cancel an exchange held by a library
    /// (async-imap's AUTHENTICATE) ends it at the next write instead of racing it.
    refuse_writes: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("stream", &self.stream)
            .field("buffered", &(self.buf.len() - self.start))
            .finish_non_exhaustive()
    }
}

/// What a STARTTLS upgrade produced.
pub struct Upgrade {
    pub facts: Option<TlsFacts>,
    /// Bytes the server sent after its STARTTLS go-ahead and before the handshake: a
    /// command-injection risk (CVE-2011-0411 class). They are discarded, never interpreted.
    pub injected: Vec<u8>,
    pub elapsed: Duration,
}

impl Connection {
    pub fn new(stream: Stream, limits: &Limits, deadline: Instant, trace: bool) -> Connection {
        Connection {
            stream,
            buf: Vec::with_capacity(1024),
            start: 0,
            limits: limits.clone(),
            deadline,
            bytes_read: 0,
            started: Instant::now(),
            transcript: std::sync::Arc::new(std::sync::Mutex::new(Transcript {
                enabled: trace,
                ..Transcript::default()
            })),
            refuse_writes: None,
        }
    }

    /// Every write fails once `flag` is set (see the field).
    pub fn refuse_writes_when(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.refuse_writes = Some(flag);
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match &self.stream {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().0),
            Stream::Gone => None,
        }
    }

    /// Our end of the TCP connection (the round trip's submission names itself by it in EHLO).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp()?.local_addr().ok()
    }

    /// The server's end of the TCP connection.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp()?.peer_addr().ok()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Strings that must never reach the transcript, whatever the phase.
    pub fn add_redaction(&mut self, s: impl Into<String>) {
        self.log().redact.push(s.into());
    }

    /// The credential's secret, and its base64 form (what SASL LOGIN and XOAUTH2 put on the
    /// wire), never reach the transcript. The one place every probe and round-trip connection
    /// registers its secret; encodings that also hold the username stay with their protocol.
    pub fn add_secret(&mut self, secret: &str) {
        self.add_redaction(secret);
        self.add_redaction(crate::proto::sasl::b64(secret.as_bytes()));
    }

    /// Mark the authentication exchange: client lines lose their arguments in the transcript.
    pub fn set_sensitive(&mut self, on: bool) {
        self.log().sensitive = on;
    }

    pub fn note(&mut self, text: &str) {
        let started = self.started;
        self.log().push(started, Direction::Note, text);
    }

    /// Count the transcript's times from `origin` (the probe's start) rather than from this
    /// connection's creation, which on implicit TLS comes after the connect and the handshake:
    /// the transcript then lines up with the steps.
    pub fn with_origin(mut self, origin: Instant) -> Connection {
        self.started = origin;
        self
    }

    /// A note about something that happened at `at`, before this connection existed (the TCP
    /// connect, an implicit-TLS handshake).
    pub fn note_at(&mut self, at: Instant, text: &str) {
        let ms = at.saturating_duration_since(self.started).as_millis() as u64;
        self.log().push_at(ms, Direction::Note, text);
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Transcript> {
        // A poisoned transcript only means a panic elsewhere; the lines are still valid.
        self.transcript.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A handle on the transcript that outlives the connection.
    pub fn transcript(&self) -> SharedTranscript {
        self.transcript.clone()
    }

    /// How long the next wait may last: the step timeout, capped by the target's deadline.
    pub fn wait_budget(&self) -> Duration {
        self.limits
            .step_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Read one line (without CRLF or LF). The whole line must arrive within one wait budget,
    /// so a server trickling a byte at a time costs one timeout, not one per byte.
    pub async fn read_line(&mut self) -> Result<String, ConnError> {
        let budget = self.wait_budget();
        let until = tokio::time::Instant::now() + budget;
        loop {
            let avail = &self.buf[self.start..];
            if let Some(nl) = avail.iter().position(|&b| b == b'\n') {
                let raw = &avail[..nl];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let line = String::from_utf8_lossy(raw).into_owned();
                self.start += nl + 1;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                let started = self.started;
                self.log().push(started, Direction::Server, &line);
                return Ok(line);
            }
            if avail.len() > self.limits.max_line {
                return Err(ConnError::LineTooLong {
                    limit: self.limits.max_line,
                });
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 4096];
            // Never read more than one byte past the line limit into the buffer.
            let room = (self.limits.max_line + 2)
                .saturating_sub(self.buf.len())
                .clamp(1, 4096);
            let n = match tokio::time::timeout_at(until, self.read_raw(&mut chunk[..room])).await {
                Err(_) => {
                    return Err(ConnError::Timeout {
                        waited_ms: budget.as_millis() as u64,
                    })
                }
                Ok(Err(e)) => return Err(ConnError::from_io(&e)),
                Ok(Ok(0)) => return Err(ConnError::Closed),
                Ok(Ok(n)) => n,
            };
            self.count(n)?;
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn count(&mut self, n: usize) -> Result<(), ConnError> {
        self.bytes_read += n;
        if self.bytes_read > self.limits.max_session_bytes {
            return Err(ConnError::SessionTooLarge {
                limit: self.limits.max_session_bytes,
            });
        }
        Ok(())
    }

    async fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.read(out).await,
            Stream::Tls(s) => {
                quick_ack(s.get_ref().0);
                s.read(out).await
            }
            Stream::Gone => Err(io::Error::new(io::ErrorKind::NotConnected, "no stream")),
        }
    }

    /// Send one command line (CRLF added).
    pub async fn send(&mut self, line: &str) -> Result<(), ConnError> {
        let started = self.started;
        self.log().push(started, Direction::Client, line);
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        let budget = self.wait_budget();
        let fut = async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    s.write_all(&data).await?;
                    s.flush().await
                }
                Stream::Tls(s) => {
                    s.write_all(&data).await?;
                    s.flush().await
                }
                Stream::Gone => Err(io::Error::new(io::ErrorKind::NotConnected, "no stream")),
            }
        };
        match tokio::time::timeout(budget, fut).await {
            Err(_) => Err(ConnError::Timeout {
                waited_ms: budget.as_millis() as u64,
            }),
            Ok(Err(e)) => Err(ConnError::from_io(&e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Upgrade to TLS after the server's STARTTLS go-ahead. Bytes already buffered from the
    /// server are returned as `injected` and dropped: nothing read before the handshake may be
    /// interpreted after it. The facts are returned even when the handshake fails.
    pub async fn start_tls(
        &mut self,
        trust: &TlsTrust,
        name: &str,
    ) -> (Upgrade, Result<(), TlsError>) {
        let injected = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        if !injected.is_empty() {
            self.note(&format!(
                "{} byte(s) arrived after the STARTTLS go-ahead and before the handshake; discarded",
                injected.len()
            ));
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            let upgrade = Upgrade {
                facts: None,
                injected,
                elapsed: Duration::ZERO,
            };
            return (
                upgrade,
                Err(TlsError::Other {
                    detail: "STARTTLS on a connection that is not plain text".into(),
                }),
            );
        };
        let hs = tls::handshake(trust, tcp, name, self.wait_budget()).await;
        let upgrade = Upgrade {
            facts: hs.facts,
            injected,
            elapsed: hs.elapsed,
        };
        match hs.result {
            Ok(s) => {
                self.stream = Stream::Tls(Box::new(s));
                self.note("TLS handshake complete");
                (upgrade, Ok(()))
            }
            Err(e) => {
                self.note(&format!("TLS handshake failed: {e}"));
                (upgrade, Err(e))
            }
        }
    }

    /// The plain TCP stream, for a caller that speaks TLS its own way after a STARTTLS
    /// go-ahead (the legacy ClientHello); the connection has no stream afterwards.
    pub fn take_plain(&mut self) -> Option<TcpStream> {
        match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(tcp) => Some(tcp),
            other => {
                self.stream = other;
                None
            }
        }
    }

    /// Close politely but without waiting long: the verdict is already known.
    pub async fn shutdown(&mut self) {
        let fut = async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    let _ = s.shutdown().await;
                }
                Stream::Tls(s) => {
                    let _ = s.shutdown().await;
                }
                Stream::Gone => {}
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), fut).await;
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start < this.buf.len() {
            let avail = &this.buf[this.start..];
            let n = avail.len().min(out.remaining());
            out.put_slice(&avail[..n]);
            this.start += n;
            if this.start == this.buf.len() {
                this.buf.clear();
                this.start = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = out.filled().len();
        let res = match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, out),
            // As in `read_raw`: the libraries' reads (async-imap) wait for answers too.
            Stream::Tls(s) => {
                quick_ack(s.get_ref().0);
                Pin::new(s.as_mut()).poll_read(cx, out)
            }
            Stream::Gone => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "no stream",
                )))
            }
        };
        if let Poll::Ready(Ok(())) = res {
            let n = out.filled().len() - before;
            if let Err(e) = this.count(n) {
                return Poll::Ready(Err(io::Error::other(e)));
            }
            let data = out.filled()[before..].to_vec();
            let started = this.started;
            this.log().raw_bytes(started, Direction::Server, &data);
        }
        res
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this
            .refuse_writes
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "exchange abandoned",
            )));
        }
        let res = match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
            Stream::Gone => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "no stream",
                )))
            }
        };
        if let Poll::Ready(Ok(n)) = res {
            let started = this.started;
            this.log().raw_bytes(started, Direction::Client, &data[..n]);
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Acknowledge what arrives at once while waiting for an answer over TLS. A TLS 1.3 server
/// sends its session tickets right after the handshake and its first answer just after them;
/// a server that leaves Nagle's algorithm on (Postfix does) holds that answer until the
/// tickets are acknowledged, and a client's delayed ACK makes that 40 ms on Linux (up to
/// 200 ms elsewhere): seen as a slow SMTPS greeting and a slow EHLO after STARTTLS. Linux
/// only; the kernel leaves quick-ACK mode by itself, so it is asked again before each read.
fn quick_ack(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket fd and a c_int option value of the size given.
        unsafe {
            libc::setsockopt(
                tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair(server_bytes: Vec<u8>, limits: Limits) -> Connection {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s.write_all(&server_bytes).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        Connection::new(
            Stream::Plain(tcp),
            &limits,
            Instant::now() + Duration::from_secs(30),
            true,
        )
    }

    #[tokio::test]
    async fn reads_lines_and_refuses_long_ones() {
        let limits = Limits {
            max_line: 64,
            step_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let mut data = b"* OK ready\r\nbare-lf\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 10_000));
        let mut c = pair(data, limits).await;
        assert_eq!(c.read_line().await.unwrap(), "* OK ready");
        assert_eq!(c.read_line().await.unwrap(), "bare-lf");
        assert_eq!(
            c.read_line().await.unwrap_err(),
            ConnError::LineTooLong { limit: 64 }
        );
        assert!(c.buf.len() <= 64 + 2 + 4096);
    }

    #[tokio::test]
    async fn stall_costs_one_timeout() {
        let limits = Limits {
            step_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let mut c = pair(b"partial line without end".to_vec(), limits).await;
        let t = Instant::now();
        assert!(matches!(
            c.read_line().await,
            Err(ConnError::Timeout { waited_ms: 200 })
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn auth_lines_are_redacted() {
        assert_eq!(
            redact_auth_line("a2 AUTHENTICATE PLAIN"),
            "a2 AUTHENTICATE PLAIN"
        );
        assert_eq!(
            redact_auth_line("AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
            "AUTH PLAIN <redacted>"
        );
        assert_eq!(
            redact_auth_line("a1 LOGIN \"alice\" \"secret\""),
            "a1 LOGIN <redacted>"
        );
        assert_eq!(redact_auth_line("PASS secret"), "PASS <redacted>");
        assert_eq!(redact_auth_line("c2VjcmV0"), "<redacted>");
        assert_eq!(redact_auth_line("USER alice"), "USER alice");
    }

    #[test]
    fn transcript_filters_known_secrets_everywhere() {
        let mut t = Transcript {
            enabled: true,
            ..Transcript::default()
        };
        t.redact.push("s3cr3t".into());
        t.push(
            Instant::now(),
            Direction::Server,
            "echo s3cr3t back\u{1b}[31m",
        );
        assert_eq!(t.lines[0].text, "echo <redacted> back\\u{1b}[31m");
    }
}
