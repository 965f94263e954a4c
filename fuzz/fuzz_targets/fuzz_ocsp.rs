//! The stapled OCSP response reader (src/net/ocsp.rs) on arbitrary bytes from a server.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::net::ocsp::{self, Staple};

/// `YYYY-MM-DDTHH:MM:SSZ`, all digits where digits belong.
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fuzz_target!(|data: &[u8]| {
    // The first byte is the length of the certificate's serial number (at most 20 octets, RFC
    // 5280), the next bytes the serial, the rest the staple: the fuzzer can match the two.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (serial, der) = rest.split_at((n as usize % 21).min(rest.len()));
    let staple = ocsp::read(der, serial);
    if der.is_empty() {
        assert_eq!(staple, Staple::default());
        return;
    }
    assert!(staple.stapled);
    assert!(staple.status.is_some());
    assert_eq!(staple.signature, Some(ocsp::StapleSignature::NotChecked));
    for t in [&staple.this_update, &staple.next_update]
        .into_iter()
        .flatten()
    {
        assert!(is_timestamp(t), "{t:?}");
    }
});
