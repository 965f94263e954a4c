//! TLS client handshakes that *describe* what the server presents instead of just failing.
//!
//! The model is inspect-and-continue: the server certificate is checked by the real webpki
//! logic of rustls, the verdict is recorded, and the handshake continues even when the
//! certificate is not trusted, so that the report can show the certificate and say precisely
//! why it would be rejected. The handshake signatures (TLS 1.2 `ServerKeyExchange`,
//! TLS 1.3 `CertificateVerify`) are still verified for real: a server that cannot prove it
//! holds the key of the certificate it presents does not complete the handshake.
//!
//! Only TLS 1.2 and TLS 1.3 are spoken (rustls does not implement anything older); a server
//! that only speaks TLS 1.0/1.1/SSLv3 ends up as [`TlsError::ProtocolVersion`].
//!
//! How it is driven: the handshake is run by hand on a [`rustls::ClientConnection`] over the
//! caller's stream, so that we can (a) keep a copy of the first bytes the peer sent (a
//! plaintext server on a TLS port is reported with its banner) and (b) still read the
//! negotiated version/suite/certificate when the handshake fails half-way. Once the
//! handshake is complete, the connection is handed to tokio-rustls
//! (`TlsConnector::connect_with` swapping in the finished session), which gives the caller an
//! ordinary [`tokio_rustls::client::TlsStream`].

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    verify_server_cert_signed_by_trust_anchor, verify_server_name, ClientConfig, Resumption,
    VerifierBuilderError, WebPkiServerVerifier,
};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, ClientConnection, DigitallySignedStruct, PeerIncompatible,
    ProtocolVersion, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// How many bytes of what the peer sent first are kept (for `NotTls` and version hints).
const RECORD_LIMIT: usize = 512;
/// How many printable characters of a non-TLS answer are reported.
const FIRST_BYTES_CHARS: usize = 40;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// Trust settings built once per run: webpki-roots (unless disabled) plus an optional extra CA
/// file (PEM, possibly several certs; a single DER certificate is accepted too).
///
/// Cheap to clone (everything is behind `Arc`), `Send + Sync`, so one value can be shared by
/// all probes.
#[derive(Clone, Debug)]
pub struct TlsTrust {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    /// The certificates of the extra CA file, verbatim. A self-signed server certificate that
    /// the user listed there is accepted even when it is marked CA:TRUE (webpki refuses CA
    /// certificates as end entities; OpenSSL accepts an explicitly trusted self-signed cert).
    pinned: Arc<Vec<CertificateDer<'static>>>,
    /// Set by [`TlsTrust::with_crls`]: the same webpki checks plus revocation.
    crl_verifier: Option<Arc<WebPkiServerVerifier>>,
    public_roots: bool,
}

impl TlsTrust {
    /// `ca_file`: extra trust anchors (PEM bundle, or one DER certificate).
    /// `use_public_roots`: include the Mozilla root set of `webpki-roots`.
    ///
    /// With neither, every certificate ends up `UnknownIssuer`/`SelfSigned` (still described).
    pub fn new(ca_file: Option<&Path>, use_public_roots: bool) -> anyhow::Result<TlsTrust> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if use_public_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let mut pinned = Vec::new();
        if let Some(path) = ca_file {
            let certs = load_certificates(path)?;
            for (i, cert) in certs.iter().enumerate() {
                roots.add(cert.clone()).with_context(|| {
                    format!(
                        "certificate #{} of {} cannot be used as a trust anchor",
                        i + 1,
                        path.display()
                    )
                })?;
            }
            pinned = certs;
        }
        let trust = TlsTrust {
            provider,
            roots: Arc::new(roots),
            pinned: Arc::new(pinned),
            crl_verifier: None,
            public_roots: use_public_roots,
        };
        // Fail early (and once) if the configuration cannot be built at all.
        trust
            .client_config(Arc::new(Mutex::new(None)))
            .context("building the TLS client configuration")?;
        Ok(trust)
    }

    /// Also check the server certificate against these CRL files (PEM, or one DER CRL each).
    ///
    /// Only the end-entity certificate is checked, and a certificate no CRL speaks for (its
    /// issuer published none here) passes: a CRL of one private CA must not break every other
    /// server. A revoked certificate is `CertVerdict::Revoked`. No files: nothing changes.
    pub fn with_crls(mut self, paths: &[impl AsRef<Path>]) -> anyhow::Result<TlsTrust> {
        if paths.is_empty() {
            return Ok(self);
        }
        let mut crls = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let these = load_crls(path)?;
            // Built per file so that a bad one is named.
            self.revocation_verifier(these.clone())
                .with_context(|| format!("CRL file {}", path.display()))?;
            crls.extend(these);
        }
        self.crl_verifier = Some(self.revocation_verifier(crls)?);
        Ok(self)
    }

    /// Bad input found before any connection: each CRL file must exist and be usable with
    /// the trust `ca` gives (the public roots plus it). Shared by the command line and the
    /// checks file, which name the option their own way.
    pub fn check_crl_files(ca: Option<&Path>, paths: &[impl AsRef<Path>]) -> anyhow::Result<()> {
        for path in paths {
            let path = path.as_ref();
            if !path.is_file() {
                anyhow::bail!("{}: no such file", path.display());
            }
        }
        if !paths.is_empty() {
            TlsTrust::new(ca, true)?.with_crls(paths)?;
        }
        Ok(())
    }

    fn revocation_verifier(
        &self,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> anyhow::Result<Arc<WebPkiServerVerifier>> {
        WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
            .with_crls(crls)
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| match e {
                VerifierBuilderError::InvalidCrl(e) => {
                    anyhow::anyhow!("not a usable revocation list ({e:?})")
                }
                VerifierBuilderError::NoRootAnchors => {
                    anyhow::anyhow!(
                        "revocation lists need trust anchors (the public roots or --ca-file)"
                    )
                }
                other => anyhow::anyhow!("{other}"),
            })
    }

    /// Whether the webpki-roots (public CAs) are trusted.
    pub fn uses_public_roots(&self) -> bool {
        self.public_roots
    }

    /// Number of certificates loaded from the extra CA file.
    pub fn extra_ca_count(&self) -> usize {
        self.pinned.len()
    }

    fn client_config(&self, slot: Slot) -> Result<ClientConfig, rustls::Error> {
        let verifier = Arc::new(RecordingVerifier {
            provider: self.provider.clone(),
            roots: self.roots.clone(),
            pinned: self.pinned.clone(),
            crl_verifier: self.crl_verifier.clone(),
            slot,
        });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // Every probe must see (and judge) the full certificate exchange.
        config.resumption = Resumption::disabled();
        Ok(config)
    }
}

/// Outcome of [`handshake`]. `facts` is filled whenever something was learnt (a negotiated
/// version or a certificate), also when `result` is an error after that point.
#[derive(Debug)]
pub struct Handshake<S> {
    pub result: Result<tokio_rustls::client::TlsStream<S>, TlsError>,
    pub facts: Option<TlsFacts>,
    pub elapsed: Duration,
}

/// What the TLS layer negotiated and what the server presented.
#[derive(Debug, Clone, Serialize)]
pub struct TlsFacts {
    /// "TLSv1.3", "TLSv1.2" ("unknown" if the failure came before the ServerHello but a
    /// certificate was somehow seen — not expected in practice).
    pub version: String,
    /// e.g. "TLS13_AES_256_GCM_SHA384" (empty if not negotiated).
    pub cipher_suite: String,
    /// e.g. "X25519", "secp256r1".
    pub key_exchange: Option<String>,
    /// The SNI we sent (None for an IP address).
    pub sni: Option<String>,
    pub alpn: Option<String>,
    /// The leaf certificate (None if none was presented or it could not be parsed).
    pub certificate: Option<CertInfo>,
    /// Number of certificates the server presented.
    pub chain_length: usize,
    pub verification: CertVerdict,
    /// The OCSP response the server stapled (rustls asks for one in every handshake).
    pub ocsp: super::ocsp::Staple,
    /// What the presented chain says about its quality: diagnosis makes findings of it.
    #[serde(skip)]
    pub quality: ChainQuality,
    /// The chain against the host's validated TLSA records ([`super::dane`]), when it has some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dane: Option<super::dane::DaneCheck>,
    /// The presented chain, leaf first (for DANE; not in JSON).
    #[serde(skip)]
    pub chain: Vec<CertificateDer<'static>>,
}

