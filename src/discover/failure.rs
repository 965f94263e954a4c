//! Why a discovery found nothing, typed: each step of each source records what stood in its
//! way ([`Obstacle`]), and [`DiscoveryReport::failure`] sums them up in one cause a helpdesk
//! can read first ([`DiscoveryFailure`]), with a hint. The sources' detail strings stay the
//! words; these types are what the conclusion is drawn from.

use super::http::HttpError;
use super::DiscoveryReport;
use crate::i18n::{self, Lang};
use crate::net::resolver::LookupError;

/// What stood in the way of one step of a source (a DNS query, an HTTP request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obstacle {
    /// The DNS server said nothing: no answer in time, or nothing listening.
    DnsSilent,
    /// The address's domain itself does not exist (NXDOMAIN).
    NoSuchDomain,
    /// Nothing there: no record, a 404, a host with no server. Whoever was asked answered.
    Absent,
    /// A certificate or TLS handshake refused, in rustls's words.
    Tls(String),
    /// An HTTP step without answer in time (its DNS lookup may be what hung).
    TimedOut,
    /// Anything else broken: a bad document, HTTP 500, a DNS failure code...
    Broken,
}

impl Obstacle {
    /// A lookup of `name` failed; `domain` is the address's domain.
    pub(crate) fn of_lookup(e: &LookupError, name: &str, domain: &str) -> Obstacle {
        match e {
            LookupError::NotFound {
                no_such_name: true, ..
            } if name
                .trim_end_matches('.')
                .eq_ignore_ascii_case(domain.trim_end_matches('.')) =>
            {
                Obstacle::NoSuchDomain
            }
            LookupError::NotFound { .. } => Obstacle::Absent,
            e if e.is_silence() => Obstacle::DnsSilent,
            _ => Obstacle::Broken,
        }
    }

    pub(crate) fn of_http(e: &HttpError) -> Obstacle {
        match e {
            HttpError::Tls { reason } => Obstacle::Tls(reason.clone()),
            HttpError::Unreachable {
                lookup: Some(l), ..
            } if l.is_silence() => Obstacle::DnsSilent,
            HttpError::Timeout { .. } => Obstacle::TimedOut,
            e if e.is_absent() => Obstacle::Absent,
            _ => Obstacle::Broken,
        }
    }
}

/// Why no source named a server, most telling first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryFailure {
    /// Every DNS query went unanswered (timed out or refused): nothing else can be known.
    DnsSilent {
        /// The `--dns-server` asked, or `system`.
        server: String,
    },
    /// The domain does not exist (NXDOMAIN).
    NoSuchDomain { domain: String },
    /// Every web source that failed was refused for the same TLS reason.
    Tls { reason: String },
    /// Everything asked answered, and nothing names a mail server.
    PublishesNothing { domain: String },
    /// Failures of several kinds: the per-source detail tells.
    Other,
}

impl DiscoveryFailure {
    /// Every code, for the catalogue test.
    pub const CODES: [&'static str; 5] = [
        "dns-silent",
        "no-such-domain",
        "tls",
        "publishes-nothing",
        "other",
    ];

    /// The stable code; also names the messages `discovery-failure-<code>` and
    /// `discovery-failure-<code>-hint`.
    pub fn code(&self) -> &'static str {
        match self {
            DiscoveryFailure::DnsSilent { .. } => "dns-silent",
            DiscoveryFailure::NoSuchDomain { .. } => "no-such-domain",
            DiscoveryFailure::Tls { .. } => "tls",
            DiscoveryFailure::PublishesNothing { .. } => "publishes-nothing",
            DiscoveryFailure::Other => "other",
        }
    }

    /// The cause, in `lang`.
    pub fn cause(&self, lang: Lang) -> String {
        let p = match self {
            DiscoveryFailure::DnsSilent { server } => crate::params![("server", server.as_str())],
            DiscoveryFailure::NoSuchDomain { domain }
            | DiscoveryFailure::PublishesNothing { domain } => {
                crate::params![("domain", domain.as_str())]
            }
            DiscoveryFailure::Tls { reason } => crate::params![("reason", reason.as_str())],
            DiscoveryFailure::Other => crate::params![],
        };
        i18n::text(lang, &format!("discovery-failure-{}", self.code()), &p)
    }

    /// What to do about it, in `lang`.
    pub fn hint(&self, lang: Lang) -> String {
        i18n::t(lang, &format!("discovery-failure-{}-hint", self.code()))
    }
}

