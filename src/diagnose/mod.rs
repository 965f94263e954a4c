//! From probe reports to answers: one stable reason code per failure, the verdict of each
//! combination, findings, the recommended settings per direction, what to tell the user when
//! nothing works, and the exit code.
//!
//! The vocabulary it speaks (reasons, findings, severities, the status) is
//! [`crate::outcome`], which the probe uses too.

mod findings;
mod quality;

use serde::Serialize;

use crate::i18n::{self, Lang, Params};
use crate::model::{Combination, Direction, Protocol, Security};
use crate::net::tls::CertVerdict;
use crate::outcome::{Finding, FindingCode, Reason, ReasonInfo, Severity, Status};
use crate::probe::roundtrip::Leg;
use crate::probe::{AuthOutcome, NotAttempted, ProbeReport, StepName};

pub use findings::{cross_findings, DocumentedSetting};

/// The facts of one failure, as message arguments: where (host, port, protocol), the
/// certificate's dates and names (host names only when they are candidates for the server
/// name: an IP address is not one), the host a `tls.cert-shared-host` finding of the report
/// suggests, the TLS alert, mailcheck's technical detail.
pub fn reason_params(report: &ProbeReport, findings: &[Finding], lang: Lang) -> Params {
    let t = &report.target;
    let failure = report.failure.as_ref();
    let tls = report.tls.as_ref();
    let cert = tls.and_then(|f| f.certificate.as_ref());
    let mut p = crate::params![
        ("host", t.host.as_str()),
        ("port", t.combination.port),
        ("protocol", t.combination.protocol.name().to_uppercase()),
        ("detail", failure.map(|f| f.detail.as_str()).unwrap_or("")),
        ("date", "?"),
        ("expected", t.tls_name.as_str()),
        ("names", "—"),
        ("name_count", 0i64),
        ("issuer", cert.map(|c| c.issuer.as_str()).unwrap_or("?")),
        ("alert", "none"),
        ("shared", "no"),
        ("suggested", "—"),
        ("oauth", if offers_oauth2(report) { "yes" } else { "no" }),
        ("chain", "complete"),
    ];
    if findings
        .iter()
        .any(|f| f.code == FindingCode::TlsChainIncomplete)
    {
        p.insert("chain", "incomplete".into());
    }
    if let Some(c) = cert {
        p.insert("names", i18n::list(lang, &c.names).into());
    }
    match tls.map(|f| &f.verification) {
        Some(CertVerdict::Expired { not_after }) => {
            p.insert("date", i18n::date(lang, not_after).into());
        }
        Some(CertVerdict::NotYetValid { not_before }) => {
            p.insert("date", i18n::date(lang, not_before).into());
        }
        Some(CertVerdict::NameMismatch {
            expected,
            presented,
        }) => {
            // The names offered as the server name to type: not the IP addresses, unless the
            // certificate names nothing else.
            let hosts: Vec<String> = presented
                .iter()
                .filter(|n| n.parse::<std::net::IpAddr>().is_err())
                .cloned()
                .collect();
            let names = if hosts.is_empty() { presented } else { &hosts };
            p.insert("expected", expected.as_str().into());
            p.insert("names", i18n::list(lang, names).into());
            p.insert("name_count", i18n::Param::Number(names.len() as i64));
            let suggested = findings
                .iter()
                .filter(|f| f.code == FindingCode::TlsCertSharedHost)
                .find_map(|f| match f.params.get("suggested") {
                    Some(i18n::Param::Text(s)) => Some(s.clone()),
                    _ => None,
                });
            if let Some(host) = suggested {
                p.insert("shared", "yes".into());
                p.insert("suggested", host.into());
            }
        }
        _ => {}
    }
    if let Some(f) = failure {
        // A TLS alert is the server's own word for a failed handshake.
        if f.reason == Reason::TlsHandshakeFailed {
            if let Some(alert) = &f.server_says {
                p.insert("alert", alert.as_str().into());
            }
        }
    }
    p
}

