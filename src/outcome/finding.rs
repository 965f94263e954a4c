//! Findings: something worth knowing beyond pass/fail, with a stable code and a severity.

use serde::Serialize;

use crate::i18n::{self, Lang, Params};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Every finding mailcheck makes. The code (`FindingCode::code`) is the stable contract for
/// scripts; the words are in the message catalogue (`finding-<code>`), in every language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum FindingCode {
    /// The server offers a plaintext login before TLS (IMAP, POP3).
    PlaintextLoginOffered,
    /// The SMTP server offers AUTH before STARTTLS.
    SmtpAuthBeforeTls,
    /// The SMTP submission port accepts `MAIL FROM` before STARTTLS.
    SmtpStarttlsNotRequired,
    /// Bytes after the STARTTLS go-ahead that are not TLS.
    StarttlsInjection,
    /// STARTTLS works but the protocol's implicit-TLS port does not (RFC 8314).
    StarttlsOnly,
    TlsCertExpiring,
    /// The certificate names the provider's shared host, not the one typed.
    TlsCertSharedHost,
    TlsLegacyVersionAccepted,
    /// Only a legacy ClientHello reaches the server: its version, suite and key exchange.
    TlsLegacyOnly,
    /// A setting someone documents does not work.
    DocumentedNotWorking,
    /// Some of the host's addresses failed before another connected.
    ConnectSomeAddressesFailed,
    /// The key exchange the server chose is RSA: no forward secrecy (no ECDHE/DHE).
    TlsNoForwardSecrecy,
    /// The server chose a CBC suite although AES-GCM suites were offered.
    TlsCbcOnly,
    /// The server negotiated TLS 1.2 (or older) when TLS 1.3 was offered.
    TlsNoTls13,
    /// A certificate of the chain has an RSA key below 2048 bits.
    TlsRsaKeyWeak,
    /// A certificate of the chain (not a root) is signed with SHA-1.
    TlsSha1Signature,
    /// The server did not send the intermediate certificate that issued its own.
    TlsChainIncomplete,
    /// The server sent its chain out of order.
    TlsChainOrder,
    /// The stapled OCSP response is signed by neither the issuer nor a responder it certified.
    TlsOcspSignatureInvalid,
    /// The stapled OCSP response is outside its validity window.
    TlsOcspNotCurrent,
    /// The certificate demands a staple (must-staple) and none came.
    TlsMustStapleMissing,
    /// A token refused by a server whose protocol needs a scope the issuer did not grant.
    Oauth2ScopeMissing,
}

impl FindingCode {
    pub const ALL: [FindingCode; 22] = [
        FindingCode::PlaintextLoginOffered,
        FindingCode::SmtpAuthBeforeTls,
        FindingCode::SmtpStarttlsNotRequired,
        FindingCode::StarttlsInjection,
        FindingCode::StarttlsOnly,
        FindingCode::TlsCertExpiring,
        FindingCode::TlsCertSharedHost,
        FindingCode::TlsLegacyVersionAccepted,
        FindingCode::TlsLegacyOnly,
        FindingCode::DocumentedNotWorking,
        FindingCode::ConnectSomeAddressesFailed,
        FindingCode::TlsNoForwardSecrecy,
        FindingCode::TlsCbcOnly,
        FindingCode::TlsNoTls13,
        FindingCode::TlsRsaKeyWeak,
        FindingCode::TlsSha1Signature,
        FindingCode::TlsChainIncomplete,
        FindingCode::TlsChainOrder,
        FindingCode::TlsOcspSignatureInvalid,
        FindingCode::TlsOcspNotCurrent,
        FindingCode::TlsMustStapleMissing,
        FindingCode::Oauth2ScopeMissing,
    ];

