//! Autoconfig (`config-v1.1.xml`, config version 1.2 of draft-ietf-mailmaint-autoconfig): the
//! provider's own document, and the ISPDB.
//!
//! [`parse`] is pure: bytes in, servers out. The services mailcheck does not probe (JMAP, EWS,
//! ActiveSync, the legacy `exchange`, CardDAV and CalDAV) are listed as also offered, the
//! `<oAuth2>` element is kept; unknown server types and plain-text servers are skipped with a
//! note, never fatal. Each document is checked against the draft's RELAX NG schema
//! ([`super::schema`]): what breaks it is a note, and a server entry that breaks it is skipped.

use serde::{Deserialize, Serialize};

use super::http::HttpError;
use super::schema;
use super::{
    document_host, in_order, substitute, Budget, Candidate, Ctx, Found, Note, Notes, Obstacle,
    SourceKind, Trail,
};
use crate::account::Address;
use crate::model::{Protocol, Security};

/// One usable server of a document (placeholders already replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub auth: Vec<String>,
}

/// A service a document publishes besides the mail access mailcheck probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offered {
    pub kind: OfferedKind,
    /// Its URL (placeholders replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its host name, for the types that give one instead of a URL (legacy `exchange`,
    /// PACC's `managesieve`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its `<authentication>` methods, in the document's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<String>,
}

