//! TCP connect: resolve the host, try every address of the allowed families in turn, each with
//! its own connect timeout, and say what happened to each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;

use crate::model::IpFamily;
use crate::net::resolver::{LookupError, Resolver};

/// What happened to one address.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub address: SocketAddr,
    pub outcome: AttemptOutcome,
    pub ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AttemptOutcome {
    Connected,
    Refused,
    TimedOut,
    Unreachable { detail: String },
    Failed { detail: String },
}

/// Why no connection could be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ConnectError {
    /// The name does not exist (NXDOMAIN, or no address record at all).
    Resolve {
        detail: String,
    },
    /// The lookup itself failed: no answer in time, SERVFAIL, REFUSED. Says nothing about
    /// whether the name exists.
    DnsFailed {
        detail: String,
    },
    /// It resolves, but to no address of the requested family.
    NoAddress,
    /// Every address was tried; this is the most telling failure among them.
    Refused,
    TimedOut,
    Unreachable {
        detail: String,
    },
    Failed {
        detail: String,
    },
}

pub struct Connected {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub attempts: Vec<Attempt>,
}

pub struct ConnectFailure {
    pub error: ConnectError,
    pub attempts: Vec<Attempt>,
    /// The caller's deadline cut the connect short (the error is then `TimedOut`, or
    /// `Resolve` if it passed while resolving): the addresses not yet tried were skipped.
    pub deadline_passed: bool,
}

/// Resolve `host` through `resolver` (system, or the `--dns-server`) and connect to `port`.
/// There is no shortcut through the system resolver: every connection of a run takes the
/// run's resolver, so that `--dns-server` holds for all of them.
/// Each step waits at most `timeout`, and never past `deadline`: once it passes, the
/// remaining addresses are not tried.
pub async fn connect_via(
    resolver: &Resolver,
    host: &str,
    port: u16,
    family: IpFamily,
    timeout: Duration,
    deadline: Option<Instant>,
) -> Result<Connected, ConnectFailure> {
    let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let bound = |left: Option<Duration>| left.map_or(timeout, |l| timeout.min(l));
    let resolve_bound = bound(left());
    let addrs = match resolve(resolver, host, port, resolve_bound).await {
        Ok(a) => a,
        Err(error) => {
            return Err(ConnectFailure {
                error,
                attempts: vec![],
                deadline_passed: left().is_some_and(|l| l.is_zero()),
            })
        }
    };
    let addrs: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match family {
            IpFamily::Any => true,
            IpFamily::V4 => a.is_ipv4(),
            IpFamily::V6 => a.is_ipv6(),
        })
        .collect();
    if addrs.is_empty() {
        return Err(ConnectFailure {
            error: ConnectError::NoAddress,
            attempts: vec![],
            deadline_passed: false,
        });
    }
    let mut attempts = Vec::new();
    let mut deadline_passed = false;
    for addr in addrs {
        let remaining = left();
        if remaining.is_some_and(|l| l.is_zero()) {
            deadline_passed = true;
            break;
        }
        let started = Instant::now();
        let outcome = match tokio::time::timeout(bound(remaining), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                attempts.push(Attempt {
                    address: addr,
                    outcome: AttemptOutcome::Connected,
                    ms: ms(started),
                });
                return Ok(Connected {
                    stream,
                    peer: addr,
                    attempts,
                });
            }
            Ok(Err(e)) => classify(&e),
            Err(_) => AttemptOutcome::TimedOut,
        };
        attempts.push(Attempt {
            address: addr,
            outcome,
            ms: ms(started),
        });
    }
    let error = if deadline_passed && attempts.is_empty() {
        // The deadline passed before the first address could be tried.
        ConnectError::TimedOut
    } else {
        summarize(&attempts)
    };
    Err(ConnectFailure {
        error,
        attempts,
        deadline_passed: deadline_passed || left().is_some_and(|l| l.is_zero()),
    })
}

async fn resolve(
    resolver: &Resolver,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, ConnectError> {
    match tokio::time::timeout(timeout, resolver.lookup_addrs(host, port)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e @ LookupError::NotFound { .. })) => Err(ConnectError::Resolve {
            detail: e.to_string(),
        }),
        Ok(Err(e)) => Err(ConnectError::DnsFailed {
            detail: e.to_string(),
        }),
        Err(_) => Err(ConnectError::DnsFailed {
            detail: format!("no answer within {} ms", timeout.as_millis()),
        }),
    }
}

fn classify(e: &std::io::Error) -> AttemptOutcome {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => AttemptOutcome::Refused,
        TimedOut => AttemptOutcome::TimedOut,
        HostUnreachable | NetworkUnreachable | AddrNotAvailable => AttemptOutcome::Unreachable {
            detail: e.to_string(),
        },
        _ => AttemptOutcome::Failed {
            detail: e.to_string(),
        },
    }
}

/// The outcome that best explains the failure: a refusal proves the host is there, so it wins
/// over timeouts on other addresses; then timeouts, then unreachability.
fn summarize(attempts: &[Attempt]) -> ConnectError {
    let has = |f: fn(&AttemptOutcome) -> bool| attempts.iter().any(|a| f(&a.outcome));
    if has(|o| matches!(o, AttemptOutcome::Refused)) {
        ConnectError::Refused
    } else if has(|o| matches!(o, AttemptOutcome::TimedOut)) {
        ConnectError::TimedOut
    } else if let Some(AttemptOutcome::Unreachable { detail }) = attempts
        .iter()
        .map(|a| &a.outcome)
        .find(|o| matches!(o, AttemptOutcome::Unreachable { .. }))
    {
        ConnectError::Unreachable {
            detail: detail.clone(),
        }
    } else {
        let detail = attempts
            .iter()
            .find_map(|a| match &a.outcome {
                AttemptOutcome::Failed { detail } => Some(detail.clone()),
                _ => None,
            })
            .unwrap_or_default();
        ConnectError::Failed { detail }
    }
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connect(
        host: &str,
        port: u16,
        family: IpFamily,
        timeout: Duration,
    ) -> Result<Connected, ConnectFailure> {
        connect_via(&Resolver::system(), host, port, family, timeout, None).await
    }

    #[tokio::test]
    async fn refused_port_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let f = connect("127.0.0.1", port, IpFamily::Any, Duration::from_secs(2))
            .await
            .err()
            .unwrap();
        assert_eq!(f.error, ConnectError::Refused);
        assert_eq!(f.attempts.len(), 1);
    }

    #[tokio::test]
    async fn family_filter_leaves_no_address() {
        let f = connect("127.0.0.1", 1, IpFamily::V6, Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert_eq!(f.error, ConnectError::NoAddress);
    }

    #[tokio::test]
    async fn the_deadline_cuts_a_blackholed_connect_short() {
        let hole = crate::lab::Blackhole::bind("127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        let t0 = Instant::now();
        let f = connect_via(
            &Resolver::system(),
            "127.0.0.1",
            hole.addr.port(),
            IpFamily::Any,
            Duration::from_secs(10),
            Some(t0 + Duration::from_millis(300)),
        )
        .await
        .err()
        .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert_eq!(f.error, ConnectError::TimedOut);
        assert!(f.deadline_passed);
        assert_eq!(f.attempts.len(), 1);
        assert_eq!(f.attempts[0].outcome, AttemptOutcome::TimedOut);
    }

    #[tokio::test]
    async fn connects_to_listener() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let c = connect("localhost", port, IpFamily::V4, Duration::from_secs(2))
            .await
            .ok()
            .unwrap();
        assert_eq!(c.peer.port(), port);
    }
}
