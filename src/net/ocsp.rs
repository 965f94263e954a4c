//! The OCSP response a server staples (RFC 6960), read by hand: the certificate's status and
//! the response's validity window. rustls asks for a staple in every ClientHello
//! (`status_request`) and hands it to the verifier, which reads it here ([`read`]) and checks
//! it ([`check`]): whether the signature is the issuer's, directly or through a responder
//! certificate the issuer gave id-kp-OCSPSigning, and whether the response is current.
//!
//! A stapled "revoked" withholds the credential (`tls.cert-revoked`) whatever its signature:
//! someone able to forge it could force that anyway by breaking the connection; "good" trusts
//! nothing. A bad signature or a stale response is a finding.

use serde::Serialize;

/// What was stapled, and what it says about the server's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Staple {
    pub stapled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StapleStatus>,
    /// The response's thisUpdate and nextUpdate, `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub this_update: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<StapleSignature>,
    /// Whether now is within thisUpdate..nextUpdate (only for a readable response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<StapleWindow>,
    /// The certificate carries the TLS feature status_request ("must staple", RFC 7633).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub must_staple: bool,
}

/// Whose signature the response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StapleSignature {
    /// Read only ([`read`]), or unreadable.
    NotChecked,
    /// The issuer's, or a delegated responder's the issuer certified.
    Valid,
    /// Neither the issuer's nor a delegated responder's.
    Invalid,
    /// The issuer is neither sent by the server nor a trust anchor: nothing to check against.
    IssuerUnknown,
    /// An algorithm ring does not check (DSA, P-521...).
    Unsupported,
}

/// Where now stands in the response's validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StapleWindow {
    Current,
    /// nextUpdate has passed.
    Expired,
    /// thisUpdate is in the future.
    NotYetValid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StapleStatus {
    Good,
    Revoked,
    Unknown,
    /// Not a successful OCSP response, or none for this certificate's serial number.
    Unreadable,
}

/// One DER element: (tag, content, what follows).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (n as usize, rest),
        0x81..=0x83 => {
            let k = (first & 0x7f) as usize;
            let bytes = rest.get(..k)?;
            (
                bytes.iter().fold(0usize, |a, b| (a << 8) | *b as usize),
                &rest[k..],
            )
        }
        _ => return None,
    };
    Some((tag, rest.get(..len)?, &rest[len..]))
}

fn expect(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match tlv(b)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

/// GeneralizedTime `20261207120000Z` as `2026-12-07T12:00:00Z`.
fn time(g: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(g).ok()?;
    // Bytes, not `s[..14]`: a server's multi-byte character across byte 14 panicked there.
    if s.len() < 15 || !s.as_bytes()[..14].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    ))
}

fn trim_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    &b[n.min(b.len().saturating_sub(1))..]
}

/// Read `der`, a stapled OCSP response, for the certificate whose serial number is `serial`
/// (its raw bytes). An empty `der` is no staple.
pub fn read(der: &[u8], serial: &[u8]) -> Staple {
    if der.is_empty() {
        return Staple::default();
    }
    let mut staple = Staple {
        stapled: true,
        status: Some(StapleStatus::Unreadable),
        signature: Some(StapleSignature::NotChecked),
        ..Staple::default()
    };
    if let Some((status, this, next)) = single_response(der, serial) {
        staple.status = Some(status);
        staple.this_update = this;
        staple.next_update = next;
    }
    staple
}

type Single = (StapleStatus, Option<String>, Option<String>);

