//! The test message: a token that names it and nothing else, the message lettre builds around
//! it, and reading back the header fields of what arrived.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;

/// The header field that carries the token; the mailbox is searched for it.
pub const TOKEN_HEADER: &str = "X-Mailcheck-Token";

/// A token unique to this run: 20 random hex digits after a fixed prefix. Only letters, digits
/// and `-`, so it needs no quoting in a header, an IMAP string or a Message-ID.
pub fn token() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 10];
    // The system RNG does not fail on Linux; a zero token would still be unique enough per run
    // (the time is in it too), never a reason to stop.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("mc-{ms:x}-{hex}")
}

/// The Message-ID of the test message: the token on the sender's domain.
pub fn message_id(token: &str, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map_or("mailcheck.invalid", |(_, d)| d);
    format!("<{token}@{domain}>")
}

/// Builds the test message from `from` to `to` (ASCII addresses). `route` says in words which
/// settings it travels through, for a person who finds it in a mailbox.
pub fn build(from: &str, to: &str, token: &str, route: &str) -> Result<Message, String> {
    let from_box: Mailbox = from
        .parse()
        .map_err(|e| format!("the sender {from:?} is not usable as an address: {e}"))?;
    let to_box: Mailbox = to
        .parse()
        .map_err(|e| format!("the recipient {to:?} is not usable as an address: {e}"))?;
    let body = format!(
        "This is a test message sent by mailcheck (--round-trip) to check that mail sent\r\n\
         through {route} arrives in the mailbox.\r\n\
         \r\n\
         mailcheck deletes it as soon as it has arrived. If you can read it, it arrived after\r\n\
         mailcheck stopped waiting (or --keep was given): it can be deleted.\r\n\
         \r\n\
         Token: {token}\r\n"
    );
    let mut message = Message::builder()
        .from(from_box)
        .to(to_box)
        .subject(format!("mailcheck round trip {token}"))
        .message_id(Some(message_id(token, from)))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("building the message: {e}"))?;
    let headers = message.headers_mut();
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str(TOKEN_HEADER),
        token.to_string(),
    ));
    // RFC 3834: no vacation responder or auto-reply should answer a test message.
    headers.insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".to_string(),
    ));
    Ok(message)
}

/// The header fields of a message (everything before the first empty line), unfolded, with
/// runs of white space collapsed: `(name, value)` in the order of the message.
pub fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    for (_, value) in &mut fields {
        *value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    fields
}

/// The values of every field named `name` (case-insensitive), in the order of the message.
pub fn values(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Whether these header fields are those of the test message with this token.
pub fn carries_token(fields: &[(String, String)], token: &str) -> bool {
    values(fields, TOKEN_HEADER).iter().any(|v| v == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_plain() {
        let a = token();
        let b = token();
        assert_ne!(a, b);
        assert!(a.starts_with("mc-"));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn the_message_carries_token_id_and_auto_submitted() {
        let t = token();
        let m = build("alice@lab.test", "alice@lab.test", &t, "smtp/465/tls").unwrap();
        let raw = m.formatted();
        let fields = header_fields(&raw);
        assert!(carries_token(&fields, &t));
        assert!(!carries_token(&fields, "mc-other"));
        assert_eq!(
            values(&fields, "message-id"),
            vec![format!("<{t}@lab.test>")]
        );
        assert_eq!(values(&fields, "Auto-Submitted"), vec!["auto-generated"]);
        assert_eq!(
            values(&fields, "Subject"),
            vec![format!("mailcheck round trip {t}")]
        );
        assert_eq!(m.envelope().to().len(), 1);
        assert!(String::from_utf8_lossy(&raw).contains(&format!("Token: {t}")));
        assert!(build("not an address", "alice@lab.test", &t, "x").is_err());
    }

    #[test]
    fn header_fields_are_unfolded_and_stop_at_the_body() {
        let raw = b"Received: from a\r\n\tby b with ESMTPSA;\r\n  Mon, 1 Jan 2024\r\n\
                    Authentication-Results: mx; dkim=pass\r\n\
                    received: from c by d\r\n\
                    X-Mailcheck-Token: mc-1\r\n\
                    \r\n\
                    Received: in the body\r\n";
        let f = header_fields(raw);
        assert_eq!(
            values(&f, "Received"),
            vec![
                "from a by b with ESMTPSA; Mon, 1 Jan 2024".to_string(),
                "from c by d".to_string()
            ]
        );
        assert_eq!(values(&f, "authentication-results"), vec!["mx; dkim=pass"]);
        assert!(carries_token(&f, "mc-1"));
        assert!(!carries_token(&f, "mc-"));
    }
}
