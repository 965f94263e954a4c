//! SMTP reply parsing: (multi-line) replies (RFC 5321 §4.2), enhanced status codes (RFC 3463,
//! RFC 2034) and EHLO extensions, notably STARTTLS (RFC 3207) and AUTH (RFC 4954).
//!
//! Pure functions on single lines that the reader already split at CRLF (the CRLF removed).
//! Nothing here panics on any input.

use serde::Serialize;

/// The domain argument this client sends with EHLO.
///
/// RFC 5321 §4.1.4 asks for the client's FQDN, or an address literal when it has none. A probe
/// run from a helpdesk laptop has no meaningful FQDN, and its local host name would (a) leak
/// the machine name to every server probed and (b) often be syntactically invalid
/// (`DESKTOP_4F2`, `Johns-MacBook.local`) so that strict servers reject EHLO with 501 and the
/// probe would report a bogus failure. The IPv4 loopback address literal is always
/// syntactically valid (RFC 5321 §4.1.3), reveals nothing, and is what privacy-minded mail
/// clients send; submission servers accept it since they authenticate the user instead.
pub const EHLO_NAME: &str = "[127.0.0.1]";

/// Why a line could not be parsed, or a reply was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: &'static str,
}

impl ParseError {
    const fn new(reason: &'static str) -> Self {
        ParseError { reason }
    }
}

/// One complete, possibly multi-line reply (RFC 5321 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// Enhanced status code `class.subject.detail` (RFC 3463 §2) when the first line's text
    /// starts with one of class 2, 4 or 5, e.g. `"5.7.139"`. It is left in `lines` as well.
    pub enhanced: Option<String>,
    /// Text after `"250-"` / `"250 "` of each line (empty for a bare code).
    pub lines: Vec<String>,
}

impl Reply {
    /// The lines joined with `"\n"`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// 2yz (completion) or 3yz (intermediate, e.g. `334` AUTH challenge, `354`), RFC 5321 §4.2.1.
    pub fn is_positive(&self) -> bool {
        matches!(self.class(), 2 | 3)
    }

    /// First digit of the code: 2, 3, 4 (transient failure) or 5 (permanent failure).
    pub fn class(&self) -> u8 {
        // Codes come from three ASCII digits, so `code / 100` is at most 9; the fallback is
        // unreachable but avoids a cast that could truncate for hand-built values.
        u8::try_from(self.code / 100).unwrap_or(u8::MAX)
    }
}

/// One parsed reply line.
struct Line<'a> {
    code: u16,
    last: bool,
    text: &'a str,
}

/// `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF`
/// (RFC 5321 §4.2). The first digit must be 2..=5 (§4.2.1); the other two are any digit
/// (the grammar restricts the second to 0..=5, but nothing is gained by rejecting more).
fn parse_line(line: &str) -> Result<Line<'_>, ParseError> {
    let bytes = line.as_bytes();
    let (d1, d2, d3) = match bytes {
        [a @ b'2'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => (*a, *b, *c),
        _ => return Err(ParseError::new("not an SMTP reply line (no 3-digit code)")),
    };
    let code = u16::from(d1 - b'0') * 100 + u16::from(d2 - b'0') * 10 + u16::from(d3 - b'0');
    // The first three bytes are ASCII, so index 3 is a char boundary.
    let rest = line.get(3..).unwrap_or("");
    let (last, text) = if rest.is_empty() {
        (true, "")
    } else if let Some(t) = rest.strip_prefix(' ') {
        (true, t)
    } else if let Some(t) = rest.strip_prefix('-') {
        (false, t)
    } else {
        return Err(ParseError::new(
            "SMTP reply code not followed by space or '-'",
        ));
    };
    Ok(Line {
        code,
        last,
        text: text.trim_end(),
    })
}

