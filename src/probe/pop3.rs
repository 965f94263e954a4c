//! POP3 session, by hand (RFC 1939, 2449 CAPA, 2595 STLS, 5034 SASL): greeting, CAPA, STLS,
//! CAPA again, AUTH (or USER/PASS), QUIT.

use super::session::{self, Answer, AuthResult, Capabilities};
use super::{Failure, ProbeContext, Recorder, StepName};
use crate::account::Credential;
use crate::model::{Security, Target};
use crate::net::connection::{ConnError, Connection};
use crate::outcome::Reason;
use crate::proto::{pop3, sasl};

pub(crate) async fn run(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<(), Failure> {
    open(ctx, rec, conn).await?;
    let caps = capa(rec, conn, StepName::CapabilitiesAfterTls).await?;
    let offered = caps.auth_mechanisms.clone();
    let fallback = caps
        .raw
        .iter()
        .any(|c| c.eq_ignore_ascii_case("USER"))
        .then_some("USER");
    rec.set_caps(caps);

    let allowed = rec.credentials_allowed(conn, &ctx.policy);
    let target = rec.target().clone();
    let c = &mut *conn;
    session::authenticate(ctx, rec, allowed, &offered, fallback, move |cred, mech| {
        login(c, cred, mech, target)
    })
    .await?;

    let t = rec.start(StepName::Logout);
    let sent = conn.send("QUIT").await;
    session::goodbye(rec, t, sent);
    Ok(())
}

/// The greeting and, on a STARTTLS port, the upgrade: a session ready for the login.
pub(crate) async fn open(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<(), Failure> {
    let greeting = session::read_greeting(ctx, rec, conn).await?;
    match pop3::parse_reply(&greeting) {
        Ok(r) if r.ok => {}
        Ok(r) => {
            let t = rec.start(StepName::Greeting);
            return Err(rec.fail(
                t,
                Reason::ProtocolBusy,
                "the server refuses the session",
                Some(r.text),
            ));
        }
        Err(_) => return Err(session::wrong_greeting(rec, &greeting, "POP3")),
    }

    if rec.target().combination.security == Security::Starttls {
        let before = capa(rec, conn, StepName::Capabilities).await?;
        let t = session::begin_starttls(rec, before, "STLS")?;
        let answer = command(conn, "STLS").await.map(judge);
        session::finish_starttls(ctx, rec, conn, t, answer).await?;
    }
    Ok(())
}

fn judge(reply: Result<pop3::Reply, String>) -> Answer {
    match reply {
        Ok(r) if r.ok => Answer::Yes,
        Ok(r) => Answer::No(r.text),
        Err(line) => Answer::Garbled(line),
    }
}

/// Send a command and read its one-line status: `Ok(Err(line))` when the line is not POP3.
pub(super) async fn command(
    conn: &mut Connection,
    cmd: &str,
) -> Result<Result<pop3::Reply, String>, ConnError> {
    conn.send(cmd).await?;
    let line = conn.read_line().await?;
    Ok(pop3::parse_reply(&line).map_err(|_| line))
}

/// A multi-line answer (RFC 1939 §3): its lines after `+OK`, dot-unstuffed and without the
/// final `.`, at most `max` kept (the rest are read and dropped); `Ok(None)` after `-ERR`;
/// `Err(line)` when the status line is not POP3.
pub(super) async fn multiline(
    conn: &mut Connection,
    cmd: &str,
    max: usize,
) -> Result<Result<Option<Vec<String>>, String>, ConnError> {
    match command(conn, cmd).await? {
        Ok(r) if r.ok => {}
        Ok(_) => return Ok(Ok(None)),
        Err(line) => return Ok(Err(line)),
    }
    let mut lines = Vec::new();
    loop {
        let line = conn.read_line().await?;
        match pop3::multiline_line(&line) {
            None => return Ok(Ok(Some(lines))),
            Some(l) if lines.len() < max => lines.push(l.to_string()),
            Some(_) => {}
        }
    }
}

async fn capa(
    rec: &mut Recorder,
    conn: &mut Connection,
    step: StepName,
) -> Result<Capabilities, Failure> {
    let t = rec.start(step);
    let max = conn.limits().max_reply_lines;
    match multiline(conn, "CAPA", max).await {
        Err(e) => Err(rec.conn_fail(t, e)),
        // CAPA is optional (RFC 2449): a server without it just has no list.
        Ok(Err(_) | Ok(None)) => {
            rec.ok(t, Some("CAPA not supported".into()));
            Ok(Capabilities {
                raw: vec![],
                starttls: false,
                auth_mechanisms: vec![],
                // RFC 1939 USER/PASS is always part of POP3 when nothing else is said.
                login_offered: true,
            })
        }
        Ok(Ok(Some(lines))) => {
            let c = pop3::Capabilities::from_lines(&lines);
            rec.ok(t, Some(lines.join(" ")));
            Ok(Capabilities {
                login_offered: c.user || !c.sasl.is_empty(),
                starttls: c.stls,
                auth_mechanisms: c.sasl,
                raw: c.raw,
            })
        }
    }
}

pub(super) async fn login(
    conn: &mut Connection,
    cred: Credential,
    mech: &'static str,
    target: Target,
) -> AuthResult {
    let (user, host, port) = (&target.username, &target.host, target.combination.port);
    let cred = &cred;
    conn.set_sensitive(true);
    let r: Result<AuthResult, ConnError> = async {
        if mech == "USER" {
            match command(conn, &format!("USER {user}")).await? {
                Ok(r) if r.ok => {}
                Ok(r) => return Ok(refused(r)),
                Err(line) => return Ok(AuthResult::Garbled(line)),
            }
            return Ok(
                match command(conn, &format!("PASS {}", cred.secret().expose())).await? {
                    Ok(r) if r.ok => AuthResult::Accepted,
                    Ok(r) => refused(r),
                    Err(line) => AuthResult::Garbled(line),
                },
            );
        }
        if mech == "LOGIN" {
            conn.send("AUTH LOGIN").await?;
            for _ in 0..3 {
                let line = conn.read_line().await?;
                let Some(ch) = pop3::parse_continuation(&line) else {
                    return Ok(final_reply(&line));
                };
                let answer = match sasl::unb64(&ch).map(|d| sasl::login_prompt(&d)) {
                    Some(sasl::LoginPrompt::Password) => {
                        sasl::b64(cred.secret().expose().as_bytes())
                    }
                    _ => sasl::b64(user.as_bytes()),
                };
                conn.send(&answer).await?;
            }
            let line = conn.read_line().await?;
            return Ok(final_reply(&line));
        }
        let Some(initial) = session::sasl_initial(mech, cred, user, host, port) else {
            return Ok(AuthResult::Garbled(format!(
                "mechanism {mech} not implemented"
            )));
        };
        let encoded = sasl::b64(&initial);
        conn.add_redaction(encoded.clone());
        conn.send(&format!("AUTH {mech} {encoded}")).await?;
        let mut line = conn.read_line().await?;
        // An OAuth error arrives as a continuation with a JSON challenge; the client answers
        // with an empty line and gets the final -ERR (RFC 7628 §3.2.3).
        if let Some(ch) = pop3::parse_continuation(&line) {
            conn.send("").await?;
            let last = conn.read_line().await?;
            let json = sasl::oauth_error_challenge(&ch);
            line = match json {
                Some(j) => format!("{last} {j}"),
                None => last,
            };
        }
        Ok(final_reply(&line))
    }
    .await;
    conn.set_sensitive(false);
    r.unwrap_or_else(AuthResult::Broken)
}

fn final_reply(line: &str) -> AuthResult {
    match pop3::parse_reply(line) {
        Ok(r) if r.ok => AuthResult::Accepted,
        Ok(r) => refused(r),
        Err(_) => AuthResult::Garbled(line.to_string()),
    }
}

fn refused(r: pop3::Reply) -> AuthResult {
    AuthResult::Refused {
        server_says: match &r.code {
            Some(c) => format!("-ERR [{c}] {}", r.text),
            None => format!("-ERR {}", r.text),
        },
        code: r.code,
        enhanced: None,
    }
}
