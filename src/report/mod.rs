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

use crate::account::SecretSource;
use crate::diagnose::{self, Advice, DocumentedSetting, Recommendation, Verdict};
use crate::i18n::{self, Lang};
use crate::outcome::{Finding, Reason, Status};
use crate::plan::Direction;
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
}

/// A reason with its words, as printed: the code is language-neutral, the cause (with the
/// facts of this failure) and the hint are in the report's language.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonInfo {
    pub code: Reason,
    pub cause: String,
    pub hint: String,
}

/// A reason without facts of a probe (the round trip's), in English: the round trip runs
/// before the report's language is applied to it.
impl From<Reason> for ReasonInfo {
    fn from(r: Reason) -> Self {
        let p = crate::i18n::Params::new();
        ReasonInfo {
            code: r,
            cause: r.cause_in(Lang::En, &p),
            hint: r.hint_in(Lang::En, &p),
        }
    }
}

impl ReasonInfo {
    pub fn of(report: &ProbeReport, lang: Lang) -> Option<ReasonInfo> {
        let f = report.failure.as_ref()?;
        let p = diagnose::reason_params(report, lang);
        Some(ReasonInfo {
            code: f.reason,
            cause: f.reason.cause_in(lang, &p),
            hint: f.reason.hint_in(lang, &p),
        })
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
            diagnose::Login::of(report),
            diagnose::Login::SkippedAfterRejection | diagnose::Login::SkippedAfterStall
        );
        let legacy = report
            .failure
            .as_ref()
            .is_some_and(|f| f.reason == crate::outcome::Reason::TlsLegacyOnly);
        match verdict {
            Verdict::Fails if legacy => VerdictWord::ConnectsLegacyTls,
            Verdict::Fails => VerdictWord::Fails,
            _ if skipped => VerdictWord::Connects,
            Verdict::Works => VerdictWord::Works,
            Verdict::WorksWithWarnings => VerdictWord::WorksWithWarnings,
        }
    }
}

/// The diagnosis of one combination.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    #[serde(skip)]
    pub verdict: Verdict,
    /// What JSON calls `verdict`.
    #[serde(rename = "verdict")]
    pub word: VerdictWord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonInfo>,
    /// Findings of the probe and of diagnosis (certificate expiry...).
    pub findings: Vec<Finding>,
    #[serde(flatten)]
    pub report: ProbeReport,
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
        let lang = options.lang;
        let cross = diagnose::cross_findings(&reports, &options.documented);
        let judged: Vec<(ProbeReport, Verdict, Vec<Finding>)> = reports
            .into_iter()
            .zip(cross)
            .map(|(r, more)| {
                let (_, mut f) = diagnose::judge(&r, input.cert_warn_days);
                f.extend(more);
                for finding in &mut f {
                    finding.localize(lang);
                }
                let v = diagnose::verdict_of(&r, &f);
                (r, v, f)
            })
            .collect();
        // Diagnosis reads every finding of a combination, the probe's and its own.
        let pairs: Vec<(ProbeReport, Verdict)> = judged
            .iter()
            .map(|(r, v, f)| {
                let mut r = r.clone();
                r.findings = f.clone();
                (r, *v)
            })
            .collect();
        let probed = |d: Direction| {
            pairs
                .iter()
                .any(|(r, _)| r.target.combination.protocol.direction() == d)
        };
        let documented_by = |rec: Option<Recommendation>| {
            rec.map(|mut r| {
                r.documented_by = options
                    .documented
                    .iter()
                    .find(|d| d.matches(&r.host, r.combination()))
                    .map(|d| d.source.clone());
                r
            })
        };
        let incoming = documented_by(diagnose::recommend(&pairs, Direction::Incoming));
        let outgoing = documented_by(diagnose::recommend(&pairs, Direction::Outgoing));
        let mut considered = vec![];
        if probed(Direction::Incoming) {
            considered.push(incoming.clone());
        }
        if probed(Direction::Outgoing) {
            considered.push(outgoing.clone());
        }
        let advice: Vec<Advice> = [Direction::Incoming, Direction::Outgoing]
            .into_iter()
            .filter_map(|d| diagnose::advise(&pairs, d, lang))
            .collect();
        let status = diagnose::overall(&pairs, &considered);
        let results: Vec<Outcome> = judged
            .into_iter()
            .map(|(mut report, verdict, findings)| {
                // The reason's words may use the findings (the shared host to type)...
                report.findings = findings;
                let reason = ReasonInfo::of(&report, lang);
                // ... and the outcome's findings include the probe's: one `findings` in JSON.
                let findings = std::mem::take(&mut report.findings);
                Outcome {
                    id: report.target.id(),
                    verdict,
                    word: VerdictWord::of(verdict, &report),
                    reason,
                    findings,
                    report,
                }
            })
            .collect();
        let summary = summary_line(
            lang,
            &results,
            &incoming,
            &outgoing,
            probed(Direction::Incoming),
            probed(Direction::Outgoing),
        );
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
            round_trip: None,
            lang,
            documented: options.documented.clone(),
            discovery: None,
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
        let pairs: Vec<(ProbeReport, Verdict)> = self
            .results
            .iter()
            .map(|o| {
                let mut r = o.report.clone();
                r.findings = o.findings.clone();
                (r, o.verdict)
            })
            .collect();
        diagnose::ranked(&pairs, direction)
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

fn summary_line(
    lang: Lang,
    results: &[Outcome],
    incoming: &Option<Recommendation>,
    outgoing: &Option<Recommendation>,
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
            None => i18n::text(lang, "summary-none", &crate::params![("direction", name)]),
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
