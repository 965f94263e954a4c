//! One account's result (its report, its judged expectations, its status): what every
//! monitoring format renders, for `probe`'s thresholds as for `check`, `batch` and `serve`.

use serde::Serialize;

use super::expect::{self, ExpectationResult};
use super::RunReport;
use crate::outcome::Status;
use crate::settings::{Expectations, Settings};

/// The result of one account: its report, its judged expectations and its status.
#[derive(Debug, Clone, Serialize)]
pub struct AccountResult {
    pub account: String,
    pub address: String,
    pub status: Status,
    pub exit_code: u8,
    pub expectations: Vec<ExpectationResult>,
    /// Why the account could not be probed (its credential could not be read...): status
    /// unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RunReport>,
    /// Thresholds, for the performance data of the Nagios format.
    #[serde(skip)]
    pub thresholds: Expectations,
    /// The reason code of `error` when it has one (an OAuth2 grant refused); also the
    /// exporter's `mailcheck_failure_info`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::outcome::Reason>,
}

impl AccountResult {
    pub fn judge(name: &str, report: RunReport, expectations: Expectations) -> AccountResult {
        let results = expect::evaluate(name, &report, &expectations);
        let status = expect::status(&report, &expectations, &results);
        AccountResult {
            account: name.to_string(),
            address: report.address.clone(),
            status,
            exit_code: status.exit_code(),
            expectations: results,
            error: None,
            report: Some(report),
            thresholds: expectations,
            reason: None,
        }
    }

    /// A single `probe` run, judged by its thresholds only.
    pub fn from_probe(report: RunReport, thresholds: Expectations) -> AccountResult {
        let name = report.address.clone();
        AccountResult::judge(&name, report, thresholds)
    }

    /// A probe stopped before any connection (a failed sign-in): unknown, with the reason's
    /// cause and code, as a checks-file account whose credential failed.
    pub fn stopped(settings: &Settings, s: &super::Stopped) -> AccountResult {
        AccountResult {
            account: s.address.clone(),
            address: s.address.clone(),
            status: Status::Unknown,
            exit_code: Status::Unknown.exit_code(),
            expectations: vec![],
            error: Some(format!("{} ({})", s.reason.cause, s.reason.code.code())),
            report: None,
            thresholds: settings.expectations.clone(),
            reason: Some(s.reason.code),
        }
    }

    pub fn failed(settings: &Settings, error: &anyhow::Error) -> AccountResult {
        AccountResult {
            account: settings.name.clone(),
            address: settings.address.to_string(),
            status: Status::Unknown,
            exit_code: Status::Unknown.exit_code(),
            expectations: vec![],
            error: Some(format!("{error:#}")),
            report: None,
            thresholds: settings.expectations.clone(),
            reason: error
                .downcast_ref::<crate::engine::GrantFailed>()
                .map(|g| g.reason),
        }
    }
}

/// Counts of account statuses: all a streamed format's closing summary needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub unknown: usize,
}

impl Tally {
    pub fn of(results: &[AccountResult]) -> Tally {
        let mut t = Tally::default();
        for r in results {
            t.add(r.status);
        }
        t
    }

    pub fn add(&mut self, s: Status) {
        match s {
            Status::Ok => self.ok += 1,
            Status::Warning => self.warning += 1,
            Status::Critical => self.critical += 1,
            Status::Unknown => self.unknown += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.ok + self.warning + self.critical + self.unknown
    }

    /// The worst status counted (ok when none).
    pub fn overall(&self) -> Status {
        Status::worst(
            [
                (self.warning, Status::Warning),
                (self.critical, Status::Critical),
                (self.unknown, Status::Unknown),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(_, s)| s),
        )
    }
}

/// The status of many accounts: the worst of them (ok when there are none).
pub fn overall(results: &[AccountResult]) -> Status {
    Status::worst(results.iter().map(|r| r.status))
}
