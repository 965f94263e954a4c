//! What the lab says and understands in each protocol: greetings, capability lists, the
//! replies of the login exchange, and the parsing of client commands. The session logic in
//! `session.rs` is the same for the three protocols; only the words differ.

use super::scenario::Scenario;
use super::TLS_NAME;
use crate::model::Protocol;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Imap,
    Pop3,
    Smtp,
}

/// A client command, the same for the three protocols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmd {
    /// IMAP CAPABILITY, POP3 CAPA, SMTP EHLO.
    Capability,
    /// SMTP HELO (no extensions).
    Helo,
    /// IMAP/SMTP STARTTLS, POP3 STLS.
    Starttls,
    /// IMAP AUTHENTICATE, POP3/SMTP AUTH, with an optional initial response.
    Auth {
        mech: String,
        initial: Option<String>,
    },
    /// IMAP LOGIN.
    Login {
        user: String,
        pass: String,
    },
    /// POP3 USER.
    User(String),
    /// POP3 PASS.
    Pass(String),
    /// IMAP SELECT/EXAMINE, POP3 STAT/UIDL/LIST: opening the mailbox (the lab has none).
    Mailbox,
    /// SMTP MAIL, RCPT, DATA: a message transaction (the lab delivers nothing).
    Transaction,
    /// IMAP LOGOUT, POP3/SMTP QUIT.
    Logout,
    Noop,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// The IMAP tag ("" for POP3 and SMTP).
    pub tag: String,
    pub cmd: Cmd,
}

impl Parsed {
    /// The line as the lab records it: secrets replaced, never stored.
    pub fn redacted(&self, raw: &str) -> String {
        let sp = if self.tag.is_empty() { "" } else { " " };
        match &self.cmd {
            Cmd::Login { user, .. } => format!("{}{sp}LOGIN {user} <redacted>", self.tag),
            Cmd::Pass(_) => "PASS <redacted>".into(),
            Cmd::Auth {
                mech,
                initial: Some(_),
            } => {
                let verb = raw
                    .split_whitespace()
                    .nth(if self.tag.is_empty() { 0 } else { 1 })
                    .unwrap_or("AUTH");
                format!("{}{sp}{verb} {mech} <redacted>", self.tag)
            }
            _ => printable(raw),
        }
    }

    /// The command carries a secret (or is a login attempt that would).
    pub fn is_login(&self) -> bool {
        matches!(
            self.cmd,
            Cmd::Auth { .. } | Cmd::Login { .. } | Cmd::Pass(_)
        )
    }
}

/// Control characters escaped, at most 200 characters.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Words of the `hostile-words` scenario: a colour escape, a bare CR (back to the start of
/// the line, to overwrite it) and a right-to-left override.
pub const HOSTILE_WORDS: &str = "\u{1b}[31mred\rover\u{202e}desrever";

/// What the server offers on a connection in its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    pub starttls: bool,
    /// SASL mechanisms.
    pub mechs: Vec<&'static str>,
    /// The protocol's own password command: IMAP LOGIN (else LOGINDISABLED), POP3 USER/PASS.
    pub password_command: bool,
}

impl Offer {
    pub fn offers(&self, mech: &str) -> bool {
        self.mechs.iter().any(|m| m.eq_ignore_ascii_case(mech))
    }
}

impl Dialect {
    pub fn of(p: Protocol) -> Dialect {
        match p {
            Protocol::Imap => Dialect::Imap,
            Protocol::Pop3 => Dialect::Pop3,
            Protocol::Smtp => Dialect::Smtp,
        }
    }