impl Offered {
    /// Where it is: the URL, else the host name.
    pub fn at(&self) -> String {
        self.url.clone().or(self.host.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OfferedKind {
    Jmap,
    Ews,
    Activesync,
    /// Autoconfig 1.1's type for Exchange.
    Exchange,
    /// `<addressbook type="carddav">`.
    Carddav,
    /// `<calendar type="caldav">`.
    Caldav,
    /// PACC's `webdav` (file storage).
    Webdav,
    /// PACC's `managesieve` (filter rules, RFC 5804), given by host name.
    Managesieve,
}

impl OfferedKind {
    fn of_incoming(kind: &str) -> Option<OfferedKind> {
        Some(match kind {
            "jmap" => OfferedKind::Jmap,
            "ews" => OfferedKind::Ews,
            "activesync" => OfferedKind::Activesync,
            "exchange" => OfferedKind::Exchange,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            OfferedKind::Jmap => "jmap",
            OfferedKind::Ews => "ews",
            OfferedKind::Activesync => "activesync",
            OfferedKind::Exchange => "exchange",
            OfferedKind::Carddav => "carddav",
            OfferedKind::Caldav => "caldav",
            OfferedKind::Webdav => "webdav",
            OfferedKind::Managesieve => "managesieve",
        }
    }
}

/// A document's `<oAuth2>`: what an OAuth2 sign-in with this provider needs. A
/// `<clientSecret>` is not kept: it is no business of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OAuth2Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The scopes, as the space-separated `<scope>` lists them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// What a document says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub provider_id: Option<String>,
    pub display_name: Option<String>,
    pub domains: Vec<String>,
    pub servers: Vec<Server>,
    /// Servers left out, and why.
    pub skipped: Vec<Note>,
    /// The services it publishes that are not probed, in its order.
    pub also_offered: Vec<Offered>,
    pub oauth2: Option<OAuth2Config>,
}

#[derive(Deserialize)]
struct XClientConfig {
    #[serde(rename = "emailProvider", default)]
    providers: Vec<XProvider>,
    #[serde(rename = "addressbook", default)]
    addressbooks: Vec<XServer>,
    #[serde(rename = "calendar", default)]
    calendars: Vec<XServer>,
    #[serde(rename = "oAuth2")]
    oauth2: Option<XOAuth2>,
}

#[derive(Deserialize)]
struct XOAuth2 {
    issuer: Option<String>,
    #[serde(rename = "authURL")]
    auth_url: Option<String>,
    #[serde(rename = "tokenURL")]
    token_url: Option<String>,
    scope: Option<String>,
    #[serde(rename = "clientID")]
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct XProvider {
    #[serde(rename = "@id")]
    id: Option<String>,
    #[serde(rename = "domain", default)]
    domains: Vec<String>,
    #[serde(rename = "displayName", default)]
    display_name: Vec<String>,
    #[serde(rename = "incomingServer", default)]
    incoming: Vec<XServer>,
    #[serde(rename = "outgoingServer", default)]
    outgoing: Vec<XServer>,
}

#[derive(Deserialize)]
struct XServer {
    #[serde(rename = "@type")]
    kind: Option<String>,
    hostname: Option<String>,
    url: Option<String>,
    port: Option<String>,
    #[serde(rename = "socketType")]
    socket_type: Option<String>,
    username: Option<String>,
    #[serde(rename = "authentication", default)]
    auth: Vec<String>,
}

/// Parse a `config-v1.1.xml` document for `address`. Errors only when the document is not a
/// readable clientConfig at all.
pub fn parse(xml: &[u8], address: &Address) -> Result<Document, String> {
    let text = decode_xml(xml)?;
    let root: XClientConfig =
        quick_xml::de::from_str(&text).map_err(|e| format!("not a clientConfig document: {e}"))?;
    if root.providers.is_empty() {
        return Err("clientConfig without an emailProvider".into());
    }
    let mut doc = Document::default();
    // Checked against the draft's schema: a note for the document, and a server entry that
    // breaks it is skipped with its reason ([`schema`]).
    let violations = schema::validate(&text);
    if let Some(first) = violations.first() {
        doc.skipped.push(Note::SchemaInvalid {
            count: violations.len(),
            first: first.to_string(),
        });
    }
    let invalid = |key: String| {
        violations
            .iter()
            .find(|v| v.server.as_deref() == Some(key.as_str()))
            .map(|v| v.reason.clone())
    };
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(|s| substitute(s.trim(), address))
            .filter(|s| !s.is_empty())
    };
    doc.oauth2 = root.oauth2.as_ref().map(|o| OAuth2Config {
        issuer: text(&o.issuer),
        auth_url: text(&o.auth_url),
        token_url: text(&o.token_url),
        scope: o
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        client_id: text(&o.client_id),
    });
    let offered = |kind: OfferedKind, s: &XServer| Offered {
        kind,
        url: text(&s.url),
        host: text(&s.hostname).filter(|_| s.url.is_none()),
        auth: s.auth.iter().map(|a| a.trim().to_string()).collect(),
    };
    for (pi, p) in root.providers.into_iter().enumerate() {
        doc.provider_id = doc.provider_id.or(p.id.clone());
        doc.display_name = doc.display_name.or(p.display_name.into_iter().next());
        doc.domains
            .extend(p.domains.into_iter().map(|d| d.trim().to_string()));
        let incoming = p.incoming.iter().enumerate().map(|(i, s)| (i, s, false));
        let outgoing = p.outgoing.iter().enumerate().map(|(i, s)| (i, s, true));
        for (i, s, outgoing) in incoming.chain(outgoing) {
            let kind = s.kind.as_deref().unwrap_or("").trim().to_ascii_lowercase();
            let element = if outgoing {
                "outgoingServer"
            } else {
                "incomingServer"
            };
            if let Some(reason) = invalid(format!("emailProvider[{}]/{element}[{}]", pi + 1, i + 1))
            {
                doc.skipped.push(Note::SkippedInvalid { kind, reason });
                continue;
            }
            if let Some(k) = OfferedKind::of_incoming(&kind).filter(|_| !outgoing) {
                doc.also_offered.push(offered(k, s));
                continue;
            }
            match server(s, outgoing, address) {
                Ok(sv) => doc.servers.push(sv),
                Err(why) => doc.skipped.push(why),
            }
        }
    }
    let dav = root
        .addressbooks
        .iter()
        .enumerate()
        .map(|(i, s)| (OfferedKind::Carddav, format!("addressbook[{}]", i + 1), s));
    let cal = root
        .calendars
        .iter()
        .enumerate()
        .map(|(i, s)| (OfferedKind::Caldav, format!("calendar[{}]", i + 1), s));
    for (k, key, s) in dav.chain(cal) {
        match invalid(key) {
            Some(reason) => doc.skipped.push(Note::SkippedInvalid {
                kind: k.name().to_string(),
                reason,
            }),
            None => doc.also_offered.push(offered(k, s)),
        }
    }
    for o in &doc.also_offered {
        doc.skipped.push(Note::AlsoOffered {
            kind: o.kind.name().to_string(),
            at: o.at(),
        });
    }
    Ok(doc)
}

/// An XML document's text, in the encoding it is in (XML 1.0 §4.3.3, Appendix F): a byte-order
/// mark first, then UTF-16 recognised by its first `<`, then the declaration's `encoding`,
/// UTF-8 when none. A declared label nobody knows, or bytes invalid in the encoding, are an
/// error naming it.
pub fn decode_xml(xml: &[u8]) -> Result<String, String> {
    use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
    let (encoding, body) = match Encoding::for_bom(xml) {
        Some((e, bom)) => (e, &xml[bom..]),
        None => {
            let e = match xml {
                [b'<', 0, b'?', 0, ..] => UTF_16LE,
                [0, b'<', 0, b'?', ..] => UTF_16BE,
                _ => match declared_encoding(xml) {
                    Some(label) => Encoding::for_label(label.as_bytes())
                        .ok_or_else(|| format!("unknown encoding {label:?}"))?,
                    None => UTF_8,
                },
            };
            (e, xml)
        }
    };
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .map(|t| t.into_owned())
        .ok_or_else(|| format!("not {}", encoding.name()))
}

/// The `encoding` of an ASCII-compatible document's `<?xml ...?>` declaration.
fn declared_encoding(xml: &[u8]) -> Option<String> {
    let decl = xml.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&decl[..end]).ok()?;
    let rest = &decl[decl.find("encoding")? + "encoding".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].trim().to_string())
}

fn server(s: &XServer, outgoing: bool, address: &Address) -> Result<Server, Note> {
    let kind = s.kind.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    let protocol = match (kind.as_str(), outgoing) {
        ("imap", false) => Protocol::Imap,
        ("pop3", false) => Protocol::Pop3,
        ("smtp", true) => Protocol::Smtp,
        (k, _) => {
            return Err(Note::SkippedType {
                kind: k.to_string(),
            })
        }
    };
    let given = substitute(s.hostname.as_deref().unwrap_or("").trim(), address);
    let host = document_host(&given).ok_or_else(|| Note::SkippedHost {
        protocol,
        given: given.clone(),
    })?;
    let port: u16 = s
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
            given: s.port.clone().unwrap_or_default(),
        })?;
    let security = match s
        .socket_type
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase()
        .as_str()
    {
        "SSL" | "TLS" => Security::Tls,
        "STARTTLS" => Security::Starttls,
        "PLAIN" => {
            return Err(Note::SkippedUnencrypted {
                protocol,
                host,
                port,
            })
        }
        other => {
            return Err(Note::SkippedSocketType {
                protocol,
                host,
                port,
                given: other.to_string(),
            })
        }
    };
    Ok(Server {
        protocol,
        host,
        port,
        security,
        username: s
            .username
            .as_deref()
            .map(|u| substitute(u.trim(), address))
            .filter(|u| !u.is_empty()),
        auth: s.auth.iter().map(|a| a.trim().to_string()).collect(),
    })
}

