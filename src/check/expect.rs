//! The expectation vocabulary of checks files and thresholds, and its evaluation over a
//! [`RunReport`].
//!
//! * `<id>` (`imap/993/tls`, or short `imap/993`): the combination works (with or without
//!   warnings).
//! * `<id>/plaintext-login` (`imap/143/starttls/plaintext-login`, or short
//!   `imap/143/plaintext-login`): on a STARTTLS combination, the server offers a password login
//!   *before* TLS (`capabilities_before_tls.login_offered`).
//!
//! `expect = [...]` requires them, `forbid = [...]` requires their opposite. Thresholds (step
//! response time, certificate days left) are expectations too, with a warning and a critical
//! level, so every format shows them the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::diagnose::{Status, Verdict};
use crate::plan::{Combination, Security, Selector};
use crate::probe::{AuthOutcome, NotAttempted};
use crate::report::{Outcome, RunReport};

/// What an expectation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The combination works.
    Works(Combination),
    /// A password login is offered before TLS on this STARTTLS combination.
    PlaintextLogin(Combination),
}

impl Subject {
    pub fn combination(&self) -> Combination {
        match self {
            Subject::Works(c) | Subject::PlaintextLogin(c) => *c,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Works(c) => write!(f, "{}", c.id()),
            Subject::PlaintextLogin(c) => write!(f, "{}/plaintext-login", c.id()),
        }
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (sel, plaintext) = match s.strip_suffix("/plaintext-login") {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        // Port 0 is no server's port: said at once, not found later as an unreachable server.
        if sel.split('/').any(|part| part.parse::<u16>() == Ok(0)) {
            return Err(format!("{s:?}: port 0 is not a port a server listens on"));
        }
        // A full protocol/port/security names that combination, documented port or not (a
        // discovered server may use another port); shorter forms pick a documented one.
        if let [p, port, sec] = sel.split('/').collect::<Vec<_>>().as_slice() {
            if let (Ok(p), Ok(port), Ok(sec)) = (p.parse(), port.parse::<u16>(), sec.parse()) {
                let c = Combination::new(p, port, sec);
                return match (plaintext, sec) {
                    (false, _) => Ok(Subject::Works(c)),
                    (true, Security::Starttls) => Ok(Subject::PlaintextLogin(c)),
                    (true, Security::Tls) => Err(format!(
                        "{s:?}: plaintext-login applies to a STARTTLS combination (imap/143, pop3/110, smtp/587)"
                    )),
                };
            }
        }
        let selector: Selector = sel.parse()?;
        let matching: Vec<Combination> = Combination::DOCUMENTED
            .iter()
            .copied()
            .filter(|c| selector.matches(c))
            .filter(|c| !plaintext || c.security == Security::Starttls)
            .collect();
        let known = Combination::DOCUMENTED
            .iter()
            .map(|c| c.id())
            .collect::<Vec<_>>()
            .join(", ");
        match matching.as_slice() {
            [c] if plaintext => Ok(Subject::PlaintextLogin(*c)),
            [c] => Ok(Subject::Works(*c)),
            [] if plaintext => Err(format!(
                "{s:?}: plaintext-login applies to a STARTTLS combination (imap/143, pop3/110, smtp/587)"
            )),
            [] => Err(format!("{s:?} names no combination; known: {known}")),
            _ => Err(format!(
                "{s:?} is ambiguous: it matches {}; name one combination",
                matching.iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// Everything an account is judged against.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub expect: Vec<Subject>,
    pub forbid: Vec<Subject>,
    /// Any step slower than this: warning / critical.
    pub response_warn: Option<Duration>,
    pub response_crit: Option<Duration>,
    /// A certificate with fewer days left: warning / critical.
    pub cert_warn_days: Option<i64>,
    pub cert_crit_days: Option<i64>,
}

impl Expectations {
    /// Only thresholds, as `probe`/`batch` take them on the command line.
    pub fn thresholds(
        response_warn: Option<Duration>,
        response_crit: Option<Duration>,
        cert_warn_days: Option<i64>,
        cert_crit_days: Option<i64>,
    ) -> Expectations {
        Expectations {
            response_warn,
            response_crit,
            cert_warn_days,
            cert_crit_days,
            ..Expectations::default()
        }
    }

    /// Refuse thresholds the wrong way round: a warning that could only come after the
    /// critical alert (`-w 2s -c 1s`, or warning at fewer certificate days than critical) would
    /// never be seen. Equal is allowed (straight to critical).
    pub fn check_thresholds(&self) -> Result<(), String> {
        if let (Some(w), Some(c)) = (self.response_warn, self.response_crit) {
            if w > c {
                return Err(format!(
                    "the warning response time ({w:?}) is above the critical one ({c:?}); \
                     warning must come first"
                ));
            }
        }
        if let (Some(w), Some(c)) = (self.cert_warn_days, self.cert_crit_days) {
            if w < c {
                return Err(format!(
                    "the certificate warning ({w} days) is below the critical limit ({c} days); \
                     warning must come first"
                ));
            }
        }
        Ok(())
    }

    /// With `expect`/`forbid` the user said what must hold: the status follows them (and the
    /// thresholds) only. Without, it follows the diagnosis (a secure incoming and outgoing
    /// setting work) and the thresholds.
    pub fn is_explicit(&self) -> bool {
        !self.expect.is_empty() || !self.forbid.is_empty()
    }

    /// The combinations the expectations need probed.
    pub fn combinations(&self) -> Vec<Combination> {
        let mut v: Vec<Combination> = self
            .expect
            .iter()
            .chain(&self.forbid)
            .map(|s| s.combination())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Expect,
    Forbid,
    ResponseTime,
    CertDays,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Expect => "expect",
            Kind::Forbid => "forbid",
            Kind::ResponseTime => "response-time",
            Kind::CertDays => "cert-days",
        }
    }
}

/// One judged expectation: the account, the combination, what was expected, what was seen.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectationResult {
    pub account: String,
    pub kind: Kind,
    /// `imap/993/tls`, `imap/143/starttls/plaintext-login`.
    pub subject: String,
    pub expected: String,
    pub observed: String,
    /// ok, warning or critical.
    pub status: Status,
}

impl ExpectationResult {
    pub fn passed(&self) -> bool {
        self.status == Status::Ok
    }

    /// `bob: expect imap/993/tls: expected works, observed fails (auth.rejected: ...)`.
    pub fn message(&self) -> String {
        format!(
            "{}: {} {}: expected {}, observed {}",
            self.account,
            self.kind.name(),
            self.subject,
            self.expected,
            self.observed
        )
    }
}

fn outcome<'a>(report: &'a RunReport, c: &Combination) -> Option<&'a Outcome> {
    report
        .results
        .iter()
        .find(|o| o.report.target.combination == *c)
}

/// How a combination came out, in words: `works`, `fails (tls.cert-expired: ...)`.
pub fn describe_outcome(o: &Outcome) -> String {
    match o.verdict {
        Verdict::Works => "works".into(),
        Verdict::WorksWithWarnings => {
            let w: Vec<&str> = o.findings.iter().map(|f| f.code).collect();
            format!("works with warnings ({})", w.join(", "))
        }
        Verdict::Fails => match &o.reason {
            Some(r) => format!("fails ({}: {})", r.code.code(), r.cause),
            None => "fails".into(),
        },
    }
}

/// Does the combination work for this account? It must not fail, and when a credential was
/// given, the login must have succeeded on it: a combination that connects but never got to
/// log in (the credential was rejected on another one, no usable mechanism) does not work.
fn observe_works(report: &RunReport, o: &Outcome) -> (bool, String) {
    if o.verdict == Verdict::Fails {
        return (false, describe_outcome(o));
    }
    if report.credential.kind == crate::report::CredentialKind::None {
        return (true, format!("{} (no login tried)", describe_outcome(o)));
    }
    match &o.report.auth {
        AuthOutcome::Succeeded { .. } => (true, describe_outcome(o)),
        AuthOutcome::NotAttempted {
            why: NotAttempted::SkippedAfterRejection,
        } => {
            let rejected = report.results.iter().find_map(|r| {
                r.reason
                    .as_ref()
                    .filter(|x| x.code.is_credential_verdict())
                    .map(|x| format!("{} on {}", x.code.code(), r.id))
            });
            (
                false,
                format!(
                    "connects, but no login: the credential was rejected ({})",
                    rejected.unwrap_or_else(|| "on another combination".into())
                ),
            )
        }
        other => (
            false,
            format!(
                "connects, but no login ({})",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("why").and_then(|w| w.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "login failed".into())
            ),
        ),
    }
}

fn plaintext_login(o: &Outcome) -> Option<bool> {
    o.report
        .capabilities_before_tls
        .as_ref()
        .map(|c| c.login_offered)
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Judge every expectation of one account against its report.
pub fn evaluate(account: &str, report: &RunReport, e: &Expectations) -> Vec<ExpectationResult> {
    let mut out = vec![];
    let mut push = |kind, subject: String, expected: String, observed: String, status| {
        out.push(ExpectationResult {
            account: account.to_string(),
            kind,
            subject,
            expected,
            observed,
            status,
        })
    };
    for (kind, list) in [(Kind::Expect, &e.expect), (Kind::Forbid, &e.forbid)] {
        let want = kind == Kind::Expect;
        for s in list {
            let c = s.combination();
            let Some(o) = outcome(report, &c) else {
                push(
                    kind,
                    s.to_string(),
                    "a probe of this combination".into(),
                    "not probed".into(),
                    Status::Critical,
                );
                continue;
            };
            let (expected, observed, holds) = match s {
                Subject::Works(_) => {
                    let (works, observed) = observe_works(report, o);
                    let expected = if want { "works" } else { "does not work" };
                    (expected.to_string(), observed, works)
                }
                Subject::PlaintextLogin(_) => {
                    let expected = if want {
                        "a password login offered before TLS"
                    } else {
                        "no password login before TLS"
                    };
                    let observed = match plaintext_login(o) {
                        Some(true) => "a password login is offered before TLS".to_string(),
                        Some(false) => "no password login offered before TLS".to_string(),
                        None => format!(
                            "the server's plain-text capabilities are unknown: {}",
                            describe_outcome(o)
                        ),
                    };
                    // Unknown counts as "not offered": nothing was offered that we saw.
                    (
                        expected.to_string(),
                        observed,
                        plaintext_login(o) == Some(true),
                    )
                }
            };
            let ok = holds == want;
            push(
                kind,
                s.to_string(),
                expected,
                observed,
                if ok { Status::Ok } else { Status::Critical },
            );
        }
    }

    if e.response_warn.is_some() || e.response_crit.is_some() {
        for o in &report.results {
            let slowest = o.report.steps.iter().filter(|s| s.ok).max_by_key(|s| s.ms);
            let Some(step) = slowest else { continue };
            let took = Duration::from_millis(step.ms);
            let status = if e.response_crit.is_some_and(|c| took > c) {
                Status::Critical
            } else if e.response_warn.is_some_and(|w| took > w) {
                Status::Warning
            } else {
                Status::Ok
            };
            let mut expected = vec![];
            if let Some(w) = e.response_warn {
                expected.push(format!("warning above {}", fmt_secs(w)));
            }
            if let Some(c) = e.response_crit {
                expected.push(format!("critical above {}", fmt_secs(c)));
            }
            push(
                Kind::ResponseTime,
                outcome_name(report, o),
                format!("every step fast ({})", expected.join(", ")),
                format!(
                    "slowest step {} took {}",
                    serde_json::to_value(step.name)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    fmt_secs(took)
                ),
                status,
            );
        }
    }

    if e.cert_warn_days.is_some() || e.cert_crit_days.is_some() {
        for o in &report.results {
            let Some(cert) = o.report.tls.as_ref().and_then(|t| t.certificate.as_ref()) else {
                continue;
            };
            let days = cert.days_left;
            let status = if e.cert_crit_days.is_some_and(|c| days < c) {
                Status::Critical
            } else if e.cert_warn_days.is_some_and(|w| days < w) {
                Status::Warning
            } else {
                Status::Ok
            };
            let mut expected = vec![];
            if let Some(w) = e.cert_warn_days {
                expected.push(format!("warning under {w}"));
            }
            if let Some(c) = e.cert_crit_days {
                expected.push(format!("critical under {c}"));
            }
            push(
                Kind::CertDays,
                outcome_name(report, o),
                format!("certificate days left ({})", expected.join(", ")),
                format!("{days} day(s) left, until {}", cert.not_after),
                status,
            );
        }
    }
    out
}

/// How one outcome is named: its combination (`imap/993/tls`), with its host where discovery
/// put the same combination on several hosts (`imap/993/tls on imap1.example.com`), so that
/// per-combination checks and lines stay apart.
pub fn outcome_name(report: &RunReport, o: &crate::report::Outcome) -> String {
    let host = &o.report.target.host;
    let shared = report
        .results
        .iter()
        .any(|p| p.id == o.id && &p.report.target.host != host);
    if shared {
        format!("{} on {host}", o.id)
    } else {
        o.id.clone()
    }
}

/// The account's status: see [`Expectations::is_explicit`].
pub fn status(report: &RunReport, e: &Expectations, results: &[ExpectationResult]) -> Status {
    let base = if e.is_explicit() {
        Status::Ok
    } else {
        report.status
    };
    results.iter().map(|r| r.status).fold(base, worst)
}

/// The worse of two statuses (unknown is worst: something could not be judged).
pub fn worst(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
        Status::Unknown => 3,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Protocol;

    #[test]
    fn the_vocabulary_parses() {
        let imap993 = Combination::new(Protocol::Imap, 993, Security::Tls);
        let imap143 = Combination::new(Protocol::Imap, 143, Security::Starttls);
        assert_eq!("imap/993/tls".parse(), Ok(Subject::Works(imap993)));
        assert_eq!("imap/993".parse(), Ok(Subject::Works(imap993)));
        assert_eq!(
            "imap/143/plaintext-login".parse(),
            Ok(Subject::PlaintextLogin(imap143))
        );
        assert_eq!(
            "imap/143/starttls/plaintext-login".parse(),
            Ok(Subject::PlaintextLogin(imap143))
        );
        assert_eq!(
            Subject::PlaintextLogin(imap143).to_string(),
            "imap/143/starttls/plaintext-login"
        );
        assert!("imap".parse::<Subject>().unwrap_err().contains("ambiguous"));
        assert!("imap/994"
            .parse::<Subject>()
            .unwrap_err()
            .contains("no combination"));
        // A full triple names any port (a discovered server's).
        assert_eq!(
            "imap/10993/tls".parse(),
            Ok(Subject::Works(Combination::new(
                Protocol::Imap,
                10993,
                Security::Tls
            )))
        );
        assert!("imap/993/plaintext-login"
            .parse::<Subject>()
            .unwrap_err()
            .contains("STARTTLS"));
        assert!("imap/993/bogus".parse::<Subject>().is_err());
        for zero in ["imap/0/tls", "imap/0", "smtp/0/starttls/plaintext-login"] {
            let e = zero.parse::<Subject>().unwrap_err();
            assert!(e.contains("port 0"), "{zero}: {e}");
        }
    }

    #[test]
    fn worst_orders_statuses() {
        assert_eq!(worst(Status::Ok, Status::Warning), Status::Warning);
        assert_eq!(worst(Status::Critical, Status::Warning), Status::Critical);
        assert_eq!(worst(Status::Critical, Status::Unknown), Status::Unknown);
    }
}
