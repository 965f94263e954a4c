//! The legacy TLS probe's readers (src/net/legacy_tls.rs) on the server's first bytes after
//! our ClientHello: a ServerHello, an alert, or anything else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::net::legacy_tls;

fuzz_target!(|data: &[u8]| {
    match legacy_tls::parse_server_hello(data) {
        Ok(h) => {
            // Only a handshake record holding a ServerHello, with a suite we offered, is read.
            assert!(data.starts_with(&[0x16]) && data.get(5) == Some(&0x02));
            assert!(h.cipher_suite.starts_with("TLS_"), "{:?}", h.cipher_suite);
            assert!(
                ["RSA", "DHE", "ECDHE"].contains(&h.key_exchange.as_str()),
                "{h:?}"
            );
            assert!(!h.version.is_empty());
        }
        Err(e) => assert!(!e.is_empty()),
    }
    let judged = legacy_tls::judge_answer(data);
    assert!(!judged.detail.is_empty());
    if judged.accepted.is_some() {
        assert!(data.starts_with(&[0x16]));
    }
});
