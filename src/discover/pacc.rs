//! PACC (draft-ietf-mailmaint-pacc-02): the domain's JSON configuration at
//! `https://ua-auto-config.<domain>/.well-known/user-agent-configuration.json`, used only when
//! its SHA-256 digest matches a `v=UAAC1; a=sha256; d=<base64>` TXT record at
//! `_ua-auto-config.<domain>`.
//!
//! What a match proves: the document served under the domain's name (https, a certificate
//! valid for `ua-auto-config.<domain>`) is the one whoever runs the domain's DNS published.
//! A web host, CDN or TLS-terminating proxy that serves something else is caught. Without
//! DNSSEC the TXT answer itself is not authenticated: someone who can forge both DNS and a
//! certificate for the name, or who controls the zone, passes. The candidates are trusted
//! like https autoconfig, and carry a note saying the digest came from unvalidated DNS.
//!
//! [`parse`], [`records`] and [`check_digest`] are pure functions over bytes.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::autoconfig::{self, Document, OAuth2Config, Offered, OfferedKind, Server};
use super::http::{HttpError, Redirects, MAX_REDIRECTS};
use super::{document_host, Budget, Ctx, Found, Note, Obstacle, SourceKind, Trail};
use crate::model::{Protocol, Security};
use crate::net::resolver::LookupError;

/// The document's URL for `domain`.
pub fn url(domain: &str) -> String {
    format!("https://ua-auto-config.{domain}/.well-known/user-agent-configuration.json")
}

/// Where the digest is published for `domain`.
pub fn txt_name(domain: &str) -> String {
    format!("_ua-auto-config.{domain}")
}

/// The protocols mailcheck probes, with the implicit-TLS port each one's `host` means
/// (RFC 8314: PACC gives no port and no STARTTLS). `submission` is the key the draft's
/// earlier revisions used for what pacc-02 calls `smtp`; both are read.
const PROBED: [(&str, Protocol, u16); 4] = [
    ("imap", Protocol::Imap, 993),
    ("pop3", Protocol::Pop3, 995),
    ("smtp", Protocol::Smtp, 465),
    ("submission", Protocol::Smtp, 465),
];

/// Services listed as also offered, and whether they are given by `url` (else by `host`).
const OFFERED: [(&str, OfferedKind, bool); 5] = [
    ("jmap", OfferedKind::Jmap, true),
    ("caldav", OfferedKind::Caldav, true),
    ("carddav", OfferedKind::Carddav, true),
    ("webdav", OfferedKind::Webdav, true),
    ("managesieve", OfferedKind::Managesieve, false),
];

/// Read a PACC document. Errors only when it is not a JSON object at all; a protocol entry
/// that cannot be used is skipped with its reason, an unknown protocol is noted.
pub fn parse(json: &[u8]) -> Result<Document, String> {
    let root: Value =
        serde_json::from_slice(json).map_err(|e| format!("not a JSON document: {e}"))?;
    let root = root
        .as_object()
        .ok_or("not a PACC document: the JSON is not an object")?;
    let mut doc = Document::default();
    let auth = root.get("authentication").and_then(Value::as_object);
    let issuer = auth
        .and_then(|a| a.get("oauth-public"))
        .and_then(|o| o.get("issuer"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    doc.oauth2 = issuer.map(|i| OAuth2Config {
        issuer: Some(i.to_string()),
        ..OAuth2Config::default()
    });
    // In autoconfig's words, so that sources compare: a password over TLS, an OAuth2 token.
    let mut methods = Vec::new();
    if auth.and_then(|a| a.get("password")) == Some(&Value::Bool(true)) {
        methods.push("password-cleartext".to_string());
    }
    if doc.oauth2.is_some() {
        methods.push("OAuth2".to_string());
    }
    let provider = root
        .get("info")
        .and_then(|i| i.get("provider"))
        .and_then(Value::as_object);
    let text = |m: Option<&Map<String, Value>>, k: &str| {
        m.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    doc.display_name = text(provider, "name");
    doc.provider_id = text(provider, "shortName");
    let empty = Map::new();
    let protocols = root
        .get("protocols")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // Keys as written, in a fixed order (the probed protocols, then the others, then the
    // unknown ones by name): the JSON object's order is no one's statement.
    let entries: Vec<(String, &Value)> = protocols
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let of = |name: &'static str| {
        entries
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| *v)
    };
    for (key, protocol, port) in PROBED {
        for entry in of(key) {
            let given = entry.get("host").and_then(Value::as_str).unwrap_or("");
            match document_host(given) {
                Some(host) => doc.servers.push(Server {
                    protocol,
                    host,
                    port,
                    security: Security::Tls,
                    username: None,
                    auth: methods.clone(),
                }),
                None => doc.skipped.push(Note::SkippedHost {
                    protocol,
                    given: given.to_string(),
                }),
            }
        }
    }
    for (key, kind, by_url) in OFFERED {
        for entry in of(key) {
            let at = text(entry.as_object(), if by_url { "url" } else { "host" });
            let o = Offered {
                kind,
                url: at.clone().filter(|_| by_url),
                host: at.filter(|_| !by_url),
                auth: methods.clone(),
            };
            doc.skipped.push(Note::AlsoOffered {
                kind: kind.name().to_string(),
                at: o.at(),
            });
            doc.also_offered.push(o);
        }
    }
    let known = |k: &str| PROBED.iter().any(|p| p.0 == k) || OFFERED.iter().any(|o| o.0 == k);
    let mut unknown: Vec<&String> = entries
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !known(k))
        .collect();
    unknown.sort();
    for k in unknown {
        doc.skipped.push(Note::SkippedType { kind: k.clone() });
    }
    Ok(doc)
}

