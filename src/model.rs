//! The vocabulary of what is probed and under which rules, below every stage: protocols,
//! securities and combinations, `--only`/`--skip` selectors, `--connect-to` rules, targets,
//! limits and the policy. Settings, discovery, the planner and the engine all speak it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Imap, Protocol::Pop3, Protocol::Smtp];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
        }
    }

    /// Incoming (IMAP, POP3) or outgoing (SMTP submission).
    pub fn direction(self) -> Direction {
        match self {
            Protocol::Imap | Protocol::Pop3 => Direction::Incoming,
            Protocol::Smtp => Direction::Outgoing,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "imap" => Ok(Protocol::Imap),
            "pop3" | "pop" => Ok(Protocol::Pop3),
            "smtp" | "submission" => Ok(Protocol::Smtp),
            other => Err(format!("unknown protocol {other:?} (imap, pop3, smtp)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// How the connection is secured. Plain-text-only is never a combination we log in on: what a
/// server offers before STARTTLS is recorded as part of the STARTTLS probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Implicit TLS from the first byte (RFC 8314): 993, 995, 465.
    Tls,
    /// Plain text upgraded by STARTTLS / STLS: 143, 110, 587.
    Starttls,
}

impl Security {
    pub fn name(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
        }
    }

    /// How mail clients label it in their settings dialogs.
    pub fn client_label(self) -> &'static str {
        match self {
            Security::Tls => "SSL/TLS",
            Security::Starttls => "STARTTLS",
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tls" | "ssl" | "implicit" => Ok(Security::Tls),
            "starttls" | "stls" => Ok(Security::Starttls),
            other => Err(format!("unknown security {other:?} (tls, starttls)")),
        }
    }
}

/// One documented combination of protocol, port and security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Combination {
    pub protocol: Protocol,
    pub port: u16,
    pub security: Security,
}

impl Combination {
    pub const fn new(protocol: Protocol, port: u16, security: Security) -> Self {
        Combination {
            protocol,
            port,
            security,
        }
    }

    /// The six combinations the provider guides document (RFC 8314 ports first).
    pub const DOCUMENTED: [Combination; 6] = [
        Combination::new(Protocol::Imap, 993, Security::Tls),
        Combination::new(Protocol::Imap, 143, Security::Starttls),
        Combination::new(Protocol::Pop3, 995, Security::Tls),
        Combination::new(Protocol::Pop3, 110, Security::Starttls),
        Combination::new(Protocol::Smtp, 465, Security::Tls),
        Combination::new(Protocol::Smtp, 587, Security::Starttls),
    ];

    /// Stable identifier used by `--only`/`--skip`, JSON and checks files: `imap/993/tls`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.protocol, self.port, self.security)
    }
}

impl fmt::Display for Combination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// A selector for `--only` / `--skip`: `imap`, `imap/993`, `imap/993/tls`, `smtp/starttls`, `993`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    protocol: Option<Protocol>,
    port: Option<u16>,
    security: Option<Security>,
}

impl Selector {
    pub fn matches(&self, c: &Combination) -> bool {
        self.protocol.is_none_or(|p| p == c.protocol)
            && self.port.is_none_or(|p| p == c.port)
            && self.security.is_none_or(|s| s == c.security)
    }
}

impl FromStr for Selector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut sel = Selector {
            protocol: None,
            port: None,
            security: None,
        };
        for part in s.split('/').filter(|p| !p.is_empty()) {
            if let Ok(port) = part.parse::<u16>() {
                sel.port = Some(port);
            } else if let Ok(p) = part.parse::<Protocol>() {
                sel.protocol = Some(p);
            } else if let Ok(sec) = part.parse::<Security>() {
                sel.security = Some(sec);
            } else {
                return Err(format!(
                    "cannot read {part:?} in selector {s:?}: expected a protocol (imap, pop3, smtp), a port or a security (tls, starttls)"
                ));
            }
        }
        if sel.protocol.is_none() && sel.port.is_none() && sel.security.is_none() {
            return Err(format!("empty selector {s:?}"));
        }
        Ok(sel)
    }
}

/// curl's `--connect-to HOST1:PORT1:HOST2:PORT2`: connect to HOST2:PORT2 when the logical target
/// is HOST1:PORT1. The report keeps the logical host and port; an empty HOST1 or PORT1 matches any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub from_host: Option<String>,
    pub from_port: Option<u16>,
    pub to_host: Option<String>,
    pub to_port: Option<u16>,
}

