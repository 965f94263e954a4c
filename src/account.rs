//! The account being checked: its address, and credentials with where they came from.
//! Secrets live in [`Secret`], which never shows its content in `Debug`, `Display` or JSON.

use std::fmt;
use std::io::{BufRead, IsTerminal, Read};
use std::process::Command;
use std::time::{Duration, Instant};

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
            bail!("{} is not a mail address (expected user@domain)", shown(s));
        };
        if local.is_empty() || domain.is_empty() {
            bail!("{} is not a mail address (expected user@domain)", shown(s));
        }
        if let Some(problem) = local_part_problem(local) {
            bail!("{}: {problem}", shown(s));
        }
        // One line for every front end (a checks file shows only the top of an error).
        check_host("the domain", domain).map_err(|e| anyhow::anyhow!("{}: {e}", shown(s)))?;
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

/// The longest host name as text (RFC 1035 §2.3.4: 255 octets on the wire).
pub const HOST_NAME_MAX: usize = 253;
/// The longest label of a host name (RFC 1035 §2.3.4).
pub const LABEL_MAX: usize = 63;
/// The longest local part of an address (RFC 5321 §4.5.3.1.1).
pub const LOCAL_PART_MAX: usize = 64;

/// Input shown in a message: a 10 KB name is named by its start and its length.
fn shown(s: &str) -> String {
    const KEEP: usize = 40;
    if s.chars().count() <= KEEP {
        format!("{s:?}")
    } else {
        let start: String = s.chars().take(KEEP).collect();
        format!("{start:?}… ({} octets)", s.len())
    }
}

/// Check a server's name: an IP literal (`::1` or `[::1]` too) or a host name of letters,
/// digits, `-` and `_` in labels of 1 to 63 octets, at most 253 in all (in its ASCII form,
/// one trailing dot allowed). The error says what is wrong, for `what` (`--server`, …).
/// The one host-name syntax check, for addresses' domains and every server setting.
pub fn check_host(what: &str, host: &str) -> Result<()> {
    let problem = |p: String| anyhow::anyhow!("{what} {}: {p}", shown(host));
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err(problem("is empty".into()));
    }
    if name.contains("://") {
        return Err(problem(
            "is a URL: give the host name alone (mail.example.com)".into(),
        ));
    }
    if name
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return Ok(());
    }
    if let Some((_, port)) = name.rsplit_once(':') {
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(problem(
                "names a port: give the host alone (ports are mapped with --connect-to)".into(),
            ));
        }
    }
    let ascii = if name.is_ascii() {
        name.to_string()
    } else {
        idna::domain_to_ascii(name)
            .map_err(|_| problem("is not a valid international domain name".into()))?
    };
    for (i, label) in ascii.split('.').enumerate() {
        if label.is_empty() {
            return Err(problem(
                "has an empty label (a leading dot or two dots in a row)".into(),
            ));
        }
        if label.len() > LABEL_MAX {
            return Err(problem(format!(
                "label {} is {} octets long (at most {LABEL_MAX})",
                i + 1,
                label.len()
            )));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(problem(format!("{c:?} is not allowed in a host name")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(problem(format!(
                "label {label:?} begins or ends with a hyphen"
            )));
        }
    }
    if ascii.len() > HOST_NAME_MAX {
        return Err(problem(format!(
            "is {} octets long (at most {HOST_NAME_MAX})",
            ascii.len()
        )));
    }
    Ok(())
}

/// RFC 5322 `atext`, the characters of an unquoted local part besides letters and digits.
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// Check a local part: RFC 5321's dot-string (atoms of letters, digits and `atext`, or any
/// non-ASCII character as RFC 6531 allows, joined by single dots) or a quoted string; at most
/// 64 octets. Returns the problem, if any.
fn local_part_problem(local: &str) -> Option<String> {
    if local.len() > LOCAL_PART_MAX {
        return Some(format!(
            "the local part is {} octets long (at most {LOCAL_PART_MAX})",
            local.len()
        ));
    }
    if let Some(inner) = local.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Some("the quoted local part has no closing quote".into());
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(' '..='~') => {}
                    _ => {
                        return Some(
                            "a backslash in the quoted local part escapes nothing printable".into(),
                        )
                    }
                },
                '"' => {
                    return Some(
                        "the quoted local part has a quote inside: escape it as \\\"".into(),
                    )
                }
                ' '..='~' => {}
                c if !c.is_ascii() && !c.is_control() => {}
                c => return Some(format!("the quoted local part contains {c:?}")),
            }
        }
        return None;
    }
    if local.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Some("the local part contains spaces or control characters".into());
    }
    if local.split('.').any(str::is_empty) {
        return Some(
            "the local part has a dot at its start or end, or two in a row (quote it: \"a..b\"@…)"
                .into(),
        );
    }
    local
        .chars()
        .find(|c| {
            !(c.is_ascii_alphanumeric()
                || *c == '.'
                || ATEXT_SPECIALS.contains(*c)
                || !c.is_ascii())
        })
        .map(|c| format!("the local part contains {c:?}, which needs quoting (\"…\"@domain)"))
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
    /// SHA-256 of the secret: tells two secrets apart (the login gate, the probe key) without
    /// keeping a second copy of either.
    pub fn digest(&self) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        let mut out = [0; 32];
        out.copy_from_slice(d.as_ref());
        out
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
    /// Generated by the built-in lab and handed over in memory (`mailcheck demo`).
    Lab,
    /// An OAuth2 sign-in of this run, device flow (`--oauth2`).
    #[serde(rename = "oauth2-device")]
    OAuth2Device,
    /// An OAuth2 sign-in of this run in the browser (`--oauth2 --oauth2-flow browser`).
    #[serde(rename = "oauth2-browser")]
    OAuth2Browser,
    /// A checks file's refresh token, exchanged for an access token (`grant = "refresh_token"`).
    #[serde(rename = "oauth2-refresh")]
    OAuth2Refresh,
    /// A checks file's confidential client (`grant = "client_credentials"`).
    #[serde(rename = "oauth2-client-credentials")]
    OAuth2ClientCredentials,
    None,
}

