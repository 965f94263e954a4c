//! Microsoft Autodiscover, plain-old-XML form (the one that lists IMAP, POP3 and SMTP).
//!
//! Order tried (all started together, the first in order that answers wins):
//! `https://autodiscover.<domain>/autodiscover/autodiscover.xml`,
//! `https://<domain>/autodiscover/autodiscover.xml`, the http redirect form
//! (`GET http://autodiscover.<domain>/autodiscover/autodiscover.xml` answering a redirect to an
//! https URL), and the `_autodiscover._tcp.<domain>` SRV record. `RedirectAddr` and
//! `RedirectUrl` answers, and HTTP redirects of the POST to an https URL, are followed at most
//! [`MAX_HOPS`] times in all. Each way is cut at the source's deadline, and the first in
//! order that gave servers wins even if a later one is still hanging.
//!
//! [`parse`] is pure.

use serde::Deserialize;

use super::autoconfig::Server;
use super::http::{self, HttpError};
use super::{
    document_host, in_order, Budget, Candidate, Ctx, Found, Note, Notes, Obstacle, SourceKind,
    Trail,
};
use crate::account::Address;
use crate::model::{Protocol, Security};
use crate::net::resolver::{Dnssec, LookupError};

/// Most redirects followed in one chain: `RedirectAddr` / `RedirectUrl` answers and HTTP
/// redirects of the POST together.
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
        skipped: Vec<Note>,
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
    let text = super::autoconfig::decode_xml(xml)?;
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

