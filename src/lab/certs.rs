//! Certificates made at start: a lab CA (written to disk for `--ca-file`) and one server
//! certificate, good or broken as the scenario asks. Nothing is ever read from or kept on disk
//! beyond the lab's lifetime; private keys stay in memory.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
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
}

pub(crate) struct Certs {
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
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
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![match kind {
        LeafKind::ClientAuthOnly => ExtendedKeyUsagePurpose::ClientAuth,
        _ => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    Ok(p)
}

/// A fresh CA and a server certificate of `kind` for `name`.
pub(crate) fn generate(name: &str, kind: LeafKind) -> Result<Certs> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
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
    let ca_cert = ca.self_signed(&ca_key).context("signing the lab CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf_name = match kind {
        LeafKind::WrongName => "other.lab.test",
        _ => name,
    };
    let params = leaf_params(leaf_name, kind)?;
    let key = KeyPair::generate().context("generating the server key")?;
    let cert = match kind {
        LeafKind::SelfSigned => params.self_signed(&key),
        _ => params.signed_by(&key, &issuer),
    }
    .context("signing the server certificate")?;
    Ok(Certs {
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}
