//! The executor: one task per target, all at once. A probe never returns `Err` for a server
//! problem: every outcome is data in a [`ProbeReport`].

mod gate;
mod imap;
pub mod issuer_hint;
pub mod pace;
mod pop3;
pub mod roundtrip;
mod session;
mod smtp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::account::Credential;
use crate::model::{Policy, Protocol, Security, Target};
use crate::net::connect::{self, Attempt, ConnectError};
use crate::net::connection::{ConnError, Connection, Stream, TranscriptLine};
use crate::net::legacy_tls::{self, LegacyHandshake, LegacyTls};
use crate::net::tls::{self, CertVerdict, TlsError, TlsFacts, TlsTrust};
use crate::outcome::{Finding, Reason};
use crate::plan::Plan;

pub use gate::{AuthGate, Refusal};
pub use session::Capabilities;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepName {
    Connect,
    Tls,
    Greeting,
    Capabilities,
    Starttls,
    CapabilitiesAfterTls,
    Auth,
    Logout,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: StepName,
    /// Milliseconds since the probe of this target started.
    pub start_ms: u64,
    pub ms: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The first failure of a combination: a stable reason, the step, our words and the server's.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub reason: Reason,
    pub step: StepName,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_says: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotAttempted {
    /// No password or token was given.
    NoCredentials,
    /// The certificate failed verification: credentials are withheld (see `--insecure`).
    CertificateNotTrusted,
    /// Another combination on the same server already had the credential rejected.
    SkippedAfterRejection,
    /// Another combination's login on the same server stalled (or this probe's deadline passed
    /// while waiting for it).
    SkippedAfterStall,
    /// The server offers no mechanism usable with this credential.
    NoUsableMechanism,
    /// The probe failed before reaching the login step.
    EarlierFailure,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum AuthOutcome {
    NotAttempted {
        why: NotAttempted,
    },
    Succeeded {
        mechanism: String,
        ms: u64,
    },
    Rejected {
        mechanism: String,
        ms: u64,
        server_says: String,
    },
    /// The exchange broke down (timeout, closed, garbage): no verdict on the credential.
    Failed {
        mechanism: String,
        ms: u64,
        detail: String,
    },
}

/// Everything observed on one combination.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<SocketAddr>,
    pub attempts: Vec<Attempt>,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    /// What the server offers before TLS (STARTTLS ports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities_before_tls: Option<Capabilities>,
    /// What the server offers over TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    pub auth: AuthOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The probe's own findings. Reports move them into their outcome (with diagnosis's), so
    /// an empty list is not written: JSON would have `findings` twice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TranscriptLine>>,
    /// Implicit-TLS ports: the server's answer to a ClientHello offering TLS 1.0/1.1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_tls: Option<LegacyTls>,
    /// Ports whose modern handshake failed (from the first byte, or after STARTTLS): what the
    /// server chose from a ClientHello offering legacy versions and suites (`tls.legacy-only`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_handshake: Option<LegacyHandshake>,
}

/// Shared by every probe of a run.
pub struct ProbeContext {
    pub policy: Policy,
    pub trust: TlsTrust,
    pub credential: Option<Credential>,
    /// SHA-256 of the secret: the lockout gate's key, so that a changed secret gets a try of
    /// its own while the refused one is not tried again.
    pub secret_digest: [u8; 32],
    /// Shared by every run of the process that may try the same logins (see [`AuthGate`]).
    pub gate: Arc<AuthGate>,
    /// This run, among those sharing the gate.
    pub run_id: u64,
    /// Remembered refusals (of another run) already reported by a combination of this run:
    /// its other combinations skip the login as after a refusal of their own.
    pub reported_refusals: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    /// Limits on probes at once, per connect host and in total, shared across runs (a batch,
    /// an exporter). `None`: every target at once.
    pub pacer: Option<Arc<pace::Pacer>>,
    /// The scope the run's OAuth2 token lacks for a protocol: said with a refusal of the
    /// token there (`oauth2.scope-missing`).
    pub oauth2_missing_scopes: Vec<(crate::model::Protocol, String)>,
}

impl ProbeContext {
    pub fn new(policy: Policy, credential: Option<Credential>) -> anyhow::Result<ProbeContext> {
        let trust = TlsTrust::new(policy.ca_file.as_deref(), true)?.with_crls(&policy.crl_files)?;
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let secret_digest = credential.as_ref().map_or([0; 32], |c| c.secret().digest());
        Ok(ProbeContext {
            policy,
            trust,
            credential,
            secret_digest,
            gate: Arc::new(AuthGate::default()),
            run_id: RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            reported_refusals: Default::default(),
            pacer: None,
            oauth2_missing_scopes: vec![],
        })
    }
}

/// Probe every target of the plan concurrently; reports come back in plan order.
pub async fn run(plan: &Plan, credential: Option<Credential>) -> anyhow::Result<Vec<ProbeReport>> {
    let ctx = Arc::new(ProbeContext::new(plan.policy.clone(), credential)?);
    run_with(ctx, plan.targets.clone()).await
}

pub async fn run_with(
    ctx: Arc<ProbeContext>,
    targets: Vec<Target>,
) -> anyhow::Result<Vec<ProbeReport>> {
    let handles: Vec<_> = targets
        .into_iter()
        .map(|t| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                // Held for the whole probe; the target's deadline starts after it is granted.
                let _pace = match (&ctx.pacer, ctx.policy.limits.finish_by) {
                    (Some(p), None) => Some(p.acquire(&t.connect_host).await),
                    // Queued behind other probes of its host: wait only while starting still
                    // leaves the target time to say something.
                    (Some(p), Some(end)) => {
                        let start_by = end.checked_sub(START_MARGIN).unwrap_or(end);
                        match tokio::time::timeout_at(start_by.into(), p.acquire(&t.connect_host))
                            .await
                        {
                            Ok(pace) => Some(pace),
                            Err(_) => return not_started(&ctx, t),
                        }
                    }
                    (None, _) => None,
                };
                probe_target(&ctx, t).await
            })
        })
        .collect();
    // Aborted when this future is dropped (a scrape whose client left): a detached task would
    // keep connecting, and holding its pacer permit, until its own deadline.
    let mut handles = AbortOnDrop(handles);
    let mut out = Vec::with_capacity(handles.0.len());
    for h in handles.0.iter_mut() {
        out.push(h.await?);
    }
    Ok(out)
}

