//! SASL mechanism encoders and helpers shared by IMAP (RFC 9051 §6.2.2), POP3 (RFC 5034) and
//! SMTP (RFC 4954).
//!
//! The encoders return the raw client response; the caller base64-encodes it with [`b64`]
//! (each protocol frames it differently). Nothing here does I/O, keeps secrets around, or
//! panics on any input.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// PLAIN client response (RFC 4616 §2): `[authzid] NUL authcid NUL passwd`.
/// Pass `""` as `authzid` to act as `user` itself.
pub fn plain(authzid: &str, user: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(authzid.len() + user.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(user.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// XOAUTH2 client response (Google/Microsoft, no RFC):
/// `"user=" user "\x01auth=Bearer " token "\x01\x01"`.
pub fn xoauth2(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// OAUTHBEARER client response (RFC 7628 §3.1):
/// `gs2-header kvsep "host=" host kvsep "port=" port kvsep "auth=Bearer " token kvsep kvsep`
/// with `gs2-header = "n,a=" saslname ","` and `kvsep = %x01`. In the `saslname` (RFC 5801 §4)
/// `=` is sent as `=3D` and `,` as `=2C`.
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &str) -> Vec<u8> {
    let saslname = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={saslname},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
        .into_bytes()
}

/// Standard base64 with padding (RFC 4648 §4), as all three protocols use.
pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decoding engine that accepts missing padding (some servers omit it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64, ignoring surrounding whitespace and tolerating missing padding.
/// An empty string (an empty challenge) and a lone `"="` (RFC 4954 §4 zero-length response)
/// decode to an empty vector. `None` if the text is not base64.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.is_empty() || s == "=" {
        return Some(Vec::new());
    }
    LENIENT.decode(s).ok()
}

/// What an AUTH LOGIN server prompt asks for (the LOGIN mechanism is not standardized; the
/// de-facto prompts are in draft-murchison-sasl-login-00 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPrompt {
    Username,
    Password,
    Unknown,
}

/// Classifies a decoded AUTH LOGIN prompt: `"Username:"`, `"User Name\0"`, `"Password:"`, ...
/// case-insensitively, ignoring trailing `:`, NULs and whitespace.
pub fn login_prompt(decoded: &[u8]) -> LoginPrompt {
    let text = String::from_utf8_lossy(decoded).to_ascii_lowercase();
    let text = text.trim_matches(|c: char| c == ':' || c == '\0' || c.is_whitespace());
    match text {
        "username" | "user name" | "user" | "login" => LoginPrompt::Username,
        "password" | "pass" => LoginPrompt::Password,
        _ => LoginPrompt::Unknown,
    }
}

/// The error challenge of XOAUTH2 / OAUTHBEARER (RFC 7628 §3.2.2): the server sends base64
/// JSON such as `{"status":"401","schemes":"bearer","scope":"..."}`. Returns the decoded text
/// if it is base64 of UTF-8 (and not empty).
pub fn oauth_error_challenge(b64_text: &str) -> Option<String> {
    let bytes = unb64(b64_text)?;
    if bytes.is_empty() {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The kind of secret the user supplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Password,
    OAuth2Token,
}

/// Picks the mechanism to use from the offered ones (matched case-insensitively):
/// for a password PLAIN (RFC 4616) then LOGIN; for a token OAUTHBEARER (RFC 7628) then XOAUTH2.
/// `None` if no offered mechanism fits the credential.
pub fn choose_mechanism(offered: &[String], kind: CredentialKind) -> Option<&'static str> {
    let preference: &[&'static str] = match kind {
        CredentialKind::Password => &["PLAIN", "LOGIN"],
        CredentialKind::OAuth2Token => &["OAUTHBEARER", "XOAUTH2"],
    };
    preference
        .iter()
        .copied()
        .find(|want| offered.iter().any(|o| o.trim().eq_ignore_ascii_case(want)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_encoding() {
        assert_eq!(
            plain("", "tim", "tanstaaftanstaaf"),
            b"\0tim\0tanstaaftanstaaf"
        );
        assert_eq!(
            plain("Ursel", "Kurt", "xipj3plmq"),
            b"Ursel\0Kurt\0xipj3plmq"
        );
        // RFC 4616 / RFC 4954 example
        assert_eq!(b64(&plain("", "test", "1234")), "AHRlc3QAMTIzNA==");
    }

    #[test]
    fn xoauth2_encoding() {
        // Google's documented example
        let raw = xoauth2(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        );
        assert_eq!(
            raw,
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(
            b64(&raw),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn oauthbearer_encoding() {
        // RFC 7628 §4.1 example
        assert_eq!(
            oauthbearer("user@example.com", "server.example.com", 143, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(oauthbearer("a=b,c", "h", 1, "t").starts_with(b"n,a=a=3Db=2Cc,\x01"));
    }

    #[test]
    fn base64_helpers() {
        assert_eq!(unb64("VXNlcm5hbWU6").unwrap(), b"Username:");
        assert_eq!(unb64(" UGFzc3dvcmQ6 ").unwrap(), b"Password:");
        assert_eq!(unb64("AHRlc3QAMTIzNA").unwrap(), b"\0test\x001234");
        assert_eq!(unb64("").unwrap(), b"");
        assert_eq!(unb64("=").unwrap(), b"");
        assert_eq!(unb64("not base64!"), None);
        assert_eq!(unb64("+OK"), None);
    }

    #[test]
    fn login_prompts() {
        assert_eq!(login_prompt(b"Username:"), LoginPrompt::Username);
        assert_eq!(login_prompt(b"User Name\0"), LoginPrompt::Username);
        assert_eq!(login_prompt(b"USERNAME"), LoginPrompt::Username);
        assert_eq!(login_prompt(b"Password:"), LoginPrompt::Password);
        assert_eq!(login_prompt(b"password\0"), LoginPrompt::Password);
        assert_eq!(login_prompt(b"Hello"), LoginPrompt::Unknown);
        assert_eq!(login_prompt(b""), LoginPrompt::Unknown);
        assert_eq!(login_prompt(b"\xff\xfe"), LoginPrompt::Unknown);
        assert_eq!(
            login_prompt(&unb64("VXNlcm5hbWU6").unwrap()),
            LoginPrompt::Username
        );
    }

    #[test]
    fn oauth_errors() {
        let json = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(
            oauth_error_challenge(&b64(json.as_bytes())).as_deref(),
            Some(json)
        );
        // Gmail's actual challenge
        assert_eq!(
            oauth_error_challenge("eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==").as_deref(),
            Some(r#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#)
        );
        assert_eq!(oauth_error_challenge(&b64(b"\xff\xfe")), None);
        assert_eq!(oauth_error_challenge("***"), None);
        assert_eq!(oauth_error_challenge(""), None);
    }

    #[test]
    fn mechanism_choice() {
        let offered = strings(&["LOGIN", "plain", "XOAUTH2"]);
        assert_eq!(
            choose_mechanism(&offered, CredentialKind::Password),
            Some("PLAIN")
        );
        assert_eq!(
            choose_mechanism(&offered, CredentialKind::OAuth2Token),
            Some("XOAUTH2")
        );
        let ms = strings(&["LOGIN", "XOAUTH2", "OAUTHBEARER"]);
        assert_eq!(
            choose_mechanism(&ms, CredentialKind::Password),
            Some("LOGIN")
        );
        assert_eq!(
            choose_mechanism(&ms, CredentialKind::OAuth2Token),
            Some("OAUTHBEARER")
        );
        let none = strings(&["CRAM-MD5", "GSSAPI"]);
        assert_eq!(choose_mechanism(&none, CredentialKind::Password), None);
        assert_eq!(choose_mechanism(&[], CredentialKind::OAuth2Token), None);
    }

    proptest! {
        #[test]
        fn b64_round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(unb64(&b64(&data)), Some(data));
        }

        #[test]
        fn b64_round_trip_without_padding(data in proptest::collection::vec(any::<u8>(), 1..100)) {
            let encoded = b64(&data);
            prop_assert_eq!(unb64(encoded.trim_end_matches('=')), Some(data));
        }

        #[test]
        fn helpers_never_panic(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = unb64(&s);
            let _ = oauth_error_challenge(&s);
            let _ = login_prompt(&bytes);
            let _ = login_prompt(s.as_bytes());
            let list: Vec<String> = s.split(' ').map(str::to_string).collect();
            let _ = choose_mechanism(&list, CredentialKind::Password);
            let _ = choose_mechanism(&list, CredentialKind::OAuth2Token);
        }

        #[test]
        fn plain_splits_back(authz in "[^\0]{0,20}", user in "[^\0]{0,20}", pass in "[^\0]{0,20}") {
            let raw = plain(&authz, &user, &pass);
            let parts: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            prop_assert_eq!(parts, vec![authz.as_bytes(), user.as_bytes(), pass.as_bytes()]);
        }

        #[test]
        fn chosen_mechanism_is_offered_and_fits(
            offered in proptest::collection::vec(prop_oneof![
                Just("PLAIN"), Just("login"), Just("XOAUTH2"), Just("oauthbearer"),
                Just("CRAM-MD5"), Just("SCRAM-SHA-256"), Just("GSSAPI"),
            ], 0..6),
            token in any::<bool>(),
        ) {
            let offered: Vec<String> = offered.iter().map(|s| s.to_string()).collect();
            let kind = if token { CredentialKind::OAuth2Token } else { CredentialKind::Password };
            match choose_mechanism(&offered, kind) {
                Some(m) => {
                    prop_assert!(offered.iter().any(|o| o.eq_ignore_ascii_case(m)));
                    let fits: &[&str] = if token { &["OAUTHBEARER", "XOAUTH2"] } else { &["PLAIN", "LOGIN"] };
                    prop_assert!(fits.contains(&m));
                }
                None => {
                    let fits: &[&str] = if token { &["OAUTHBEARER", "XOAUTH2"] } else { &["PLAIN", "LOGIN"] };
                    prop_assert!(!offered.iter().any(|o| fits.iter().any(|f| o.eq_ignore_ascii_case(f))));
                }
            }
        }
    }
}