/// The server lists XOAUTH2 or OAUTHBEARER: a bare refusal of a password there may mean that
/// password login is disabled in favour of OAuth2 (Microsoft 365 words both alike).
fn offers_oauth2(report: &ProbeReport) -> bool {
    report.capabilities.as_ref().is_some_and(|c| {
        c.auth_mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case("XOAUTH2") || m.eq_ignore_ascii_case("OAUTHBEARER"))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Works,
    WorksWithWarnings,
    Fails,
}

impl Verdict {
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::WorksWithWarnings => "works-with-warnings",
            Verdict::Fails => "fails",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::WorksWithWarnings => "works (warnings)",
            Verdict::Fails => "fails",
        }
    }
}

/// The verdict as the table and JSON word it: `connects` where the transport works but the
/// credential given was never tried here (skipped after another combination's refusal or
/// stall), since "works" would read as "this setting works". `verdict` stays the transport's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictWord {
    Works,
    WorksWithWarnings,
    Connects,
    /// Only a legacy ClientHello reaches the server (`tls.legacy-only`): clients that still
    /// accept legacy TLS connect, weakly; the login was not verified.
    ConnectsLegacyTls,
    Fails,
}

impl VerdictWord {
    pub fn of(verdict: Verdict, report: &ProbeReport) -> VerdictWord {
        let skipped = matches!(
            Login::of(report),
            Login::SkippedAfterRejection | Login::SkippedAfterStall
        );
        let legacy = report
            .failure
            .as_ref()
            .is_some_and(|f| f.reason == Reason::TlsLegacyOnly);
        match verdict {
            Verdict::Fails if legacy => VerdictWord::ConnectsLegacyTls,
            Verdict::Fails => VerdictWord::Fails,
            _ if skipped => VerdictWord::Connects,
            Verdict::Works => VerdictWord::Works,
            Verdict::WorksWithWarnings => VerdictWord::WorksWithWarnings,
        }
    }
}

/// One combination judged: what the probe saw, its verdict, why it fails, and every finding
/// that qualifies it (the probe's, diagnosis's, and those across combinations), worded in the
/// run's language. Recommendation, advice, the status and the round trip's choice all read
/// these.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    /// What JSON calls `verdict`: the word the table shows too.
    #[serde(rename = "verdict")]
    pub word: VerdictWord,
    /// The transport's verdict, which ranking reads.
    #[serde(skip)]
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonInfo>,
    pub findings: Vec<Finding>,
    /// The probe's report; its own findings are in `findings`.
    #[serde(flatten)]
    pub report: ProbeReport,
}

/// Judge one combination: its findings (the probe's own, plus those made from its facts —
/// certificate expiry, obsolete TLS versions accepted — and `more` from across combinations),
/// its verdict and its reason's words.
pub fn judge(
    mut report: ProbeReport,
    more: Vec<Finding>,
    cert_warn_days: i64,
    lang: Lang,
) -> Judged {
    let mut findings = std::mem::take(&mut report.findings);
    if let Some(cert) = report.tls.as_ref().and_then(|t| t.certificate.as_ref()) {
        if cert.days_left >= 0 && cert.days_left < cert_warn_days {
            findings.push(Finding::new(
                FindingCode::TlsCertExpiring,
                Severity::Warning,
                crate::params![
                    ("days", cert.days_left),
                    ("date", i18n::date(Lang::En, &cert.not_after)),
                ],
            ));
        }
    }
    if let Some(legacy) = report.legacy_tls.as_ref() {
        if let Some(version) = &legacy.accepted {
            findings.push(Finding::new(
                FindingCode::TlsLegacyVersionAccepted,
                Severity::Warning,
                crate::params![("version", version.as_str())],
            ));
        }
    }
    findings.extend(quality::tls_quality(&report));
    findings.extend(more);
    for f in &mut findings {
        f.localize(lang);
    }
    let verdict = verdict_of(&report, &findings);
    // The reason's words may use the findings (the shared host to type).
    let reason = report.failure.as_ref().map(|f| {
        let p = reason_params(&report, &findings, lang);
        ReasonInfo {
            code: f.reason,
            cause: f.reason.cause_in(lang, &p),
            hint: f.reason.hint_in(lang, &p),
        }
    });
    Judged {
        word: VerdictWord::of(verdict, &report),
        verdict,
        reason,
        findings,
        report,
    }
}

/// The diagnosis of a run: one judged item per combination, the setting to give the user per
/// direction, what to tell them where none works, and the run's status.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub items: Vec<Judged>,
    pub incoming: Option<Recommendation>,
    pub outgoing: Option<Recommendation>,
    pub advice: Vec<Advice>,
    /// `--each-address`: the combinations some of whose addresses fail.
    pub addresses: Vec<AddressSplit>,
    pub status: Status,
}

