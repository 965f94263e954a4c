//! From probe reports to answers: one stable reason code per failure, the verdict of each
//! combination, findings, the recommended settings per direction, and the exit code.

use serde::Serialize;

use crate::plan::{Direction, Protocol, Security};
use crate::probe::{AuthOutcome, ProbeReport};

/// Every failure a probe can meet. The code (`Reason::code`) is the stable contract for
/// scripts; the enum is the one place the catalogue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Reason {
    DnsNoSuchHost,
    DnsNoAddress,
    ConnectRefused,
    ConnectTimeout,
    ConnectUnreachable,
    ConnectFailed,
    TlsCertExpired,
    TlsCertNotYetValid,
    TlsCertNameMismatch,
    TlsCertUnknownIssuer,
    TlsCertSelfSigned,
    TlsCertRevoked,
    TlsCertInvalid,
    TlsHandshakeFailed,
    TlsProtocolTooOld,
    TlsPlaintextServer,
    TlsTimeout,
    TlsClosed,
    ProtocolTimeout,
    ProtocolClosed,
    ProtocolLineTooLong,
    ProtocolTooMuchData,
    ProtocolWrongProtocol,
    ProtocolTlsServer,
    ProtocolBusy,
    ProtocolUnexpected,
    StarttlsNotOffered,
    StarttlsRefused,
    StarttlsInjection,
    AuthRejected,
    AuthMechanismNotOffered,
    AuthLoginDisabled,
    AuthOauth2Required,
    AuthAccountLocked,
    AuthAppPasswordRequired,
    AuthTemporaryFailure,
    Internal,
    RoundtripNotRun,
    RoundtripSubmissionFailed,
    RoundtripSubmissionRefused,
    RoundtripNotDelivered,
    RoundtripMailboxFailed,
}

impl Reason {
    pub const ALL: [Reason; 42] = [
        Reason::DnsNoSuchHost,
        Reason::DnsNoAddress,
        Reason::ConnectRefused,
        Reason::ConnectTimeout,
        Reason::ConnectUnreachable,
        Reason::ConnectFailed,
        Reason::TlsCertExpired,
        Reason::TlsCertNotYetValid,
        Reason::TlsCertNameMismatch,
        Reason::TlsCertUnknownIssuer,
        Reason::TlsCertSelfSigned,
        Reason::TlsCertRevoked,
        Reason::TlsCertInvalid,
        Reason::TlsHandshakeFailed,
        Reason::TlsProtocolTooOld,
        Reason::TlsPlaintextServer,
        Reason::TlsTimeout,
        Reason::TlsClosed,
        Reason::ProtocolTimeout,
        Reason::ProtocolClosed,
        Reason::ProtocolLineTooLong,
        Reason::ProtocolTooMuchData,
        Reason::ProtocolWrongProtocol,
        Reason::ProtocolTlsServer,
        Reason::ProtocolBusy,
        Reason::ProtocolUnexpected,
        Reason::StarttlsNotOffered,
        Reason::StarttlsRefused,
        Reason::StarttlsInjection,
        Reason::AuthRejected,
        Reason::AuthMechanismNotOffered,
        Reason::AuthLoginDisabled,
        Reason::AuthOauth2Required,
        Reason::AuthAccountLocked,
        Reason::AuthAppPasswordRequired,
        Reason::AuthTemporaryFailure,
        Reason::Internal,
        Reason::RoundtripNotRun,
        Reason::RoundtripSubmissionFailed,
        Reason::RoundtripSubmissionRefused,
        Reason::RoundtripNotDelivered,
        Reason::RoundtripMailboxFailed,
    ];

