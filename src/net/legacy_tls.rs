//! Does the server still accept an obsolete TLS version? rustls speaks only TLS 1.2 and 1.3,
//! so this sends a hand-made ClientHello that offers TLS 1.0 and 1.1 only (with the cipher
//! suites those versions use) and reads the version of the ServerHello. Nothing else of the
//! handshake is done: the connection is closed once the server has answered.
//!
//! [`check`] is for implicit-TLS ports only, on a fresh connection to the peer the probe
//! already used.
//!
//! [`offer_legacy`] does the same for a server rustls cannot reach at all (RSA key exchange,
//! CBC suites, TLS 1.0/1.1 only): a ClientHello offering TLS 1.0 to 1.2 with the legacy
//! suites, and the ServerHello's version, suite and key exchange, so the report can say what
//! a client that still accepts them would get; [`offer_legacy_on`] sends it after a STARTTLS
//! go-ahead. No handshake is completed: mailcheck has no TLS engine for those suites, so
//! nothing is logged in over them.

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

/// Everything TLS 1.2 servers rustls cannot talk to may choose, strongest first: ECDHE and DHE
/// with CBC (SHA-1 and SHA-2 MACs), DHE with AES-GCM, RSA key exchange with AES-GCM and CBC,
/// 3DES; then the renegotiation SCSV. (ECDHE with AES-GCM or ChaCha20 is what rustls offers:
/// a server taking it would have completed the modern handshake.)
const LEGACY_SUITES: [u16; 23] = [
    0xc028, 0xc027, 0xc024, 0xc023, 0xc014, 0xc013, 0xc00a, 0xc009, 0x009f, 0x009e, 0x006b, 0x0067,
    0x0039, 0x0033, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0xc012, 0x0016, 0x000a,
];

/// A TLS 1.1 ClientHello record. `sni` is a DNS name (not sent for IP addresses).
pub fn client_hello(sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    hello(OFFERED_MAX, &SUITES, sni, random)
}