    /// What is offered before TLS (STARTTLS ports) or over TLS.
    pub fn offer(self, scenario: Scenario, tls: bool) -> Offer {
        if !tls {
            return match scenario {
                // A server without TLS that takes passwords in clear.
                Scenario::NoStarttls => Offer {
                    starttls: false,
                    mechs: vec!["PLAIN", "LOGIN"],
                    password_command: true,
                },
                Scenario::CapsChangeAfterStarttls => Offer {
                    starttls: true,
                    mechs: vec!["PLAIN"],
                    password_command: true,
                },
                // Correct: no login before TLS (IMAP LOGINDISABLED, no USER, no AUTH).
                _ => Offer {
                    starttls: true,
                    mechs: vec![],
                    password_command: false,
                },
            };
        }
        let mechs = match (scenario, self) {
            (Scenario::CapsChangeAfterStarttls, _) => vec!["LOGIN"],
            // Microsoft 365 lists AUTH LOGIN XOAUTH2 on SMTP and only XOAUTH2 on IMAP/POP3
            // once basic authentication is off.
            (Scenario::Oauth2Required, Dialect::Smtp) => vec!["LOGIN", "XOAUTH2"],
            (Scenario::Oauth2Required, _) => vec!["XOAUTH2"],
            // Microsoft 365 as it lists them with password login allowed in principle.
            (Scenario::Oauth2Offered, Dialect::Smtp) => vec!["LOGIN", "XOAUTH2"],
            (Scenario::Oauth2Offered, _) => vec!["PLAIN", "XOAUTH2"],
            _ => vec!["PLAIN", "LOGIN"],
        };
        Offer {
            starttls: false,
            mechs,
            // Behind a TLS proxy the server still believes the connection is plain text: IMAP
            // LOGINDISABLED, no POP3 USER (its SASL list stays, as the lab's refusal shows).
            password_command: scenario != Scenario::LoginDisabledAfterTls,
        }
    }

    /// The capability list as the protocol writes it (IMAP atoms, POP3 CAPA lines, EHLO
    /// keywords).
    pub fn capabilities(self, offer: &Offer) -> Vec<String> {
        let mut caps: Vec<String> = Vec::new();
        match self {
            Dialect::Imap => {
                caps.extend(
                    ["IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"].map(String::from),
                );
                if offer.starttls {
                    caps.push("STARTTLS".into());
                }
                if !offer.password_command {
                    caps.push("LOGINDISABLED".into());
                }
                caps.extend(offer.mechs.iter().map(|m| format!("AUTH={m}")));
            }
            Dialect::Pop3 => {
                caps.extend(
                    ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"].map(String::from),
                );
                if offer.starttls {
                    caps.push("STLS".into());
                }
                if offer.password_command {
                    caps.push("USER".into());
                }
                if !offer.mechs.is_empty() {
                    caps.push(format!("SASL {}", offer.mechs.join(" ")));
                }
                caps.push("IMPLEMENTATION mailcheck-lab".into());
            }
            Dialect::Smtp => {
                caps.push(TLS_NAME.into());
                caps.extend(
                    [
                        "PIPELINING",
                        "SIZE 36700160",
                        "ENHANCEDSTATUSCODES",
                        "8BITMIME",
                    ]
                    .map(String::from),
                );
                if offer.starttls {
                    caps.push("STARTTLS".into());
                }
                if !offer.mechs.is_empty() {
                    caps.push(format!("AUTH {}", offer.mechs.join(" ")));
                }
                caps.push("SMTPUTF8".into());
            }
        }
        caps
    }

    /// The greeting (with CRLF).
    pub fn greeting(self, offer: &Offer) -> String {
        match self {
            Dialect::Imap => format!(
                "* OK [CAPABILITY {}] mailcheck lab ready.\r\n",
                self.capabilities(offer).join(" ")
            ),
            Dialect::Pop3 => "+OK mailcheck lab POP3 ready.\r\n".into(),
            Dialect::Smtp => format!("220 {TLS_NAME} ESMTP mailcheck lab\r\n"),
        }
    }

    /// The scenario's greeting: the protocol's, with hostile words in `hostile-words`.
    pub fn greeting_in(self, scenario: Scenario, offer: &Offer) -> String {
        let greeting = self.greeting(offer);
        if scenario != Scenario::HostileWords {
            return greeting;
        }
        format!("{} {HOSTILE_WORDS}\r\n", greeting.trim_end())
    }