/// The user's choices about credentials, before any secret is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialRequest {
    pub password_stdin: bool,
    pub password_command: Option<String>,
    pub oauth2_token_command: Option<String>,
    /// Do not prompt even on a TTY.
    pub no_prompt: bool,
}

pub const PASSWORD_ENV: &str = "MAILCHECK_PASSWORD";
pub const OAUTH2_ENV: &str = "MAILCHECK_OAUTH2_TOKEN";

/// Where [`obtain`] reads the secret from, chosen before anything is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    TokenCommand,
    PasswordStdin,
    PasswordCommand,
    TokenEnv,
    PasswordEnv,
    Prompt,
}

/// A flag the user typed for this run outranks a variable that may have been exported long
/// ago for something else; two flags naming different secrets are a mistake, not a choice.
fn choose(req: &CredentialRequest, token_env: bool, password_env: bool) -> Result<Origin> {
    let explicit: Vec<(&str, Origin)> = [
        (
            "--oauth2-token-command",
            req.oauth2_token_command.is_some(),
            Origin::TokenCommand,
        ),
        (
            "--password-stdin",
            req.password_stdin,
            Origin::PasswordStdin,
        ),
        (
            "--password-command",
            req.password_command.is_some(),
            Origin::PasswordCommand,
        ),
    ]
    .into_iter()
    .filter(|(_, given, _)| *given)
    .map(|(flag, _, origin)| (flag, origin))
    .collect();
    match explicit.as_slice() {
        [(_, origin)] => Ok(*origin),
        [] if token_env => Ok(Origin::TokenEnv),
        [] if password_env => Ok(Origin::PasswordEnv),
        [] => Ok(Origin::Prompt),
        several => bail!(
            "{} each name a secret: give only one",
            several
                .iter()
                .map(|(flag, _)| *flag)
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// Read the credential: from the one explicit flag given (token command, password stdin,
/// password command), else `MAILCHECK_OAUTH2_TOKEN`, else `MAILCHECK_PASSWORD`, else a prompt
/// on a TTY. Never from argv.
pub fn obtain(
    req: &CredentialRequest,
    prompt_for: &str,
) -> Result<(Option<Credential>, SecretSource)> {
    // Only the variable chosen is read, so a stale one beside a flag is no error.
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let command = |cmd: &Option<String>| {
        run_secret_command(
            cmd.as_deref().unwrap_or_default(),
            CommandInput::Inherit,
            &[],
            &[],
        )
    };
    match choose(req, set(OAUTH2_ENV), set(PASSWORD_ENV))? {
        Origin::TokenCommand => {
            let tok = command(&req.oauth2_token_command)
                .context("--oauth2-token-command")?
                .context("--oauth2-token-command: the command printed no token")?;
            Ok((Some(Credential::OAuth2Token(tok)), SecretSource::Command))
        }
        Origin::PasswordStdin => {
            let line = read_line_bounded(&mut std::io::stdin().lock())
                .context("--password-stdin: reading standard input")?;
            let pw = match line {
                Line::Complete(bytes) | Line::End(bytes) => secret_from_bytes(bytes),
                Line::TooLong => Err(too_long()),
            }
            .context("--password-stdin")?;
            let Some(pw) = pw else {
                bail!("--password-stdin: standard input held no password");
            };
            Ok((Some(Credential::Password(pw)), SecretSource::Stdin))
        }
        Origin::PasswordCommand => {
            let pw = command(&req.password_command)
                .context("--password-command")?
                .context("--password-command: the command printed no password")?;
            Ok((Some(Credential::Password(pw)), SecretSource::Command))
        }
        Origin::TokenEnv => Ok((
            env_secret(OAUTH2_ENV)?.map(Credential::OAuth2Token),
            SecretSource::Environment,
        )),
        Origin::PasswordEnv => Ok((
            env_secret(PASSWORD_ENV)?.map(Credential::Password),
            SecretSource::Environment,
        )),
        Origin::Prompt => {
            if !req.no_prompt && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
                let pw = rpassword::prompt_password(format!(
                    "Password for {prompt_for} (empty to skip the login test): "
                ))
                .context("reading the password from the terminal")?;
                if let Some(pw) = secret_from_bytes(pw.into_bytes()).context("the password")? {
                    return Ok((Some(Credential::Password(pw)), SecretSource::Prompt));
                }
            }
            Ok((None, SecretSource::None))
        }
    }
}

/// The longest secret read from standard input or a command, line end excluded: 4 KiB holds
/// any password and an OAuth2 access token (even a JWT); a source that never ends (`yes`,
/// `/dev/zero`) costs no more than this before it is refused.
pub const SECRET_MAX_BYTES: usize = 4096;

/// How long a password or token command may take to print its first line (or to exit without
/// one). Then it is killed with everything it started.
pub const SECRET_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// One line read from a secret source, at most [`SECRET_MAX_BYTES`] long.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line ending in `\n` (the `\r\n` or `\n` removed).
    Complete(Vec<u8>),
    /// The end of the input came before a line end (possibly with nothing read).
    End(Vec<u8>),
    /// More than [`SECRET_MAX_BYTES`] without a line end; nothing more was read.
    TooLong,
}

/// Read one line and stop: never more than `SECRET_MAX_BYTES + 1` bytes are consumed.
fn read_line_bounded(r: &mut impl BufRead) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    r.take(SECRET_MAX_BYTES as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Line::Complete(buf))
    } else if buf.len() > SECRET_MAX_BYTES {
        Ok(Line::TooLong)
    } else {
        Ok(Line::End(buf))
    }
}

