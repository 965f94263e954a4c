//! The misconfigurations the lab can reproduce. Names are stable kebab-case strings: they are
//! typed on the command line (`mailcheck lab --scenario NAME`) and used by the tests.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Scenario {
    Good,
    CertExpired,
    CertNotYetValid,
    CertWrongName,
    CertSelfSigned,
    NoStarttls,
    StarttlsInjection,
    StarttlsInjectionLate,
    NoGreeting,
    WrongProtocol,
    Garbage,
    HugeLine,
    Slowloris,
    ResetInHandshake,
    TlsAlert,
    Tls10Only,
    CapsChangeAfterStarttls,
    EndlessAuth,
    AuthStall,
    Busy,
    AcceptAnyPassword,
    Oauth2Required,
    Oauth2Offered,
    Blackhole,
    CertInvalid,
    StarttlsRefused,
    CloseOnConnect,
    LoginDisabledAfterTls,
    AccountLocked,
    AppPasswordRequired,
    ProtocolDisabled,
    AuthTemporaryFailure,
    Flood,
    MailboxUnavailable,
    SubmissionDropped,
    CertRevoked,
    OcspRevokedStapled,
    HostileWords,
    ChainIncomplete,
    ChainWrongOrder,
    Tls12Only,
    OcspGoodStapled,
    OcspExpiredStapled,
    OcspBadSignature,
    MustStapleNoStaple,
}

impl Scenario {
    pub const ALL: [Scenario; 45] = [
        Scenario::Good,
        Scenario::CertExpired,
        Scenario::CertNotYetValid,
        Scenario::CertWrongName,
        Scenario::CertSelfSigned,
        Scenario::NoStarttls,
        Scenario::StarttlsInjection,
        Scenario::StarttlsInjectionLate,
        Scenario::NoGreeting,
        Scenario::WrongProtocol,
        Scenario::Garbage,
        Scenario::HugeLine,
        Scenario::Slowloris,
        Scenario::ResetInHandshake,
        Scenario::TlsAlert,
        Scenario::Tls10Only,
        Scenario::CapsChangeAfterStarttls,
        Scenario::EndlessAuth,
        Scenario::AuthStall,
        Scenario::Busy,
        Scenario::AcceptAnyPassword,
        Scenario::Oauth2Required,
        Scenario::Oauth2Offered,
        Scenario::Blackhole,
        Scenario::CertInvalid,
        Scenario::StarttlsRefused,
        Scenario::CloseOnConnect,
        Scenario::LoginDisabledAfterTls,
        Scenario::AccountLocked,
        Scenario::AppPasswordRequired,
        Scenario::ProtocolDisabled,
        Scenario::AuthTemporaryFailure,
        Scenario::Flood,
        Scenario::MailboxUnavailable,
        Scenario::SubmissionDropped,
        Scenario::CertRevoked,
        Scenario::OcspRevokedStapled,
        Scenario::HostileWords,
        Scenario::ChainIncomplete,
        Scenario::ChainWrongOrder,
        Scenario::Tls12Only,
        Scenario::OcspGoodStapled,
        Scenario::OcspExpiredStapled,
        Scenario::OcspBadSignature,
        Scenario::MustStapleNoStaple,
    ];

