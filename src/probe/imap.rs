//! IMAP session. The plain-text part (greeting, CAPABILITY, STARTTLS) runs by hand on the
//! shared connection, so that bytes buffered across the STARTTLS upgrade are seen exactly
//! (async-imap's buffer would swallow them). Over TLS, async-imap runs CAPABILITY,
//! AUTHENTICATE / LOGIN and LOGOUT on the same connection, with our limits, timeouts and
//! redacted transcript underneath.

use std::future::Future;
use std::time::{Duration, Instant};

use async_imap::imap_proto::{self, Capability};

use super::session::{self, Answer, AuthResult, Capabilities};
use super::{Failure, ProbeContext, Recorder, StepName};
use crate::account::Credential;
use crate::model::Security;
use crate::net::connection::{ConnError, Connection, SharedTranscript};
use crate::outcome::Reason;
use crate::proto::imap::{self, Response, Status, Untagged};
use crate::proto::sasl;

/// The IMAP LOGIN command, used when no SASL mechanism fits a password.
pub(super) const LOGIN_COMMAND: &str = "IMAP-LOGIN";

pub(crate) async fn run(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    slot: &mut Option<Connection>,
) -> Result<(), Failure> {
    let Some(conn) = slot.as_mut() else {
        let t = rec.start(StepName::Greeting);
        return Err(rec.fail(t, Reason::Internal, "no connection", None));
    };
    let greeting_caps = open(ctx, rec, conn).await?;
    let implicit_tls = rec.target().combination.security == Security::Tls;

    // From here async-imap drives the session.
    let Some(conn) = slot.take() else {
        return Ok(());
    };
    let transcript = conn.transcript();
    let allowed = rec.credentials_allowed(&conn, &ctx.policy);
    let mut client = async_imap::Client::new(conn);

    let t = rec.start(StepName::CapabilitiesAfterTls);
    // Over implicit TLS the greeting's capabilities are already the ones after TLS.
    let list = match greeting_caps.filter(|_| implicit_tls) {
        Some(list) => list,
        None => {
            let (tx, rx) = async_channel::unbounded();
            match bounded(
                ctx,
                rec,
                client.run_command_and_check_ok("CAPABILITY", Some(tx)),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(imap_error(rec, t, e, &transcript)),
                Err(e) => return Err(rec.conn_fail(t, e)),
            }
            let mut list = Vec::new();
            while let Ok(u) = rx.try_recv() {
                if let async_imap::types::UnsolicitedResponse::Other(data) = u {
                    if let imap_proto::Response::Capabilities(caps) = data.parsed() {
                        list.extend(caps.iter().map(capability_name));
                    }
                }
            }
            list
        }
    };
    let caps = summarize(&list);
    rec.ok(t, Some(list.join(" ")));
    let offered = caps.auth_mechanisms.clone();
    // The LOGIN command is usable unless LOGINDISABLED says otherwise.
    let login_disabled = caps
        .raw
        .iter()
        .any(|c| c.eq_ignore_ascii_case("LOGINDISABLED"));
    let fallback = (!login_disabled).then_some(LOGIN_COMMAND);
    let sasl_ir = caps.raw.iter().any(|c| c.eq_ignore_ascii_case("SASL-IR"));
    rec.set_caps(caps);

    let target = rec.target().clone();
    let budget = wait_budget(ctx, rec);
    let mut client_slot = Some(client);
    // A logged-in session comes back here, so that its LOGOUT is a step like POP3's QUIT.
    let mut session_slot = None;
    let result = session::authenticate(ctx, rec, allowed, &offered, fallback, |cred, mech| {
        let client = client_slot.take();
        let transcript = transcript.clone();
        let slot = &mut *slot;
        let session_out = &mut session_slot;
        async move {
            let Some(client) = client else {
                return AuthResult::Garbled("no connection".into());
            };
            let (r, back) = login(
                session_out,
                client,
                cred,
                mech,
                &target.username,
                &target.host,
                target.combination.port,
                budget,
                &transcript,
                sasl_ir,
            )
            .await;
            *slot = back;
            r
        }
    })
    .await;
    if let Some(mut session) = session_slot.take() {
        // LOGOUT is courtesy: sent, its reply not awaited (the verdict is known).
        let t = rec.start(StepName::Logout);
        let sent = session.get_mut().send("z LOGOUT").await;
        session::goodbye(rec, t, sent);
    }
    // Not attempted: the client is still ours; say goodbye.
    if let Some(mut client) = client_slot.take() {
        let t = rec.start(StepName::Logout);
        let sent = client.get_mut().send("z LOGOUT").await;
        session::goodbye(rec, t, sent);
        *slot = Some(client.into_inner());
    }
    result
}

