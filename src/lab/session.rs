//! One client connection: the same session logic for IMAP, POP3 and SMTP (greeting,
//! capabilities, STARTTLS, login, logout), misbehaving where the scenario says so.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::dialect::{Cmd, Dialect, Parsed};
use super::scenario::Scenario;
use super::{tls, Log};
use crate::account::Secret;
use crate::model::{Combination, Security};
use crate::proto::sasl;

/// Longest client line the lab accepts.
const MAX_LINE: usize = 64 * 1024;
/// Size of the `huge-line` greeting.
pub const HUGE_LINE_BYTES: usize = 10 * 1024 * 1024;
/// Length of each line of the `flood` scenario (CRLF excluded): under the client's line
/// limit, so only the amount of data can stop it.
const FLOOD_LINE: usize = 6000;
/// Bytes a garbage greeting is made of: NULs, invalid UTF-8, a lone surrogate encoding, a
/// terminal escape that would clear the screen, a bell. It does not start like a TLS record.
pub const GARBAGE: &[u8] =
    b"\x00\x00\xff\xfe\x80garbage\x00\x1b[2J\x1b]0;pwned\x07\xc3\x28\xed\xa0\x80\x01\x02\r\n";

pub(crate) struct Shared {
    pub scenario: Scenario,
    pub tls: Arc<ServerConfig>,
    pub user: String,
    pub password: Secret,
    pub log: Log,
    /// Pause between bytes in `slowloris`.
    pub trickle: Duration,
    /// How long the lab waits for a client's next line.
    pub idle: Duration,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    dialect: Dialect,
    stream: Stream,
    buf: Vec<u8>,
    idx: usize,
    tls: bool,
    /// POP3: the name given by USER.
    pop3_user: Option<String>,
}

/// Serve one accepted connection until either side is done.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    combination: Combination,
    idx: usize,
    tcp: TcpStream,
) {
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn {
        dialect: Dialect::of(combination.protocol),
        stream: Stream::Plain(tcp),
        buf: Vec::new(),
        idx,
        tls: false,
        pop3_user: None,
        shared,
    };
    let outcome = async {
        if combination.security == Security::Tls && !conn.upgrade().await {
            return Ok(());
        }
        conn.run().await
    }
    .await;
    if let Err(e) = outcome {
        let aborted = matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        );
        conn.shared.log.update(idx, |r| {
            r.aborted_by_client |= aborted;
            r.note.get_or_insert_with(|| e.to_string());
        });
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), conn.stream.shutdown()).await;
}

impl Conn {
    fn scenario(&self) -> Scenario {
        self.shared.scenario
    }