    /// (code, cause, hint). The hint is what a helpdesk can read aloud.
    fn entry(self) -> (&'static str, &'static str, &'static str) {
        use Reason::*;
        match self {
            DnsNoSuchHost => ("dns.no-such-host", "the server name does not exist in DNS", "check the spelling of the server name"),
            DnsNoAddress => ("dns.no-address", "the server name has no address of the requested IP family", "try without -4/-6, or check the server's DNS records"),
            ConnectRefused => ("connect.refused", "nothing listens on this port (connection refused)", "this port is closed on the server; use another documented port"),
            ConnectTimeout => ("connect.timeout", "no answer to the connection attempt", "a firewall or the network blocks this port; try the other port"),
            ConnectUnreachable => ("connect.unreachable", "the network cannot reach the server", "check the network connection and routes"),
            ConnectFailed => ("connect.failed", "the connection could not be made", "retry; if it persists, check the network"),
            TlsCertExpired => ("tls.cert-expired", "the server's certificate has expired", "the provider must renew its certificate; do not accept it in the mail client"),
            TlsCertNotYetValid => ("tls.cert-not-yet-valid", "the server's certificate is not valid yet", "check this computer's date and time; otherwise the provider installed a certificate too early"),
            TlsCertNameMismatch => ("tls.cert-name-mismatch", "the certificate does not carry the server name used", "use one of the names the certificate presents as server name"),
            TlsCertUnknownIssuer => ("tls.cert-unknown-issuer", "the certificate was issued by an authority this system does not trust", "use the provider's documented server name; a private CA needs --ca-file"),
            TlsCertSelfSigned => ("tls.cert-self-signed", "the certificate is self-signed", "the provider must install a certificate from a public authority"),
            TlsCertRevoked => ("tls.cert-revoked", "the certificate has been revoked", "the provider must replace its certificate"),
            TlsCertInvalid => ("tls.cert-invalid", "the certificate is invalid", "the provider must fix its certificate"),
            TlsHandshakeFailed => ("tls.handshake-failed", "the TLS handshake failed", "the server and mailcheck share no TLS settings; see the alert"),
            TlsProtocolTooOld => ("tls.protocol-too-old", "the server only speaks an obsolete TLS version (1.0/1.1 or SSL)", "the provider must enable TLS 1.2 or newer"),
            TlsPlaintextServer => ("tls.plaintext-server", "a plain-text server answers on this TLS port", "choose STARTTLS for this port, or the implicit-TLS port"),
            TlsTimeout => ("tls.timeout", "the TLS handshake did not finish in time", "the server or the network stalls; retry, then try the other port"),
            TlsClosed => ("tls.closed", "the server closed the connection during the TLS handshake", "the server refuses TLS on this port; try the other port"),
            ProtocolTimeout => ("protocol.timeout", "the server stopped answering", "the server is overloaded or a middlebox stalls the connection; try the other port"),
            ProtocolClosed => ("protocol.closed", "the server closed the connection", "the server refused the session; see what it said"),
            ProtocolLineTooLong => ("protocol.line-too-long", "the server sent an overlong line", "this port does not behave like a mail server"),
            ProtocolTooMuchData => ("protocol.too-much-data", "the server sent far more data than a mail session needs", "this port does not behave like a mail server"),
            ProtocolWrongProtocol => ("protocol.wrong-protocol", "the greeting is not of this protocol", "wrong protocol on this port: check the port number"),
            ProtocolTlsServer => ("protocol.tls-server", "a TLS server answers on this plain-text port", "choose SSL/TLS for this port"),
            ProtocolBusy => ("protocol.busy", "the server refuses service for now (busy or closing)", "retry later; if it persists, the provider has a problem"),
            ProtocolUnexpected => ("protocol.unexpected", "the server answered something unexpected", "see the server's words and the transcript (--trace)"),
            StarttlsNotOffered => ("starttls.not-offered", "the server does not offer STARTTLS on this port", "use the implicit-TLS port; never send a password here"),
            StarttlsRefused => ("starttls.refused", "the server refused STARTTLS", "use the implicit-TLS port"),
            StarttlsInjection => ("starttls.injection", "the server sent data between the STARTTLS go-ahead and the handshake", "a man in the middle or a buggy server could inject responses; prefer the implicit-TLS port and report it to the provider"),
            AuthRejected => ("auth.rejected", "the server rejected the username or password", "check the username (often the full address) and the password"),
            AuthMechanismNotOffered => ("auth.mechanism-not-offered", "the server offers no login method mailcheck can use with this credential", "see the mechanisms the server lists"),
            AuthLoginDisabled => ("auth.login-disabled", "the server disables login on this connection", "log in only after TLS, or on the implicit-TLS port"),
            AuthOauth2Required => ("auth.oauth2-required", "the server accepts only OAuth2 (modern authentication), not a password", "use a mail client that supports OAuth2 sign-in, or ask the administrator"),
            AuthAccountLocked => ("auth.account-locked", "the account is locked or has had too many attempts", "wait, then sign in through the provider's webmail to unlock it"),
            AuthAppPasswordRequired => ("auth.app-password-required", "the provider requires an app password", "create an app password in the account's security settings"),
            AuthTemporaryFailure => ("auth.temporary-failure", "the server could not check the credentials for now", "retry later"),
            Internal => ("internal", "mailcheck met an internal error", "please report this"),
            RoundtripNotRun => ("roundtrip.not-run", "the round trip could not start: no outgoing or no incoming setting with a verified login", "fix the failing settings above first"),
            RoundtripSubmissionFailed => ("roundtrip.submission-failed", "the test message could not be handed to the outgoing server (connection, TLS or timeout)", "retry; if it persists, the outgoing server has a problem"),
            RoundtripSubmissionRefused => ("roundtrip.submission-refused", "the outgoing server refused the test message", "see what the server said: its policy refuses this sender, recipient or message"),
            RoundtripNotDelivered => ("roundtrip.not-delivered", "the outgoing server accepted the test message, but it did not arrive in the mailbox in time", "mail is delayed, held, filtered or lost between the servers: check the spam folder, retry with a longer --round-trip-timeout, then ask the provider"),
            RoundtripMailboxFailed => ("roundtrip.mailbox-failed", "the mailbox could not be read to look for the test message", "the login works but reading the inbox does not: see the detail and ask the provider"),
        }
    }