/// The greeting and, on a STARTTLS port, the upgrade, by hand: a session ready for the login.
/// Returns the capabilities the greeting listed, if any.
pub(crate) async fn open(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<Option<Vec<String>>, Failure> {
    let line = session::read_greeting(ctx, rec, conn).await?;
    let greeting_caps = match imap::parse_response(&line) {
        Ok(Response::Untagged(Untagged::Status(st))) => match st.status {
            Status::Ok | Status::PreAuth => st.code.as_deref().and_then(imap::capabilities_in_code),
            Status::Bye => {
                let t = rec.start(StepName::Greeting);
                return Err(rec.fail(
                    t,
                    Reason::ProtocolBusy,
                    "the server said BYE",
                    Some(st.text),
                ));
            }
            _ => return Err(session::wrong_greeting(rec, &line, "IMAP")),
        },
        _ => return Err(session::wrong_greeting(rec, &line, "IMAP")),
    };

    if rec.target().combination.security == Security::Starttls {
        let mut tags = imap::Tags::new();
        let before = capability_by_hand(rec, conn, &mut tags, greeting_caps.clone()).await?;
        let t = session::begin_starttls(rec, before, "STARTTLS")?;
        let tag = tags.next();
        let answer = tagged(conn, &tag, &format!("{tag} STARTTLS"))
            .await
            .map(|r| match r {
                Ok(st) if st.status == Status::Ok => Answer::Yes,
                Ok(st) => Answer::No(st.text),
                Err(line) => Answer::Garbled(line),
            });
        session::finish_starttls(ctx, rec, conn, t, answer).await?;
    }
    Ok(greeting_caps)
}

fn wait_budget(ctx: &ProbeContext, rec: &Recorder) -> Duration {
    ctx.policy
        .limits
        .step_timeout
        .min(rec.deadline.saturating_duration_since(Instant::now()))
}

/// Run an async-imap call within the step budget (async-imap has no timeouts of its own).
async fn bounded<T>(
    ctx: &ProbeContext,
    rec: &Recorder,
    fut: impl Future<Output = T>,
) -> Result<T, ConnError> {
    let budget = wait_budget(ctx, rec);
    tokio::time::timeout(budget, fut)
        .await
        .map_err(|_| ConnError::Timeout {
            waited_ms: budget.as_millis() as u64,
        })
}

fn capability_name(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4rev1".to_string(),
        Capability::Auth(m) => format!("AUTH={m}"),
        Capability::Atom(a) => a.to_string(),
    }
}

fn summarize(list: &[String]) -> Capabilities {
    let c = imap::Capabilities::from_list(list);
    Capabilities {
        // A SASL mechanism listed before TLS is a password login offered in clear too.
        login_offered: !c.login_disabled || !c.auth_mechanisms.is_empty(),
        starttls: c.starttls,
        auth_mechanisms: c.auth_mechanisms,
        raw: c.raw,
    }
}

/// Send a tagged command by hand and wait for its completion; untagged lines are skipped.
async fn tagged(
    conn: &mut Connection,
    tag: &str,
    cmd: &str,
) -> Result<Result<imap::StatusText, String>, ConnError> {
    conn.send(cmd).await?;
    collect_until(conn, tag, &mut Vec::new()).await
}

async fn collect_until(
    conn: &mut Connection,
    tag: &str,
    caps: &mut Vec<String>,
) -> Result<Result<imap::StatusText, String>, ConnError> {
    let max = conn.limits().max_reply_lines;
    for _ in 0..max {
        let line = conn.read_line().await?;
        match imap::parse_response(&line) {
            Ok(Response::Tagged { tag: t, status }) if t.eq_ignore_ascii_case(tag) => {
                return Ok(Ok(status))
            }
            Ok(Response::Untagged(Untagged::Capability(list))) => caps.extend(list),
            Ok(_) => {}
            Err(_) => return Ok(Err(line)),
        }
    }
    Ok(Err(format!("no completion after {max} lines")))
}