/// Enhanced status code at the start of `text` (RFC 3463 §2): `class "." subject "." detail`,
/// class 2/4/5, subject and detail 1 to 3 digits, followed by a space or the end.
fn enhanced_code(text: &str) -> Option<String> {
    let word = text.split([' ', '\t']).next().unwrap_or("");
    let mut parts = word.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !matches!(class, "2" | "4" | "5") {
        return None;
    }
    let number = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if number(subject) && number(detail) {
        Some(word.to_string())
    } else {
        None
    }
}

/// Accumulates the lines of one (possibly multi-line) reply.
#[derive(Debug, Clone)]
pub struct ReplyParser {
    max_lines: usize,
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyParser {
    /// A parser accepting replies of at most `max_lines` lines (at least 1 is always allowed).
    pub fn new(max_lines: usize) -> Self {
        ReplyParser {
            max_lines: max_lines.max(1),
            code: None,
            lines: Vec::new(),
        }
    }

    /// Feeds one line; `Ok(Some(reply))` when the last line (`"xyz "` or bare `"xyz"`) arrived,
    /// `Ok(None)` when more lines follow (`"xyz-"`).
    ///
    /// `Err` if the line is not an SMTP reply line, its code differs from the first line's
    /// (RFC 5321 §4.2.1 requires the same code on every line), or the reply exceeds
    /// `max_lines`. After a complete reply or an error the parser is ready for the next reply.
    pub fn push(&mut self, line: &str) -> Result<Option<Reply>, ParseError> {
        let result = self.push_inner(line);
        if !matches!(result, Ok(None)) {
            self.code = None;
            self.lines.clear();
        }
        result
    }

    fn push_inner(&mut self, line: &str) -> Result<Option<Reply>, ParseError> {
        let parsed = parse_line(line)?;
        match self.code {
            None => self.code = Some(parsed.code),
            Some(code) if code != parsed.code => {
                return Err(ParseError::new(
                    "SMTP multi-line reply changes its code between lines",
                ))
            }
            Some(_) => {}
        }
        if self.lines.len() >= self.max_lines {
            return Err(ParseError::new("SMTP reply has too many lines"));
        }
        self.lines.push(parsed.text.to_string());
        if !parsed.last {
            return Ok(None);
        }
        let lines = std::mem::take(&mut self.lines);
        Ok(Some(Reply {
            code: parsed.code,
            enhanced: lines.first().and_then(|first| enhanced_code(first)),
            lines,
        }))
    }
}

/// What an EHLO reply (RFC 5321 §4.1.1.1) says about the extensions the probe cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extensions {
    /// The EHLO keyword lines after the first (the greeting domain), trimmed.
    pub raw: Vec<String>,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// SASL mechanisms of `AUTH mech ...` (RFC 4954 §3) and of the legacy, pre-standard
    /// `AUTH=mech ...` form, upper-cased, without duplicates.
    pub auth_mechanisms: Vec<String>,
    /// `SIZE [n]` (RFC 1870 §4). `Some(0)` when advertised without a number or with 0, which
    /// means "no fixed maximum".
    pub size: Option<u64>,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
}

impl Extensions {
    /// Interprets an EHLO reply. Its first line is the server's domain and greeting and is
    /// skipped; each further line is `ehlo-keyword *( SP ehlo-param )` (RFC 5321 §4.1.1.1),
    /// keywords case-insensitive.
    pub fn from_ehlo(reply: &Reply) -> Extensions {
        let mut ext = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            ext.raw.push(line.to_string());
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("");
            let mut add_mechs = |mechs: &mut dyn Iterator<Item = &str>| {
                for mech in mechs.filter(|m| !m.is_empty()) {
                    let mech = mech.to_ascii_uppercase();
                    if !ext.auth_mechanisms.contains(&mech) {
                        ext.auth_mechanisms.push(mech);
                    }
                }
            };
            if keyword.eq_ignore_ascii_case("AUTH") {
                add_mechs(&mut words);
            } else if let Some(first) = strip_prefix_ignore_case(keyword, "AUTH=") {
                add_mechs(&mut std::iter::once(first).chain(words));
            } else if keyword.eq_ignore_ascii_case("STARTTLS") {
                ext.starttls = true;
            } else if keyword.eq_ignore_ascii_case("SIZE") {
                let limit = words
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                ext.size = Some(limit);
            } else if keyword.eq_ignore_ascii_case("PIPELINING") {
                ext.pipelining = true;
            } else if keyword.eq_ignore_ascii_case("SMTPUTF8") {
                ext.smtputf8 = true;
            } else if keyword.eq_ignore_ascii_case("CHUNKING") {
                ext.chunking = true;
            } else if keyword.eq_ignore_ascii_case("ENHANCEDSTATUSCODES") {
                ext.enhanced_status_codes = true;
            }
        }
        ext
    }
}