    /// How this protocol's greeting starts (for a greeting that never ends).
    pub fn greeting_prefix(self) -> &'static str {
        match self {
            Dialect::Imap => "* OK ",
            Dialect::Pop3 => "+OK ",
            Dialect::Smtp => "220 ",
        }
    }

    /// The greeting of another protocol: SMTP on IMAP ports, IMAP on POP3, POP3 on SMTP.
    pub fn foreign_greeting(self) -> String {
        match self {
            Dialect::Imap => format!("220 {TLS_NAME} ESMTP Postfix\r\n"),
            Dialect::Pop3 => "* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n".into(),
            Dialect::Smtp => "+OK Dovecot ready.\r\n".into(),
        }
    }

    pub fn busy(self) -> String {
        match self {
            Dialect::Imap => "* BYE [UNAVAILABLE] Server too busy, try again later.\r\n".into(),
            Dialect::Pop3 => "-ERR [SYS/TEMP] Server too busy, try again later.\r\n".into(),
            Dialect::Smtp => format!(
                "421 4.3.2 {TLS_NAME} Service not available, too busy, closing transmission channel\r\n"
            ),
        }
    }

    /// The whole answer to a capability request.
    pub fn capability_reply(self, tag: &str, offer: &Offer) -> String {
        let caps = self.capabilities(offer);
        match self {
            Dialect::Imap => format!(
                "* CAPABILITY {}\r\n{tag} OK Capability completed.\r\n",
                caps.join(" ")
            ),
            Dialect::Pop3 => {
                let mut s = String::from("+OK Capability list follows\r\n");
                for c in caps {
                    s.push_str(&c);
                    s.push_str("\r\n");
                }
                s.push_str(".\r\n");
                s
            }
            Dialect::Smtp => {
                let mut s = String::new();
                let n = caps.len();
                for (i, c) in caps.into_iter().enumerate() {
                    let sep = if i + 1 == n { ' ' } else { '-' };
                    s.push_str(&format!("250{sep}{c}\r\n"));
                }
                s
            }
        }
    }

    pub fn helo(self) -> String {
        format!("250 {TLS_NAME}\r\n")
    }

    pub fn starttls_go_ahead(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("{tag} OK Begin TLS negotiation now.\r\n"),
            Dialect::Pop3 => "+OK Begin TLS negotiation now.\r\n".into(),
            Dialect::Smtp => "220 2.0.0 Ready to start TLS\r\n".into(),
        }
    }

    /// A response smuggled between the STARTTLS go-ahead and the handshake: if a client read
    /// it after the handshake, it would believe the server offers a plain-text login.
    pub fn injected(self) -> String {
        match self {
            Dialect::Imap => "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n".into(),
            Dialect::Pop3 => "+OK injected: USER accepted\r\n".into(),
            Dialect::Smtp => "250 AUTH PLAIN LOGIN\r\n".into(),
        }
    }

    pub fn unknown(self, tag: &str) -> String {
        match self {
            Dialect::Imap if tag.is_empty() => "* BAD Error in IMAP command.\r\n".into(),
            Dialect::Imap => format!("{tag} BAD Error in IMAP command received by server.\r\n"),
            Dialect::Pop3 => "-ERR Unknown command.\r\n".into(),
            Dialect::Smtp => "502 5.5.2 Error: command not recognized\r\n".into(),
        }
    }

    pub fn ok(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("{tag} OK Completed.\r\n"),
            Dialect::Pop3 => "+OK\r\n".into(),
            Dialect::Smtp => "250 2.0.0 Ok\r\n".into(),
        }
    }

    pub fn logout(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n"),
            Dialect::Pop3 => "+OK Logging out.\r\n".into(),
            Dialect::Smtp => "221 2.0.0 Bye\r\n".into(),
        }
    }

    /// A SASL challenge (`text` is base64, possibly empty).
    pub fn continuation(self, text: &str) -> String {
        match self {
            Dialect::Imap | Dialect::Pop3 => format!("+ {text}\r\n"),
            Dialect::Smtp => format!("334 {text}\r\n"),
        }
    }

    pub fn auth_ok(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("{tag} OK Logged in.\r\n"),
            Dialect::Pop3 => "+OK Logged in.\r\n".into(),
            Dialect::Smtp => "235 2.7.0 Authentication successful\r\n".into(),
        }
    }

    pub fn auth_failed(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
            Dialect::Pop3 => "-ERR [AUTH] Authentication failed.\r\n".into(),
            Dialect::Smtp => {
                "535 5.7.8 Error: authentication failed: authentication failure\r\n".into()
            }
        }
    }

    pub fn auth_cancelled(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("{tag} BAD Authentication aborted by client.\r\n"),
            Dialect::Pop3 => "-ERR Authentication aborted by client.\r\n".into(),
            Dialect::Smtp => "501 5.7.0 Authentication aborted\r\n".into(),
        }
    }

    pub fn mech_unsupported(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!("{tag} NO [CANNOT] Unsupported authentication mechanism.\r\n"),
            Dialect::Pop3 => "-ERR Unsupported authentication mechanism.\r\n".into(),
            Dialect::Smtp => "504 5.5.4 Unrecognized authentication type\r\n".into(),
        }
    }

    /// A login attempted where the server does not offer it (before TLS).
    pub fn login_disabled(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!(
                "{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n"
            ),
            Dialect::Pop3 => "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n".into(),
            Dialect::Smtp => "530 5.7.0 Must issue a STARTTLS command first\r\n".into(),
        }
    }

    /// Microsoft 365's answer to a password once basic authentication is disabled.
    /// `login_command`: the IMAP LOGIN command rather than AUTHENTICATE.
    pub fn basic_auth_disabled(self, tag: &str, login_command: bool) -> String {
        match self {
            Dialect::Imap if login_command => format!("{tag} NO LOGIN failed.\r\n"),
            Dialect::Imap => format!("{tag} NO AUTHENTICATE failed.\r\n"),
            Dialect::Pop3 => "-ERR Logon failure: unknown user name or bad password.\r\n".into(),
            Dialect::Smtp => "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [mailcheck-lab]\r\n".into(),
        }
    }

    /// IMAP: an empty INBOX, opened (`EXAMINE` read-only, as Dovecot answers it).
    pub fn empty_inbox(self, tag: &str, examine: bool) -> String {
        let (code, verb) = if examine {
            ("READ-ONLY", "Examine")
        } else {
            ("READ-WRITE", "Select")
        };
        format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT 1] Predicted next UID\r\n{tag} OK [{code}] {verb} completed.\r\n"
        )
    }

    /// The mailbox cannot be opened: Dovecot's words when its mail store is broken.
    pub fn mailbox_unavailable(self, tag: &str) -> String {
        match self {
            Dialect::Imap => format!(
                "{tag} NO [SERVERBUG] Internal error occurred. Refer to server log for more information. [{TLS_NAME}:mailcheck-lab]\r\n"
            ),
            _ => format!(
                "-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information. [{TLS_NAME}:mailcheck-lab]\r\n"
            ),
        }
    }

    /// STARTTLS offered, then refused: Postfix's words when its TLS key is unusable.
    pub fn starttls_refused(self, tag: &str) -> String {
        match self {
            Dialect::Imap => {
                format!("{tag} NO [UNAVAILABLE] TLS not available due to local problem\r\n")
            }
            Dialect::Pop3 => "-ERR [SYS/TEMP] TLS not available due to local problem\r\n".into(),
            Dialect::Smtp => "454 4.7.0 TLS not available due to local problem\r\n".into(),
        }
    }

    /// How the scenario refuses a password, in the words real servers use (`None`: the lab
    /// judges the password itself). `login_command`: the IMAP LOGIN command.
    pub fn scenario_refusal(
        self,
        scenario: Scenario,
        tag: &str,
        login_command: bool,
    ) -> Option<String> {
        use Dialect::*;
        let text = match (scenario, self) {
            (Scenario::Oauth2Required, _) => return Some(self.basic_auth_disabled(tag, login_command)),
            // The same refusal without the words that say why: a wrong password reads so too.
            (Scenario::Oauth2Offered, Smtp) => {
                "535 5.7.3 Authentication unsuccessful [mailcheck-lab]\r\n".into()
            }
            (Scenario::Oauth2Offered, _) => self.basic_auth_disabled(tag, login_command),
            // A TLS proxy in front: the server sees a plain-text connection (Dovecot's words;
            // RFC 4954's 538 for SMTP).
            (Scenario::LoginDisabledAfterTls, Smtp) => {
                "538 5.7.11 Encryption required for requested authentication mechanism\r\n".into()
            }
            (Scenario::LoginDisabledAfterTls, _) => self.login_disabled(tag),
            (Scenario::AccountLocked, Imap) => {
                format!("{tag} NO [AUTHENTICATIONFAILED] Account locked: too many login failures.\r\n")
            }
            (Scenario::AccountLocked, Pop3) => {
                "-ERR [AUTH] Account locked: too many login failures.\r\n".into()
            }
            // Google's multi-line answer once it wants a sign-in on the web first.
            (Scenario::AccountLocked, Smtp) => concat!(
                "534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=mailcheck-lab>\r\n",
                "534-5.7.14 Please log in via your web browser and then try again.\r\n",
                "534-5.7.14  Learn more at\r\n",
                "534 5.7.14  https://support.google.com/mail/answer/78754 mailcheck-lab - gsmtp\r\n",
            )
            .into(),
            (Scenario::AppPasswordRequired, Imap) => format!(
                "{tag} NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)\r\n"
            ),
            (Scenario::AppPasswordRequired, Pop3) => {
                "-ERR [AUTH] Application-specific password required: https://support.google.com/accounts/answer/185833\r\n".into()
            }
            (Scenario::AppPasswordRequired, Smtp) => concat!(
                "534-5.7.9 Application-specific password required. Learn more at\r\n",
                "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor mailcheck-lab - gsmtp\r\n",
            )
            .into(),
            // Gmail's words for LOGIN, Microsoft 365's for AUTHENTICATE.
            (Scenario::ProtocolDisabled, Imap) if login_command => format!(
                "{tag} NO [ALERT] Your account is not enabled for IMAP use. Please visit your Gmail settings page and enable your account for IMAP access. (Failure)\r\n"
            ),
            (Scenario::ProtocolDisabled, Imap) => {
                format!("{tag} NO User is authenticated but not connected.\r\n")
            }
            (Scenario::ProtocolDisabled, Pop3) => {
                "-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.\r\n".into()
            }
            (Scenario::ProtocolDisabled, Smtp) => {
                "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. [mailcheck-lab]\r\n".into()
            }
            (Scenario::HostileWords, Imap) => {
                format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed {HOSTILE_WORDS}\r\n")
            }
            (Scenario::HostileWords, Pop3) => {
                format!("-ERR [AUTH] Authentication failed {HOSTILE_WORDS}\r\n")
            }
            (Scenario::HostileWords, Smtp) => {
                format!("535 5.7.8 Authentication failed {HOSTILE_WORDS}\r\n")
            }
            (Scenario::AuthTemporaryFailure, Imap) => format!(
                "{tag} NO [UNAVAILABLE] Temporary authentication failure. [{TLS_NAME}:mailcheck-lab]\r\n"
            ),
            (Scenario::AuthTemporaryFailure, Pop3) => {
                format!("-ERR [SYS/TEMP] Temporary authentication failure. [{TLS_NAME}:mailcheck-lab]\r\n")
            }
            (Scenario::AuthTemporaryFailure, Smtp) => {
                "454 4.7.0 Temporary authentication failure\r\n".into()
            }
            _ => return None,
        };
        Some(text)
    }

    pub fn user_ok(self) -> String {
        "+OK\r\n".into()
    }

    /// Parse one client line (without CRLF).
    pub fn parse(self, line: &str) -> Parsed {
        let line = line.trim_end_matches([' ', '\t']);
        let (tag, rest) = match self {
            Dialect::Imap => match line.split_once(' ') {
                Some((t, r)) => (t.to_string(), r.trim_start()),
                None => (line.to_string(), ""),
            },
            _ => (String::new(), line),
        };
        let (verb, args) = match rest.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim_start()),
            None => (rest.to_ascii_uppercase(), ""),
        };
        let auth = |args: &str| {
            let mut it = args.split_whitespace();
            match it.next() {
                Some(mech) => Cmd::Auth {
                    mech: mech.to_ascii_uppercase(),
                    initial: it.next().map(str::to_string),
                },
                None => Cmd::Unknown,
            }
        };
        let cmd = match (self, verb.as_str()) {
            (Dialect::Imap, "CAPABILITY") | (Dialect::Pop3, "CAPA") | (Dialect::Smtp, "EHLO") => {
                Cmd::Capability
            }
            (Dialect::Smtp, "HELO") => Cmd::Helo,
            (Dialect::Imap | Dialect::Smtp, "STARTTLS") | (Dialect::Pop3, "STLS") => Cmd::Starttls,
            (Dialect::Imap, "AUTHENTICATE") | (Dialect::Pop3 | Dialect::Smtp, "AUTH") => auth(args),
            (Dialect::Imap, "LOGIN") => match imap_astrings(args).as_deref() {
                Some([user, pass]) => Cmd::Login {
                    user: user.clone(),
                    pass: pass.clone(),
                },
                _ => Cmd::Unknown,
            },
            (Dialect::Pop3, "USER") => Cmd::User(args.to_string()),
            (Dialect::Pop3, "PASS") => Cmd::Pass(args.to_string()),
            (Dialect::Imap, "SELECT" | "EXAMINE") | (Dialect::Pop3, "STAT" | "UIDL" | "LIST") => {
                Cmd::Mailbox
            }
            (Dialect::Smtp, "MAIL" | "RCPT" | "DATA") => Cmd::Transaction,
            (Dialect::Imap, "LOGOUT") | (Dialect::Pop3 | Dialect::Smtp, "QUIT") => Cmd::Logout,
            (Dialect::Imap, "NOOP" | "ID" | "ENABLE")
            | (Dialect::Pop3, "NOOP")
            | (Dialect::Smtp, "NOOP" | "RSET") => Cmd::Noop,
            _ => Cmd::Unknown,
        };
        Parsed { tag, cmd }
    }
}

