//! Microsoft Autodiscover, plain-old-XML form (the one that lists IMAP, POP3 and SMTP).
//!
//! Order tried (all started together, the first in order that answers wins):
//! `https://autodiscover.<domain>/autodiscover/autodiscover.xml`,
//! `https://<domain>/autodiscover/autodiscover.xml`, the http redirect form
//! (`GET http://autodiscover.<domain>/autodiscover/autodiscover.xml` answering a redirect to an
//! https URL), and the `_autodiscover._tcp.<domain>` SRV record. `RedirectAddr` and
//! `RedirectUrl` answers are followed at most [`MAX_HOPS`] times.
//!
//! [`parse`] is pure.

use serde::Deserialize;

use super::autoconfig::Server;
use super::{plausible_host, Candidate, Ctx, Found, SourceKind, Trail};
use crate::account::Address;
use crate::plan::{Protocol, Security};

/// Most `RedirectAddr` / `RedirectUrl` answers followed.
pub const MAX_HOPS: usize = 2;

const REQUEST_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const RESPONSE_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// What an Autodiscover document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Settings {
        servers: Vec<Server>,
        skipped: Vec<String>,
    },
    /// Ask again with this address.
    RedirectAddr(String),
    /// Ask this URL instead.
    RedirectUrl(String),
    Error {
        code: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct XRoot {
    #[serde(rename = "Response")]
    response: Option<XResponse>,
}

#[derive(Deserialize)]
struct XResponse {
    #[serde(rename = "Account")]
    account: Option<XAccount>,
    #[serde(rename = "Error")]
    error: Option<XError>,
}

#[derive(Deserialize)]
struct XError {
    #[serde(rename = "ErrorCode")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Deserialize)]
struct XAccount {
    #[serde(rename = "Action")]
    action: Option<String>,
    #[serde(rename = "RedirectAddr")]
    redirect_addr: Option<String>,
    #[serde(rename = "RedirectUrl")]
    redirect_url: Option<String>,
    #[serde(rename = "Protocol", default)]
    protocols: Vec<XProtocol>,
}

#[derive(Deserialize)]
struct XProtocol {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "Server")]
    server: Option<String>,
    #[serde(rename = "Port")]
    port: Option<String>,
    #[serde(rename = "LoginName")]
    login: Option<String>,
    #[serde(rename = "SSL")]
    ssl: Option<String>,
    #[serde(rename = "Encryption")]
    encryption: Option<String>,
    #[serde(rename = "SPA")]
    spa: Option<String>,
}

/// The request body for `address` (XML-escaped).
pub fn request_body(address: &str) -> String {
    let escaped = address
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"{REQUEST_SCHEMA}\">\n  <Request>\n    \
         <EMailAddress>{escaped}</EMailAddress>\n    \
         <AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>\n  \
         </Request>\n</Autodiscover>\n"
    )
}

/// Parse an Autodiscover response.
pub fn parse(xml: &[u8]) -> Result<Answer, String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.trim_start_matches('\u{feff}');
    let root: XRoot =
        quick_xml::de::from_str(text).map_err(|e| format!("not an Autodiscover document: {e}"))?;
    let resp = root
        .response
        .ok_or_else(|| "Autodiscover document without a Response".to_string())?;
    if let Some(e) = resp.error {
        return Ok(Answer::Error {
            code: e.code.unwrap_or_default().trim().to_string(),
            message: e.message.unwrap_or_default().trim().to_string(),
        });
    }
    let acct = resp
        .account
        .ok_or_else(|| "Autodiscover Response without an Account".to_string())?;
    let action = acct
        .action
        .as_deref()
        .unwrap_or("settings")
        .trim()
        .to_ascii_lowercase();
    match action.as_str() {
        "redirectaddr" => {
            let a = acct.redirect_addr.unwrap_or_default().trim().to_string();
            if a.is_empty() || !a.contains('@') {
                return Err(format!("redirectAddr without a usable address: {a:?}"));
            }
            return Ok(Answer::RedirectAddr(a));
        }
        "redirecturl" => {
            let u = acct.redirect_url.unwrap_or_default().trim().to_string();
            if u.is_empty() {
                return Err("redirectUrl without a URL".into());
            }
            return Ok(Answer::RedirectUrl(u));
        }
        _ => {}
    }
    let mut servers = Vec::new();
    let mut skipped = Vec::new();
    for p in &acct.protocols {
        match protocol(p) {
            Ok(Some(s)) => servers.push(s),
            Ok(None) => {}
            Err(e) => skipped.push(e),
        }
    }
    Ok(Answer::Settings { servers, skipped })
}