struct AbortOnDrop<T>(Vec<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Least time left before [`Limits::finish_by`] for a queued target to start.
const START_MARGIN: Duration = Duration::from_millis(500);

/// The report of a target that waited for its pacing permit until the run's end drew near.
fn not_started(ctx: &ProbeContext, target: Target) -> ProbeReport {
    let host = target.connect_host.clone();
    let mut rec = Recorder::new(target, &ctx.policy);
    let t = rec.start(StepName::Connect);
    let f = rec.fail(
        t,
        Reason::ProbeDeadline,
        format!(
            "not started: other probes of {host} held its connections until the deadline \
             was near (per-host limit)"
        ),
        None,
    );
    rec.finish(Some(f), ctx.policy.trace)
}

/// Builds a report step by step, timing each step against the probe's start.
pub(crate) struct Recorder {
    report: ProbeReport,
    started: Instant,
    pub deadline: Instant,
    transcript: Option<crate::net::connection::SharedTranscript>,
    /// The legacy re-probe of a STARTTLS port: after the go-ahead, send the legacy ClientHello
    /// instead of the handshake, and stop (see [`legacy_after_starttls`]).
    pub(crate) legacy_hello: bool,
    /// The host's DNSSEC-validated TLSA records (name, RDATA), checked on every handshake.
    tlsa: Option<(String, Vec<Vec<u8>>)>,
}

/// A step in progress.
pub(crate) struct StepTimer {
    name: StepName,
    at: Instant,
}

impl StepTimer {
    pub fn elapsed_ms(&self) -> u64 {
        self.at.elapsed().as_millis() as u64
    }
}

impl Recorder {
    /// The time this probe was given: the target deadline, or less when the run must be over
    /// sooner (an exporter's scrape deadline, `Limits::finish_by`).
    fn deadline_span(&self) -> Duration {
        self.deadline.saturating_duration_since(self.started)
    }

    fn new(target: Target, policy: &Policy) -> Recorder {
        let started = Instant::now();
        let deadline = policy
            .limits
            .finish_by
            .map_or(started + policy.limits.target_timeout, |end| {
                end.min(started + policy.limits.target_timeout)
            });
        Recorder::started_at(target, started, deadline)
    }

    /// A recorder whose session lasts until `deadline` (the round trip's sessions last its
    /// whole wait, not one probe's).
    pub(crate) fn until(target: Target, deadline: Instant) -> Recorder {
        Recorder::started_at(target, Instant::now(), deadline)
    }

    /// The deadline is counted from `started`: the probe's messages quote their span.
    fn started_at(target: Target, started: Instant, deadline: Instant) -> Recorder {
        Recorder {
            report: ProbeReport {
                target,
                peer: None,
                attempts: vec![],
                steps: vec![],
                greeting: None,
                tls: None,
                capabilities_before_tls: None,
                capabilities: None,
                auth: AuthOutcome::NotAttempted {
                    why: NotAttempted::EarlierFailure,
                },
                failure: None,
                findings: vec![],
                elapsed_ms: 0,
                transcript: None,
                legacy_tls: None,
                legacy_handshake: None,
            },
            started,
            deadline,
            transcript: None,
            legacy_hello: false,
            tlsa: None,
        }
    }

    pub fn target(&self) -> &Target {
        &self.report.target
    }

    pub fn start(&self, name: StepName) -> StepTimer {
        StepTimer {
            name,
            at: Instant::now(),
        }
    }

    fn push_step(&mut self, t: &StepTimer, ok: bool, detail: Option<String>) {
        self.report.steps.push(Step {
            name: t.name,
            start_ms: t.at.duration_since(self.started).as_millis() as u64,
            ms: t.at.elapsed().as_millis() as u64,
            ok,
            detail,
        });
    }

    pub fn ok(&mut self, t: StepTimer, detail: Option<String>) {
        self.push_step(&t, true, detail);
    }

    /// End the step as failed and produce the failure for the caller to return.
    pub fn fail(
        &mut self,
        t: StepTimer,
        reason: Reason,
        detail: impl Into<String>,
        server_says: Option<String>,
    ) -> Failure {
        let detail = detail.into();
        self.push_step(&t, false, Some(detail.clone()));
        Failure {
            reason,
            step: t.name,
            detail,
            server_says,
        }
    }

    /// A connection-level error during a step.
    pub fn conn_fail(&mut self, t: StepTimer, e: ConnError) -> Failure {
        let reason = match &e {
            ConnError::Timeout { .. } => Reason::ProtocolTimeout,
            ConnError::Closed => Reason::ProtocolClosed,
            ConnError::LineTooLong { .. } => Reason::ProtocolLineTooLong,
            ConnError::SessionTooLarge { .. } => Reason::ProtocolTooMuchData,
            ConnError::Io { .. } => Reason::ProtocolClosed,
        };
        self.fail(t, reason, e.to_string(), None)
    }

    /// Record a failure that does not stop the session (e.g. an untrusted certificate: the
    /// session goes on to describe the server, but no credentials are sent).
    pub fn soft_fail(&mut self, f: Failure) {
        if self.report.failure.is_none() {
            self.report.failure = Some(f);
        }
    }

    pub fn finding(&mut self, f: Finding) {
        self.report.findings.push(f);
    }

    pub fn set_greeting(&mut self, g: &str) {
        self.report.greeting = Some(g.to_string());
    }

    pub fn set_caps_before_tls(&mut self, c: Capabilities) {
        self.report.capabilities_before_tls = Some(c);
    }

    pub fn set_caps(&mut self, c: Capabilities) {
        self.report.capabilities = Some(c);
    }

    pub fn set_auth(&mut self, a: AuthOutcome) {
        self.report.auth = a;
    }

    /// Record TLS facts and, if the certificate fails verification, the (soft) failure.
    pub fn record_tls(
        &mut self,
        t: StepTimer,
        facts: Option<TlsFacts>,
        result: Result<(), TlsError>,
    ) -> Result<(), Failure> {
        match result {
            Err(e) => Err(self.tls_failure(t, facts, e)),
            Ok(()) => {
                self.report.tls = facts;
                let verdict = self
                    .report
                    .tls
                    .as_ref()
                    .map(|f| f.verification.clone())
                    .unwrap_or(CertVerdict::NotChecked);
                let summary = self.report.tls.as_ref().map(|f| {
                    format!(
                        "{} {} certificate {}",
                        f.version,
                        f.cipher_suite,
                        verdict.code()
                    )
                });
                if let (Some((name, records)), Some(f)) = (&self.tlsa, self.report.tls.as_mut()) {
                    crate::net::dane::judge(f, name, records, &self.report.target.tls_name);
                }
                let dane = self.report.tls.as_ref().and_then(|f| f.dane.clone());
                if let Some(d) = dane.as_ref().filter(|d| d.is_mismatch()) {
                    // The domain's own signed word against this certificate: an impostor as
                    // far as anyone can tell, whatever the public CAs say.
                    let detail = format!("{} record(s) at {}", d.records, d.tlsa_name);
                    let f = self.fail(t, Reason::TlsDaneMismatch, detail, None);
                    self.soft_fail(f);
                } else if dane.as_ref().is_some_and(|d| d.authenticates()) {
                    let summary = summary.map(|s| {
                        format!(
                            "{s}, DANE match at {}",
                            dane.as_ref().map_or("", |d| d.tlsa_name.as_str())
                        )
                    });
                    self.ok(t, summary);
                } else if verdict.is_trusted() {
                    self.ok(t, summary);
                } else {
                    let reason = cert_reason(&verdict);
                    let detail = describe_verdict(&verdict);
                    // The handshake itself worked: the step is recorded as failed for the
                    // certificate, but the session continues to describe the server.
                    let f = self.fail(t, reason, detail, None);
                    self.soft_fail(f);
                }
                Ok(())
            }
        }
    }

    /// A TLS handshake that failed: its facts (what was seen of the server) and the failure.
    pub fn tls_failure(&mut self, t: StepTimer, facts: Option<TlsFacts>, e: TlsError) -> Failure {
        self.report.tls = facts;
        let reason = match &e {
            TlsError::Timeout => Reason::TlsTimeout,
            TlsError::ProtocolVersion { .. } => Reason::TlsProtocolTooOld,
            TlsError::Alert { .. } => Reason::TlsHandshakeFailed,
            TlsError::NotTls { .. } => Reason::TlsPlaintextServer,
            TlsError::Closed | TlsError::Io { .. } => Reason::TlsClosed,
            TlsError::Reset => Reason::TlsReset,
            TlsError::Other { .. } => Reason::TlsHandshakeFailed,
        };
        let server_says = match &e {
            TlsError::NotTls { first_bytes } => Some(first_bytes.clone()),
            // The alert is the server's own word on why the handshake failed.
            TlsError::Alert { alert } => Some(alert.clone()),
            _ => None,
        };
        self.fail(t, reason, e.to_string(), server_says)
    }

    /// May credentials be sent on this connection now?
    pub fn credentials_allowed(
        &self,
        conn: &Connection,
        policy: &Policy,
    ) -> Result<(), NotAttempted> {
        if !conn.is_tls() {
            // Never on a plain-text connection; the drivers only reach auth after TLS.
            return Err(NotAttempted::EarlierFailure);
        }
        let trusted = self
            .report
            .tls
            .as_ref()
            .is_some_and(crate::net::dane::trusted);
        if !trusted && !policy.insecure {
            return Err(NotAttempted::CertificateNotTrusted);
        }
        Ok(())
    }

    fn finish(mut self, failure: Option<Failure>, trace: bool) -> ProbeReport {
        let transcript = match (&self.transcript, trace) {
            (Some(t), true) => Some(t.lock().unwrap_or_else(|e| e.into_inner()).take_lines()),
            // Asked for, but no session began (the connect failed): an empty transcript says
            // so, where a missing one would say --trace was not given.
            (None, true) => Some(vec![]),
            (_, false) => None,
        };
        if let Some(f) = failure {
            // A hard failure after a soft one: the soft one came first and stays the reason.
            self.soft_fail(f);
        }
        self.report.elapsed_ms = self.started.elapsed().as_millis() as u64;
        self.report.transcript = transcript;
        self.report
    }
}

/// A duration as the user would have written it: "2 s", "1.5 s", "500 ms".
/// A duration as the probe's and the round trip's messages quote it: "800 ms", "2 s", "2.5 s".
pub(crate) fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

pub(crate) fn cert_reason(v: &CertVerdict) -> Reason {
    match v {
        CertVerdict::Valid => Reason::Internal,
        CertVerdict::Expired { .. } => Reason::TlsCertExpired,
        CertVerdict::NotYetValid { .. } => Reason::TlsCertNotYetValid,
        CertVerdict::NameMismatch { .. } => Reason::TlsCertNameMismatch,
        CertVerdict::SelfSigned => Reason::TlsCertSelfSigned,
        CertVerdict::UnknownIssuer => Reason::TlsCertUnknownIssuer,
        CertVerdict::Revoked => Reason::TlsCertRevoked,
        CertVerdict::Invalid { .. } | CertVerdict::NotChecked => Reason::TlsCertInvalid,
    }
}

fn describe_verdict(v: &CertVerdict) -> String {
    match v {
        CertVerdict::Expired { not_after } => format!("certificate expired on {not_after}"),
        CertVerdict::NotYetValid { not_before } => {
            format!("certificate not valid before {not_before}")
        }
        CertVerdict::NameMismatch {
            expected,
            presented,
        } => format!(
            "certificate is not valid for {expected}; it names {}",
            if presented.is_empty() {
                "no host".to_string()
            } else {
                presented.join(", ")
            }
        ),
        CertVerdict::SelfSigned => "certificate is self-signed".into(),
        CertVerdict::UnknownIssuer => "certificate issued by an unknown authority".into(),
        CertVerdict::Revoked => "certificate revoked".into(),
        CertVerdict::Invalid { detail } => format!("certificate invalid: {detail}"),
        CertVerdict::NotChecked => "no certificate was presented".into(),
        CertVerdict::Valid => "certificate valid".into(),
    }
}

/// Is `peer` a TLS server? A new connection and a real handshake: a negotiated session, a TLS
/// alert or a certificate say yes. Asked of a plain-text port that never greeted, since a TLS
/// server waits for the client to speak first.
async fn speaks_tls(
    ctx: &ProbeContext,
    target: &Target,
    peer: SocketAddr,
    budget: Duration,
) -> bool {
    let connect = ctx.policy.limits.connect_timeout.min(budget);
    let Ok(Ok(stream)) = tokio::time::timeout(connect, tokio::net::TcpStream::connect(peer)).await
    else {
        return false;
    };
    let hs = tls::handshake(&ctx.trust, stream, &target.tls_name, budget).await;
    match &hs.result {
        Ok(_) | Err(TlsError::Alert { .. }) | Err(TlsError::ProtocolVersion { .. }) => true,
        Err(_) => hs.facts.is_some(),
    }
}

/// Probe one target from connect to logout. Bounded by the target deadline twice over: every
/// wait inside is capped by it, and a backstop timeout guards against a missed one.
pub async fn probe_target(ctx: &ProbeContext, target: Target) -> ProbeReport {
    let mut rec = Recorder::new(target, &ctx.policy);
    let backstop = ctx.policy.limits.target_timeout + Duration::from_secs(2);
    let mut conn_slot: Option<Connection> = None;
    let outcome = tokio::time::timeout(backstop, drive(ctx, &mut rec, &mut conn_slot)).await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(_) => {
            let t = rec.start(StepName::Connect);
            Some(rec.fail(
                t,
                Reason::ProtocolTimeout,
                // The user's deadline, not the backstop's margin over it.
                format!(
                    "the probe exceeded its deadline of {}",
                    seconds(rec.deadline_span())
                ),
                None,
            ))
        }
    };
    if let Some(c) = conn_slot.as_mut() {
        c.shutdown().await;
    }
    let deadline = rec.deadline;
    let mut report = rec.finish(failure, ctx.policy.trace);
    // What is left of this target's deadline bounds the follow-up checks below.
    let budget = ctx
        .policy
        .limits
        .step_timeout
        .min(deadline.saturating_duration_since(Instant::now()))
        .max(Duration::from_millis(100));
    // The modern handshake failed for want of shared settings (from the first byte, or after
    // STARTTLS): what would a client that still accepts legacy TLS get? Not when rustls and the
    // server had agreed on a version and suite and the handshake failed later (a 1024-bit RSA
    // key's signature): the server's choice from a legacy offer would say nothing true then.
    let agreed = report.tls.as_ref().is_some_and(|t| t.agreed());
    let no_shared_settings = !agreed
        && report.failure.as_ref().is_some_and(|f| {
            f.step == StepName::Tls
                && matches!(
                    f.reason,
                    Reason::TlsHandshakeFailed | Reason::TlsProtocolTooOld
                )
        });
    if let (true, Some(peer)) = (no_shared_settings, report.peer) {
        let chosen = match report.target.combination.security {
            Security::Tls => {
                let sni = legacy_sni(&report.target);
                legacy_tls::offer_legacy(peer, sni.as_deref(), budget)
                    .await
                    .ok()
            }
            Security::Starttls => legacy_starttls(ctx, &report.target, peer, budget).await,
        };
        if let Some(chosen) = chosen {
            legacy_only(&mut report, chosen);
        }
    }
    // Once a TLS handshake completed on an implicit-TLS port, ask (if asked to) whether
    // TLS 1.0/1.1 would be taken too.
    let handshake_failed = report.failure.as_ref().is_some_and(|f| {
        matches!(
            f.reason,
            Reason::TlsTimeout
                | Reason::TlsClosed
                | Reason::TlsReset
                | Reason::TlsHandshakeFailed
                | Reason::TlsProtocolTooOld
                | Reason::TlsLegacyOnly
                | Reason::TlsPlaintextServer
        )
    });
    let negotiated = !handshake_failed
        && report
            .tls
            .as_ref()
            .is_some_and(|t| t.version.starts_with("TLSv1."));
    if let (true, Security::Tls, true, Some(peer)) = (
        ctx.policy.check_legacy_tls,
        report.target.combination.security,
        negotiated,
        report.peer,
    ) {
        let sni = report.tls.as_ref().and_then(|t| t.sni.clone());
        report.legacy_tls = Some(legacy_tls::check(peer, sni.as_deref(), budget).await);
    }
    report
}

