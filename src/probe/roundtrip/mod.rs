//! `--round-trip`: "I can log in" is not "mail works".
//!
//! After the probe, a uniquely tagged test message goes out through the best working outgoing
//! combination (lettre builds and submits it, authenticated, over our TLS) to the account itself
//! (or `--round-trip-to`), and the best working incoming combination (IMAP, or POP3) is watched
//! until it arrives or `--round-trip-timeout` passes. The result says how long delivery took,
//! the `Received:` hops and any `Authentication-Results:`; then the message is deleted (unless
//! `--keep`), and only that message: see [`mailbox`] for how.
//!
//! Order: the mailbox is opened (and what it holds noted) before anything is sent, so a mailbox
//! that cannot be read costs no message left behind. Only combinations whose login succeeded in
//! the probe are used, with the same credential, trust and `--connect-to` mapping.

mod mailbox;
pub mod message;
mod open;
mod submit;

use std::time::Instant;

use serde::Serialize;

use crate::model::Target;
use crate::net::connection::TranscriptLine;
use crate::outcome::ReasonInfo;
use crate::outcome::{Reason, Status};
use crate::probe::{seconds, ProbeContext};

use mailbox::{Found, Mailbox};

/// What the round trip sends and where it looks: planned with the rest of the run.
pub use crate::plan::RoundTripPlan;

/// A combination used by the round trip, with the login mechanism that worked on it (the
/// caller picks it among the probe's verified logins: the recommended settings).
#[derive(Debug, Clone)]
pub struct Leg {
    pub target: Target,
    pub mechanism: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoundTripOutcome {
    /// The message arrived.
    Delivered,
    /// Accepted by the outgoing server, not in the mailbox before the timeout.
    NotDelivered,
    /// The outgoing server answered no (login, sender, recipient or message).
    SubmissionRefused,
    /// The submission session broke down (connect, TLS, timeout) before the message was taken.
    SubmissionFailed,
    /// The mailbox could not be opened or read.
    MailboxFailed,
    /// No outgoing or no incoming combination with a verified login.
    NotRun,
}

/// What became of the test message in the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cleanup {
    /// Removed (IMAP: `UID STORE +FLAGS (\Deleted)` and `UID EXPUNGE` of its UID only; POP3:
    /// `DELE` and `QUIT`).
    Deleted,
    /// Left in the mailbox, as asked (`--keep`).
    Kept,
    /// Flagged `\Deleted` but not expunged: the server has no UIDPLUS.
    FlaggedOnly,
    /// It did not arrive (or was not sent): nothing was deleted. If it arrives later, it stays.
    NothingToDelete,
    /// The deletion failed; the message may still be in the mailbox.
    Failed,
}

/// The submission.
#[derive(Debug, Clone, Serialize)]
pub struct SentInfo {
    /// The combination, e.g. `smtp/465/tls`.
    pub via: String,
    pub message_id: String,
    /// From connect until the server took the message.
    pub ms: u64,
    /// The server's answer to the message (`250 2.0.0 Ok: queued as ...`).
    pub server_says: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RoundTripTranscript {
    pub submission: Vec<TranscriptLine>,
    pub mailbox: Vec<TranscriptLine>,
}

/// The round trip's result: the `round_trip` object of the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct RoundTripReport {
    pub outcome: RoundTripOutcome,
    /// Only when the round trip failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonInfo>,
    /// The message arrived, but with a problem: `roundtrip.junk` (filed as spam).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<ReasonInfo>,
    /// One sentence: "delivered in 0.31 s", "sent but not delivered within 5 s", ...
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_says: Option<String>,
    pub from: String,
    pub to: String,
    /// The value of the message's `X-Mailcheck-Token` header (also in its Subject).
    pub token: String,
    pub timeout_ms: u64,
    /// Null when nothing was sent.
    pub sent: Option<SentInfo>,
    pub delivered: bool,
    /// From the outgoing server's acceptance until the message was seen in the mailbox
    /// (precision: the polling interval, 50 ms at first, growing to 1 s for IMAP, 2 s for POP3).
    pub latency_ms: Option<u64>,
    /// The incoming combination watched, e.g. `imap/993/tls`.
    pub checked_via: Option<String>,
    /// The mailbox the message was found in: `INBOX`, or the Junk mailbox (IMAP).
    pub delivered_to: Option<String>,
    /// How many times the mailbox was looked at.
    pub polls: u32,
    /// The message's `Received:` fields as it arrived, newest (last hop) first, unfolded.
    pub received: Vec<String>,
    /// Its `Authentication-Results:` fields, if any.
    pub authentication_results: Vec<String>,
    pub cleanup: Cleanup,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_detail: Option<String>,
    pub elapsed_ms: u64,
    /// With `--trace`: both sessions, credentials redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<RoundTripTranscript>,
}

