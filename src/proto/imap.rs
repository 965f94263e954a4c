//! IMAP response parsing and LOGIN argument quoting (RFC 9051, compatible with RFC 3501).
//!
//! Pure functions on single lines that the reader already split at CRLF (the CRLF removed).
//! Literals (`{n}`) are not handled: the probe only needs greetings, capabilities, status
//! responses and SASL continuations, none of which carry literals in practice.
//!
//! Keywords are matched case-insensitively (RFC 9051 §2.2.1 / §9 "case-insensitive"), and runs of
//! spaces are tolerated where the grammar has a single SP, because real servers are sloppy.
//! Nothing in here panics on any input: slicing is done with `get`/`strip_prefix`/`split_*`.

use serde::Serialize;

/// Why a line could not be parsed (or a string could not be quoted).
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

/// Condition of a status response (RFC 9051 §7.1). Serialized in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

/// A status condition with its optional response code and human-readable text
/// (`resp-text = ["[" resp-text-code "]" SP] [text]`, RFC 9051 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusText {
    pub status: Status,
    /// Content of a leading `[...]` response code without the brackets, e.g.
    /// `"AUTHENTICATIONFAILED"`, `"CAPABILITY IMAP4rev1 ..."`, `"ALERT"`, `"UNAVAILABLE"`.
    pub code: Option<String>,
    pub text: String,
}

/// One server response line (RFC 9051 §7: `response-tagged`, `response-data`, `continue-req`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Response {
    /// `tag SP resp-cond-state` (RFC 9051 §7.1), e.g. `a1 OK [CAPABILITY ...] done`.
    Tagged { tag: String, status: StatusText },
    /// `"*" SP ...` (RFC 9051 §7).
    Untagged(Untagged),
    /// `"+" [SP (resp-text / base64)]` (RFC 9051 §7.5). `text` is what follows `"+ "`,
    /// possibly empty.
    Continuation { text: String },
}

/// The part of an untagged response the probe distinguishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Untagged {
    /// `* OK|NO|BAD|PREAUTH|BYE ...` (RFC 9051 §7.1).
    Status(StatusText),
    /// `* CAPABILITY ...` (RFC 9051 §7.2.2).
    Capability(Vec<String>),
    /// Anything else after `"* "`, trimmed.
    Other(String),
}

impl Response {
    /// True if this is a valid server greeting (RFC 9051 §7.1: `greeting = "*" SP
    /// (resp-cond-auth / resp-cond-bye)`), i.e. an untagged OK, PREAUTH or BYE.
    pub fn is_greeting(&self) -> bool {
        matches!(
            self,
            Response::Untagged(Untagged::Status(StatusText {
                status: Status::Ok | Status::PreAuth | Status::Bye,
                ..
            }))
        )
    }
}

/// Splits off the first space-delimited word; the remainder has its leading spaces removed.
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((word, rest)) => (word, rest.trim_start_matches(' ')),
        None => (s, ""),
    }
}

/// `tag = 1*<any ASTRING-CHAR except "+">` (RFC 9051 §9): printable ASCII without
/// atom-specials other than `]`, i.e. not `( ) { SP % * " \ +` and no CTL or 8-bit.
fn is_tag_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | '+')
}

fn status_keyword(word: &str) -> Option<Status> {
    const KEYWORDS: [(&str, Status); 5] = [
        ("OK", Status::Ok),
        ("NO", Status::No),
        ("BAD", Status::Bad),
        ("PREAUTH", Status::PreAuth),
        ("BYE", Status::Bye),
    ];
    KEYWORDS
        .iter()
        .find(|(k, _)| word.eq_ignore_ascii_case(k))
        .map(|(_, s)| *s)
}

/// Parses `resp-text` (RFC 9051 §7.1) after the condition keyword. A `[` without a closing
/// `]` is kept as plain text rather than rejected.
fn parse_resp_text(status: Status, rest: &str) -> StatusText {
    let rest = rest.trim_start_matches(' ');
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((code, text)) = inner.split_once(']') {
            return StatusText {
                status,
                code: Some(code.trim().to_string()),
                text: text.trim().to_string(),
            };
        }
    }
    StatusText {
        status,
        code: None,
        text: rest.trim().to_string(),
    }
}