    /// (name, what the lab does).
    fn entry(self) -> (&'static str, &'static str) {
        use Scenario::*;
        match self {
            Good => ("good", "a correct server: TLS on 993/995/465, STARTTLS on 143/110/587, login with the lab user"),
            CertExpired => ("cert-expired", "the certificate expired yesterday"),
            CertNotYetValid => ("cert-not-yet-valid", "the certificate becomes valid tomorrow"),
            CertWrongName => ("cert-wrong-name", "the certificate names other.lab.test, not mail.lab.test"),
            CertSelfSigned => ("cert-self-signed", "a self-signed certificate, not issued by the lab CA"),
            NoStarttls => ("no-starttls", "the STARTTLS ports do not offer STARTTLS (and offer a plain-text login instead)"),
            StarttlsInjection => ("starttls-injection", "a response line is sent right after the STARTTLS go-ahead, before the handshake (CVE-2011-0411 class)"),
            StarttlsInjectionLate => ("starttls-injection-late", "the same response line, sent 50 ms after the go-ahead (a later TCP segment, once the client's handshake has begun)"),
            NoGreeting => ("no-greeting", "the server accepts the connection (and TLS) but never greets"),
            WrongProtocol => ("wrong-protocol", "each port greets in another protocol (SMTP on IMAP, IMAP on POP3, POP3 on SMTP)"),
            Garbage => ("garbage", "the greeting is binary garbage: NUL bytes, invalid UTF-8, terminal escapes"),
            HugeLine => ("huge-line", "the greeting is a 10 MB line without CRLF"),
            Slowloris => ("slowloris", "every byte the server sends comes one second after the previous one"),
            ResetInHandshake => ("reset-in-handshake", "the server sends half of its TLS handshake, then resets the connection"),
            TlsAlert => ("tls-alert", "the server answers the TLS ClientHello with a fatal handshake_failure alert"),
            Tls10Only => ("tls10-only", "the server answers the ClientHello with a TLS 1.0 ServerHello, as a server that only speaks TLS 1.0 does"),
            CapsChangeAfterStarttls => ("caps-change-after-starttls", "before STARTTLS the server offers AUTH PLAIN, after it only AUTH LOGIN (and refuses PLAIN)"),
            EndlessAuth => ("endless-auth", "AUTH is answered with continuation requests, forever (even after a cancel)"),
            AuthStall => ("auth-stall", "the server goes silent once the client starts to log in"),
            Busy => ("busy", "the server refuses service: SMTP 421, IMAP BYE, POP3 -ERR [SYS/TEMP]"),
            AcceptAnyPassword => ("accept-any-password", "any user name and password log in"),
            Oauth2Required => ("oauth2-required", "password logins are refused as Microsoft 365 does when basic authentication is disabled (only XOAUTH2 offered)"),
            Oauth2Offered => ("oauth2-offered", "passwords and XOAUTH2 are both offered, and every password is refused in Microsoft 365's ambiguous words (\"AUTHENTICATE failed.\", \"-ERR Logon failure\", 535 5.7.3), as when its tenant has disabled password login"),
            Blackhole => ("blackhole", "every port swallows connection attempts (full accept queue: SYNs are dropped)"),
            CertInvalid => ("cert-invalid", "the certificate is issued by the lab CA for mail.lab.test, but for client authentication only (extended key usage clientAuth, not serverAuth)"),
            StarttlsRefused => ("starttls-refused", "STARTTLS is offered, then refused as Postfix does when its TLS key is unusable (454 4.7.0 TLS not available due to local problem; IMAP NO, POP3 -ERR)"),
            CloseOnConnect => ("close-on-connect", "the server accepts the connection (and TLS), then closes it without a word, as a load balancer without a live backend does"),
            LoginDisabledAfterTls => ("login-disabled-after-tls", "a TLS proxy in front of a server that believes the connection is plain text: after TLS it still says LOGINDISABLED and refuses logins as insecure (Dovecot \"Plaintext authentication disallowed\", SMTP 538 5.7.11)"),
            AccountLocked => ("account-locked", "logins are refused as for a locked account: IMAP [AUTHENTICATIONFAILED] and POP3 [AUTH] \"too many login failures\", SMTP Google's 534 5.7.14 \"Please log in via your web browser\""),
            AppPasswordRequired => ("app-password-required", "logins are refused as Google does for an account with 2-step verification: \"Application-specific password required\" (IMAP [ALERT], POP3 -ERR, SMTP 534 5.7.9)"),
            ProtocolDisabled => ("protocol-disabled", "the account may not use the protocol: IMAP Microsoft's \"User is authenticated but not connected\", POP3 Gmail's \"not enabled for POP access\", SMTP Microsoft's 535 5.7.139 \"SmtpClientAuthentication is disabled\""),
            MailboxUnavailable => ("mailbox-unavailable", "logins work, but the mailbox cannot be opened: IMAP SELECT/EXAMINE and POP3 STAT/UIDL answer Dovecot's \"Internal error occurred\" (a broken mail store)"),
            SubmissionDropped => ("submission-dropped", "logins work and the IMAP inbox opens (empty), but the SMTP server drops the connection at MAIL FROM without a reply (a crashing submission process, an interfering proxy)"),
            Flood => ("flood", "line after line without end, each under the line limit (SMTP as its greeting, IMAP and POP3 as the answer to the first command), like a chargen service"),
            OcspRevokedStapled => ("ocsp-revoked-stapled", "a certificate the client trusts, with a stapled OCSP response that says it is revoked"),
            CertRevoked => ("cert-revoked", "the certificate is issued by the lab CA for mail.lab.test and revoked by the CA's CRL (written next to the CA, given with --crl-file)"),
            ChainIncomplete => ("chain-incomplete", "the certificate is issued by an intermediate of the lab CA, which the server does not send"),
            ChainWrongOrder => ("chain-wrong-order", "the certificate is issued through two intermediates (lab CA, A, B), sent out of order: the certificate, A, then B"),
            Tls12Only => ("tls12-only", "a correct server that speaks TLS 1.2 only (ECDHE, AES-GCM), not TLS 1.3"),
            OcspGoodStapled => ("ocsp-good-stapled", "a certificate the client trusts, with a stapled OCSP response signed by the lab CA that says it is good"),
            OcspExpiredStapled => ("ocsp-expired-stapled", "a certificate the client trusts, with a stapled \"good\" OCSP response whose validity ended two days ago"),
            OcspBadSignature => ("ocsp-bad-signature", "a certificate the client trusts, with a stapled \"good\" OCSP response signed by a key that is not the lab CA's"),
            MustStapleNoStaple => ("must-staple-no-staple", "a certificate with the must-staple extension (TLS feature status_request), and no stapled OCSP response"),
            HostileWords => ("hostile-words", "the greeting and the login refusal carry words that would drive a terminal: a colour escape (ESC[31m), a bare CR and a right-to-left override (U+202E)"),
            AuthTemporaryFailure => ("auth-temporary-failure", "the login service is down, as Dovecot and Postfix say it: IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP], SMTP 454 4.7.0 \"Temporary authentication failure\""),
        }
    }

