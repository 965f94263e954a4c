//! Opening a session for the round trip: connect, TLS (implicit, or STARTTLS by hand as the
//! probe does it), greeting. Unlike the probe, nothing here only describes: a certificate that
//! does not verify (without `--insecure`) or bytes injected across STARTTLS end the round trip
//! before any credential is sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::net::connect::{self, ConnectError};
use crate::net::connection::{Connection, Stream};
use crate::net::tls::{self, CertVerdict, TlsFacts};
use crate::plan::{Protocol, Security, Target};
use crate::probe::ProbeContext;
use crate::proto::{imap, pop3, smtp};

/// Why a round-trip session stopped: our words, the server's, and whether the server refused
/// (a negative reply) rather than the exchange breaking down.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub detail: String,
    pub server_says: Option<String>,
    pub refused: bool,
}

impl Problem {
    pub fn new(detail: impl Into<String>) -> Problem {
        Problem {
            detail: detail.into(),
            server_says: None,
            refused: false,
        }
    }

    pub fn refused(detail: impl Into<String>, server_says: impl Into<String>) -> Problem {
        Problem {
            detail: detail.into(),
            server_says: Some(server_says.into()),
            refused: true,
        }
    }

    pub fn says(mut self, server_says: Option<String>) -> Problem {
        self.server_says = server_says;
        self
    }
}

/// A connection after TLS, its greeting read.
pub(crate) struct Opened {
    pub conn: Connection,
    pub peer: SocketAddr,
    /// Our end of the connection (the submission names itself by it in EHLO).
    pub local: Option<SocketAddr>,
}

