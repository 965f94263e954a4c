//! Discovery: from a mail address to candidate servers, the way the best mail clients do it,
//! each candidate tagged with where it came from and whether that channel is trusted.
//!
//! Sources, highest priority first ([`SourceKind`]): the built-in provider table, the
//! domain's PACC document (when its digest is in DNS), the provider's autoconfig document, the Thunderbird ISPDB, the MX record (known provider, or
//! autoconfig/ISPDB/table for the MX's domains), RFC 6186/8314 SRV records, Microsoft
//! Autodiscover, and last, only when nothing else answered, guessing host names.
//!
//! All sources but guessing start together, each under its own deadline. For each protocol the
//! highest-priority source that named a server for it wins; every source is still reported,
//! with what it answered or why not, and disagreements with the winner are listed.
//!
//! The parsers ([`autoconfig::parse`], [`pacc::parse`], [`autodiscover::parse`]) are pure
//! functions over bytes.

pub mod autoconfig;
pub mod autodiscover;
pub mod cache;
mod failure;
mod guess;
pub mod http;
mod mx;
pub mod note;
pub mod pacc;
pub mod providers;
pub mod schema;
mod srv;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::account::Address;
use crate::model::{Combination, ConnectTo, Protocol, Security, Target};
use crate::net::resolver::{Dnssec, Resolver};

pub use failure::{DiscoveryFailure, Obstacle};
pub use note::{Note, Notes, TrustHint};

/// Where the Thunderbird ISPDB lives (`--ispdb-url` replaces it).
pub use crate::settings::DEFAULT_ISPDB_URL;

/// At most this many candidates are kept per protocol and source.
const MAX_PER_PROTOCOL: usize = 4;

/// The sources, in priority order (the first one that names a server for a protocol wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The built-in provider table (address domain).
    ProviderTable,
    /// The domain's PACC document, accepted when its digest is in DNS ([`pacc`]).
    Pacc,
    /// The domain's own Thunderbird autoconfig document.
    Autoconfig,
    /// The Thunderbird ISPDB.
    Ispdb,
    /// The MX record: a known provider, or autoconfig/ISPDB/table for the MX's domains.
    Mx,
    /// RFC 6186 / RFC 8314 SRV records.
    Srv,
    /// Microsoft Autodiscover (POX).
    Autodiscover,
    /// Common host names on the documented ports.
    Guess,
}

impl SourceKind {
    pub const ALL: [SourceKind; 8] = [
        SourceKind::ProviderTable,
        SourceKind::Pacc,
        SourceKind::Autoconfig,
        SourceKind::Ispdb,
        SourceKind::Mx,
        SourceKind::Srv,
        SourceKind::Autodiscover,
        SourceKind::Guess,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::ProviderTable => "provider-table",
            SourceKind::Pacc => "pacc",
            SourceKind::Autoconfig => "autoconfig",
            SourceKind::Ispdb => "ispdb",
            SourceKind::Mx => "mx",
            SourceKind::Srv => "srv",
            SourceKind::Autodiscover => "autodiscover",
            SourceKind::Guess => "guess",
        }
    }

    /// Whether the source's candidates carry a login name it was told (a document's
    /// `<username>`, the provider table's form). PACC, SRV records and guessing name no login,
    /// their candidates just take the address: comparing that would report a disagreement
    /// nobody made.
    pub fn states_username(self) -> bool {
        !matches!(self, SourceKind::Pacc | SourceKind::Srv | SourceKind::Guess)
    }

    /// Words for the table.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::ProviderTable => "built-in provider table",
            SourceKind::Pacc => "PACC",
            SourceKind::Autoconfig => "autoconfig (provider)",
            SourceKind::Ispdb => "ISPDB",
            SourceKind::Mx => "MX record",
            SourceKind::Srv => "SRV records",
            SourceKind::Autodiscover => "Autodiscover",
            SourceKind::Guess => "guessing",
        }
    }
}