impl RoundTripReport {
    /// How the round trip weighs on the run's exit status: a message that did not make it
    /// (or could not be sent, or looked for) is critical; one that arrived but could not be
    /// removed (flagged only, or a failed deletion), or that was filed as spam, is a warning.
    pub fn status(&self) -> Status {
        match self.outcome {
            RoundTripOutcome::Delivered => match self.cleanup {
                Cleanup::FlaggedOnly | Cleanup::Failed => Status::Warning,
                _ if self.warning.is_some() => Status::Warning,
                _ => Status::Ok,
            },
            _ => Status::Critical,
        }
    }

    /// The words for the summary line.
    pub fn summary(&self) -> String {
        match (&self.reason, &self.server_says) {
            (None, _) => match &self.warning {
                Some(w) => format!("round trip: {} ({})", self.detail, w.code.code()),
                None => format!("round trip: {}", self.detail),
            },
            (Some(r), None) => format!("round trip: {} ({})", self.detail, r.code.code()),
            (Some(r), Some(s)) => {
                format!("round trip: {}: {s} ({})", self.detail, r.code.code())
            }
        }
    }
}

/// `5 s`, `2.5 s`, `800 ms`.
struct Run {
    started: Instant,
    report: RoundTripReport,
}

impl Run {
    fn fail(
        &mut self,
        outcome: RoundTripOutcome,
        reason: Reason,
        detail: String,
        server_says: Option<String>,
    ) {
        self.report.outcome = outcome;
        self.report.reason = Some(reason.into());
        self.report.detail = detail;
        self.report.server_says = server_says;
    }

    fn done(mut self) -> RoundTripReport {
        self.report.elapsed_ms = self.started.elapsed().as_millis() as u64;
        self.report
    }
}