/// Runs `fut` within `budget`, or says which step took too long.
pub(crate) async fn bounded<T>(
    budget: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Problem> {
    tokio::time::timeout(budget, fut).await.map_err(|_| {
        Problem::new(format!(
            "{what}: no answer within {} ms",
            budget.as_millis()
        ))
    })
}

pub(crate) async fn open(
    ctx: &ProbeContext,
    target: &Target,
    deadline: Instant,
) -> Result<Opened, Problem> {
    let limits = &ctx.policy.limits;
    let where_ = format!("{}:{}", target.connect_host, target.connect_port);
    let connected = connect::connect(
        &target.connect_host,
        target.connect_port,
        ctx.policy.family,
        limits.connect_timeout,
    )
    .await
    .map_err(|f| {
        Problem::new(match f.error {
            ConnectError::Resolve { detail } | ConnectError::DnsFailed { detail } => {
                format!("resolving {}: {detail}", target.connect_host)
            }
            ConnectError::NoAddress => {
                format!(
                    "{} has no address of the requested family",
                    target.connect_host
                )
            }
            ConnectError::Refused => format!("connecting to {where_}: connection refused"),
            ConnectError::TimedOut => format!(
                "connecting to {where_}: no answer within {} ms",
                limits.connect_timeout.as_millis()
            ),
            ConnectError::Unreachable { detail } | ConnectError::Failed { detail } => {
                format!("connecting to {where_}: {detail}")
            }
        })
    })?;
    let peer = connected.peer;
    let local = connected.stream.local_addr().ok();
    let budget = || {
        limits
            .step_timeout
            .min(deadline.saturating_duration_since(Instant::now()))
    };
    let protocol = target.combination.protocol;
    let stream = match target.combination.security {
        Security::Starttls => Stream::Plain(connected.stream),
        Security::Tls => {
            let hs = tls::handshake(&ctx.trust, connected.stream, &target.tls_name, budget()).await;
            let s = hs
                .result
                .map_err(|e| Problem::new(format!("TLS with {where_}: {e}")))?;
            check_certificate(ctx, hs.facts.as_ref())?;
            Stream::Tls(Box::new(s))
        }
    };
    let mut conn = Connection::new(stream, limits, deadline, ctx.policy.trace);
    if let Some(c) = &ctx.credential {
        conn.add_secret(c.secret().expose());
    }
    greeting(&mut conn, protocol).await?;
    if target.combination.security == Security::Starttls {
        starttls(&mut conn, protocol).await?;
        let (up, result) = conn.start_tls(&ctx.trust, &target.tls_name).await;
        result.map_err(|e| Problem::new(format!("TLS after STARTTLS with {where_}: {e}")))?;
        if !up.injected.is_empty() {
            return Err(Problem::new(format!(
                "{} byte(s) arrived between the STARTTLS go-ahead and the TLS handshake \
                 (starttls.injection): no credentials sent",
                up.injected.len()
            )));
        }
        check_certificate(ctx, up.facts.as_ref())?;
    }
    Ok(Opened { conn, peer, local })
}

/// Credentials go only where the certificate verified, unless `--insecure`.
fn check_certificate(ctx: &ProbeContext, facts: Option<&TlsFacts>) -> Result<(), Problem> {
    let verdict = facts
        .map(|f| f.verification.clone())
        .unwrap_or(CertVerdict::NotChecked);
    if verdict.is_trusted() || ctx.policy.insecure {
        Ok(())
    } else {
        Err(Problem::new(format!(
            "the {verdict}: no credentials sent (see --insecure)"
        )))
    }
}

async fn greeting(conn: &mut Connection, protocol: Protocol) -> Result<(), Problem> {
    let unexpected = |line: String| Problem::new("unexpected greeting").says(Some(line));
    match protocol {
        Protocol::Imap => {
            let line = conn.read_line().await.map_err(io("greeting"))?;
            match imap::parse_response(&line) {
                Ok(imap::Response::Untagged(imap::Untagged::Status(st)))
                    if st.status == imap::Status::Ok =>
                {
                    Ok(())
                }
                _ => Err(unexpected(line)),
            }
        }
        Protocol::Pop3 => {
            let line = conn.read_line().await.map_err(io("greeting"))?;
            match pop3::parse_reply(&line) {
                Ok(r) if r.ok => Ok(()),
                _ => Err(unexpected(line)),
            }
        }
        Protocol::Smtp => match crate::probe::smtp::read_reply(conn)
            .await
            .map_err(io("greeting"))?
        {
            Ok(r) if r.code == 220 => Ok(()),
            Ok(r) => Err(unexpected(crate::probe::smtp::say(&r))),
            Err(line) => Err(unexpected(line)),
        },
    }
}

/// The plain-text part of STARTTLS, up to the server's go-ahead.
async fn starttls(conn: &mut Connection, protocol: Protocol) -> Result<(), Problem> {
    let refused = |says: String| Problem::new("STARTTLS refused").says(Some(says));
    match protocol {
        Protocol::Imap => {
            match crate::probe::imap::tagged(conn, "rt1", "rt1 STARTTLS")
                .await
                .map_err(io("STARTTLS"))?
            {
                Ok(st) if st.status == imap::Status::Ok => Ok(()),
                Ok(st) => Err(refused(st.text)),
                Err(line) => Err(refused(line)),
            }
        }
        Protocol::Pop3 => match crate::probe::pop3::command(conn, "STLS")
            .await
            .map_err(io("STLS"))?
        {
            Ok(r) if r.ok => Ok(()),
            Ok(r) => Err(refused(format!("-ERR {}", r.text))),
            Err(line) => Err(refused(line)),
        },
        Protocol::Smtp => {
            use crate::probe::smtp::{command, say};
            match command(conn, &format!("EHLO {}", smtp::EHLO_NAME))
                .await
                .map_err(io("EHLO"))?
            {
                Ok(r) if r.code == 250 => {}
                Ok(r) => return Err(Problem::new("EHLO refused").says(Some(say(&r)))),
                Err(line) => return Err(Problem::new("unexpected answer to EHLO").says(Some(line))),
            }
            match command(conn, "STARTTLS").await.map_err(io("STARTTLS"))? {
                Ok(r) if r.code == 220 => Ok(()),
                Ok(r) => Err(refused(say(&r))),
                Err(line) => Err(refused(line)),
            }
        }
    }
}

fn io(step: &'static str) -> impl Fn(crate::net::connection::ConnError) -> Problem {
    move |e| Problem::new(format!("{step}: {e}"))
}
