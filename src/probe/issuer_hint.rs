//! Where a mail server says its clients sign in: a server that refuses an OAUTHBEARER token
//! answers with a JSON error that may carry `openid-configuration` (RFC 7628 §3.2.2; Dovecot's
//! `openid_configuration_url`). Asked only when nothing else names an OAuth2 issuer and the
//! user asked for it (`--oauth2-issuer-from-server`): the dummy token is one refused login at
//! the server. IMAP and POP3, whose SASL exchange needs no EHLO first; SMTP is not asked.

use std::time::Instant;

use super::{ProbeContext, Recorder};
use crate::model::{Protocol, Target};
use crate::net::connection::Connection;
use crate::proto::sasl;

/// Not a secret: a token no server can accept, so that the server answers with its error.
const DUMMY_TOKEN: &str = "mailcheck-asks-where-to-sign-in";

/// What a server said of its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHint {
    /// `imap://host:port` of the server that said it.
    pub server: String,
    /// The `openid-configuration` URL it named (https).
    pub configuration: String,
}

/// Asks the IMAP and POP3 targets, in the plan's order, until one names an
/// `openid-configuration`. Only a server whose certificate verified is believed: anyone on
/// the path of a plain or unverified session could name an issuer of theirs.
pub async fn ask(ctx: &ProbeContext, targets: &[Target]) -> Option<ServerHint> {
    for target in targets {
        let protocol = target.combination.protocol;
        if protocol == Protocol::Smtp {
            continue;
        }
        let deadline = Instant::now() + ctx.policy.limits.step_timeout * 3;
        let mut rec = Recorder::until(target.clone(), deadline);
        let Ok(mut conn) = super::open_session(ctx, &mut rec).await else {
            continue;
        };
        let verified = conn.is_tls()
            && rec
                .report
                .tls
                .as_ref()
                .is_some_and(|t| t.verification.is_trusted());
        if !verified {
            continue;
        }
        let initial = sasl::b64(&sasl::oauthbearer(
            &target.username,
            &target.host,
            target.combination.port,
            DUMMY_TOKEN,
        ));
        let said = match protocol {
            Protocol::Imap => {
                exchange(
                    &mut conn,
                    &format!("H1 AUTHENTICATE OAUTHBEARER {initial}"),
                    "+",
                )
                .await
            }
            _ => exchange(&mut conn, &format!("AUTH OAUTHBEARER {initial}"), "+").await,
        };
        if let Some(configuration) = said.as_deref().and_then(configuration_in) {
            return Some(ServerHint {
                server: format!(
                    "{}://{}:{}",
                    protocol.name(),
                    target.host,
                    target.combination.port
                ),
                configuration,
            });
        }
    }
    None
}

/// Sends the attempt; on a continuation (`+ base64`), its decoded text, after ending the
/// exchange as RFC 7628 §3.2.3 asks (a `%x01` response, then the server's final refusal).
async fn exchange(conn: &mut Connection, command: &str, continuation: &str) -> Option<String> {
    conn.send(command).await.ok()?;
    let line = conn.read_line().await.ok()?;
    let challenge = line.strip_prefix(continuation)?.trim();
    let text = sasl::oauth_error_challenge(challenge);
    let _ = conn.send(&sasl::b64(&[1])).await;
    let _ = conn.read_line().await;
    text
}

/// The https `openid-configuration` URL of an RFC 7628 error response.
fn configuration_in(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let url = v.get("openid-configuration")?.as_str()?;
    url.starts_with("https://").then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_read_from_the_error_response() {
        let json = r#"{"status":"invalid_token","schemes":"bearer","scope":"mail","openid-configuration":"https://auth.example.com/.well-known/openid-configuration"}"#;
        assert_eq!(
            configuration_in(json).as_deref(),
            Some("https://auth.example.com/.well-known/openid-configuration")
        );
        assert_eq!(configuration_in(r#"{"status":"invalid_token"}"#), None);
        // Only https: an issuer reached in clear could be anyone's.
        assert_eq!(
            configuration_in(
                r#"{"openid-configuration":"http://a/.well-known/openid-configuration"}"#
            ),
            None
        );
        assert_eq!(configuration_in("not json"), None);
    }
}
