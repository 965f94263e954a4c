//! Name resolution shared by discovery (SRV, MX, HTTP host names) and by the probe's TCP
//! connect.
//!
//! Two modes:
//! - **system** (the default): addresses through the operating system (`getaddrinfo`, so
//!   `/etc/hosts` and nsswitch apply, as before), SRV and MX through hickory configured from
//!   `/etc/resolv.conf`;
//! - **one name server** (`--dns-server IP[:PORT]`): every query — addresses, SRV, MX — goes to
//!   that server and nowhere else: no hosts file, no search domains, no system fallback. Tests
//!   use it to keep every lookup on loopback.
//!
//! DNSSEC (RFC 4033-4035): answers are validated by hickory from the root trust anchor, or from
//! `--dns-trust-anchor FILE` (DS or DNSKEY records, which then replace the root). Each answer is
//! [`Dnssec::Validated`], [`Dnssec::Insecure`] (provably unsigned) or [`Dnssec::Unchecked`]; a
//! bogus one is [`LookupError::Bogus`] and never used. Validation needs DNSSEC data from the
//! name server: when the anchor's own DNSKEY does not validate through it (a name server that
//! strips or never serves it), or a name lies under no anchor, answers are `Unchecked`, as
//! they were before validation existed. Addresses in system mode come from `getaddrinfo` and
//! are `Unchecked` too.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::{
    DnsUdpSocket, RuntimeProvider, TokioRuntimeProvider, TokioTime,
};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::rdata::{DNSSECRData, DNSKEY, DS};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::{LowerName, Name, RData, Record, RecordType};
use serde::Serialize;
use tokio::io::Interest;

/// Why a lookup gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LookupError {
    /// The name does not exist, or has no record of the asked type.
    NotFound {
        detail: String,
        /// The name itself does not exist (NXDOMAIN), rather than having no record of the
        /// asked type: discovery tells "no such domain" from "publishes nothing" by it.
        #[serde(skip)]
        no_such_name: bool,
    },
    /// No answer in time.
    TimedOut,
    /// Nothing listens where the name server should be (ICMP port unreachable on UDP, a TCP
    /// reset): as silent as a timeout, but known at once.
    Refused { detail: String },
    /// DNSSEC validation failed (RFC 4035 §5: bogus): a signature that does not verify, or
    /// signatures missing where the chain of trust says they must be. Never used.
    Bogus { detail: String },
    /// Anything else (server failure, malformed answer, no resolver configured).
    Failed { detail: String },
}

impl LookupError {
    /// The name server said nothing at all: no answer in time, or nothing listening.
    pub fn is_silence(&self) -> bool {
        matches!(self, LookupError::TimedOut | LookupError::Refused { .. })
    }

    fn not_found(detail: impl Into<String>) -> LookupError {
        LookupError::NotFound {
            detail: detail.into(),
            no_such_name: false,
        }
    }
}

impl std::error::Error for LookupError {}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound { detail, .. } => f.write_str(detail),
            LookupError::TimedOut => f.write_str("no answer in time"),
            LookupError::Refused { detail }
            | LookupError::Failed { detail }
            | LookupError::Bogus { detail } => f.write_str(detail),
        }
    }
}

/// What DNSSEC says of an answer (RFC 4033 §5; bogus is [`LookupError::Bogus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dnssec {
    /// Signed, and validated from the trust anchor.
    Validated,
    /// Provably unsigned: an insecure delegation on the way from the trust anchor.
    Insecure,
    /// Not validated: the name server gives no DNSSEC data to validate with, the name is under
    /// no trust anchor, or the address came from the system's `getaddrinfo`.
    Unchecked,
}

impl Dnssec {
    pub fn name(self) -> &'static str {
        match self {
            Dnssec::Validated => "validated",
            Dnssec::Insecure => "insecure",
            Dnssec::Unchecked => "unchecked",
        }
    }

    /// The weaker of two states: a chain is as strong as its weakest answer.
    pub fn and(self, other: Dnssec) -> Dnssec {
        match (self, other) {
            (Dnssec::Validated, Dnssec::Validated) => Dnssec::Validated,
            (Dnssec::Unchecked, _) | (_, Dnssec::Unchecked) => Dnssec::Unchecked,
            _ => Dnssec::Insecure,
        }
    }
}

/// Records with what DNSSEC says of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    pub records: T,
    pub dnssec: Dnssec,
}

