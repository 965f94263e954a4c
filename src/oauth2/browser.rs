//! The browser flow: authorization code with PKCE S256 (RFC 7636) and a loopback redirect
//! (RFC 8252 §7.3): `http://127.0.0.1:PORT/` on a random port, where one request is served (the
//! redirect with the code), its `state` checked, and the listener closed.
//!
//! The URL is opened with `$BROWSER` when set (the usual convention: a command that takes the
//! URL), else the desktop's opener, and always printed on stderr (`--no-browser`: only printed).

use std::net::{Ipv4Addr, SocketAddr};

use ::oauth2::basic::{BasicClient, BasicTokenResponse};
use ::oauth2::{
    AuthorizationCode, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge, RedirectUrl,
    Scope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{request_error, Http, OAuth2Settings, SignInError};
use crate::i18n::{self, Lang};
use crate::params;

type AuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Most bytes read of the redirect request (its request line and header).
const MAX_REQUEST: usize = 16 * 1024;

/// Signs in through the user's browser; the token response.
pub(super) async fn sign_in(
    client: AuthClient,
    s: &OAuth2Settings,
    scopes: &[String],
    http: &Http,
    lang: Lang,
) -> Result<BasicTokenResponse, SignInError> {
    let io = |e: std::io::Error| SignInError::Transport(format!("loopback redirect: {e}"));
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let redirect = RedirectUrl::new(format!("http://127.0.0.1:{port}/"))
        .map_err(|e| SignInError::Transport(e.to_string()))?;
    let client = client.set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    let _ = crate::app::eprint_line(format_args!(
        "{}",
        i18n::text(
            lang,
            "oauth2-browser-prompt",
            &params![("uri", url.as_str())]
        )
    ));
    if s.open_browser {
        open(url.as_str());
    }
    let answer = tokio::time::timeout(s.timeout, one_redirect(&listener, lang))
        .await
        .map_err(|_| SignInError::TimedOut(s.timeout))??;
    drop(listener);
    let code = match answer {
        Redirect {
            state: Some(got), ..
        } if got != *state.secret() => return Err(SignInError::StateMismatch),
        Redirect {
            error: Some(error),
            description,
            ..
        } => {
            return Err(match error.as_str() {
                "access_denied" => SignInError::Declined(description),
                _ => SignInError::Refused { error, description },
            })
        }
        Redirect {
            code: Some(code),
            state: Some(_),
            ..
        } => code,
        Redirect { state: None, .. } => return Err(SignInError::StateMismatch),
        Redirect { code: None, .. } => {
            return Err(SignInError::Transport(
                "the redirect carried neither a code nor an error".into(),
            ))
        }
    };
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .map_err(|e| request_error(e, None))
}

/// What the redirect's query said.
struct Redirect {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    description: Option<String>,
}

/// Serves the one request of the redirect: reads its request line, answers a short page in the
/// run's language, closes.
async fn one_redirect(listener: &TcpListener, lang: Lang) -> Result<Redirect, SignInError> {
    let io = |e: std::io::Error| SignInError::Transport(format!("loopback redirect: {e}"));
    let (mut stream, _) = listener.accept().await.map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/");
    let url = reqwest::Url::parse(&format!("http://127.0.0.1{target}"))
        .map_err(|e| SignInError::Transport(format!("loopback redirect: {e}")))?;
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let redirect = Redirect {
        code: get("code"),
        state: get("state"),
        error: get("error"),
        description: get("error_description"),
    };
    let page = i18n::text(lang, "oauth2-browser-page", &params![]);
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mailcheck</title></head>\
         <body><p>{}</p></body></html>",
        page.replace('&', "&amp;").replace('<', "&lt;")
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    Ok(redirect)
}

/// Opens `url` with `$BROWSER` (a command taking the URL; run by `sh`, the URL its argument),
/// else the desktop's opener; not waited for. A failure leaves the printed URL to the user.
fn open(url: &str) {
    let mut cmd = match std::env::var("BROWSER") {
        Ok(b) if !b.trim().is_empty() => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c")
                .arg(format!("{b} \"$1\""))
                .arg("mailcheck-browser")
                .arg(url);
            c
        }
        _ => {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            let mut c = tokio::process::Command::new(opener);
            c.arg(url);
            c
        }
    };
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false);
    if let Ok(mut child) = cmd.spawn() {
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
    }
}
