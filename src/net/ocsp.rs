//! The OCSP response a server staples (RFC 6960), read by hand: the certificate's status and
//! the response's validity window. rustls asks for a staple in every ClientHello
//! (`status_request`) and hands it to the verifier, which reads it here.
//!
//! The response's signature is not checked (`signature: "not-checked"`): a stapled "revoked"
//! only makes mailcheck withhold the credential (`tls.cert-revoked`), which someone able to
//! forge the staple could force anyway by breaking the connection; "good" trusts nothing.

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
    pub signature: Option<&'static str>,
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
        signature: Some("not-checked"),
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

/// A DER element (for [`response`]).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
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
/// `next_update` (GeneralizedTime text), with a placeholder signature: what the lab staples.
pub fn response(
    serial: &[u8],
    status: StapleStatus,
    this_update: &str,
    next_update: &str,
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
    let basic = der(0x30, &[tbs, ecdsa_sha256, der(0x03, &[0; 9])].concat());
    // id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1
    let oid = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
    let bytes = der(0x30, &[der(0x06, &oid), der(0x04, &basic)].concat());
    der(0x30, &[der(0x0a, &[0]), der(0xa0, &bytes)].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stapled_responses_are_read() {
        let serial = [0x01, 0x23, 0x45];
        for status in [
            StapleStatus::Good,
            StapleStatus::Revoked,
            StapleStatus::Unknown,
        ] {
            let r = read(
                &response(&serial, status, "20261201000000Z", "20261208000000Z"),
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
            "20261201000000Z",
            "20261208000000Z",
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
            &response(&serial, StapleStatus::Good, this, "20261208000000Z"),
            &serial,
        );
        assert_eq!(r.status, Some(StapleStatus::Good));
        assert_eq!(r.this_update, None);
        assert_eq!(r.next_update.as_deref(), Some("2026-12-08T00:00:00Z"));
    }
}