/// One TLSA record (RFC 6698 §2.1), as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsaRecord {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// `--dns-trust-anchor FILE`: DS or DNSKEY records in zone-file form, which replace the root
/// trust anchor (a private root, or a test's parent zone).
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    pub path: PathBuf,
    dnskeys: Vec<(Name, DNSKEY)>,
    ds: Vec<(Name, DS)>,
}

impl PartialEq for TrustAnchor {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl TrustAnchor {
    /// Reads and parses `path`; the error says what is wrong, for the flag's message.
    pub fn read(path: &Path) -> Result<TrustAnchor, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        TrustAnchor::parse(&text, path)
    }

    /// One record per line (parentheses join lines, `;` starts a comment): `NAME [TTL] [IN]
    /// DS|DNSKEY RDATA`. hickory's zone parser refuses DNSKEY and its anchor parser DS, so each
    /// record goes to the one that reads it.
    pub fn parse(text: &str, path: &Path) -> Result<TrustAnchor, String> {
        use hickory_resolver::proto::serialize::txt::trust_anchor::{Entry, Parser as KeyParser};
        use hickory_resolver::proto::serialize::txt::Parser as ZoneParser;
        let (mut dnskeys, mut ds) = (Vec::new(), Vec::new());
        for line in anchor_lines(text) {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = tokens
                .iter()
                .position(|t| t.eq_ignore_ascii_case("DS") || t.eq_ignore_ascii_case("DNSKEY"))
                .filter(|&i| i >= 1)
            else {
                return Err(format!("{line:?} is neither a DS nor a DNSKEY record"));
            };
            // Owner, class and type only: the TTL does not matter for an anchor.
            let record = format!(
                "{} IN {} {}",
                tokens[0],
                tokens[at],
                tokens[at + 1..].join(" ")
            );
            let bad = |e: &dyn fmt::Display| format!("{line:?}: {e}");
            if tokens[at].eq_ignore_ascii_case("DNSKEY") {
                let entries = KeyParser::new(format!("{record}\n"))
                    .parse()
                    .map_err(|e| bad(&e))?;
                for e in entries {
                    #[allow(irrefutable_let_patterns)]
                    let Entry::DNSKEY(r) = e
                    else {
                        continue;
                    };
                    dnskeys.push((r.name().clone(), r.data().clone()));
                }
            } else {
                let (_, sets) =
                    ZoneParser::new(format!("$TTL 0\n{record}\n"), None, Some(Name::root()))
                        .parse()
                        .map_err(|e| bad(&e))?;
                for r in sets.values().flat_map(|s| s.records_without_rrsigs()) {
                    if let RData::DNSSEC(DNSSECRData::DS(d)) = &r.data {
                        ds.push((r.name.clone(), d.clone()));
                    }
                }
            }
        }
        if dnskeys.is_empty() && ds.is_empty() {
            return Err("no DS or DNSKEY record in it".into());
        }
        Ok(TrustAnchor {
            path: path.to_path_buf(),
            dnskeys,
            ds,
        })
    }

    /// The zones it anchors.
    fn zones(&self) -> Vec<Name> {
        let mut v: Vec<Name> = Vec::new();
        for n in self
            .dnskeys
            .iter()
            .map(|k| &k.0)
            .chain(self.ds.iter().map(|d| &d.0))
        {
            if !v.contains(n) {
                v.push(n.clone());
            }
        }
        v
    }
}

/// A zone file's records, one per item: comments dropped, parenthesised lines joined.
fn anchor_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for line in text.lines() {
        let line = line.split(';').next().unwrap_or("");
        for ch in line.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                c => cur.push(c),
            }
        }
        cur.push(' ');
        if depth == 0 {
            if !cur.trim().is_empty() && !cur.trim_start().starts_with('$') {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// One SRV record, as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Without the trailing dot; `"."` (the root) means "service not offered" (RFC 2782).
    pub target: String,
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxRecord {
    pub preference: u16,
    /// Without the trailing dot.
    pub exchange: String,
}

/// A `--dns-server` value: `IP` or `IP:PORT` (`[v6]:PORT` for IPv6 with a port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServer(pub SocketAddr);

impl FromStr for NameServer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(NameServer(sa));
        }
        if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(NameServer(SocketAddr::new(ip, 53)));
        }
        Err(format!(
            "{s:?} is not a name server address (IP, IP:PORT or [IPv6]:PORT)"
        ))
    }
}