/// A secret's bytes, whatever their source: UTF-8 (servers get it as UTF-8) and no NUL (SASL
/// PLAIN separates authzid, user and password with NUL: one inside would inject a field).
/// `None` when empty.
fn secret_from_bytes(bytes: Vec<u8>) -> Result<Option<Secret>> {
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("it is not valid UTF-8"))?;
    if text.contains('\0') {
        bail!("it contains a NUL byte (SASL PLAIN's field separator)");
    }
    Ok(Secret::new(text))
}

fn too_long() -> anyhow::Error {
    anyhow::anyhow!(
        "the line is longer than {} KiB; nothing more was read",
        SECRET_MAX_BYTES / 1024
    )
}

/// A secret from an environment variable: `None` when unset or empty; not UTF-8 or holding
/// a NUL is an error naming the variable, not a silent "unset".
pub fn env_secret(name: &str) -> Result<Option<Secret>> {
    use std::os::unix::ffi::OsStringExt;
    match std::env::var_os(name) {
        None => Ok(None),
        Some(v) => secret_from_bytes(v.into_vec()).with_context(|| format!("${name}")),
    }
}

/// What a secret command reads on its standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandInput {
    /// Ours (`--password-command` run by hand may ask something).
    Inherit,
    /// Nothing (commands run per account, unattended).
    Null,
}