/// Turn a document into candidates.
pub(crate) fn candidates(
    doc: &Document,
    source: SourceKind,
    origin: &str,
    trusted: bool,
    address: &Address,
) -> Vec<Candidate> {
    doc.servers
        .iter()
        .map(|s| Candidate {
            protocol: s.protocol,
            host: s.host.clone(),
            port: s.port,
            security: s.security,
            username: s.username.clone().unwrap_or_else(|| address.ascii()),
            auth: s.auth.clone(),
            source,
            origin: origin.to_string(),
            dnssec: None,
            trusted,
            notes: if trusted {
                Notes::default()
            } else {
                Notes(vec![Note::PlainHttp])
            },
        })
        .collect()
}

/// Fetch and read one autoconfig URL.
pub(crate) async fn fetch(
    ctx: &Ctx,
    url: &str,
    source: SourceKind,
    trail: &Trail,
) -> Result<Found, HttpError> {
    trail.push(format!("GET {url}"));
    let got = ctx.http.get(url).await?;
    if got.chain.len() > 1 {
        trail.push(format!("redirected to {}", got.final_url()));
    }
    let doc = parse(got.ok()?, &ctx.address).map_err(|reason| HttpError::BadBody { reason })?;
    let origin = got.final_url().to_string();
    let mut found = Found {
        candidates: candidates(&doc, source, &origin, got.trusted, &ctx.address),
        notes: doc.skipped.iter().cloned().collect(),
        published: super::Published {
            also_offered: doc.also_offered.clone(),
            oauth2: doc.oauth2.clone(),
            by: Some(super::PublishedBy {
                url: origin.clone(),
                trusted: got.trusted,
            }),
        },
        provider: doc.display_name.clone().or(doc.provider_id.clone()),
        detail: String::new(),
        failed: false,
        not_offered: vec![],
        obstacles: vec![],
    };
    found.detail = if found.candidates.is_empty() {
        found.obstacles.push(Obstacle::Absent);
        format!("{origin}: no usable server in the document")
    } else {
        format!(
            "{origin}{}: {} server(s)",
            if got.trusted {
                ""
            } else {
                " (untrusted: http)"
            },
            found.candidates.len()
        )
    };
    Ok(found)
}

