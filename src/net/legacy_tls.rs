//! Does the server still accept an obsolete TLS version? rustls speaks only TLS 1.2 and 1.3,
//! so this sends a hand-made ClientHello that offers TLS 1.0 and 1.1 only (with the cipher
//! suites those versions use) and reads the version of the ServerHello. Nothing else of the
//! handshake is done: the connection is closed once the server has answered.
//!
//! Only for implicit-TLS ports, on a fresh connection to the peer the probe already used.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's answer to a ClientHello offering TLS 1.0 and 1.1 only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyTls {
    /// The obsolete version the server chose ("TLSv1.1", "TLSv1.0", "SSLv3"); `None` when it
    /// refused them, as it should.
    pub accepted: Option<String>,
    /// What the server did: "alert protocol_version", "closed", "chose TLSv1.2 anyway"...
    pub detail: String,
}

/// The highest version this ClientHello offers: TLS 1.1.
const OFFERED_MAX: [u8; 2] = [0x03, 0x02];

/// Cipher suites of TLS 1.0/1.1 servers: ECDHE and RSA key exchange with AES-CBC and 3DES,
/// plus the renegotiation SCSV.
const SUITES: [u16; 9] = [
    0xc014, 0xc013, 0xc00a, 0xc009, 0x0035, 0x002f, 0x0039, 0x000a, 0x00ff,
];

