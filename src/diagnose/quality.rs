//! TLS and certificate quality findings (issue 13 §4), made from what the probe recorded: the
//! negotiated version, the legacy ServerHello of a server only legacy TLS reaches, and the
//! chain as the server presented it.
//!
//! rustls negotiates only ECDHE with AEAD suites, so "no forward secrecy" and "CBC" can only
//! come from the legacy ServerHello (`legacy_handshake`): what the server chose from a
//! ClientHello that offered ECDHE and DHE first, and AES-GCM before CBC for each.

use crate::net::ocsp::{StapleSignature, StapleWindow};
use crate::outcome::{Finding, FindingCode, Severity};
use crate::probe::ProbeReport;

/// The quality findings of one combination.
pub(super) fn tls_quality(report: &ProbeReport) -> Vec<Finding> {
    let mut out = vec![];
    // When the modern ServerHello already named a version and a suite rustls speaks, the
    // handshake failed later (the signature of a 1024-bit RSA key, say): what the server chose
    // from the legacy offer then says nothing about what it supports.
    let modern = report
        .tls
        .as_ref()
        .filter(|t| t.version.starts_with("TLSv1.") && !t.cipher_suite.is_empty());
    let legacy = report
        .legacy_handshake
        .as_ref()
        .filter(|_| modern.is_none());
    if let Some(h) = legacy {
        if h.key_exchange == "RSA" {
            out.push(Finding::new(
                FindingCode::TlsNoForwardSecrecy,
                Severity::Warning,
                crate::params![
                    ("version", h.version.as_str()),
                    ("cipher_suite", h.cipher_suite.as_str()),
                ],
            ));
        }
        if h.cipher_suite.contains("_CBC_") {
            out.push(Finding::new(
                FindingCode::TlsCbcOnly,
                Severity::Warning,
                crate::params![
                    ("version", h.version.as_str()),
                    ("cipher_suite", h.cipher_suite.as_str()),
                ],
            ));
        }
    }
    // TLS 1.3 was offered in every modern ClientHello: a server that chose less has none.
    let version = legacy.map(|h| h.version.as_str()).or_else(|| {
        modern
            .map(|t| t.version.as_str())
            .filter(|v| *v == "TLSv1.2")
    });
    if let Some(v) = version {
        out.push(Finding::new(
            FindingCode::TlsNoTls13,
            Severity::Info,
            crate::params![("version", v)],
        ));
    }
    let Some(t) = report.tls.as_ref() else {
        return out;
    };
    out.extend(stapling(&t.ocsp));
    let q = &t.quality;
    for k in &q.weak_rsa {
        out.push(Finding::new(
            FindingCode::TlsRsaKeyWeak,
            Severity::Warning,
            crate::params![("subject", k.subject.as_str()), ("bits", k.bits)],
        ));
    }
    for subject in &q.sha1_signed {
        out.push(Finding::new(
            FindingCode::TlsSha1Signature,
            Severity::Warning,
            crate::params![("subject", subject.as_str())],
        ));
    }
    if let Some(m) = &q.missing_issuer {
        out.push(Finding::new(
            FindingCode::TlsChainIncomplete,
            Severity::Warning,
            crate::params![("issuer", m.issuer.as_str()), ("subject", m.of.as_str())],
        ));
    }
    // Info: TLS 1.2 asks for the order, but current clients (OpenSSL, NSS, Schannel, webpki)
    // build the path from whatever was sent.
    if q.out_of_order {
        out.push(Finding::new(
            FindingCode::TlsChainOrder,
            Severity::Info,
            crate::params![],
        ));
    }
    out
}

/// What the stapled OCSP response (or its absence) says beyond the certificate's status.
/// Warnings: a client that checks the staple (Firefox, for must-staple) refuses the server.
fn stapling(o: &crate::net::ocsp::Staple) -> Vec<Finding> {
    let mut out = vec![];
    let times = || {
        crate::params![
            ("this_update", o.this_update.as_deref().unwrap_or("-")),
            ("next_update", o.next_update.as_deref().unwrap_or("-")),
        ]
    };
    if o.must_staple && !o.stapled {
        out.push(Finding::new(
            FindingCode::TlsMustStapleMissing,
            Severity::Warning,
            crate::params![],
        ));
    }
    if o.signature == Some(StapleSignature::Invalid) {
        out.push(Finding::new(
            FindingCode::TlsOcspSignatureInvalid,
            Severity::Warning,
            crate::params![],
        ));
    }
    let window = match o.window {
        Some(StapleWindow::Expired) => "expired",
        Some(StapleWindow::NotYetValid) => "not-yet-valid",
        _ => return out,
    };
    let mut p = times();
    p.insert("window", window.into());
    out.push(Finding::new(
        FindingCode::TlsOcspNotCurrent,
        Severity::Warning,
        p,
    ));
    out
}
