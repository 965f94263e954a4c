//! Expectations (`crate::settings::Expectations`) judged over a [`RunReport`]: each becomes an
//! [`ExpectationResult`] that every monitoring format shows.
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

use std::time::Duration;

use serde::Serialize;

use crate::diagnose::Verdict;
use crate::model::Combination;
use crate::outcome::Status;
use crate::probe::{AuthOutcome, NotAttempted};
use crate::report::{Outcome, RunReport};
use crate::settings::{Expectations, Subject};

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
            let w: Vec<&str> = o.findings.iter().map(|f| f.code.code()).collect();
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
    let name = if shared {
        format!("{} on {host}", o.id)
    } else {
        o.id.clone()
    };
    // --each-address: one outcome per address of the server.
    match o.report.target.address {
        Some(a) => format!("{name} at {a}"),
        None => name,
    }
}

/// The account's status: see [`Expectations::is_explicit`].
pub fn status(report: &RunReport, e: &Expectations, results: &[ExpectationResult]) -> Status {
    let base = if e.is_explicit() {
        Status::Ok
    } else {
        report.status
    };
    results.iter().map(|r| r.status).fold(base, Status::max)
}