impl TlsFacts {
    /// Whether rustls and the server agreed on a version and a suite (the handshake may still
    /// have failed later, at the certificate or its key).
    pub fn agreed(&self) -> bool {
        self.version != UNKNOWN_VERSION && !self.cipher_suite.is_empty()
    }
}

/// `TlsFacts::version` when no version was agreed.
const UNKNOWN_VERSION: &str = "unknown";

/// Description of one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// RFC 4514-ish display, e.g. "CN=mail.lab.test".
    pub subject: String,
    pub issuer: String,
    /// SAN DNS names and IP addresses; the subject CN(s) only when there is no such SAN.
    pub names: Vec<String>,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub not_after_unix: i64,
    /// floor((not_after - now) / 86400); negative when expired.
    pub days_left: i64,
    /// SHA-256 of the DER, uppercase hex with colons (like `openssl x509 -fingerprint -sha256`).
    pub sha256: String,
    /// subject == issuer (byte-wise) and the signature verifies with the certificate's own key.
    /// When the signature algorithm is one ring cannot check (e.g. P-521), falls back to:
    /// subject == issuer and the AKI key id (if any) equals the SKI (if any).
    pub self_signed: bool,
    /// Uppercase hex without separators and leading zero bytes (like `openssl x509 -serial`).
    pub serial: String,
    /// "RSA 2048", "EC P-256", "Ed25519", ... best effort.
    pub key_type: String,
}

/// Verdict on the server certificate, as webpki (the rustls verifier) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CertVerdict {
    Valid,
    Expired {
        not_after: String,
    },
    NotYetValid {
        not_before: String,
    },
    NameMismatch {
        expected: String,
        presented: Vec<String>,
    },
    /// UnknownIssuer (or a CA:TRUE self-signed certificate used as server certificate) and
    /// the leaf is self-signed.
    SelfSigned,
    UnknownIssuer,
    Revoked,
    /// Anything else rustls reports, with rustls's words.
    Invalid {
        detail: String,
    },
    /// No certificate seen.
    NotChecked,
}

impl CertVerdict {
    /// Only `Valid` is trusted.
    pub fn is_trusted(&self) -> bool {
        matches!(self, CertVerdict::Valid)
    }

    /// Stable machine code, same as the serde `status` tag.
    pub fn code(&self) -> &'static str {
        match self {
            CertVerdict::Valid => "valid",
            CertVerdict::Expired { .. } => "expired",
            CertVerdict::NotYetValid { .. } => "not-yet-valid",
            CertVerdict::NameMismatch { .. } => "name-mismatch",
            CertVerdict::SelfSigned => "self-signed",
            CertVerdict::UnknownIssuer => "unknown-issuer",
            CertVerdict::Revoked => "revoked",
            CertVerdict::Invalid { .. } => "invalid",
            CertVerdict::NotChecked => "not-checked",
        }
    }
}

impl fmt::Display for CertVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertVerdict::Valid => f.write_str("certificate is valid"),
            CertVerdict::Expired { not_after } => write!(f, "certificate expired on {not_after}"),
            CertVerdict::NotYetValid { not_before } => {
                write!(f, "certificate is not valid before {not_before}")
            }
            CertVerdict::NameMismatch {
                expected,
                presented,
            } => write!(
                f,
                "certificate is not valid for {expected} (it names: {})",
                if presented.is_empty() {
                    "nothing".to_string()
                } else {
                    presented.join(", ")
                }
            ),
            CertVerdict::SelfSigned => f.write_str("certificate is self-signed and not trusted"),
            CertVerdict::UnknownIssuer => {
                f.write_str("certificate is issued by an unknown (untrusted) authority")
            }
            CertVerdict::Revoked => f.write_str("certificate is revoked"),
            CertVerdict::Invalid { detail } => write!(f, "certificate is invalid: {detail}"),
            CertVerdict::NotChecked => f.write_str("no certificate was checked"),
        }
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TlsError {
    /// The handshake did not finish within the timeout.
    #[error("the TLS handshake did not finish in time")]
    Timeout,
    /// The server only speaks a version we refuse (TLS 1.0/1.1, SSLv3).
    #[error("no common TLS version (we speak TLS 1.2 and 1.3): {detail}")]
    ProtocolVersion { detail: String },
    /// The server sent a fatal alert (rustls `AlertDescription` name in snake_case).
    #[error("the server aborted the TLS handshake with alert {alert}")]
    Alert { alert: String },
    /// The peer answered with something that is not TLS (up to 40 printable characters).
    #[error("the server did not answer with TLS; it sent {first_bytes:?}")]
    NotTls { first_bytes: String },
    /// An orderly close (EOF) during the handshake.
    #[error("the server closed the connection during the TLS handshake")]
    Closed,
    /// A TCP reset during the handshake: typical of an IPS or a TLS-intercepting firewall.
    #[error("the connection was reset during the TLS handshake")]
    Reset,
    /// Other I/O error.
    #[error("I/O error during the TLS handshake: {detail}")]
    Io { detail: String },
    #[error("TLS handshake failed: {detail}")]
    Other { detail: String },
}

impl TlsError {
    /// Stable machine code, same as the serde `kind` tag.
    pub fn code(&self) -> &'static str {
        match self {
            TlsError::Timeout => "timeout",
            TlsError::ProtocolVersion { .. } => "protocol-version",
            TlsError::Alert { .. } => "alert",
            TlsError::NotTls { .. } => "not-tls",
            TlsError::Closed => "closed",
            TlsError::Reset => "reset",
            TlsError::Io { .. } => "io",
            TlsError::Other { .. } => "other",
        }
    }
}

/// The server name as rustls wants it: DNS names (IDNs converted to A-labels, one trailing dot
/// removed) or IP addresses (IPv6 optionally in brackets). IP addresses are verified against
/// IP SANs and are not sent as SNI.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let trimmed = host.trim();
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    let mut name = bare.strip_suffix('.').unwrap_or(bare).to_string();
    if !name.is_ascii() {
        name = idna::domain_to_ascii(&name).map_err(|e| TlsError::Other {
            detail: format!("invalid server name {host:?}: {e}"),
        })?;
    }
    ServerName::try_from(name).map_err(|e| TlsError::Other {
        detail: format!("invalid server name {host:?}: {e}"),
    })
}

