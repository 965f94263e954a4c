//! Submission of the test message: lettre speaks SMTP (EHLO, AUTH, MAIL, RCPT, DATA, QUIT)
//! over our own connection, whose TCP and TLS are ours: the same connect rules (`--connect-to`,
//! -4/-6, timeouts), the same trust (`TlsTrust`: ring, public roots, `--ca-file`) and the same
//! verdict as the probe, the same limits and redacted transcript.
//!
//! lettre 0.11 reads the greeting itself when it takes a stream (`connect_with_transport`).
//! After a STARTTLS done by hand there is no new greeting (RFC 3207 §4.2), so lettre is handed
//! the TLS stream behind one synthetic `220` line, which is never sent by the server and never
//! written to the transcript.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::open::{self, bounded, Problem};
use super::Leg;
use crate::account::Credential;
use crate::net::connection::{Connection, SharedTranscript};
use crate::probe::ProbeContext;
use crate::proto::sasl;

/// The server took the message.
pub(crate) struct Sent {
    /// From connect to the end of DATA.
    pub ms: u64,
    /// The server's reply to the end of DATA (`250 2.0.0 Ok: queued as ...`).
    pub server_says: String,
    /// When that reply arrived: delivery latency counts from here.
    pub accepted_at: Instant,
}

/// Submits `message` on `leg` with the run's credential. The transcript handle is returned
/// whatever happens, for `--trace`.
pub(crate) async fn submit(
    ctx: &ProbeContext,
    leg: &Leg,
    message: &Message,
    deadline: Instant,
) -> (Result<Sent, Problem>, Option<SharedTranscript>) {
    let started = Instant::now();
    let conn = match open::open(ctx, &leg.target, deadline).await {
        Ok(c) => c,
        Err(p) => return (Err(p), None),
    };
    let transcript = conn.transcript();
    let result = exchange(ctx, leg, message, conn, &transcript, started).await;
    (result, Some(transcript))
}

async fn exchange(
    ctx: &ProbeContext,
    leg: &Leg,
    message: &Message,
    mut conn: Connection,
    transcript: &SharedTranscript,
    started: Instant,
) -> Result<Sent, Problem> {
    let Some(cred) = ctx.credential.clone() else {
        return Err(Problem::new("no credential to log in with"));
    };
    let hello = client_id(conn.local_addr());
    let user = leg.target.username.clone();
    let secret = cred.secret().expose().to_string();
    // Exactly what lettre will put on the wire, so that the transcript never shows it.
    conn.add_redaction(sasl::b64(format!("\0{user}\0{secret}").as_bytes()));
    conn.add_redaction(sasl::b64(
        format!("user={user}\x01auth=Bearer {secret}\x01\x01").as_bytes(),
    ));
    conn.note("greeting read by mailcheck; lettre continues the session");
    let stream = Primed {
        prefix: b"220 greeting already read by mailcheck\r\n".to_vec(),
        pos: 0,
        inner: conn,
    };
    let step = ctx.policy.limits.step_timeout;
    let mut smtp = bounded(
        step,
        "EHLO",
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello),
    )
    .await?
    .map_err(|e| lettre_problem("EHLO", &e, transcript))?;

    let credentials = Credentials::new(user, secret);
    set_sensitive(transcript, true);
    let auth = bounded(
        step,
        "AUTH",
        smtp.auth(&mechanisms(&leg.mechanism, &cred), &credentials),
    )
    .await;
    set_sensitive(transcript, false);
    auth?.map_err(|e| lettre_problem("the login", &e, transcript))?;

    let data = message.formatted();
    // MAIL, RCPT, DATA and the end of data: four replies, each within the step timeout.
    let reply = bounded(
        step.saturating_mul(4).min(Duration::from_secs(300)),
        "sending the message",
        smtp.send(message.envelope(), &data),
    )
    .await?
    .map_err(|e| lettre_problem("the message", &e, transcript))?;
    let accepted_at = Instant::now();
    let server_says = format!(
        "{} {}",
        reply.code(),
        reply.message().collect::<Vec<_>>().join(" / ")
    );
    // The message is accepted; a sloppy goodbye changes nothing.
    let _ = bounded(step, "QUIT", smtp.quit()).await;
    Ok(Sent {
        ms: accepted_at.duration_since(started).as_millis() as u64,
        server_says,
        accepted_at,
    })
}