/// The process group of a running secret command (the shell leads it): killed and reaped
/// when dropped, whether the line came, the time ran out or the caller gave up.
struct ProcessGroup {
    child: std::process::Child,
    /// The terminal on our stdin was handed to the group and is taken back when it is gone.
    holds_terminal: bool,
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // The group's id is the shell's. Even once the shell is reaped, Linux gives no new
        // process that id while the group has members, so this reaches only what it left.
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: killpg only sends a signal; no memory is involved.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        if self.holds_terminal {
            terminal::take_back();
        }
    }
}

/// A command run by hand may ask on the terminal (`read`, a tool opening /dev/tty), but in
/// its own process group it would be stopped by SIGTTIN; so, as a shell does for a job, its
/// group gets the terminal's foreground while it runs (Ctrl-C then stops the command, which
/// fails it) and mailcheck's takes it back after.
mod terminal {
    /// Whether our stdin is a terminal whose foreground is our process group.
    pub fn ours() -> bool {
        // SAFETY: plain queries on fd 0; no memory is involved.
        unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
    }

    /// Give the terminal to `pgid`. Called by the command (before exec) and by us after the
    /// spawn, like a shell, so whichever runs first the command never reads in the background.
    /// Async-signal-safe (no allocation), as a pre_exec hook must be.
    pub fn give(pgid: libc::pid_t) {
        // SAFETY: sigprocmask and tcsetpgrp touch only the signal mask and fd 0. SIGTTOU is
        // blocked so that a caller in a background group may still set the foreground.
        unsafe {
            let mut ttou: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut ttou);
            libc::sigaddset(&mut ttou, libc::SIGTTOU);
            libc::pthread_sigmask(libc::SIG_BLOCK, &ttou, &mut old);
            libc::tcsetpgrp(0, pgid);
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }

    pub fn take_back() {
        // SAFETY: getpgrp has no preconditions.
        give(unsafe { libc::getpgrp() });
    }
}