impl FromStr for ConnectTo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // IPv6 literals are bracketed, as in curl: [::1]:993
        let parts = split_host_port_list(s)?;
        let [h1, p1, h2, p2] = parts.as_slice() else {
            return Err(format!(
                "--connect-to {s:?}: expected HOST1:PORT1:HOST2:PORT2 (parts may be empty)"
            ));
        };
        let port = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                Ok(None)
            } else {
                match p.parse() {
                    Ok(0) => Err(format!(
                        "--connect-to {s:?}: port 0 is not a port to connect to"
                    )),
                    Ok(port) => Ok(Some(port)),
                    Err(_) => Err(format!("--connect-to {s:?}: {p:?} is not a port")),
                }
            }
        };
        let host = |h: &str| (!h.is_empty()).then(|| h.trim_matches(['[', ']']).to_string());
        Ok(ConnectTo {
            from_host: host(h1),
            from_port: port(p1)?,
            to_host: host(h2),
            to_port: port(p2)?,
        })
    }
}

/// Back in curl's syntax, as the user typed it (IPv6 literals bracketed).
impl fmt::Display for ConnectTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |h: &Option<String>| match h.as_deref() {
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.to_string(),
            None => String::new(),
        };
        let port = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
        write!(
            f,
            "{}:{}:{}:{}",
            host(&self.from_host),
            port(self.from_port),
            host(&self.to_host),
            port(self.to_port)
        )
    }
}

fn split_host_port_list(s: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_brackets = false;
    for ch in s.chars() {
        match ch {
            '[' => {
                in_brackets = true;
                cur.push(ch)
            }
            ']' => {
                in_brackets = false;
                cur.push(ch)
            }
            ':' if !in_brackets => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    if in_brackets {
        return Err(format!("unbalanced '[' in {s:?}"));
    }
    parts.push(cur);
    Ok(parts)
}

impl ConnectTo {
    fn applies(&self, host: &str, port: u16) -> bool {
        self.from_host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.from_port.is_none_or(|p| p == port)
    }

    /// The rules that can apply to none of `combinations` on `host` (matched, as in curl,
    /// against the logical host — `--server` — and port, not the TLS name nor the address
    /// connected to): most likely a mistake the user should hear about. `--only`/`--skip` do
    /// not count: a full set of rules with `--only` is normal.
    pub fn unmatched<'r>(
        rules: &'r [ConnectTo],
        host: &str,
        combinations: &[Combination],
    ) -> Vec<&'r ConnectTo> {
        rules
            .iter()
            .filter(|r| !combinations.iter().any(|c| r.applies(host, c.port)))
            .collect()
    }

    /// The first matching rule wins, as in curl.
    pub fn resolve(rules: &[ConnectTo], host: &str, port: u16) -> (String, u16) {
        match rules.iter().find(|r| r.applies(host, port)) {
            Some(r) => (
                r.to_host.clone().unwrap_or_else(|| host.to_string()),
                r.to_port.unwrap_or(port),
            ),
            None => (host.to_string(), port),
        }
    }
}

/// One thing to probe: a combination on a logical host, plus where to really connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The host name the user gives to their mail client (logical).
    pub host: String,
    #[serde(flatten)]
    pub combination: Combination,
    /// Where the TCP connection goes (after `--connect-to`); equals host:port unless redirected.
    pub connect_host: String,
    pub connect_port: u16,
    /// The name checked against the certificate and sent as SNI.
    pub tls_name: String,
    /// The login name for this target (providers may want the local part on some protocols).
    pub username: String,
    /// With `--each-address`: the one address of `connect_host` this target probes (each
    /// address of a pool is a target of its own). `None`: the first address that connects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::IpAddr>,
}

impl Target {
    pub fn id(&self) -> String {
        self.combination.id()
    }

    /// This target on one address of its connect host (`--each-address`).
    pub fn at(&self, address: std::net::IpAddr) -> Target {
        Target {
            address: Some(address),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    #[default]
    Any,
    V4,
    V6,
}

/// Deadlines and limits. Every wait in the engine is bounded by one of these.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Per address TCP connect.
    pub connect_timeout: Duration,
    /// Each read of a server reply, and the TLS handshake.
    pub step_timeout: Duration,
    /// The whole probe of one target (all steps).
    pub target_timeout: Duration,
    /// Longest line accepted from a server; longer is a protocol failure, not a buffer.
    pub max_line: usize,
    /// Most lines in one multi-line reply (CAPA, EHLO, CAPABILITY).
    pub max_reply_lines: usize,
    /// Bytes read from one server over the whole session (bounds a flood of short lines).
    pub max_session_bytes: usize,
    /// An absolute end for the whole run (the exporter's scrape deadline): no target runs past
    /// it, and a target still queued for its pacing permit near it does not start at all.
    pub finish_by: Option<std::time::Instant>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(5),
            step_timeout: Duration::from_secs(10),
            target_timeout: Duration::from_secs(30),
            max_line: 8 * 1024,
            max_reply_lines: 256,
            max_session_bytes: 1024 * 1024,
            finish_by: None,
        }
    }
}

