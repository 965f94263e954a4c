//! DANE for mail access (RFC 7673 for SRV-found hosts; the usages, selectors and matching types
//! of RFC 6698 and RFC 7671): the chain a server presented, checked against the DNSSEC-validated
//! TLSA records of `_port._tcp.host`.
//!
//! [`record_matches`] is a pure function over a TLSA record's RDATA and the chain's DER (fuzzed
//! by `fuzz/fuzz_targets/fuzz_tlsa.rs`); [`check`] applies the usages to a whole RRset:
//! - DANE-EE (3): the leaf matches; nothing else is checked (no name, no dates, RFC 7671 §5.1),
//!   so a self-signed certificate the zone names is verified;
//! - DANE-TA (2): a certificate of the chain above the leaf matches, and the leaf chains to it
//!   for the host name (RFC 7671 §5.2);
//! - PKIX-TA (0) / PKIX-EE (1): a CA / the leaf matches, and the chain also passes the usual
//!   public-CA (PKIX) validation.
//!
//! A record with a usage, selector or matching type outside these is unusable and ignored; a
//! set of only unusable records is as if there were none (RFC 7671 §4.1).

use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::server::ParsedCertificate;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::resolver::{Dnssec, Resolver, TlsaRecord};
use super::tls::TlsFacts;

/// What DANE made of one TLS connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneCheck {
    /// `_993._tcp.mail.example.com`.
    pub tlsa_name: String,
    /// The validated TLSA records there.
    pub records: usize,
    #[serde(flatten)]
    pub status: DaneStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum DaneStatus {
    /// The chain matches this record: the certificate is authenticated by DNSSEC.
    Match {
        usage: u8,
        selector: u8,
        matching: u8,
    },
    /// No usable record matches: the certificate is not the one the domain publishes.
    Mismatch,
    /// Every record has a usage, selector or matching type not defined (RFC 7671 §4.1).
    Unusable,
}

impl DaneCheck {
    /// Whether DANE authenticates the certificate: a match of DANE-TA or DANE-EE, which need no
    /// public CA (PKIX-TA/EE matches need the PKIX verdict too, which [`check`] already asked).
    pub fn authenticates(&self) -> bool {
        matches!(self.status, DaneStatus::Match { .. })
    }

    pub fn is_mismatch(&self) -> bool {
        self.status == DaneStatus::Mismatch
    }
}

/// The host's TLSA records when DNSSEC validated them (RFC 7673 §3: no DANE otherwise): the
/// name asked and each record's RDATA.
pub async fn lookup(resolver: &Resolver, host: &str, port: u16) -> Option<(String, Vec<Vec<u8>>)> {
    if host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return None;
    }
    let answer = resolver.tlsa(host, port).await.ok()?;
    if answer.dnssec != Dnssec::Validated {
        return None;
    }
    let name = format!("_{port}._tcp.{}", host.trim_end_matches('.'));
    Some((name, answer.records.iter().map(rdata).collect()))
}

/// A record's RDATA (RFC 6698 §2.1).
fn rdata(r: &TlsaRecord) -> Vec<u8> {
    let mut v = vec![r.usage, r.selector, r.matching];
    v.extend_from_slice(&r.data);
    v
}

/// `facts.dane` from the TLSA records at `name`, for the host name `server_name`.
pub fn judge(facts: &mut TlsFacts, name: &str, records: &[Vec<u8>], server_name: &str) {
    let chain: Vec<&[u8]> = facts.chain.iter().map(|c| c.as_ref()).collect();
    if chain.is_empty() {
        return;
    }
    let status = check(records, &chain, facts.verification.is_trusted(), |i| {
        chains_to(&facts.chain, i, server_name)
    });
    facts.dane = Some(DaneCheck {
        tlsa_name: name.to_string(),
        records: records.len(),
        status,
    });
}

/// Whether the connection's certificate is to be trusted: DANE decides where it matched or
/// mismatched, the public-CA verdict otherwise.
pub fn trusted(facts: &TlsFacts) -> bool {
    match &facts.dane {
        Some(d) if d.authenticates() => true,
        Some(d) if d.is_mismatch() => false,
        _ => facts.verification.is_trusted(),
    }
}