/// Client TLS handshake over `stream` with SNI = `server_name` (sent when it is a DNS name;
/// an IP address is checked against IP SANs), within `timeout`.
///
/// Inspect-and-continue: a certificate that fails verification does not abort the handshake;
/// the verdict is in `facts.verification`.
pub async fn handshake<S>(
    trust: &TlsTrust,
    mut stream: S,
    server_name: &str,
    timeout: Duration,
) -> Handshake<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let fail = |e: TlsError| Handshake {
        result: Err(e),
        facts: None,
        elapsed: start.elapsed(),
    };

    let name = match self::server_name(server_name) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let sni = match &name {
        ServerName::DnsName(d) => Some(d.as_ref().to_string()),
        _ => None,
    };
    let slot: Slot = Arc::new(Mutex::new(None));
    let config = match trust.client_config(slot.clone()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            return fail(TlsError::Other {
                detail: e.to_string(),
            })
        }
    };
    let mut conn = match ClientConnection::new(config.clone(), name.clone()) {
        Ok(c) => c,
        Err(e) => {
            return fail(TlsError::Other {
                detail: e.to_string(),
            })
        }
    };

    let mut first = Vec::new();
    let outcome = tokio::time::timeout(timeout, drive(&mut stream, &mut conn, &mut first)).await;

    let seen = slot.lock().map(|mut s| s.take()).unwrap_or(None);
    let facts = build_facts(&conn, seen, sni);

    let result = match outcome {
        Ok(Ok(())) => {
            // Hand the finished session over to tokio-rustls: `connect_with` builds a fresh
            // (unused) session and lets us replace it before the first poll; the future then
            // only flushes (nothing is pending) and yields the stream.
            let connector = tokio_rustls::TlsConnector::from(config);
            let handover = connector.connect_with(name, stream, move |fresh| *fresh = conn);
            let left = timeout
                .saturating_sub(start.elapsed())
                .max(Duration::from_millis(100));
            match tokio::time::timeout(left, handover).await {
                Ok(Ok(tls)) => Ok(tls),
                Ok(Err(e)) => Err(classify(Failure::Io(e), &first)),
                Err(_) => Err(TlsError::Timeout),
            }
        }
        Ok(Err(failure)) => Err(classify(failure, &first)),
        Err(_elapsed) => Err(not_tls(&first).unwrap_or(TlsError::Timeout)),
    };

    Handshake {
        result,
        facts,
        elapsed: start.elapsed(),
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the handshake
// ---------------------------------------------------------------------------------------------

enum Failure {
    Tls(rustls::Error),
    Eof,
    Io(io::Error),
}

/// Runs the handshake to completion on `conn` over `stream`, keeping the first bytes read.
async fn drive<S>(
    stream: &mut S,
    conn: &mut ClientConnection,
    first: &mut Vec<u8>,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        flush_tls(stream, conn).await.map_err(Failure::Io)?;
        if !conn.is_handshaking() {
            return Ok(());
        }
        let n = stream.read(&mut buf).await.map_err(Failure::Io)?;
        if n == 0 {
            return Err(Failure::Eof);
        }
        if first.len() < RECORD_LIMIT {
            let take = n.min(RECORD_LIMIT - first.len());
            first.extend_from_slice(&buf[..take]);
        }
        let mut input = &buf[..n];
        while !input.is_empty() {
            let used = conn.read_tls(&mut input).map_err(Failure::Io)?;
            let processed = conn.process_new_packets();
            if let Err(e) = processed {
                // Best effort: tell the server why (rustls queued an alert).
                let _ = flush_tls(stream, conn).await;
                return Err(Failure::Tls(e));
            }
            if used == 0 {
                break;
            }
        }
    }
}

async fn flush_tls<S>(stream: &mut S, conn: &mut ClientConnection) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let mut wrote = false;
    while conn.wants_write() {
        let mut out = Vec::new();
        conn.write_tls(&mut out)?;
        stream.write_all(&out).await?;
        wrote = true;
    }
    if wrote {
        stream.flush().await?;
    }
    Ok(())
}

fn classify(failure: Failure, first: &[u8]) -> TlsError {
    if let Some(e) = not_tls(first) {
        return e;
    }
    match failure {
        Failure::Eof => TlsError::Closed,
        Failure::Io(e) => match e.kind() {
            // A reset (RST) is someone's decision to abort, not the server's orderly close.
            io::ErrorKind::ConnectionReset => TlsError::Reset,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => TlsError::Closed,
            _ => {
                // tokio-rustls wraps rustls errors in io::Error
                if let Some(tls) = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    return classify(Failure::Tls(tls.clone()), first);
                }
                TlsError::Io {
                    detail: e.to_string(),
                }
            }
        },
        Failure::Tls(e) => match &e {
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => {
                // (The record version of the alert says nothing reliable: OpenSSL echoes ours.)
                TlsError::ProtocolVersion {
                    detail: "the server answered with alert protocol_version: it accepts \
                             neither TLS 1.2 nor TLS 1.3"
                        .into(),
                }
            }
            rustls::Error::AlertReceived(alert) => TlsError::Alert {
                alert: alert_name(*alert),
            },
            rustls::Error::PeerIncompatible(
                PeerIncompatible::ServerDoesNotSupportTls12Or13
                | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
                | PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::SupportedVersionsExtensionRequired,
            ) => TlsError::ProtocolVersion {
                detail: match server_hello_version(first) {
                    Some(v) => format!("the server chose {v}"),
                    None => e.to_string(),
                },
            },
            _ => TlsError::Other {
                detail: e.to_string(),
            },
        },
    }
}

/// `Some(NotTls)` when the peer sent something and it does not start like a TLS record.
fn not_tls(first: &[u8]) -> Option<TlsError> {
    if first.is_empty() || looks_like_tls(first) {
        return None;
    }
    // The first line only: whatever followed it (a STARTTLS injector's own TLS records, say)
    // would only blur what the server said.
    let line = first
        .iter()
        .position(|&b| b == b'\n')
        .map_or(first, |nl| &first[..nl]);
    Some(TlsError::NotTls {
        first_bytes: printable(line, FIRST_BYTES_CHARS),
    })
}

/// A TLS record starts with a content type 20..=24 and major version 3.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(20..=24)) && bytes.get(1).is_none_or(|&major| major == 3)
}

/// Up to `max` characters; whitespace runs (CR/LF included) become one space, other
/// non-printable bytes become '.'.
fn printable(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    for &b in bytes {
        if out.chars().count() >= max {
            break;
        }
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => pending_space = !out.is_empty(),
            _ => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                    if out.chars().count() >= max {
                        break;
                    }
                }
                out.push(if (0x21..=0x7e).contains(&b) {
                    b as char
                } else {
                    '.'
                });
            }
        }
    }
    out
}

fn version_name(raw: u16) -> String {
    match raw {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        0x0002 => "SSLv2".into(),
        other => format!("version 0x{other:04x}"),
    }
}

/// `server_version` of a ServerHello at the start of what the server sent.
fn server_hello_version(first: &[u8]) -> Option<String> {
    // record: type(1)=22 version(2) length(2) | handshake: type(1)=2 length(3) version(2)
    if first.len() >= 11 && first[0] == 22 && first[5] == 2 {
        Some(version_name(u16::from_be_bytes([first[9], first[10]])))
    } else {
        None
    }
}

/// rustls `AlertDescription` name in snake_case, e.g. "handshake_failure".
fn alert_name(alert: AlertDescription) -> String {
    let debug = format!("{alert:?}");
    if debug.contains('(') {
        return format!("unknown_alert_{}", u8::from(alert));
    }
    camel_to_snake(&debug)
}

fn camel_to_snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The recording verifier
// ---------------------------------------------------------------------------------------------

/// What the verifier saw for one connection.
#[derive(Debug)]
struct Seen {
    verdict: CertVerdict,
    chain: Vec<CertificateDer<'static>>,
    leaf: Option<CertInfo>,
    ocsp: super::ocsp::Staple,
    quality: ChainQuality,
}

type Slot = Arc<Mutex<Option<Seen>>>;

/// Runs the webpki checks of rustls (`verify_server_cert_signed_by_trust_anchor` +
/// `verify_server_name`: exactly what `WebPkiServerVerifier` does, minus CRLs), records the
/// verdict and lets the handshake continue. Using the free functions instead of a
/// `WebPkiServerVerifier` also covers the "no trust anchors at all" case, which the
/// `WebPkiServerVerifier` builder refuses. With `--crl-file` a `WebPkiServerVerifier` with the
/// CRLs does the same checks plus revocation (the free functions take no CRLs).
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    roots: Arc<RootCertStore>,
    pinned: Arc<Vec<CertificateDer<'static>>>,
    crl_verifier: Option<Arc<WebPkiServerVerifier>>,
    slot: Slot,
}

