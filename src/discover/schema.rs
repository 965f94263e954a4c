//! The RELAX NG schema of draft-ietf-mailmaint-autoconfig (config version 1.2), as rules:
//! no maintained Rust crate validates RELAX NG over the XML mailcheck already parses (the
//! young `relax-ng` crate wants a DOM of its own; libxml2's bindings are C), and the schema is
//! small and permissive. What it requires, and what is checked here:
//! - the root is `clientConfig` (no namespace), with a `version`;
//! - where each known element may appear, and that an element of a known name elsewhere is an
//!   error (any other name, or any name in a namespace, is an extension and allowed anywhere
//!   elements are, with any content);
//! - the required attributes: `emailProvider@id`, `documentation@url`, `@type` of every server
//!   section (`incomingServer`, `outgoingServer`, `calendar`, `addressbook`, ...),
//!   `clientConfigUpdate@url`;
//! - text-only elements (`hostname`, `port`, `domain`, `authURL`...) hold no element, and the
//!   others no text but white space;
//! - `port` is an XML Schema `positiveInteger`.
//!
//! tests/it/discover_rng.rs runs `xmllint --relaxng` with the draft's own `.rng` on the same
//! documents and checks that both agree.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// One place where a document breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: `clientConfig/emailProvider[1]/incomingServer[2]/port`.
    pub at: String,
    /// The server section it lies in (`emailProvider[1]/incomingServer[2]`, `calendar[1]`),
    /// whose entry is then skipped.
    pub server: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// The element names the schema defines: elsewhere than where it allows them, an error.
const RESERVED: [&str; 29] = [
    "clientConfig",
    "emailProvider",
    "domain",
    "displayName",
    "displayShortName",
    "documentation",
    "descr",
    "incomingServer",
    "outgoingServer",
    "calendar",
    "addressbook",
    "fileShare",
    "chatServer",
    "videoConference",
    "setupServer",
    "url",
    "hostname",
    "port",
    "socketType",
    "authentication",
    "username",
    "oAuth2",
    "authURL",
    "tokenURL",
    "issuer",
    "scope",
    "clientID",
    "clientSecret",
    "clientConfigUpdate",
];

const SERVER_SECTIONS: [&str; 8] = [
    "incomingServer",
    "outgoingServer",
    "calendar",
    "addressbook",
    "fileShare",
    "chatServer",
    "videoConference",
    "setupServer",
];

/// What the schema says of a known element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    /// Children among these (and extensions), no text.
    Elements(&'static [&'static str]),
    /// Text only.
    Text,
    /// Text that is a `positiveInteger`.
    PositiveInteger,
    /// An extension element: anything.
    Any,
}

fn model(name: &str) -> Model {
    const SERVER: &[&str] = &[
        "url",
        "hostname",
        "port",
        "socketType",
        "authentication",
        "username",
    ];
    match name {
        "clientConfig" => Model::Elements(&[
            "emailProvider",
            "calendar",
            "addressbook",
            "fileShare",
            "chatServer",
            "videoConference",
            "setupServer",
            "oAuth2",
            "clientConfigUpdate",
        ]),
        "emailProvider" => Model::Elements(&[
            "domain",
            "displayName",
            "displayShortName",
            "documentation",
            "incomingServer",
            "outgoingServer",
        ]),
        "documentation" => Model::Elements(&["descr"]),
        "oAuth2" => Model::Elements(&[
            "authURL",
            "tokenURL",
            "issuer",
            "scope",
            "clientID",
            "clientSecret",
        ]),
        "clientConfigUpdate" => Model::Elements(&[]),
        "port" => Model::PositiveInteger,
        n if SERVER_SECTIONS.contains(&n) => Model::Elements(SERVER),
        n if RESERVED.contains(&n) => Model::Text,
        _ => Model::Any,
    }
}

fn required_attribute(name: &str) -> Option<&'static str> {
    match name {
        "clientConfig" => Some("version"),
        "emailProvider" => Some("id"),
        "documentation" | "clientConfigUpdate" => Some("url"),
        n if SERVER_SECTIONS.contains(&n) => Some("type"),
        _ => None,
    }
}

