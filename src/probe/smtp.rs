//! SMTP submission session, by hand (RFC 5321, 3207 STARTTLS, 4954 AUTH, 8314): greeting
//! (multi-line), EHLO, STARTTLS, EHLO again, AUTH PLAIN/LOGIN/XOAUTH2/OAUTHBEARER, QUIT.
//! Reply codes and enhanced status codes are kept as the server's words.

use super::session::{self, AuthResult, Capabilities};
use super::{Failure, ProbeContext, Recorder, StepName};
use crate::account::Credential;
use crate::model::{Security, Target};
use crate::net::connection::{ConnError, Connection};
use crate::outcome::{Finding, FindingCode, Reason, Severity};
use crate::proto::{sasl, smtp};

/// A reply, or the line that was not SMTP.
type Answer = Result<smtp::Reply, String>;

pub(crate) async fn run(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<(), Failure> {
    open(ctx, rec, conn).await?;
    let caps = ehlo(rec, conn, StepName::CapabilitiesAfterTls).await?;
    let offered = caps.auth_mechanisms.clone();
    rec.set_caps(caps);

    let allowed = rec.credentials_allowed(conn, &ctx.policy);
    let target = rec.target().clone();
    let c = &mut *conn;
    session::authenticate(ctx, rec, allowed, &offered, None, move |cred, mech| {
        login(c, cred, mech, target)
    })
    .await?;

    let t = rec.start(StepName::Logout);
    let sent = conn.send("QUIT").await;
    session::goodbye(rec, t, sent);
    Ok(())
}

/// The greeting and, on a STARTTLS port, EHLO and the upgrade: a session ready for EHLO over
/// TLS (there is no new greeting after STARTTLS, RFC 3207 §4.2).
pub(crate) async fn open(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<(), Failure> {
    let t = rec.start(StepName::Greeting);
    let greeting = match session::greeting_or_tls(ctx, rec, read_reply(conn)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Err(rec.conn_fail(t, e)),
        Err(session::TlsServerHere) => return Err(session::tls_server_here(rec, t)),
    };
    match greeting {
        // The greeting as the server said it, code included, like IMAP's and POP3's lines.
        Ok(r) if r.code == 220 => {
            rec.set_greeting(&say(&r));
            rec.ok(t, None);
        }
        Ok(r) => {
            rec.set_greeting(&say(&r));
            return Err(rec.fail(
                t,
                Reason::ProtocolBusy,
                format!("greeting code {}", r.code),
                Some(say(&r)),
            ));
        }
        Err(line) => {
            rec.set_greeting(&line);
            return Err(session::wrong_greeting(rec, &line, "SMTP"));
        }
    }

    if rec.target().combination.security == Security::Starttls {
        let before = ehlo(rec, conn, StepName::Capabilities).await?;
        if before.login_offered {
            rec.finding(Finding::new(
                FindingCode::SmtpAuthBeforeTls,
                Severity::Warning,
                crate::i18n::Params::new(),
            ));
        }
        if before.starttls && rec.target().combination.port == 587 {
            mail_before_tls(rec, conn).await?;
        }
        let t = session::begin_starttls(rec, before, "STARTTLS")?;
        let answer = command(conn, "STARTTLS").await.map(|a| judge(a, 220));
        session::finish_starttls(ctx, rec, conn, t, answer).await?;
    }
    Ok(())
}

/// Does the submission port take mail before STARTTLS? `MAIL FROM:<>` (no credential, no
/// recipient, so nothing can be sent) then `RSET`: a 250 means a client set to "no encryption"
/// could submit in clear, if the server then let it authenticate or relay. Only asked when
/// STARTTLS is offered: without it there is no TLS to require and `starttls.not-offered` says so.
async fn mail_before_tls(rec: &mut Recorder, conn: &mut Connection) -> Result<(), Failure> {
    let t = rec.start(StepName::Capabilities);
    let accepted = match command(conn, "MAIL FROM:<>").await {
        Ok(Ok(r)) => r.code == 250,
        Ok(Err(_)) => false,
        Err(e) => return Err(rec.conn_fail(t, e)),
    };
    if accepted {
        rec.finding(Finding::new(
            FindingCode::SmtpStarttlsNotRequired,
            Severity::Warning,
            crate::i18n::Params::new(),
        ));
        // Whatever RSET answers, the transaction is gone by STARTTLS (RFC 3207 §4.2).
        if let Err(e) = command(conn, "RSET").await {
            return Err(rec.conn_fail(t, e));
        }
    }
    Ok(())
}

fn judge(answer: Answer, expected: u16) -> session::Answer {
    match answer {
        Ok(r) if r.code == expected => session::Answer::Yes,
        Ok(r) => session::Answer::No(say(&r)),
        Err(line) => session::Answer::Garbled(line),
    }
}

fn say(r: &smtp::Reply) -> String {
    format!("{} {}", r.code, r.lines.join(" / "))
}

async fn read_reply(conn: &mut Connection) -> Result<Answer, ConnError> {
    let mut parser = smtp::ReplyParser::new(conn.limits().max_reply_lines);
    loop {
        let line = conn.read_line().await?;
        match parser.push(&line) {
            Ok(Some(reply)) => return Ok(Ok(reply)),
            Ok(None) => {}
            Err(_) => return Ok(Err(line)),
        }
    }
}

async fn command(conn: &mut Connection, cmd: &str) -> Result<Answer, ConnError> {
    conn.send(cmd).await?;
    read_reply(conn).await
}

async fn ehlo(
    rec: &mut Recorder,
    conn: &mut Connection,
    step: StepName,
) -> Result<Capabilities, Failure> {
    let t = rec.start(step);
    match command(conn, &format!("EHLO {}", smtp::EHLO_NAME)).await {
        Err(e) => Err(rec.conn_fail(t, e)),
        Ok(Err(line)) => Err(rec.fail(
            t,
            Reason::ProtocolUnexpected,
            "unexpected answer to EHLO",
            Some(line),
        )),
        Ok(Ok(r)) if r.code == 250 => {
            let e = smtp::Extensions::from_ehlo(&r);
            rec.ok(t, Some(e.raw.join(" ")));
            Ok(Capabilities {
                login_offered: !e.auth_mechanisms.is_empty(),
                starttls: e.starttls,
                auth_mechanisms: e.auth_mechanisms,
                raw: e.raw,
            })
        }
        Ok(Ok(r)) => {
            let reason = if r.code == 421 {
                Reason::ProtocolBusy
            } else {
                Reason::ProtocolUnexpected
            };
            Err(rec.fail(
                t,
                reason,
                format!("EHLO answered {}", r.code),
                Some(say(&r)),
            ))
        }
    }
}

async fn login(
    conn: &mut Connection,
    cred: Credential,
    mech: &'static str,
    target: Target,
) -> AuthResult {
    let (user, host, port) = (&target.username, &target.host, target.combination.port);
    let cred = &cred;
    conn.set_sensitive(true);
    let r: Result<AuthResult, ConnError> = async {
        let mut reply = if mech == "LOGIN" {
            command(conn, "AUTH LOGIN").await?
        } else {
            let Some(initial) = session::sasl_initial(mech, cred, user, host, port) else {
                return Ok(AuthResult::Garbled(format!(
                    "mechanism {mech} not implemented"
                )));
            };
            let encoded = sasl::b64(&initial);
            conn.add_redaction(encoded.clone());
            command(conn, &format!("AUTH {mech} {encoded}")).await?
        };
        // Answer at most a few challenges: LOGIN asks twice, an OAuth error once. A server
        // that keeps asking is cancelled with "*" (RFC 4954 §4).
        for _ in 0..3 {
            let r = match reply {
                Err(line) => return Ok(AuthResult::Garbled(line)),
                Ok(r) => r,
            };
            if r.code != 334 {
                return Ok(verdict(r));
            }
            let challenge = r.lines.first().cloned().unwrap_or_default();
            let answer = if mech == "LOGIN" {
                match sasl::unb64(&challenge).map(|d| sasl::login_prompt(&d)) {
                    Some(sasl::LoginPrompt::Password) => {
                        sasl::b64(cred.secret().expose().as_bytes())
                    }
                    _ => sasl::b64(user.as_bytes()),
                }
            } else {
                // OAuth error challenge (RFC 7628 §3.2.3): acknowledge with an empty line.
                String::new()
            };
            reply = command(conn, &answer).await?;
        }
        conn.send("*").await?;
        // After a cancel the server's answer (501, or yet another 334) says nothing about the
        // credential: the exchange broke down.
        Ok(match read_reply(conn).await? {
            Ok(r) => AuthResult::Garbled(say(&r)),
            Err(line) => AuthResult::Garbled(line),
        })
    }
    .await;
    conn.set_sensitive(false);
    r.unwrap_or_else(AuthResult::Broken)
}

fn verdict(r: smtp::Reply) -> AuthResult {
    if r.code == 235 {
        return AuthResult::Accepted;
    }
    // Only a negative reply is a refusal; anything else (250, 220...) is not an answer to AUTH.
    if r.code < 400 {
        return AuthResult::Garbled(say(&r));
    }
    AuthResult::Refused {
        server_says: say(&r),
        code: Some(r.code.to_string()),
        enhanced: r.enhanced,
    }
}