fn protocol(p: &XProtocol) -> Result<Option<Server>, Note> {
    let kind = p.kind.as_deref().unwrap_or("").trim().to_ascii_uppercase();
    let protocol = match kind.as_str() {
        "IMAP" => Protocol::Imap,
        "POP3" => Protocol::Pop3,
        "SMTP" => Protocol::Smtp,
        // EXCH, EXPR, WEB, EXHTTP...: Exchange protocols, not probed.
        _ => return Ok(None),
    };
    let given = p.server.as_deref().unwrap_or("").trim();
    let host = document_host(given).ok_or_else(|| Note::SkippedHost {
        protocol,
        given: given.to_string(),
    })?;
    let port: u16 = p
        .port
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Note::SkippedPort {
            protocol,
            host: host.clone(),
            given: p.port.clone().unwrap_or_default(),
        })?;
    let encryption = p
        .encryption
        .as_deref()
        .map(|e| e.trim().to_ascii_lowercase());
    let security = match (encryption.as_deref(), on(&p.ssl)) {
        (Some("ssl"), _) => Security::Tls,
        (Some("tls"), _) => Security::Starttls,
        (Some("none"), _) | (None | Some("auto"), Some(false)) => {
            return Err(Note::SkippedUnencrypted {
                protocol,
                host,
                port,
            })
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

/// Why one way of asking gave nothing.
#[derive(Debug)]
struct Failure {
    text: String,
    /// Nothing is there (no server, 404, no record): not a fault of the domain's setup.
    absent: bool,
    obstacle: Obstacle,
}

impl Failure {
    fn broken(text: impl Into<String>) -> Failure {
        Failure {
            text: text.into(),
            absent: false,
            obstacle: Obstacle::Broken,
        }
    }
    fn absent(text: impl Into<String>) -> Failure {
        Failure {
            text: text.into(),
            absent: true,
            obstacle: Obstacle::Absent,
        }
    }
    /// A failed lookup of `name`.
    fn lookup(text: String, e: &LookupError, name: &str, domain: &str) -> Failure {
        Failure {
            text,
            absent: matches!(e, LookupError::NotFound { .. }),
            obstacle: Obstacle::of_lookup(e, name, domain),
        }
    }
    /// An HTTP client error for `what` (`POST https://...`).
    fn http(what: &str, e: HttpError) -> Failure {
        let text = match &e {
            // Redirect answers and HTTP redirects share one count: worded as for both.
            HttpError::TooManyRedirects { chain, .. } => {
                let (from, to) = match chain.as_slice() {
                    [.., from, to] => (from.as_str(), to.as_str()),
                    _ => (what, ""),
                };
                format!("{from}: more than {MAX_HOPS} redirects (a loop?), last to {to}")
            }
            e => format!("{what}: {e}"),
        };
        Failure {
            absent: e.is_absent(),
            obstacle: Obstacle::of_http(&e),
            text,
        }
    }
}

/// The settings a chain of requests ended with.
struct Settled {
    servers: Vec<Server>,
    skipped: Vec<Note>,
    /// The URL that gave them.
    url: String,
    /// Every step was https.
    trusted: bool,
    /// The address they are for (after any redirectAddr).
    email: String,
}

/// Count one more redirect answer, refusing past [`MAX_HOPS`].
fn hop(hops: &mut usize, url: &str, next: &str) -> Result<(), Failure> {
    *hops += 1;
    if *hops > MAX_HOPS {
        return Err(Failure::broken(format!(
            "{url}: more than {MAX_HOPS} redirects (a loop?), last to {next}"
        )));
    }
    Ok(())
}

/// POST to `url` for `email`, following HTTP redirects (through [`http::Http::follow`], to
/// https only: the body is the address) and redirect answers, together at most [`MAX_HOPS`].
async fn chain(
    ctx: &Ctx,
    url: String,
    email: String,
    mut trusted: bool,
    trail: &Trail,
) -> Result<Settled, Failure> {
    let mut url = url;
    let mut email = email;
    let mut hops = 0usize;
    loop {
        if !url.starts_with("https://") {
            return Err(Failure::broken(format!(
                "refusing to post the address to non-https URL {url}"
            )));
        }
        trail.push(format!("POST {url}"));
        // The URL last posted to, which an error is about.
        let mut at = url.clone();
        let redirects = http::Redirects {
            limit: MAX_HOPS,
            taken: &mut hops,
            https_only: true,
            on_hop: &mut |status, next| {
                trail.push(format!("HTTP {status} -> {next}"));
                trail.push(format!("POST {next}"));
                at = next.to_string();
            },
        };
        let got = ctx
            .http
            .follow(
                reqwest::Method::POST,
                &url,
                Some(request_body(&email)),
                redirects,
            )
            .await;
        let got = got.map_err(|e| Failure::http(&format!("POST {at}"), e))?;
        trusted &= got.trusted;
        url = got.final_url().to_string();
        let body = got.ok().map_err(|e| {
            let text = format!("POST {url}: {e}");
            match e {
                HttpError::Status { status: 404 } => Failure::absent(text),
                _ => Failure::broken(text),
            }
        })?;
        match parse(body).map_err(|e| Failure::broken(format!("{url}: {e}")))? {
            Answer::Settings { servers, skipped } => {
                return Ok(Settled {
                    servers,
                    skipped,
                    url,
                    trusted,
                    email,
                });
            }
            Answer::Error { code, message } => {
                return Err(Failure::broken(format!(
                    "{url}: Autodiscover error {code} {message}"
                )));
            }
            Answer::RedirectUrl(next) => {
                hop(&mut hops, &url, &next)?;
                trail.push(format!("redirectUrl -> {next}"));
                url = next;
            }
            Answer::RedirectAddr(next) => {
                hop(&mut hops, &url, &next)?;
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

impl Start {
    fn describe(&self) -> String {
        match self {
            Start::Url(u) => format!("POST {u}"),
            Start::HttpRedirect(u) => format!("GET {u}"),
            Start::Srv(n) => format!("SRV {n}"),
        }
    }
}

async fn run_start(
    ctx: &Ctx,
    start: &Start,
    trail: &Trail,
    budget: Budget,
) -> Result<Settled, Failure> {
    let email = ctx.email();
    match start {
        Start::Url(u) => chain(ctx, u.clone(), email, true, trail).await,
        Start::HttpRedirect(u) => {
            trail.push(format!("GET {u}"));
            let got = ctx
                .http
                .get_no_follow(u)
                .await
                .map_err(|e| Failure::http(&format!("GET {u}"), e))?;
            let no_redirect = |s: u16| {
                let text = format!("GET {u}: HTTP {s}, no redirect");
                if s == 404 {
                    Failure::absent(text)
                } else {
                    Failure::broken(text)
                }
            };
            let next = match http::next_hop(u, &got) {
                Ok(Some(next)) => next,
                Ok(None) | Err(HttpError::RedirectWithoutLocation { .. }) => {
                    return Err(no_redirect(got.status))
                }
                Err(e) => return Err(Failure::broken(format!("GET {u}: {e}"))),
            };
            trail.push(format!("redirected to {next}"));
            // The redirect itself came over http: the answer is not trusted.
            chain(ctx, next.to_string(), email, false, trail).await
        }
        Start::Srv(name) => {
            trail.push(format!("SRV {name}"));
            let end = budget.step_end(ctx.cfg.step_timeout());
            let recs = match tokio::time::timeout_at(end, ctx.cfg.resolver.srv(name)).await {
                Ok(Ok(recs)) => recs,
                Ok(Err(e)) => {
                    let text = format!("{name}: {e}");
                    return Err(Failure::lookup(text, &e, name, &ctx.address.domain));
                }
                Err(_) => {
                    return Err(Failure {
                        text: format!("{name}: no answer in time"),
                        absent: false,
                        obstacle: Obstacle::DnsSilent,
                    })
                }
            };
            let validated = recs.dnssec == Dnssec::Validated;
            let mut recs: Vec<_> = recs
                .records
                .into_iter()
                .filter(|r| r.target != ".")
                .collect();
            recs.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
            let r = recs
                .first()
                .ok_or_else(|| Failure::absent(format!("{name}: service not offered")))?;
            let url = if r.port == 443 {
                endpoint(&r.target)
            } else {
                endpoint(&format!("{}:{}", r.target, r.port))
            };
            // A DNSSEC-validated record vouches for the endpoint as an https URL would.
            chain(ctx, url, email, validated, trail).await
        }
    }
}

/// Source 6.
pub(crate) async fn source(ctx: &Ctx, trail: &Trail, budget: Budget) -> Found {
    let d = &ctx.address.domain;
    let starts = [
        Start::Url(endpoint(&format!("autodiscover.{d}"))),
        Start::Url(endpoint(d)),
        Start::HttpRedirect(format!(
            "http://autodiscover.{d}/autodiscover/autodiscover.xml"
        )),
        Start::Srv(format!("_autodiscover._tcp.{d}")),
    ];
    // A way that hangs (a silent DNS server, a stuck endpoint) must not cost the answer of
    // another: each is cut at the budget's end, and the first in order with servers wins.
    let results = in_order(
        budget.end(),
        starts.iter().map(|s| run_start(ctx, s, trail, budget)),
        |r| r.as_ref().is_ok_and(|s| !s.servers.is_empty()),
    )
    .await;
    let mut why = Vec::new();
    let mut broke = false;
    let mut obstacles = Vec::new();
    for (start, r) in starts.iter().zip(results) {
        match r {
            Some(Ok(settled)) if !settled.servers.is_empty() => {
                let Settled {
                    servers,
                    skipped,
                    url,
                    trusted,
                    email,
                } = settled;
                let for_address = Address::parse(&email).ok();
                let login_default = for_address
                    .as_ref()
                    .map(|a| a.ascii())
                    .unwrap_or_else(|| ctx.email());
                let mut notes: Notes = skipped.into_iter().collect();
                if !why.is_empty() {
                    notes.push(Note::Before { failures: why });
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
                        dnssec: None,
                        trusted,
                        notes: if trusted {
                            Notes::default()
                        } else {
                            Notes(vec![Note::AutodiscoverUntrusted])
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
                    not_offered: vec![],
                    obstacles: vec![],
                    published: Default::default(),
                };
            }
            Some(Ok(settled)) => {
                obstacles.push(Obstacle::Absent);
                why.push(format!(
                    "{}: no IMAP, POP3 or SMTP server listed",
                    settled.url
                ));
            }
            Some(Err(f)) => {
                broke |= !f.absent;
                obstacles.push(f.obstacle);
                why.push(f.text)
            }
            None => {
                broke = true;
                obstacles.push(Obstacle::TimedOut);
                why.push(format!(
                    "{}: no answer before the source's deadline",
                    start.describe()
                ))
            }
        }
    }
    Found {
        detail: why.join("; "),
        failed: broke,
        obstacles,
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
        assert!(skipped[0].english().contains("without encryption"));
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
    fn internationalised_server_names_become_punycode() {
        let doc = "<Autodiscover><Response><Account><Action>settings</Action>\
            <Protocol><Type>IMAP</Type><Server>Mail.Bücher.test</Server><Port>993</Port></Protocol>\
            <Protocol><Type>SMTP</Type><Server>[::1]</Server><Port>465</Port></Protocol>\
            <Protocol><Type>POP3</Type><Server>pop.example.com:995</Server><Port>995</Port></Protocol>\
            </Account></Response></Autodiscover>";
        let Answer::Settings { servers, skipped } = parse(doc.as_bytes()).unwrap() else {
            panic!("not settings");
        };
        assert_eq!(servers.len(), 1, "{servers:?}");
        assert_eq!(servers[0].host, "mail.xn--bcher-kva.test");
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped.iter().all(|s| s.code() == "skipped-host"));
        assert!(skipped[0]
            .english()
            .contains("unusable host name \"[::1]\""));
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