/// The SNI of a legacy ClientHello: the TLS name when it is a DNS name (none for an address).
fn legacy_sni(target: &Target) -> Option<String> {
    match tls::server_name(&target.tls_name) {
        Ok(rustls_pki_types::ServerName::DnsName(d)) => Some(d.as_ref().to_string()),
        _ => None,
    }
}

/// The legacy re-probe of a STARTTLS port whose modern handshake failed: a new session to the
/// same address, the same greeting, capabilities and STARTTLS as the probe's, then the legacy
/// ClientHello on the go-ahead (the session stops there: no credential is sent). Bounded by
/// `budget`; `None` when the server chose nothing mailcheck can name.
async fn legacy_starttls(
    ctx: &ProbeContext,
    target: &Target,
    peer: SocketAddr,
    budget: Duration,
) -> Option<LegacyHandshake> {
    let mut rec = Recorder::until(target.at(peer.ip()), Instant::now() + budget);
    rec.legacy_hello = true;
    let session = tokio::time::timeout(budget, open_session(ctx, &mut rec)).await;
    if let Ok(Ok(mut conn)) = session {
        conn.shutdown().await;
    }
    rec.report.legacy_handshake.take()
}

/// With [`Recorder::legacy_hello`], the STARTTLS upgrade: the legacy ClientHello on the plain
/// stream and what the server chose, kept in the report. Always a failure: the session ends.
pub(crate) async fn legacy_after_starttls(
    rec: &mut Recorder,
    t: StepTimer,
    conn: &mut Connection,
) -> Failure {
    let sni = legacy_sni(rec.target());
    let budget = conn.wait_budget();
    let answer = match conn.take_plain() {
        Some(tcp) => legacy_tls::offer_legacy_on(tcp, sni.as_deref(), budget).await,
        None => Err("not a plain-text connection".into()),
    };
    match answer {
        Ok(chosen) => {
            rec.report.legacy_handshake = Some(chosen);
            rec.fail(
                t,
                Reason::TlsLegacyOnly,
                "legacy ClientHello answered",
                None,
            )
        }
        Err(e) => rec.fail(t, Reason::TlsHandshakeFailed, e, None),
    }
}

