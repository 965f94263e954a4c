//! PACC (draft-ietf-mailmaint-pacc) on arbitrary bytes: the TXT records that carry the
//! digest and the JSON document. The input is the TXT part, a NUL, then the document; in the
//! TXT part `\n` separates records and `|` the character-strings of one record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::discover::pacc::{self, Digest, DigestCheck};

fuzz_target!(|data: &[u8]| {
    let (txt, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let records: Vec<Vec<Vec<u8>>> = txt
        .split(|b| *b == b'\n')
        .map(|r| r.split(|b| *b == b'|').map(<[u8]>::to_vec).collect())
        .collect();
    let check = pacc::check_digest(body, &records);
    // A match is the document's own digest, published in one of the records.
    if check == DigestCheck::Matches {
        let (digests, _) = pacc::records(&records);
        assert!(digests.contains(&Digest::of(body)));
    }
    if let Ok(doc) = pacc::parse(body) {
        for s in &doc.servers {
            // A server kept is one that can be probed: a host name, implicit TLS.
            assert!(!s.host.is_empty());
            assert!(matches!(s.port, 993 | 995 | 465), "{}", s.port);
            assert!(!s.host.contains([' ', '/', '\\', ':']), "{:?}", s.host);
        }
    }
});