fn single_response(der: &[u8], serial: &[u8]) -> Option<Single> {
    let (resp, _) = expect(der, 0x30)?;
    let (status, rest) = expect(resp, 0x0a)?;
    if status != [0] {
        return None; // not "successful"
    }
    let (bytes, _) = expect(rest, 0xa0)?;
    let (bytes, _) = expect(bytes, 0x30)?;
    let (_oid, rest) = expect(bytes, 0x06)?;
    let (basic, _) = expect(rest, 0x04)?;
    let (basic, _) = expect(basic, 0x30)?;
    let (tbs, _) = expect(basic, 0x30)?;
    let mut r = tbs;
    // version [0] (optional), responderID [1] or [2], producedAt.
    if let Some((0xa0, _, rest)) = tlv(r) {
        r = rest;
    }
    let (_responder, rest) = match tlv(r)? {
        (0xa1 | 0xa2, c, rest) => (c, rest),
        _ => return None,
    };
    let (_produced, rest) = expect(rest, 0x18)?;
    let (mut responses, _) = expect(rest, 0x30)?;
    while !responses.is_empty() {
        let (single, more) = expect(responses, 0x30)?;
        responses = more;
        let (cert_id, rest) = expect(single, 0x30)?;
        let (_alg, id) = expect(cert_id, 0x30)?;
        let (_name_hash, id) = expect(id, 0x04)?;
        let (_key_hash, id) = expect(id, 0x04)?;
        let (their_serial, _) = expect(id, 0x02)?;
        if trim_zeros(their_serial) != trim_zeros(serial) {
            continue;
        }
        let (tag, _, rest) = tlv(rest)?;
        let status = match tag {
            0x80 => StapleStatus::Good,
            0xa1 => StapleStatus::Revoked,
            0x82 => StapleStatus::Unknown,
            _ => return None,
        };
        let (this, rest) = expect(rest, 0x18)?;
        let next = match tlv(rest) {
            Some((0xa0, n, _)) => expect(n, 0x18).and_then(|(t, _)| time(t)),
            _ => None,
        };
        return Some((status, time(this), next));
    }
    None
}

/// The issuer of the server's certificate: its Name and its SubjectPublicKeyInfo (DER).
pub struct Issuer<'a> {
    pub name: &'a [u8],
    pub spki: &'a [u8],
}

/// How long before its thisUpdate a response is still taken as current (clock skew).
const SKEW_SECS: i64 = 300;

/// Check a [`read`] staple: its signature against `issuer` (`None`: unknown) and its window
/// at `now` (unix seconds).
pub fn check(mut staple: Staple, der: &[u8], issuer: Option<Issuer<'_>>, now: i64) -> Staple {
    if !staple.stapled || staple.status == Some(StapleStatus::Unreadable) {
        return staple;
    }
    let unix = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| t.unix_timestamp())
    };
    staple.window = Some(
        match (unix(&staple.this_update), unix(&staple.next_update)) {
            (Some(this), _) if this > now + SKEW_SECS => StapleWindow::NotYetValid,
            (_, Some(next)) if next < now => StapleWindow::Expired,
            _ => StapleWindow::Current,
        },
    );
    staple.signature = Some(match (basic_parts(der), issuer) {
        (None, _) => StapleSignature::NotChecked,
        (Some(_), None) => StapleSignature::IssuerUnknown,
        (Some(b), Some(issuer)) => signed_by_issuer(&b, &issuer),
    });
    staple
}

/// The signed parts of a BasicOCSPResponse.
struct Basic<'a> {
    /// tbsResponseData, header included: what is signed.
    tbs: &'a [u8],
    /// signatureAlgorithm, header included.
    algorithm: &'a [u8],
    /// The signature BIT STRING's bits.
    signature: &'a [u8],
    /// The certificates the responder included (a delegated responder's), DER each.
    certs: Vec<&'a [u8]>,
}

/// One whole DER element and what follows.
fn element(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, _, rest) = tlv(b)?;
    Some((&b[..b.len() - rest.len()], rest))
}