    /// Run the TLS handshake on the plain stream. False when the connection is over.
    async fn upgrade(&mut self) -> bool {
        if !self.buf.is_empty() {
            // Bytes the client sent after STARTTLS and before the handshake: a correct
            // server discards them (CVE-2011-0411).
            self.buf.clear();
            self.shared
                .log
                .update(self.idx, |r| r.pipelined_after_starttls = true);
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return false;
        };
        match tls::accept(self.scenario(), &self.shared.tls, tcp).await {
            Ok(s) => {
                self.stream = Stream::Tls(Box::new(s));
                self.tls = true;
                self.shared.log.update(self.idx, |r| r.tls = true);
                true
            }
            Err(note) => {
                self.shared.log.update(self.idx, |r| r.note = Some(note));
                false
            }
        }
    }

    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if self.scenario() == Scenario::Slowloris {
            for b in data {
                self.stream.write_all(std::slice::from_ref(b)).await?;
                self.stream.flush().await?;
                self.shared.log.update(self.idx, |r| r.bytes_sent += 1);
                tokio::time::sleep(self.shared.trickle).await;
            }
            return Ok(());
        }
        self.stream.write_all(data).await?;
        self.stream.flush().await?;
        let n = data.len() as u64;
        self.shared.log.update(self.idx, |r| r.bytes_sent += n);
        Ok(())
    }

    async fn say(&mut self, text: String) -> io::Result<()> {
        self.send(text.as_bytes()).await
    }

    /// The next client line without CRLF; `None` when the client is gone or idle too long.
    async fn read_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=nl).collect();
                let raw = &raw[..raw.len() - 1];
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                return Ok(Some(String::from_utf8_lossy(raw).into_owned()));
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "client line too long",
                ));
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout(self.shared.idle, self.stream.read(&mut chunk)).await
            {
                Err(_) => return Ok(None),
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Ok(r) => r?,
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Record a line the client sent; secrets are replaced before anything is stored.
    fn record(&self, parsed: &Parsed, raw: &str) {
        let text = parsed.redacted(raw);
        let tls = self.tls;
        let login = parsed.is_login();
        let secret = match &parsed.cmd {
            Cmd::Login { .. } | Cmd::Pass(_) => true,
            Cmd::Auth { initial, .. } => initial.is_some(),
            _ => false,
        };
        self.shared.log.update(self.idx, |r| {
            r.push_line(tls, text);
            if login {
                r.auth_commands += 1;
            }
            if secret {
                r.mark_credentials(tls);
            }
        });
    }

    /// A SASL response line: recorded as such, never stored.
    fn record_sasl(&self, carries_secret: bool) {
        let tls = self.tls;
        self.shared.log.update(self.idx, |r| {
            r.push_line(tls, "<sasl response>".into());
            if carries_secret {
                r.mark_credentials(tls);
            }
        });
    }

    /// Read and discard what the client sends until it goes away.
    async fn drain(&mut self) -> io::Result<()> {
        while let Some(line) = self.read_line().await? {
            let parsed = self.dialect.parse(&line);
            self.record(&parsed, &line);
        }
        Ok(())
    }

    async fn run(&mut self) -> io::Result<()> {
        let d = self.dialect;
        match self.scenario() {
            Scenario::NoGreeting => return self.drain().await,
            Scenario::HugeLine => {
                self.send(d.greeting_prefix().as_bytes()).await?;
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = HUGE_LINE_BYTES;
                while left > 0 {
                    let n = left.min(chunk.len());
                    self.send(&chunk[..n]).await?;
                    left -= n;
                }
                return self.drain().await;
            }
            Scenario::Garbage => {
                self.send(GARBAGE).await?;
                return self.drain().await;
            }
            Scenario::WrongProtocol => {
                self.say(d.foreign_greeting()).await?;
                return self.drain().await;
            }
            Scenario::Busy => return self.say(d.busy()).await,
            Scenario::Flood => return self.flood().await,
            // Not a word: the connection (and TLS, on the implicit-TLS ports) is closed at once.
            Scenario::CloseOnConnect => return Ok(()),
            _ => {}
        }
        let offer = d.offer(self.scenario(), self.tls);
        self.say(d.greeting_in(self.scenario(), &offer)).await?;
        while let Some(line) = self.read_line().await? {
            let parsed = d.parse(&line);
            self.record(&parsed, &line);
            let tag = parsed.tag.clone();
            let offer = d.offer(self.scenario(), self.tls);
            match parsed.cmd {
                Cmd::Capability => self.say(d.capability_reply(&tag, &offer)).await?,
                Cmd::Helo => self.say(d.helo()).await?,
                Cmd::Starttls if self.tls || !offer.starttls => self.say(d.unknown(&tag)).await?,
                Cmd::Starttls if self.scenario() == Scenario::StarttlsRefused => {
                    self.say(d.starttls_refused(&tag)).await?
                }
                Cmd::Starttls => {
                    let mut text = d.starttls_go_ahead(&tag);
                    if self.scenario() == Scenario::StarttlsInjection {
                        // One write: the injected line arrives with the go-ahead.
                        text.push_str(&d.injected());
                    }
                    self.say(text).await?;
                    if self.scenario() == Scenario::StarttlsInjectionLate {
                        // A separate segment, after the client has read the go-ahead and
                        // started its handshake: the bytes meet the TLS layer, not the line
                        // reader.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        self.say(d.injected()).await?;
                    }
                    if !self.upgrade().await {
                        return Ok(());
                    }
                }
                Cmd::Auth { .. } | Cmd::Login { .. } | Cmd::Pass(_)
                    if self.scenario() == Scenario::AuthStall =>
                {
                    // Silence until the client gives up.
                    return self.drain().await;
                }
                Cmd::Auth { mech, initial } => self.auth(&tag, &mech, initial, &offer).await?,
                Cmd::Login { user, pass } => {
                    let reply = if !offer.password_command {
                        d.login_disabled(&tag)
                    } else {
                        self.verdict(&tag, &user, &pass, true)
                    };
                    self.say(reply).await?;
                }
                Cmd::User(user) => {
                    let reply = if offer.password_command {
                        self.pop3_user = Some(user);
                        d.user_ok()
                    } else {
                        d.login_disabled(&tag)
                    };
                    self.say(reply).await?;
                }
                Cmd::Pass(pass) => {
                    let reply = match self.pop3_user.take() {
                        Some(user) if offer.password_command => {
                            self.verdict(&tag, &user, &pass, true)
                        }
                        _ => d.login_disabled(&tag),
                    };
                    self.say(reply).await?;
                }
                Cmd::Logout => {
                    self.say(d.logout(&tag)).await?;
                    return Ok(());
                }
                Cmd::Mailbox if self.scenario() == Scenario::MailboxUnavailable => {
                    self.say(d.mailbox_unavailable(&tag)).await?
                }
                Cmd::Mailbox
                    if self.scenario() == Scenario::SubmissionDropped && d == Dialect::Imap =>
                {
                    let examine = line
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|v| v.eq_ignore_ascii_case("EXAMINE"));
                    self.say(d.empty_inbox(&tag, examine)).await?
                }
                // The lab keeps no mail: to other scenarios this is an unknown command.
                Cmd::Mailbox => self.say(d.unknown(&tag)).await?,
                // Gone without a reply, in the middle of the transaction.
                Cmd::Transaction if self.scenario() == Scenario::SubmissionDropped => return Ok(()),
                Cmd::Transaction => self.say(d.unknown(&tag)).await?,
                Cmd::Noop => self.say(d.ok(&tag)).await?,
                Cmd::Unknown => self.say(d.unknown(&tag)).await?,
            }
        }
        Ok(())
    }

    /// Lines of `FLOOD_LINE` bytes until the client goes away: far more data than a mail
    /// session needs, without one overlong line. SMTP floods as a multi-line greeting that
    /// never ends; IMAP (greeting without capabilities) and POP3 answer the first command so.
    async fn flood(&mut self) -> io::Result<()> {
        let d = self.dialect;
        let prefix = match d {
            Dialect::Smtp => "220-",
            Dialect::Imap => {
                self.say("* OK mailcheck lab ready.\r\n".into()).await?;
                "* OK "
            }
            Dialect::Pop3 => {
                self.say("+OK mailcheck lab POP3 ready.\r\n".into()).await?;
                "+OK "
            }
        };
        if d != Dialect::Smtp {
            let Some(line) = self.read_line().await? else {
                return Ok(());
            };
            let parsed = d.parse(&line);
            self.record(&parsed, &line);
        }
        let mut text = String::from(prefix);
        text.extend(std::iter::repeat_n('x', FLOOD_LINE - prefix.len()));
        text.push_str("\r\n");
        // A client that stops reading is let go after a while (the write blocks, then idles).
        loop {
            tokio::time::timeout(self.shared.idle, self.send(text.as_bytes()))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        }
    }

    /// Judge a user name and password as the scenario says, and say so in the protocol.
    fn verdict(&self, tag: &str, user: &str, pass: &str, login_command: bool) -> String {
        let d = self.dialect;
        if let Some(refusal) = d.scenario_refusal(self.scenario(), tag, login_command) {
            return refusal;
        }
        let accepted = match self.scenario() {
            Scenario::AcceptAnyPassword => true,
            _ => user == self.shared.user && pass == self.shared.password.expose(),
        };
        self.shared
            .log
            .update(self.idx, |r| r.logged_in |= accepted);
        if accepted {
            d.auth_ok(tag)
        } else {
            d.auth_failed(tag)
        }
    }

    /// Read one SASL response; `None` when the client cancelled ("*") or went away.
    async fn sasl_response(&mut self, carries_secret: bool) -> io::Result<Option<String>> {
        let Some(line) = self.read_line().await? else {
            return Ok(None);
        };
        if line.trim() == "*" {
            let tls = self.tls;
            self.shared
                .log
                .update(self.idx, |r| r.push_line(tls, "*".into()));
            return Ok(None);
        }
        self.record_sasl(carries_secret);
        Ok(Some(line))
    }

    async fn auth(
        &mut self,
        tag: &str,
        mech: &str,
        initial: Option<String>,
        offer: &super::dialect::Offer,
    ) -> io::Result<()> {
        let d = self.dialect;
        if self.scenario() == Scenario::EndlessAuth {
            // Ask again, whatever the client answers, until it leaves.
            loop {
                self.say(d.continuation("")).await?;
                if self.read_line().await?.is_none() {
                    return Ok(());
                }
                self.record_sasl(true);
            }
        }
        if !offer.offers(mech) {
            return self
                .say(if offer.mechs.is_empty() {
                    d.login_disabled(tag)
                } else {
                    d.mech_unsupported(tag)
                })
                .await;
        }
        // RFC 4954 / 9051: "=" is an empty initial response.
        let initial = initial.map(|i| if i == "=" { String::new() } else { i });
        let credentials = match mech {
            "PLAIN" => {
                let response = match initial {
                    Some(i) => Some(i),
                    None => {
                        self.say(d.continuation("")).await?;
                        self.sasl_response(true).await?
                    }
                };
                response.map(|r| {
                    let raw = sasl::unb64(&r).unwrap_or_default();
                    let mut parts = raw.split(|&b| b == 0).map(|p| String::from_utf8_lossy(p));
                    let _authzid = parts.next();
                    let user = parts.next().unwrap_or_default().into_owned();
                    let pass = parts.next().unwrap_or_default().into_owned();
                    (user, pass)
                })
            }
            "LOGIN" => {
                let user = match initial {
                    Some(i) => Some(i),
                    None => {
                        self.say(d.continuation(&sasl::b64(b"Username:"))).await?;
                        self.sasl_response(false).await?
                    }
                };
                match user {
                    None => None,
                    Some(u) => {
                        self.say(d.continuation(&sasl::b64(b"Password:"))).await?;
                        self.sasl_response(true).await?.map(|p| {
                            let text = |s: &str| {
                                String::from_utf8_lossy(&sasl::unb64(s).unwrap_or_default())
                                    .into_owned()
                            };
                            (text(&u), text(&p))
                        })
                    }
                }
            }
            _ => {
                // XOAUTH2 / OAUTHBEARER: the lab issues no tokens. Answer as the providers do:
                // an error challenge, then a refusal.
                if initial.is_none() {
                    self.say(d.continuation("")).await?;
                    if self.sasl_response(true).await?.is_none() {
                        return self.say(d.auth_cancelled(tag)).await;
                    }
                }
                let challenge = sasl::b64(br#"{"status":"401","schemes":"bearer","scope":"mail"}"#);
                self.say(d.continuation(&challenge)).await?;
                if self.sasl_response(false).await?.is_none() {
                    return self.say(d.auth_cancelled(tag)).await;
                }
                return self.say(d.auth_failed(tag)).await;
            }
        };
        let reply = match credentials {
            None => d.auth_cancelled(tag),
            Some((user, pass)) => self.verdict(tag, &user, &pass, false),
        };
        self.say(reply).await
    }
}