impl RecordingVerifier {
    fn judge(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        leaf: Option<&CertInfo>,
    ) -> CertVerdict {
        let expected = server_name.to_str().into_owned();
        let parsed = match ParsedCertificate::try_from(end_entity) {
            Ok(p) => p,
            Err(e) => return verdict_from_error(&e, leaf, &expected),
        };
        let checked = match &self.crl_verifier {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, &[], now)
                .map(|_| ()),
            None => verify_server_cert_signed_by_trust_anchor(
                &parsed,
                &self.roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )
            .and_then(|()| verify_server_name(&parsed, server_name)),
        };
        match checked {
            Ok(()) => CertVerdict::Valid,
            Err(e) if is_ca_used_as_end_entity(&e) && leaf.is_some_and(|l| l.self_signed) => {
                // A self-signed CA:TRUE certificate (typical of `openssl req -x509`). webpki
                // refuses CA certificates as end entities; when the user explicitly trusts
                // this very certificate, accept it like OpenSSL does. Validity dates were
                // already checked by webpki before the basic constraints.
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref())
                {
                    match verify_server_name(&parsed, server_name) {
                        Ok(()) => CertVerdict::Valid,
                        Err(e) => verdict_from_error(&e, leaf, &expected),
                    }
                } else {
                    CertVerdict::SelfSigned
                }
            }
            Err(e) => verdict_from_error(&e, leaf, &expected),
        }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let leaf = describe_certificate(end_entity, now.as_secs() as i64);
        let mut verdict = self.judge(end_entity, intermediates, server_name, now, leaf.as_ref());
        let ocsp = read_staple(
            end_entity,
            intermediates,
            &self.roots,
            ocsp_response,
            now.as_secs() as i64,
        );
        // The server's own staple says its certificate is revoked: whatever else holds.
        if ocsp.status == Some(super::ocsp::StapleStatus::Revoked) {
            verdict = CertVerdict::Revoked;
        }
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        let quality = chain_quality(&chain, &verdict, &self.roots);
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(Seen {
                verdict,
                chain,
                leaf,
                ocsp,
                quality,
            });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            format!("{:?}", other.0).contains("CaUsedAsEndEntity")
        }
        _ => false,
    }
}

fn verdict_from_error(e: &rustls::Error, leaf: Option<&CertInfo>, expected: &str) -> CertVerdict {
    let cert_error = match e {
        rustls::Error::InvalidCertificate(ce) => ce,
        other => {
            return CertVerdict::Invalid {
                detail: other.to_string(),
            }
        }
    };
    match cert_error {
        CertificateError::Expired => CertVerdict::Expired {
            not_after: leaf.map(|l| l.not_after.clone()).unwrap_or_default(),
        },
        CertificateError::ExpiredContext { not_after, .. } => CertVerdict::Expired {
            not_after: rfc3339(not_after.as_secs() as i64),
        },
        CertificateError::NotValidYet => CertVerdict::NotYetValid {
            not_before: leaf.map(|l| l.not_before.clone()).unwrap_or_default(),
        },
        CertificateError::NotValidYetContext { not_before, .. } => CertVerdict::NotYetValid {
            not_before: rfc3339(not_before.as_secs() as i64),
        },
        CertificateError::NotValidForName => CertVerdict::NameMismatch {
            expected: expected.to_string(),
            presented: leaf.map(|l| l.names.clone()).unwrap_or_default(),
        },
        // webpki's `presented` strings are Debug renderings (`DnsName("x")`): prefer the names
        // we parsed ourselves from the leaf.
        CertificateError::NotValidForNameContext { presented, .. } => CertVerdict::NameMismatch {
            expected: expected.to_string(),
            presented: match leaf {
                Some(l) => l.names.clone(),
                None => presented.iter().map(|p| unwrap_debug_name(p)).collect(),
            },
        },
        CertificateError::UnknownIssuer => {
            if leaf.is_some_and(|l| l.self_signed) {
                CertVerdict::SelfSigned
            } else {
                CertVerdict::UnknownIssuer
            }
        }
        CertificateError::Revoked => CertVerdict::Revoked,
        _ => CertVerdict::Invalid {
            detail: e.to_string(),
        },
    }
}