fn on(v: &Option<String>) -> Option<bool> {
    v.as_deref()
        .map(|s| s.trim().eq_ignore_ascii_case("on") || s.trim() == "true")
}

fn protocol(p: &XProtocol) -> Result<Option<Server>, String> {
    let kind = p.kind.as_deref().unwrap_or("").trim().to_ascii_uppercase();
    let protocol = match kind.as_str() {
        "IMAP" => Protocol::Imap,
        "POP3" => Protocol::Pop3,
        "SMTP" => Protocol::Smtp,
        // EXCH, EXPR, WEB, EXHTTP...: Exchange protocols, not probed.
        _ => return Ok(None),
    };
    let host = p
        .server
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !plausible_host(&host) {
        return Err(format!("{protocol}: unusable server {host:?}"));
    }
    let port: u16 = p
        .port
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{protocol} {host}: unusable port {:?}", p.port))?;
    let encryption = p
        .encryption
        .as_deref()
        .map(|e| e.trim().to_ascii_lowercase());
    let security = match (encryption.as_deref(), on(&p.ssl)) {
        (Some("ssl"), _) => Security::Tls,
        (Some("tls"), _) => Security::Starttls,
        (Some("none"), _) | (None | Some("auto"), Some(false)) => {
            return Err(format!(
                "{protocol} {host}:{port} without encryption: never probed"
            ))
        }
        // SSL on (or unsaid) with no precise Encryption: the port tells.
        _ => match port {
            993 | 995 | 465 => Security::Tls,
            _ => Security::Starttls,
        },
    };
    let mut auth = vec![];
    if on(&p.spa) == Some(true) {
        auth.push("SPA (NTLM)".to_string());
    }
    Ok(Some(Server {
        protocol,
        host,
        port,
        security,
        username: p
            .login
            .as_deref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        auth,
    }))
}

fn endpoint(host: &str) -> String {
    format!("https://{host}/autodiscover/autodiscover.xml")
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or(address)
}

/// POST to `url` for `email`, following redirect answers. Returns the settings, the URL that
/// gave them, whether every step was https, and the address they are for.
async fn chain(
    ctx: &Ctx,
    url: String,
    email: String,
    mut trusted: bool,
    trail: &Trail,
) -> Result<(Vec<Server>, Vec<String>, String, bool, String), String> {
    let mut url = url;
    let mut email = email;
    let mut hops = 0usize;
    loop {
        if !url.starts_with("https://") {
            return Err(format!(
                "refusing to post the address to non-https URL {url}"
            ));
        }
        trail.push(format!("POST {url}"));
        let got = ctx.http.post_xml(&url, request_body(&email)).await?;
        trusted &= got.trusted;
        if got.status != 200 {
            return Err(format!("{url}: HTTP {}", got.status));
        }
        match parse(&got.body).map_err(|e| format!("{url}: {e}"))? {
            Answer::Settings { servers, skipped } => {
                return Ok((servers, skipped, url, trusted, email));
            }
            Answer::Error { code, message } => {
                return Err(format!("{url}: Autodiscover error {code} {message}"));
            }
            Answer::RedirectUrl(next) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(format!(
                        "{url}: more than {MAX_HOPS} redirects (a loop?), last to {next}"
                    ));
                }
                trail.push(format!("redirectUrl -> {next}"));
                url = next;
            }
            Answer::RedirectAddr(next) => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(format!(
                        "{url}: more than {MAX_HOPS} redirects (a loop?), last to {next}"
                    ));
                }
                trail.push(format!("redirectAddr -> {next}"));
                url = endpoint(&format!("autodiscover.{}", domain_of(&next)));
                email = next;
            }
        }
    }
}