/// A TLS 1.1 ClientHello record. `sni` is a DNS name (not sent for IP addresses).
pub fn client_hello(sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut sn = Vec::new();
        sn.push(0u8); // host_name
        sn.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sn.extend_from_slice(name);
        ext.extend_from_slice(&0x0000u16.to_be_bytes());
        ext.extend_from_slice(&((sn.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(sn.len() as u16).to_be_bytes());
        ext.extend_from_slice(&sn);
    }
    // supported_groups: secp256r1, secp384r1, x25519.
    let groups: [u16; 3] = [0x0017, 0x0018, 0x001d];
    ext.extend_from_slice(&0x000au16.to_be_bytes());
    ext.extend_from_slice(&((groups.len() * 2 + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&((groups.len() * 2) as u16).to_be_bytes());
    for g in groups {
        ext.extend_from_slice(&g.to_be_bytes());
    }
    // ec_point_formats: uncompressed.
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);

    let mut body = Vec::new();
    body.extend_from_slice(&OFFERED_MAX);
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&((SUITES.len() * 2) as u16).to_be_bytes());
    for s in SUITES {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);

    let mut hs = vec![0x01]; // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

fn version_name(v: [u8; 2]) -> String {
    match v {
        [0x03, 0x00] => "SSLv3".into(),
        [0x03, 0x01] => "TLSv1.0".into(),
        [0x03, 0x02] => "TLSv1.1".into(),
        [0x03, 0x03] => "TLSv1.2".into(),
        [0x03, 0x04] => "TLSv1.3".into(),
        [a, b] => format!("0x{a:02x}{b:02x}"),
    }
}

fn alert_name(code: u8) -> String {
    match code {
        0 => "close_notify".into(),
        10 => "unexpected_message".into(),
        40 => "handshake_failure".into(),
        47 => "illegal_parameter".into(),
        50 => "decode_error".into(),
        70 => "protocol_version".into(),
        71 => "insufficient_security".into(),
        80 => "internal_error".into(),
        86 => "inappropriate_fallback".into(),
        112 => "unrecognized_name".into(),
        n => format!("alert {n}"),
    }
}

/// Read the server's first TLS record after our ClientHello and judge it.
pub fn judge_answer(first: &[u8]) -> LegacyTls {
    let verdict = |accepted: Option<String>, detail: String| LegacyTls { accepted, detail };
    match first {
        [] => verdict(None, "closed".into()),
        // A handshake record holding a ServerHello: its version is the server's choice.
        [0x16, _, _, _, _, 0x02, _, _, _, v0, v1, ..] => {
            let v = [*v0, *v1];
            if v <= OFFERED_MAX && v >= [0x03, 0x00] {
                verdict(Some(version_name(v)), format!("chose {}", version_name(v)))
            } else {
                verdict(None, format!("chose {} anyway", version_name(v)))
            }
        }
        [0x15, _, _, _, _, _level, desc, ..] => {
            verdict(None, format!("alert {}", alert_name(*desc)))
        }
        [0x16, ..] | [0x15, ..] => verdict(None, "short answer".into()),
        _ => verdict(None, "not a TLS answer".into()),
    }
}

/// Send the ClientHello to `peer` and read the start of the first record of the answer
/// (empty if the server closed without a word).
async fn exchange(peer: SocketAddr, sni: Option<&str>) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(peer).await?;
    let mut random = [0u8; 32];
    use ring::rand::SecureRandom as _;
    let _ = ring::rand::SystemRandom::new().fill(&mut random);
    stream.write_all(&client_hello(sni, random)).await?;
    // The record header, then the first 6 bytes of the handshake message or the alert.
    let mut buf = vec![0u8; 11];
    let mut got = 0;
    while got < buf.len() {
        let n = stream.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
        // An alert record is 7 bytes in all.
        if buf[0] == 0x15 && got >= 7 {
            break;
        }
    }
    buf.truncate(got);
    let _ = stream.shutdown().await;
    Ok(buf)
}

/// Offer TLS 1.0/1.1 only to `peer` and see whether the server takes it. Every wait is
/// bounded by `timeout`.
pub async fn check(peer: SocketAddr, sni: Option<&str>, timeout: Duration) -> LegacyTls {
    match tokio::time::timeout(timeout, exchange(peer, sni)).await {
        Ok(Ok(first)) => judge_answer(&first),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => LegacyTls {
            accepted: None,
            detail: "closed".into(),
        },
        Ok(Err(e)) => LegacyTls {
            accepted: None,
            detail: format!("error: {e}"),
        },
        Err(_) => LegacyTls {
            accepted: None,
            detail: "no answer in time".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_hello_is_well_formed() {
        let r = client_hello(Some("mail.example.com"), [7; 32]);
        assert_eq!(&r[..3], &[0x16, 0x03, 0x01]);
        let rec_len = u16::from_be_bytes([r[3], r[4]]) as usize;
        assert_eq!(rec_len, r.len() - 5);
        assert_eq!(r[5], 0x01);
        let hs_len = u32::from_be_bytes([0, r[6], r[7], r[8]]) as usize;
        assert_eq!(hs_len, rec_len - 4);
        assert_eq!(&r[9..11], &[0x03, 0x02]);
        let text = String::from_utf8_lossy(&r);
        assert!(text.contains("mail.example.com"));
        // Extensions length matches what follows it.
        let after_random = 11 + 32;
        let sid = r[after_random] as usize;
        let cs = after_random + 1 + sid;
        let cs_len = u16::from_be_bytes([r[cs], r[cs + 1]]) as usize;
        let comp = cs + 2 + cs_len;
        let ext = comp + 1 + r[comp] as usize;
        let ext_len = u16::from_be_bytes([r[ext], r[ext + 1]]) as usize;
        assert_eq!(ext + 2 + ext_len, r.len());
        assert!(!String::from_utf8_lossy(&client_hello(None, [0; 32])).contains("example"));
    }

    #[test]
    fn answers_are_judged() {
        let sh = |v: [u8; 2]| {
            vec![
                0x16, 0x03, 0x01, 0x00, 0x40, 0x02, 0x00, 0x00, 0x3c, v[0], v[1],
            ]
        };
        assert_eq!(
            judge_answer(&sh([3, 2])).accepted.as_deref(),
            Some("TLSv1.1")
        );
        assert_eq!(
            judge_answer(&sh([3, 1])).accepted.as_deref(),
            Some("TLSv1.0")
        );
        let v12 = judge_answer(&sh([3, 3]));
        assert_eq!(v12.accepted, None);
        assert_eq!(v12.detail, "chose TLSv1.2 anyway");
        let alert = judge_answer(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 70]);
        assert_eq!(alert.accepted, None);
        assert_eq!(alert.detail, "alert protocol_version");
        assert_eq!(judge_answer(&[]).detail, "closed");
        assert_eq!(judge_answer(b"* OK IMAP").detail, "not a TLS answer");
    }
}
