//! Certificates made at start: a lab CA (written to disk for `--ca-file`) and one server
//! certificate, good or broken as the scenario asks (and, for a revoked one, the CA's CRL,
//! written next to it for `--crl-file`). Nothing is ever read from or kept on disk
//! beyond the lab's lifetime; private keys stay in memory.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The server certificate a scenario presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// Issued by the lab CA for the lab name, valid from yesterday for 90 days.
    Good,
    /// Issued by the lab CA, expired yesterday.
    Expired,
    /// Issued by the lab CA, valid from tomorrow.
    NotYetValid,
    /// Issued by the lab CA for `other.lab.test`.
    WrongName,
    /// Self-signed for the lab name (not issued by the lab CA).
    SelfSigned,
    /// Issued by the lab CA for the lab name, but for TLS clients only (EKU clientAuth):
    /// webpki refuses it for a server, which mailcheck reports as an invalid certificate.
    ClientAuthOnly,
    /// Issued by the lab CA for the lab name, and listed as revoked in the CA's CRL.
    Revoked,
    /// Issued by an intermediate of the lab CA, which the server does not send.
    MissingIntermediate,
    /// Issued by the second of two intermediates (lab CA → A → B → leaf), sent as leaf, A, B.
    WrongOrder,
    /// Issued by the lab CA with the TLS feature status_request ("must staple", RFC 7633).
    MustStaple,
}

/// The serial number of every lab server certificate (the CRL names it).
const LEAF_SERIAL: u64 = 0x4d41_494c;

pub(crate) struct Certs {
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The lab CA's CRL in PEM, revoking the server certificate (only for `Revoked`).
    pub crl_pem: Option<String>,
    /// The lab CA's key, for the OCSP responses the lab staples.
    pub ca_key: std::sync::Arc<KeyPair>,
}

/// Days from now of `not_before` and `not_after`.
fn validity(kind: LeafKind) -> (i64, i64) {
    match kind {
        LeafKind::Expired => (-60, -1),
        LeafKind::NotYetValid => (1, 90),
        _ => (-1, 90),
    }
}

fn leaf_params(name: &str, kind: LeafKind) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(vec![name.to_string()])?;
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.distinguished_name
        .push(DnType::OrganizationName, "mailcheck lab");
    let (from, to) = validity(kind);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(from);
    p.not_after = now + time::Duration::days(to);
    p.serial_number = Some(SerialNumber::from(LEAF_SERIAL));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![match kind {
        LeafKind::ClientAuthOnly => ExtendedKeyUsagePurpose::ClientAuth,
        _ => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    if kind == LeafKind::MustStaple {
        // id-pe-tlsfeature: SEQUENCE { INTEGER 5 (status_request) }
        p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 24],
            vec![0x30, 0x03, 0x02, 0x01, 0x05],
        )];
    }
    Ok(p)
}

/// A fresh CA and a server certificate of `kind` for `name`.
pub(crate) fn generate(name: &str, kind: LeafKind) -> Result<Certs> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(match kind {
        LeafKind::MissingIntermediate | LeafKind::WrongOrder => BasicConstraints::Unconstrained,
        _ => BasicConstraints::Constrained(0),
    });
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "mailcheck lab CA (temporary)");
    let now = time::OffsetDateTime::now_utc();
    ca.not_before = now - time::Duration::days(2);
    ca.not_after = now + time::Duration::days(120);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().context("generating the lab CA key")?;
    let ca_key_copy =
        KeyPair::try_from(ca_key.serialized_der()).context("copying the lab CA key")?;
    let ca_cert = ca.self_signed(&ca_key).context("signing the lab CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf_name = match kind {
        LeafKind::WrongName => "other.lab.test",
        _ => name,
    };
    let params = leaf_params(leaf_name, kind)?;
    let key = KeyPair::generate().context("generating the server key")?;
    // The intermediates the server sends after its certificate, in the order it sends them.
    let mut sent = vec![];
    let cert = match kind {
        LeafKind::SelfSigned => params.self_signed(&key),
        LeafKind::MissingIntermediate => {
            let (_unsent, inter) = intermediate("mailcheck lab intermediate A", &issuer, now)?;
            params.signed_by(&key, &inter)
        }
        LeafKind::WrongOrder => {
            let (a, inter_a) = intermediate("mailcheck lab intermediate A", &issuer, now)?;
            let (b, inter_b) = intermediate("mailcheck lab intermediate B", &inter_a, now)?;
            sent = vec![a.der().clone(), b.der().clone()];
            params.signed_by(&key, &inter_b)
        }
        _ => params.signed_by(&key, &issuer),
    }
    .context("signing the server certificate")?;
    let crl_pem = match kind {
        LeafKind::Revoked => Some(revocation_list(&issuer, now)?),
        _ => None,
    };
    Ok(Certs {
        ca_pem: ca_cert.pem(),
        chain: [vec![cert.der().clone()], sent].concat(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        crl_pem,
        ca_key: std::sync::Arc::new(ca_key_copy),
    })
}

/// An intermediate CA named `name`, issued by `by`.
fn intermediate(
    name: &str,
    by: &Issuer<'_, KeyPair>,
    now: time::OffsetDateTime,
) -> Result<(rcgen::Certificate, Issuer<'static, KeyPair>)> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = now - time::Duration::days(2);
    p.not_after = now + time::Duration::days(100);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().context("generating an intermediate key")?;
    let cert = p.signed_by(&key, by).context("signing an intermediate")?;
    Ok((cert, Issuer::new(p, key)))
}

/// A CRL of the lab CA, current for a week, revoking the server certificate since an hour ago.
fn revocation_list(issuer: &Issuer<'_, KeyPair>, now: time::OffsetDateTime) -> Result<String> {
    let params = CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(7),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(LEAF_SERIAL),
            revocation_time: now - time::Duration::hours(1),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(issuer)
        .context("signing the lab CA's revocation list")?;
    crl.pem().context("encoding the lab CA's revocation list")
}