/// `DnsName("mail.example")` → `mail.example` (other forms are kept as they are).
fn unwrap_debug_name(s: &str) -> String {
    s.strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .unwrap_or(s)
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Facts and certificate description
// ---------------------------------------------------------------------------------------------

fn build_facts(
    conn: &ClientConnection,
    seen: Option<Seen>,
    sni: Option<String>,
) -> Option<TlsFacts> {
    let version = conn.protocol_version();
    if version.is_none() && seen.is_none() {
        return None;
    }
    let version = match version {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => UNKNOWN_VERSION.to_string(),
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let key_exchange = conn
        .negotiated_key_exchange_group()
        .map(|g| format!("{:?}", g.name()));
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let mut chain = vec![];
    let (certificate, chain_length, verification, ocsp, quality) = match seen {
        Some(seen) => {
            chain = seen.chain;
            (
                seen.leaf,
                chain.len(),
                seen.verdict,
                seen.ocsp,
                seen.quality,
            )
        }
        None => match conn.peer_certificates() {
            // Not expected: rustls always calls the verifier before recording certificates.
            Some(chain) if !chain.is_empty() => (
                describe_certificate(&chain[0], unix_now()),
                chain.len(),
                CertVerdict::NotChecked,
                Default::default(),
                Default::default(),
            ),
            _ => (
                None,
                0,
                CertVerdict::NotChecked,
                Default::default(),
                Default::default(),
            ),
        },
    };
    Some(TlsFacts {
        version,
        cipher_suite,
        key_exchange,
        sni,
        alpn,
        certificate,
        chain_length,
        verification,
        ocsp,
        quality,
        dane: None,
        chain,
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix}"))
}

fn hex_upper(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// Describe a DER certificate; `now` (unix seconds) is the reference for `days_left`.
fn describe_certificate(der: &[u8], now: i64) -> Option<CertInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let not_before_unix = tbs.validity.not_before.timestamp();
    let not_after_unix = tbs.validity.not_after.timestamp();

    let mut names = Vec::new();
    if let Ok(Some(san)) = tbs.subject_alternative_name() {
        for gn in &san.value.general_names {
            match gn {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(raw) => {
                    if let Some(ip) = ip_from_bytes(raw) {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.extend(
            tbs.subject
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }

    let serial = {
        let raw = tbs.raw_serial();
        let start = raw
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(raw.len().saturating_sub(1));
        hex_upper(&raw[start..], "")
    };

    Some(CertInfo {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        names,
        not_before: rfc3339(not_before_unix),
        not_after: rfc3339(not_after_unix),
        not_after_unix,
        days_left: (not_after_unix - now).div_euclid(86_400),
        sha256: hex_upper(
            ring::digest::digest(&ring::digest::SHA256, der).as_ref(),
            ":",
        ),
        self_signed: is_self_signed(&cert),
        serial,
        key_type: key_type(&cert),
    })
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    match raw.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(raw).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(raw).ok()?)),
        _ => None,
    }
}

fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    let tbs = &cert.tbs_certificate;
    if tbs.subject.as_raw() != tbs.issuer.as_raw() {
        return false;
    }
    if let Some(verified) = verify_own_signature(cert) {
        return verified;
    }
    // Algorithm ring cannot check: compare key identifiers when both are present.
    let mut ski = None;
    let mut aki = None;
    for ext in tbs.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => {}
        }
    }
    match (aki, ski) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

/// `Some(result)` when ring supports the signature algorithm, `None` otherwise.
fn verify_own_signature(cert: &X509Certificate<'_>) -> Option<bool> {
    verify_signature(
        &cert.tbs_certificate.subject_pki,
        &cert.signature_algorithm,
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
}

/// Check `signature` over `message` with the key `spki`, by the algorithm `alg` (X.509 and
/// OCSP name algorithms alike): `Some(result)` when ring supports the algorithm, `None`
/// otherwise. ring directly, the same code as rustls's provider: webpki checks signatures only
/// inside path building, and an OCSP responder's key may be a trust anchor, which is no
/// certificate.
pub(crate) fn verify_signature(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    alg: &x509_parser::x509::AlgorithmIdentifier<'_>,
    message: &[u8],
    signature: &[u8],
) -> Option<bool> {
    use ring::signature;
    use x509_parser::oid_registry::*;

    let sig_oid = &alg.algorithm;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    let alg: &'static dyn signature::VerificationAlgorithm =
        if *sig_oid == OID_PKCS1_SHA1WITHRSA || *sig_oid == OID_SHA1_WITH_RSA {
            &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
        } else if *sig_oid == OID_PKCS1_SHA256WITHRSA {
            &signature::RSA_PKCS1_2048_8192_SHA256
        } else if *sig_oid == OID_PKCS1_SHA384WITHRSA {
            &signature::RSA_PKCS1_2048_8192_SHA384
        } else if *sig_oid == OID_PKCS1_SHA512WITHRSA {
            &signature::RSA_PKCS1_2048_8192_SHA512
        } else if *sig_oid == OID_PKCS1_RSASSAPSS {
            let params = alg.parameters.as_ref()?;
            let pss = x509_parser::signature_algorithm::RsaSsaPssParams::try_from(params).ok()?;
            let hash = pss.hash_algorithm_oid();
            if *hash == OID_NIST_HASH_SHA256 {
                &signature::RSA_PSS_2048_8192_SHA256
            } else if *hash == OID_NIST_HASH_SHA384 {
                &signature::RSA_PSS_2048_8192_SHA384
            } else if *hash == OID_NIST_HASH_SHA512 {
                &signature::RSA_PSS_2048_8192_SHA512
            } else {
                return None;
            }
        } else if *sig_oid == OID_SIG_ECDSA_WITH_SHA256 || *sig_oid == OID_SIG_ECDSA_WITH_SHA384 {
            let sha384 = *sig_oid == OID_SIG_ECDSA_WITH_SHA384;
            match curve {
                Some(c) if c == OID_EC_P256 && sha384 => &signature::ECDSA_P256_SHA384_ASN1,
                Some(c) if c == OID_EC_P256 => &signature::ECDSA_P256_SHA256_ASN1,
                Some(c) if c == OID_NIST_EC_P384 && sha384 => &signature::ECDSA_P384_SHA384_ASN1,
                Some(c) if c == OID_NIST_EC_P384 => &signature::ECDSA_P384_SHA256_ASN1,
                _ => return None,
            }
        } else if *sig_oid == OID_SIG_ED25519 {
            &signature::ED25519
        } else {
            return None;
        };
    let key = signature::UnparsedPublicKey::new(alg, &spki.subject_public_key.data);
    Some(key.verify(message, signature).is_ok())
}

/// The modulus size of an RSA key (`None` for other keys).
fn rsa_bits(cert: &X509Certificate<'_>) -> Option<usize> {
    use x509_parser::public_key::PublicKey;
    match cert.tbs_certificate.subject_pki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let m = rsa.modulus;
            Some(match m.iter().position(|&b| b != 0) {
                Some(i) => (m.len() - i) * 8 - m[i].leading_zeros() as usize,
                None => 0,
            })
        }
        _ => None,
    }
}

fn key_type(cert: &X509Certificate<'_>) -> String {
    use x509_parser::oid_registry::*;

    let spki = &cert.tbs_certificate.subject_pki;
    let alg = &spki.algorithm.algorithm;
    let rsa_bits = || rsa_bits(cert).unwrap_or(0);
    if *alg == OID_PKCS1_RSAENCRYPTION {
        format!("RSA {}", rsa_bits())
    } else if *alg == OID_PKCS1_RSASSAPSS {
        format!("RSA-PSS {}", rsa_bits())
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => "EC P-256".into(),
            Some(c) if c == OID_NIST_EC_P384 => "EC P-384".into(),
            Some(c) if c == OID_NIST_EC_P521 => "EC P-521".into(),
            Some(c) => format!("EC {c}"),
            None => "EC".into(),
        }
    } else if *alg == OID_SIG_ED25519 {
        "Ed25519".into()
    } else if *alg == OID_SIG_ED448 {
        "Ed448".into()
    } else {
        alg.to_id_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Chain quality (issue 13 §4): read from the presented certificates, judged by diagnosis
// ---------------------------------------------------------------------------------------------

/// A presented certificate with an RSA key below 2048 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakRsaKey {
    pub subject: String,
    pub bits: usize,
}

/// What the presented chain says about its quality. Not in JSON: diagnosis makes findings of
/// it (`tls.rsa-key-weak`, `tls.sha1-signature`, `tls.chain-incomplete`, `tls.chain-order`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainQuality {
    pub weak_rsa: Vec<WeakRsaKey>,
    /// Subjects of the presented certificates signed with SHA-1 (a self-signed root's own
    /// signature is not counted: nobody checks it).
    pub sha1_signed: Vec<String>,
    /// webpki found no issuer (`UnknownIssuer`) and the chain stops at a certificate whose
    /// issuer the server did not send and no trust anchor names: the certificate (usually an
    /// intermediate) the server should have sent, by name.
    pub missing_issuer: Option<MissingIssuer>,
    /// A certificate is not followed by its issuer although the server sent that issuer.
    pub out_of_order: bool,
}

/// The issuer the chain lacks, and the certificate it issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingIssuer {
    pub issuer: String,
    pub of: String,
}

/// SHA-1 signature algorithms (RSA, the obsolete RSA OID, ECDSA, DSA).
fn signed_with_sha1(cert: &X509Certificate<'_>) -> bool {
    use x509_parser::oid_registry::*;
    let oid = &cert.signature_algorithm.algorithm;
    *oid == OID_PKCS1_SHA1WITHRSA
        || *oid == OID_SHA1_WITH_RSA
        || *oid == OID_SIG_DSA_WITH_SHA1
        // ecdsa-with-SHA1 is not in the registry.
        || oid.to_id_string() == "1.2.840.10045.4.1"
}

/// The content of a DER element (a trust anchor's `subject` is the Name without its header).
fn der_content(b: &[u8]) -> &[u8] {
    match b.get(1) {
        Some(&n) if n < 0x80 => b.get(2..).unwrap_or_default(),
        Some(&n) => b.get(2 + (n & 0x7f) as usize..).unwrap_or_default(),
        None => &[],
    }
}

/// The stapled OCSP response, read, then checked against the issuer of the server's
/// certificate: the one the server sent, or the trust anchor of that name.
fn read_staple(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &RootCertStore,
    der: &[u8],
    now: i64,
) -> super::ocsp::Staple {
    use super::ocsp;
    let Ok((_, leaf)) = X509Certificate::from_der(end_entity) else {
        return ocsp::read(der, &[]);
    };
    let mut staple = ocsp::read(der, leaf.tbs_certificate.raw_serial());
    staple.must_staple = ocsp::must_staple(&leaf);
    let name = leaf.tbs_certificate.issuer.as_raw();
    let sent = intermediates
        .iter()
        .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
        .find(|c| c.tbs_certificate.subject.as_raw() == name)
        .map(|c| c.tbs_certificate.subject_pki.raw.to_vec());
    // A trust anchor keeps its SubjectPublicKeyInfo without the SEQUENCE header.
    let spki = sent.or_else(|| {
        roots
            .roots
            .iter()
            .find(|a| a.subject.as_ref() == der_content(name))
            .map(|a| ocsp::der(0x30, a.subject_public_key_info.as_ref()))
    });
    let issuer = spki.as_deref().map(|spki| ocsp::Issuer { name, spki });
    ocsp::check(staple, der, issuer, now)
}