/// One server setting a source proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The login name this source says to use.
    pub username: String,
    /// Authentication the source documents (`password-cleartext`, `OAuth2`, `app-password`...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<String>,
    pub source: SourceKind,
    /// The URL, DNS record or table entry it came from.
    pub origin: String,
    /// Whether the channel is trusted: the built-in table, https with a valid certificate,
    /// DNSSEC-validated DNS (RFC 6186 §6). http, DNS without validation and guessing are not.
    pub trusted: bool,
    /// What DNSSEC says of the DNS answer it came from (SRV, MX), when it came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<Dnssec>,
    /// `notes` (English) and `note_codes` in JSON.
    #[serde(flatten, skip_serializing_if = "Notes::is_empty")]
    pub notes: Notes,
}

impl Candidate {
    pub fn combination(&self) -> Combination {
        Combination::new(self.protocol, self.port, self.security)
    }

    /// `imap mail.example.com:993 tls`.
    pub fn setting(&self) -> String {
        format!(
            "{} {}:{} {}",
            self.protocol, self.host, self.port, self.security
        )
    }

    fn key(&self) -> (Protocol, String, u16, Security) {
        (
            self.protocol,
            self.host.to_ascii_lowercase(),
            self.port,
            self.security,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceStatus {
    /// It named at least one server.
    Answered,
    /// It was asked and had nothing (no record, 404, no usable server in the document).
    NoAnswer,
    /// It broke: unreadable document, TLS failure, redirect loop...
    Failed,
    /// Its deadline passed.
    TimedOut,
    /// Not asked (guessing when another source answered).
    Skipped,
}

impl SourceStatus {
    pub fn name(self) -> &'static str {
        match self {
            SourceStatus::Answered => "answered",
            SourceStatus::NoAnswer => "no answer",
            SourceStatus::Failed => "failed",
            SourceStatus::TimedOut => "timed out",
            SourceStatus::Skipped => "skipped",
        }
    }
}

/// What a source's document publishes besides the servers probed (autoconfig 1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Published {
    /// JMAP, EWS, ActiveSync, CardDAV, CalDAV...: listed, not probed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_offered: Vec<autoconfig::Offered>,
    /// The `<oAuth2>` element, for an OAuth2 sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<autoconfig::OAuth2Config>,
    /// The document that published them (not in JSON: the source's detail names it), for
    /// `--oauth2`, which signs in where it says.
    #[serde(skip)]
    pub by: Option<PublishedBy>,
}

/// A published document's URL and whether it came over a trusted channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedBy {
    pub url: String,
    pub trusted: bool,
}

/// What one source did.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: SourceKind,
    pub status: SourceStatus,
    /// What it answered, or why not.
    pub detail: String,
    pub ms: u64,
    /// The URLs and DNS names it asked, in order.
    pub queried: Vec<String>,
    /// The provider it recognised, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub candidates: Vec<Candidate>,
    /// `notes` (English) and `note_codes` in JSON.
    #[serde(flatten, skip_serializing_if = "Notes::is_empty")]
    pub notes: Notes,
    /// Protocols this source says the domain does not offer (SRV target "." on every service
    /// of the protocol, RFC 6186 §3.4): lower-priority sources are not used for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_offered: Vec<Protocol>,
    /// What stood in the way of each step that gave nothing, for [`DiscoveryReport::failure`]
    /// (not in JSON: `detail` says it in words).
    #[serde(skip)]
    pub obstacles: Vec<Obstacle>,
    /// `also_offered` and `oauth2` in JSON, when its document gives them.
    #[serde(flatten)]
    pub published: Published,
}

/// Two sources that name different servers, or different login names, for one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub protocol: Protocol,
    pub winner: SourceKind,
    /// Its servers, `host:port security`.
    pub winner_says: Vec<String>,
    pub source: SourceKind,
    pub source_says: Vec<String>,
    /// The login names each side gives for the protocol, set (both) only when they differ:
    /// the same servers with another username is what breaks a login (an autoconfig saying
    /// `%EMAILLOCALPART%` where the ISPDB says `%EMAILADDRESS%`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub winner_usernames: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_usernames: Vec<String>,
}

impl Disagreement {
    /// Whether the login names differ (the servers may agree).
    pub fn about_usernames(&self) -> bool {
        !self.winner_usernames.is_empty()
    }
}

