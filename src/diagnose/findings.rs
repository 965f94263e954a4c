//! Findings that need more than one report, or knowledge from outside the probe: a protocol
//! that only works with STARTTLS, a setting the provider documents that does not work, a
//! certificate valid only for the provider's shared host name.

use serde::Serialize;

use super::Login;
use crate::discover::{DiscoveryReport, SourceKind};
use crate::model::{Combination, Security};
use crate::net::connect::{Attempt, AttemptOutcome};
use crate::net::tls::CertVerdict;
use crate::outcome::{Finding, FindingCode, Severity};
use crate::probe::ProbeReport;

/// A setting someone documents for this account: the provider table (discovery), an
/// autoconfig file, a helpdesk guide. Diagnosis checks the documentation against the probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentedSetting {
    pub host: String,
    #[serde(flatten)]
    pub combination: Combination,
    /// Who documents it, as a person reads it: "OVHcloud guide", "autoconfig (https)".
    pub source: String,
}

impl DocumentedSetting {
    pub fn new(host: &str, combination: Combination, source: &str) -> DocumentedSetting {
        DocumentedSetting {
            host: host.trim_end_matches('.').to_ascii_lowercase(),
            combination,
            source: source.to_string(),
        }
    }

    /// What discovery's sources publish for this account — the built-in provider table, the
    /// provider's autoconfig, the ISPDB, Autodiscover, SRV records, the MX's provider — but not
    /// guesses. The source is the source's stable name (`provider-table`, `autoconfig`...),
    /// which findings word in the report's language; the first source in priority order wins.
    pub fn from_discovery(d: &DiscoveryReport) -> Vec<DocumentedSetting> {
        let mut out: Vec<DocumentedSetting> = vec![];
        for source in &d.sources {
            if source.source == SourceKind::Guess {
                continue;
            }
            for c in &source.candidates {
                if !out.iter().any(|o| o.matches(&c.host, c.combination())) {
                    out.push(DocumentedSetting::new(
                        &c.host,
                        c.combination(),
                        c.source.name(),
                    ));
                }
            }
        }
        out
    }

    pub fn matches(&self, host: &str, combination: Combination) -> bool {
        self.combination == combination
            && self.host.eq_ignore_ascii_case(host.trim_end_matches('.'))
    }
}

/// One list of findings per report, in the same order.
pub fn cross_findings(
    reports: &[ProbeReport],
    documented: &[DocumentedSetting],
) -> Vec<Vec<Finding>> {
    reports
        .iter()
        .map(|r| {
            let mut out = vec![];
            if let Some(f) = starttls_only(r, reports) {
                out.push(f);
            }
            // A login refused or stalled because of the account is not the setting's fault.
            if r.failure.is_some() && !Login::of(r).blocked() {
                let c = r.target.combination;
                if let Some(d) = documented.iter().find(|d| d.matches(&r.target.host, c)) {
                    out.push(Finding::new(
                        FindingCode::DocumentedNotWorking,
                        Severity::Warning,
                        crate::params![("source", d.source.as_str())],
                    ));
                }
            }
            if let Some(f) = shared_host(r, documented) {
                out.push(f);
            }
            if let Some(f) = some_addresses_failed(r) {
                out.push(f);
            }
            out
        })
        .collect()
}

/// STARTTLS works on this protocol, but its implicit-TLS port was probed and does not. A
/// combination whose login was skipped, refused or stalled because of the account proves
/// nothing either way: it neither makes STARTTLS "work" nor implicit TLS "fail".
fn starttls_only(r: &ProbeReport, all: &[ProbeReport]) -> Option<Finding> {
    let c = r.target.combination;
    if c.security != Security::Starttls || r.failure.is_some() || Login::of(r).blocked() {
        return None;
    }
    let implicit: Vec<&ProbeReport> = all
        .iter()
        .filter(|o| {
            o.target.combination.protocol == c.protocol
                && o.target.combination.security == Security::Tls
                && o.target.host.eq_ignore_ascii_case(&r.target.host)
        })
        .collect();
    if implicit.is_empty()
        || implicit
            .iter()
            .any(|o| o.failure.is_none() || Login::of(o).blocked())
    {
        return None;
    }
    Some(Finding::new(
        FindingCode::StarttlsOnly,
        Severity::Info,
        crate::params![
            ("protocol", c.protocol.name().to_uppercase()),
            ("tls_port", implicit[0].target.combination.port),
        ],
    ))
}

/// The certificate does not carry the name the user typed but names another host, in another
/// domain (or one the provider documents): a shared server (`ssl0.ovh.net` for
/// `mail.theirdomain.fr`). Suggest the name to type.
fn shared_host(r: &ProbeReport, documented: &[DocumentedSetting]) -> Option<Finding> {
    let Some(CertVerdict::NameMismatch {
        expected,
        presented,
    }) = r.tls.as_ref().map(|t| &t.verification)
    else {
        return None;
    };
    let hosts: Vec<&String> = presented
        .iter()
        .filter(|n| !n.starts_with("*.") && n.parse::<std::net::IpAddr>().is_err())
        .collect();
    let documented_name = hosts
        .iter()
        .find(|n| documented.iter().any(|d| d.host.eq_ignore_ascii_case(n)));
    let suggested = match documented_name {
        Some(n) => (*n).clone(),
        None => {
            let other = hosts
                .iter()
                .find(|n| registrable(n) != registrable(expected))?;
            (*other).clone()
        }
    };
    Some(Finding::new(
        FindingCode::TlsCertSharedHost,
        Severity::Info,
        crate::params![
            ("expected", expected.as_str()),
            ("names", presented.join(", ")),
            ("suggested", suggested),
        ],
    ))
}

