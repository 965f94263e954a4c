//! POP3 reply parsing: status lines (RFC 1939 §3), extended response codes (RFC 2449 §8,
//! RFC 3206), CAPA (RFC 2449 §5) with STLS (RFC 2595 §4) and SASL (RFC 5034), multi-line
//! bodies (RFC 1939 §3) and SASL continuations (RFC 5034 §4).
//!
//! Pure functions on single lines that the reader already split at CRLF (the CRLF removed).
//! Status indicators and capability names are matched case-insensitively (RFC 1939 says they are
//! upper case, but being lenient costs nothing); nothing here panics on any input.

use serde::Serialize;

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    pub reason: &'static str,
}

/// A status reply `+OK ...` or `-ERR ...` (RFC 1939 §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub ok: bool,
    /// Extended response code without brackets (RFC 2449 §8, RFC 3206), e.g. `"IN-USE"`,
    /// `"AUTH"`, `"SYS/TEMP"`.
    pub code: Option<String>,
    /// The rest of the line, trimmed.
    pub text: String,
}

/// `s` without an ASCII `prefix` matched case-insensitively (never panics on char boundaries).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match (s.get(..prefix.len()), s.get(prefix.len()..)) {
        (Some(head), Some(tail)) if head.eq_ignore_ascii_case(prefix) => Some(tail),
        _ => None,
    }
}

/// RFC 2449 §8: `resp-code = "[" resp-level *("/" resp-level) "]"`,
/// `resp-level = 1*rchar`, `rchar = %x21-2E / %x30-5C / %x5E-7F` (printable, no `/` or `]`).
fn is_valid_resp_code(code: &str) -> bool {
    !code.is_empty()
        && code.split('/').all(|level| {
            !level.is_empty()
                && level
                    .bytes()
                    .all(|b| matches!(b, 0x21..=0x2E | 0x30..=0x5C | 0x5E..=0x7E))
        })
}

/// Parses a status line `+OK [text]` / `-ERR [text]` (RFC 1939 §3) with an optional leading
/// extended response code `[CODE]` (RFC 2449 §8). Anything else (IMAP `* OK`, SMTP `220`,
/// a SASL continuation `+ ...`, garbage) is `Err`.
pub fn parse_reply(line: &str) -> Result<Reply, ParseError> {
    let (ok, rest) = if let Some(rest) = strip_prefix_ignore_case(line, "+OK") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(line, "-ERR") {
        (false, rest)
    } else {
        return Err(ParseError {
            reason: "not a POP3 status line (+OK / -ERR)",
        });
    };
    // The indicator must be a whole word: "+OKAY" is not "+OK".
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return Err(ParseError {
            reason: "POP3 status indicator not followed by a space",
        });
    }
    let rest = rest.trim();
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((code, text)) = inner.split_once(']') {
            if is_valid_resp_code(code) {
                return Ok(Reply {
                    ok,
                    code: Some(code.to_string()),
                    text: text.trim().to_string(),
                });
            }
        }
    }
    Ok(Reply {
        ok,
        code: None,
        text: rest.to_string(),
    })
}

/// A SASL server challenge `"+" [SP base64]` (RFC 5034 §4): `Some(text after "+ ")`, possibly
/// empty; `None` for anything else, including `+OK`.
pub fn parse_continuation(line: &str) -> Option<String> {
    let rest = line.strip_prefix('+')?;
    if rest.trim().is_empty() {
        return Some(String::new());
    }
    rest.strip_prefix(' ').map(|t| t.trim().to_string())
}

/// One line of a multi-line response body (RFC 1939 §3): `None` for the terminator `"."`,
/// otherwise the line with dot-stuffing undone (a leading `"."` removed).
pub fn multiline_line(line: &str) -> Option<&str> {
    if line == "." {
        return None;
    }
    Some(line.strip_prefix('.').unwrap_or(line))
}