/// How the submission names itself in EHLO: mailcheck has no FQDN to claim, so, as RFC 5321
/// §4.1.4 says for such clients, the address literal of the connection's own end (`[a.b.c.d]`,
/// `[IPv6:...]`) — the address the server sees, not a made-up `[127.0.0.1]`. An IPv4 address
/// reached through a dual-stack socket (`::ffff:a.b.c.d`) is named as IPv4.
fn client_id(local: Option<SocketAddr>) -> ClientId {
    use std::net::IpAddr;
    match local.map(|a| a.ip()) {
        Some(IpAddr::V4(v4)) => ClientId::Ipv4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => ClientId::Ipv4(v4),
            None => ClientId::Ipv6(v6),
        },
        // The socket could not say (it always can once connected): the loopback literal.
        None => ClientId::Ipv4(std::net::Ipv4Addr::LOCALHOST),
    }
}

/// The mechanism that worked in the probe first, then the others lettre can use with this
/// kind of credential (it picks the first one the server offers). lettre has no OAUTHBEARER.
fn mechanisms(probed: &str, cred: &Credential) -> Vec<Mechanism> {
    let mut list = Vec::new();
    match probed {
        "PLAIN" => list.push(Mechanism::Plain),
        "LOGIN" => list.push(Mechanism::Login),
        "XOAUTH2" => list.push(Mechanism::Xoauth2),
        _ => {}
    }
    let usable: &[Mechanism] = match cred {
        Credential::Password(_) => &[Mechanism::Plain, Mechanism::Login],
        Credential::OAuth2Token(_) => &[Mechanism::Xoauth2],
    };
    for m in usable {
        if !list.contains(m) {
            list.push(*m);
        }
    }
    list
}

fn set_sensitive(transcript: &SharedTranscript, on: bool) {
    transcript
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set_sensitive(on);
}

/// A lettre error as a problem: a negative reply is a refusal, with the server's own words
/// from the wire record (lettre sends QUIT after a refusal, so the refusal is the last 4xx/5xx
/// line, not the last line); anything else is a breakdown.
fn lettre_problem(
    what: &str,
    e: &lettre::transport::smtp::Error,
    transcript: &SharedTranscript,
) -> Problem {
    let log = transcript.lock().unwrap_or_else(|e| e.into_inner());
    let recent: Vec<&str> = log.recent().collect();
    if e.is_permanent() || e.is_transient() {
        let refusal = recent
            .iter()
            .rev()
            .find(|l| {
                l.starts_with(['4', '5'])
                    && l.as_bytes()
                        .get(..3)
                        .is_some_and(|c| c.iter().all(u8::is_ascii_digit))
            })
            .map(|l| l.to_string());
        Problem::refused(
            format!("{what} was refused"),
            refusal.unwrap_or_else(|| e.to_string()),
        )
    } else {
        Problem::new(format!("{what} failed: {e}")).says(recent.last().map(|l| l.to_string()))
    }
}

/// Our connection with a line to read before it (see the module docs).
#[derive(Debug)]
struct Primed {
    prefix: Vec<u8>,
    pos: usize,
    inner: Connection,
}

impl AsyncRead for Primed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let rest = &this.prefix[this.pos..];
            let n = rest.len().min(out.remaining());
            out.put_slice(&rest[..n]);
            this.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, out)
    }
}

impl AsyncWrite for Primed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Primed {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .peer_addr()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no stream"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Secret;

    #[test]
    fn ehlo_names_the_local_end_as_an_address_literal() {
        let name = |a: &str| client_id(Some(a.parse().unwrap())).to_string();
        assert_eq!(name("192.0.2.7:40000"), "[192.0.2.7]");
        assert_eq!(name("[2001:db8::5]:40000"), "[IPv6:2001:db8::5]");
        assert_eq!(name("[::ffff:192.0.2.7]:40000"), "[192.0.2.7]");
        assert_eq!(name("[::1]:40000"), "[IPv6:::1]");
    }

    #[test]
    fn the_probed_mechanism_comes_first() {
        let pw = Credential::Password(Secret::new("x".into()).unwrap());
        assert_eq!(
            mechanisms("LOGIN", &pw),
            vec![Mechanism::Login, Mechanism::Plain]
        );
        assert_eq!(
            mechanisms("PLAIN", &pw),
            vec![Mechanism::Plain, Mechanism::Login]
        );
        let tok = Credential::OAuth2Token(Secret::new("t".into()).unwrap());
        assert_eq!(mechanisms("OAUTHBEARER", &tok), vec![Mechanism::Xoauth2]);
    }
}