/// Parses one response line (without CRLF) per RFC 9051 §7.
///
/// Returns `Err` for anything that is not IMAP, e.g. an SMTP greeting `220 ...`, a POP3 greeting
/// `+OK ...` (a continuation is `+` alone or `+ ` followed by text), an empty line or binary
/// garbage, so the caller can report "wrong protocol on this port".
pub fn parse_response(line: &str) -> Result<Response, ParseError> {
    let line = line.trim_end_matches([' ', '\t']);
    if line.is_empty() {
        return Err(ParseError::new("empty line"));
    }

    // continue-req = "+" [SP (resp-text / base64)]   (RFC 9051 §7.5)
    if let Some(after_plus) = line.strip_prefix('+') {
        if after_plus.is_empty() {
            return Ok(Response::Continuation {
                text: String::new(),
            });
        }
        if let Some(text) = after_plus.strip_prefix(' ') {
            return Ok(Response::Continuation {
                text: text.trim_start_matches(' ').to_string(),
            });
        }
        return Err(ParseError::new(
            "'+' not followed by a space (POP3 '+OK'?), not an IMAP response",
        ));
    }

    // response-data = "*" SP (resp-cond-state / resp-cond-bye / ... / capability-data ...)
    if let Some(after_star) = line.strip_prefix('*') {
        let Some(rest) = after_star.strip_prefix(' ') else {
            return Err(ParseError::new("'*' not followed by a space"));
        };
        let rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::new("untagged response without content"));
        }
        let (word, tail) = split_word(rest);
        if let Some(status) = status_keyword(word) {
            return Ok(Response::Untagged(Untagged::Status(parse_resp_text(
                status, tail,
            ))));
        }
        if word.eq_ignore_ascii_case("CAPABILITY") {
            return Ok(Response::Untagged(Untagged::Capability(
                tail.split_whitespace().map(str::to_string).collect(),
            )));
        }
        return Ok(Response::Untagged(Untagged::Other(rest.trim().to_string())));
    }

    // response-tagged = tag SP resp-cond-state   (RFC 9051 §7.1; only OK/NO/BAD are allowed)
    let (tag, tail) = split_word(line);
    if tag.is_empty() || !tag.chars().all(is_tag_char) {
        return Err(ParseError::new("invalid tag, not an IMAP response"));
    }
    let (word, tail) = split_word(tail);
    match status_keyword(word) {
        Some(status @ (Status::Ok | Status::No | Status::Bad)) => Ok(Response::Tagged {
            tag: tag.to_string(),
            status: parse_resp_text(status, tail),
        }),
        _ => Err(ParseError::new(
            "tagged line without OK/NO/BAD, not an IMAP response",
        )),
    }
}

/// The capability list inside a response code `CAPABILITY a b c` (RFC 9051 §7.1,
/// `resp-text-code =/ capability-data`), if the code is one. Surrounding brackets are accepted
/// too, so both `StatusText::code` and a raw `"[CAPABILITY ...]"` work.
pub fn capabilities_in_code(code: &str) -> Option<Vec<String>> {
    let code = code.trim();
    let code = code.strip_prefix('[').unwrap_or(code);
    let code = code.strip_suffix(']').unwrap_or(code);
    let (word, tail) = split_word(code.trim());
    if word.eq_ignore_ascii_case("CAPABILITY") {
        Some(tail.split_whitespace().map(str::to_string).collect())
    } else {
        None
    }
}

/// Quotes a string for LOGIN as an RFC 9051 `quoted` string (§4.3, §9):
/// `DQUOTE *QUOTED-CHAR DQUOTE`, with `\` and `"` escaped by a backslash.
///
/// CR, LF and NUL cannot appear in a quoted string (nor in a literal for NUL) and give `Err`.
/// Non-ASCII text is passed through as UTF-8, which RFC 9051 allows in quoted strings
/// (`QUOTED-CHAR =/ UTF8-2 / UTF8-3 / UTF8-4`); strict RFC 3501 servers would need a literal.
pub fn quote(s: &str) -> Result<String, ParseError> {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\r' | '\n' | '\0' => {
                return Err(ParseError::new(
                    "CR, LF or NUL cannot be sent in an IMAP quoted string",
                ))
            }
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// Inverse of [`quote`]: parses a complete RFC 9051 `quoted` string (§9). Only `\\` and `\"`
/// are valid escapes; CR, LF and NUL are rejected.
pub fn unquote(s: &str) -> Result<String, ParseError> {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or(ParseError::new("quoted string must be enclosed in '\"'"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | '"')) => out.push(e),
                _ => return Err(ParseError::new("invalid escape in quoted string")),
            },
            '"' => return Err(ParseError::new("unescaped '\"' in quoted string")),
            '\r' | '\n' | '\0' => {
                return Err(ParseError::new("CR, LF or NUL in quoted string"));
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// What a capability list (RFC 9051 §7.2.2) says about the features the probe cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The capabilities as the server sent them.
    pub raw: Vec<String>,
    /// `STARTTLS` (RFC 9051 §6.2.1).
    pub starttls: bool,
    /// `LOGINDISABLED`: LOGIN refused on this connection (RFC 9051 §6.2.3).
    pub login_disabled: bool,
    /// SASL mechanisms from `AUTH=X` (RFC 9051 §6.2.2), upper-cased, without duplicates.
    pub auth_mechanisms: Vec<String>,
}