fn basic_parts(der: &[u8]) -> Option<Basic<'_>> {
    let (resp, _) = expect(der, 0x30)?;
    let (_status, rest) = expect(resp, 0x0a)?;
    let (bytes, _) = expect(rest, 0xa0)?;
    let (bytes, _) = expect(bytes, 0x30)?;
    let (_oid, rest) = expect(bytes, 0x06)?;
    let (basic, _) = expect(rest, 0x04)?;
    let (basic, _) = expect(basic, 0x30)?;
    let (tbs, rest) = element(basic)?;
    let (algorithm, rest) = element(rest)?;
    let (bits, rest) = expect(rest, 0x03)?;
    let (&unused, signature) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    let mut certs = vec![];
    if let Some((0xa0, list, _)) = tlv(rest) {
        let (mut list, _) = expect(list, 0x30)?;
        while !list.is_empty() {
            let (cert, more) = element(list)?;
            certs.push(cert);
            list = more;
        }
    }
    Some(Basic {
        tbs,
        algorithm,
        signature,
        certs,
    })
}

/// The issuer signed the response, or a responder certificate included in it that the issuer
/// signed and gave id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
fn signed_by_issuer(b: &Basic<'_>, issuer: &Issuer<'_>) -> StapleSignature {
    use x509_parser::prelude::FromDer as _;
    use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};
    let (Ok((_, issuer_key)), Ok((_, alg))) = (
        SubjectPublicKeyInfo::from_der(issuer.spki),
        AlgorithmIdentifier::from_der(b.algorithm),
    ) else {
        return StapleSignature::Invalid;
    };
    let verify = |key: &SubjectPublicKeyInfo<'_>| {
        super::tls::verify_signature(key, &alg, b.tbs, b.signature)
    };
    match verify(&issuer_key) {
        Some(true) => return StapleSignature::Valid,
        None => return StapleSignature::Unsupported,
        Some(false) => {}
    }
    for der in &b.certs {
        let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) else {
            continue;
        };
        let delegated = cert.tbs_certificate.issuer.as_raw() == issuer.name
            && cert
                .extended_key_usage()
                .ok()
                .flatten()
                .is_some_and(|e| e.value.ocsp_signing)
            && super::tls::verify_signature(
                &issuer_key,
                &cert.signature_algorithm,
                cert.tbs_certificate.as_ref(),
                &cert.signature_value.data,
            ) == Some(true);
        if delegated && verify(&cert.tbs_certificate.subject_pki) == Some(true) {
            return StapleSignature::Valid;
        }
    }
    StapleSignature::Invalid
}

/// The TLS feature extension (RFC 7633, 1.3.6.1.5.5.7.1.24) lists status_request (5).
pub fn must_staple(cert: &x509_parser::certificate::X509Certificate<'_>) -> bool {
    cert.tbs_certificate.extensions().iter().any(|e| {
        e.oid.to_id_string() == "1.3.6.1.5.5.7.1.24"
            && expect(e.value, 0x30).is_some_and(|(mut list, _)| {
                while let Some((content, rest)) = expect(list, 0x02) {
                    if trim_zeros(content) == [5] {
                        return true;
                    }
                    list = rest;
                }
                false
            })
    })
}