/// `--each-address`: a combination of a server probed on several addresses, some of which
/// fail — the intermittent ticket: a client lands on a failing address some of the time.
#[derive(Debug, Clone, Serialize)]
pub struct AddressSplit {
    pub host: String,
    pub combination: String,
    /// How many addresses were probed for it.
    pub addresses: usize,
    pub failing: Vec<FailingAddress>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailingAddress {
    pub address: std::net::IpAddr,
    pub reason: Reason,
    /// The reason's cause, in the report's language.
    pub cause: String,
}

/// Does this item fail for a reason of its address (not a refusal of the account's
/// credential, which is the same on every address)?
fn fails_here(j: &Judged) -> bool {
    candidacy(j).is_none()
}

/// The (host, combination) pairs probed on several addresses of which at least one fails.
pub fn address_splits<'a>(items: impl IntoIterator<Item = &'a Judged>) -> Vec<AddressSplit> {
    let mut out: Vec<AddressSplit> = vec![];
    for j in items {
        let t = &j.report.target;
        let Some(address) = t.address else { continue };
        let at = match out
            .iter()
            .position(|s| s.host == t.host && s.combination == t.id())
        {
            Some(i) => i,
            None => {
                out.push(AddressSplit {
                    host: t.host.clone(),
                    combination: t.id(),
                    addresses: 0,
                    failing: vec![],
                });
                out.len() - 1
            }
        };
        out[at].addresses += 1;
        if let (true, Some(r)) = (fails_here(j), j.reason.as_ref()) {
            out[at].failing.push(FailingAddress {
                address,
                reason: r.code,
                cause: r.cause.clone(),
            });
        }
    }
    out.retain(|s| s.addresses > 1 && !s.failing.is_empty());
    out
}

/// Is this item's combination, on its server, failing on one of its addresses?
fn split(splits: &[AddressSplit], r: &ProbeReport) -> bool {
    splits
        .iter()
        .any(|s| s.host == r.target.host && s.combination == r.target.id())
}

/// Diagnose a run's probe reports, in `lang`, against what the provider documents.
pub fn diagnose(
    reports: Vec<ProbeReport>,
    cert_warn_days: i64,
    documented: &[DocumentedSetting],
    lang: Lang,
) -> Diagnosis {
    let cross = cross_findings(&reports, documented);
    let items: Vec<Judged> = reports
        .into_iter()
        .zip(cross)
        .map(|(r, more)| judge(r, more, cert_warn_days, lang))
        .collect();
    let probed = |d: Direction| {
        items
            .iter()
            .any(|j| j.report.target.combination.protocol.direction() == d)
    };
    let documented_by = |rec: Option<Recommendation>| {
        rec.map(|mut r| {
            r.documented_by = documented
                .iter()
                .find(|d| d.matches(&r.host, r.combination()))
                .map(|d| d.source.clone());
            r
        })
    };
    let incoming = documented_by(recommend(&items, Direction::Incoming));
    let outgoing = documented_by(recommend(&items, Direction::Outgoing));
    let advice: Vec<Advice> = [Direction::Incoming, Direction::Outgoing]
        .into_iter()
        .filter_map(|d| advise(&items, d, lang))
        .collect();
    // A direction only legacy TLS 1.2 reaches is usable by the user's client (weakly, with
    // neither certificate nor login verified): a warning, not a direction that fails.
    let legacy: Vec<Direction> = advice
        .iter()
        .filter(|a| a.default_clients_connect)
        .map(|a| a.direction)
        .collect();
    let considered: Vec<Option<Recommendation>> = [
        (Direction::Incoming, &incoming),
        (Direction::Outgoing, &outgoing),
    ]
    .into_iter()
    .filter(|(d, _)| probed(*d) && !legacy.contains(d))
    .map(|(_, r)| r.clone())
    .collect();
    let addresses = address_splits(&items);
    let mut status = overall(&items, &considered).max(pool_status(&addresses, &considered));
    if !legacy.is_empty() {
        status = status.max(Status::Warning);
    }
    Diagnosis {
        items,
        incoming,
        outgoing,
        advice,
        addresses,
        status,
    }
}

