//! The run's status, Nagios convention.

use serde::Serialize;

/// Exit codes, Nagios convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// 0: a secure incoming and a secure outgoing combination work.
    Ok,
    /// 1: usable, but with warnings, a critical finding on some combination, or a login
    /// that stalled.
    Warning,
    /// 2: no secure incoming or no secure outgoing combination works, or the credential was
    /// rejected.
    Critical,
    /// 3: bad input or internal error.
    Unknown,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }
}