/// The outcome of discovery.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryReport {
    pub address: String,
    /// The address's domain, ASCII (punycode) form.
    pub domain: String,
    /// `system`, or the `--dns-server` used.
    pub resolver: String,
    pub elapsed_ms: u64,
    /// Every source, in priority order.
    pub sources: Vec<SourceReport>,
    /// For each protocol, the source whose answer is used.
    pub winners: BTreeMap<Protocol, SourceKind>,
    /// The candidates that become targets: the winners' answers.
    pub selected: Vec<Candidate>,
    pub disagreements: Vec<Disagreement>,
    /// Things the user must know (unknown host part, OAuth2-only provider...): `notes`
    /// (English sentences) and `note_codes` in JSON.
    #[serde(flatten)]
    pub notes: Notes,
    /// Some web answer came from the process's cache: an earlier discovery (another account
    /// of the domain in a `batch`, `check` or `serve`) asked the same URL ([`cache`]).
    pub cached: bool,
}

impl DiscoveryReport {
    /// Whether any selected candidate came through an untrusted channel.
    pub fn any_untrusted(&self) -> bool {
        self.selected.iter().any(|c| !c.trusted)
    }

    /// The source of the selected candidate matching a probed target, if any.
    pub fn origin_of(&self, target: &Target) -> Option<&Candidate> {
        self.selected.iter().find(|c| {
            c.host.eq_ignore_ascii_case(&target.host) && c.combination() == target.combination
        })
    }
}

/// How to run discovery.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    pub resolver: Resolver,
    /// Extra CA certificates for the HTTPS client (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Base URL of the ISPDB; the domain is appended.
    pub ispdb_url: String,
    /// Deadline of each source.
    pub timeout: Duration,
    /// `--connect-to` rules, applied to HTTP connections too (as curl does).
    pub connect_to: Vec<ConnectTo>,
}

impl DiscoveryConfig {
    pub fn new(resolver: Resolver) -> DiscoveryConfig {
        DiscoveryConfig {
            resolver,
            ca_file: None,
            ispdb_url: DEFAULT_ISPDB_URL.to_string(),
            timeout: crate::settings::DEFAULT_DISCOVERY_TIMEOUT,
            connect_to: vec![],
        }
    }

    /// Each HTTP request or DNS query inside a source gets this much, so that a hanging URL
    /// still leaves the source time to report what the other URLs said.
    fn step_timeout(&self) -> Duration {
        self.timeout.mul_f64(0.75)
    }
}

/// What a source hands back before timing is added.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub candidates: Vec<Candidate>,
    pub notes: Notes,
    pub provider: Option<String>,
    /// What it answered, or why not.
    pub detail: String,
    /// Set when the source broke (rather than had nothing to say).
    pub failed: bool,
    /// Protocols the source says are not offered.
    pub not_offered: Vec<Protocol>,
    /// What stood in the way of each step that gave nothing.
    pub obstacles: Vec<Obstacle>,
    pub published: Published,
}

impl Found {
    pub fn nothing(detail: impl Into<String>, why: Obstacle) -> Found {
        Found {
            detail: detail.into(),
            obstacles: vec![why],
            ..Found::default()
        }
    }
    pub fn failed(detail: impl Into<String>, why: Obstacle) -> Found {
        Found {
            detail: detail.into(),
            failed: true,
            obstacles: vec![why],
            ..Found::default()
        }
    }
}

/// The URLs and names a source asked, kept even when its deadline cuts it short.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trail(Arc<Mutex<Vec<String>>>);

impl Trail {
    pub fn push(&self, s: impl Into<String>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s.into());
        }
    }
    fn take(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Everything a source needs.
pub(crate) struct Ctx {
    pub address: Address,
    pub cfg: DiscoveryConfig,
    pub http: http::Http,
}

impl Ctx {
    pub fn email(&self) -> String {
        self.address.ascii()
    }
}

/// The time a source has left. Each step (an HTTP request, a DNS query) is given at most what
/// remains, so that when the deadline comes the source still hands back what its finished
/// steps found, instead of the whole source being cut off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    end: tokio::time::Instant,
}

impl Budget {
    /// `timeout` from now, less a small margin in which the source sums up its steps.
    fn new(timeout: Duration) -> Budget {
        let margin = (timeout / 20).min(Duration::from_millis(50));
        Budget {
            end: tokio::time::Instant::now() + timeout - margin,
        }
    }