/// Fails if the probe failed; works with warnings if a finding is a warning or worse.
pub fn verdict_of(report: &ProbeReport, findings: &[Finding]) -> Verdict {
    if report.failure.is_some() {
        Verdict::Fails
    } else if findings.iter().any(|f| f.severity >= Severity::Warning) {
        Verdict::WorksWithWarnings
    } else {
        Verdict::Works
    }
}

/// What is known of the login on one combination. The skipped and stalled cases matter: a
/// combination whose login was not tried because another one's was refused (or stalled) is
/// neither proven to work nor failing — its transport result is all there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Login {
    /// The server accepted the credential here.
    Verified,
    /// No password or token was given: nothing to verify.
    NoCredential,
    /// The server judged the credential here (wrong password, OAuth2 only, locked...): the
    /// account's failure, not this combination's.
    Refused,
    /// The login exchange stalled here until its timeout.
    Stalled,
    /// Not tried here: the server had refused the credential on another combination.
    SkippedAfterRejection,
    /// Not tried here: the login had stalled on another combination.
    SkippedAfterStall,
    /// Not proven for a reason of this combination (certificate not trusted, no usable
    /// mechanism, a broken exchange, an earlier failure).
    Failed,
}

impl Login {
    pub fn of(r: &ProbeReport) -> Login {
        let at_auth = |pred: &dyn Fn(Reason) -> bool| {
            r.failure
                .as_ref()
                .is_some_and(|f| f.step == StepName::Auth && pred(f.reason))
        };
        match &r.auth {
            AuthOutcome::Succeeded { .. } => Login::Verified,
            AuthOutcome::NotAttempted { why } => match why {
                NotAttempted::NoCredentials => Login::NoCredential,
                NotAttempted::SkippedAfterRejection => Login::SkippedAfterRejection,
                NotAttempted::SkippedAfterStall => Login::SkippedAfterStall,
                NotAttempted::CertificateNotTrusted
                | NotAttempted::NoUsableMechanism
                | NotAttempted::EarlierFailure => Login::Failed,
            },
            AuthOutcome::Rejected { .. } if at_auth(&Reason::is_credential_verdict) => {
                Login::Refused
            }
            AuthOutcome::Failed { .. } if at_auth(&|r| r == Reason::ProtocolTimeout) => {
                Login::Stalled
            }
            AuthOutcome::Rejected { .. } | AuthOutcome::Failed { .. } => Login::Failed,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Login::Verified => "verified",
            Login::NoCredential => "no-credential",
            Login::Refused => "refused",
            Login::Stalled => "stalled",
            Login::SkippedAfterRejection => "skipped-after-rejection",
            Login::SkippedAfterStall => "skipped-after-stall",
            Login::Failed => "failed",
        }
    }

    /// The login is unproven for a reason that is the account's or the server's login
    /// service's, the same on every combination of the server: the transport result stands.
    pub fn blocked(self) -> bool {
        matches!(
            self,
            Login::Refused
                | Login::Stalled
                | Login::SkippedAfterRejection
                | Login::SkippedAfterStall
        )
    }
}

/// The setting to give the user for one direction: the best working combination, RFC 8314
/// order (implicit TLS before STARTTLS; IMAP before POP3 for incoming).
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub direction: Direction,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    /// The verdict on the connection, TLS and protocol: a login refused or stalled because of
    /// the account is in `login`, not here.
    pub verdict: Verdict,
    /// Login was proven on this combination (false when no credential was given).
    pub login_verified: bool,
    /// What is known of the login here (added within schema version 1).
    pub login: Login,
    /// Who documents this setting (from the provider table), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented_by: Option<String>,
}

impl Recommendation {
    pub fn combination(&self) -> Combination {
        Combination::new(self.protocol, self.port, self.security)
    }
}

/// Preference within a direction, lower is better: IMAP before POP3 (mail stays on the server
/// for every device), then RFC 8314's order: implicit TLS before STARTTLS.
pub fn preference(c: Combination) -> (u8, u8) {
    let proto = match c.protocol {
        Protocol::Imap | Protocol::Smtp => 0,
        Protocol::Pop3 => 1,
    };
    let sec = match c.security {
        Security::Tls => 0,
        Security::Starttls => 1,
    };
    (proto, sec)
}