/// The host has several addresses and some failed before another connected (an AAAA record
/// where nothing listens, a dead address in the A set): this probe got through, but a client
/// that tries the failing ones first waits for a timeout or gives up.
fn some_addresses_failed(r: &ProbeReport) -> Option<Finding> {
    let connected = r
        .attempts
        .iter()
        .find(|a| a.outcome == AttemptOutcome::Connected)?;
    let failed: Vec<&Attempt> = r
        .attempts
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Connected)
        .collect();
    let first = failed.first()?;
    let kind = |o: &AttemptOutcome| match o {
        AttemptOutcome::Refused => "refused",
        AttemptOutcome::TimedOut => "timed-out",
        AttemptOutcome::Unreachable { .. } => "unreachable",
        AttemptOutcome::Connected | AttemptOutcome::Failed { .. } => "failed",
    };
    // One word for all when they agree; each address's outcome is in `attempts` anyway.
    let why = if failed
        .iter()
        .all(|a| kind(&a.outcome) == kind(&first.outcome))
    {
        kind(&first.outcome)
    } else {
        "failed"
    };
    let list: Vec<String> = failed.iter().map(|a| a.address.to_string()).collect();
    Some(Finding::new(
        FindingCode::ConnectSomeAddressesFailed,
        Severity::Warning,
        crate::params![
            ("connected", connected.address.to_string()),
            ("failed", list.join(", ")),
            ("count", failed.len()),
            ("why", why),
        ],
    ))
}

/// The last two labels of a name: a rough registrable domain, enough to tell
/// `ssl0.ovh.net` from `mail.example.fr`.
fn registrable(name: &str) -> String {
    let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').take(2).collect();
    labels
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(".")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_settings_come_from_every_source_but_guessing() {
        use crate::discover::{Candidate, SourceReport, SourceStatus};
        use crate::model::Protocol;
        let cand = |source: SourceKind, host: &str, port: u16| Candidate {
            protocol: Protocol::Imap,
            host: host.into(),
            port,
            security: if port == 993 {
                Security::Tls
            } else {
                Security::Starttls
            },
            username: "a@example.fr".into(),
            auth: vec![],
            source,
            origin: "test".into(),
            dnssec: None,
            trusted: true,
            notes: Default::default(),
        };
        let report = |source: SourceKind, candidates: Vec<Candidate>| SourceReport {
            source,
            status: SourceStatus::Answered,
            detail: String::new(),
            ms: 0,
            queried: vec![],
            provider: None,
            candidates,
            notes: Default::default(),
            not_offered: vec![],
            obstacles: vec![],
            published: Default::default(),
        };
        let d = DiscoveryReport {
            address: "a@example.fr".into(),
            domain: "example.fr".into(),
            resolver: "system".into(),
            elapsed_ms: 0,
            sources: vec![
                report(
                    SourceKind::ProviderTable,
                    vec![cand(SourceKind::ProviderTable, "ssl0.ovh.net", 993)],
                ),
                report(
                    SourceKind::Autoconfig,
                    vec![
                        cand(SourceKind::Autoconfig, "SSL0.ovh.net.", 993),
                        cand(SourceKind::Autoconfig, "ssl0.ovh.net", 143),
                    ],
                ),
                report(
                    SourceKind::Guess,
                    vec![cand(SourceKind::Guess, "mail.example.fr", 993)],
                ),
            ],
            winners: Default::default(),
            selected: vec![],
            disagreements: vec![],
            notes: Default::default(),
            cached: false,
        };
        let docs = DocumentedSetting::from_discovery(&d);
        let got: Vec<(&str, u16, &str)> = docs
            .iter()
            .map(|d| (d.host.as_str(), d.combination.port, d.source.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("ssl0.ovh.net", 993, "provider-table"),
                ("ssl0.ovh.net", 143, "autoconfig")
            ]
        );
        // Findings word the source in the report's language.
        let mut f = Finding::new(
            FindingCode::DocumentedNotWorking,
            Severity::Warning,
            crate::params![("source", "provider-table")],
        );
        assert_eq!(
            f.message,
            "the built-in provider table documents this setting, but it does not work"
        );
        f.localize(crate::i18n::Lang::Fr);
        assert_eq!(
            f.message,
            "la table des fournisseurs intégrée documente ce réglage, mais il ne fonctionne pas"
        );
    }

    #[test]
    fn failing_addresses_are_worded_in_both_languages() {
        let mut f = Finding::new(
            FindingCode::ConnectSomeAddressesFailed,
            Severity::Warning,
            crate::params![
                ("connected", "192.0.2.1:993"),
                ("failed", "[2001:db8::1]:993"),
                ("count", 1usize),
                ("why", "refused"),
            ],
        );
        assert_eq!(
            f.message,
            "192.0.2.1:993 answered, but not [2001:db8::1]:993 (connection refused): a client \
             that tries that address first waits or fails"
        );
        f.localize(crate::i18n::Lang::Fr);
        assert_eq!(
            f.message,
            "192.0.2.1:993 a répondu, mais pas [2001:db8::1]:993 (connexion refusée) : un \
             logiciel qui essaie d'abord cette adresse attend ou échoue"
        );
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("ssl0.ovh.net"), "ovh.net");
        assert_eq!(registrable("mail.Example.FR."), "example.fr");
        assert_eq!(registrable("localhost"), "localhost");
    }
}
