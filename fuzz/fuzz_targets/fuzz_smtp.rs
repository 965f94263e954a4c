//! SMTP replies (multi-line, enhanced status codes) and EHLO keywords on arbitrary server bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::proto::smtp;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the line limit, as the connection's max_reply_lines does.
    let (max, data) = match data.split_first() {
        Some((m, rest)) => (usize::from(*m % 16), rest),
        None => return,
    };
    let mut parser = smtp::ReplyParser::new(max);
    for raw in data.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = String::from_utf8_lossy(raw);
        let Ok(Some(reply)) = parser.push(&line) else {
            continue;
        };
        assert!((200..=599).contains(&reply.code), "{}", reply.code);
        assert!((2..=5).contains(&reply.class()));
        assert!(!reply.lines.is_empty() && reply.lines.len() <= max.max(1));
        if let Some(e) = &reply.enhanced {
            assert!(reply.lines[0].starts_with(e.as_str()));
            assert!(matches!(e.as_bytes()[0], b'2' | b'4' | b'5'));
        }
        let ext = smtp::Extensions::from_ehlo(&reply);
        assert!(ext.raw.len() < reply.lines.len().max(1));
        for m in &ext.auth_mechanisms {
            assert!(!m.is_empty());
            assert_eq!(m, &m.to_ascii_uppercase());
        }
    }
});
