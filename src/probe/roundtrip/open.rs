//! Opening a session for the round trip on the probe's own connection layer
//! ([`crate::probe::open_session`]): the run's resolver (`--dns-server`), `-4/-6`, the target's
//! `--connect-to` mapping, the timeouts, the one TLS trust, the greeting and the STARTTLS
//! upgrade, the bounded reader and the redacted transcript. Unlike the probe, nothing here only
//! describes: a certificate that does not verify (without `--insecure`) or bytes injected
//! across STARTTLS end the round trip before any credential is sent.

use std::time::{Duration, Instant};

use crate::model::Target;
use crate::net::connection::Connection;
use crate::probe::{Failure, ProbeContext, Recorder, StepName};

/// Why a round-trip session stopped: our words, the server's, and whether the server refused
/// (a negative reply) rather than the exchange breaking down.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub detail: String,
    pub server_says: Option<String>,
    pub refused: bool,
}

impl Problem {
    pub fn new(detail: impl Into<String>) -> Problem {
        Problem {
            detail: detail.into(),
            server_says: None,
            refused: false,
        }
    }

    pub fn refused(detail: impl Into<String>, server_says: impl Into<String>) -> Problem {
        Problem {
            detail: detail.into(),
            server_says: Some(server_says.into()),
            refused: true,
        }
    }

    pub fn says(mut self, server_says: Option<String>) -> Problem {
        self.server_says = server_says;
        self
    }
}

/// Runs `fut` within `budget`, or says which step took too long.
pub(crate) async fn bounded<T>(
    budget: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Problem> {
    tokio::time::timeout(budget, fut).await.map_err(|_| {
        Problem::new(format!(
            "{what}: no answer within {} ms",
            budget.as_millis()
        ))
    })
}

/// A session on `target`, its greeting read and (on a STARTTLS port) upgraded, ready for the
/// login; every wait in it bounded by the step timeout and by `deadline`.
pub(crate) async fn open(
    ctx: &ProbeContext,
    target: &Target,
    deadline: Instant,
) -> Result<Connection, Problem> {
    let mut rec = Recorder::until(target.clone(), deadline);
    let conn = crate::probe::open_session(ctx, &mut rec)
        .await
        .map_err(|f| problem(target, f))?;
    // What the probe records and goes on past: injected bytes, an untrusted certificate.
    if let Some(f) = rec
        .report
        .failure
        .as_ref()
        .filter(|f| f.reason == crate::outcome::Reason::StarttlsInjection)
    {
        return Err(Problem::new(format!(
            "{} (starttls.injection): no credentials sent",
            f.detail
        ))
        .says(f.server_says.clone()));
    }
    if rec.credentials_allowed(&conn, &ctx.policy).is_err() {
        let detail = rec
            .report
            .failure
            .as_ref()
            .map_or("the certificate was not verified", |f| f.detail.as_str());
        return Err(Problem::new(format!(
            "{detail}: no credentials sent (see --insecure)"
        )));
    }
    Ok(conn)
}

/// A failure of the probe's session layer in the round trip's words: where, and what.
fn problem(target: &Target, f: Failure) -> Problem {
    let where_ = format!("{}:{}", target.connect_host, target.connect_port);
    let step = match f.step {
        StepName::Connect
            if matches!(
                f.reason,
                crate::outcome::Reason::DnsNoSuchHost | crate::outcome::Reason::DnsFailed
            ) =>
        {
            format!("resolving {}", target.connect_host)
        }
        StepName::Connect => format!("connecting to {where_}"),
        StepName::Tls => format!("TLS with {where_}"),
        StepName::Greeting => "greeting".into(),
        StepName::Capabilities => "capabilities before STARTTLS".into(),
        StepName::Starttls => "STARTTLS".into(),
        StepName::CapabilitiesAfterTls => "capabilities".into(),
        StepName::Auth => "login".into(),
        StepName::Logout => "logout".into(),
    };
    Problem::new(format!("{step}: {}", f.detail)).says(f.server_says)
}
