//! POP3 status lines, continuations, multi-line bodies and CAPA on arbitrary server bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::proto::{pop3, sasl};

fuzz_target!(|data: &[u8]| {
    let mut body = Vec::new();
    for raw in data.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw);
        if let Ok(r) = pop3::parse_reply(&line) {
            // "+OK"/"-ERR" decide, whatever follows.
            assert_eq!(r.ok, line.get(..1) == Some("+"));
            if let Some(code) = &r.code {
                assert!(!code.is_empty() && !code.contains(']'), "{code:?}");
            }
        }
        if let Some(ch) = pop3::parse_continuation(&line) {
            assert!(line.starts_with('+'));
            let _ = sasl::unb64(&ch).map(|d| sasl::login_prompt(&d));
            let _ = sasl::oauth_error_challenge(&ch);
        }
        match pop3::multiline_line(&line) {
            None => assert_eq!(line, "."),
            Some(l) => body.push(l.to_string()),
        }
    }
    let caps = pop3::Capabilities::from_lines(&body);
    for m in &caps.sasl {
        assert_eq!(m, &m.to_ascii_uppercase());
    }
    assert!(caps.raw.len() <= body.len());
});