impl Capabilities {
    /// Interprets a capability list (from `* CAPABILITY` or [`capabilities_in_code`]).
    /// Capability names are case-insensitive.
    pub fn from_list(list: &[String]) -> Capabilities {
        let mut caps = Capabilities {
            raw: list.to_vec(),
            ..Capabilities::default()
        };
        for cap in list {
            let cap = cap.trim();
            if cap.eq_ignore_ascii_case("STARTTLS") {
                caps.starttls = true;
            } else if cap.eq_ignore_ascii_case("LOGINDISABLED") {
                caps.login_disabled = true;
            } else if let Some(mech) = strip_prefix_ignore_case(cap, "AUTH=") {
                let mech = mech.to_ascii_uppercase();
                if !mech.is_empty() && !caps.auth_mechanisms.contains(&mech) {
                    caps.auth_mechanisms.push(mech);
                }
            }
        }
        caps
    }
}

/// `s` without an ASCII `prefix` matched case-insensitively (never panics on char boundaries).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match (s.get(..prefix.len()), s.get(prefix.len()..)) {
        (Some(head), Some(tail)) if head.eq_ignore_ascii_case(prefix) => Some(tail),
        _ => None,
    }
}

/// Command tag generator: `"a1"`, `"a2"`, ... (tags only need to be unique per connection,
/// RFC 9051 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    counter: u64,
}

impl Tags {
    pub fn new() -> Self {
        Tags { counter: 0 }
    }

    /// The next unused tag. Named like `Iterator::next` on purpose (the generator never ends,
    /// so an `Option` would only add noise).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        format!("a{}", self.counter)
    }
}