/// The best usable combination of a direction (see [`ranked`]).
pub fn recommend(items: &[Judged], direction: Direction) -> Option<Recommendation> {
    ranked(items, direction).into_iter().next()
}

/// The round trip's legs: the best combination of each direction whose login succeeded, with
/// the mechanism that worked there.
pub fn round_trip_legs(items: &[Judged]) -> (Option<Leg>, Option<Leg>) {
    let logged_in: Vec<&Judged> = items
        .iter()
        .filter(|j| matches!(j.report.auth, AuthOutcome::Succeeded { .. }))
        .collect();
    let leg = |direction: Direction| {
        let rec = ranked(logged_in.iter().copied(), direction)
            .into_iter()
            .next()?;
        logged_in.iter().find_map(|j| {
            let r = &j.report;
            let same = r.target.combination == rec.combination() && r.target.host == rec.host;
            match (&r.auth, same) {
                (AuthOutcome::Succeeded { mechanism, .. }, true) => Some(Leg {
                    target: r.target.clone(),
                    mechanism: mechanism.clone(),
                }),
                _ => None,
            }
        })
    };
    (leg(Direction::Outgoing), leg(Direction::Incoming))
}

/// How a combination may be recommended, lower first, with its transport verdict: 0 when it
/// works and its login was proven (or no credential was given), 1 when its transport works
/// but its login was refused, stalled or skipped because of that — which combination met the
/// refusal first is chance, so it must not decide the ranking. `None`: it fails.
fn candidacy(j: &Judged) -> Option<(u8, Verdict)> {
    let login = Login::of(&j.report);
    if j.verdict != Verdict::Fails {
        return Some((u8::from(login.blocked()), j.verdict));
    }
    if matches!(login, Login::Refused | Login::Stalled) {
        // The failure is the login's: the verdict of everything before it is the findings'.
        let warned = j.findings.iter().any(|f| f.severity >= Severity::Warning);
        return Some((
            1,
            if warned {
                Verdict::WorksWithWarnings
            } else {
                Verdict::Works
            },
        ));
    }
    None
}

/// Every usable combination of a direction, best first: proven logins before unproven ones
/// (refused, stalled or skipped because of the account), then fewer warnings, then IMAP
/// before POP3, then RFC 8314 order (implicit TLS before STARTTLS).
pub fn ranked<'a>(
    items: impl IntoIterator<Item = &'a Judged>,
    direction: Direction,
) -> Vec<Recommendation> {
    let items: Vec<&Judged> = items.into_iter().collect();
    let splits = address_splits(items.iter().copied());
    let mut usable: Vec<(&ProbeReport, (u8, Verdict))> = items
        .into_iter()
        .filter(|j| j.report.target.combination.protocol.direction() == direction)
        .filter_map(|j| candidacy(j).map(|c| (&j.report, c)))
        .collect();
    // A combination that fails on some address of the server comes after those that work
    // on all of them.
    usable.sort_by_key(|(r, c)| {
        (
            c.0,
            split(&splits, r),
            c.1,
            preference(r.target.combination),
        )
    });
    // With --each-address a combination is one row per address: recommended once.
    let mut seen: Vec<(&str, Combination)> = vec![];
    usable.retain(|(r, _)| {
        let key = (r.target.host.as_str(), r.target.combination);
        let first = !seen.contains(&key);
        seen.push(key);
        first
    });
    usable
        .into_iter()
        .map(|(r, (_, v))| {
            let login = Login::of(r);
            Recommendation {
                direction,
                protocol: r.target.combination.protocol,
                host: r.target.host.clone(),
                port: r.target.combination.port,
                security: r.target.combination.security,
                username: r.target.username.clone(),
                verdict: v,
                login_verified: login == Login::Verified,
                login,
                documented_by: None,
            }
        })
        .collect()
}

/// What to tell the user when no secure setting works in a direction.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub direction: Direction,
    /// `all-blocked` (every port timed out), `no-server` (every port refused or no such
    /// host), or `decisive-reason` (the most telling failure, in `reason`).
    pub code: &'static str,
    /// The most telling failure and where it happened.
    pub reason: Reason,
    pub combination: String,
    /// What to say, in the report's language: the headline and the body.
    pub message: String,
    /// The body alone (without "no secure incoming setting works"), for the card.
    #[serde(skip)]
    pub body: String,
    /// `legacy-tls-only` with TLS 1.2: mail clients connect with their default settings, so
    /// the direction is usable (a warning), not failing.
    #[serde(skip)]
    pub default_clients_connect: bool,
}