enum Start {
    Url(String),
    HttpRedirect(String),
    Srv(String),
}

async fn run_start(
    ctx: &Ctx,
    start: &Start,
    trail: &Trail,
) -> Result<(Vec<Server>, Vec<String>, String, bool, String), String> {
    let email = ctx.email();
    match start {
        Start::Url(u) => chain(ctx, u.clone(), email, true, trail).await,
        Start::HttpRedirect(u) => {
            trail.push(format!("GET {u}"));
            let got = ctx.http.get_no_follow(u).await?;
            let loc = match (got.status, got.location) {
                (300..=399, Some(l)) => l,
                (s, _) => return Err(format!("{u}: HTTP {s}, no redirect")),
            };
            let next = reqwest::Url::parse(u)
                .and_then(|b| b.join(&loc))
                .map_err(|e| format!("{u}: bad redirect {loc:?}: {e}"))?;
            trail.push(format!("redirected to {next}"));
            // The redirect itself came over http: the answer is not trusted.
            chain(ctx, next.to_string(), email, false, trail).await
        }
        Start::Srv(name) => {
            trail.push(format!("SRV {name}"));
            let recs = ctx
                .cfg
                .resolver
                .srv(name)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let mut recs: Vec<_> = recs.into_iter().filter(|r| r.target != ".").collect();
            recs.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
            let r = recs
                .first()
                .ok_or_else(|| format!("{name}: service not offered"))?;
            let url = if r.port == 443 {
                endpoint(&r.target)
            } else {
                endpoint(&format!("{}:{}", r.target, r.port))
            };
            // The URL came from DNS without DNSSEC validation.
            chain(ctx, url, email, false, trail).await
        }
    }
}

