//! One model of a run, and one module per output format over it.

pub mod account;
pub mod card;
pub mod discovery;
pub mod expect;
pub mod json;
pub mod jsonl;
pub mod junit;
pub mod mobileconfig;
pub mod monitor;
pub mod nagios;
pub mod prometheus;
pub mod roundtrip;
pub mod table;
pub mod thunderbird;

use serde::Serialize;

/// A table in the house style. Colour only when asked. Columns wrap to the terminal only when
/// its width is known: a terminal that reports no size (`script`, some CI consoles) reads as
/// width 0, and wrapping to it squashed every column to one letter per line.
pub(crate) fn new_table(color: bool) -> comfy_table::Table {
    use comfy_table::{presets, ContentArrangement, Table};
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let wrap = table.width().is_some_and(|w| w >= 60);
    table.set_content_arrangement(if wrap {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    table
}

/// Text from outside (a server's words, certificate and account names, discovery answers)
/// as it may be printed on a terminal: control characters (C0, DEL, C1: ESC, CR, LF, BEL...)
/// and the invisible direction marks and overrides (U+061C, U+200E/F, U+202A-E, U+2066-9)
/// are written as Rust escapes (`\u{1b}`, `\r`, `\u{202e}`). A hostile server or file must
/// not drive the user's terminal (clear it, retitle it, fake a line, reorder a word) through
/// a report. JSON needs none of this: serde escapes control characters, and the
/// direction marks are data there.
pub(crate) fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if drives_the_terminal(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn drives_the_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

use crate::account::SecretSource;
pub use crate::diagnose::VerdictWord;
use crate::diagnose::{
    self, AddressSplit, Advice, Diagnosis, DocumentedSetting, Judged, Recommendation,
};
use crate::i18n::{self, Lang};
use crate::model::Direction;
use crate::outcome::Status;
use crate::probe::ProbeReport;

/// Version of the JSON document; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    Password,
    Oauth2Token,
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct CredentialInfo {
    pub kind: CredentialKind,
    pub source: SecretSource,
    /// The run's OAuth2 sign-in (`--oauth2`): issuer, flow, scopes, lifetime; never a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<crate::oauth2::OAuth2Info>,
}

/// The diagnosis of one combination, as reported: its id and the judged item.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    #[serde(flatten)]
    pub judged: Judged,
}

/// An outcome reads as its judged item (`o.verdict`, `o.findings`, `o.report`).
impl std::ops::Deref for Outcome {
    type Target = Judged;
    fn deref(&self) -> &Judged {
        &self.judged
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Recommendations {
    pub incoming: Option<Recommendation>,
    pub outgoing: Option<Recommendation>,
    /// What to tell the user for each probed direction where no secure setting works.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advice: Vec<Advice>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub mailcheck_version: &'static str,
    pub address: String,
    pub server: String,
    pub started_at: String,
    pub elapsed_ms: u64,
    pub credential: CredentialInfo,
    pub status: Status,
    pub exit_code: u8,
    pub recommendation: Recommendations,
    pub summary: String,
    pub results: Vec<Outcome>,
    /// With `--each-address`: the combinations that fail on some of their server's addresses
    /// (added within schema version 1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<AddressSplit>,
    /// With `--round-trip` only (added within schema version 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip: Option<crate::probe::roundtrip::RoundTripReport>,
    /// The language of the human strings (cause, hint, message, summary); codes never change.
    pub lang: Lang,
    /// The documented settings diagnosis checked the probes against (provider table, guide).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documented: Vec<DocumentedSetting>,
    /// How the servers were found (absent with --server / --no-discovery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::discover::DiscoveryReport>,
    /// Why the run stopped before probing anything (a sign-in that failed); absent otherwise
    /// (added within schema version 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::outcome::ReasonInfo>,
}

/// A run that stopped before any connection (an OAuth2 sign-in that failed): the error
/// [`crate::engine::prepare`] returns. Its text is for stderr; `probe --format json` reports
/// it as a run ([`RunReport::stopped`]).
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct Stopped {
    pub address: String,
    pub server: String,
    pub started_at: String,
    pub elapsed_ms: u64,
    pub reason: crate::outcome::ReasonInfo,
    /// The cause, code and hint, in the run's language.
    pub text: String,
    pub discovery: Option<crate::discover::DiscoveryReport>,
}

impl Stopped {
    /// When the run started: RFC 3339, and the instant to measure from.
    pub fn clock() -> (String, std::time::Instant) {
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        (at, std::time::Instant::now())
    }

    pub fn new(
        run: &crate::plan::RunPlan,
        (started_at, t0): &(String, std::time::Instant),
        reason: crate::outcome::ReasonInfo,
        text: String,
    ) -> Stopped {
        Stopped {
            address: run.address.clone(),
            server: run.server.clone(),
            started_at: started_at.clone(),
            elapsed_ms: t0.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
            reason,
            text,
            discovery: run.discovery.clone(),
        }
    }
}

/// Diagnosis options beyond [`RunInput`]: the language of the words and what the provider
/// documents (from discovery's provider table, or a list given by a test or a guide).
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub lang: Lang,
    pub documented: Vec<DocumentedSetting>,
}

pub struct RunInput {
    pub address: String,
    pub server: String,
    pub started_at: String,
    pub elapsed_ms: u64,
    pub credential: CredentialInfo,
    pub cert_warn_days: i64,
}

impl RunReport {
    /// Diagnose in the run's language ([`Lang::current`]), without documented settings.
    pub fn build(input: RunInput, reports: Vec<ProbeReport>) -> RunReport {
        let options = ReportOptions {
            lang: Lang::current(),
            documented: vec![],
        };
        RunReport::build_with(input, reports, &options)
    }

    pub fn build_with(
        input: RunInput,
        reports: Vec<ProbeReport>,
        options: &ReportOptions,
    ) -> RunReport {
        let diagnosis = diagnose::diagnose(
            reports,
            input.cert_warn_days,
            &options.documented,
            options.lang,
        );
        RunReport::assemble(input, diagnosis, options)
    }

    /// The report of a diagnosed run.
    pub fn assemble(input: RunInput, d: Diagnosis, options: &ReportOptions) -> RunReport {
        let lang = options.lang;
        let probed = |dir: Direction| {
            d.items
                .iter()
                .any(|j| j.report.target.combination.protocol.direction() == dir)
        };
        let (probed_in, probed_out) = (probed(Direction::Incoming), probed(Direction::Outgoing));
        let results: Vec<Outcome> = d
            .items
            .into_iter()
            .map(|judged| Outcome {
                id: judged.report.target.id(),
                judged,
            })
            .collect();
        let (incoming, outgoing, advice, status) = (d.incoming, d.outgoing, d.advice, d.status);
        let mut summary = summary_line(
            lang,
            &results,
            (&incoming, &outgoing),
            &advice,
            probed_in,
            probed_out,
        );
        for split in &d.addresses {
            summary.push_str(&i18n::t(lang, "separator"));
            summary.push_str(&address_split_line(lang, split));
        }
        RunReport {
            schema_version: SCHEMA_VERSION,
            mailcheck_version: env!("CARGO_PKG_VERSION"),
            address: input.address,
            server: input.server,
            started_at: input.started_at,
            elapsed_ms: input.elapsed_ms,
            credential: input.credential,
            status,
            exit_code: status.exit_code(),
            recommendation: Recommendations {
                incoming,
                outgoing,
                advice,
            },
            summary,
            results,
            addresses: d.addresses,
            round_trip: None,
            lang,
            documented: options.documented.clone(),
            discovery: None,
            reason: None,
        }
    }

    /// The report of a run that stopped before probing: no result, status UNKNOWN (exit 3),
    /// the reason, and the discovery that ran first.
    pub fn stopped(s: &Stopped, lang: Lang) -> RunReport {
        let status = Status::Unknown;
        RunReport {
            schema_version: SCHEMA_VERSION,
            mailcheck_version: env!("CARGO_PKG_VERSION"),
            address: s.address.clone(),
            server: s.server.clone(),
            started_at: s.started_at.clone(),
            elapsed_ms: s.elapsed_ms,
            credential: CredentialInfo {
                kind: CredentialKind::None,
                source: SecretSource::None,
                oauth2: None,
            },
            status,
            exit_code: status.exit_code(),
            recommendation: Recommendations {
                incoming: None,
                outgoing: None,
                advice: vec![],
            },
            summary: s.reason.cause.clone(),
            results: vec![],
            addresses: vec![],
            round_trip: None,
            lang,
            documented: vec![],
            discovery: s.discovery.clone(),
            reason: Some(s.reason.clone()),
        }
    }

    /// Adds the round trip's result. It can only make the status worse (see
    /// [`crate::probe::roundtrip::RoundTripReport::status`]), and it joins the summary.
    pub fn with_round_trip(mut self, rt: crate::probe::roundtrip::RoundTripReport) -> RunReport {
        let status = rt.status();
        if status > self.status {
            self.status = status;
            self.exit_code = status.exit_code();
        }
        self.summary = format!("{}; {}", self.summary, rt.summary());
        self.round_trip = Some(rt);
        self
    }

    /// Every working combination of a direction, best first (the recommendation, then the
    /// alternatives).
    pub fn working(&self, direction: Direction) -> Vec<Recommendation> {
        diagnose::ranked(self.results.iter().map(|o| &o.judged), direction)
    }

    /// Whether any combination of a direction was probed.
    pub fn probed(&self, direction: Direction) -> bool {
        self.results
            .iter()
            .any(|o| o.report.target.combination.protocol.direction() == direction)
    }
}

/// "IMAP mail.example.com port 993 SSL/TLS, login verified", in `lang` (or why not).
pub fn describe(lang: Lang, r: &Recommendation) -> String {
    i18n::text(
        lang,
        "summary-setting",
        &crate::params![
            ("protocol", r.protocol.name().to_uppercase()),
            ("host", r.host.as_str()),
            ("port", r.port),
            ("security", r.security.client_label()),
            ("login", r.login.code()),
        ],
    )
}

/// "imap/993/tls: 1 of 2 addresses fails: 127.0.0.5: the server's certificate expired on …".
pub fn address_split_line(lang: Lang, s: &AddressSplit) -> String {
    let failing: Vec<String> = s
        .failing
        .iter()
        .map(|f| {
            i18n::text(
                lang,
                "summary-address-fails",
                &crate::params![
                    ("address", f.address.to_string()),
                    ("cause", f.cause.as_str())
                ],
            )
        })
        .collect();
    i18n::text(
        lang,
        "summary-addresses",
        &crate::params![
            ("combination", s.combination.as_str()),
            ("failing", s.failing.len()),
            ("total", s.addresses),
            ("causes", failing.join(&i18n::t(lang, "separator"))),
        ],
    )
}

fn summary_line(
    lang: Lang,
    results: &[Outcome],
    (incoming, outgoing): (&Option<Recommendation>, &Option<Recommendation>),
    advice: &[Advice],
    probed_in: bool,
    probed_out: bool,
) -> String {
    let rejected = results.iter().find(|o| {
        o.reason
            .as_ref()
            .is_some_and(|r| r.code.is_credential_verdict())
    });
    let mut parts = vec![];
    if let Some((o, r)) = rejected.and_then(|o| o.reason.as_ref().map(|r| (o, r))) {
        parts.push(i18n::text(
            lang,
            "summary-credential",
            &crate::params![
                ("cause", r.cause.as_str()),
                ("combination", o.id.as_str()),
                ("code", r.code.code()),
            ],
        ));
    }
    let side = |direction: Direction, r: &Option<Recommendation>| {
        let name = i18n::t(
            lang,
            match direction {
                Direction::Incoming => "direction-incoming",
                Direction::Outgoing => "direction-outgoing",
            },
        );
        match r {
            Some(r) => i18n::text(
                lang,
                "summary-side",
                &crate::params![("direction", name), ("setting", describe(lang, r))],
            ),
            None => match advice
                .iter()
                .find(|a| a.direction == direction && a.code == "legacy-tls-only")
            {
                // Not "nothing works": say what a client that accepts legacy TLS gets.
                Some(a) => i18n::text(
                    lang,
                    "summary-legacy",
                    &crate::params![("direction", name), ("combination", a.combination.as_str())],
                ),
                None => i18n::text(lang, "summary-none", &crate::params![("direction", name)]),
            },
        }
    };
    if probed_in {
        parts.push(side(Direction::Incoming, incoming));
    }
    if probed_out {
        parts.push(side(Direction::Outgoing, outgoing));
    }
    parts.join(&i18n::t(lang, "separator"))
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn an_address_split_reads_in_both_languages() {
        use crate::diagnose::{AddressSplit, FailingAddress};
        use crate::i18n::Lang;
        let fail = |ip: &str| FailingAddress {
            address: ip.parse().unwrap(),
            reason: crate::outcome::Reason::TlsCertExpired,
            cause: "expired".into(),
        };
        let mut s = AddressSplit {
            host: "mail.example.com".into(),
            combination: "imap/993/tls".into(),
            addresses: 3,
            failing: vec![fail("2001:db8::7")],
        };
        assert_eq!(
            super::address_split_line(Lang::En, &s),
            "imap/993/tls: 1 of 3 addresses fails: 2001:db8::7: expired"
        );
        assert_eq!(
            super::address_split_line(Lang::Fr, &s),
            "imap/993/tls : 1 adresse sur 3 échoue : 2001:db8::7 : expired"
        );
        s.failing.push(fail("192.0.2.1"));
        assert_eq!(
            super::address_split_line(Lang::En, &s),
            "imap/993/tls: 2 of 3 addresses fail: 2001:db8::7: expired; 192.0.2.1: expired"
        );
        assert_eq!(
            super::address_split_line(Lang::Fr, &s),
            "imap/993/tls : 2 adresses sur 3 échouent : 2001:db8::7 : expired ; 192.0.2.1 : expired"
        );
    }

    #[test]
    fn outside_text_cannot_drive_the_terminal() {
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\u{7}\0\r\nc\u{202e}d\u{2066}e\u{200f}\u{9b}"),
            "a\\u{1b}[2Jb\\u{7}\\u{0}\\r\\nc\\u{202e}d\\u{2066}e\\u{200f}\\u{9b}"
        );
        assert_eq!(
            terminal_safe("Server ready é ✓ « »"),
            "Server ready é ✓ « »"
        );
    }
}