/// The URLs a domain's own autoconfig lives at, in the draft's order (draft-ietf-mailmaint-
/// autoconfig, steps 1.1-1.3, then Thunderbird's http well-known form); `with_http` adds the
/// http forms. None carries the address: the draft makes `emailaddress` optional, a per-user
/// document is discouraged by it, and without the address one answer serves the whole domain
/// (see [`super::cache`]) and nobody on the path or at the web host learns who is set up.
pub(crate) fn urls(domain: &str, with_http: bool) -> Vec<String> {
    let mut v = vec![
        format!("https://autoconfig.{domain}/mail/config-v1.1.xml"),
        format!("https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml"),
    ];
    if with_http {
        v.push(format!("http://autoconfig.{domain}/mail/config-v1.1.xml"));
        v.push(format!(
            "http://{domain}/.well-known/autoconfig/mail/config-v1.1.xml"
        ));
    }
    v
}

/// Try `urls` all at once; the first in order that gives servers wins. With none, the reasons
/// of each are joined.
pub(crate) async fn first_of(
    ctx: &Ctx,
    urls: &[String],
    source: SourceKind,
    trail: &Trail,
    budget: Budget,
) -> Found {
    let results = in_order(
        budget.end(),
        urls.iter().map(|u| fetch(ctx, u, source, trail)),
        |r| r.as_ref().is_ok_and(|f| !f.candidates.is_empty()),
    )
    .await;
    let mut why = Vec::new();
    let mut broke = false;
    let mut notes = Notes::default();
    let mut obstacles = Vec::new();
    for (u, r) in urls.iter().zip(results) {
        match r {
            None => {
                broke = true;
                obstacles.push(Obstacle::TimedOut);
                why.push(format!("{u}: no answer before the source's deadline"))
            }
            Some(Ok(f)) if !f.candidates.is_empty() => {
                let mut f = f;
                if !why.is_empty() {
                    f.notes.push(Note::Before { failures: why });
                }
                return f;
            }
            Some(Ok(f)) => {
                notes.extend(f.notes);
                obstacles.extend(f.obstacles);
                why.push(f.detail)
            }
            Some(Err(e)) => {
                // A 404 is "nothing here"; anything else (TLS, malformed XML) is a failure.
                broke |= !e.is_absent();
                obstacles.push(Obstacle::of_http(&e));
                why.push(format!("{u}: {e}"))
            }
        }
    }
    Found {
        notes,
        detail: why.join("; "),
        failed: broke,
        obstacles,
        ..Found::default()
    }
}

/// Source 2: the domain's own autoconfig, https first, then http (untrusted).
pub(crate) async fn source(ctx: &Ctx, trail: &Trail, budget: Budget) -> Found {
    let urls = urls(&ctx.address.domain, true);
    first_of(ctx, &urls, SourceKind::Autoconfig, trail, budget).await
}

/// The ISPDB URL for a domain.
pub(crate) fn ispdb_url(base: &str, domain: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{domain}")
    } else {
        format!("{base}/{domain}")
    }
}