/// IMAP atoms and quoted strings (RFC 9051 `astring`); literals are not supported.
fn imap_astrings(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => word.push(chars.next()?),
                    ch => word.push(ch),
                }
            }
        } else if c == '{' {
            return None;
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == ' ' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    #[test]
    fn parses_client_commands() {
        let p = Dialect::Imap.parse(r#"a1 LOGIN "alice@lab.test" "p\"w""#);
        assert_eq!(p.tag, "a1");
        assert_eq!(
            p.cmd,
            Cmd::Login {
                user: "alice@lab.test".into(),
                pass: "p\"w".into()
            }
        );
        assert_eq!(p.redacted("ignored"), "a1 LOGIN alice@lab.test <redacted>");
        let p = Dialect::Smtp.parse("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
        assert_eq!(
            p.cmd,
            Cmd::Auth {
                mech: "PLAIN".into(),
                initial: Some("AGFsaWNlAHNlY3JldA==".into())
            }
        );
        assert_eq!(
            p.redacted("AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
            "AUTH PLAIN <redacted>"
        );
        assert!(p.is_login());
        assert_eq!(Dialect::Pop3.parse("stls").cmd, Cmd::Starttls);
        assert_eq!(Dialect::Pop3.parse("PASS a b").cmd, Cmd::Pass("a b".into()));
        assert_eq!(
            Dialect::Pop3.parse("PASS a b").redacted("x"),
            "PASS <redacted>"
        );
        assert_eq!(Dialect::Smtp.parse("EHLO x").cmd, Cmd::Capability);
        assert_eq!(Dialect::Imap.parse("a2 LOGIN {5}").cmd, Cmd::Unknown);
        assert_eq!(Dialect::Imap.parse("").cmd, Cmd::Unknown);
    }

    /// What the lab writes, mailcheck's own parsers read as meant.
    #[test]
    fn replies_parse_with_the_client_parsers() {
        for scenario in [Scenario::Good, Scenario::Oauth2Required] {
            for tls in [false, true] {
                let d = Dialect::Imap;
                let offer = d.offer(scenario, tls);
                let g = d.greeting(&offer);
                let r = proto::imap::parse_response(g.trim_end()).unwrap();
                assert!(r.is_greeting());
                let reply = d.capability_reply("a1", &offer);
                let first = reply.lines().next().unwrap();
                let proto::imap::Response::Untagged(proto::imap::Untagged::Capability(list)) =
                    proto::imap::parse_response(first).unwrap()
                else {
                    panic!("{first}")
                };
                let caps = proto::imap::Capabilities::from_list(&list);
                assert_eq!(caps.starttls, offer.starttls);
                assert_eq!(caps.login_disabled, !offer.password_command);

                let d = Dialect::Smtp;
                let offer = d.offer(scenario, tls);
                let mut parser = proto::smtp::ReplyParser::new(50);
                let mut reply = None;
                for line in d.capability_reply("", &offer).lines() {
                    reply = parser.push(line).unwrap();
                }
                let e = proto::smtp::Extensions::from_ehlo(&reply.unwrap());
                assert_eq!(e.starttls, offer.starttls);
                assert_eq!(e.auth_mechanisms, offer.mechs);

                let d = Dialect::Pop3;
                let offer = d.offer(scenario, tls);
                let text = d.capability_reply("", &offer);
                let lines: Vec<String> = text
                    .lines()
                    .skip(1)
                    .take_while(|l| *l != ".")
                    .map(String::from)
                    .collect();
                let c = proto::pop3::Capabilities::from_lines(&lines);
                assert_eq!(c.stls, offer.starttls);
                assert_eq!(c.user, offer.password_command);
                assert_eq!(c.sasl, offer.mechs);
            }
        }
        let busy = Dialect::Smtp.busy();
        let mut p = proto::smtp::ReplyParser::new(5);
        assert_eq!(p.push(busy.trim_end()).unwrap().unwrap().code, 421);
        let r = proto::pop3::parse_reply(Dialect::Pop3.busy().trim_end()).unwrap();
        assert_eq!(r.code.as_deref(), Some("SYS/TEMP"));
    }
}