impl DiscoveryReport {
    /// Why nothing was found; `None` when a server was.
    pub fn failure(&self) -> Option<DiscoveryFailure> {
        if !self.selected.is_empty() {
            return None;
        }
        let all = || self.sources.iter().flat_map(|s| s.obstacles.iter());
        let silent = all().any(|o| *o == Obstacle::DnsSilent);
        // A timed-out HTTP step says nothing about the DNS; anything else is an answer.
        if silent && all().all(|o| matches!(o, Obstacle::DnsSilent | Obstacle::TimedOut)) {
            return Some(DiscoveryFailure::DnsSilent {
                server: self.resolver.clone(),
            });
        }
        if all().any(|o| *o == Obstacle::NoSuchDomain) {
            return Some(DiscoveryFailure::NoSuchDomain {
                domain: self.domain.clone(),
            });
        }
        // Only web requests meet TLS here.
        let mut reasons = all().filter_map(|o| match o {
            Obstacle::Tls(r) => Some(r),
            _ => None,
        });
        if let Some(first) = reasons.next() {
            let only_tls = all().all(|o| matches!(o, Obstacle::Tls(_) | Obstacle::Absent));
            if only_tls && reasons.all(|r| r == first) {
                return Some(DiscoveryFailure::Tls {
                    reason: first.clone(),
                });
            }
        }
        if all().all(|o| *o == Obstacle::Absent) {
            return Some(DiscoveryFailure::PublishesNothing {
                domain: self.domain.clone(),
            });
        }
        Some(DiscoveryFailure::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_a_cause_and_a_hint_in_both_languages() {
        for lang in Lang::ALL {
            let ids = i18n::catalogue_ids(lang);
            for code in DiscoveryFailure::CODES {
                for id in [
                    format!("discovery-failure-{code}"),
                    format!("discovery-failure-{code}-hint"),
                ] {
                    assert!(ids.contains_key(&id), "{id} missing in {lang:?}");
                }
            }
        }
        let f = DiscoveryFailure::DnsSilent {
            server: "127.0.0.1:5300".into(),
        };
        assert_eq!(
            f.cause(Lang::En),
            "the DNS server 127.0.0.1:5300 does not answer"
        );
        assert_eq!(
            f.cause(Lang::Fr),
            "le serveur DNS 127.0.0.1:5300 ne répond pas"
        );
        let system = DiscoveryFailure::DnsSilent {
            server: "system".into(),
        };
        assert_eq!(
            system.cause(Lang::En),
            "the system's DNS servers do not answer"
        );
    }

    #[test]
    fn a_lookup_of_the_domain_itself_tells_that_it_does_not_exist() {
        let nx = LookupError::NotFound {
            detail: "no such name (NXDOMAIN)".into(),
            no_such_name: true,
        };
        assert_eq!(
            Obstacle::of_lookup(&nx, "Lab.test.", "lab.test"),
            Obstacle::NoSuchDomain
        );
        // A service name under it may well not exist while the domain does.
        assert_eq!(
            Obstacle::of_lookup(&nx, "_imaps._tcp.lab.test", "lab.test"),
            Obstacle::Absent
        );
        assert_eq!(
            Obstacle::of_lookup(&LookupError::TimedOut, "lab.test", "lab.test"),
            Obstacle::DnsSilent
        );
    }
}
