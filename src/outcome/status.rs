//! The run's status, Nagios convention, with one ranking: the derived `Ord`, where `max` is
//! the worst (unknown is worst: something could not be judged).

use serde::Serialize;

/// Exit codes, Nagios convention. The variants are in order of gravity: keep it so, the
/// derived `Ord` is the ranking (`Unknown` above `Critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

    /// The worst of `statuses` (ok when there are none).
    pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().max().unwrap_or(Status::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ranking, the one the exit codes follow: ok, warning, critical, unknown.
    #[test]
    fn the_worst_status_is_the_greatest() {
        assert_eq!(Status::worst([]), Status::Ok);
        assert_eq!(
            Status::worst([Status::Ok, Status::Warning]),
            Status::Warning
        );
        assert_eq!(
            Status::worst([Status::Critical, Status::Warning]),
            Status::Critical
        );
        assert_eq!(
            Status::worst([Status::Critical, Status::Unknown]),
            Status::Unknown
        );
        let all = [
            Status::Ok,
            Status::Warning,
            Status::Critical,
            Status::Unknown,
        ];
        for a in all {
            for b in all {
                assert_eq!(a.cmp(&b), a.exit_code().cmp(&b.exit_code()), "{a:?} {b:?}");
            }
        }
    }
}