    pub fn code(self) -> &'static str {
        self.entry().0
    }
    pub fn cause(self) -> &'static str {
        self.entry().1
    }
    pub fn hint(self) -> &'static str {
        self.entry().2
    }

    /// Failures that mean the server judged the credential itself: no other combination on
    /// the same server may try it again in this run.
    pub fn is_credential_verdict(self) -> bool {
        matches!(
            self,
            Reason::AuthRejected
                | Reason::AuthOauth2Required
                | Reason::AuthAccountLocked
                | Reason::AuthAppPasswordRequired
        )
    }
}

impl From<Reason> for &'static str {
    fn from(r: Reason) -> &'static str {
        r.code()
    }
}

/// Classify a login refusal from the server's own words and codes (IMAP response code,
/// POP3 extended code, SMTP enhanced status code).
pub fn classify_auth_refusal(code: Option<&str>, enhanced: Option<&str>, text: &str) -> Reason {
    let t = text.to_ascii_lowercase();
    let code = code.map(|c| c.to_ascii_uppercase());
    if enhanced == Some("5.7.139")
        || t.contains("basic authentication is disabled")
        || t.contains("oauth")
        || t.contains("modern authentication")
    {
        return Reason::AuthOauth2Required;
    }
    if enhanced == Some("5.7.9")
        || t.contains("application-specific password")
        || t.contains("app password")
    {
        return Reason::AuthAppPasswordRequired;
    }
    if t.contains("locked")
        || t.contains("too many")
        || code.as_deref() == Some("LIMIT")
        || t.contains("temporarily blocked")
    {
        return Reason::AuthAccountLocked;
    }
    if matches!(code.as_deref(), Some("UNAVAILABLE") | Some("SYS/TEMP"))
        || enhanced.is_some_and(|e| e.starts_with("4."))
        // SMTP passes its reply code: 4xx is transient by definition (RFC 5321 §4.2.1).
        || code.as_deref().is_some_and(|c| c.len() == 3 && c.starts_with('4'))
    {
        return Reason::AuthTemporaryFailure;
    }
    Reason::AuthRejected
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Works,
    WorksWithWarnings,
    Fails,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::WorksWithWarnings => "works (warnings)",
            Verdict::Fails => "fails",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// Something worth knowing beyond pass/fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// Days before expiry from which a certificate is a warning.
pub const DEFAULT_CERT_WARN_DAYS: i64 = 21;

/// The verdict of one combination and the findings that qualify it.
pub fn judge(report: &ProbeReport, cert_warn_days: i64) -> (Verdict, Vec<Finding>) {
    let mut findings = report.findings.clone();
    if let Some(cert) = report.tls.as_ref().and_then(|t| t.certificate.as_ref()) {
        if cert.days_left >= 0 && cert.days_left < cert_warn_days {
            findings.push(Finding {
                code: "tls.cert-expiring",
                severity: Severity::Warning,
                message: format!(
                    "the certificate expires in {} day(s), on {}",
                    cert.days_left, cert.not_after
                ),
            });
        }
    }
    let verdict = if report.failure.is_some() {
        Verdict::Fails
    } else if findings.iter().any(|f| f.severity >= Severity::Warning) {
        Verdict::WorksWithWarnings
    } else {
        Verdict::Works
    };
    (verdict, findings)
}

/// The setting to give the user for one direction: the best working combination, RFC 8314
/// order (implicit TLS before STARTTLS; IMAP before POP3 for incoming).
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub direction: Direction,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub verdict: Verdict,
    /// Login was proven on this combination (false when no credential was given).
    pub login_verified: bool,
}