/// The server answered a legacy ClientHello: the combination connects for clients that still
/// accept legacy TLS, is weak, and its login was not verified (no TLS engine here completes
/// such a handshake). The failure says so, a finding carries the parameters.
fn legacy_only(report: &mut ProbeReport, chosen: LegacyHandshake) {
    let Some(f) = report.failure.as_mut() else {
        return;
    };
    let was = std::mem::take(&mut f.detail);
    f.reason = Reason::TlsLegacyOnly;
    f.detail = format!(
        "the server chose {}, {}, {} key exchange (modern handshake: {was})",
        chosen.version, chosen.cipher_suite, chosen.key_exchange
    );
    // Thunderbird (NSS) and Windows 11's Schannel no longer offer TLS 1.0/1.1 by default;
    // TLS 1.2 with RSA key exchange and CBC is still in their default lists, and OpenSSL's.
    let clients = if chosen.version == "TLSv1.2" {
        "tls12"
    } else {
        "old"
    };
    report.findings.push(Finding::new(
        crate::outcome::FindingCode::TlsLegacyOnly,
        crate::outcome::Severity::Warning,
        crate::params![
            ("version", chosen.version.as_str()),
            ("cipher_suite", chosen.cipher_suite.as_str()),
            ("key_exchange", chosen.key_exchange.as_str()),
            ("weaknesses", chosen.weaknesses.join(", ")),
            ("clients", clients),
        ],
    ));
    report.legacy_handshake = Some(chosen);
}

