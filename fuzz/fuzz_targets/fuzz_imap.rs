//! IMAP response parsing on arbitrary server bytes, split into lines as the connection does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::proto::imap::{self, Response, Untagged};

fuzz_target!(|data: &[u8]| {
    let mut all_words = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw);
        match imap::parse_response(&line) {
            Ok(Response::Tagged { tag, .. }) => {
                // A tag is never empty and never contains a space or a wildcard.
                assert!(!tag.is_empty());
                assert!(!tag.contains([' ', '*', '+']), "{tag:?}");
            }
            Ok(Response::Untagged(Untagged::Status(st))) => {
                if let Some(code) = &st.code {
                    let _ = imap::capabilities_in_code(code);
                }
            }
            Ok(Response::Untagged(Untagged::Capability(list))) => all_words.extend(list),
            Ok(_) => {}
            Err(_) => {}
        }
        let _ = imap::capabilities_in_code(&line);
        if let Ok(q) = imap::quote(&line) {
            assert_eq!(imap::unquote(&q).as_deref(), Ok(&*line));
        }
        let _ = imap::unquote(&line);
        all_words.extend(line.split(' ').map(str::to_string));
    }
    let caps = imap::Capabilities::from_list(&all_words);
    for m in &caps.auth_mechanisms {
        assert!(!m.is_empty());
        assert_eq!(m, &m.to_ascii_uppercase());
    }
    let mut sorted = caps.auth_mechanisms.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        caps.auth_mechanisms.len(),
        "duplicate mechanisms"
    );
});