    /// When a step started now must end: `step` from now, or the budget's end if sooner.
    pub fn step_end(&self, step: Duration) -> tokio::time::Instant {
        (tokio::time::Instant::now() + step).min(self.end)
    }

    pub fn end(&self) -> tokio::time::Instant {
        self.end
    }
}

/// Run `steps` together until `end`; their results in the steps' order, `None` for a step
/// the budget cut short. Returns as soon as the first step, in order, whose result `settles`
/// has finished with every step before it finished too: lower-priority steps are then moot.
pub(crate) async fn in_order<T, F>(
    end: tokio::time::Instant,
    steps: impl IntoIterator<Item = F>,
    settles: impl Fn(&T) -> bool,
) -> Vec<Option<T>>
where
    F: Future<Output = T>,
{
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut pending: FuturesUnordered<_> = steps
        .into_iter()
        .enumerate()
        .map(|(i, f)| async move { (i, f.await) })
        .collect();
    let mut out: Vec<Option<T>> = (0..pending.len()).map(|_| None).collect();
    while let Ok(Some((i, r))) = tokio::time::timeout_at(end, pending.next()).await {
        out[i] = Some(r);
        let settled = out.iter().map_while(|r| r.as_ref()).any(&settles);
        if settled {
            break;
        }
    }
    out
}

async fn timed<F, S>(kind: SourceKind, timeout: Duration, trail: Trail, source: S) -> SourceReport
where
    S: FnOnce(Budget) -> F,
    F: Future<Output = Found>,
{
    let t0 = Instant::now();
    let outcome = tokio::time::timeout(timeout, source(Budget::new(timeout))).await;
    let ms = t0.elapsed().as_millis() as u64;
    let (status, found) = match outcome {
        Ok(f) if !f.candidates.is_empty() => (SourceStatus::Answered, f),
        Ok(f) if f.failed => (SourceStatus::Failed, f),
        Ok(f) => (SourceStatus::NoAnswer, f),
        Err(_) => (
            SourceStatus::TimedOut,
            Found::failed(
                format!(
                    "no answer within its deadline of {} ms",
                    timeout.as_millis()
                ),
                Obstacle::TimedOut,
            ),
        ),
    };
    SourceReport {
        source: kind,
        status,
        detail: found.detail,
        ms,
        queried: trail.take(),
        provider: found.provider,
        candidates: found.candidates,
        notes: found.notes,
        not_offered: found.not_offered,
        obstacles: found.obstacles,
        published: found.published,
    }
}

/// `discover` tells which servers DANE protects: the DNSSEC-validated TLSA records of each
/// selected server (asked at once), as a note on the server and one in the report's list. A
/// probe checks the certificate against them (`net::dane`); discovery itself makes no TLS
/// connection, so this is all it can say.
pub async fn dane_notes(report: &mut DiscoveryReport, resolver: &crate::net::resolver::Resolver) {
    let found = futures::future::join_all(
        report
            .selected
            .iter()
            .map(|c| crate::net::dane::lookup(resolver, &c.host, c.port)),
    )
    .await;
    for (c, tlsa) in report.selected.iter_mut().zip(found) {
        if let Some((name, records)) = tlsa {
            let note = Note::DaneTlsa {
                name,
                records: records.len(),
            };
            c.notes.push(note.clone());
            if !report.notes.iter().any(|n| *n == note) {
                report.notes.push(note);
            }
        }
    }
}

/// Run every source and pick the winners. Errors only for bad configuration (CA file).
pub async fn discover(address: &Address, cfg: &DiscoveryConfig) -> anyhow::Result<DiscoveryReport> {
    discover_with(address, cfg, None).await
}

