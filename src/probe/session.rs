//! What the three session drivers share: the capability summary, the STARTTLS upgrade with
//! its injection check, reading a greeting, and the login step with the lockout gate.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::gate::Judgement;
use super::{AuthOutcome, Failure, NotAttempted, ProbeContext, Recorder, StepName, StepTimer};
use crate::account::Credential;
use crate::model::{LoginMethod, Security};
use crate::net::connection::{ConnError, Connection};
use crate::net::tls::TlsError;
use crate::outcome::{Finding, FindingCode, Reason, Severity};
use crate::proto::sasl::{self, CredentialKind};

/// What a server advertises, in one shape for the three protocols.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// As the server listed them (IMAP capabilities, POP3 CAPA lines, SMTP EHLO keywords).
    pub raw: Vec<String>,
    pub starttls: bool,
    /// SASL mechanisms, upper-cased.
    pub auth_mechanisms: Vec<String>,
    /// A password login is advertised on this connection (IMAP: no LOGINDISABLED;
    /// POP3: USER or SASL; SMTP: AUTH).
    pub login_offered: bool,
}

/// The server's first words, or the failure that explains why they are not its protocol's.
pub(crate) async fn read_greeting(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<String, Failure> {
    let t = rec.start(StepName::Greeting);
    match greeting_or_tls(ctx, rec, conn.read_line()).await {
        Ok(Ok(line)) => {
            rec.set_greeting(&line);
            // The step is closed by the driver once it has judged the greeting.
            rec.ok(t, None);
            Ok(line)
        }
        Ok(Err(e)) => Err(rec.conn_fail(t, e)),
        Err(TlsServerHere) => Err(tls_server_here(rec, t)),
    }
}

/// A silent STARTTLS port answered a TLS ClientHello on a second connection.
pub(crate) struct TlsServerHere;

/// The failure for [`TlsServerHere`], as the greeting step's.
pub(crate) fn tls_server_here(rec: &mut Recorder, t: StepTimer) -> Failure {
    rec.fail(
        t,
        Reason::ProtocolTlsServer,
        "no greeting, but the port answers a TLS ClientHello: it is an implicit-TLS port",
        None,
    )
}

/// Wait for the greeting. A TLS server waits for the client to speak first, so on a STARTTLS
/// port a silent server may be one: after a short grace, "is a TLS server answering here?"
/// (a second connection, a real handshake) runs alongside the wait, and a yes ends it. A
/// silent port that is not TLS costs one timeout, not the greeting's and then the check's.
pub(crate) async fn greeting_or_tls<T>(
    ctx: &ProbeContext,
    rec: &Recorder,
    greeting: impl Future<Output = Result<T, ConnError>>,
) -> Result<Result<T, ConnError>, TlsServerHere> {
    let peer = rec.report.peer;
    let (Security::Starttls, Some(peer)) = (rec.target().combination.security, peer) else {
        return Ok(greeting.await);
    };
    let step = ctx.policy.limits.step_timeout;
    // Healthy servers greet within milliseconds, loaded ones (a batch of 64 at once) within
    // seconds: half the wait spares them a second connection, and leaves the other half to a
    // handshake, which takes milliseconds when a TLS server is there.
    let grace = step / 2;
    // The check ends when the greeting wait would: it must not outlast it.
    let budget = step
        .saturating_sub(grace)
        .min(rec.deadline.saturating_duration_since(Instant::now()))
        .max(Duration::from_millis(100));
    let target = rec.target().clone();
    let check = async move {
        tokio::time::sleep(grace).await;
        super::speaks_tls(ctx, &target, peer, budget).await
    };
    tokio::pin!(greeting, check);
    tokio::select! {
        r = &mut greeting => Ok(r),
        tls = &mut check => {
            if tls {
                Err(TlsServerHere)
            } else {
                Ok(greeting.await)
            }
        }
    }
}

/// The greeting was not of the expected protocol: name what it looks like.
pub(crate) fn wrong_greeting(rec: &mut Recorder, line: &str, expected: &str) -> Failure {
    let t = rec.start(StepName::Greeting);
    let bytes = line.as_bytes();
    // A TLS record starts with content type 0x15/0x16 and major version 3; lossy decoding
    // keeps the first byte as is.
    if bytes.first().is_some_and(|b| *b == 0x15 || *b == 0x16) {
        return rec.fail(
            t,
            Reason::ProtocolTlsServer,
            "the server speaks TLS on this plain-text port",
            None,
        );
    }
    rec.fail(
        t,
        Reason::ProtocolWrongProtocol,
        format!("the greeting is not an {expected} greeting"),
        Some(line.chars().take(200).collect()),
    )
}

/// STARTTLS accepted by the server: run the handshake, flag injected bytes.
pub(crate) async fn upgrade(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
) -> Result<(), Failure> {
    let name = rec.target().tls_name.clone();
    let t = rec.start(StepName::Tls);
    if rec.legacy_hello {
        return Err(super::legacy_after_starttls(rec, t, conn).await);
    }
    let (up, result) = conn.start_tls(&ctx.trust, &name).await;
    if !up.injected.is_empty() {
        let preview: String = String::from_utf8_lossy(&up.injected)
            .chars()
            .take(80)
            .collect();
        injection_finding(rec, up.injected.len(), &preview);
        let ti = rec.start(StepName::Starttls);
        let f = rec.fail(
            ti,
            Reason::StarttlsInjection,
            format!(
                "{} byte(s) sent before the TLS handshake",
                up.injected.len()
            ),
            Some(preview),
        );
        rec.soft_fail(f);
    }
    if let Err(TlsError::NotTls { first_bytes }) = &result {
        // Plain text where the server's half of the handshake should be: the same injection,
        // sent in a later TCP segment than the go-ahead (the client had already sent its
        // ClientHello). On a STARTTLS port this is not a plain-text server on a TLS port.
        if up.injected.is_empty() {
            injection_finding(rec, first_bytes.len(), first_bytes);
        }
        let detail = format!(
            "after the STARTTLS go-ahead the server sent plain text instead of its TLS handshake: {first_bytes:?}"
        );
        rec.report.tls = up.facts;
        return Err(rec.fail(
            t,
            Reason::StarttlsInjection,
            detail,
            Some(first_bytes.clone()),
        ));
    }
    rec.record_tls(t, up.facts, result)
}

/// Bytes that the server sent after its STARTTLS go-ahead and that are not TLS.
fn injection_finding(rec: &mut Recorder, bytes: usize, preview: &str) {
    rec.finding(Finding::new(
        FindingCode::StarttlsInjection,
        Severity::Critical,
        crate::params![("bytes", bytes), ("preview", format!("{preview:?}"))],
    ));
}

/// A protocol's answer to a command, judged by the driver that knows the protocol.
pub(crate) enum Answer {
    Yes,
    /// A refusal, with the server's words.
    No(String),
    /// Not this protocol at all.
    Garbled(String),
}

/// Record what the server offers before TLS and open the STARTTLS step; fails when the
/// server does not advertise STARTTLS (`keyword` is the protocol's name for it).
pub(crate) fn begin_starttls(
    rec: &mut Recorder,
    before: Capabilities,
    keyword: &str,
) -> Result<StepTimer, Failure> {
    if before.login_offered {
        rec.finding(Finding::new(
            FindingCode::PlaintextLoginOffered,
            Severity::Warning,
            crate::i18n::Params::new(),
        ));
    }
    let offered = before.starttls;
    rec.set_caps_before_tls(before);
    let t = rec.start(StepName::Starttls);
    if !offered {
        return Err(rec.fail(
            t,
            Reason::StarttlsNotOffered,
            format!("the capabilities do not list {keyword}"),
            None,
        ));
    }
    Ok(t)
}

/// Judge the server's answer to STARTTLS and, on a go-ahead, upgrade the connection.
pub(crate) async fn finish_starttls(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    conn: &mut Connection,
    t: StepTimer,
    answer: Result<Answer, ConnError>,
) -> Result<(), Failure> {
    match answer {
        Err(e) => return Err(rec.conn_fail(t, e)),
        Ok(Answer::Yes) => rec.ok(t, None),
        Ok(Answer::No(says)) => {
            return Err(rec.fail(t, Reason::StarttlsRefused, "STARTTLS refused", Some(says)))
        }
        Ok(Answer::Garbled(line)) => {
            return Err(rec.fail(
                t,
                Reason::ProtocolUnexpected,
                "unexpected answer to STARTTLS",
                Some(line),
            ))
        }
    }
    upgrade(ctx, rec, conn).await
}

/// The goodbye (QUIT, LOGOUT) once it is sent: the verdict is made, so its reply is not
/// awaited (a round trip saved on every combination) and a failure to send is only noted.
pub(crate) fn goodbye(rec: &mut Recorder, t: StepTimer, sent: Result<(), ConnError>) {
    let note = match sent {
        Ok(()) => "sent; the reply is not awaited".to_string(),
        Err(e) => e.to_string(),
    };
    rec.ok(t, Some(note));
}

/// How a login exchange ended.
pub(crate) enum AuthResult {
    Accepted,
    /// The server answered no; its words and codes are classified into a reason.
    Refused {
        server_says: String,
        code: Option<String>,
        enhanced: Option<String>,
    },
    /// The exchange broke down before a verdict.
    Broken(ConnError),
    /// The server answered something that is not its protocol.
    Garbled(String),
}

/// The mechanism for a method the user insists on, if the server offers it: a SASL name from
/// `offered`, or the protocol's own command (`fallback`). A method of the other kind of
/// credential (a password method with a token, a token one with a password) fits nowhere.
fn forced_mechanism(
    method: LoginMethod,
    offered: &[String],
    kind: CredentialKind,
    fallback: Option<&'static str>,
) -> Option<&'static str> {
    let (sasl_name, for_kind) = match method {
        LoginMethod::Plain => ("PLAIN", CredentialKind::Password),
        LoginMethod::Login => ("LOGIN", CredentialKind::Password),
        LoginMethod::Command => {
            return fallback.filter(|_| kind == CredentialKind::Password);
        }
        LoginMethod::XOAuth2 => ("XOAUTH2", CredentialKind::OAuth2Token),
        LoginMethod::OAuthBearer => ("OAUTHBEARER", CredentialKind::OAuth2Token),
    };
    if kind != for_kind {
        return None;
    }
    offered
        .iter()
        .any(|o| o.trim().eq_ignore_ascii_case(sasl_name))
        .then_some(sasl_name)
}

