//! The account being checked: its address, and credentials with where they came from.
//! Secrets live in [`Secret`], which never shows its content in `Debug`, `Display` or JSON.

use std::fmt;
use std::io::{BufRead, IsTerminal};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// A mail address, with the domain in its ASCII (punycode) form for DNS and in the form typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub local: String,
    /// ASCII (IDNA) form, used for DNS and connections.
    pub domain: String,
    /// As the user typed it (may be Unicode).
    pub domain_display: String,
}

impl Address {
    pub fn parse(s: &str) -> Result<Address> {
        let s = s.trim();
        let Some((local, domain)) = s.rsplit_once('@') else {
            bail!("{s:?} is not a mail address (expected user@domain)");
        };
        if local.is_empty() || domain.is_empty() {
            bail!("{s:?} is not a mail address (expected user@domain)");
        }
        if local.chars().any(|c| c.is_control() || c.is_whitespace()) {
            bail!("the local part of {s:?} contains spaces or control characters");
        }
        let ascii = idna::domain_to_ascii(domain.trim_end_matches('.'))
            .map_err(|_| anyhow::anyhow!("{domain:?} is not a valid domain name"))?;
        if ascii.is_empty() || !ascii.contains('.') && ascii != "localhost" {
            bail!("{domain:?} is not a fully qualified domain name");
        }
        Ok(Address {
            local: local.to_string(),
            domain: ascii,
            domain_display: domain.to_string(),
        })
    }

    /// The address with the ASCII domain, as sent to servers.
    pub fn ascii(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain_display)
    }
}

/// A password or token. Its content is reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Option<Secret> {
        (!s.is_empty()).then_some(Secret(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// What kind of secret we hold decides the SASL mechanisms we may use.
#[derive(Debug, Clone)]
pub enum Credential {
    Password(Secret),
    OAuth2Token(Secret),
}

impl Credential {
    pub fn secret(&self) -> &Secret {
        match self {
            Credential::Password(s) | Credential::OAuth2Token(s) => s,
        }
    }
    pub fn kind(&self) -> crate::proto::sasl::CredentialKind {
        match self {
            Credential::Password(_) => crate::proto::sasl::CredentialKind::Password,
            Credential::OAuth2Token(_) => crate::proto::sasl::CredentialKind::OAuth2Token,
        }
    }
}

/// Where the secret came from, for the report (never the secret itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    Environment,
    Stdin,
    Command,
    Prompt,
    None,
}

/// The user's choices about credentials, before any secret is read.
#[derive(Debug, Clone, Default)]
pub struct CredentialRequest {
    pub password_stdin: bool,
    pub password_command: Option<String>,
    pub oauth2_token_command: Option<String>,
    /// Do not prompt even on a TTY.
    pub no_prompt: bool,
}

pub const PASSWORD_ENV: &str = "MAILCHECK_PASSWORD";
pub const OAUTH2_ENV: &str = "MAILCHECK_OAUTH2_TOKEN";

/// Read the credential from the first configured source: token command or env, password
/// stdin, password command, `MAILCHECK_PASSWORD`, or a prompt on a TTY. Never from argv.
pub fn obtain(
    req: &CredentialRequest,
    prompt_for: &str,
) -> Result<(Option<Credential>, SecretSource)> {
    if let Some(cmd) = &req.oauth2_token_command {
        let tok = run_secret_command(cmd).context("--oauth2-token-command")?;
        return Ok((Some(Credential::OAuth2Token(tok)), SecretSource::Command));
    }
    if let Some(tok) = std::env::var(OAUTH2_ENV).ok().and_then(Secret::new) {
        return Ok((
            Some(Credential::OAuth2Token(tok)),
            SecretSource::Environment,
        ));
    }
    if req.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        let Some(pw) = Secret::new(pw) else {
            bail!("--password-stdin: standard input held no password");
        };
        return Ok((Some(Credential::Password(pw)), SecretSource::Stdin));
    }
    if let Some(cmd) = &req.password_command {
        let pw = run_secret_command(cmd).context("--password-command")?;
        return Ok((Some(Credential::Password(pw)), SecretSource::Command));
    }
    if let Some(pw) = std::env::var(PASSWORD_ENV).ok().and_then(Secret::new) {
        return Ok((Some(Credential::Password(pw)), SecretSource::Environment));
    }
    if !req.no_prompt && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let pw = rpassword::prompt_password(format!(
            "Password for {prompt_for} (empty to skip the login test): "
        ))
        .context("reading the password from the terminal")?;
        if let Some(pw) = Secret::new(pw) {
            return Ok((Some(Credential::Password(pw)), SecretSource::Prompt));
        }
    }
    Ok((None, SecretSource::None))
}

/// Run a command through `sh -c` and take the first line of its output as the secret.
/// Its stderr goes to ours (it may ask for a passphrase); its stdout is never echoed.
fn run_secret_command(cmd: &str) -> Result<Secret> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| "could not start the command")?;
    if !out.status.success() {
        bail!("the command failed ({})", out.status);
    }
    let text = String::from_utf8(out.stdout).context("the command's output is not UTF-8")?;
    let first = text.lines().next().unwrap_or("").to_string();
    Secret::new(first).context("the command printed no secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let a = Address::parse("alice@example.com").unwrap();
        assert_eq!(a.local, "alice");
        assert_eq!(a.domain, "example.com");
        let a = Address::parse("rené@exämple.fr").unwrap();
        assert_eq!(a.domain, "xn--exmple-cua.fr");
        assert_eq!(a.to_string(), "rené@exämple.fr");
        assert!(Address::parse("nobody").is_err());
        assert!(Address::parse("@example.com").is_err());
        assert!(Address::parse("a b@example.com").is_err());
        assert!(Address::parse("a@nodot").is_err());
    }

    #[test]
    fn secrets_do_not_show() {
        let s = Secret::new("hunter2".into()).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        let c = Credential::Password(s);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn secret_command_takes_first_line() {
        let s = run_secret_command("printf 'first\\nsecond\\n'").unwrap();
        assert_eq!(s.expose(), "first");
        assert!(run_secret_command("exit 3").is_err());
        assert!(run_secret_command("true").is_err());
    }
}