/// One `v=UAAC1` TXT record's SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(body: &[u8]) -> Digest {
        let d = ring::digest::digest(&ring::digest::SHA256, body);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Digest(out)
    }

    /// Its base64 form, as the record's `d=` writes it.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }
}

/// The digests the TXT records publish, and why the other records were passed over. A record
/// split into several character-strings is read as their concatenation (RFC 7208 §3.3); tags
/// are `name=value` separated by `;`, names case-insensitive, values trimmed; a record whose
/// `v` is not `UAAC1` or whose `a` is not `sha256` is someone else's, and is passed over.
pub fn records(txt: &[Vec<Vec<u8>>]) -> (Vec<Digest>, Vec<String>) {
    let mut found = Vec::new();
    let mut passed = Vec::new();
    for strings in txt {
        let joined: Vec<u8> = strings.concat();
        match record(&joined) {
            Ok(d) => found.push(d),
            Err(why) => passed.push(why),
        }
    }
    (found, passed)
}

fn record(bytes: &[u8]) -> Result<Digest, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "a record that is not text".to_string())?;
    let tag = |name: &str| {
        text.split(';').find_map(|t| {
            let (k, v) = t.split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    match tag("v") {
        Some(v) if v.eq_ignore_ascii_case("UAAC1") => {}
        _ => return Err(format!("{:?}: not v=UAAC1", clip(text))),
    }
    match tag("a") {
        Some(a) if a.eq_ignore_ascii_case("sha256") => {}
        a => return Err(format!("unsupported algorithm a={}", a.unwrap_or(""))),
    }
    let d = tag("d").ok_or("a UAAC1 record without d=")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(d)
        .map_err(|_| format!("d={:?} is not base64", clip(d)))?;
    let digest: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("d= is {} bytes, not a SHA-256 digest", b.len()))?;
    Ok(Digest(digest))
}

/// At most 80 characters of a record, for a report line.
fn clip(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Whether a document is the one DNS publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestCheck {
    /// A record's digest is the document's.
    Matches,
    /// UAAC1 records exist and none is the document's.
    Mismatch {
        /// The document's digest, base64.
        actual: String,
        /// The records', base64.
        published: Vec<String>,
    },
    /// No usable UAAC1 record: why each record was passed over.
    NoRecord { passed: Vec<String> },
}

/// Check `body` against the TXT records (the digest and records are public: a plain
/// comparison leaks nothing).
pub fn check_digest(body: &[u8], txt: &[Vec<Vec<u8>>]) -> DigestCheck {
    let (digests, passed) = records(txt);
    if digests.is_empty() {
        return DigestCheck::NoRecord { passed };
    }
    let actual = Digest::of(body);
    if digests.contains(&actual) {
        return DigestCheck::Matches;
    }
    DigestCheck::Mismatch {
        actual: actual.base64(),
        published: digests.iter().map(Digest::base64).collect(),
    }
}

/// Source 2: the document and its digest, asked together.
pub(crate) async fn source(ctx: &Ctx, trail: &Trail, budget: Budget) -> Found {
    let domain = ctx.address.domain.clone();
    let url = url(&domain);
    let name = txt_name(&domain);
    trail.push(format!("GET {url}"));
    trail.push(format!("TXT {name}"));
    let get = async {
        let redirects = Redirects {
            limit: MAX_REDIRECTS,
            taken: &mut 0,
            // https only: the draft publishes it there, and the digest is no substitute.
            https_only: true,
            on_hop: &mut |_, to: &str| trail.push(format!("redirected to {to}")),
        };
        let get = ctx.http.follow(reqwest::Method::GET, &url, None, redirects);
        tokio::time::timeout_at(budget.end(), get)
            .await
            .unwrap_or_else(|_| {
                Err(HttpError::Timeout {
                    detail: "no answer before the source's deadline".into(),
                })
            })
    };
    let txt = async {
        let end = budget.step_end(ctx.cfg.step_timeout());
        tokio::time::timeout_at(end, ctx.cfg.resolver.txt(&name))
            .await
            .unwrap_or(Err(LookupError::TimedOut))
    };
    let (got, txt) = tokio::join!(get, txt);
    // Only a 200 is a document.
    let got = got.and_then(|g| match g.ok().err() {
        None => Ok(g),
        Some(e) => Err(e),
    });
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            let mut f = if e.is_absent() {
                Found::nothing(format!("{url}: {e}"), Obstacle::of_http(&e))
            } else {
                Found::failed(format!("{url}: {e}"), Obstacle::of_http(&e))
            };
            if let Err(l) = &txt {
                f.obstacles.push(Obstacle::of_lookup(l, &name, &domain));
            }
            return f;
        }
    };
    let origin = got.final_url().to_string();
    let refused = |why: String| {
        Found::failed(
            format!("{origin}: {why}: document not used"),
            Obstacle::Broken,
        )
    };
    let txt = match txt {
        Ok(t) => t,
        Err(LookupError::NotFound { .. }) => return refused(format!("no TXT record at {name}")),
        Err(e) => {
            let mut f = refused(format!("TXT {name}: {e}"));
            f.obstacles = vec![Obstacle::of_lookup(&e, &name, &domain)];
            return f;
        }
    };
    let txt_validated = txt.dnssec == crate::net::resolver::Dnssec::Validated;
    match check_digest(&got.body, &txt.records) {
        DigestCheck::Matches => {}
        DigestCheck::Mismatch { actual, published } => {
            return refused(format!(
                "its SHA-256 {actual} does not match {name} (d={})",
                published.join(", d=")
            ))
        }
        DigestCheck::NoRecord { passed } => {
            return refused(format!(
                "no v=UAAC1; a=sha256 record at {name} ({})",
                passed.join("; ")
            ))
        }
    }
    let doc = match parse(&got.body) {
        Ok(d) => d,
        Err(why) => return Found::failed(format!("{origin}: {why}"), Obstacle::Broken),
    };
    let mut candidates =
        autoconfig::candidates(&doc, SourceKind::Pacc, &origin, got.trusted, &ctx.address);
    // On each candidate (JSON), and once for the source (the table's notes): the digest came
    // from DNS without DNSSEC validation (none when the TXT answer was validated).
    let mut notes: super::Notes = doc.skipped.iter().cloned().collect();
    if !txt_validated {
        let trust = Note::PaccDigest { name: name.clone() };
        for c in &mut candidates {
            c.notes.push(trust.clone());
        }
        if !candidates.is_empty() {
            notes.push(trust);
        }
    }
    let detail = if candidates.is_empty() {
        format!("{origin}: digest matches {name}; no usable server in the document")
    } else {
        format!(
            "{origin}: {} server(s), digest matches {name}",
            candidates.len()
        )
    };
    Found {
        obstacles: if candidates.is_empty() {
            vec![Obstacle::Absent]
        } else {
            vec![]
        },
        candidates,
        notes,
        provider: doc.display_name.clone().or(doc.provider_id.clone()),
        detail,
        failed: false,
        not_offered: vec![],
        published: super::Published {
            also_offered: doc.also_offered,
            oauth2: doc.oauth2,
            by: Some(super::PublishedBy {
                url: origin.clone(),
                trusted: got.trusted,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const DOC: &str = r#"{
  "protocols": {
    "imap": {"host": "imap.example.com"},
    "pop3": {"host": "pop.example.com"},
    "smtp": {"host": "smtp.example.com"},
    "jmap": {"url": "https://jmap.example.com/.well-known/jmap"},
    "caldav": {"url": "https://dav.example.com/cal/"},
    "carddav": {"url": "https://dav.example.com/card/"},
    "managesieve": {"host": "sieve.example.com"},
    "gopher": {"host": "gopher.example.com"}
  },
  "authentication": {"oauth-public": {"issuer": "https://login.example.com"}, "password": true},
  "info": {"provider": {"name": "Example Mail", "shortName": "Example"}}
}"#;

    fn txt(strings: &[&str]) -> Vec<Vec<u8>> {
        strings.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn reads_the_mail_servers_on_their_implicit_tls_ports() {
        let d = parse(DOC.as_bytes()).unwrap();
        let got: Vec<(Protocol, &str, u16)> = d
            .servers
            .iter()
            .map(|s| (s.protocol, s.host.as_str(), s.port))
            .collect();
        assert_eq!(
            got,
            [
                (Protocol::Imap, "imap.example.com", 993),
                (Protocol::Pop3, "pop.example.com", 995),
                (Protocol::Smtp, "smtp.example.com", 465),
            ]
        );
        assert!(d.servers.iter().all(|s| s.security == Security::Tls));
        assert_eq!(d.servers[0].auth, ["password-cleartext", "OAuth2"]);
        let kinds: Vec<OfferedKind> = d.also_offered.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                OfferedKind::Jmap,
                OfferedKind::Caldav,
                OfferedKind::Carddav,
                OfferedKind::Managesieve
            ]
        );
        assert_eq!(d.also_offered[3].host.as_deref(), Some("sieve.example.com"));
        assert_eq!(
            d.oauth2.unwrap().issuer.as_deref(),
            Some("https://login.example.com")
        );
        assert_eq!(d.display_name.as_deref(), Some("Example Mail"));
        assert!(d
            .skipped
            .iter()
            .any(|n| n.english() == r#"server type "gopher" is not probed"#));
    }

    #[test]
    fn the_older_submission_key_and_bad_entries() {
        let d = parse(
            br#"{"protocols": {"submission": {"host": "smtp.example.com"},
                "imap": {"host": "imap.example.com:993"}, "pop3": "pop.example.com"}}"#,
        )
        .unwrap();
        assert_eq!(d.servers.len(), 1);
        assert_eq!(d.servers[0].protocol, Protocol::Smtp);
        assert_eq!(d.servers[0].auth, Vec::<String>::new());
        assert_eq!(d.skipped.len(), 2, "{:?}", d.skipped);
        assert!(parse(b"[]").is_err());
        assert!(parse(b"<html>").is_err());
        assert!(parse(b"{}").unwrap().servers.is_empty());
    }

    #[test]
    fn the_digest_must_match_a_uaac1_record() {
        let body = DOC.as_bytes();
        let d = Digest::of(body).base64();
        let good = format!("v=UAAC1; a=sha256; d={d}");
        assert_eq!(check_digest(body, &[txt(&[&good])]), DigestCheck::Matches);
        // Split into several strings anywhere, tags in any case and order, spaces around.
        let (a, b) = good.split_at(17);
        assert_eq!(check_digest(body, &[txt(&[a, b])]), DigestCheck::Matches);
        let odd = format!(" D = {d} ;A=SHA256;  V=uaac1 ");
        assert_eq!(check_digest(body, &[txt(&[&odd])]), DigestCheck::Matches);
        // Someone else's record is passed over; the first matching one wins.
        let spf = txt(&["v=spf1 -all"]);
        assert_eq!(
            check_digest(body, &[spf.clone(), txt(&[&good])]),
            DigestCheck::Matches
        );
        let other = Digest::of(b"something else").base64();
        match check_digest(body, &[txt(&[&format!("v=UAAC1; a=sha256; d={other}")])]) {
            DigestCheck::Mismatch { actual, published } => {
                assert_eq!(actual, d);
                assert_eq!(published, [other]);
            }
            x => panic!("{x:?}"),
        }
        match check_digest(body, &[spf, txt(&["v=UAAC1; a=md5; d=AAAA"])]) {
            DigestCheck::NoRecord { passed } => {
                assert_eq!(passed.len(), 2);
                assert!(passed[1].contains("a=md5"), "{passed:?}");
            }
            x => panic!("{x:?}"),
        }
        for bad in [
            "v=UAAC1; a=sha256",
            "v=UAAC1; a=sha256; d=!!",
            "v=UAAC1;a=sha256;d=AAAA",
        ] {
            assert!(
                matches!(
                    check_digest(body, &[txt(&[bad])]),
                    DigestCheck::NoRecord { .. }
                ),
                "{bad}"
            );
        }
    }
}