/// A resolver's name server and trust anchor file ([`Resolver::identity`]).
pub type ResolverId = (Option<SocketAddr>, Option<PathBuf>);

/// hickory's resolver, on a runtime where a refused UDP query is known at once.
type Dns = hickory_resolver::Resolver<ConnectedUdp>;

/// Cheap to clone; one per run, shared by discovery and every probe.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    mode: Mode,
    timeout: Duration,
    /// `None`: the root trust anchor.
    anchor: Option<Arc<TrustAnchor>>,
    /// Built on first use (it asks the name server for the anchors' keys): `None` when no
    /// anchor validates through the name server.
    validator: tokio::sync::OnceCell<Option<Validator>>,
}

enum Mode {
    System {
        /// Built on first SRV/MX query (reading `/etc/resolv.conf` is I/O).
        dns: OnceLock<Result<Dns, String>>,
    },
    Server {
        server: SocketAddr,
        dns: Dns,
    },
}

/// The validating resolver, and the anchored zones whose keys validated through it.
struct Validator {
    dns: Dns,
    zones: Vec<Name>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resolver({})", self.describe())
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::system()
    }
}

impl Resolver {
    /// The operating system's resolver.
    pub fn system() -> Resolver {
        Resolver::new(
            Mode::System {
                dns: OnceLock::new(),
            },
            Duration::from_secs(5),
            None,
        )
    }