/// DANE-TA: the leaf chains to `chain[i]` taken as the trust anchor, and names `server_name`
/// (RFC 7671 §5.2: name checks apply).
fn chains_to(chain: &[CertificateDer<'static>], i: usize, server_name: &str) -> bool {
    let (Some(leaf), Some(anchor)) = (chain.first(), chain.get(i).filter(|_| i > 0)) else {
        return false;
    };
    let mut roots = RootCertStore::empty();
    if roots.add(anchor.clone()).is_err() {
        return false;
    }
    let (Ok(parsed), Ok(name)) = (
        ParsedCertificate::try_from(leaf),
        ServerName::try_from(server_name.to_string()),
    ) else {
        return false;
    };
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &roots,
        &chain[1..i],
        UnixTime::now(),
        algs.all,
    )
    .and_then(|()| verify_server_name(&parsed, &name))
    .is_ok()
}

/// The TLSA RDATA's fields (RFC 6698 §2.1), or `None` when it is too short to have them.
fn fields(rdata: &[u8]) -> Option<(u8, u8, u8, &[u8])> {
    match rdata {
        [usage, selector, matching, data @ ..] => Some((*usage, *selector, *matching, data)),
        _ => None,
    }
}

/// The part of `cert` that `selector` names: the whole certificate (0) or its
/// SubjectPublicKeyInfo (1).
fn selected(selector: u8, cert: &[u8]) -> Option<&[u8]> {
    match selector {
        0 => Some(cert),
        1 => {
            let (_, c) = X509Certificate::from_der(cert).ok()?;
            Some(c.tbs_certificate.subject_pki.raw)
        }
        _ => None,
    }
}

/// Whether `data` is `matching`'s form of `content`: itself (0), its SHA-256 (1), its SHA-512 (2).
fn digest_matches(matching: u8, content: &[u8], data: &[u8]) -> Option<bool> {
    let alg = match matching {
        0 => return Some(content == data),
        1 => &ring::digest::SHA256,
        2 => &ring::digest::SHA512,
        _ => return None,
    };
    Some(ring::digest::digest(alg, content).as_ref() == data)
}

/// Which certificates of `chain` (leaf first, DER) the TLSA record `rdata` matches, by index,
/// as its usage allows them: the leaf only for PKIX-EE and DANE-EE, the others only for PKIX-TA
/// and DANE-TA. `None`: the record is unusable (too short, unknown usage, selector or
/// matching type).
pub fn record_matches(rdata: &[u8], chain: &[&[u8]]) -> Option<Vec<usize>> {
    let (usage, selector, matching, data) = fields(rdata)?;
    let leaf_only = match usage {
        1 | 3 => true,
        0 | 2 => false,
        _ => return None,
    };
    if selector > 1 || matching > 2 {
        return None;
    }
    let mut out = Vec::new();
    for (i, cert) in chain.iter().enumerate() {
        if leaf_only != (i == 0) {
            continue;
        }
        let Some(content) = selected(selector, cert) else {
            continue;
        };
        if digest_matches(matching, content, data) == Some(true) {
            out.push(i);
        }
    }
    Some(out)
}