/// XML Schema `positiveInteger`: optional `+`, digits, not zero; white space collapsed.
fn positive_integer(s: &str) -> bool {
    let s = s.trim_matches([' ', '\t', '\n', '\r']);
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.bytes().any(|b| b != b'0')
}

struct Open {
    name: String,
    model: Model,
    path: String,
    /// Children seen so far, per name, for the `[n]` of their paths.
    counts: Vec<(String, usize)>,
    text: String,
    server: Option<String>,
}

impl Open {
    fn index_of(&mut self, child: &str) -> usize {
        match self.counts.iter_mut().find(|(n, _)| n == child) {
            Some((_, c)) => {
                *c += 1;
                *c
            }
            None => {
                self.counts.push((child.to_string(), 1));
                1
            }
        }
    }
}

/// Every violation of the schema in a decoded document, in document order. A document that
/// is not well-formed XML is one violation.
pub fn validate(xml: &str) -> Vec<Violation> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Open> = Vec::new();
    let mut out = Vec::new();
    let mut root_seen = false;
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, e)) => (matches!(ns, ResolveResult::Unbound), e),
            Err(e) => {
                out.push(Violation {
                    at: path(&stack),
                    server: None,
                    reason: format!("not well-formed XML: {e}"),
                });
                return out;
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_string();
                // A name in a namespace is never one of the schema's.
                let name = if ns { local } else { format!("{{ns}}{local}") };
                let attrs: Vec<String> = e
                    .attributes()
                    .with_checks(false)
                    .filter_map(Result::ok)
                    .map(|a| a.key.as_ref().to_string())
                    .collect();
                let (m, at, server) = match stack.last_mut() {
                    None => {
                        root_seen = true;
                        if name != "clientConfig" {
                            out.push(Violation {
                                at: name.clone(),
                                server: None,
                                reason: "the root element is not clientConfig".into(),
                            });
                        }
                        (model(&name), name.clone(), None)
                    }
                    Some(parent) => {
                        let i = parent.index_of(&name);
                        let at = format!("{}/{name}[{i}]", parent.path);
                        let m = match parent.model {
                            Model::Any => Model::Any,
                            // Reported once, when the text-only parent closes.
                            Model::Text | Model::PositiveInteger => Model::Any,
                            Model::Elements(allowed) if allowed.contains(&name.as_str()) => {
                                model(&name)
                            }
                            Model::Elements(_) if !RESERVED.contains(&name.as_str()) => Model::Any,
                            Model::Elements(_) => {
                                out.push(Violation {
                                    at: at.clone(),
                                    server: parent.server.clone(),
                                    reason: format!("{name} is not allowed in {}", parent.name),
                                });
                                Model::Any
                            }
                        };
                        let server = parent.server.clone().or_else(|| {
                            (m != Model::Any && SERVER_SECTIONS.contains(&name.as_str())).then(
                                || match parent.name.as_str() {
                                    "emailProvider" => format!(
                                        "{}/{name}[{i}]",
                                        parent.path.rsplit('/').next().unwrap_or("")
                                    ),
                                    _ => format!("{name}[{i}]"),
                                },
                            )
                        });
                        (m, at, server)
                    }
                };
                if m != Model::Any {
                    if let Some(req) = required_attribute(&name) {
                        if !attrs.iter().any(|a| a == req) {
                            out.push(Violation {
                                at: at.clone(),
                                server: server.clone(),
                                reason: format!("{name} without its {req} attribute"),
                            });
                        }
                    }
                }
                let open = Open {
                    name,
                    model: m,
                    path: at,
                    counts: vec![],
                    text: String::new(),
                    server,
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(open);
                } else {
                    close(open, &mut out);
                }
            }
            Event::End(_) => {
                if let Some(open) = stack.pop() {
                    close(open, &mut out);
                }
            }
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match r.as_ref() {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "apos" => Some('\''),
                        "quot" => Some('"'),
                        _ => None,
                    },
                };
                match (c, stack.last_mut()) {
                    (Some(c), Some(open)) => open.text.push(c),
                    (Some(_), None) => {}
                    (None, _) => {
                        out.push(Violation {
                            at: path(&stack),
                            server: stack.last().and_then(|o| o.server.clone()),
                            reason: format!("not well-formed XML: undeclared entity &{};", &*r),
                        });
                        return out;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        out.push(Violation {
            at: String::new(),
            server: None,
            reason: "no root element".into(),
        });
    }
    out
}