/// A ClientHello record offering up to `max` with `suites` (then the SCSV, once).
fn hello(max: [u8; 2], suites: &[u16], sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
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
    if max >= [0x03, 0x03] {
        // signature_algorithms (TLS 1.2): RSA PKCS#1 and PSS, ECDSA, SHA-2 and SHA-1.
        let algs: [u16; 8] = [
            0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0403, 0x0201, 0x0203,
        ];
        ext.extend_from_slice(&0x000du16.to_be_bytes());
        ext.extend_from_slice(&((algs.len() * 2 + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&((algs.len() * 2) as u16).to_be_bytes());
        for a in algs {
            ext.extend_from_slice(&a.to_be_bytes());
        }
    }

    let mut suites = suites.to_vec();
    if !suites.contains(&0x00ff) {
        suites.push(0x00ff);
    }
    let mut body = Vec::new();
    body.extend_from_slice(&max);
    body.extend_from_slice(&random);
    body.push(0); // no session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
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

/// What a server that rustls cannot reach chose from a legacy ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyHandshake {
    /// "TLSv1.2", "TLSv1.0"...
    pub version: String,
    /// The IANA name, e.g. "TLS_RSA_WITH_AES_128_CBC_SHA".
    pub cipher_suite: String,
    /// "RSA" (no forward secrecy), "ECDHE", "DHE".
    pub key_exchange: String,
    /// What makes it weak, by name: "tls-1.0", "tls-1.1", "no-forward-secrecy", "cbc", "3des".
    pub weaknesses: Vec<&'static str>,
}

/// (IANA name, key exchange) of the suites [`LEGACY_SUITES`] offers.
fn suite_name(code: u16) -> Option<(&'static str, &'static str)> {
    Some(match code {
        0xc028 => ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE"),
        0xc027 => ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE"),
        0xc024 => ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE"),
        0xc023 => ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE"),
        0xc014 => ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE"),
        0xc013 => ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE"),
        0xc00a => ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE"),
        0xc009 => ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE"),
        0xc012 => ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE"),
        0x009f => ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE"),
        0x009e => ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE"),
        0x006b => ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE"),
        0x0067 => ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE"),
        0x0039 => ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE"),
        0x0033 => ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE"),
        0x0016 => ("TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE"),
        0x009d => ("TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA"),
        0x009c => ("TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA"),
        0x003d => ("TLS_RSA_WITH_AES_256_CBC_SHA256", "RSA"),
        0x003c => ("TLS_RSA_WITH_AES_128_CBC_SHA256", "RSA"),
        0x0035 => ("TLS_RSA_WITH_AES_256_CBC_SHA", "RSA"),
        0x002f => ("TLS_RSA_WITH_AES_128_CBC_SHA", "RSA"),
        0x000a => ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA"),
        _ => return None,
    })
}

/// Read a ServerHello (the first handshake record): its version and cipher suite.
pub fn parse_server_hello(record: &[u8]) -> Result<LegacyHandshake, String> {
    match record {
        [] => return Err("closed".into()),
        [0x15, _, _, _, _, _level, desc, ..] => return Err(format!("alert {}", alert_name(*desc))),
        [0x16, _, _, _, _, 0x02, ..] => {}
        [0x16, ..] | [0x15, ..] => return Err("short answer".into()),
        _ => return Err("not a TLS answer".into()),
    }
    // header (5), handshake header (4), version (2), random (32), session id length (1).
    let sid = *record.get(43).ok_or("short answer")? as usize;
    let at = 44 + sid;
    let (Some(&v0), Some(&v1), Some(&s0), Some(&s1)) = (
        record.get(9),
        record.get(10),
        record.get(at),
        record.get(at + 1),
    ) else {
        return Err("short answer".into());
    };
    let version = version_name([v0, v1]);
    let code = u16::from_be_bytes([s0, s1]);
    let (name, kx) = suite_name(code).ok_or_else(|| format!("chose suite 0x{code:04x}"))?;
    let mut weaknesses = vec![];
    match [v0, v1] {
        [0x03, 0x00] => weaknesses.push("ssl-3"),
        [0x03, 0x01] => weaknesses.push("tls-1.0"),
        [0x03, 0x02] => weaknesses.push("tls-1.1"),
        _ => {}
    }
    if kx == "RSA" {
        weaknesses.push("no-forward-secrecy");
    }
    if name.contains("3DES") {
        weaknesses.push("3des");
    } else if name.contains("_CBC_") {
        weaknesses.push("cbc");
    }
    Ok(LegacyHandshake {
        version,
        cipher_suite: name.to_string(),
        key_exchange: kx.to_string(),
        weaknesses,
    })
}

/// Offer TLS 1.0 to 1.2 with the legacy suites to `peer` and read what the server chose;
/// `Err` says what it did instead (an alert, a close). Bounded by `timeout`.
pub async fn offer_legacy(
    peer: SocketAddr,
    sni: Option<&str>,
    timeout: Duration,
) -> Result<LegacyHandshake, String> {
    let started = std::time::Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(peer)).await {
        Ok(Ok(stream)) => {
            offer_legacy_on(stream, sni, timeout.saturating_sub(started.elapsed())).await
        }
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(_) => Err("no answer in time".into()),
    }
}

/// [`offer_legacy`] on a connection already open: after a STARTTLS go-ahead, the plain-text
/// stream the server now expects a ClientHello on.
pub async fn offer_legacy_on(
    mut stream: TcpStream,
    sni: Option<&str>,
    timeout: Duration,
) -> Result<LegacyHandshake, String> {
    let exchange = async {
        let mut random = [0u8; 32];
        use ring::rand::SecureRandom as _;
        let _ = ring::rand::SystemRandom::new().fill(&mut random);
        stream
            .write_all(&hello([0x03, 0x03], &LEGACY_SUITES, sni, random))
            .await?;
        // Up to the cipher suite: 44 bytes, the session id (at most 32), 2.
        let mut buf = Vec::with_capacity(80);
        let mut chunk = [0u8; 80];
        loop {
            let need = match buf.get(43) {
                Some(&sid) => 46 + sid as usize,
                None if buf.first() == Some(&0x15) => 7,
                None => 44,
            };
            if buf.len() >= need {
                break;
            }
            let n = stream.read(&mut chunk[..need - buf.len()]).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let _ = stream.shutdown().await;
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(first)) => parse_server_hello(&first),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Err("reset".into()),
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(_) => Err("no answer in time".into()),
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
    fn a_server_hello_names_version_suite_and_key_exchange() {
        let mut sh = vec![
            0x16, 0x03, 0x03, 0x00, 0x4a, 0x02, 0x00, 0x00, 0x46, 0x03, 0x03,
        ];
        sh.extend_from_slice(&[9; 32]);
        sh.push(32);
        sh.extend_from_slice(&[1; 32]);
        sh.extend_from_slice(&[0x00, 0x2f, 0x00]);
        let h = parse_server_hello(&sh).unwrap();
        assert_eq!(h.version, "TLSv1.2");
        assert_eq!(h.cipher_suite, "TLS_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(h.key_exchange, "RSA");
        assert_eq!(h.weaknesses, ["no-forward-secrecy", "cbc"]);
        assert!(parse_server_hello(&sh[..60]).is_err());
        assert_eq!(
            parse_server_hello(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40]).unwrap_err(),
            "alert handshake_failure"
        );
        let offered = hello([3, 3], &LEGACY_SUITES, None, [0; 32]);
        assert_eq!(&offered[9..11], &[3, 3]);
        for s in LEGACY_SUITES {
            assert!(suite_name(s).is_some(), "{s:04x}");
        }
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