/// Source 3: the ISPDB.
pub(crate) async fn ispdb_source(ctx: &Ctx, trail: &Trail, budget: Budget) -> Found {
    let url = ispdb_url(&ctx.cfg.ispdb_url, &ctx.address.domain);
    let fetched = tokio::time::timeout_at(budget.end(), fetch(ctx, &url, SourceKind::Ispdb, trail));
    match fetched.await {
        Ok(Ok(f)) => f,
        Ok(Err(HttpError::Status { status: 404 })) => {
            Found::nothing(format!("{url}: not in the ISPDB"), Obstacle::Absent)
        }
        Ok(Err(e)) => Found::failed(format!("{url}: {e}"), Obstacle::of_http(&e)),
        Err(_) => Found::failed(
            format!("{url}: no answer before the source's deadline"),
            Obstacle::TimedOut,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.com">
    <domain>example.com</domain>
    <domain>example.net</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.%EMAILDOMAIN%</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
      <authentication>OAuth2</authentication>
    </incomingServer>
    <incomingServer type="exchange">
      <hostname>ews.example.com</hostname>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.com</hostname>
      <port>110</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.com</hostname>
      <port>110</port>
      <socketType>plain</socketType>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.com</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
    <documentation url="https://example.com/help"><descr lang="en">Help</descr></documentation>
  </emailProvider>
  <webMail><loginPage url="https://example.com/"/></webMail>
</clientConfig>"#;

    #[test]
    fn reads_servers_and_skips_the_rest() {
        let a = Address::parse("alice@example.com").unwrap();
        let d = parse(DOC.as_bytes(), &a).unwrap();
        assert_eq!(d.provider_id.as_deref(), Some("example.com"));
        assert_eq!(d.display_name.as_deref(), Some("Example Mail"));
        assert_eq!(d.domains, vec!["example.com", "example.net"]);
        assert_eq!(d.servers.len(), 3);
        assert_eq!(
            d.servers[0],
            Server {
                protocol: Protocol::Imap,
                host: "imap.example.com".into(),
                port: 993,
                security: Security::Tls,
                username: Some("alice".into()),
                auth: vec!["password-cleartext".into(), "OAuth2".into()],
            }
        );
        assert_eq!(d.servers[1].security, Security::Starttls);
        assert_eq!(d.servers[1].username.as_deref(), Some("alice@example.com"));
        assert_eq!(d.servers[2].protocol, Protocol::Smtp);
        assert_eq!(d.skipped.len(), 2, "{:?}", d.skipped);
        assert!(d.skipped[0].english().contains("without encryption"));
        assert_eq!(
            d.skipped[1].english(),
            "also offered, not probed: exchange at ews.example.com"
        );
        assert_eq!(d.also_offered[0].kind, OfferedKind::Exchange);
        assert_eq!(d.oauth2, None);
    }

    /// Config version 1.2: `<oAuth2>`, JMAP / EWS / ActiveSync and the CardDAV / CalDAV
    /// blocks listed, several `<authentication>` kept in order, the client secret dropped.
    #[test]
    fn version_1_2_oauth2_and_other_services() {
        let doc = r#"<?xml version="1.0"?>
<clientConfig version="1.2">
  <emailProvider id="example.com">
    <domain>example.com</domain>
    <incomingServer type="jmap">
      <url>https://jmap.example.com/.well-known/jmap</url>
      <authentication>OAuth2</authentication><authentication>basic</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.com</hostname><port>993</port><socketType>SSL</socketType>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="ews"><url>https://mail.example.com/EWS/Exchange.asmx</url></incomingServer>
    <incomingServer type="activesync"><url>https://mail.example.com/Microsoft-Server-ActiveSync</url></incomingServer>
    <incomingServer type="gopher"><hostname>gopher.example.com</hostname></incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.com</hostname><port>465</port><socketType>TLS</socketType>
    </outgoingServer>
  </emailProvider>
  <addressbook type="carddav"><url>https://dav.example.com/%EMAILLOCALPART%/</url></addressbook>
  <calendar type="caldav"><url>https://dav.example.com/cal</url></calendar>
  <oAuth2>
    <authURL>https://login.example.com/auth</authURL>
    <tokenURL>https://login.example.com/token</tokenURL>
    <issuer>login.example.com</issuer>
    <scope>IMAP SMTP offline_access</scope>
    <clientID>open</clientID>
    <clientSecret>not-for-reports</clientSecret>
  </oAuth2>
</clientConfig>"#;
        let a = Address::parse("fred@example.com").unwrap();
        let d = parse(doc.as_bytes(), &a).unwrap();
        assert_eq!(d.servers.len(), 2);
        assert_eq!(d.servers[0].auth, ["OAuth2", "password-cleartext"]);
        let kinds: Vec<OfferedKind> = d.also_offered.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                OfferedKind::Jmap,
                OfferedKind::Ews,
                OfferedKind::Activesync,
                OfferedKind::Carddav,
                OfferedKind::Caldav
            ]
        );
        assert_eq!(d.also_offered[0].auth, ["OAuth2", "basic"]);
        assert_eq!(
            d.also_offered[3].url.as_deref(),
            Some("https://dav.example.com/fred/")
        );
        let o = d.oauth2.clone().unwrap();
        assert_eq!(o.issuer.as_deref(), Some("login.example.com"));
        assert_eq!(
            o.auth_url.as_deref(),
            Some("https://login.example.com/auth")
        );
        assert_eq!(
            o.token_url.as_deref(),
            Some("https://login.example.com/token")
        );
        assert_eq!(o.scope, ["IMAP", "SMTP", "offline_access"]);
        assert_eq!(o.client_id.as_deref(), Some("open"));
        let json = serde_json::to_string(&o).unwrap();
        assert!(!json.contains("not-for-reports"), "{json}");
        // An unknown type is still skipped with its note.
        assert!(d
            .skipped
            .iter()
            .any(|n| n.english() == r#"server type "gopher" is not probed"#));
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        let a = Address::parse("alice@example.com").unwrap();
        assert!(parse(b"<clientConfig><emailProvider>", &a).is_err());
        assert!(parse(b"<html><body>404</body></html>", &a).is_err());
        assert!(parse(b"\xff\xfe", &a).is_err());
        assert!(parse(b"", &a).is_err());
        let bad_port = DOC.replace("<port>993</port>", "<port>99999</port>");
        let d = parse(bad_port.as_bytes(), &a).unwrap();
        assert_eq!(d.servers.len(), 2);
        assert!(d.skipped.iter().any(|s| s.english().contains("port")));
    }

    #[test]
    fn urls_in_order() {
        let u = urls("example.com", true);
        assert_eq!(u[0], "https://autoconfig.example.com/mail/config-v1.1.xml");
        assert_eq!(
            u[1],
            "https://example.com/.well-known/autoconfig/mail/config-v1.1.xml"
        );
        assert_eq!(u[2], "http://autoconfig.example.com/mail/config-v1.1.xml");
        assert_eq!(u.len(), 4);
        assert!(u.iter().all(|u| !u.contains("emailaddress")), "{u:?}");
        assert_eq!(urls("example.com", false).len(), 2);
        assert_eq!(
            ispdb_url("https://autoconfig.thunderbird.net/v1.1/", "example.com"),
            "https://autoconfig.thunderbird.net/v1.1/example.com"
        );
        assert_eq!(
            ispdb_url("http://127.0.0.1:9/db", "x.org"),
            "http://127.0.0.1:9/db/x.org"
        );
    }

    #[test]
    fn documents_in_latin1_and_utf16_are_read() {
        let a = Address::parse("alice@example.com").unwrap();
        let doc = DOC
            .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
            .replace("Example Mail", "Exämple Mail");
        let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&doc);
        assert!(std::str::from_utf8(&latin1).is_err(), "really Latin-1");
        let d = parse(&latin1, &a).unwrap();
        assert_eq!(d.display_name.as_deref(), Some("Exämple Mail"));
        assert_eq!(d.servers.len(), 3);
        let utf16 = doc.replace("ISO-8859-1", "UTF-16");
        for bom in [true, false] {
            let mut le: Vec<u8> = if bom { vec![0xff, 0xfe] } else { vec![] };
            le.extend(utf16.encode_utf16().flat_map(u16::to_le_bytes));
            let d = parse(&le, &a).unwrap();
            assert_eq!(d.display_name.as_deref(), Some("Exämple Mail"), "bom {bom}");
            assert_eq!(d.servers.len(), 3);
        }
        let mut be = vec![0xfe, 0xff];
        be.extend(utf16.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(parse(&be, &a).unwrap().servers.len(), 3);
        // UTF-8 stays strict, and an unknown label is named.
        let bad = DOC.replace("Example Mail", "Ex\u{e4}mple").into_bytes();
        let latin_in_utf8: Vec<u8> = bad.iter().copied().filter(|b| *b != 0xc3).collect();
        assert!(parse(&latin_in_utf8, &a).unwrap_err().contains("UTF-8"));
        let odd = DOC.replace("UTF-8", "x-klingon");
        assert!(parse(odd.as_bytes(), &a)
            .unwrap_err()
            .contains("unknown encoding \"x-klingon\""));
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let a = Address::parse("alice@example.com").unwrap();
            let _ = parse(&bytes, &a);
        }

        #[test]
        fn never_panics_on_mutated_documents(cut in 0usize..DOC.len(), junk in "[<>/a-zA-Z%\"= ]{0,16}") {
            let a = Address::parse("alice@example.com").unwrap();
            let mut s = DOC.as_bytes()[..cut].to_vec();
            s.extend_from_slice(junk.as_bytes());
            s.extend_from_slice(&DOC.as_bytes()[cut..]);
            let _ = parse(&s, &a);
        }
    }
}