/// Runs the round trip on the chosen combinations. Never fails: every outcome is in the report.
pub async fn run(
    ctx: &ProbeContext,
    plan: &RoundTripPlan,
    outgoing: Option<Leg>,
    incoming: Option<Leg>,
) -> RoundTripReport {
    let token = message::token();
    let mut run = Run {
        started: Instant::now(),
        report: RoundTripReport {
            outcome: RoundTripOutcome::NotRun,
            reason: None,
            warning: None,
            detail: String::new(),
            server_says: None,
            from: plan.from.clone(),
            to: plan.to.clone(),
            token: token.clone(),
            timeout_ms: plan.timeout.as_millis() as u64,
            sent: None,
            delivered: false,
            latency_ms: None,
            checked_via: None,
            delivered_to: None,
            polls: 0,
            received: vec![],
            authentication_results: vec![],
            cleanup: Cleanup::NothingToDelete,
            cleanup_detail: None,
            elapsed_ms: 0,
            transcript: None,
        },
    };
    let (out, inc) = match (outgoing, incoming) {
        (Some(o), Some(i)) => (o, i),
        (o, i) => {
            let missing = match (o.is_none(), i.is_none()) {
                (true, true) => "no outgoing and no incoming setting",
                (true, false) => "no outgoing (SMTP) setting",
                _ => "no incoming (IMAP or POP3) setting",
            };
            run.fail(
                RoundTripOutcome::NotRun,
                Reason::RoundtripNotRun,
                format!("not run: {missing} with a verified login"),
                None,
            );
            return run.done();
        }
    };
    let trace = ctx.policy.trace;
    let mut transcript = RoundTripTranscript::default();
    run.report.checked_via = Some(inc.target.id());
    let message = match message::build(
        &plan.from,
        &plan.to,
        &token,
        &format!(
            "{} ({}) to {} ({})",
            out.target.host,
            out.target.id(),
            inc.target.host,
            inc.target.id()
        ),
    ) {
        Ok(m) => m,
        Err(e) => {
            run.fail(
                RoundTripOutcome::NotRun,
                Reason::RoundtripNotRun,
                format!("not run: {e}"),
                None,
            );
            return run.done();
        }
    };

    // Sessions may last the whole wait; every read inside is bounded by the step timeout.
    let limits = &ctx.policy.limits;
    let session_deadline = Instant::now()
        + plan.timeout
        + limits.target_timeout.saturating_mul(2)
        + limits.connect_timeout;

    // 1. The mailbox, before anything is sent.
    let mut mailbox = match Mailbox::open(ctx, &inc, session_deadline).await {
        Ok(m) => m,
        Err(p) => {
            run.fail(
                RoundTripOutcome::MailboxFailed,
                Reason::RoundtripMailboxFailed,
                format!(
                    "nothing sent: the mailbox on {} could not be opened: {}",
                    inc.target.id(),
                    p.detail
                ),
                p.server_says,
            );
            return run.done();
        }
    };

    // 2. The submission.
    let (sent, submission_log) = submit::submit(ctx, &out, &message, session_deadline).await;
    if trace {
        if let Some(t) = submission_log {
            transcript.submission = t.lock().unwrap_or_else(|e| e.into_inner()).take_lines();
        }
    }
    let sent = match sent {
        Ok(s) => s,
        Err(p) => {
            let (outcome, reason) = if p.refused {
                (
                    RoundTripOutcome::SubmissionRefused,
                    Reason::RoundtripSubmissionRefused,
                )
            } else {
                (
                    RoundTripOutcome::SubmissionFailed,
                    Reason::RoundtripSubmissionFailed,
                )
            };
            run.fail(
                outcome,
                reason,
                format!("not sent through {}: {}", out.target.id(), p.detail),
                p.server_says,
            );
            let logs = mailbox.transcripts();
            let (cleanup, detail) = mailbox.finish(None, plan.keep).await;
            run.report.cleanup = cleanup;
            run.report.cleanup_detail = detail;
            if trace {
                transcript.mailbox = mailbox::lines_of(&logs);
                run.report.transcript = Some(transcript);
            }
            return run.done();
        }
    };
    run.report.sent = Some(SentInfo {
        via: out.target.id(),
        message_id: message::message_id(&token, &plan.from),
        ms: sent.ms,
        server_says: sent.server_says.clone(),
    });

    // 3. The wait.
    let wait_until = sent.accepted_at + plan.timeout;
    let found: Result<Option<Found>, _> = loop {
        run.report.polls += 1;
        match mailbox.find(ctx, &token).await {
            Ok(Some(f)) => break Ok(Some(f)),
            Ok(None) => {}
            Err(p) => break Err(p),
        }
        let now = Instant::now();
        if now >= wait_until {
            break Ok(None);
        }
        let pause = mailbox.pause(run.report.polls).min(wait_until - now);
        tokio::time::sleep(pause).await;
    };
    let arrived_at = Instant::now();

    // 4. What arrived, and the cleanup.
    let logs = mailbox.transcripts();
    match &found {
        Ok(Some(f)) => {
            let fields = message::header_fields(&f.header);
            run.report.delivered = true;
            run.report.outcome = RoundTripOutcome::Delivered;
            let latency = arrived_at.duration_since(sent.accepted_at);
            run.report.latency_ms = Some(latency.as_millis() as u64);
            run.report.delivered_to = Some(f.mailbox.clone());
            run.report.detail = if f.junk {
                // It did arrive: delivery works, but the provider took it for spam.
                run.report.warning = Some(Reason::RoundtripJunk.into());
                format!(
                    "delivered in {}, but to the Junk mailbox \"{}\"",
                    seconds(latency),
                    f.mailbox
                )
            } else {
                format!("delivered in {}", seconds(latency))
            };
            run.report.received = message::values(&fields, "Received");
            run.report.authentication_results = message::values(&fields, "Authentication-Results");
        }
        Ok(None) => run.fail(
            RoundTripOutcome::NotDelivered,
            Reason::RoundtripNotDelivered,
            format!("sent but not delivered within {}", seconds(plan.timeout)),
            None,
        ),
        Err(p) => run.fail(
            RoundTripOutcome::MailboxFailed,
            Reason::RoundtripMailboxFailed,
            format!(
                "sent, but the mailbox on {} could not be read: {}",
                inc.target.id(),
                p.detail
            ),
            p.server_says.clone(),
        ),
    }
    let found = found.ok().flatten();
    let (cleanup, detail) = mailbox.finish(found.as_ref(), plan.keep).await;
    run.report.cleanup = cleanup;
    run.report.cleanup_detail = match (cleanup, detail, run.report.outcome) {
        (Cleanup::NothingToDelete, None, RoundTripOutcome::NotDelivered) => Some(format!(
            "if it arrives later, it stays in the mailbox: subject \"mailcheck round trip {token}\""
        )),
        (_, detail, _) => detail,
    };
    if trace {
        transcript.mailbox = mailbox::lines_of(&logs);
        run.report.transcript = Some(transcript);
    }
    run.done()
}
