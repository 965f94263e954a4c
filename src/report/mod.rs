//! One model of a run, and one module per output format over it.

pub mod discovery;
pub mod json;
pub mod jsonl;
pub mod junit;
pub mod nagios;
pub mod prometheus;
pub mod roundtrip;
pub mod table;

use serde::Serialize;

use crate::account::SecretSource;
use crate::diagnose::{self, Finding, Reason, Recommendation, Status, Verdict};
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

/// A reason with its words, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonInfo {
    pub code: Reason,
    pub cause: &'static str,
    pub hint: &'static str,
}

impl From<Reason> for ReasonInfo {
    fn from(r: Reason) -> Self {
        ReasonInfo {
            code: r,
            cause: r.cause(),
            hint: r.hint(),
        }
    }
}

/// The diagnosis of one combination.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    pub verdict: Verdict,
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
    /// How the servers were found (absent with --server / --no-discovery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::discover::DiscoveryReport>,
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
    pub fn build(input: RunInput, reports: Vec<ProbeReport>) -> RunReport {
        let judged: Vec<(ProbeReport, Verdict, Vec<Finding>)> = reports
            .into_iter()
            .map(|r| {
                let (v, f) = diagnose::judge(&r, input.cert_warn_days);
                (r, v, f)
            })
            .collect();
        let pairs: Vec<(ProbeReport, Verdict)> =
            judged.iter().map(|(r, v, _)| (r.clone(), *v)).collect();
        let probed = |d: Direction| {
            pairs
                .iter()
                .any(|(r, _)| r.target.combination.protocol.direction() == d)
        };
        let incoming = diagnose::recommend(&pairs, Direction::Incoming);
        let outgoing = diagnose::recommend(&pairs, Direction::Outgoing);
        let mut considered = vec![];
        if probed(Direction::Incoming) {
            considered.push(incoming.clone());
        }
        if probed(Direction::Outgoing) {
            considered.push(outgoing.clone());
        }
        let status = diagnose::overall(&pairs, &considered);
        let results: Vec<Outcome> = judged
            .into_iter()
            .map(|(report, verdict, findings)| Outcome {
                id: report.target.id(),
                verdict,
                reason: report.failure.as_ref().map(|f| f.reason.into()),
                findings,
                report,
            })
            .collect();
        let summary = summary_line(
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
            recommendation: Recommendations { incoming, outgoing },
            summary,
            results,
            round_trip: None,
            discovery: None,
        }
    }

    /// Adds the round trip's result. It can only make the status worse (see
    /// [`crate::probe::roundtrip::RoundTripReport::status`]), and it joins the summary.
    pub fn with_round_trip(mut self, rt: crate::probe::roundtrip::RoundTripReport) -> RunReport {
        let status = rt.status();
        if status.exit_code() > self.status.exit_code() {
            self.status = status;
            self.exit_code = status.exit_code();
        }
        self.summary = format!("{}; {}", self.summary, rt.summary());
        self.round_trip = Some(rt);
        self
    }
}

fn describe(r: &Recommendation) -> String {
    format!(
        "{} {} port {} {}{}",
        r.protocol.name().to_uppercase(),
        r.host,
        r.port,
        r.security.client_label(),
        if r.login_verified {
            ", login verified"
        } else {
            ", login not verified"
        }
    )
}

fn summary_line(
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
    if let Some(o) = rejected {
        parts.push(format!(
            "{} on {} ({})",
            o.reason.as_ref().map(|r| r.cause).unwrap_or_default(),
            o.id,
            o.reason.as_ref().map(|r| r.code.code()).unwrap_or_default()
        ));
    }
    let side = |name: &str, r: &Option<Recommendation>| match r {
        Some(r) => format!("{name}: {}", describe(r)),
        None => format!("{name}: no secure setting works"),
    };
    if probed_in {
        parts.push(side("incoming", incoming));
    }
    if probed_out {
        parts.push(side("outgoing", outgoing));
    }
    parts.join("; ")
}