/// An element is complete: check its text.
fn close(open: Open, out: &mut Vec<Violation>) {
    let has_text = !open.text.trim_matches([' ', '\t', '\n', '\r']).is_empty();
    let bad = match open.model {
        Model::Elements(_) if has_text => Some("text where only elements are allowed".to_string()),
        Model::Text | Model::PositiveInteger if !open.counts.is_empty() => Some(format!(
            "{} holds elements where only text is allowed",
            open.name
        )),
        Model::PositiveInteger if !positive_integer(&open.text) => {
            Some(format!("{:?} is not a positive integer", open.text.trim()))
        }
        _ => None,
    };
    if let Some(reason) = bad {
        out.push(Violation {
            at: open.path,
            server: open.server,
            reason,
        });
    }
}

fn path(stack: &[Open]) -> String {
    stack.last().map(|o| o.path.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(xml: &str) -> Vec<String> {
        validate(xml).iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_plain_document_and_extensions_are_valid() {
        let ok = r#"<?xml version="1.0"?>
<clientConfig version="1.2" xmlns:x="urn:x">
  <emailProvider id="example.com">
    <domain purpose="mx">example.com</domain>
    <displayName lang="en">Example</displayName>
    <incomingServer type="imap"><hostname>h</hostname><port> +0993 </port>
      <x:extra><hostname>anything goes</hostname></x:extra><other a="b">text<i/></other>
    </incomingServer>
    <documentation url="https://e/"><descr lang="en">Help &amp; more</descr></documentation>
  </emailProvider>
  <oAuth2><issuer>i</issuer><clientSecret>s</clientSecret></oAuth2>
  <clientConfigUpdate url="https://e/u"/>
  <webMail><loginPage url="x"/></webMail>
</clientConfig>"#;
        assert_eq!(reasons(ok), Vec::<String>::new());
    }

    #[test]
    fn what_the_schema_refuses() {
        let doc = r#"<clientConfig><emailProvider>
  <incomingServer><hostname>h</hostname><port>0</port></incomingServer>
  <outgoingServer type="smtp"><hostname>h<b/></hostname><domain>x</domain></outgoingServer>
  stray text
</emailProvider><hostname>misplaced</hostname></clientConfig>"#;
        let v = validate(doc);
        let r: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            r,
            [
                "clientConfig: clientConfig without its version attribute",
                "clientConfig/emailProvider[1]: emailProvider without its id attribute",
                "clientConfig/emailProvider[1]/incomingServer[1]: incomingServer without its type attribute",
                "clientConfig/emailProvider[1]/incomingServer[1]/port[1]: \"0\" is not a positive integer",
                "clientConfig/emailProvider[1]/outgoingServer[1]/hostname[1]: hostname holds elements where only text is allowed",
                "clientConfig/emailProvider[1]/outgoingServer[1]/domain[1]: domain is not allowed in outgoingServer",
                "clientConfig/emailProvider[1]: text where only elements are allowed",
                "clientConfig/hostname[1]: hostname is not allowed in clientConfig",
            ]
        );
        assert_eq!(
            v[2].server.as_deref(),
            Some("emailProvider[1]/incomingServer[1]")
        );
        assert_eq!(
            v[5].server.as_deref(),
            Some("emailProvider[1]/outgoingServer[1]")
        );
        assert_eq!(v[6].server, None);
        assert_eq!(reasons("<config version='1'/>").len(), 1);
        assert!(
            reasons("<clientConfig version='1'><a></b></clientConfig>")[0]
                .contains("not well-formed")
        );
        assert_eq!(
            reasons(r#"<clientConfig xmlns="urn:other" version="1"/>"#),
            [r#"{ns}clientConfig: the root element is not clientConfig"#]
        );
    }

    #[test]
    fn positive_integers() {
        for ok in ["1", "993", "+993", "007", " 465\n"] {
            assert!(positive_integer(ok), "{ok:?}");
        }
        for bad in ["", "0", "000", "-1", "-0", "9 93", "1.0", "0x1f", "+"] {
            assert!(!positive_integer(bad), "{bad:?}");
        }
    }
}