async fn capability_by_hand(
    rec: &mut Recorder,
    conn: &mut Connection,
    tags: &mut imap::Tags,
    from_greeting: Option<Vec<String>>,
) -> Result<Capabilities, Failure> {
    let t = rec.start(StepName::Capabilities);
    // A greeting that lists capabilities spares a round trip (RFC 9051 §7.1).
    if let Some(list) = from_greeting {
        rec.ok(t, Some(format!("from the greeting: {}", list.join(" "))));
        return Ok(summarize(&list));
    }
    let tag = tags.next();
    let mut list = Vec::new();
    let res = async {
        conn.send(&format!("{tag} CAPABILITY")).await?;
        collect_until(conn, &tag, &mut list).await
    }
    .await;
    match res {
        Err(e) => Err(rec.conn_fail(t, e)),
        Ok(Err(line)) => Err(rec.fail(
            t,
            Reason::ProtocolUnexpected,
            "unexpected answer to CAPABILITY",
            Some(line),
        )),
        Ok(Ok(st)) => {
            if st.status != Status::Ok {
                list.clear();
            }
            rec.ok(t, Some(list.join(" ")));
            Ok(summarize(&list))
        }
    }
}

/// The failure for an async-imap error, with the server's words from the wire record.
fn imap_error(
    rec: &mut Recorder,
    t: super::StepTimer,
    e: async_imap::error::Error,
    transcript: &SharedTranscript,
) -> Failure {
    use async_imap::error::Error as E;
    match e {
        E::Io(io) => rec.conn_fail(t, conn_error(&io)),
        E::ConnectionLost => rec.conn_fail(t, ConnError::Closed),
        E::No(_) | E::Bad(_) => {
            let says = last_tagged(transcript).map(|s| s.text);
            rec.fail(
                t,
                Reason::ProtocolUnexpected,
                "the server refused the command",
                says,
            )
        }
        other => rec.fail(
            t,
            Reason::ProtocolUnexpected,
            other.to_string(),
            last_line(transcript),
        ),
    }
}

pub(super) fn conn_error(io: &std::io::Error) -> ConnError {
    // Our connection reports its limits as io errors carrying a ConnError.
    if let Some(c) = io.get_ref().and_then(|e| e.downcast_ref::<ConnError>()) {
        return c.clone();
    }
    match io.kind() {
        std::io::ErrorKind::UnexpectedEof => ConnError::Closed,
        _ => ConnError::Io {
            detail: io.to_string(),
        },
    }
}

pub(super) fn last_tagged(transcript: &SharedTranscript) -> Option<imap::StatusText> {
    let log = transcript.lock().unwrap_or_else(|e| e.into_inner());
    log.recent()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|l| match imap::parse_response(l) {
            Ok(Response::Tagged { status, .. }) => Some(status),
            _ => None,
        })
}

fn last_line(transcript: &SharedTranscript) -> Option<String> {
    let log = transcript.lock().unwrap_or_else(|e| e.into_inner());
    log.recent().last().map(|s| s.to_string())
}

/// Challenges answered at most in one AUTHENTICATE (LOGIN needs two, an OAuth error one more
/// after the initial response), as the SMTP and POP3 drivers do.
const MAX_CHALLENGES: usize = 3;