/// [`discover`], asking `cache` first for every web request and DNS query, and leaving its
/// answers there for the next discovery of the process.
pub async fn discover_with(
    address: &Address,
    cfg: &DiscoveryConfig,
    cache: Option<Arc<cache::DiscoveryCache>>,
) -> anyhow::Result<DiscoveryReport> {
    let mut cfg = cfg.clone();
    if let Some(c) = &cache {
        cfg.resolver = c.resolver(&cfg.resolver);
    }
    let cfg = &cfg;
    let http = http::Http::new(cfg, cache)?;
    let ctx = Arc::new(Ctx {
        address: address.clone(),
        cfg: cfg.clone(),
        http,
    });
    let t0 = Instant::now();
    let timeout = cfg.timeout;
    let trails: Vec<Trail> = (0..SourceKind::ALL.len())
        .map(|_| Trail::default())
        .collect();
    let (table, pacc, autoconfig, ispdb, mx, srv, autodiscover) = tokio::join!(
        timed(
            SourceKind::ProviderTable,
            timeout,
            trails[0].clone(),
            |_| providers::source(&ctx, &trails[0])
        ),
        timed(SourceKind::Pacc, timeout, trails[1].clone(), |b| {
            pacc::source(&ctx, &trails[1], b)
        }),
        timed(SourceKind::Autoconfig, timeout, trails[2].clone(), |b| {
            autoconfig::source(&ctx, &trails[2], b)
        }),
        timed(SourceKind::Ispdb, timeout, trails[3].clone(), |b| {
            autoconfig::ispdb_source(&ctx, &trails[3], b)
        }),
        timed(SourceKind::Mx, timeout, trails[4].clone(), |b| mx::source(
            &ctx, &trails[4], b
        )),
        timed(
            SourceKind::Srv,
            timeout,
            trails[5].clone(),
            |b| srv::source(&ctx, &trails[5], b)
        ),
        timed(SourceKind::Autodiscover, timeout, trails[6].clone(), |b| {
            autodiscover::source(&ctx, &trails[6], b)
        }),
    );
    let mut sources = vec![table, pacc, autoconfig, ispdb, mx, srv, autodiscover];
    let answered = sources.iter().any(|s| !s.candidates.is_empty());
    let guess = if answered {
        SourceReport {
            source: SourceKind::Guess,
            status: SourceStatus::Skipped,
            detail: "not needed: another source answered".into(),
            ms: 0,
            queried: vec![],
            provider: None,
            candidates: vec![],
            notes: Notes::default(),
            not_offered: vec![],
            obstacles: vec![],
            published: Default::default(),
        }
    } else {
        // What SRV says is not offered is not guessed either.
        let not_offered: Vec<Protocol> = sources
            .iter()
            .flat_map(|s| s.not_offered.iter().copied())
            .collect();
        timed(SourceKind::Guess, timeout, trails[7].clone(), |b| {
            guess::source(&ctx, &trails[7], b, &not_offered)
        })
        .await
    };
    sources.push(guess);
    let mut report = conclude(
        address,
        &cfg.resolver,
        sources,
        t0.elapsed().as_millis() as u64,
    );
    report.cached = ctx.http.served_from_cache();
    Ok(report)
}