    pub fn name(self) -> &'static str {
        self.entry().0
    }

    pub fn about(self) -> &'static str {
        self.entry().1
    }

    /// The certificate this scenario presents.
    pub(crate) fn leaf(self) -> super::certs::LeafKind {
        use super::certs::LeafKind;
        match self {
            Scenario::CertExpired => LeafKind::Expired,
            Scenario::CertNotYetValid => LeafKind::NotYetValid,
            Scenario::CertWrongName => LeafKind::WrongName,
            Scenario::CertSelfSigned => LeafKind::SelfSigned,
            Scenario::CertInvalid => LeafKind::ClientAuthOnly,
            Scenario::CertRevoked => LeafKind::Revoked,
            Scenario::ChainIncomplete => LeafKind::MissingIntermediate,
            Scenario::ChainWrongOrder => LeafKind::WrongOrder,
            Scenario::MustStapleNoStaple => LeafKind::MustStaple,
            _ => LeafKind::Good,
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Scenario> for &'static str {
    fn from(s: Scenario) -> &'static str {
        s.name()
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown scenario {s:?}; known: {}",
                    Scenario::ALL.map(|s| s.name()).join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for s in Scenario::ALL {
            assert!(seen.insert(s.name()), "duplicate {}", s.name());
            assert!(s
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
            assert!(!s.about().is_empty());
        }
        assert!("nope".parse::<Scenario>().is_err());
    }
}