/// Read the quality facts of the chain as presented (leaf first).
fn chain_quality(
    chain: &[CertificateDer<'_>],
    verdict: &CertVerdict,
    roots: &RootCertStore,
) -> ChainQuality {
    let certs: Vec<X509Certificate<'_>> = chain
        .iter()
        .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
        .collect();
    let mut q = ChainQuality::default();
    if certs.len() != chain.len() {
        return q; // an unparsable certificate: webpki's verdict says enough
    }
    let subject = |c: &X509Certificate<'_>| c.tbs_certificate.subject.to_string();
    let self_issued = |c: &X509Certificate<'_>| {
        c.tbs_certificate.subject.as_raw() == c.tbs_certificate.issuer.as_raw()
    };
    let issuer_at = |c: &X509Certificate<'_>| {
        certs.iter().position(|o| {
            o.tbs_certificate.subject.as_raw() == c.tbs_certificate.issuer.as_raw()
                && !std::ptr::eq(o, c)
        })
    };
    for c in &certs {
        if let Some(bits) = rsa_bits(c).filter(|b| *b < 2048) {
            q.weak_rsa.push(WeakRsaKey {
                subject: subject(c),
                bits,
            });
        }
        if signed_with_sha1(c) && !self_issued(c) {
            q.sha1_signed.push(subject(c));
        }
    }
    q.out_of_order = certs
        .iter()
        .enumerate()
        .any(|(i, c)| !self_issued(c) && issuer_at(c).is_some_and(|j| j != i + 1));
    if *verdict == CertVerdict::UnknownIssuer {
        // Follow the issuers the server sent, from the leaf, to where the chain stops.
        let mut at = 0;
        for _ in 0..certs.len() {
            match issuer_at(&certs[at]) {
                Some(j) if !self_issued(&certs[at]) => at = j,
                _ => break,
            }
        }
        let top = &certs[at];
        let issuer = top.tbs_certificate.issuer.as_raw();
        let anchored = roots
            .roots
            .iter()
            .any(|a| a.subject.as_ref() == der_content(issuer));
        if !self_issued(top) && issuer_at(top).is_none() && !anchored {
            q.missing_issuer = Some(MissingIssuer {
                issuer: top.tbs_certificate.issuer.to_string(),
                of: subject(top),
            });
        }
    }
    q
}