/// What a CAPA response (RFC 2449 §5, §6) says about the features the probe cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The capability lines as the server sent them (trimmed, empty lines dropped).
    pub raw: Vec<String>,
    /// `STLS` (RFC 2595 §4).
    pub stls: bool,
    /// `USER`: USER/PASS login available (RFC 2449 §6.3).
    pub user: bool,
    /// Mechanisms of `SASL mech ...` (RFC 2449 §6.3, RFC 5034), upper-cased, without duplicates.
    pub sasl: Vec<String>,
    /// Argument of `IMPLEMENTATION` (RFC 2449 §6.9).
    pub implementation: Option<String>,
}

impl Capabilities {
    /// Interprets the CAPA body lines (already unstuffed with [`multiline_line`], without the
    /// terminator). Each line is `capa-tag *(SP param)` (RFC 2449 §5).
    pub fn from_lines(lines: &[String]) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            caps.raw.push(line.to_string());
            let (keyword, params) = match line.split_once([' ', '\t']) {
                Some((k, p)) => (k, p.trim()),
                None => (line, ""),
            };
            if keyword.eq_ignore_ascii_case("STLS") {
                caps.stls = true;
            } else if keyword.eq_ignore_ascii_case("USER") {
                caps.user = true;
            } else if keyword.eq_ignore_ascii_case("SASL") {
                for mech in params.split_whitespace() {
                    let mech = mech.to_ascii_uppercase();
                    if !caps.sasl.contains(&mech) {
                        caps.sasl.push(mech);
                    }
                }
            } else if keyword.eq_ignore_ascii_case("IMPLEMENTATION") && !params.is_empty() {
                caps.implementation = Some(params.to_string());
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply(ok: bool, code: Option<&str>, text: &str) -> Reply {
        Reply {
            ok,
            code: code.map(str::to_string),
            text: text.to_string(),
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_reply("+OK Dovecot (Debian) ready.").unwrap(),
            reply(true, None, "Dovecot (Debian) ready.")
        );
        assert_eq!(
            parse_reply("-ERR [AUTH] Authentication failed.").unwrap(),
            reply(false, Some("AUTH"), "Authentication failed.")
        );
        assert_eq!(
            parse_reply("-ERR [SYS/TEMP] Temporary authentication failure.").unwrap(),
            reply(false, Some("SYS/TEMP"), "Temporary authentication failure.")
        );
        assert_eq!(
            parse_reply("-ERR [IN-USE] Mailbox locked").unwrap(),
            reply(false, Some("IN-USE"), "Mailbox locked")
        );
        assert_eq!(parse_reply("+OK").unwrap(), reply(true, None, ""));
        assert_eq!(parse_reply("-ERR").unwrap(), reply(false, None, ""));
        // Microsoft 365
        assert_eq!(
            parse_reply("-ERR Logon failure: unknown user name or bad password.").unwrap(),
            reply(
                false,
                None,
                "Logon failure: unknown user name or bad password."
            )
        );
        // APOP timestamp greeting (RFC 1939 §7)
        assert_eq!(
            parse_reply("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>").unwrap(),
            reply(
                true,
                None,
                "POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
            )
        );
        // Not a valid response code: kept as text.
        assert_eq!(
            parse_reply("-ERR [not a code] x").unwrap(),
            reply(false, None, "[not a code] x")
        );
        assert_eq!(
            parse_reply("+ok  lower").unwrap(),
            reply(true, None, "lower")
        );
    }

    #[test]
    fn not_pop3() {
        for line in [
            "* OK [CAPABILITY IMAP4rev1] Dovecot ready.",
            "220 smtp.example.com ESMTP",
            "+ VXNlcm5hbWU6",
            "+",
            "+OKAY",
            "-ERROR",
            "",
            "OK",
            "\u{fffd}\u{0}",
        ] {
            assert!(parse_reply(line).is_err(), "{line:?} should be an error");
        }
    }

    #[test]
    fn continuations() {
        assert_eq!(parse_continuation("+"), Some(String::new()));
        assert_eq!(parse_continuation("+ "), Some(String::new()));
        assert_eq!(
            parse_continuation("+ UGFzc3dvcmQ6"),
            Some("UGFzc3dvcmQ6".to_string())
        );
        assert_eq!(parse_continuation("+OK Logged in."), None);
        assert_eq!(parse_continuation("-ERR [AUTH] nope"), None);
        assert_eq!(parse_continuation(""), None);
    }

    #[test]
    fn multiline() {
        assert_eq!(multiline_line("."), None);
        assert_eq!(multiline_line(".."), Some("."));
        assert_eq!(multiline_line("..hidden"), Some(".hidden"));
        assert_eq!(multiline_line("TOP"), Some("TOP"));
        assert_eq!(multiline_line(""), Some(""));
    }

    #[test]
    fn dovecot_capa() {
        let lines: Vec<String> = [
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "PIPELINING",
            "AUTH-RESP-CODE",
            "STLS",
            "USER",
            "SASL PLAIN LOGIN",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let caps = Capabilities::from_lines(&lines);
        assert!(caps.stls);
        assert!(caps.user);
        assert_eq!(caps.sasl, vec!["PLAIN".to_string(), "LOGIN".to_string()]);
        assert_eq!(caps.implementation, None);
        assert_eq!(caps.raw.len(), 9);
    }

    #[test]
    fn capa_after_stls_and_implementation() {
        let lines: Vec<String> = [
            "user",
            "sasl  plain xoauth2 PLAIN",
            "IMPLEMENTATION Cyrus POP3 v3.4",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let caps = Capabilities::from_lines(&lines);
        assert!(!caps.stls);
        assert!(caps.user);
        assert_eq!(caps.sasl, vec!["PLAIN".to_string(), "XOAUTH2".to_string()]);
        assert_eq!(caps.implementation.as_deref(), Some("Cyrus POP3 v3.4"));
        assert_eq!(caps.raw.len(), 3);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            let _ = parse_reply(&s);
            let _ = parse_continuation(&s);
            let _ = multiline_line(&s);
            let lines: Vec<String> = s.split(['\n', '.']).map(str::to_string).collect();
            let _ = Capabilities::from_lines(&lines);
        }

        #[test]
        fn parse_reply_never_panics_on_pop3ish(s in r"[+-](OK|ERR|ok)?[ \[\]/A-Za-z\u{fffd}é]{0,30}") {
            let _ = parse_reply(&s);
        }

        #[test]
        fn dot_stuffing_round_trip(s in any::<String>()) {
            // The sender stuffs a line starting with "." by prepending another ".".
            let stuffed = if s.starts_with('.') { format!(".{s}") } else { s.clone() };
            prop_assert_eq!(multiline_line(&stuffed), Some(s.as_str()));
        }

        #[test]
        fn reply_with_code_round_trip(code in "[A-Z-]{1,10}(/[A-Z]{1,6})?", text in "[A-Za-z0-9 .]{0,30}") {
            let r = parse_reply(&format!("-ERR [{code}] {text}")).unwrap();
            prop_assert_eq!(r, Reply { ok: false, code: Some(code), text: text.trim().to_string() });
        }

        #[test]
        fn parsers_never_panic_on_lossy_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let line = String::from_utf8_lossy(&bytes);
            let _ = parse_reply(&line);
            let _ = parse_continuation(&line);
            let _ = multiline_line(&line);
        }

        #[test]
        fn continuation_round_trip(b64 in "[A-Za-z0-9+/]{0,40}={0,2}") {
            prop_assert_eq!(parse_continuation(&format!("+ {b64}")), Some(b64.clone()));
            // A status line is never a continuation, and the other way round.
            let line = format!("+ {b64}");
            prop_assert!(parse_reply(&line).is_err());
        }

        #[test]
        fn capa_sasl_round_trip(mechs in proptest::collection::vec("[A-Za-z0-9_-]{1,12}", 0..8), stls in any::<bool>()) {
            let mut lines = vec!["TOP".to_string(), format!("SASL {}", mechs.join(" "))];
            if stls {
                lines.push("stls".into());
            }
            let c = Capabilities::from_lines(&lines);
            let mut expected: Vec<String> = Vec::new();
            for m in &mechs {
                let m = m.to_ascii_uppercase();
                if !expected.contains(&m) {
                    expected.push(m);
                }
            }
            prop_assert_eq!(c.sasl, expected);
            prop_assert_eq!(c.stls, stls);
            prop_assert!(!c.user);
        }
    }
}