/// The RRset `records` (each RDATA) against `chain`. `pkix_valid`: the chain passed the usual
/// public-CA validation for the host name. `chains_to(i)`: the leaf chains to certificate `i`
/// as a trust anchor, for the host name (DANE-TA).
pub fn check(
    records: &[Vec<u8>],
    chain: &[&[u8]],
    pkix_valid: bool,
    chains_to: impl Fn(usize) -> bool,
) -> DaneStatus {
    let mut usable = false;
    for r in records {
        let Some(found) = record_matches(r, chain) else {
            continue;
        };
        usable = true;
        let Some((usage, selector, matching, _)) = fields(r) else {
            continue;
        };
        let ok = match usage {
            3 => !found.is_empty(),
            2 => found.iter().any(|&i| chains_to(i)),
            _ => !found.is_empty() && pkix_valid,
        };
        if ok {
            return DaneStatus::Match {
                usage,
                selector,
                matching,
            };
        }
    }
    if usable {
        DaneStatus::Mismatch
    } else {
        DaneStatus::Unusable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA and a leaf for `mail.lab.test` it signed, both DER.
    fn ca_and_leaf() -> (Vec<u8>, Vec<u8>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(vec![]).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let p = rcgen::CertificateParams::new(vec!["mail.lab.test".into()]).unwrap();
        let leaf = p.signed_by(&key, &issuer).unwrap().der().to_vec();
        (ca_der, leaf)
    }

    fn rdata(usage: u8, selector: u8, matching: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![usage, selector, matching];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn selectors_and_matching_types() {
        let (ca, leaf) = ca_and_leaf();
        let chain: Vec<&[u8]> = vec![&leaf, &ca];
        let spki = selected(1, &leaf).unwrap().to_vec();
        let sha256 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, b)
                .as_ref()
                .to_vec()
        };
        let sha512 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA512, b)
                .as_ref()
                .to_vec()
        };
        for r in [
            rdata(3, 0, 0, &leaf),
            rdata(3, 1, 0, &spki),
            rdata(3, 1, 1, &sha256(&spki)),
            rdata(3, 0, 1, &sha256(&leaf)),
            rdata(3, 1, 2, &sha512(&spki)),
        ] {
            assert_eq!(record_matches(&r, &chain), Some(vec![0]), "{:?}", &r[..3]);
        }
        // A TA usage never matches the leaf, an EE usage never the CA.
        assert_eq!(
            record_matches(&rdata(2, 0, 1, &sha256(&leaf)), &chain),
            Some(vec![])
        );
        assert_eq!(
            record_matches(&rdata(2, 0, 1, &sha256(&ca)), &chain),
            Some(vec![1])
        );
        assert_eq!(
            record_matches(&rdata(3, 0, 1, &sha256(&ca)), &chain),
            Some(vec![])
        );
        // Unusable records.
        for r in [
            vec![3, 1],
            rdata(4, 1, 1, b""),
            rdata(3, 2, 1, b""),
            rdata(3, 1, 3, b""),
        ] {
            assert_eq!(record_matches(&r, &chain), None, "{r:?}");
        }
    }

    #[test]
    fn usages_decide_over_the_set() {
        let (ca, leaf) = ca_and_leaf();
        let chain: Vec<&[u8]> = vec![&leaf, &ca];
        let sha256 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, b)
                .as_ref()
                .to_vec()
        };
        let ee = rdata(3, 0, 1, &sha256(&leaf));
        let ta = rdata(2, 0, 1, &sha256(&ca));
        let pkix_ee = rdata(1, 0, 1, &sha256(&leaf));
        let other = rdata(3, 0, 1, &[0; 32]);
        let never = |_| false;
        let m = |u, s, mt| DaneStatus::Match {
            usage: u,
            selector: s,
            matching: mt,
        };
        assert_eq!(
            check(&[other.clone(), ee], &chain, false, never),
            m(3, 0, 1)
        );
        assert_eq!(
            check(std::slice::from_ref(&other), &chain, true, never),
            DaneStatus::Mismatch
        );
        assert_eq!(
            check(std::slice::from_ref(&ta), &chain, false, |i| i == 1),
            m(2, 0, 1)
        );
        assert_eq!(
            check(std::slice::from_ref(&ta), &chain, false, never),
            DaneStatus::Mismatch
        );
        assert_eq!(
            check(std::slice::from_ref(&pkix_ee), &chain, false, never),
            DaneStatus::Mismatch
        );
        assert_eq!(check(&[pkix_ee], &chain, true, never), m(1, 0, 1));
        assert_eq!(
            check(&[rdata(9, 0, 0, b"")], &chain, true, never),
            DaneStatus::Unusable
        );
        assert_eq!(check(&[], &chain, true, never), DaneStatus::Unusable);
    }

    #[test]
    fn never_panics_on_bytes() {
        let junk: [&[u8]; 3] = [b"", b"\x30\x03\x02\x01\x00", &[0xff; 40]];
        for r in [
            &b""[..],
            b"\x03",
            b"\x03\x01\x01",
            b"\x03\x01\x01abc",
            b"\x02\x00\x00\x30",
        ] {
            let _ = record_matches(r, &junk);
        }
    }
}