fn load_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read CA file {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot parse PEM in CA file {}", path.display()))?;
    if !certs.is_empty() {
        return Ok(certs);
    }
    // Not PEM: accept a single DER certificate.
    if bytes.first() == Some(&0x30) && X509Certificate::from_der(&bytes).is_ok() {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    anyhow::bail!("no certificate found in CA file {}", path.display())
}

/// The CRLs of a `--crl-file`: PEM (one or more `X509 CRL` blocks), or a single DER CRL.
fn load_crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read CRL file {}", path.display()))?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot parse PEM in CRL file {}", path.display()))?;
    if !crls.is_empty() {
        return Ok(crls);
    }
    if bytes.first() == Some(&0x30) {
        // webpki parses it when the verifier is built, and says so if it is not a CRL.
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    anyhow::bail!(
        "no revocation list (X509 CRL) found in CRL file {}",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use rustls::ServerConfig;
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::Write as _;
    use std::net::SocketAddr;
    use tokio::io::AsyncBufReadExt;
    use tokio::net::{TcpListener, TcpStream};

    const HOST: &str = "mail.lab.test";
    const T: Duration = Duration::from_secs(5);

    struct Ca {
        cert: rcgen::Certificate,
        issuer: Issuer<'static, KeyPair>,
    }

    struct Leaf {
        der: CertificateDer<'static>,
        pem: String,
        key: KeyPair,
    }

    fn ca() -> Ca {
        ca_named("Lab Test CA")
    }

    fn ca_named(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca {
            cert,
            issuer: Issuer::new(p, key),
        }
    }

    fn params(names: &[&str], days_from: i64, days_to: i64) -> CertificateParams {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(days_from);
        p.not_after = now + time::Duration::days(days_to);
        p
    }

    fn signed(p: &CertificateParams, ca: &Ca) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca.issuer).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key,
        }
    }

    fn self_signed(p: &CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key,
        }
    }

    fn write_temp(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f.flush().unwrap();
        f
    }

    fn trust_with(pem: &str) -> (TlsTrust, tempfile::NamedTempFile) {
        let f = write_temp(pem);
        (TlsTrust::new(Some(f.path()), false).unwrap(), f)
    }

    /// One-connection rustls server: handshake, send a greeting, then wait for EOF.
    async fn tls_server(
        leaf: &Leaf,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> SocketAddr {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.serialize_der()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der.clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let _ = tls.write_all(b"* OK secure hello\r\n").await;
                let _ = tls.flush().await;
                let mut sink = [0u8; 64];
                let _ = tls.read(&mut sink).await;
            }
        });
        addr
    }

    async fn probe(trust: &TlsTrust, addr: SocketAddr, name: &str) -> Handshake<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        handshake(trust, tcp, name, T).await
    }

    /// Handshake must succeed and the returned stream must carry application data.
    async fn expect_ok(hs: Handshake<TcpStream>) -> TlsFacts {
        let facts = hs.facts.clone().expect("facts");
        let tls = hs.result.expect("handshake ok");
        let mut reader = tokio::io::BufReader::new(tls);
        let mut line = String::new();
        tokio::time::timeout(T, reader.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line, "* OK secure hello\r\n");
        facts
    }

    fn tls13() -> Vec<&'static rustls::SupportedProtocolVersion> {
        vec![&rustls::version::TLS13, &rustls::version::TLS12]
    }

    fn assert_fingerprint(s: &str) {
        assert_eq!(s.len(), 32 * 3 - 1, "{s}");
        for (i, part) in s.split(':').enumerate() {
            assert!(i < 32);
            assert_eq!(part.len(), 2);
            assert!(part
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        }
    }

    /// A CRL of `ca` revoking these serial numbers.
    fn crl_pem(ca: &Ca, serials: &[u64]) -> String {
        let now = time::OffsetDateTime::now_utc();
        rcgen::CertificateRevocationListParams {
            this_update: now - time::Duration::hours(1),
            next_update: now + time::Duration::days(1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|&n| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(n),
                    revocation_time: now - time::Duration::hours(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&ca.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }

    /// The verdict on `leaf` with `anchors` trusted and these CRL files given.
    async fn verdict_with_crls(leaf: &Leaf, anchors: &str, crls: &[String]) -> CertVerdict {
        let (trust, _f) = trust_with(anchors);
        let files: Vec<_> = crls.iter().map(|c| write_temp(c)).collect();
        let paths: Vec<_> = files.iter().map(|f| f.path().to_path_buf()).collect();
        let trust = trust.with_crls(&paths).unwrap();
        let addr = tls_server(leaf, &tls13()).await;
        let hs = probe(&trust, addr, HOST).await;
        let facts = hs.facts.expect("facts");
        assert!(facts.certificate.is_some(), "the certificate is described");
        facts.verification
    }

    #[tokio::test]
    async fn crls_revoke_what_they_list_and_only_for_their_own_ca() {
        // webpki matches a CRL to a certificate by issuer name: the CAs' names differ.
        let (ours, other) = (ca(), ca_named("Another Test CA"));
        let mut p = params(&[HOST], -1, 30);
        p.serial_number = Some(rcgen::SerialNumber::from(42u64));
        let leaf = signed(&p, &ours);
        let anchors = format!("{}{}", ours.cert.pem(), other.cert.pem());
        let revoked = crl_pem(&ours, &[42]);
        let v = verdict_with_crls(&leaf, &anchors, std::slice::from_ref(&revoked)).await;
        assert_eq!(v, CertVerdict::Revoked);
        // Another CA's CRL says nothing about this certificate: unknown status passes.
        let foreign = crl_pem(&other, &[42]);
        let v = verdict_with_crls(&leaf, &anchors, std::slice::from_ref(&foreign)).await;
        assert_eq!(v, CertVerdict::Valid);
        let v = verdict_with_crls(&leaf, &anchors, &[crl_pem(&ours, &[7])]).await;
        assert_eq!(v, CertVerdict::Valid);
        let v = verdict_with_crls(&leaf, &anchors, &[foreign, revoked]).await;
        assert_eq!(v, CertVerdict::Revoked);
    }

    #[test]
    fn a_file_without_a_crl_is_refused() {
        let (trust, ca_file) = trust_with(&ca().cert.pem());
        // A certificate is not a revocation list.
        let err = trust.with_crls(&[ca_file.path()]).unwrap_err();
        assert!(format!("{err:#}").contains("no revocation list"), "{err:#}");
    }

    #[tokio::test]
    async fn valid_with_ca_file_and_facts() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], -1, 30), &ca);
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &tls13()).await;
        let hs = probe(&trust, addr, HOST).await;
        assert!(hs.elapsed < T);
        let facts = expect_ok(hs).await;
        assert_eq!(facts.verification, CertVerdict::Valid);
        assert!(facts.verification.is_trusted());
        assert_eq!(facts.version, "TLSv1.3");
        assert!(
            facts.cipher_suite.starts_with("TLS13_"),
            "{}",
            facts.cipher_suite
        );
        assert_eq!(facts.key_exchange.as_deref(), Some("X25519"));
        assert_eq!(facts.sni.as_deref(), Some(HOST));
        assert_eq!(facts.alpn, None);
        assert_eq!(facts.chain_length, 1);
        let c = facts.certificate.expect("certificate");
        assert_eq!(c.subject, "CN=mail.lab.test");
        assert_eq!(c.issuer, "CN=Lab Test CA");
        assert_eq!(c.names, vec![HOST.to_string()]);
        assert!((29..=30).contains(&c.days_left), "{}", c.days_left);
        assert!(
            c.not_after.ends_with('Z') && c.not_after.contains('T'),
            "{}",
            c.not_after
        );
        assert_eq!(rfc3339(c.not_after_unix), c.not_after);
        assert_fingerprint(&c.sha256);
        let expected = hex_upper(
            ring::digest::digest(&ring::digest::SHA256, &leaf.der).as_ref(),
            ":",
        );
        assert_eq!(c.sha256, expected);
        assert!(!c.self_signed);
        assert_eq!(c.key_type, "EC P-256");
        assert!(!c.serial.is_empty() && c.serial.chars().all(|ch| ch.is_ascii_hexdigit()));
        // serialisation shape
        let json = serde_json::to_value(&facts.verification).unwrap();
        assert_eq!(json, serde_json::json!({"status": "valid"}));
    }

    #[tokio::test]
    async fn unknown_issuer_with_public_roots_only() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], -1, 30), &ca);
        let trust = TlsTrust::new(None, true).unwrap();
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(facts.verification, CertVerdict::UnknownIssuer);
        assert!(!facts.verification.is_trusted());
        assert_eq!(facts.verification.code(), "unknown-issuer");
    }

    #[tokio::test]
    async fn unknown_issuer_without_any_root() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], -1, 30), &ca);
        let trust = TlsTrust::new(None, false).unwrap();
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(facts.verification, CertVerdict::UnknownIssuer);
    }

    #[tokio::test]
    async fn expired() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], -30, -2), &ca);
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        let c = facts.certificate.unwrap();
        assert_eq!(
            facts.verification,
            CertVerdict::Expired {
                not_after: c.not_after.clone()
            }
        );
        assert!(c.days_left < 0 && c.days_left >= -3, "{}", c.days_left);
    }

    #[tokio::test]
    async fn not_yet_valid() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], 2, 30), &ca);
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        let c = facts.certificate.unwrap();
        assert_eq!(
            facts.verification,
            CertVerdict::NotYetValid {
                not_before: c.not_before.clone()
            }
        );
    }

    #[tokio::test]
    async fn name_mismatch_lists_presented_names() {
        let ca = ca();
        let leaf = signed(&params(&["other.example", "*.other.example"], -1, 30), &ca);
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(
            facts.verification,
            CertVerdict::NameMismatch {
                expected: HOST.into(),
                presented: vec!["other.example".into(), "*.other.example".into()],
            }
        );
        let json = serde_json::to_value(&facts.verification).unwrap();
        assert_eq!(json["status"], "name-mismatch");
        assert_eq!(json["expected"], HOST);
    }

    #[tokio::test]
    async fn self_signed_not_trusted() {
        let ca = ca();
        let leaf = self_signed(&params(&[HOST], -1, 30));
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(facts.verification, CertVerdict::SelfSigned);
        assert!(facts.certificate.unwrap().self_signed);
    }

    #[tokio::test]
    async fn self_signed_pinned_is_valid() {
        let leaf = self_signed(&params(&[HOST], -1, 30));
        let (trust, _f) = trust_with(&leaf.pem);
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(facts.verification, CertVerdict::Valid);
    }

    /// `openssl req -x509` style: self-signed with CA:TRUE.
    #[tokio::test]
    async fn self_signed_ca_true_leaf() {
        let mut p = params(&[HOST], -1, 30);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let leaf = self_signed(&p);

        let trust = TlsTrust::new(None, true).unwrap();
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(facts.verification, CertVerdict::SelfSigned);

        let (pinned, _f) = trust_with(&leaf.pem);
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&pinned, addr, HOST).await).await;
        assert_eq!(facts.verification, CertVerdict::Valid);

        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&pinned, addr, "imap.lab.test").await).await;
        assert_eq!(facts.verification.code(), "name-mismatch");
    }

    #[tokio::test]
    async fn ip_address_checked_against_ip_san_without_sni() {
        let ca = ca();
        let leaf = signed(&params(&["127.0.0.1", HOST], -1, 30), &ca);
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &tls13()).await;
        let facts = expect_ok(probe(&trust, addr, "127.0.0.1").await).await;
        assert_eq!(facts.verification, CertVerdict::Valid);
        assert_eq!(facts.sni, None);
        assert_eq!(
            facts.certificate.unwrap().names,
            vec!["127.0.0.1".to_string(), HOST.to_string()]
        );
    }

    #[tokio::test]
    async fn tls12_only_server() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], -1, 30), &ca);
        let (trust, _f) = trust_with(&ca.cert.pem());
        let addr = tls_server(&leaf, &[&rustls::version::TLS12]).await;
        let facts = expect_ok(probe(&trust, addr, HOST).await).await;
        assert_eq!(facts.version, "TLSv1.2");
        assert!(
            facts.cipher_suite.starts_with("TLS_ECDHE_"),
            "{}",
            facts.cipher_suite
        );
        assert_eq!(facts.verification, CertVerdict::Valid);
    }

    #[tokio::test]
    async fn plaintext_server_is_not_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            // The second line (here binary) is left out of what is reported.
            let _ = tcp
                .write_all(b"* OK IMAP4rev1 ready\r\n\x16\x03\x01 tail")
                .await;
            let mut sink = [0u8; 1024];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        let trust = TlsTrust::new(None, true).unwrap();
        let hs = probe(&trust, addr, HOST).await;
        assert_eq!(
            hs.result.unwrap_err(),
            TlsError::NotTls {
                first_bytes: "* OK IMAP4rev1 ready".into()
            }
        );
        assert!(hs.facts.is_none());
    }

    #[tokio::test]
    async fn accept_then_close_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            // Read the ClientHello first: closing with unread data makes the kernel send RST.
            let _ = tcp.read(&mut [0u8; 4096]).await;
            drop(tcp);
        });
        let trust = TlsTrust::new(None, true).unwrap();
        let hs = probe(&trust, addr, HOST).await;
        assert_eq!(hs.result.unwrap_err(), TlsError::Closed);
    }

    /// SO_LINGER 0: an RST, as an IPS sends it, is a reset, not a close.
    #[tokio::test]
    async fn a_reset_is_not_a_close() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let _ = tcp.read(&mut [0u8; 4096]).await;
            tcp.set_zero_linger().unwrap();
            drop(tcp);
        });
        let trust = TlsTrust::new(None, true).unwrap();
        let hs = probe(&trust, addr, HOST).await;
        assert_eq!(hs.result.unwrap_err(), TlsError::Reset);
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (_tcp, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let trust = TlsTrust::new(None, true).unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let hs = handshake(&trust, tcp, HOST, Duration::from_millis(300)).await;
        assert_eq!(hs.result.unwrap_err(), TlsError::Timeout);
        assert!(hs.elapsed >= Duration::from_millis(300), "{:?}", hs.elapsed);
        assert!(hs.elapsed < Duration::from_millis(1500), "{:?}", hs.elapsed);
    }

    // --- OpenSSL-backed servers (skipped when `openssl s_server` is not usable) ----------------

    struct OpensslServer {
        child: std::process::Child,
        addr: SocketAddr,
        _files: Vec<tempfile::NamedTempFile>,
    }

    impl Drop for OpensslServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn openssl_server(leaf: &Leaf, args: &[&str]) -> Option<OpensslServer> {
        use std::process::{Command, Stdio};
        let cert = write_temp(&leaf.pem);
        let key = write_temp(&leaf.key.serialize_pem());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("openssl")
            .arg("s_server")
            .arg("-accept")
            .arg(addr.to_string())
            .arg("-cert")
            .arg(cert.path())
            .arg("-key")
            .arg(key.path())
            .args(args)
            // s_server quits when its stdin reaches EOF: keep a pipe open.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = OpensslServer {
            child,
            addr,
            _files: vec![cert, key],
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    #[tokio::test]
    async fn tls10_only_server_is_protocol_version() {
        let ca = ca();
        let leaf = signed(&params(&[HOST], -1, 30), &ca);
        let Some(server) = openssl_server(&leaf, &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"])
        else {
            eprintln!("SKIPPED: openssl s_server not usable");
            return;
        };
        let (trust, _f) = trust_with(&ca.cert.pem());
        let hs = probe(&trust, server.addr, HOST).await;
        match hs.result {
            Err(TlsError::ProtocolVersion { detail }) => {
                assert!(detail.contains("protocol_version"), "{detail}");
            }
            other => panic!("unexpected: {other:?}"),
        }
    }

    /// The server requires a client certificate (TLS 1.2): it aborts after having sent its
    /// certificate, which must still be described and judged.
    #[tokio::test]
    async fn alert_after_certificate_keeps_verdict() {
        let ca = ca();
        let leaf = signed(&params(&["other.example"], -1, 30), &ca);
        let Some(server) = openssl_server(&leaf, &["-tls1_2", "-Verify", "1"]) else {
            eprintln!("SKIPPED: openssl s_server not usable");
            return;
        };
        let (trust, _f) = trust_with(&ca.cert.pem());
        let hs = probe(&trust, server.addr, HOST).await;
        // OpenSSL 3 answers a missing client certificate with handshake_failure.
        match &hs.result {
            Err(TlsError::Alert { alert }) => assert_eq!(alert, "handshake_failure"),
            other => panic!("unexpected: {other:?}"),
        }
        let facts = hs.facts.expect("facts after the certificate was seen");
        assert_eq!(facts.version, "TLSv1.2");
        assert_eq!(facts.verification.code(), "name-mismatch");
        assert_eq!(facts.certificate.unwrap().names, vec!["other.example"]);
    }

    /// Probe drivers spawn handshakes on the multi-threaded runtime.
    #[test]
    fn handshake_future_is_send() {
        fn assert_send<F: Send>(_: &F) {}
        fn check(trust: &TlsTrust, tcp: TcpStream) {
            let fut = handshake(trust, tcp, HOST, T);
            assert_send(&fut);
        }
        let _ = check;
        fn assert_send_sync<X: Send + Sync>() {}
        assert_send_sync::<TlsTrust>();
        assert_send_sync::<TlsFacts>();
    }

    // --- Pure functions ---------------------------------------------------------------------------

    #[test]
    fn server_name_forms() {
        assert!(matches!(
            server_name("mail.lab.test"),
            Ok(ServerName::DnsName(_))
        ));
        assert_eq!(
            server_name("mail.lab.test.").unwrap().to_str(),
            "mail.lab.test"
        );
        assert!(matches!(
            server_name("192.0.2.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[2001:db8::1]"),
            Ok(ServerName::IpAddress(_))
        ));
        assert_eq!(
            server_name("bücher.example").unwrap().to_str(),
            "xn--bcher-kva.example"
        );
        assert!(matches!(
            server_name("bad name"),
            Err(TlsError::Other { .. })
        ));
    }

    #[test]
    fn alert_names_are_snake_case() {
        assert_eq!(
            alert_name(AlertDescription::HandshakeFailure),
            "handshake_failure"
        );
        assert_eq!(
            alert_name(AlertDescription::ProtocolVersion),
            "protocol_version"
        );
        assert_eq!(
            alert_name(AlertDescription::UnknownPSKIdentity),
            "unknown_psk_identity"
        );
        assert_eq!(alert_name(AlertDescription::from(250)), "unknown_alert_250");
    }

    #[test]
    fn first_bytes_rendering() {
        assert_eq!(
            printable(b"* OK IMAP4rev1 ready\r\n", 40),
            "* OK IMAP4rev1 ready"
        );
        assert_eq!(printable(b"220-a\r\n220 b\r\n", 40), "220-a 220 b");
        assert_eq!(printable(b"\x00\xffAB", 40), "..AB");
        assert_eq!(printable(&[b'x'; 100], 40).len(), 40);
        assert!(looks_like_tls(&[22, 3, 1]));
        assert!(looks_like_tls(&[21]));
        assert!(!looks_like_tls(b"+OK"));
        assert!(!looks_like_tls(&[22, 0x20]));
    }

    #[test]
    fn classify_version_failures() {
        let alert = [21u8, 3, 1, 0, 2, 2, 70];
        assert_eq!(
            classify(
                Failure::Tls(rustls::Error::AlertReceived(
                    AlertDescription::ProtocolVersion
                )),
                &alert
            ),
            TlsError::ProtocolVersion {
                detail: "the server answered with alert protocol_version: it accepts neither \
                         TLS 1.2 nor TLS 1.3"
                    .into()
            }
        );
        let hello = [22u8, 3, 1, 0, 0x45, 2, 0, 0, 0x41, 3, 2];
        assert_eq!(
            classify(
                Failure::Tls(rustls::Error::PeerIncompatible(
                    PeerIncompatible::ServerDoesNotSupportTls12Or13
                )),
                &hello
            ),
            TlsError::ProtocolVersion {
                detail: "the server chose TLSv1.1".into()
            }
        );
        assert_eq!(
            classify(
                Failure::Io(io::Error::from(io::ErrorKind::ConnectionReset)),
                &[]
            ),
            TlsError::Reset
        );
        assert!(matches!(
            classify(Failure::Io(io::Error::other("boom")), &[]),
            TlsError::Io { .. }
        ));
        let json = serde_json::to_value(TlsError::Alert {
            alert: "handshake_failure".into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "alert", "alert": "handshake_failure"})
        );
    }

    #[test]
    fn trust_file_errors() {
        assert!(TlsTrust::new(Some(Path::new("/nonexistent/ca.pem")), false).is_err());
        let junk = write_temp("not a certificate\n");
        assert!(TlsTrust::new(Some(junk.path()), false).is_err());
        let ca1 = ca();
        let bundle = format!("{}{}", ca1.cert.pem(), ca().cert.pem());
        let f = write_temp(&bundle);
        let trust = TlsTrust::new(Some(f.path()), true).unwrap();
        assert_eq!(trust.extra_ca_count(), 2);
        assert!(trust.uses_public_roots());
        // DER accepted too
        let mut der = tempfile::NamedTempFile::new().unwrap();
        der.write_all(ca1.cert.der()).unwrap();
        assert_eq!(
            TlsTrust::new(Some(der.path()), false)
                .unwrap()
                .extra_ca_count(),
            1
        );
    }
}