/// `s` without an ASCII `prefix` matched case-insensitively (never panics on char boundaries).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match (s.get(..prefix.len()), s.get(prefix.len()..)) {
        (Some(head), Some(tail)) if head.eq_ignore_ascii_case(prefix) => Some(tail),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(lines: &[&str]) -> Result<Reply, ParseError> {
        let mut p = ReplyParser::new(100);
        for (i, line) in lines.iter().enumerate() {
            match p.push(line)? {
                Some(r) => {
                    assert_eq!(i + 1, lines.len(), "reply ended early");
                    return Ok(r);
                }
                None => continue,
            }
        }
        panic!("reply not finished")
    }

    #[test]
    fn microsoft_basic_auth_disabled() {
        let r = parse_all(&[
            "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
        ])
        .unwrap();
        assert_eq!(r.code, 535);
        assert_eq!(r.class(), 5);
        assert!(!r.is_positive());
        assert_eq!(r.enhanced.as_deref(), Some("5.7.139"));
        assert_eq!(
            r.text(),
            "5.7.139 Authentication unsuccessful, basic authentication is disabled."
        );
    }

    #[test]
    fn simple_replies() {
        let r = parse_all(&["535 5.7.3 Authentication unsuccessful"]).unwrap();
        assert_eq!(r.enhanced.as_deref(), Some("5.7.3"));
        let r = parse_all(&["220 smtp.example.com ESMTP Postfix (Debian/GNU)"]).unwrap();
        assert_eq!(r.code, 220);
        assert!(r.is_positive());
        assert_eq!(r.enhanced, None);
        let r = parse_all(&["334 VXNlcm5hbWU6"]).unwrap();
        assert_eq!(r.class(), 3);
        assert!(r.is_positive());
        let r = parse_all(&["250"]).unwrap();
        assert_eq!(r.lines, vec![String::new()]);
        let r = parse_all(&["235 2.7.0 Authentication successful"]).unwrap();
        assert_eq!(r.enhanced.as_deref(), Some("2.7.0"));
        let r = parse_all(&["421 4.7.0 Try again later, closing connection."]).unwrap();
        assert_eq!(r.enhanced.as_deref(), Some("4.7.0"));
        assert_eq!(r.class(), 4);
    }

    #[test]
    fn gmail_multiline() {
        let r = parse_all(&[
            "534-5.7.9 Application-specific password required. Learn more at",
            "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor a1sm123456wrb.1 - gsmtp",
        ])
        .unwrap();
        assert_eq!(r.code, 534);
        assert_eq!(r.enhanced.as_deref(), Some("5.7.9"));
        assert_eq!(r.lines.len(), 2);
        assert!(r.text().contains('\n'));
    }

    #[test]
    fn enhanced_code_validation() {
        assert_eq!(enhanced_code("5.7.139 x").as_deref(), Some("5.7.139"));
        assert_eq!(enhanced_code("2.0.0").as_deref(), Some("2.0.0"));
        assert_eq!(enhanced_code("3.0.0 x"), None);
        assert_eq!(enhanced_code("5.7.1234 x"), None);
        assert_eq!(enhanced_code("5.7 x"), None);
        assert_eq!(enhanced_code("5.7.1.2 x"), None);
        assert_eq!(enhanced_code("5.7.1x"), None);
        assert_eq!(enhanced_code("5..1"), None);
        assert_eq!(enhanced_code("mail.lab.test"), None);
        assert_eq!(enhanced_code(""), None);
    }

    #[test]
    fn postfix_ehlo() {
        let r = parse_all(&[
            "250-mail.lab.test",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-VRFY",
            "250-ETRN",
            "250-STARTTLS",
            "250-AUTH PLAIN LOGIN",
            "250-AUTH=PLAIN LOGIN",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250-DSN",
            "250 SMTPUTF8",
        ])
        .unwrap();
        assert_eq!(r.lines.len(), 12);
        assert_eq!(r.enhanced, None);
        let ext = Extensions::from_ehlo(&r);
        assert_eq!(ext.raw.len(), 11);
        assert_eq!(ext.raw[0], "PIPELINING");
        assert!(ext.starttls);
        assert!(ext.pipelining);
        assert!(ext.smtputf8);
        assert!(ext.enhanced_status_codes);
        assert!(!ext.chunking);
        assert_eq!(ext.size, Some(10_240_000));
        assert_eq!(
            ext.auth_mechanisms,
            vec!["PLAIN".to_string(), "LOGIN".to_string()]
        );
    }

    #[test]
    fn legacy_auth_and_microsoft_ehlo() {
        let r = parse_all(&[
            "250-AM0PR01CA0001.outlook.office365.com Hello [192.0.2.1]",
            "250-SIZE 157286400",
            "250-PIPELINING",
            "250-DSN",
            "250-ENHANCEDSTATUSCODES",
            "250-AUTH=login xoauth2",
            "250-8BITMIME",
            "250-BINARYMIME",
            "250-CHUNKING",
            "250 SMTPUTF8",
        ])
        .unwrap();
        let ext = Extensions::from_ehlo(&r);
        assert!(!ext.starttls);
        assert!(ext.chunking);
        assert_eq!(ext.size, Some(157_286_400));
        assert_eq!(
            ext.auth_mechanisms,
            vec!["LOGIN".to_string(), "XOAUTH2".to_string()]
        );
        let bare = parse_all(&["250-x", "250 SIZE"]).unwrap();
        assert_eq!(Extensions::from_ehlo(&bare).size, Some(0));
        let none = parse_all(&["250 x"]).unwrap();
        assert_eq!(Extensions::from_ehlo(&none), Extensions::default());
    }

    #[test]
    fn errors() {
        for line in [
            "+OK POP3 ready",
            "* OK IMAP4rev1 ready",
            "",
            "25",
            "2500 x",
            "250x",
            "150 x",
            "650 x",
            "\u{fffd}\u{fffd}",
            "２５０ x",
        ] {
            assert!(
                ReplyParser::new(10).push(line).is_err(),
                "{line:?} should be an error"
            );
        }
        let mut p = ReplyParser::new(10);
        assert_eq!(p.push("250-first").unwrap(), None);
        assert!(p.push("251 second").is_err());
        // The parser is usable again after an error.
        assert_eq!(
            p.push("250 ok").unwrap().unwrap().lines,
            vec!["ok".to_string()]
        );
    }

    #[test]
    fn max_lines() {
        let mut p = ReplyParser::new(2);
        assert_eq!(p.push("250-a").unwrap(), None);
        assert_eq!(p.push("250-b").unwrap(), None);
        assert!(p.push("250 c").is_err());
        let mut p = ReplyParser::new(2);
        assert_eq!(p.push("250-a").unwrap(), None);
        assert_eq!(p.push("250 b").unwrap().unwrap().lines.len(), 2);
        let mut p = ReplyParser::new(0);
        assert!(p.push("250 single").unwrap().is_some());
    }

    #[test]
    fn ehlo_name_is_an_address_literal() {
        assert!(EHLO_NAME.starts_with('[') && EHLO_NAME.ends_with(']'));
        assert!(EHLO_NAME.is_ascii() && !EHLO_NAME.contains(' '));
    }

    proptest! {
        #[test]
        fn push_never_panics(lines in proptest::collection::vec(any::<String>(), 0..8), max in 0usize..5) {
            let mut p = ReplyParser::new(max);
            for line in &lines {
                let _ = p.push(line);
            }
        }

        #[test]
        fn push_never_panics_on_smtpish(lines in proptest::collection::vec(r"[2-5][0-9]{2}[ -]?[0-9.]{0,8}[ A-Za-z\u{fffd}]{0,10}", 0..8)) {
            let mut p = ReplyParser::new(4);
            for line in &lines {
                if let Ok(Some(r)) = p.push(line) {
                    let _ = Extensions::from_ehlo(&r);
                    let _ = (r.text(), r.class(), r.is_positive());
                }
            }
        }

        #[test]
        fn multiline_reply_of_n_lines(code in 200u16..=599, texts in proptest::collection::vec("[A-Za-z0-9 .=-]{0,40}", 1..20)) {
            let mut p = ReplyParser::new(texts.len());
            let n = texts.len();
            let mut done = None;
            for (i, text) in texts.iter().enumerate() {
                let sep = if i + 1 == n { ' ' } else { '-' };
                let res = p.push(&format!("{code}{sep}{text}")).unwrap();
                if i + 1 == n {
                    done = res;
                } else {
                    prop_assert_eq!(res, None);
                }
            }
            let reply = done.unwrap();
            prop_assert_eq!(reply.code, code);
            prop_assert_eq!(reply.lines.len(), n);
            let expected: Vec<String> = texts.iter().map(|t| t.trim_end().to_string()).collect();
            prop_assert_eq!(reply.lines, expected);
        }

        #[test]
        fn extensions_never_panic(lines in proptest::collection::vec(any::<String>(), 0..8)) {
            let reply = Reply { code: 250, enhanced: None, lines };
            let _ = Extensions::from_ehlo(&reply);
        }

        #[test]
        fn push_never_panics_on_lossy_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut p = ReplyParser::new(4);
            for raw in bytes.split(|&b| b == b'\n') {
                let _ = p.push(&String::from_utf8_lossy(raw));
            }
        }

        #[test]
        fn enhanced_code_is_found(
            code in 200u16..=599,
            class in prop_oneof![Just(2u8), Just(4u8), Just(5u8)],
            subject in 0u16..1000,
            detail in 0u16..1000,
            text in "[A-Za-z ,.]{0,30}",
        ) {
            let enhanced = format!("{class}.{subject}.{detail}");
            let mut p = ReplyParser::new(1);
            let r = p.push(&format!("{code} {enhanced} {text}")).unwrap().unwrap();
            prop_assert_eq!(r.code, code);
            prop_assert_eq!(r.enhanced, Some(enhanced));
        }

        #[test]
        fn ehlo_auth_round_trip(mechs in proptest::collection::vec("[A-Za-z0-9_-]{1,12}", 1..8), legacy in any::<bool>()) {
            let keyword = if legacy { format!("AUTH={}", mechs.join(" ")) } else { format!("AUTH {}", mechs.join(" ")) };
            let mut p = ReplyParser::new(10);
            assert!(p.push("250-mail.example.com").unwrap().is_none());
            let r = p.push(&format!("250 {keyword}")).unwrap().unwrap();
            let e = Extensions::from_ehlo(&r);
            let mut expected: Vec<String> = Vec::new();
            for m in &mechs {
                let m = m.to_ascii_uppercase();
                if !expected.contains(&m) {
                    expected.push(m);
                }
            }
            prop_assert_eq!(e.auth_mechanisms, expected);
        }
    }
}