/// Pick, per protocol, the highest-priority source that named a server; list disagreements.
pub fn conclude(
    address: &Address,
    resolver: &Resolver,
    mut sources: Vec<SourceReport>,
    elapsed_ms: u64,
) -> DiscoveryReport {
    sources.sort_by_key(|s| s.source);
    for s in &mut sources {
        dedup(&mut s.candidates);
    }
    let mut winners = BTreeMap::new();
    let mut selected = Vec::new();
    let mut disagreements = Vec::new();
    let mut notes = Notes::default();
    for p in Protocol::ALL {
        // A source saying "not offered" outranks every source below it for that protocol.
        let denied_by = sources
            .iter()
            .find(|s| s.not_offered.contains(&p))
            .map(|s| s.source);
        let mut with_p = sources.iter().filter(|s| {
            s.status == SourceStatus::Answered
                && s.candidates.iter().any(|c| c.protocol == p)
                && denied_by.is_none_or(|d| s.source < d)
        });
        let win = with_p.next();
        if let Some(d) = denied_by {
            let ignored: Vec<SourceKind> = sources
                .iter()
                .filter(|s| s.source > d && s.candidates.iter().any(|c| c.protocol == p))
                .map(|s| s.source)
                .collect();
            notes.push(match win {
                Some(w) => Note::NotOfferedOverruled {
                    source: d,
                    protocol: p,
                    winner: w.source,
                },
                None if ignored.is_empty() => Note::NotOffered {
                    source: d,
                    protocol: p,
                },
                None => Note::NotOfferedIgnored {
                    source: d,
                    protocol: p,
                    ignored,
                },
            });
        }
        let Some(win) = win else { continue };
        winners.insert(p, win.source);
        let says = |s: &SourceReport| -> Vec<String> {
            s.candidates
                .iter()
                .filter(|c| c.protocol == p)
                .map(|c| format!("{}:{} {}", c.host, c.port, c.security))
                .collect()
        };
        // The distinct login names a source gives for `p`, in its order.
        let usernames = |s: &SourceReport| -> Vec<String> {
            let mut v: Vec<String> = Vec::new();
            for c in s.candidates.iter().filter(|c| c.protocol == p) {
                if !v.contains(&c.username) {
                    v.push(c.username.clone());
                }
            }
            v
        };
        let win_says = says(win);
        let win_users = usernames(win);
        selected.extend(
            win.candidates
                .iter()
                .filter(|c| c.protocol == p)
                .take(MAX_PER_PROTOCOL)
                .cloned(),
        );
        for other in with_p {
            let sorted = |mut v: Vec<String>| {
                v.sort();
                v
            };
            let servers_differ = sorted(win_says.clone()) != sorted(says(other));
            // Usernames are compared as given: a server may tell `Alice` from `alice`.
            let other_users = usernames(other);
            let users_differ = win.source.states_username()
                && other.source.states_username()
                && sorted(win_users.clone()) != sorted(other_users.clone());
            if servers_differ || users_differ {
                let (winner_usernames, source_usernames) = if users_differ {
                    (win_users.clone(), other_users)
                } else {
                    (vec![], vec![])
                };
                disagreements.push(Disagreement {
                    protocol: p,
                    winner: win.source,
                    winner_says: win_says.clone(),
                    source: other.source,
                    source_says: says(other),
                    winner_usernames,
                    source_usernames,
                });
            }
        }
    }
    for s in &sources {
        for n in &s.notes {
            let n = Note::From {
                source: s.source,
                note: Box::new(n.clone()),
            };
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    DiscoveryReport {
        address: address.to_string(),
        domain: address.domain.clone(),
        resolver: resolver.describe(),
        elapsed_ms,
        sources,
        winners,
        selected,
        disagreements,
        notes,
        cached: false,
    }
}

fn dedup(v: &mut Vec<Candidate>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|c| seen.insert(c.key()));
}

/// Whether `host` is `domain` or inside it.
pub fn within(host: &str, domain: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    h == d || h.ends_with(&format!(".{d}"))
}

/// Replace the Thunderbird placeholders.
pub fn substitute(s: &str, address: &Address) -> String {
    s.replace("%EMAILADDRESS%", &address.ascii())
        .replace("%EMAILLOCALPART%", &address.local)
        .replace("%EMAILDOMAIN%", &address.domain)
}

/// A host name a document gave us, in the ASCII form it is connected to: an internationalised
/// name becomes punycode (`idna::domain_to_ascii`, as for the address's domain); anything that
/// is not a DNS name (spaces, slashes, a port `:`, an IPv6 literal `[...]`, empty labels) is
/// refused, as is the root `.`. A trailing dot is dropped.
pub fn document_host(h: &str) -> Option<String> {
    let h = h.trim();
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.is_empty() || h.contains(['[', ']', ':', '/', '\\', '@', '%']) {
        return None;
    }
    let ascii = idna::domain_to_ascii(h).ok()?;
    let ok = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|l| !l.is_empty() && l.len() <= 63)
        && ascii
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    ok.then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(p: Protocol, host: &str, port: u16, sec: Security, src: SourceKind) -> Candidate {
        Candidate {
            protocol: p,
            host: host.into(),
            port,
            security: sec,
            username: "a@example.com".into(),
            auth: vec![],
            source: src,
            origin: "test".into(),
            dnssec: None,
            trusted: true,
            notes: Notes::default(),
        }
    }

    fn report(src: SourceKind, c: Vec<Candidate>) -> SourceReport {
        SourceReport {
            source: src,
            status: if c.is_empty() {
                SourceStatus::NoAnswer
            } else {
                SourceStatus::Answered
            },
            detail: String::new(),
            ms: 0,
            queried: vec![],
            provider: None,
            candidates: c,
            notes: Notes::default(),
            not_offered: vec![],
            obstacles: vec![],
            published: Default::default(),
        }
    }

    #[test]
    fn winner_per_protocol_and_disagreements() {
        let a = Address::parse("a@example.com").unwrap();
        let srv = report(
            SourceKind::Srv,
            vec![
                cand(
                    Protocol::Imap,
                    "imap.example.com",
                    993,
                    Security::Tls,
                    SourceKind::Srv,
                ),
                cand(
                    Protocol::Pop3,
                    "pop.example.com",
                    995,
                    Security::Tls,
                    SourceKind::Srv,
                ),
            ],
        );
        let ac = report(
            SourceKind::Autoconfig,
            vec![cand(
                Protocol::Imap,
                "mail.example.com",
                993,
                Security::Tls,
                SourceKind::Autoconfig,
            )],
        );
        let r = conclude(&a, &Resolver::system(), vec![srv, ac], 0);
        assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
        assert_eq!(r.winners[&Protocol::Pop3], SourceKind::Srv);
        assert!(!r.winners.contains_key(&Protocol::Smtp));
        assert_eq!(r.selected.len(), 2);
        assert_eq!(r.disagreements.len(), 1);
        assert_eq!(r.disagreements[0].source, SourceKind::Srv);
        assert_eq!(r.sources[0].source, SourceKind::Autoconfig);
    }

    #[test]
    fn a_username_alone_is_a_disagreement_unless_the_source_names_no_login() {
        let a = Address::parse("a@example.com").unwrap();
        let imap = |src: SourceKind, user: &str| {
            let mut c = cand(Protocol::Imap, "mail.example.com", 993, Security::Tls, src);
            c.username = user.into();
            report(src, vec![c])
        };
        let r = conclude(
            &a,
            &Resolver::system(),
            vec![
                imap(SourceKind::Ispdb, "a@example.com"),
                imap(SourceKind::Autoconfig, "a"),
                // SRV names no login: its candidate's address is not an opinion.
                imap(SourceKind::Srv, "a@example.com"),
            ],
            0,
        );
        assert_eq!(r.winners[&Protocol::Imap], SourceKind::Autoconfig);
        assert_eq!(r.selected[0].username, "a");
        assert_eq!(r.disagreements.len(), 1, "{:?}", r.disagreements);
        let d = &r.disagreements[0];
        assert_eq!(
            (d.winner, d.source),
            (SourceKind::Autoconfig, SourceKind::Ispdb)
        );
        assert_eq!(d.winner_says, d.source_says);
        assert_eq!(d.winner_usernames, ["a"]);
        assert_eq!(d.source_usernames, ["a@example.com"]);
        assert!(d.about_usernames());
        // A server disagreement with the same login names carries no usernames.
        let mut other = cand(
            Protocol::Imap,
            "imap.example.com",
            993,
            Security::Tls,
            SourceKind::Ispdb,
        );
        other.username = "a".into();
        let r = conclude(
            &a,
            &Resolver::system(),
            vec![
                imap(SourceKind::Autoconfig, "a"),
                report(SourceKind::Ispdb, vec![other]),
            ],
            0,
        );
        assert_eq!(r.disagreements.len(), 1);
        assert!(!r.disagreements[0].about_usernames());
    }

    #[test]
    fn targets_keep_discovered_ports_and_honour_flags() {
        let a = Address::parse("a@example.com").unwrap();
        let r = conclude(
            &a,
            &Resolver::system(),
            vec![report(
                SourceKind::Srv,
                vec![
                    cand(
                        Protocol::Imap,
                        "imap.example.com",
                        10993,
                        Security::Tls,
                        SourceKind::Srv,
                    ),
                    cand(
                        Protocol::Smtp,
                        "smtp.example.com",
                        587,
                        Security::Starttls,
                        SourceKind::Srv,
                    ),
                ],
            )],
            0,
        );
        // The planner turns the selected candidates into targets.
        let settings = crate::settings::SettingsBuilder {
            address: Some(crate::settings::Given::flag(
                "a@example.com".into(),
                "ADDRESS",
            )),
            connect_to: vec!["imap.example.com::127.0.0.2:".parse().unwrap()],
            skip: vec![crate::settings::Given::flag(
                "smtp".parse().unwrap(),
                "--skip",
            )],
            ..Default::default()
        }
        .build()
        .unwrap();
        let t = crate::plan::plan(&settings, Some(r.clone()))
            .unwrap()
            .plan
            .targets;
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].combination.port, 10993);
        assert_eq!(t[0].connect_host, "127.0.0.2");
        assert_eq!(t[0].connect_port, 10993);
        assert_eq!(t[0].tls_name, "imap.example.com");
        assert_eq!(t[0].username, "a@example.com");
        assert!(r.origin_of(&t[0]).is_some());
    }

    #[test]
    fn placeholders_and_domains() {
        let a = Address::parse("bob@Exämple.com").unwrap();
        assert_eq!(
            substitute("%EMAILLOCALPART%/%EMAILADDRESS%/%EMAILDOMAIN%", &a),
            "bob/bob@xn--exmple-cua.com/xn--exmple-cua.com"
        );
        assert!(within("mail.example.com", "example.com"));
        assert!(within("example.com.", "Example.com"));
        assert!(!within("badexample.com", "example.com"));
    }

    #[test]
    fn srv_not_offered_outranks_lower_sources_only() {
        let a = Address::parse("a@example.com").unwrap();
        let mut srv = report(SourceKind::Srv, vec![]);
        srv.not_offered = vec![Protocol::Imap, Protocol::Pop3];
        let guess = report(
            SourceKind::Guess,
            vec![
                cand(
                    Protocol::Imap,
                    "mail.example.com",
                    993,
                    Security::Tls,
                    SourceKind::Guess,
                ),
                cand(
                    Protocol::Smtp,
                    "mail.example.com",
                    465,
                    Security::Tls,
                    SourceKind::Guess,
                ),
            ],
        );
        let ac = report(
            SourceKind::Autoconfig,
            vec![cand(
                Protocol::Pop3,
                "pop.example.com",
                995,
                Security::Tls,
                SourceKind::Autoconfig,
            )],
        );
        let r = conclude(&a, &Resolver::system(), vec![guess, srv, ac], 0);
        // IMAP: SRV says no, guessing is below it.
        assert!(!r.winners.contains_key(&Protocol::Imap));
        // POP3: autoconfig is above SRV and still wins, with a note.
        assert_eq!(r.winners[&Protocol::Pop3], SourceKind::Autoconfig);
        assert_eq!(r.winners[&Protocol::Smtp], SourceKind::Guess);
        assert!(r.notes.iter().any(|n| n.english()
            == "SRV records: imap is not offered; what guessing proposes for it is not used"));
        assert!(r.notes.iter().any(|n| n.text(crate::i18n::Lang::Fr)
            == "enregistrements SRV : imap n'est pas proposé ; pour ce protocole, la réponse de cette source n'est pas retenue : noms devinés"));
        assert!(r.notes.iter().any(|n| n
            .english()
            .starts_with("SRV records: says pop3 is not offered, but autoconfig (provider)")));
    }

    #[test]
    fn host_names_from_documents() {
        let h = |s: &str| document_host(s);
        assert_eq!(h("Mail.Example.com").as_deref(), Some("mail.example.com"));
        assert_eq!(
            h(" mail.example.com. ").as_deref(),
            Some("mail.example.com")
        );
        // Internationalised names are converted, not refused.
        assert_eq!(
            h("mail.bücher.test").as_deref(),
            Some("mail.xn--bcher-kva.test")
        );
        assert_eq!(
            h("IMAP.EXÄMPLE.com").as_deref(),
            Some("imap.xn--exmple-cua.com")
        );
        assert_eq!(h("_imap.example.com").as_deref(), Some("_imap.example.com"));
        for bad in [
            "",
            ".",
            "mail example.com",
            "http://x/",
            "mail.example.com:993",
            "[::1]",
            "::1",
            "a..b",
            "user@mail.example.com",
            "mail\\example.com",
        ] {
            assert_eq!(h(bad), None, "{bad:?}");
        }
        assert_eq!(
            h(&format!("{}.com", "a".repeat(64))),
            None,
            "label too long"
        );
    }
}