    pub fn code(self) -> &'static str {
        use FindingCode::*;
        match self {
            PlaintextLoginOffered => "plaintext-login-offered",
            SmtpAuthBeforeTls => "smtp.auth-before-tls",
            SmtpStarttlsNotRequired => "smtp.starttls-not-required",
            StarttlsInjection => "starttls.injection",
            StarttlsOnly => "starttls-only",
            TlsCertExpiring => "tls.cert-expiring",
            TlsCertSharedHost => "tls.cert-shared-host",
            TlsLegacyVersionAccepted => "tls.legacy-version-accepted",
            TlsLegacyOnly => "tls.legacy-only",
            DocumentedNotWorking => "documented.not-working",
            ConnectSomeAddressesFailed => "connect.some-addresses-failed",
            TlsNoForwardSecrecy => "tls.no-forward-secrecy",
            TlsCbcOnly => "tls.cbc-only",
            TlsNoTls13 => "tls.no-tls13",
            TlsRsaKeyWeak => "tls.rsa-key-weak",
            TlsSha1Signature => "tls.sha1-signature",
            TlsChainIncomplete => "tls.chain-incomplete",
            TlsChainOrder => "tls.chain-order",
            TlsOcspSignatureInvalid => "tls.ocsp-signature-invalid",
            TlsOcspNotCurrent => "tls.ocsp-not-current",
            TlsMustStapleMissing => "tls.must-staple-missing",
            Oauth2ScopeMissing => "oauth2.scope-missing",
        }
    }
}

impl From<FindingCode> for &'static str {
    fn from(c: FindingCode) -> &'static str {
        c.code()
    }
}

/// The code, as the table, JUnit and Prometheus outputs print it.
impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Something worth knowing beyond pass/fail. `code` is stable; `message` is in the language
/// of the report, made from the catalogue (`finding-<code>`) and `params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub message: String,
    /// The facts of the finding (days left, version, names...), language-neutral.
    #[serde(skip_serializing_if = "Params::is_empty")]
    pub params: Params,
}

impl Finding {
    /// A finding with its message in English; reports re-word it in their language.
    /// A `date` parameter is an ISO date, written as people of the language write dates.
    pub fn new(code: FindingCode, severity: Severity, params: Params) -> Finding {
        let mut f = Finding {
            code,
            severity,
            message: String::new(),
            params,
        };
        f.localize(Lang::En);
        f
    }

    /// Re-word the message in `lang`.
    pub fn localize(&mut self, lang: Lang) {
        let mut p = self.params.clone();
        if let Some(i18n::Param::Text(d)) = p.get("date") {
            let d = i18n::date(lang, d);
            p.insert("date", d.into());
        }
        for key in ["this_update", "next_update"] {
            if let Some(i18n::Param::Text(d)) = p.get(key) {
                let d = i18n::date_time(lang, d);
                p.insert(key, d.into());
            }
        }
        // A documentation source named by its code (`provider-table`) has words of its own.
        if let Some(i18n::Param::Text(s)) = p.get("source") {
            if let Some(words) = i18n::lookup(lang, &format!("source-{s}"), &Params::new()) {
                p.insert("source", words.into());
            }
        }
        self.message = i18n::text(lang, &i18n::id_of("finding", self.code.code()), &p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every finding code has a message in every language, and every `finding-` message of the
    /// catalogues is a code mailcheck makes.
    #[test]
    fn every_finding_code_has_words_in_every_language() {
        let mut seen = std::collections::HashSet::new();
        for c in FindingCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {c}");
        }
        for lang in Lang::ALL {
            let ids = i18n::catalogue_ids(lang);
            for c in FindingCode::ALL {
                let id = i18n::id_of("finding", c.code());
                assert!(ids.contains_key(&id), "{lang}: no message {id}");
            }
            let known: Vec<String> = FindingCode::ALL
                .iter()
                .map(|c| i18n::id_of("finding", c.code()))
                .collect();
            for id in ids.keys().filter(|id| id.starts_with("finding-")) {
                assert!(known.contains(id), "{lang}: {id} names no FindingCode");
            }
        }
    }

    #[test]
    fn finding_codes_serialise_as_their_code() {
        for c in FindingCode::ALL {
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.code())
            );
        }
    }
}