/// How telling a failure is for the user, lower first: a verdict on the credential says the
/// most, then certificate and TLS problems, then protocol ones, then the network.
fn tellingness(r: Reason) -> u8 {
    use Reason::*;
    match r {
        AuthRejected
        | AuthOauth2Required
        | AuthAppPasswordRequired
        | AuthAccountLocked
        | AuthProtocolDisabled
        | AuthOauth2TokenRefused => 0,
        TlsCertExpired | TlsCertNotYetValid | TlsCertNameMismatch | TlsCertUnknownIssuer
        | TlsCertSelfSigned | TlsCertRevoked | TlsDaneMismatch | TlsCertInvalid => 1,
        AuthMechanismNotOffered | AuthLoginDisabled | AuthTemporaryFailure => 2,
        StarttlsInjection | StarttlsNotOffered | StarttlsRefused | TlsProtocolTooOld
        | TlsHandshakeFailed | TlsLegacyOnly => 3,
        TlsPlaintextServer | ProtocolTlsServer | ProtocolWrongProtocol | ProtocolBusy => 4,
        TlsTimeout | TlsClosed | TlsReset | ProtocolTimeout | ProtocolClosed
        | ProtocolLineTooLong | ProtocolTooMuchData | ProtocolUnexpected => 5,
        DnsNoSuchHost | DnsFailed | DnsNoAddress | ConnectRefused | ConnectTimeout
        | ConnectUnreachable | ConnectFailed => 6,
        // The round trip runs after the matrix; its reasons never explain a combination.
        RoundtripNotRun
        | RoundtripSubmissionFailed
        | RoundtripSubmissionRefused
        | RoundtripNotDelivered
        | RoundtripMailboxFailed
        | RoundtripJunk => 7,
        // Not the server's doing: the run's own deadline.
        ProbeDeadline => 7,
        // The sign-in happens before any connection; it never explains a combination.
        Oauth2Declined | Oauth2TimedOut | Oauth2ClientRefused | Oauth2ScopeRefused
        | Oauth2IssuerUnusable | Oauth2Failed | Oauth2GrantRefused => 7,
        Internal => 8,
    }
}

/// What to tell the user if no combination of `direction` works (`None` if one works or
/// none was probed).
pub fn advise(items: &[Judged], direction: Direction, lang: Lang) -> Option<Advice> {
    let mine: Vec<&Judged> = items
        .iter()
        .filter(|j| j.report.target.combination.protocol.direction() == direction)
        .collect();
    if mine.is_empty() || !ranked(items, direction).is_empty() {
        return None;
    }
    if let Some(legacy) = advise_legacy(&mine, direction, lang) {
        return Some(legacy);
    }
    let failures: Vec<(&Judged, Reason)> = mine
        .iter()
        .filter_map(|j| j.report.failure.as_ref().map(|f| (*j, f.reason)))
        .collect();
    let (judged, reason) = failures
        .iter()
        .min_by_key(|(j, reason)| {
            (
                tellingness(*reason),
                preference(j.report.target.combination),
            )
        })
        .copied()?;
    let decisive = &judged.report;
    let all = |pred: &dyn Fn(Reason) -> bool| failures.iter().all(|(_, r)| pred(*r));
    let headline = i18n::text(
        lang,
        "advice-headline",
        &crate::params![(
            "direction",
            match direction {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
            }
        )],
    );
    let (code, body) = if all(&|r| matches!(r, Reason::ConnectTimeout)) {
        ("all-blocked", i18n::t(lang, "advice-all-blocked"))
    } else if all(&|r| matches!(r, Reason::ConnectRefused | Reason::DnsNoSuchHost)) {
        (
            "no-server",
            i18n::text(
                lang,
                "advice-no-server",
                &crate::params![("host", decisive.target.host.as_str())],
            ),
        )
    } else {
        let p = reason_params(decisive, &judged.findings, lang);
        (
            "decisive-reason",
            i18n::text(
                lang,
                "advice-decisive",
                &crate::params![
                    (
                        "combination",
                        describe_combination(decisive.target.combination)
                    ),
                    ("cause", reason.cause_in(lang, &p)),
                    ("hint", reason.hint_in(lang, &p)),
                ],
            ),
        )
    };
    Some(Advice {
        direction,
        code,
        reason,
        combination: decisive.target.id(),
        message: i18n::text(
            lang,
            "advice-line",
            &crate::params![("headline", headline), ("body", body.as_str())],
        ),
        body,
        default_clients_connect: false,
    })
}