/// One connect attempt as the transcript tells it.
fn attempt_note(a: &Attempt) -> String {
    use connect::AttemptOutcome as O;
    match &a.outcome {
        O::Connected => format!("connected to {}", a.address),
        O::Refused => format!("connecting to {}: refused", a.address),
        O::TimedOut => format!("connecting to {}: no answer", a.address),
        O::Unreachable { detail } | O::Failed { detail } => {
            format!("connecting to {}: {detail}", a.address)
        }
    }
}

async fn drive(
    ctx: &ProbeContext,
    rec: &mut Recorder,
    slot: &mut Option<Connection>,
) -> Result<(), Failure> {
    let conn = slot.insert(connect(ctx, rec).await?);
    match rec.target().combination.protocol {
        Protocol::Imap => imap::run(ctx, rec, slot).await,
        Protocol::Pop3 => pop3::run(ctx, rec, conn).await,
        Protocol::Smtp => smtp::run(ctx, rec, conn).await,
    }
}

/// A session ready for the login, for the round trip: [`connect`], then the greeting and, on
/// a STARTTLS port, the upgrade, exactly as the probe runs them. Whether credentials may go
/// on it is the caller's to judge from `rec` (certificate verdict, injected bytes).
pub(crate) async fn open_session(
    ctx: &ProbeContext,
    rec: &mut Recorder,
) -> Result<Connection, Failure> {
    let mut conn = connect(ctx, rec).await?;
    match rec.target().combination.protocol {
        Protocol::Imap => imap::open(ctx, rec, &mut conn).await.map(drop)?,
        Protocol::Pop3 => pop3::open(ctx, rec, &mut conn).await?,
        Protocol::Smtp => smtp::open(ctx, rec, &mut conn).await?,
    }
    Ok(conn)
}

