//! The lab's side of TLS: a rustls server for the ordinary scenarios, and hand-made answers
//! for the ones rustls would never produce (a reset half-way, a bare alert, TLS 1.0).
//!
//! TLS 1.0: rustls cannot serve it, so the lab answers the ClientHello with a hand-written
//! TLS 1.0 ServerHello (version 0x0301, TLS_RSA_WITH_AES_128_CBC_SHA, no extensions). That is
//! what a server that only speaks TLS 1.0 sends to a client offering TLS 1.2/1.3 — it
//! negotiates down to its own maximum — and the client sees "the server chose TLSv1.0".
//! (A modern server merely *configured* to TLS 1.0 answers with a protocol_version alert
//! instead; the alert path is covered by `tls-alert` style tests in `net::tls`.)

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::certs::Certs;
use super::scenario::Scenario;

/// How long the lab waits for a client's TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

pub(crate) fn server_config(certs: &Certs, scenario: Scenario) -> Result<Arc<ServerConfig>> {
    let builder =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(if scenario == Scenario::Tls12Only {
                TLS12_ONLY
            } else {
                BOTH
            })
            .context("TLS versions")?
            .with_no_client_auth();
    let (chain, key) = (certs.chain.clone(), certs.key.clone_key());
    let config = match staple(certs, scenario)? {
        Some(staple) => builder.with_single_cert_with_ocsp(chain, key, staple),
        None => builder.with_single_cert(chain, key),
    }
    .context("the lab's server certificate")?;
    Ok(Arc::new(config))
}

/// The OCSP response the scenario staples: signed by the lab CA (by a key of no one's for
/// `ocsp-bad-signature`), current but for `ocsp-expired-stapled`.
fn staple(certs: &Certs, scenario: Scenario) -> Result<Option<Vec<u8>>> {
    use crate::net::ocsp::{self, StapleStatus};
    use rcgen::SigningKey as _;
    use x509_parser::prelude::FromDer as _;
    let hours = time::Duration::hours;
    let (status, from, to) = match scenario {
        Scenario::OcspRevokedStapled => (StapleStatus::Revoked, hours(-1), hours(7 * 24)),
        Scenario::OcspGoodStapled | Scenario::OcspBadSignature => {
            (StapleStatus::Good, hours(-1), hours(7 * 24))
        }
        Scenario::OcspExpiredStapled => (StapleStatus::Good, hours(-9 * 24), hours(-2 * 24)),
        _ => return Ok(None),
    };
    let serial = x509_parser::certificate::X509Certificate::from_der(&certs.chain[0])
        .map(|(_, c)| c.tbs_certificate.raw_serial().to_vec())
        .context("the lab's server certificate")?;
    let now = time::OffsetDateTime::now_utc();
    let stamp = |t: time::OffsetDateTime| {
        let f = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
        t.format(&f).unwrap_or_default()
    };
    let stranger = rcgen::KeyPair::generate().context("generating a key")?;
    let signer = match scenario {
        Scenario::OcspBadSignature => &stranger,
        _ => &*certs.ca_key,
    };
    // An ECDSA signature over bytes cannot fail with a generated key; an empty one would
    // show as "invalid".
    let sign = |tbs: &[u8]| signer.sign(tbs).unwrap_or_default();
    Ok(Some(ocsp::response(
        &serial,
        status,
        (&stamp(now + from), &stamp(now + to)),
        &sign,
        &[],
    )))
}

/// Accept TLS on `tcp` as the scenario says. `Err` carries what the lab did instead (for the
/// record), or why the client's handshake failed.
pub(crate) async fn accept(
    scenario: Scenario,
    config: &Arc<ServerConfig>,
    mut tcp: TcpStream,
) -> std::result::Result<TlsStream<TcpStream>, String> {
    match scenario {
        Scenario::ResetInHandshake => {
            let hello = read_record(&mut tcp).await?;
            let flight = server_flight(config, &hello)?;
            let half = &flight[..flight.len() / 2];
            tcp.write_all(half).await.map_err(|e| e.to_string())?;
            tcp.flush().await.map_err(|e| e.to_string())?;
            // Let the half flight reach the client, then abort: RST instead of FIN.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tcp.set_zero_linger().map_err(|e| e.to_string())?;
            drop(tcp);
            Err(format!(
                "sent {} of {} handshake bytes, then reset the connection",
                half.len(),
                flight.len()
            ))
        }
        Scenario::TlsAlert => {
            read_record(&mut tcp).await?;
            // level fatal (2), description handshake_failure (40)
            tcp.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40])
                .await
                .map_err(|e| e.to_string())?;
            let _ = tcp.shutdown().await;
            drain(&mut tcp).await;
            Err("answered the ClientHello with a fatal handshake_failure alert".into())
        }
        Scenario::Tls10Only => {
            read_record(&mut tcp).await?;
            tcp.write_all(&tls10_server_hello())
                .await
                .map_err(|e| e.to_string())?;
            // The client answers with its own alert and closes.
            drain(&mut tcp).await;
            Err("answered the ClientHello with a TLS 1.0 ServerHello".into())
        }
        _ => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                Err(_) => Err("TLS handshake timed out".into()),
            }
        }
    }
}

/// One TLS record (the ClientHello), bounded in size and time.
async fn read_record(tcp: &mut TcpStream) -> std::result::Result<Vec<u8>, String> {
    let fut = async {
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await?;
        let len = u16::from_be_bytes([header[3], header[4]]) as usize;
        let mut body = vec![0u8; len.min(18 * 1024)];
        tcp.read_exact(&mut body).await?;
        let mut record = header.to_vec();
        record.extend_from_slice(&body);
        Ok::<_, std::io::Error>(record)
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("reading the ClientHello: {e}")),
        Err(_) => Err("no ClientHello".into()),
    }
}

/// What a real rustls server answers to this ClientHello (ServerHello and the rest of its
/// first flight).
fn server_flight(config: &Arc<ServerConfig>, hello: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut conn = rustls::ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
    let mut input = hello;
    while !input.is_empty() {
        if conn.read_tls(&mut input).map_err(|e| e.to_string())? == 0 {
            break;
        }
    }
    conn.process_new_packets().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).map_err(|e| e.to_string())?;
    }
    if out.len() < 2 {
        return Err("rustls produced no server flight".into());
    }
    Ok(out)
}

/// A TLS 1.0 ServerHello record without extensions.
fn tls10_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01]; // server_version TLS 1.0
    let mut random = [0u8; 32];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    body.extend_from_slice(&random);
    body.push(0); // empty session id
    body.extend_from_slice(&[0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.push(0); // null compression
    let mut handshake = vec![2u8]; // server_hello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Read and discard until the client closes (bounded in time and size).
async fn drain(tcp: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        while let Ok(n) = tcp.read(&mut buf).await {
            total += n;
            if n == 0 || total > 1 << 20 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls10_server_hello_is_well_formed() {
        let r = tls10_server_hello();
        assert_eq!(&r[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(u16::from_be_bytes([r[3], r[4]]) as usize, r.len() - 5);
        assert_eq!(r[5], 2);
        assert_eq!(&r[9..11], &[0x03, 0x01]);
        assert_eq!(r.len(), 5 + 4 + 38);
    }
}