/// A DER element (for [`response`], and a trust anchor's key given back its header).
pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A successful OCSP response saying `status` for `serial`, valid from `this_update` to
/// `next_update` (GeneralizedTime text), signed by `sign` (ECDSA P-256 with SHA-256, the
/// lab's keys) and carrying `certs` (a delegated responder's): what the lab staples.
pub fn response(
    serial: &[u8],
    status: StapleStatus,
    (this_update, next_update): (&str, &str),
    sign: &dyn Fn(&[u8]) -> Vec<u8>,
    certs: &[&[u8]],
) -> Vec<u8> {
    let sha1 = der(
        0x30,
        &[der(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]), der(0x05, &[])].concat(),
    );
    let cert_id = der(
        0x30,
        &[
            sha1,
            der(0x04, &[0; 20]),
            der(0x04, &[0; 20]),
            der(0x02, serial),
        ]
        .concat(),
    );
    let cert_status = match status {
        StapleStatus::Good => der(0x80, &[]),
        StapleStatus::Revoked => der(0xa1, &der(0x18, this_update.as_bytes())),
        StapleStatus::Unknown | StapleStatus::Unreadable => der(0x82, &[]),
    };
    let single = der(
        0x30,
        &[
            cert_id,
            cert_status,
            der(0x18, this_update.as_bytes()),
            der(0xa0, &der(0x18, next_update.as_bytes())),
        ]
        .concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0xa2, &der(0x04, &[0; 20])),
            der(0x18, this_update.as_bytes()),
            der(0x30, &single),
        ]
        .concat(),
    );
    let ecdsa_sha256 = der(
        0x30,
        &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let signature = [vec![0], sign(&tbs)].concat();
    let mut parts = vec![tbs, ecdsa_sha256, der(0x03, &signature)];
    if !certs.is_empty() {
        parts.push(der(0xa0, &der(0x30, &certs.concat())));
    }
    let basic = der(0x30, &parts.concat());
    // id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1
    let oid = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
    let bytes = der(0x30, &[der(0x06, &oid), der(0x04, &basic)].concat());
    der(0x30, &[der(0x0a, &[0]), der(0xa0, &bytes)].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsigned(_: &[u8]) -> Vec<u8> {
        vec![0; 8]
    }

    #[test]
    fn stapled_responses_are_read() {
        let serial = [0x01, 0x23, 0x45];
        for status in [
            StapleStatus::Good,
            StapleStatus::Revoked,
            StapleStatus::Unknown,
        ] {
            let r = read(
                &response(
                    &serial,
                    status,
                    ("20261201000000Z", "20261208000000Z"),
                    &unsigned,
                    &[],
                ),
                &serial,
            );
            assert!(r.stapled);
            assert_eq!(r.status, Some(status));
            assert_eq!(r.this_update.as_deref(), Some("2026-12-01T00:00:00Z"));
            assert_eq!(r.next_update.as_deref(), Some("2026-12-08T00:00:00Z"));
        }
        // Another certificate's response says nothing about this one.
        let other = response(
            &[9],
            StapleStatus::Revoked,
            ("20261201000000Z", "20261208000000Z"),
            &unsigned,
            &[],
        );
        assert_eq!(read(&other, &serial).status, Some(StapleStatus::Unreadable));
        assert_eq!(read(&[], &serial), Staple::default());
        assert_eq!(
            read(&[0x30, 0x03, 0x0a, 0x01, 0x01], &serial).status,
            Some(StapleStatus::Unreadable)
        );
    }

    /// Found by fuzz_ocsp: a time with a multi-byte character across byte 14 panicked
    /// the verifier instead of being unreadable.
    #[test]
    fn a_time_with_a_character_across_its_digits_is_not_read() {
        let serial = [0x01, 0x23, 0x45];
        let this = "2026120100000\u{420}"; // 13 digits, then 'Р' (2 bytes)
        assert_eq!(this.len(), 15);
        let r = read(
            &response(
                &serial,
                StapleStatus::Good,
                (this, "20261208000000Z"),
                &unsigned,
                &[],
            ),
            &serial,
        );
        assert_eq!(r.status, Some(StapleStatus::Good));
        assert_eq!(r.this_update, None);
        assert_eq!(r.next_update.as_deref(), Some("2026-12-08T00:00:00Z"));
    }

    /// The issuer's signature, or a delegated responder's with id-kp-OCSPSigning, is valid;
    /// any other key's, or a responder's without that purpose, is not; the window is judged
    /// at `now`; a must-staple certificate is recognised.
    #[test]
    fn signatures_windows_and_must_staple_are_checked() {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            SigningKey as _,
        };
        use x509_parser::prelude::FromDer as _;
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "OCSP test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
        let (_, ca_cert) = x509_parser::certificate::X509Certificate::from_der(&ca_der).unwrap();
        let issuer = || Issuer {
            name: ca_cert.tbs_certificate.subject.as_raw(),
            spki: ca_cert.tbs_certificate.subject_pki.raw,
        };
        let serial = [0x01, 0x23, 0x45];
        let window = ("20261201000000Z", "20261208000000Z");
        let at = |d: time::OffsetDateTime| d.unix_timestamp();
        let now = at(time::macros::datetime!(2026-12-04 00:00 UTC));
        let staple = |key: &KeyPair, certs: &[&[u8]]| {
            response(
                &serial,
                StapleStatus::Good,
                window,
                &|m| key.sign(m).unwrap(),
                certs,
            )
        };
        let checked = |der: &[u8], now: i64| check(read(der, &serial), der, Some(issuer()), now);

        let direct = checked(&staple(&ca_key, &[]), now);
        assert_eq!(direct.signature, Some(StapleSignature::Valid));
        assert_eq!(direct.window, Some(StapleWindow::Current));
        let stranger = KeyPair::generate().unwrap();
        assert_eq!(
            checked(&staple(&stranger, &[]), now).signature,
            Some(StapleSignature::Invalid)
        );
        let by_ca = rcgen::Issuer::from_params(&ca, &ca_key);
        let responder = |purposes: Vec<ExtendedKeyUsagePurpose>| {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name
                .push(DnType::CommonName, "OCSP test responder");
            p.extended_key_usages = purposes;
            let key = KeyPair::generate().unwrap();
            let der = p.signed_by(&key, &by_ca).unwrap().der().to_vec();
            (key, der)
        };
        let (key, cert) = responder(vec![ExtendedKeyUsagePurpose::OcspSigning]);
        assert_eq!(
            checked(&staple(&key, &[&cert]), now).signature,
            Some(StapleSignature::Valid)
        );
        let (key, cert) = responder(vec![ExtendedKeyUsagePurpose::ServerAuth]);
        assert_eq!(
            checked(&staple(&key, &[&cert]), now).signature,
            Some(StapleSignature::Invalid)
        );

        let good = staple(&ca_key, &[]);
        let later = at(time::macros::datetime!(2026-12-09 00:00 UTC));
        let earlier = at(time::macros::datetime!(2026-11-30 00:00 UTC));
        assert_eq!(checked(&good, later).window, Some(StapleWindow::Expired));
        assert_eq!(
            checked(&good, earlier).window,
            Some(StapleWindow::NotYetValid)
        );
        let unknown = check(read(&good, &serial), &good, None, now);
        assert_eq!(unknown.signature, Some(StapleSignature::IssuerUnknown));
        // Nothing stapled: nothing to check.
        assert_eq!(
            check(read(&[], &serial), &[], Some(issuer()), now),
            Staple::default()
        );

        let mut leaf = CertificateParams::new(vec!["mail.example".to_string()]).unwrap();
        let plain = leaf.self_signed(&stranger).unwrap().der().to_vec();
        leaf.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 24],
            vec![0x30, 0x03, 0x02, 0x01, 0x05],
        )];
        let must = leaf.self_signed(&stranger).unwrap().der().to_vec();
        let parse = |d: &[u8]| {
            must_staple(
                &x509_parser::certificate::X509Certificate::from_der(d)
                    .unwrap()
                    .1,
            )
        };
        assert!(parse(&must));
        assert!(!parse(&plain));
    }

    /// The fuzz seeds, replayed: none panics, and the responses OpenSSL's responder made
    /// (`openssl ocsp`, one signed by the CA, one by a delegated responder, with their
    /// certificates included) are read and their signed parts found.
    #[test]
    fn the_fuzz_seeds_are_read() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/fuzz_ocsp");
        let mut openssl = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let Some((&n, rest)) = data.split_first() else {
                continue;
            };
            let (serial, der) = rest.split_at((n as usize % 21).min(rest.len()));
            let staple = read(der, serial);
            let checked = check(staple.clone(), der, None, 0);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("openssl-") {
                openssl += 1;
                assert_eq!(staple.status, Some(StapleStatus::Good), "{name}");
                assert!(
                    basic_parts(der).is_some_and(|b| b.certs.len() == 1),
                    "{name}"
                );
                assert_eq!(checked.signature, Some(StapleSignature::IssuerUnknown));
            }
        }
        assert_eq!(openssl, 2);
    }
}