    fn new(mode: Mode, timeout: Duration, anchor: Option<Arc<TrustAnchor>>) -> Resolver {
        Resolver {
            inner: Arc::new(Inner {
                mode,
                timeout,
                anchor,
                validator: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Every query to `server` only (UDP, then TCP on truncation), each attempt bounded by
    /// `timeout`.
    pub fn with_server(server: SocketAddr, timeout: Duration) -> Resolver {
        let dns = server_builder(server, timeout)
            .build()
            .expect("a resolver with one name server and no TLS always builds");
        Resolver::new(Mode::Server { server, dns }, timeout, None)
    }

    /// The same name server, validating from `anchor` instead of the root.
    pub fn with_trust_anchor(self, anchor: Option<Arc<TrustAnchor>>) -> Resolver {
        let Inner { mode, timeout, .. } =
            Arc::try_unwrap(self.inner).unwrap_or_else(|inner| Inner {
                mode: match &inner.mode {
                    Mode::System { .. } => Mode::System {
                        dns: OnceLock::new(),
                    },
                    Mode::Server { server, .. } => Mode::Server {
                        server: *server,
                        dns: server_builder(*server, inner.timeout)
                            .build()
                            .expect("a resolver with one name server and no TLS always builds"),
                    },
                },
                timeout: inner.timeout,
                anchor: None,
                validator: tokio::sync::OnceCell::new(),
            });
        Resolver::new(mode, timeout, anchor)
    }

    /// `--dns-server` given or not.
    pub fn from_option(server: Option<SocketAddr>, timeout: Duration) -> Resolver {
        match server {
            Some(s) => Resolver::with_server(s, timeout),
            None => Resolver::system(),
        }
    }

    /// The name server in use, if one was given.
    pub fn server(&self) -> Option<SocketAddr> {
        match &self.inner.mode {
            Mode::Server { server, .. } => Some(*server),
            Mode::System { .. } => None,
        }
    }

    /// What tells two resolvers apart for a cache: the name server and the trust anchor.
    pub fn identity(&self) -> ResolverId {
        (
            self.server(),
            self.inner.anchor.as_ref().map(|a| a.path.clone()),
        )
    }

    /// The `--dns-trust-anchor` in use, if one was given.
    pub fn trust_anchor(&self) -> Option<Arc<TrustAnchor>> {
        self.inner.anchor.clone()
    }

    /// `system` or the `--dns-server` address, for reports.
    pub fn describe(&self) -> String {
        match self.server() {
            Some(s) => s.to_string(),
            None => "system".into(),
        }
    }

    /// The plain (non-validating) resolver.
    fn plain(&self) -> Result<&Dns, LookupError> {
        match &self.inner.mode {
            Mode::Server { dns, .. } => Ok(dns),
            Mode::System { dns } => dns
                .get_or_init(|| {
                    system_builder(self.inner.timeout)?
                        .build()
                        .map_err(|e| e.to_string())
                })
                .as_ref()
                .map_err(|e| LookupError::Failed { detail: e.clone() }),
        }
    }

    /// The validating resolver for `name`, if an anchor covers it and validates through the
    /// name server.
    async fn validator_for(&self, name: &Name) -> Option<&Dns> {
        let v = self
            .inner
            .validator
            .get_or_init(|| self.build_validator())
            .await
            .as_ref()?;
        v.zones.iter().any(|z| z.zone_of(name)).then_some(&v.dns)
    }

    async fn build_validator(&self) -> Option<Validator> {
        let (anchors, zones) = match &self.inner.anchor {
            None => (TrustAnchors::default(), vec![Name::root()]),
            Some(a) => (self.trust_anchors(a).await, a.zones()),
        };
        let builder = match &self.inner.mode {
            Mode::Server { server, .. } => server_builder(*server, self.inner.timeout),
            Mode::System { .. } => system_builder(self.inner.timeout).ok()?,
        };
        let dns = builder.with_trust_anchor(Arc::new(anchors)).build().ok()?;
        // The anchors' own keys must validate: a name server that gives no DNSSEC data leaves
        // every answer unchecked rather than bogus.
        let mut ok = Vec::new();
        for z in zones {
            if let Ok(l) = dns.lookup(z.clone(), RecordType::DNSKEY).await {
                if l.answers()
                    .iter()
                    .any(|r| r.record_type() == RecordType::DNSKEY && r.proof == Proof::Secure)
                {
                    ok.push(z);
                }
            }
        }
        (!ok.is_empty()).then_some(Validator { dns, zones: ok })
    }

    /// The anchor file's keys, with the DNSKEYs its DS records vouch for (asked of the name
    /// server, kept only when their digest matches).
    async fn trust_anchors(&self, a: &TrustAnchor) -> TrustAnchors {
        let mut t = TrustAnchors::empty();
        for (name, key) in &a.dnskeys {
            t.insert_with_name(key.public_key(), LowerName::from(name));
        }
        let mut asked: Vec<&Name> = Vec::new();
        for (name, _) in &a.ds {
            if asked.contains(&name) {
                continue;
            }
            asked.push(name);
            let Ok(dns) = self.plain() else { continue };
            let Ok(l) = dns.lookup(name.clone(), RecordType::DNSKEY).await else {
                continue;
            };
            for r in l.answers() {
                let RData::DNSSEC(DNSSECRData::DNSKEY(key)) = &r.data else {
                    continue;
                };
                if a.ds
                    .iter()
                    .any(|(n, ds)| n == name && ds.covers(name, key).unwrap_or(false))
                {
                    t.insert_with_name(key.public_key(), LowerName::from(name));
                }
            }
        }
        t
    }

    /// A lookup of `name`/`t`, validated where an anchor covers it.
    async fn lookup(
        &self,
        name: &str,
        t: RecordType,
    ) -> Result<(hickory_resolver::lookup::Lookup, Dnssec), LookupError> {
        let fq = fqdn(name);
        let parsed = Name::from_ascii(&fq).map_err(|e| LookupError::Failed {
            detail: e.to_string(),
        })?;
        if let Some(v) = self.validator_for(&parsed).await {
            let l = v
                .lookup(parsed, t)
                .await
                .map_err(|e| validated_error(&fq, t, e))?;
            let dnssec = proof_of(l.answers(), &[t])?;
            return Ok((l, dnssec));
        }
        let l = self
            .plain()?
            .lookup(fq.as_str(), t)
            .await
            .map_err(net_error)?;
        Ok((l, Dnssec::Unchecked))
    }

    /// Addresses of `host` (a name or an IP literal) with `port`, duplicates removed, in the
    /// order the resolver gave them.
    pub async fn lookup_addrs(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, LookupError> {
        self.addrs(host, port).await.map(|a| a.records)
    }

    /// [`Resolver::lookup_addrs`] with what DNSSEC says of the answer (an IP literal needs no
    /// DNS: validated).
    pub async fn addrs(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Answer<Vec<SocketAddr>>, LookupError> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(Answer {
                records: vec![SocketAddr::new(ip, port)],
                dnssec: Dnssec::Validated,
            });
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        let mut push = |a: SocketAddr| {
            if !out.contains(&a) {
                out.push(a);
            }
        };
        let dnssec = match &self.inner.mode {
            Mode::System { .. } => {
                let it = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|e| LookupError::not_found(e.to_string()))?;
                it.for_each(&mut push);
                Dnssec::Unchecked
            }
            Mode::Server { dns, .. } => {
                let name = fqdn(host);
                let parsed = Name::from_ascii(&name).ok();
                let v = match &parsed {
                    Some(n) => self.validator_for(n).await,
                    None => None,
                };
                match v {
                    Some(v) => {
                        let lookup = v
                            .lookup_ip(name.as_str())
                            .await
                            .map_err(|e| validated_error(&name, RecordType::A, e))?;
                        let answers = lookup.as_lookup().answers();
                        let dnssec = proof_of(answers, &[RecordType::A, RecordType::AAAA])?;
                        lookup.iter().for_each(|ip| push(SocketAddr::new(ip, port)));
                        dnssec
                    }
                    None => {
                        let lookup = dns.lookup_ip(name.as_str()).await.map_err(net_error)?;
                        lookup.iter().for_each(|ip| push(SocketAddr::new(ip, port)));
                        Dnssec::Unchecked
                    }
                }
            }
        };
        if out.is_empty() {
            return Err(LookupError::not_found(format!("{host} has no address")));
        }
        Ok(Answer {
            records: out,
            dnssec,
        })
    }

    /// SRV records of `name` (e.g. `_imaps._tcp.example.com`), as served (not sorted).
    pub async fn srv(&self, name: &str) -> Result<Answer<Vec<SrvRecord>>, LookupError> {
        let (lookup, dnssec) = self.lookup(name, RecordType::SRV).await?;
        let v: Vec<SrvRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(SrvRecord {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: host_of(&s.target.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no SRV record for {name}")));
        }
        Ok(Answer { records: v, dnssec })
    }

    /// TXT records of `name`, each as its character-strings (RFC 1035 §3.3.14), as served.
    pub async fn txt(&self, name: &str) -> Result<Answer<Vec<Vec<Vec<u8>>>>, LookupError> {
        let (lookup, dnssec) = self.lookup(name, RecordType::TXT).await?;
        let v: Vec<Vec<Vec<u8>>> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.txt_data.iter().map(|s| s.to_vec()).collect()),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no TXT record for {name}")));
        }
        Ok(Answer { records: v, dnssec })
    }

    /// MX records of `domain`, most preferred first (lowest preference; ties keep server order).
    pub async fn mx(&self, domain: &str) -> Result<Answer<Vec<MxRecord>>, LookupError> {
        let (lookup, dnssec) = self.lookup(domain, RecordType::MX).await?;
        let mut v: Vec<MxRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(m) => Some(MxRecord {
                    preference: m.preference,
                    exchange: host_of(&m.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no MX record for {domain}")));
        }
        v.sort_by_key(|m| m.preference);
        Ok(Answer { records: v, dnssec })
    }

    /// TLSA records of `_port._tcp.host` (RFC 6698 §3).
    pub async fn tlsa(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Answer<Vec<TlsaRecord>>, LookupError> {
        let name = format!("_{port}._tcp.{}", host.trim_end_matches('.'));
        let (lookup, dnssec) = self.lookup(&name, RecordType::TLSA).await?;
        let v: Vec<TlsaRecord> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TLSA(t) => Some(TlsaRecord {
                    usage: t.cert_usage.into(),
                    selector: t.selector.into(),
                    matching: t.matching.into(),
                    data: t.cert_data.clone(),
                }),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            return Err(LookupError::not_found(format!("no TLSA record for {name}")));
        }
        Ok(Answer { records: v, dnssec })
    }
}

fn server_builder(
    server: SocketAddr,
    timeout: Duration,
) -> hickory_resolver::ResolverBuilder<ConnectedUdp> {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let ns = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
    let config = ResolverConfig::from_name_servers(vec![ns]);
    let mut builder =
        hickory_resolver::Resolver::builder_with_config(config, ConnectedUdp::default());
    let opts = builder.options_mut();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.ndots = 0;
    builder
}

fn system_builder(
    timeout: Duration,
) -> Result<hickory_resolver::ResolverBuilder<ConnectedUdp>, String> {
    let mut b = Dns::builder(ConnectedUdp::default())
        .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?;
    b.options_mut().timeout = timeout;
    Ok(b)
}

/// The state of the answer's records of the types `t` (a CNAME chain on the way counts too).
fn proof_of(answers: &[Record], t: &[RecordType]) -> Result<Dnssec, LookupError> {
    let mut state: Option<Dnssec> = None;
    for r in answers
        .iter()
        .filter(|r| t.contains(&r.record_type()) || r.record_type() == RecordType::CNAME)
    {
        let s = match r.proof {
            Proof::Secure => Dnssec::Validated,
            Proof::Insecure => Dnssec::Insecure,
            Proof::Bogus => {
                return Err(LookupError::Bogus {
                    detail: format!(
                        "DNSSEC validation failed for {} {} (bogus): not used",
                        host_of(&r.name.to_ascii()),
                        r.record_type()
                    ),
                })
            }
            Proof::Indeterminate => Dnssec::Unchecked,
        };
        state = Some(state.map_or(s, |p| p.and(s)));
    }
    Ok(state.unwrap_or(Dnssec::Unchecked))
}

/// [`net_error`], and a bogus answer (hickory drops its records), or a negative answer whose
/// NSEC proof is bogus.
fn validated_error(name: &str, t: RecordType, e: NetError) -> LookupError {
    if matches!(e, NetError::Dns(DnsError::DnssecBogus)) {
        return LookupError::Bogus {
            detail: format!(
                "DNSSEC validation failed for {} {t} (bogus): not used",
                host_of(name)
            ),
        };
    }
    if let NetError::Dns(DnsError::Nsec { query, proof, .. }) = &e {
        if *proof == Proof::Bogus {
            return LookupError::Bogus {
                detail: format!(
                    "DNSSEC validation failed for the absence of {} {} (bogus): not used",
                    host_of(&query.name().to_ascii()),
                    query.query_type()
                ),
            };
        }
        return LookupError::not_found("no record of that type (DNSSEC-proven)");
    }
    net_error(e)
}

/// Absolute form: no search domain is ever appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// `mail.example.com.` → `mail.example.com`; the root stays `"."`.
fn host_of(ascii: &str) -> String {
    if ascii == "." || ascii.is_empty() {
        ".".into()
    } else {
        ascii.trim_end_matches('.').to_ascii_lowercase()
    }
}

fn net_error(e: NetError) -> LookupError {
    if e.is_no_records_found() || e.is_nx_domain() {
        LookupError::NotFound {
            detail: if e.is_nx_domain() {
                "no such name (NXDOMAIN)".into()
            } else {
                "no record of that type".into()
            },
            no_such_name: e.is_nx_domain(),
        }
    } else if matches!(e, NetError::Timeout) {
        LookupError::TimedOut
    } else if refused(&e) {
        LookupError::Refused {
            detail: "refused: nothing listens at the name server".into(),
        }
    } else {
        LookupError::Failed {
            detail: e.to_string(),
        }
    }
}

/// Whether nothing listens at the name server: the refusal [`ConnectedUdp`] surfaces, or a
/// TCP reset. hickory's pool reports a server whose every connection failed at once as
/// `NoConnections`, the I/O error dropped.
fn refused(e: &NetError) -> bool {
    if matches!(e, NetError::NoConnections) {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// hickory's tokio runtime, with each UDP query socket connected to the name server. hickory
/// sends from an unconnected socket, on which Linux never reports the ICMP "port unreachable"
/// a closed port answers with: a `--dns-server` where nothing listens then cost a full timeout
/// per query. On a connected socket the refusal becomes the socket's pending error.
#[derive(Clone, Default)]
struct ConnectedUdp(TokioRuntimeProvider);

/// A UDP socket connected to the name server, whose receive also ends on the socket's error.
/// tokio wakes a pending `recv_from` on readability only, and an ICMP error makes the socket
/// "in error", not readable: the wait for [`Interest::ERROR`] is what sees it.
struct RefusableUdp(tokio::net::UdpSocket);

impl DnsUdpSocket for RefusableUdp {
    type Time = TokioTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<(usize, SocketAddr)>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        let from = ready!(self.0.poll_recv_from(cx, &mut buf))?;
        Poll::Ready(Ok((buf.filled().len(), from)))
    }

    // What `#[async_trait]` makes of `async fn recv_from`: the one hickory awaits.
    fn recv_from<'a, 'b, 'f>(
        &'a self,
        buf: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = std::io::Result<(usize, SocketAddr)>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            tokio::select! {
                r = self.0.recv_from(buf) => r,
                e = self.0.ready(Interest::ERROR) => {
                    e?;
                    Err(self.0.take_error()?.unwrap_or_else(|| {
                        std::io::Error::from(std::io::ErrorKind::ConnectionRefused)
                    }))
                }
            }
        })
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        _target: SocketAddr,
    ) -> Poll<std::io::Result<usize>> {
        // `target` is the server the socket is connected to; `sendto` with an address on a
        // connected socket is refused by the BSDs (EISCONN), a plain send is not.
        self.0.poll_send(cx, buf)
    }
}

impl RuntimeProvider for ConnectedUdp {
    type Handle = <TokioRuntimeProvider as RuntimeProvider>::Handle;
    type Timer = <TokioRuntimeProvider as RuntimeProvider>::Timer;
    type Udp = RefusableUdp;
    type Tcp = <TokioRuntimeProvider as RuntimeProvider>::Tcp;

    fn create_handle(&self) -> Self::Handle {
        self.0.create_handle()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = std::io::Result<Self::Tcp>>>> {
        self.0.connect_tcp(server_addr, bind_addr, timeout)
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = std::io::Result<Self::Udp>>>> {
        Box::pin(async move {
            let socket = tokio::net::UdpSocket::bind(local_addr).await?;
            socket.connect(server_addr).await?;
            Ok(RefusableUdp(socket))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_server_forms() {
        assert_eq!(
            "127.0.0.1".parse::<NameServer>().unwrap().0,
            "127.0.0.1:53".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            "127.0.0.1:5353".parse::<NameServer>().unwrap().0.port(),
            5353
        );
        assert_eq!(
            "[::1]:5353".parse::<NameServer>().unwrap().0,
            "[::1]:5353".parse::<SocketAddr>().unwrap()
        );
        assert_eq!("::1".parse::<NameServer>().unwrap().0.port(), 53);
        assert!("dns.example".parse::<NameServer>().is_err());
    }

    #[tokio::test]
    async fn ip_literals_need_no_lookup() {
        // A server on a port where nothing listens: an IP literal must not query it.
        let r = Resolver::with_server("127.0.0.1:9".parse().unwrap(), Duration::from_millis(200));
        assert_eq!(
            r.lookup_addrs("127.0.0.7", 25).await.unwrap(),
            vec!["127.0.0.7:25".parse().unwrap()]
        );
        assert_eq!(
            r.lookup_addrs("[::1]", 25).await.unwrap(),
            vec!["[::1]:25".parse().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_closed_name_server_port_is_refused_at_once() {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = Resolver::with_server(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        );
        let t0 = std::time::Instant::now();
        let e = r.mx("example.test").await.unwrap_err();
        assert!(matches!(e, LookupError::Refused { .. }), "{e:?}");
        assert!(e.is_silence());
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }

    #[test]
    fn trust_anchors_read_ds_and_dnskey_records() {
        let p = Path::new("anchor");
        // ldns-keygen's .key and .ds lines, a multi-line record and comments.
        let a = TrustAnchor::parse(
            "; the test root\n\
             test.\tIN\tDNSKEY\t257 3 13 lDi/y6hoNviy8AOkPdE06qWIoOh6vUyY+lwXYaeS0KvAzxDvHrhvtYRJ7YyeTf+dHpo1XOEQSollLt5OUcXIoA== ;{id = 17897 (ksk), size = 256b}\n\
             test.\t3600\tIN\tDS\t17897 13 2 ( ece4d0f6fa696421d3d13327eda8916f\n\
             d39e384b2b69fa337f7eb35162333038 )\n",
            p,
        )
        .unwrap();
        assert_eq!(a.dnskeys.len(), 1);
        assert_eq!(a.ds.len(), 1);
        assert_eq!(a.ds[0].1.key_tag(), 17897);
        assert!(a.ds[0].1.covers(&a.dnskeys[0].0, &a.dnskeys[0].1).unwrap());
        assert_eq!(a.zones(), vec![Name::from_ascii("test.").unwrap()]);

        for bad in ["", "; nothing\n", "test. IN A 127.0.0.1", "test. IN DS 1 2"] {
            assert!(TrustAnchor::parse(bad, p).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_chain_is_as_strong_as_its_weakest_answer() {
        use Dnssec::*;
        assert_eq!(Validated.and(Validated), Validated);
        assert_eq!(Validated.and(Insecure), Insecure);
        assert_eq!(Insecure.and(Unchecked), Unchecked);
    }

    #[test]
    fn host_names_lose_the_root_dot() {
        assert_eq!(host_of("Mail.Example.com."), "mail.example.com");
        assert_eq!(host_of("."), ".");
    }
}
