//! The reason catalogue: one stable code per failure a server (or the run) can cause, with its
//! cause and hint in every language (`locales/*/mailcheck.ftl`, message `reason-<code>`).

use serde::Serialize;

use crate::i18n::{self, Lang, Params};

/// Every failure a probe can meet. The code (`Reason::code`) is the stable contract for
/// scripts; the enum is the one place the catalogue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Reason {
    DnsNoSuchHost,
    /// The name could not be resolved for another reason than its absence: the DNS server did
    /// not answer, or answered SERVFAIL/REFUSED. Nothing is known about the name itself.
    DnsFailed,
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
    /// The chain matches none of the host's DNSSEC-validated TLSA records (RFC 7671).
    TlsDaneMismatch,
    TlsCertInvalid,
    TlsHandshakeFailed,
    TlsProtocolTooOld,
    /// The modern handshake failed, but a legacy ClientHello got a ServerHello.
    TlsLegacyOnly,
    TlsPlaintextServer,
    TlsTimeout,
    TlsClosed,
    /// A TCP reset during the handshake (not an orderly close).
    TlsReset,
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
    AuthProtocolDisabled,
    AuthTemporaryFailure,
    /// A token (from `--oauth2` or a token command) that the mail server refused.
    AuthOauth2TokenRefused,
    /// `--oauth2`: the user declined the sign-in (`access_denied`).
    Oauth2Declined,
    /// `--oauth2`: no sign-in in time (`--oauth2-timeout`, or the device code expired).
    Oauth2TimedOut,
    /// `--oauth2`: the issuer refused the client (`invalid_client`, `unauthorized_client`).
    Oauth2ClientRefused,
    /// `--oauth2`: the issuer refused the scope (`invalid_scope`).
    Oauth2ScopeRefused,
    /// `--oauth2`: the issuer cannot be reached, or its metadata is missing or invalid.
    Oauth2IssuerUnusable,
    /// `--oauth2`: the sign-in failed otherwise (a refused redirect, an error answer).
    Oauth2Failed,
    /// A checks file's grant refused by the issuer (`invalid_grant`: the refresh token was
    /// revoked, expired or already used).
    Oauth2GrantRefused,
    Internal,
    RoundtripNotRun,
    RoundtripSubmissionFailed,
    RoundtripSubmissionRefused,
    RoundtripNotDelivered,
    RoundtripMailboxFailed,
    RoundtripJunk,
    ProbeDeadline,
}

impl Reason {
    pub const ALL: [Reason; 57] = [
        Reason::DnsNoSuchHost,
        Reason::DnsFailed,
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
        Reason::TlsDaneMismatch,
        Reason::TlsCertInvalid,
        Reason::TlsHandshakeFailed,
        Reason::TlsProtocolTooOld,
        Reason::TlsLegacyOnly,
        Reason::TlsPlaintextServer,
        Reason::TlsTimeout,
        Reason::TlsClosed,
        Reason::TlsReset,
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
        Reason::AuthProtocolDisabled,
        Reason::AuthTemporaryFailure,
        Reason::AuthOauth2TokenRefused,
        Reason::Oauth2Declined,
        Reason::Oauth2TimedOut,
        Reason::Oauth2ClientRefused,
        Reason::Oauth2ScopeRefused,
        Reason::Oauth2IssuerUnusable,
        Reason::Oauth2Failed,
        Reason::Oauth2GrantRefused,
        Reason::Internal,
        Reason::RoundtripNotRun,
        Reason::RoundtripSubmissionFailed,
        Reason::RoundtripSubmissionRefused,
        Reason::RoundtripNotDelivered,
        Reason::RoundtripMailboxFailed,
        Reason::RoundtripJunk,
        Reason::ProbeDeadline,
    ];