/// Where nothing works with modern TLS but a combination answers a legacy ClientHello
/// (`tls.legacy-only`): "nothing works" would be untrue for the user's client. The advice
/// names the best such combination (TLS 1.2 first, which clients still take by default, then
/// the usual preference), what the server chose, who connects, and that mailcheck verified
/// neither the certificate nor the login.
fn advise_legacy(mine: &[&Judged], direction: Direction, lang: Lang) -> Option<Advice> {
    let (judged, chosen) = mine
        .iter()
        .filter_map(|j| Some((*j, j.report.legacy_handshake.as_ref()?)))
        .filter(|(j, _)| j.word == VerdictWord::ConnectsLegacyTls)
        .min_by_key(|(j, h)| {
            (
                h.version != "TLSv1.2",
                preference(j.report.target.combination),
            )
        })?;
    let default_clients_connect = chosen.version == "TLSv1.2";
    let headline = i18n::text(
        lang,
        "advice-legacy-headline",
        &crate::params![(
            "direction",
            match direction {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
            }
        )],
    );
    let body = i18n::text(
        lang,
        "advice-legacy-tls",
        &crate::params![
            (
                "combination",
                describe_combination(judged.report.target.combination)
            ),
            ("version", chosen.version.as_str()),
            ("cipher_suite", chosen.cipher_suite.as_str()),
            ("key_exchange", chosen.key_exchange.as_str()),
            ("weaknesses", chosen.weaknesses.join(", ")),
            (
                "clients",
                if default_clients_connect {
                    "tls12"
                } else {
                    "old"
                }
            ),
        ],
    );
    Some(Advice {
        direction,
        code: "legacy-tls-only",
        reason: Reason::TlsLegacyOnly,
        combination: judged.report.target.id(),
        message: i18n::text(
            lang,
            "advice-line",
            &crate::params![("headline", headline), ("body", body.as_str())],
        ),
        body,
        default_clients_connect,
    })
}

/// "IMAP 993 SSL/TLS", as a person reads a combination.
pub fn describe_combination(c: Combination) -> String {
    format!(
        "{} {} {}",
        c.protocol.name().to_uppercase(),
        c.port,
        c.security.client_label()
    )
}

/// `--each-address`: a recommended setting that fails on some address of its server is
/// critical (the user's client meets the failing address some of the time); a split elsewhere
/// is a warning.
pub fn pool_status(splits: &[AddressSplit], recs: &[Option<Recommendation>]) -> Status {
    let recommended = |s: &AddressSplit| {
        recs.iter()
            .flatten()
            .any(|r| r.host == s.host && r.combination().id() == s.combination)
    };
    if splits.iter().any(recommended) {
        Status::Critical
    } else if splits.is_empty() {
        Status::Ok
    } else {
        Status::Warning
    }
}

/// Overall status of a run over the directions that were probed.
pub fn overall(items: &[Judged], recs: &[Option<Recommendation>]) -> Status {
    let rejected = items.iter().any(|j| {
        j.report
            .failure
            .as_ref()
            .is_some_and(|f| f.reason.is_credential_verdict())
    });
    if items.is_empty() || rejected || recs.iter().any(|r| r.is_none()) {
        return Status::Critical;
    }
    // A critical finding (bytes injected after STARTTLS...) says something about the server
    // whichever combination is recommended: the user must hear of it.
    let critical = items
        .iter()
        .any(|j| j.findings.iter().any(|f| f.severity == Severity::Critical));
    // A recommended setting whose login stalled (here or elsewhere) was never shown to work.
    let unproven = recs.iter().flatten().any(|r| r.login.blocked());
    if critical
        || unproven
        || recs
            .iter()
            .flatten()
            .any(|r| r.verdict == Verdict::WorksWithWarnings)
    {
        return Status::Warning;
    }
    Status::Ok
}