/// A login method the user insists on (`--auth-mechanism`), instead of the usual preference
/// (PLAIN, then LOGIN, then the protocol's own command). Lets a user reproduce what a mail
/// client that only speaks one of them sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// SASL PLAIN.
    Plain,
    /// SASL LOGIN (username and password in two base64 answers).
    Login,
    /// The protocol's own command: IMAP LOGIN, POP3 USER/PASS (SMTP has none).
    Command,
    /// SASL XOAUTH2 (Google's and Microsoft's), for a token.
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 7628), for a token.
    OAuthBearer,
}

/// Trust and safety rules that apply to every target of a run.
#[derive(Debug, Clone)]
pub struct Policy {
    pub limits: Limits,
    pub family: IpFamily,
    /// Extra CA certificates (PEM) trusted in addition to the public roots.
    pub ca_file: Option<PathBuf>,
    /// Certificate revocation lists (PEM) the server certificate is checked against; empty:
    /// no revocation checking.
    pub crl_files: Vec<PathBuf>,
    /// Send credentials even over a TLS session whose certificate failed verification.
    pub insecure: bool,
    /// Keep a redacted transcript of each session.
    pub trace: bool,
    /// How host names are resolved: the system, or the `--dns-server`.
    pub resolver: crate::net::resolver::Resolver,
    /// Also offer TLS 1.0/1.1 alone to each implicit-TLS port that negotiated TLS 1.2+ (one
    /// more connection per port) and record whether the server takes them.
    pub check_legacy_tls: bool,
    /// Log in only with this method; `None`: the best one the server offers.
    pub login_method: Option<LoginMethod>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            limits: Limits::default(),
            family: IpFamily::Any,
            ca_file: None,
            crl_files: Vec::new(),
            insecure: false,
            trace: false,
            resolver: crate::net::resolver::Resolver::system(),
            check_legacy_tls: false,
            login_method: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_combinations() {
        let s: Selector = "imap".parse().unwrap();
        assert!(s.matches(&Combination::DOCUMENTED[0]));
        assert!(!s.matches(&Combination::DOCUMENTED[4]));
        let s: Selector = "smtp/587".parse().unwrap();
        assert!(s.matches(&Combination::DOCUMENTED[5]));
        assert!(!s.matches(&Combination::DOCUMENTED[4]));
        let s: Selector = "starttls".parse().unwrap();
        assert_eq!(
            Combination::DOCUMENTED
                .iter()
                .filter(|c| s.matches(c))
                .count(),
            3
        );
        assert!("imap/994/tls/x".parse::<Selector>().is_err());
        assert!("".parse::<Selector>().is_err());
    }

    #[test]
    fn a_rule_for_the_tls_name_matches_no_target() {
        let rules: Vec<ConnectTo> = vec![
            "mail.lab.test:993:127.0.0.1:10993".parse().unwrap(),
            "127.0.0.1:143:[::1]:10143".parse().unwrap(),
        ];
        let unmatched = ConnectTo::unmatched(&rules, "127.0.0.1", &Combination::DOCUMENTED);
        assert_eq!(unmatched, vec![&rules[0]]);
        assert_eq!(rules[0].to_string(), "mail.lab.test:993:127.0.0.1:10993");
        assert_eq!(rules[1].to_string(), "127.0.0.1:143:[::1]:10143");
    }

    #[test]
    fn connect_to_follows_curl() {
        let r: ConnectTo = "mail.lab.test:993:127.0.0.2:10993".parse().unwrap();
        assert_eq!(
            ConnectTo::resolve(std::slice::from_ref(&r), "mail.lab.test", 993),
            ("127.0.0.2".into(), 10993)
        );
        assert_eq!(
            ConnectTo::resolve(&[r], "mail.lab.test", 143),
            ("mail.lab.test".into(), 143)
        );
        let any: ConnectTo = "::[::1]:".parse().unwrap();
        assert_eq!(ConnectTo::resolve(&[any], "x", 25), ("::1".into(), 25));
        assert!("a:b:c".parse::<ConnectTo>().is_err());
        assert!("a:notaport:c:1".parse::<ConnectTo>().is_err());
        for zero in ["::127.0.0.1:0", "a:0::", "a:993:b:0"] {
            let e = zero.parse::<ConnectTo>().unwrap_err();
            assert!(e.contains("port 0"), "{zero}: {e}");
        }
    }
}