impl Default for Tags {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn st(status: Status, code: Option<&str>, text: &str) -> StatusText {
        StatusText {
            status,
            code: code.map(str::to_string),
            text: text.to_string(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dovecot_greeting_with_capability_code() {
        let r = parse_response(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.",
        )
        .unwrap();
        assert!(r.is_greeting());
        let Response::Untagged(Untagged::Status(s)) = r else {
            panic!("not a status: {r:?}")
        };
        assert_eq!(s.status, Status::Ok);
        assert_eq!(s.text, "Dovecot (Debian) ready.");
        let list = capabilities_in_code(s.code.as_deref().unwrap()).unwrap();
        assert_eq!(list.len(), 9);
        let caps = Capabilities::from_list(&list);
        assert!(caps.starttls);
        assert!(caps.login_disabled);
        assert!(caps.auth_mechanisms.is_empty());
    }

    #[test]
    fn tagged_responses() {
        assert_eq!(
            parse_response("a1 NO [AUTHENTICATIONFAILED] Authentication failed.").unwrap(),
            Response::Tagged {
                tag: "a1".into(),
                status: st(
                    Status::No,
                    Some("AUTHENTICATIONFAILED"),
                    "Authentication failed."
                ),
            }
        );
        // Microsoft 365 / Exchange
        assert_eq!(
            parse_response("a1 NO AUTHENTICATE failed.").unwrap(),
            Response::Tagged {
                tag: "a1".into(),
                status: st(Status::No, None, "AUTHENTICATE failed."),
            }
        );
        assert_eq!(
            parse_response("a2 ok   [CAPABILITY IMAP4rev1 AUTH=PLAIN]   Logged in  ").unwrap(),
            Response::Tagged {
                tag: "a2".into(),
                status: st(
                    Status::Ok,
                    Some("CAPABILITY IMAP4rev1 AUTH=PLAIN"),
                    "Logged in"
                ),
            }
        );
        assert_eq!(
            parse_response("A0003 BAD").unwrap(),
            Response::Tagged {
                tag: "A0003".into(),
                status: st(Status::Bad, None, ""),
            }
        );
    }

    #[test]
    fn untagged_responses() {
        assert_eq!(
            parse_response("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN").unwrap(),
            Response::Untagged(Untagged::Capability(strings(&[
                "IMAP4rev1",
                "STARTTLS",
                "AUTH=PLAIN"
            ])))
        );
        assert_eq!(
            parse_response("*  capability  IMAP4rev2").unwrap(),
            Response::Untagged(Untagged::Capability(strings(&["IMAP4rev2"])))
        );
        assert_eq!(
            parse_response("* BYE [UNAVAILABLE] Server shutting down").unwrap(),
            Response::Untagged(Untagged::Status(st(
                Status::Bye,
                Some("UNAVAILABLE"),
                "Server shutting down"
            )))
        );
        let preauth = parse_response("* PREAUTH IMAP4rev1 server logged in as Smith").unwrap();
        assert!(preauth.is_greeting());
        // Gmail greeting
        let gmail = parse_response("* OK Gimap ready for requests from 192.0.2.1 h4mb1").unwrap();
        assert!(gmail.is_greeting());
        assert_eq!(
            parse_response("* NO [ALERT] Mailbox almost full").unwrap(),
            Response::Untagged(Untagged::Status(st(
                Status::No,
                Some("ALERT"),
                "Mailbox almost full"
            )))
        );
        assert!(!parse_response("* NO x").unwrap().is_greeting());
        assert_eq!(
            parse_response("* 23 EXISTS").unwrap(),
            Response::Untagged(Untagged::Other("23 EXISTS".into()))
        );
        assert_eq!(
            parse_response("* OK [unclosed code").unwrap(),
            Response::Untagged(Untagged::Status(st(Status::Ok, None, "[unclosed code")))
        );
    }

    #[test]
    fn continuations() {
        assert_eq!(
            parse_response("+").unwrap(),
            Response::Continuation {
                text: String::new()
            }
        );
        assert_eq!(
            parse_response("+ ").unwrap(),
            Response::Continuation {
                text: String::new()
            }
        );
        assert_eq!(
            parse_response("+ VXNlcm5hbWU6").unwrap(),
            Response::Continuation {
                text: "VXNlcm5hbWU6".into()
            }
        );
    }

    #[test]
    fn other_protocols_are_errors() {
        for line in [
            "220 smtp.example.com ESMTP Postfix",
            "+OK POP3 ready",
            "+OK",
            "-ERR unknown command",
            "",
            "   ",
            "*",
            "* ",
            "*OK",
            "HTTP/1.1 400 Bad Request",
            "SSH-2.0-OpenSSH_9.6",
            "\u{fffd}\u{fffd}\u{3}\u{0}",
            "a1 FOO bar",
            "a1",
            "a{1 OK x",
            "a1 PREAUTH x",
        ] {
            assert!(parse_response(line).is_err(), "{line:?} should be an error");
        }
    }

    #[test]
    fn capability_codes() {
        assert_eq!(capabilities_in_code("ALERT"), None);
        assert_eq!(capabilities_in_code("CAPABILITYX"), None);
        assert_eq!(
            capabilities_in_code("[capability IMAP4rev1 AUTH=XOAUTH2]"),
            Some(strings(&["IMAP4rev1", "AUTH=XOAUTH2"]))
        );
        assert_eq!(capabilities_in_code("CAPABILITY"), Some(vec![]));
    }

    #[test]
    fn capabilities_interpretation() {
        let caps = Capabilities::from_list(&strings(&[
            "IMAP4rev1",
            "starttls",
            "AUTH=plain",
            "AUTH=XOAUTH2",
            "auth=PLAIN",
            "AUTH=",
            "SASL-IR",
        ]));
        assert!(caps.starttls);
        assert!(!caps.login_disabled);
        assert_eq!(caps.auth_mechanisms, strings(&["PLAIN", "XOAUTH2"]));
        assert_eq!(caps.raw.len(), 7);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("user@example.com").unwrap(), "\"user@example.com\"");
        assert_eq!(quote(r#"p"a\s"#).unwrap(), r#""p\"a\\s""#);
        assert_eq!(quote("").unwrap(), "\"\"");
        assert_eq!(quote("pässwörd").unwrap(), "\"pässwörd\"");
        assert!(quote("a\r\nb").is_err());
        assert!(quote("a\0").is_err());
        assert_eq!(unquote(r#""p\"a\\s""#).unwrap(), r#"p"a\s"#);
        assert!(unquote("\"abc").is_err());
        assert!(unquote("\"").is_err());
        assert!(unquote(r#""a\x""#).is_err());
        assert!(unquote(r#""a"b""#).is_err());
    }

    #[test]
    fn tags_count_up() {
        let mut tags = Tags::new();
        assert_eq!(tags.next(), "a1");
        assert_eq!(tags.next(), "a2");
        assert_eq!(tags.next(), "a3");
    }

    #[test]
    fn status_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Status::PreAuth).unwrap(),
            "\"preauth\""
        );
        assert_eq!(serde_json::to_string(&Status::Ok).unwrap(), "\"ok\"");
    }

    proptest! {
        #[test]
        fn parse_response_never_panics(s in any::<String>()) {
            let _ = parse_response(&s);
        }

        #[test]
        fn parse_response_never_panics_on_imapish(s in r#"[*+a-z0-9 ]{0,3}(OK|NO|BAD|BYE|PREAUTH|CAPABILITY|ok)?[ \[\]A-Za-z0-9=+\u{fffd}é]{0,40}"#) {
            let _ = parse_response(&s);
        }

        #[test]
        fn helpers_never_panic(s in any::<String>()) {
            let _ = capabilities_in_code(&s);
            let _ = unquote(&s);
            let list: Vec<String> = s.split(' ').map(str::to_string).collect();
            let _ = Capabilities::from_list(&list);
        }

        #[test]
        fn quote_unquote_round_trip(s in any::<String>()) {
            match quote(&s) {
                Ok(q) => prop_assert_eq!(unquote(&q).unwrap(), s),
                Err(_) => prop_assert!(s.contains(['\r', '\n', '\0'])),
            }
        }

        #[test]
        fn tagged_ok_round_trip(tag in "[A-Za-z0-9.]{1,8}", text in "[A-Za-z0-9 .]{0,30}") {
            let line = format!("{tag} OK {text}");
            let r = parse_response(&line).unwrap();
            prop_assert_eq!(r, Response::Tagged {
                tag,
                status: StatusText { status: Status::Ok, code: None, text: text.trim().to_string() },
            });
        }

        /// What the connection hands over: any bytes, decoded as it does.
        #[test]
        fn parse_response_never_panics_on_lossy_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let line = String::from_utf8_lossy(&bytes);
            let _ = parse_response(&line);
            let _ = capabilities_in_code(&line);
        }

        #[test]
        fn capability_list_round_trip(caps in proptest::collection::vec("[A-Za-z0-9=+.-]{1,12}", 0..12)) {
            let line = format!("* CAPABILITY {}", caps.join(" "));
            prop_assert_eq!(
                parse_response(&line).unwrap(),
                Response::Untagged(Untagged::Capability(caps.clone()))
            );
            let c = Capabilities::from_list(&caps);
            let mut expected: Vec<String> = Vec::new();
            for cap in &caps {
                if let Some(m) = cap.get(..5).filter(|p| p.eq_ignore_ascii_case("AUTH=")).and(cap.get(5..)) {
                    let m = m.to_ascii_uppercase();
                    if !m.is_empty() && !expected.contains(&m) {
                        expected.push(m);
                    }
                }
            }
            prop_assert_eq!(c.auth_mechanisms, expected);
            prop_assert_eq!(c.starttls, caps.iter().any(|x| x.eq_ignore_ascii_case("STARTTLS")));
        }

        #[test]
        fn greeting_capability_code_round_trip(
            caps in proptest::collection::vec("[A-Za-z0-9=+.-]{1,12}", 1..12),
            text in "[A-Za-z0-9 .]{0,30}",
        ) {
            let line = format!("* OK [CAPABILITY {}] {text}", caps.join(" "));
            let r = parse_response(&line).unwrap();
            prop_assert!(r.is_greeting());
            let Response::Untagged(Untagged::Status(st)) = r else { unreachable!() };
            prop_assert_eq!(capabilities_in_code(st.code.as_deref().unwrap()), Some(caps));
            prop_assert_eq!(st.text, text.trim().to_string());
        }
    }
}