/// The connection layer every session runs on: the policy's resolver, `-4/-6`, the target's
/// `--connect-to` mapping, the connect timeout, implicit TLS with the run's trust, and the
/// bounded, redacted connection with the credential's secret registered.
async fn connect(ctx: &ProbeContext, rec: &mut Recorder) -> Result<Connection, Failure> {
    let target = rec.target().clone();
    let limits = &ctx.policy.limits;
    let t = rec.start(StepName::Connect);
    // `--each-address`: this target's one address, not the first of the host's that connects.
    let connect_host = target
        .address
        .map_or_else(|| target.connect_host.clone(), |a| a.to_string());
    // DANE (RFC 7673): the TLSA records of the host the user named, asked while connecting.
    // Not for a `--connect-to` redirect, whose DNS is not the one that matters.
    let redirected =
        target.connect_host != target.host || target.connect_port != target.combination.port;
    let tlsa = async {
        if redirected || rec.tlsa.is_some() {
            return None;
        }
        tokio::time::timeout(
            limits.connect_timeout,
            crate::net::dane::lookup(&ctx.policy.resolver, &target.host, target.combination.port),
        )
        .await
        .ok()
        .flatten()
    };
    let (connected, tlsa) = tokio::join!(
        connect::connect_via(
            &ctx.policy.resolver,
            &connect_host,
            target.connect_port,
            ctx.policy.family,
            limits.connect_timeout,
            Some(rec.deadline),
        ),
        tlsa
    );
    if tlsa.is_some() {
        rec.tlsa = tlsa;
    }
    let connected = match connected {
        Ok(c) => c,
        Err(f) => {
            rec.report.attempts = f.attempts;
            let deadline = format!(
                "the probe's deadline of {} passed while connecting",
                seconds(rec.deadline_span())
            );
            let (reason, detail) = match &f.error {
                ConnectError::Resolve { .. } | ConnectError::DnsFailed { .. }
                    if f.deadline_passed =>
                {
                    (Reason::ConnectTimeout, deadline)
                }
                ConnectError::Resolve { detail } => (Reason::DnsNoSuchHost, detail.clone()),
                ConnectError::DnsFailed { detail } => (Reason::DnsFailed, detail.clone()),
                ConnectError::NoAddress => (
                    Reason::DnsNoAddress,
                    format!(
                        "{} has no address of the requested family",
                        target.connect_host
                    ),
                ),
                ConnectError::Refused => (Reason::ConnectRefused, "connection refused".into()),
                ConnectError::TimedOut if f.deadline_passed => (Reason::ConnectTimeout, deadline),
                ConnectError::TimedOut => (
                    Reason::ConnectTimeout,
                    format!("no answer within {} ms", limits.connect_timeout.as_millis()),
                ),
                ConnectError::Unreachable { detail } => {
                    (Reason::ConnectUnreachable, detail.clone())
                }
                ConnectError::Failed { detail } => (Reason::ConnectFailed, detail.clone()),
            };
            return Err(rec.fail(t, reason, detail, None));
        }
    };
    // The transcript (made once the session begins) notes the connect and an implicit-TLS
    // handshake at the times they happened.
    let mut notes: Vec<(Instant, String)> = vec![];
    let mut at = t.at;
    for a in &connected.attempts {
        at += Duration::from_millis(a.ms);
        notes.push((at, attempt_note(a)));
    }
    rec.report.attempts = connected.attempts;
    rec.report.peer = Some(connected.peer);
    rec.ok(t, Some(connected.peer.to_string()));

    let stream = match target.combination.security {
        Security::Starttls => Stream::Plain(connected.stream),
        Security::Tls => {
            let t = rec.start(StepName::Tls);
            let budget = limits
                .step_timeout
                .min(rec.deadline.saturating_duration_since(Instant::now()));
            let hs = tls::handshake(&ctx.trust, connected.stream, &target.tls_name, budget).await;
            match hs.result {
                Ok(s) => {
                    rec.record_tls(t, hs.facts, Ok(()))?;
                    notes.push((Instant::now(), "TLS handshake complete".into()));
                    Stream::Tls(Box::new(s))
                }
                Err(e) => return Err(rec.tls_failure(t, hs.facts, e)),
            }
        }
    };
    let mut conn =
        Connection::new(stream, limits, rec.deadline, ctx.policy.trace).with_origin(rec.started);
    for (at, text) in &notes {
        conn.note_at(*at, text);
    }
    rec.transcript = Some(conn.transcript());
    if let Some(c) = &ctx.credential {
        conn.add_secret(c.secret().expose());
    }
    Ok(conn)
}