    /// The stable code, the contract for scripts. Causes and hints are in the message
    /// catalogue (`locales/*/mailcheck.ftl`, message `reason-<code>`), in every language.
    pub fn code(self) -> &'static str {
        use Reason::*;
        match self {
            DnsNoSuchHost => "dns.no-such-host",
            DnsFailed => "dns.failed",
            DnsNoAddress => "dns.no-address",
            ConnectRefused => "connect.refused",
            ConnectTimeout => "connect.timeout",
            ConnectUnreachable => "connect.unreachable",
            ConnectFailed => "connect.failed",
            TlsCertExpired => "tls.cert-expired",
            TlsCertNotYetValid => "tls.cert-not-yet-valid",
            TlsCertNameMismatch => "tls.cert-name-mismatch",
            TlsCertUnknownIssuer => "tls.cert-unknown-issuer",
            TlsCertSelfSigned => "tls.cert-self-signed",
            TlsCertRevoked => "tls.cert-revoked",
            TlsDaneMismatch => "tls.dane-mismatch",
            TlsCertInvalid => "tls.cert-invalid",
            TlsHandshakeFailed => "tls.handshake-failed",
            TlsProtocolTooOld => "tls.protocol-too-old",
            TlsLegacyOnly => "tls.legacy-only",
            TlsPlaintextServer => "tls.plaintext-server",
            TlsTimeout => "tls.timeout",
            TlsClosed => "tls.closed",
            TlsReset => "tls.reset",
            ProtocolTimeout => "protocol.timeout",
            ProtocolClosed => "protocol.closed",
            ProtocolLineTooLong => "protocol.line-too-long",
            ProtocolTooMuchData => "protocol.too-much-data",
            ProtocolWrongProtocol => "protocol.wrong-protocol",
            ProtocolTlsServer => "protocol.tls-server",
            ProtocolBusy => "protocol.busy",
            ProtocolUnexpected => "protocol.unexpected",
            StarttlsNotOffered => "starttls.not-offered",
            StarttlsRefused => "starttls.refused",
            StarttlsInjection => "starttls.injection",
            AuthRejected => "auth.rejected",
            AuthMechanismNotOffered => "auth.mechanism-not-offered",
            AuthLoginDisabled => "auth.login-disabled",
            AuthOauth2Required => "auth.oauth2-required",
            AuthAccountLocked => "auth.account-locked",
            AuthAppPasswordRequired => "auth.app-password-required",
            AuthProtocolDisabled => "auth.protocol-disabled",
            AuthTemporaryFailure => "auth.temporary-failure",
            AuthOauth2TokenRefused => "auth.oauth2-token-refused",
            Oauth2Declined => "oauth2.declined",
            Oauth2TimedOut => "oauth2.timed-out",
            Oauth2ClientRefused => "oauth2.client-refused",
            Oauth2ScopeRefused => "oauth2.scope-refused",
            Oauth2IssuerUnusable => "oauth2.issuer-unusable",
            Oauth2Failed => "oauth2.failed",
            Oauth2GrantRefused => "oauth2.grant-refused",
            Internal => "internal",
            RoundtripNotRun => "roundtrip.not-run",
            RoundtripSubmissionFailed => "roundtrip.submission-failed",
            RoundtripSubmissionRefused => "roundtrip.submission-refused",
            RoundtripNotDelivered => "roundtrip.not-delivered",
            RoundtripMailboxFailed => "roundtrip.mailbox-failed",
            RoundtripJunk => "roundtrip.junk",
            ProbeDeadline => "probe.deadline",
        }
    }

    fn message_id(self) -> String {
        i18n::id_of("reason", self.code())
    }

    /// The one-line cause in `lang`, with the facts of this failure (made by
    /// `diagnose::reason_params`).
    pub fn cause_in(self, lang: Lang, params: &Params) -> String {
        i18n::text(lang, &self.message_id(), params)
    }

    /// What a helpdesk can read aloud, in `lang`.
    pub fn hint_in(self, lang: Lang, params: &Params) -> String {
        i18n::attr(lang, &self.message_id(), "hint", params)
    }

    /// The English cause with placeholder arguments (`{host}`): the README's form.
    pub fn cause(self) -> String {
        self.cause_in(Lang::En, &placeholder_params())
    }

    /// The English hint with placeholder arguments.
    pub fn hint(self) -> String {
        self.hint_in(Lang::En, &placeholder_params())
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
                | Reason::AuthOauth2TokenRefused
        )
    }
}

impl From<Reason> for &'static str {
    fn from(r: Reason) -> &'static str {
        r.code()
    }
}

/// Every argument a reason message may use, named `{name}`: how the README shows them.
pub fn placeholder_params() -> Params {
    REASON_ARGS
        .iter()
        .map(|k| (*k, i18n::Param::Text(format!("{{{k}}}"))))
        .collect()
}

/// The arguments every reason message may use. `diagnose::reason_params` always fills all of
/// them.
pub const REASON_ARGS: [&str; 14] = [
    "host",
    "port",
    "protocol",
    "detail",
    "date",
    "expected",
    "names",
    "name_count",
    "issuer",
    "alert",
    "shared",
    "suggested",
    // "yes" when the server offers an OAuth2 mechanism (XOAUTH2, OAUTHBEARER).
    "oauth",
    // "incomplete" when the server did not send the intermediate that issued its certificate.
    "chain",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate {}", r.code());
            assert!(r.code() == "internal" || r.code().contains('.'));
        }
    }

    /// Every reason has a cause and a hint in every language, and every argument its messages
    /// use is one that `reason_params` fills.
    #[test]
    fn every_reason_has_words_in_every_language() {
        let p = placeholder_params();
        for lang in Lang::ALL {
            for r in Reason::ALL {
                let id = i18n::id_of("reason", r.code());
                let (cause, errors) = i18n::format_checked(lang, &id, None, &p)
                    .unwrap_or_else(|| panic!("{lang}: no message {id}"));
                assert_eq!(errors, 0, "{lang} {id}: an argument outside REASON_ARGS");
                assert!(!cause.trim().is_empty());
                let (hint, errors) = i18n::format_checked(lang, &id, Some("hint"), &p)
                    .unwrap_or_else(|| panic!("{lang}: no hint for {id}"));
                assert_eq!(errors, 0, "{lang} {id}.hint");
                assert!(!hint.trim().is_empty());
            }
        }
        assert_eq!(
            Reason::ConnectTimeout.hint(),
            "a firewall or the network blocks this port; try the other port"
        );
    }

    /// The reason table of docs/diagnosis.md is the catalogue: each code with its English cause
    /// and hint.
    #[test]
    fn the_readme_lists_every_reason_with_its_cause_and_hint() {
        let readme = include_str!("../../docs/diagnosis.md");
        for r in Reason::ALL {
            let row = format!("| `{}` | {} | {} |", r.code(), r.cause(), r.hint());
            assert!(
                readme.contains(&row),
                "docs/diagnosis.md lacks the row\n{row}"
            );
        }
    }
}

/// A reason with its words, as printed: the code is language-neutral, the cause (with the
/// facts of this failure) and the hint are in the report's language.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonInfo {
    pub code: Reason,
    pub cause: String,
    pub hint: String,
}

/// A reason without facts of a probe (the round trip's), in English: the round trip runs
/// before the report's language is applied to it.
impl From<Reason> for ReasonInfo {
    fn from(r: Reason) -> Self {
        let p = crate::i18n::Params::new();
        ReasonInfo {
            code: r,
            cause: r.cause_in(Lang::En, &p),
            hint: r.hint_in(Lang::En, &p),
        }
    }
}