pub fn recommend(
    reports: &[(ProbeReport, Verdict)],
    direction: Direction,
) -> Option<Recommendation> {
    let rank = |r: &ProbeReport| {
        let c = r.target.combination;
        let proto = match c.protocol {
            Protocol::Imap => 0,
            Protocol::Pop3 => 1,
            Protocol::Smtp => 0,
        };
        let sec = match c.security {
            Security::Tls => 0,
            Security::Starttls => 1,
        };
        (proto, sec)
    };
    reports
        .iter()
        .filter(|(r, v)| {
            r.target.combination.protocol.direction() == direction && *v != Verdict::Fails
        })
        .min_by_key(|(r, v)| (*v, rank(r)))
        .map(|(r, v)| Recommendation {
            direction,
            protocol: r.target.combination.protocol,
            host: r.target.host.clone(),
            port: r.target.combination.port,
            security: r.target.combination.security,
            username: r.target.username.clone(),
            verdict: *v,
            login_verified: matches!(r.auth, AuthOutcome::Succeeded { .. }),
        })
}

/// Exit codes, Nagios convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// 0: a secure incoming and a secure outgoing combination work.
    Ok,
    /// 1: usable, but with warnings.
    Warning,
    /// 2: no secure incoming or no secure outgoing combination works, or the credential was rejected.
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
}

/// Overall status of a run over the directions that were probed.
pub fn overall(reports: &[(ProbeReport, Verdict)], recs: &[Option<Recommendation>]) -> Status {
    let rejected = reports.iter().any(|(r, _)| {
        r.failure
            .as_ref()
            .is_some_and(|f| f.reason.is_credential_verdict())
    });
    if reports.is_empty() || rejected || recs.iter().any(|r| r.is_none()) {
        return Status::Critical;
    }
    if recs
        .iter()
        .flatten()
        .any(|r| r.verdict == Verdict::WorksWithWarnings)
    {
        return Status::Warning;
    }
    Status::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate {}", r.code());
            assert!(r.code() == "internal" || r.code().contains('.'));
            assert!(!r.cause().is_empty() && !r.hint().is_empty());
        }
    }

    #[test]
    fn refusals_are_classified_from_server_words() {
        assert_eq!(
            classify_auth_refusal(
                None,
                Some("5.7.139"),
                "Authentication unsuccessful, basic authentication is disabled."
            ),
            Reason::AuthOauth2Required
        );
        assert_eq!(
            classify_auth_refusal(
                None,
                Some("5.7.9"),
                "Application-specific password required."
            ),
            Reason::AuthAppPasswordRequired
        );
        assert_eq!(
            classify_auth_refusal(Some("AUTHENTICATIONFAILED"), None, "Authentication failed."),
            Reason::AuthRejected
        );
        assert_eq!(
            classify_auth_refusal(Some("SYS/TEMP"), None, "Temporary authentication failure"),
            Reason::AuthTemporaryFailure
        );
        assert_eq!(
            classify_auth_refusal(Some("AUTH"), None, "Authentication failed."),
            Reason::AuthRejected
        );
    }
}