fn login_method_name(m: LoginMethod) -> &'static str {
    match m {
        LoginMethod::Plain => "plain",
        LoginMethod::Login => "login",
        LoginMethod::Command => "command",
        LoginMethod::XOAuth2 => "xoauth2",
        LoginMethod::OAuthBearer => "oauthbearer",
    }
}

/// The login step for every protocol: checks that credentials may be sent here, picks the
/// mechanism, takes the lockout gate, runs `exchange`, records the outcome.
///
/// `fallback` is a protocol's own password command when no SASL mechanism fits
/// (IMAP LOGIN, POP3 USER/PASS).
pub(crate) async fn authenticate<F, Fut>(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    allowed: Result<(), NotAttempted>,
    offered: &[String],
    fallback: Option<&'static str>,
    exchange: F,
) -> Result<(), Failure>
where
    F: FnOnce(Credential, &'static str) -> Fut,
    Fut: Future<Output = AuthResult>,
{
    let Some(cred) = ctx.credential.clone() else {
        rec.set_auth(AuthOutcome::NotAttempted {
            why: NotAttempted::NoCredentials,
        });
        return Ok(());
    };
    if let Err(why) = allowed {
        rec.set_auth(AuthOutcome::NotAttempted { why });
        return Ok(());
    }
    // A server whose only SASL mechanisms are OAuth2 ones (Microsoft 365 with basic
    // authentication disabled) refuses passwords whatever they are: its generic refusal
    // ("NO LOGIN failed.", "-ERR Logon failure") means OAuth2 is required, not a wrong password.
    let oauth_only = cred.kind() == CredentialKind::Password
        && !offered.is_empty()
        && offered.iter().all(|m| {
            sasl::choose_mechanism(std::slice::from_ref(m), CredentialKind::OAuth2Token).is_some()
        });
    let forced = ctx.policy.login_method;
    let mechanism = match forced {
        None => sasl::choose_mechanism(offered, cred.kind()).or(match cred.kind() {
            CredentialKind::Password => fallback,
            CredentialKind::OAuth2Token => None,
        }),
        Some(method) => forced_mechanism(method, offered, cred.kind(), fallback),
    };
    let Some(mechanism) = mechanism else {
        rec.set_auth(AuthOutcome::NotAttempted {
            why: NotAttempted::NoUsableMechanism,
        });
        let t = rec.start(StepName::Auth);
        let kind = match cred.kind() {
            CredentialKind::Password => "a password",
            CredentialKind::OAuth2Token => "an OAuth2 token",
        };
        return Err(rec.fail(
            t,
            if oauth_only {
                Reason::AuthOauth2Required
            } else {
                Reason::AuthMechanismNotOffered
            },
            format!(
                "no mechanism for {kind}{} among those offered: {}",
                match forced {
                    Some(m) => format!(" (--auth-mechanism {})", login_method_name(m)),
                    None => String::new(),
                },
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(" ")
                }
            ),
            None,
        ));
    };
    let (host, user) = (rec.target().host.clone(), rec.target().username.clone());
    // Waiting for another combination's login is bounded by this probe's deadline too.
    let until = tokio::time::Instant::from_std(rec.deadline);
    let entered = ctx.gate.enter(&host, &user, ctx.secret_digest);
    let Ok(permit) = tokio::time::timeout_at(until, entered).await else {
        rec.set_auth(AuthOutcome::NotAttempted {
            why: NotAttempted::SkippedAfterStall,
        });
        return Ok(());
    };
    match permit.known() {
        Judgement::Rejected(r) => {
            let first_here = r.run != ctx.run_id
                && ctx
                    .reported_refusals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((host.to_ascii_lowercase(), user.to_lowercase()));
            if !first_here {
                rec.set_auth(AuthOutcome::NotAttempted {
                    why: NotAttempted::SkippedAfterRejection,
                });
                return Ok(());
            }
            // Another run (an earlier scrape, another line of the batch) met this refusal:
            // report it, with its age, rather than spend a second failed login on it.
            let t = rec.start(StepName::Auth);
            rec.set_auth(AuthOutcome::Rejected {
                mechanism: r.mechanism.clone(),
                ms: 0,
                server_says: r.server_says.clone(),
            });
            return Err(rec.fail(
                t,
                r.reason,
                format!(
                    "{} login refused {} s ago with this secret: not tried again",
                    r.mechanism,
                    r.at.elapsed().as_secs()
                ),
                Some(r.server_says.clone()),
            ));
        }
        Judgement::Stalled => {
            rec.set_auth(AuthOutcome::NotAttempted {
                why: NotAttempted::SkippedAfterStall,
            });
            return Ok(());
        }
        Judgement::Unknown | Judgement::Accepted => {}
    }
    let t = rec.start(StepName::Auth);
    let token = cred.kind() == CredentialKind::OAuth2Token;
    let result = exchange(cred, mechanism).await;
    let ms = t.elapsed_ms();
    match result {
        AuthResult::Accepted => {
            permit.settle(Judgement::Accepted);
            rec.set_auth(AuthOutcome::Succeeded {
                mechanism: mechanism.to_string(),
                ms,
            });
            rec.ok(t, Some(format!("logged in with {mechanism}")));
            Ok(())
        }
        AuthResult::Refused {
            server_says,
            code,
            enhanced,
        } => {
            let reason = match crate::outcome::classify_auth_refusal(
                code.as_deref(),
                enhanced.as_deref(),
                &server_says,
            ) {
                Reason::AuthRejected if oauth_only => Reason::AuthOauth2Required,
                // A token refused: not a password problem, whatever the words.
                Reason::AuthRejected | Reason::AuthOauth2Required if token => {
                    Reason::AuthOauth2TokenRefused
                }
                r => r,
            };
            // A temporary failure says nothing about the credential: the next one may try.
            permit.settle(if reason.is_credential_verdict() {
                Judgement::Rejected(super::Refusal {
                    reason,
                    server_says: server_says.clone(),
                    mechanism: mechanism.to_string(),
                    at: std::time::Instant::now(),
                    run: ctx.run_id,
                })
            } else {
                Judgement::Unknown
            });
            rec.set_auth(AuthOutcome::Rejected {
                mechanism: mechanism.to_string(),
                ms,
                server_says: server_says.clone(),
            });
            // The issuer did not grant the scope this protocol needs: the likely cause.
            let protocol = rec.target().combination.protocol;
            if reason == Reason::AuthOauth2TokenRefused {
                if let Some((_, scope)) = ctx
                    .oauth2_missing_scopes
                    .iter()
                    .find(|(p, _)| *p == protocol)
                {
                    rec.finding(Finding::new(
                        FindingCode::Oauth2ScopeMissing,
                        Severity::Warning,
                        crate::params![
                            ("scope", scope.as_str()),
                            ("protocol", protocol.name().to_uppercase()),
                        ],
                    ));
                }
            }
            Err(rec.fail(
                t,
                reason,
                format!("{mechanism} login refused"),
                Some(server_says),
            ))
        }
        AuthResult::Broken(e) => {
            // A server that stalls at login would stall the next combination too: one
            // timeout per run, not one per combination.
            permit.settle(if matches!(e, ConnError::Timeout { .. }) {
                Judgement::Stalled
            } else {
                Judgement::Unknown
            });
            rec.set_auth(AuthOutcome::Failed {
                mechanism: mechanism.to_string(),
                ms,
                detail: e.to_string(),
            });
            Err(rec.conn_fail(t, e))
        }
        AuthResult::Garbled(line) => {
            permit.settle(Judgement::Unknown);
            rec.set_auth(AuthOutcome::Failed {
                mechanism: mechanism.to_string(),
                ms,
                detail: "unexpected answer".into(),
            });
            Err(rec.fail(
                t,
                Reason::ProtocolUnexpected,
                "unexpected answer during login",
                Some(line),
            ))
        }
    }
}

