//! Login refusals, read from the server's own words and codes: IMAP response codes
//! (RFC 5530: AUTHENTICATIONFAILED, UNAVAILABLE, LIMIT...), POP3 extended codes (RFC 3206:
//! AUTH, SYS/TEMP, IN-USE), SMTP reply and enhanced status codes (RFC 4954, RFC 3463), and the
//! wording of the big providers (Microsoft 365 / Outlook.com, Google), which say more in their
//! text than in their codes.

use super::Reason;

/// Classify a login refusal. `code` is an IMAP response code, a POP3 extended code or an SMTP
/// reply code ("535"); `enhanced` an SMTP enhanced status code ("5.7.139"); `text` the rest of
/// the server's words.
pub fn classify_auth_refusal(code: Option<&str>, enhanced: Option<&str>, text: &str) -> Reason {
    let t = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    let code = code.map(|c| c.to_ascii_uppercase());
    let code = code.as_deref();

    // Access by this protocol is switched off for the account (not a wrong password):
    // Microsoft "SmtpClientAuthentication is disabled for the Tenant/Mailbox",
    // Google "Your account is not enabled for IMAP use", "POP is disabled".
    if has(&[
        "smtpclientauthentication is disabled",
        "smtp auth is disabled",
        "not enabled for imap",
        "not enabled for pop",
        "imap access is disabled",
        "pop access is disabled",
        "imap is disabled",
        "pop is disabled",
        // Microsoft 365's IMAP/POP3 answer once the password is right but the protocol is
        // switched off for the mailbox (Set-CASMailbox -ImapEnabled $false).
        "authenticated but not connected",
    ]) {
        return Reason::AuthProtocolDisabled;
    }
    // The provider wants an app password: Google 534 5.7.9 "Application-specific password
    // required" (also IMAP [ALERT] and POP3 -ERR), Yahoo/iCloud "app password".
    if has(&[
        "application-specific password",
        "application specific password",
        "app password",
        "app-specific password",
        "invalidsecondfactor",
    ]) {
        return Reason::AuthAppPasswordRequired;
    }
    // Only OAuth2 is accepted: Microsoft 535 5.7.139 "basic authentication is disabled",
    // "...security defaults policy", conditional access ("did not meet the criteria");
    // IMAP/POP3 "AUTHENTICATE failed ... basic authentication is disabled".
    if has(&[
        "basic authentication is disabled",
        "basic auth is disabled",
        "basicauthblocked",
        "security defaults",
        "did not meet the criteria to be authenticated",
        "modern authentication",
        "oauth",
    ]) {
        return Reason::AuthOauth2Required;
    }
    // The sign-in was blocked until the user logs in on the web, or the account is locked:
    // Google 534 5.7.14 "Please log in via your web browser", POP3 "Web login required",
    // "account is locked", "too many login failures".
    if enhanced == Some("5.7.14")
        || has(&[
            "log in via your web browser",
            "web login required",
            "locked",
            "too many",
            "temporarily blocked",
            "account disabled",
            "account is disabled",
            "suspended",
        ])
        || code == Some("LIMIT")
    {
        return Reason::AuthAccountLocked;
    }
    // Microsoft's 5.7.139 without one of the wordings above: "the user credentials were
    // incorrect" is a plain rejection, anything else is the tenant refusing basic auth.
    if enhanced == Some("5.7.139") && !has(&["credentials were incorrect"]) {
        return Reason::AuthOauth2Required;
    }
    // RFC 4954: 534 5.7.9 "authentication mechanism is too weak" (without Google's wording).
    if enhanced == Some("5.7.9") {
        return Reason::AuthMechanismNotOffered;
    }
    // RFC 4954: 538 5.7.11 "encryption required for requested authentication mechanism";
    // 530 5.7.0 "Must issue a STARTTLS command first"; IMAP [PRIVACYREQUIRED].
    if enhanced == Some("5.7.11")
        || code == Some("PRIVACYREQUIRED")
        || has(&[
            "must issue a starttls",
            "plaintext authentication disallowed",
        ])
    {
        return Reason::AuthLoginDisabled;
    }
    if matches!(code, Some("UNAVAILABLE") | Some("SYS/TEMP") | Some("IN-USE"))
        || enhanced.is_some_and(|e| e.starts_with("4."))
        // SMTP passes its reply code: 4xx is transient by definition (RFC 5321 §4.2.1).
        || code.is_some_and(|c| c.len() == 3 && c.starts_with('4'))
        || has(&["temporary authentication failure", "try again later"])
    {
        return Reason::AuthTemporaryFailure;
    }
    Reason::AuthRejected
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refusals as real servers word them (Microsoft 365 / Outlook.com, Google, Dovecot,
    /// Postfix, Yahoo), each with the reason a helpdesk needs.
    #[test]
    fn server_wordings_are_classified() {
        let cases: &[(Option<&str>, Option<&str>, &str, Reason)] = &[
            // Microsoft 365, SMTP AUTH with basic auth off.
            (Some("535"), Some("5.7.139"), "Authentication unsuccessful, basic authentication is disabled. [DM6PR...]", Reason::AuthOauth2Required),
            (Some("535"), Some("5.7.139"), "Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.", Reason::AuthOauth2Required),
            (Some("535"), Some("5.7.139"), "Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.", Reason::AuthOauth2Required),
            (Some("535"), Some("5.7.139"), "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.", Reason::AuthProtocolDisabled),
            (Some("535"), Some("5.7.139"), "Authentication unsuccessful, the user credentials were incorrect.", Reason::AuthRejected),
            (Some("535"), Some("5.7.3"), "Authentication unsuccessful [AM0PR...]", Reason::AuthRejected),
            // Microsoft IMAP / POP3.
            (Some("AUTHENTICATIONFAILED"), None, "AUTHENTICATE failed: basic authentication is disabled", Reason::AuthOauth2Required),
            (None, None, "AUTHENTICATE failed.", Reason::AuthRejected),
            (None, None, "Logon failure: unknown user name or bad password.", Reason::AuthRejected),
            (None, None, "User is authenticated but not connected.", Reason::AuthProtocolDisabled),
            // Google.
            (Some("534"), Some("5.7.9"), "Application-specific password required. Learn more at https://support.google.com/mail/?p=InvalidSecondFactor", Reason::AuthAppPasswordRequired),
            (Some("ALERT"), None, "Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)", Reason::AuthAppPasswordRequired),
            (Some("535"), Some("5.7.8"), "Username and Password not accepted. For more information, go to https://support.google.com/mail/?p=BadCredentials", Reason::AuthRejected),
            (Some("AUTHENTICATIONFAILED"), None, "Invalid credentials (Failure)", Reason::AuthRejected),
            (Some("534"), Some("5.7.14"), "<https://accounts.google.com/signin/continue?...> Please log in via your web browser and then try again.", Reason::AuthAccountLocked),
            (Some("AUTH"), None, "Web login required: https://support.google.com/mail/answer/78754", Reason::AuthAccountLocked),
            (Some("ALERT"), None, "Your account is not enabled for IMAP use. Please visit your Gmail settings page and enable your account for IMAP access. (Failure)", Reason::AuthProtocolDisabled),
            // Dovecot, Postfix, RFC codes.
            (Some("AUTHENTICATIONFAILED"), None, "Authentication failed.", Reason::AuthRejected),
            (Some("AUTH"), None, "Authentication failed.", Reason::AuthRejected),
            (Some("535"), Some("5.7.8"), "Error: authentication failed: authentication failure", Reason::AuthRejected),
            (Some("UNAVAILABLE"), None, "Temporary authentication failure. [host:2026-01-01 10:00:00]", Reason::AuthTemporaryFailure),
            (Some("SYS/TEMP"), None, "Temporary authentication failure", Reason::AuthTemporaryFailure),
            (Some("454"), Some("4.7.0"), "Temporary authentication failure", Reason::AuthTemporaryFailure),
            (Some("LIMIT"), None, "Too many invalid authentication attempts", Reason::AuthAccountLocked),
            (Some("535"), None, "Account is locked", Reason::AuthAccountLocked),
            (Some("538"), Some("5.7.11"), "Encryption required for requested authentication mechanism", Reason::AuthLoginDisabled),
            (Some("PRIVACYREQUIRED"), None, "Connection is not secure", Reason::AuthLoginDisabled),
            (Some("534"), Some("5.7.9"), "Authentication mechanism is too weak", Reason::AuthMechanismNotOffered),
            // Yahoo.
            (Some("AUTHENTICATIONFAILED"), None, "LOGIN Invalid credentials", Reason::AuthRejected),
        ];
        for (code, enhanced, text, expected) in cases {
            assert_eq!(
                classify_auth_refusal(*code, *enhanced, text),
                *expected,
                "{code:?} {enhanced:?} {text:?}"
            );
        }
    }
}