/// Source 6.
pub(crate) async fn source(ctx: &Ctx, trail: &Trail) -> Found {
    let d = &ctx.address.domain;
    let starts = [
        Start::Url(endpoint(&format!("autodiscover.{d}"))),
        Start::Url(endpoint(d)),
        Start::HttpRedirect(format!(
            "http://autodiscover.{d}/autodiscover/autodiscover.xml"
        )),
        Start::Srv(format!("_autodiscover._tcp.{d}")),
    ];
    let results = futures::future::join_all(starts.iter().map(|s| run_start(ctx, s, trail))).await;
    let mut why = Vec::new();
    let mut broke = false;
    for r in results {
        match r {
            Ok((servers, skipped, url, trusted, email)) if !servers.is_empty() => {
                let for_address = Address::parse(&email).ok();
                let login_default = for_address
                    .as_ref()
                    .map(|a| a.ascii())
                    .unwrap_or_else(|| ctx.email());
                let mut notes = skipped;
                if !why.is_empty() {
                    notes.push(format!("before it: {}", why.join("; ")));
                }
                let candidates: Vec<Candidate> = servers
                    .iter()
                    .map(|s| Candidate {
                        protocol: s.protocol,
                        host: s.host.clone(),
                        port: s.port,
                        security: s.security,
                        username: s.username.clone().unwrap_or_else(|| login_default.clone()),
                        auth: s.auth.clone(),
                        source: SourceKind::Autodiscover,
                        origin: url.clone(),
                        trusted,
                        notes: if trusted {
                            vec![]
                        } else {
                            vec!["reached through http or an unvalidated DNS record".into()]
                        },
                    })
                    .collect();
                return Found {
                    detail: format!(
                        "{url}{}: {} server(s)",
                        if trusted { "" } else { " (untrusted)" },
                        candidates.len()
                    ),
                    candidates,
                    notes,
                    provider: None,
                    failed: false,
                };
            }
            Ok((_, skipped, url, _, _)) => {
                why.push(format!("{url}: no IMAP, POP3 or SMTP server listed"));
                let _ = skipped;
            }
            Err(e) => {
                if !(e.contains("HTTP 404")
                    || e.starts_with("cannot connect")
                    || e.contains("not offered")
                    || e.contains("no such name")
                    || e.contains("no record"))
                {
                    broke = true;
                }
                why.push(e)
            }
        }
    }
    Found {
        detail: why.join("; "),
        failed: broke,
        ..Found::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SETTINGS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <User><DisplayName>Alice</DisplayName></User>
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol>
        <Type>EXCH</Type>
        <Server>ex.example.com</Server>
      </Protocol>
      <Protocol>
        <Type>IMAP</Type>
        <Server>imap.example.com</Server>
        <Port>993</Port>
        <LoginName>alice</LoginName>
        <SSL>on</SSL>
        <SPA>off</SPA>
      </Protocol>
      <Protocol>
        <Type>POP3</Type>
        <Server>pop.example.com</Server>
        <Port>110</Port>
        <SSL>on</SSL>
        <Encryption>TLS</Encryption>
      </Protocol>
      <Protocol>
        <Type>SMTP</Type>
        <Server>smtp.example.com</Server>
        <Port>25</Port>
        <SSL>off</SSL>
      </Protocol>
      <Protocol>
        <Type>SMTP</Type>
        <Server>smtp.example.com</Server>
        <Port>587</Port>
        <Encryption>TLS</Encryption>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>"#;

    #[test]
    fn settings() {
        let Answer::Settings { servers, skipped } = parse(SETTINGS.as_bytes()).unwrap() else {
            panic!("not settings");
        };
        assert_eq!(servers.len(), 3, "{servers:?}");
        assert_eq!(servers[0].protocol, Protocol::Imap);
        assert_eq!(servers[0].security, Security::Tls);
        assert_eq!(servers[0].username.as_deref(), Some("alice"));
        assert_eq!(servers[1].protocol, Protocol::Pop3);
        assert_eq!(servers[1].security, Security::Starttls);
        assert_eq!(servers[2].port, 587);
        assert_eq!(servers[2].security, Security::Starttls);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("without encryption"));
    }

    #[test]
    fn redirects_and_errors() {
        let r = |action: &str, inner: &str| {
            format!(
                "<Autodiscover><Response><Account><Action>{action}</Action>{inner}</Account></Response></Autodiscover>"
            )
        };
        assert_eq!(
            parse(
                r(
                    "redirectAddr",
                    "<RedirectAddr>bob@other.example</RedirectAddr>"
                )
                .as_bytes()
            )
            .unwrap(),
            Answer::RedirectAddr("bob@other.example".into())
        );
        assert_eq!(
            parse(
                r(
                    "redirectUrl",
                    "<RedirectUrl>https://x.example/a.xml</RedirectUrl>"
                )
                .as_bytes()
            )
            .unwrap(),
            Answer::RedirectUrl("https://x.example/a.xml".into())
        );
        assert!(parse(r("redirectAddr", "").as_bytes()).is_err());
        let e = "<Autodiscover><Response><Error Time=\"1\" Id=\"2\"><ErrorCode>600</ErrorCode><Message>Invalid Request</Message></Error></Response></Autodiscover>";
        assert_eq!(
            parse(e.as_bytes()).unwrap(),
            Answer::Error {
                code: "600".into(),
                message: "Invalid Request".into()
            }
        );
        assert!(parse(b"<Autodiscover><Response>").is_err());
        assert!(parse(b"<html/>").is_err());
    }

    #[test]
    fn request_escapes_the_address() {
        let b = request_body("a<b>&c@example.com");
        assert!(b.contains("<EMailAddress>a&lt;b&gt;&amp;c@example.com</EMailAddress>"));
        assert!(b.contains(RESPONSE_SCHEMA));
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_documents(cut in 0usize..SETTINGS.len(), junk in "[<>/a-zA-Z\"= ]{0,16}") {
            let mut s = SETTINGS.as_bytes()[..cut].to_vec();
            s.extend_from_slice(junk.as_bytes());
            s.extend_from_slice(&SETTINGS.as_bytes()[cut..]);
            let _ = parse(&s);
        }
    }
}