/// Answers SASL challenges for async-imap.
pub(super) struct Responder {
    mechanism: &'static str,
    initial: Vec<u8>,
    user: String,
    secret: String,
    calls: usize,
    /// Set when the server asks more than `MAX_CHALLENGES` times. async-imap cannot cancel an
    /// exchange, so the connection refuses the response it writes next: the exchange ends
    /// there, at once (`Connection::refuse_writes_when`).
    gave_up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Responder {
    pub(super) fn new(mechanism: &'static str, initial: Vec<u8>, user: &str, secret: &str) -> Self {
        Responder {
            mechanism,
            initial,
            user: user.to_string(),
            secret: secret.to_string(),
            calls: 0,
            // The round trip bounds the whole exchange by the step timeout instead.
            gave_up: Default::default(),
        }
    }
}

impl async_imap::Authenticator for &mut Responder {
    type Response = Vec<u8>;
    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.calls += 1;
        if self.calls > MAX_CHALLENGES {
            self.gave_up
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return Vec::new();
        }
        match self.mechanism {
            "LOGIN" => match sasl::login_prompt(challenge) {
                sasl::LoginPrompt::Password => self.secret.as_bytes().to_vec(),
                _ => self.user.as_bytes().to_vec(),
            },
            // First challenge: the initial response. Later ones are OAuth error challenges,
            // acknowledged with an empty response (RFC 7628 §3.2.3).
            _ if self.calls == 1 => self.initial.clone(),
            _ => Vec::new(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn login(
    session_out: &mut Option<async_imap::Session<Connection>>,
    client: async_imap::Client<Connection>,
    cred: Credential,
    mech: &'static str,
    user: &str,
    host: &str,
    port: u16,
    budget: Duration,
    transcript: &SharedTranscript,
    sasl_ir: bool,
) -> (AuthResult, Option<Connection>) {
    let mut client = client;
    let secret = cred.secret().expose().to_string();
    client.get_mut().set_sensitive(true);
    let timeout = |ms: Duration| ConnError::Timeout {
        waited_ms: ms.as_millis() as u64,
    };
    let outcome = if mech == LOGIN_COMMAND {
        match tokio::time::timeout(budget, client.login(user, &secret)).await {
            Err(_) => return (AuthResult::Broken(timeout(budget)), None),
            Ok(r) => r,
        }
    } else {
        let initial = session::sasl_initial(mech, &cred, user, host, port).unwrap_or_default();
        client.get_mut().add_redaction(sasl::b64(&initial));
        // With SASL-IR (RFC 4959) the initial response rides on the command: one round trip.
        // async-imap sends "AUTHENTICATE <auth_type>", so the response goes into that word.
        let (command, calls) = if sasl_ir && mech != "LOGIN" {
            let ir = if initial.is_empty() {
                "=".to_string()
            } else {
                sasl::b64(&initial)
            };
            (format!("{mech} {ir}"), 1)
        } else {
            (mech.to_string(), 0)
        };
        let mut responder = Responder {
            mechanism: mech,
            initial,
            user: user.to_string(),
            secret: secret.clone(),
            calls,
            gave_up: Default::default(),
        };
        let gave_up = responder.gave_up.clone();
        client.get_mut().refuse_writes_when(gave_up.clone());
        match tokio::time::timeout(budget, client.authenticate(&command, &mut responder)).await {
            Err(_) => return (AuthResult::Broken(timeout(budget)), None),
            // A server that keeps asking: the exchange (and the connection) was dropped at the
            // write after the last answer, instead of answering until the step timeout.
            Ok(Err(_)) if gave_up.load(std::sync::atomic::Ordering::SeqCst) => {
                return (
                    AuthResult::Garbled(last_line(transcript).unwrap_or_default()),
                    None,
                )
            }
            Ok(r) => r,
        }
    };
    match outcome {
        Ok(mut session) => {
            session.get_mut().set_sensitive(false);
            *session_out = Some(session);
            (AuthResult::Accepted, None)
        }
        Err((e, mut client)) => {
            client.get_mut().set_sensitive(false);
            let result = match e {
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                    match last_tagged(transcript) {
                        Some(st) => AuthResult::Refused {
                            server_says: match &st.code {
                                Some(c) => format!("[{c}] {}", st.text),
                                None => st.text.clone(),
                            },
                            code: st
                                .code
                                .as_ref()
                                .map(|c| c.split_whitespace().next().unwrap_or("").to_string()),
                            enhanced: None,
                        },
                        None => AuthResult::Refused {
                            server_says: "NO".into(),
                            code: None,
                            enhanced: None,
                        },
                    }
                }
                async_imap::error::Error::Io(io) => AuthResult::Broken(conn_error(&io)),
                async_imap::error::Error::ConnectionLost => AuthResult::Broken(ConnError::Closed),
                other => {
                    AuthResult::Garbled(last_line(transcript).unwrap_or_else(|| other.to_string()))
                }
            };
            (result, Some(client.into_inner()))
        }
    }
}