/// The initial-response bytes of a SASL mechanism for this credential.
pub(crate) fn sasl_initial(
    mechanism: &str,
    cred: &Credential,
    user: &str,
    host: &str,
    port: u16,
) -> Option<Vec<u8>> {
    let secret = cred.secret().expose();
    match mechanism {
        "PLAIN" => Some(sasl::plain("", user, secret)),
        "XOAUTH2" => Some(sasl::xoauth2(user, secret)),
        "OAUTHBEARER" => Some(sasl::oauthbearer(user, host, port, secret)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_method_is_used_only_where_offered() {
        let offered = vec!["PLAIN".to_string(), "login".to_string()];
        let pw = CredentialKind::Password;
        let forced = |m, offered: &[String], fallback| forced_mechanism(m, offered, pw, fallback);
        assert_eq!(forced(LoginMethod::Login, &offered, None), Some("LOGIN"));
        assert_eq!(forced(LoginMethod::Plain, &offered, None), Some("PLAIN"));
        assert_eq!(
            forced(LoginMethod::Login, &offered[..1], Some("USER")),
            None
        );
        assert_eq!(
            forced(LoginMethod::Command, &offered, Some("USER")),
            Some("USER")
        );
        // SMTP has no login command of its own.
        assert_eq!(forced(LoginMethod::Command, &offered, None), None);
        // A token never goes through a password method.
        assert_eq!(
            forced_mechanism(
                LoginMethod::Plain,
                &offered,
                CredentialKind::OAuth2Token,
                None
            ),
            None
        );
        // And a password never through a token one; a token goes where it is forced.
        let both = vec!["XOAUTH2".to_string(), "OAUTHBEARER".to_string()];
        assert_eq!(forced(LoginMethod::XOAuth2, &both, None), None);
        let token = |m| forced_mechanism(m, &both, CredentialKind::OAuth2Token, Some("USER"));
        assert_eq!(token(LoginMethod::XOAuth2), Some("XOAUTH2"));
        assert_eq!(token(LoginMethod::OAuthBearer), Some("OAUTHBEARER"));
        assert_eq!(token(LoginMethod::Command), None);
    }
}