/// Run `sh -c CMD` in its own process group and take the first line of its output as the
/// secret (`None` when it exits successfully having printed nothing). The line is taken as
/// soon as it arrives; then, or after [`SECRET_COMMAND_TIMEOUT`], or on any error, the whole
/// group is killed. The command's environment is ours minus every secret mailcheck knows of:
/// `MAILCHECK_PASSWORD`, `MAILCHECK_OAUTH2_TOKEN` and `hidden_env` (other accounts' variables),
/// plus `set_env`. Its stderr is ours; its stdout is never shown. Blocking: async callers
/// run it in `spawn_blocking`.
pub fn run_secret_command(
    cmd: &str,
    input: CommandInput,
    set_env: &[(&str, &str)],
    hidden_env: &[String],
) -> Result<Option<Secret>> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let deadline = Instant::now() + SECRET_COMMAND_TIMEOUT;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .process_group(0)
        .stdin(match input {
            CommandInput::Inherit => Stdio::inherit(),
            CommandInput::Null => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env_remove(PASSWORD_ENV)
        .env_remove(OAUTH2_ENV);
    for name in hidden_env {
        command.env_remove(name);
    }
    command.envs(set_env.iter().copied());
    let holds_terminal = input == CommandInput::Inherit && terminal::ours();
    if holds_terminal {
        // SAFETY: the hook only calls async-signal-safe functions (getpid, sigprocmask,
        // tcsetpgrp), after process_group(0) made the child its group's leader.
        unsafe {
            command.pre_exec(|| {
                terminal::give(libc::getpid());
                Ok(())
            });
        }
    }
    let mut group = ProcessGroup {
        child: command.spawn().context("could not start the command")?,
        holds_terminal,
    };
    if let (true, Ok(pgid)) = (holds_terminal, libc::pid_t::try_from(group.child.id())) {
        terminal::give(pgid);
    }
    let stdout = group
        .child
        .stdout
        .take()
        .context("the command has no output pipe")?;
    // A thread reads, so the wait for the line has a deadline; it ends when the group is killed
    // (the pipe closes), and holds at most one bounded line meanwhile.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("secret-command".into())
        .spawn(move || {
            let mut pipe = std::io::BufReader::new(stdout);
            let line = read_line_bounded(&mut pipe);
            // The read end goes back with the line and stays open until the exit status has
            // been read: closed here, it would kill a command still writing (`yes`) with
            // SIGPIPE, a failure of ours that would read as the command's.
            let _ = tx.send((line, pipe));
        })
        .context("could not start a thread")?;
    let (line, _pipe) = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .map_err(|_| {
            anyhow::anyhow!(
                "the command printed no line within {} s; it was stopped",
                SECRET_COMMAND_TIMEOUT.as_secs()
            )
        })?;
    let line = line.context("reading the command's output")?;
    let failed =
        |status: std::process::ExitStatus| anyhow::anyhow!("the command failed ({status})");
    let bytes = match line {
        Line::TooLong => return Err(too_long()),
        // A command that already said it failed is believed; one still running is not waited for.
        Line::Complete(bytes) => match group.child.try_wait()? {
            Some(status) if !status.success() => return Err(failed(status)),
            _ => bytes,
        },
        // No line end: only the exit status says whether the output is a secret.
        Line::End(bytes) => loop {
            if let Some(status) = group.child.try_wait()? {
                if !status.success() {
                    return Err(failed(status));
                }
                break bytes;
            }
            if Instant::now() >= deadline {
                bail!(
                    "the command did not exit within {} s; it was stopped",
                    SECRET_COMMAND_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        },
    };
    drop(group);
    secret_from_bytes(bytes).context("the command's output")
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
    fn host_names_are_checked() {
        for ok in [
            "mail.example.com",
            "mail.example.com.",
            "localhost",
            "_srv.example.com",
            "xn--exmple-cua.fr",
            "exämple.fr",
            "127.0.0.1",
            "::1",
            "[::1]",
        ] {
            assert!(check_host("--server", ok).is_ok(), "{ok}");
        }
        let label = "a".repeat(LABEL_MAX);
        assert!(check_host("h", &format!("{label}.test")).is_ok());
        let problem = |h: &str| format!("{:#}", check_host("--server", h).unwrap_err());
        assert!(problem("lab..test").contains("empty label"));
        assert!(problem(".lab.test").contains("empty label"));
        assert!(problem("").contains("empty"));
        assert!(problem(&format!("a{label}.test")).contains("label 1 is 64 octets"));
        let huge = problem(&"b".repeat(10_000));
        assert!(
            huge.contains("10000 octets long (at most 63)") && huge.len() < 200,
            "{huge}"
        );
        let long = [label.as_str(); 4].join(".");
        assert!(problem(&long).contains("255 octets long (at most 253)"));
        assert!(problem("host:993").contains("names a port"));
        assert!(problem("http://host").contains("is a URL"));
        assert!(problem("a b.test").contains("' ' is not allowed"));
        assert!(problem("-a.test").contains("hyphen"));
    }

    #[test]
    fn local_parts_follow_rfc_5321() {
        for ok in [
            "a.b+tag@lab.test",
            "o'hara@lab.test",
            "!#$%&'*+-/=?^_`{|}~@lab.test",
            "\"a@b\"@lab.test",
            "\"a..b\"@lab.test",
            "\"a\\\"b\"@lab.test",
            "rené@lab.test",
        ] {
            assert!(Address::parse(ok).is_ok(), "{ok}");
        }
        let q = Address::parse("\"a@b\"@lab.test").unwrap();
        assert_eq!(
            (q.local.as_str(), q.domain.as_str()),
            ("\"a@b\"", "lab.test")
        );
        for (bad, says) in [
            ("a@b@lab.test", "'@'"),
            ("x@@lab.test", "'@'"),
            ("a..b@lab.test", "dot"),
            (".a@lab.test", "dot"),
            ("a.@lab.test", "dot"),
            ("a(b)@lab.test", "'('"),
            ("a,b@lab.test", "','"),
            ("\"open@lab.test", "closing quote"),
            ("\"a\"b\"@lab.test", "quote inside"),
        ] {
            let e = Address::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let local = "l".repeat(LOCAL_PART_MAX);
        assert!(Address::parse(&format!("{local}@lab.test")).is_ok());
        let e = Address::parse(&format!("l{local}@lab.test")).unwrap_err();
        assert!(e.to_string().contains("65 octets long (at most 64)"), "{e}");
        let e = Address::parse("alice@lab..test").unwrap_err().to_string();
        assert!(
            e.contains("alice@lab..test") && e.contains("empty label"),
            "{e}"
        );
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
    fn explicit_flags_outrank_the_environment() {
        let stdin = CredentialRequest {
            password_stdin: true,
            ..CredentialRequest::default()
        };
        assert_eq!(choose(&stdin, true, true).unwrap(), Origin::PasswordStdin);
        let command = CredentialRequest {
            password_command: Some("pass show mail".into()),
            ..CredentialRequest::default()
        };
        assert_eq!(
            choose(&command, true, false).unwrap(),
            Origin::PasswordCommand
        );
        let token = CredentialRequest {
            oauth2_token_command: Some("get-token".into()),
            ..CredentialRequest::default()
        };
        assert_eq!(choose(&token, false, true).unwrap(), Origin::TokenCommand);
        // Without a flag: the token variable, then the password variable, then a prompt.
        let none = CredentialRequest::default();
        assert_eq!(choose(&none, true, true).unwrap(), Origin::TokenEnv);
        assert_eq!(choose(&none, false, true).unwrap(), Origin::PasswordEnv);
        assert_eq!(choose(&none, false, false).unwrap(), Origin::Prompt);
    }

    #[test]
    fn two_explicit_sources_are_refused() {
        let both = CredentialRequest {
            password_stdin: true,
            oauth2_token_command: Some("get-token".into()),
            ..CredentialRequest::default()
        };
        let e = choose(&both, false, false).unwrap_err().to_string();
        assert!(
            e.contains("--oauth2-token-command and --password-stdin"),
            "{e}"
        );
        let both = CredentialRequest {
            password_stdin: true,
            password_command: Some("pass show mail".into()),
            ..CredentialRequest::default()
        };
        assert!(choose(&both, true, true).is_err());
    }

    fn run(cmd: &str) -> Result<Option<Secret>> {
        run_secret_command(cmd, CommandInput::Null, &[], &[])
    }

    #[test]
    fn secret_command_takes_first_line() {
        let s = run("printf 'first\\nsecond\\n'").unwrap().unwrap();
        assert_eq!(s.expose(), "first");
        assert!(run("exit 3").is_err());
        assert_eq!(run("true").unwrap(), None);
        assert_eq!(run("printf 'no-eol'").unwrap().unwrap().expose(), "no-eol");
    }

    #[test]
    fn a_line_is_bounded() {
        let exact = format!("{}\n", "a".repeat(SECRET_MAX_BYTES));
        let line = read_line_bounded(&mut exact.as_bytes()).unwrap();
        assert_eq!(line, Line::Complete(vec![b'a'; SECRET_MAX_BYTES]));
        let mut endless = std::io::repeat(b'y');
        let mut endless = std::io::BufReader::new(&mut endless);
        assert_eq!(read_line_bounded(&mut endless).unwrap(), Line::TooLong);
        assert_eq!(
            read_line_bounded(&mut &b"pw\r\nrest"[..]).unwrap(),
            Line::Complete(b"pw".to_vec())
        );
        assert_eq!(read_line_bounded(&mut &b""[..]).unwrap(), Line::End(vec![]));
    }

    #[test]
    fn an_endless_command_is_refused_without_reading_it_all() {
        // `yes` never ends, but its first line is complete: taken, and `yes` killed.
        assert_eq!(run("yes").unwrap().unwrap().expose(), "y");
        let e = run("cat /dev/zero").unwrap_err();
        assert!(format!("{e:#}").contains("longer than 4 KiB"), "{e:#}");
        let e = run("yes | tr -d '\\n'").unwrap_err();
        assert!(format!("{e:#}").contains("longer than 4 KiB"), "{e:#}");
    }

    #[test]
    fn the_first_line_is_taken_at_once_and_the_group_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let started = Instant::now();
        // The background sleep is in the command's group: it must die with it.
        let cmd = format!(
            "sleep 100 & echo $! > {}; echo pw; sleep 100",
            pid_file.display()
        );
        let s = run(&cmd).unwrap().unwrap();
        assert_eq!(s.expose(), "pw");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        // Killed and, once init reaps it, gone; a zombie ('Z') is dead too.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::read_to_string(&stat) {
                Err(_) => break,
                Ok(st)
                    if st
                        .rsplit_once(')')
                        .is_some_and(|(_, r)| r.trim_start().starts_with('Z')) =>
                {
                    break
                }
                Ok(st) => assert!(Instant::now() < deadline, "still running: {st}"),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_silent_command_times_out() {
        let started = Instant::now();
        let e = run("sleep 100").unwrap_err();
        let took = started.elapsed();
        assert!(format!("{e:#}").contains("no line within 10 s"), "{e:#}");
        assert!(
            took >= SECRET_COMMAND_TIMEOUT
                && took < SECRET_COMMAND_TIMEOUT + Duration::from_secs(3),
            "{took:?}"
        );
    }

    #[test]
    fn nul_and_invalid_utf8_are_refused() {
        let e = run("printf 'a\\000b\\n'").unwrap_err();
        assert!(format!("{e:#}").contains("NUL"), "{e:#}");
        let e = run("printf 'caf\\351\\n'").unwrap_err();
        assert!(format!("{e:#}").contains("not valid UTF-8"), "{e:#}");
        assert!(secret_from_bytes(b"ok".to_vec()).unwrap().is_some());
    }

    #[test]
    fn children_do_not_inherit_known_secrets() {
        // PATH is in every test's environment; hiding it proves the caller's list is honoured
        // (the command names its programs by path).
        assert!(std::env::var_os("PATH").is_some());
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("environ");
        let cmd = format!("/bin/cat /proc/$$/environ > {}; echo pw", out.display());
        let s = run_secret_command(
            &cmd,
            CommandInput::Null,
            &[("MAILCHECK_ADDRESS", "a@lab.test")],
            &["PATH".to_string()],
        )
        .unwrap();
        assert!(s.is_some());
        let environ = std::fs::read(&out).unwrap();
        let names: Vec<String> = environ
            .split(|b| *b == 0)
            .filter_map(|kv| kv.split(|b| *b == b'=').next())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert!(names.iter().any(|n| n == "MAILCHECK_ADDRESS"), "{names:?}");
        for hidden in ["PATH", PASSWORD_ENV, OAUTH2_ENV] {
            assert!(!names.iter().any(|n| n == hidden), "{hidden} in {names:?}");
        }
    }
}
