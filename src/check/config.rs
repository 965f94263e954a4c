//! The checks file (TOML): accounts, modules for the exporter, defaults. Every error names the
//! file, line and column. See `fixtures/mailcheck.toml` for a commented example.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::{IpFamily, Protocol};
use crate::settings::{CertWarn, CredentialSpec, Given, Origin, Settings, SettingsBuilder};

/// A configuration error, already located: `file:line:column: message`.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Settings shared by `[defaults]`, `[module.NAME]` and `[[account]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    server: Option<Spanned<String>>,
    imap_server: Option<Spanned<String>>,
    pop3_server: Option<Spanned<String>>,
    smtp_server: Option<Spanned<String>>,
    tls_name: Option<String>,
    username: Option<String>,
    ca_file: Option<Spanned<String>>,
    /// `--crl-file`, as a list of paths.
    crl_file: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    connect_to: Option<Vec<Spanned<String>>>,
    only: Option<Vec<Spanned<String>>>,
    skip: Option<Vec<Spanned<String>>>,
    ip: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    deadline: Option<Spanned<String>>,
    insecure: Option<bool>,
    password_env: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    oauth2_token_env: Option<Spanned<String>>,
    oauth2_token_command: Option<Spanned<String>>,
    /// An unattended OAuth2 grant: `oauth2 = { issuer, client_id, scope, grant, ... }`.
    oauth2: Option<Spanned<OAuth2Entry>>,
    /// Only here to say clearly that secrets do not belong in the file.
    password: Option<Spanned<toml::Value>>,
    oauth2_token: Option<Spanned<toml::Value>>,
    expect: Option<Vec<Spanned<String>>>,
    forbid: Option<Vec<Spanned<String>>>,
    warn_response: Option<Spanned<String>>,
    max_response: Option<Spanned<String>>,
    warn_cert_days: Option<Spanned<i64>>,
    min_cert_days: Option<Spanned<i64>>,
    /// Without a server: discover (default true) or probe the address's domain (false).
    discover: Option<bool>,
    dns_server: Option<Spanned<String>>,
    dns_trust_anchor: Option<Spanned<String>>,
    ispdb_url: Option<Spanned<String>>,
    discovery_timeout: Option<Spanned<String>>,
    trust_discovered: Option<bool>,
    /// Probe every address of each server (`--each-address`).
    each_address: Option<bool>,
}

/// `oauth2 = { ... }`: where an account's access token comes from, unattended.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuth2Entry {
    issuer: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    /// A string of space-separated scopes, or an array of them.
    scope: Option<Spanned<toml::Value>>,
    grant: Option<Spanned<String>>,
    refresh_token_env: Option<Spanned<String>>,
    refresh_token_command: Option<Spanned<String>>,
    client_secret_env: Option<Spanned<String>>,
    client_secret_command: Option<Spanned<String>>,
    /// Only here to say clearly that secrets do not belong in the file.
    refresh_token: Option<Spanned<toml::Value>>,
    client_secret: Option<Spanned<toml::Value>>,
    access_token: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// `serve`: glob patterns of the targets (address or domain) a request may name beyond
    /// the file's accounts and server-naming modules.
    #[serde(default)]
    allow_targets: Vec<String>,
    concurrency: Option<Spanned<usize>>,
    per_host: Option<Spanned<usize>>,
    #[serde(default)]
    defaults: Option<Spanned<Entry>>,
    #[serde(default)]
    account: Vec<Spanned<Entry>>,
    #[serde(default)]
    module: BTreeMap<String, Spanned<Entry>>,
}

/// A module for the exporter: settings without an address.
#[derive(Debug, Clone)]
pub struct Module {
    pub name: String,
    template: Entry,
    defaults: Entry,
}

impl Module {
    /// Whether the module (or `[defaults]`) names the server, so that a request's target
    /// cannot choose where the exporter connects.
    pub fn names_server(&self) -> bool {
        self.template.server.is_some() || self.defaults.server.is_some()
    }
}

/// A parsed and validated checks file.
#[derive(Debug, Clone)]
pub struct ChecksFile {
    pub path: PathBuf,
    pub accounts: Vec<Settings>,
    /// `[defaults]`, for requests that name no module or account.
    defaults: Entry,
    pub modules: BTreeMap<String, Module>,
    pub concurrency: Option<usize>,
    pub per_host: Option<usize>,
    pub allow_targets: Vec<String>,
    text: String,
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn origin(&self, span: Range<usize>) -> Origin {
        let (line, column) = line_col(self.text, span.start);
        Origin::File {
            path: self.path.to_string(),
            line,
            column,
        }
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            path: self.path.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    (line, col)
}

/// The largest checks file read: thousands of accounts fit in far less.
pub const MAX_CHECKS_FILE_BYTES: u64 = 4 << 20;

/// The contents of a regular file of at most `limit` bytes. It is opened without blocking, so
/// a FIFO without a writer is refused instead of waiting forever; a device (`/dev/zero`), a
/// directory or a FIFO is not a file of settings, and the read stops at the bound even if the
/// file grows meanwhile.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, anyhow::Error> {
    use std::io::Read;
    let shown = path.display();
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    if !meta.is_file() {
        anyhow::bail!("{shown}: not a regular file (a FIFO, device or directory is refused)");
    }
    let too_big = || anyhow::anyhow!("{shown}: larger than {} MiB, refused", limit >> 20);
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    (&file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

impl ChecksFile {
    pub fn load(path: &Path) -> Result<ChecksFile, anyhow::Error> {
        let bytes = read_bounded(path, MAX_CHECKS_FILE_BYTES)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| anyhow::anyhow!("{}: not UTF-8 ({e})", path.display()))?;
        Ok(ChecksFile::parse(path, &text)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ChecksFile, ConfigError> {
        let shown = path.display().to_string();
        let cx = Ctx { path: &shown, text };
        let file: File = toml::from_str(text)
            .map_err(|e| cx.err(e.span().unwrap_or(0..0), e.message().trim_end().to_string()))?;
        let defaults = file.defaults.map(|d| d.into_inner()).unwrap_or_default();
        if let Some(a) = &defaults.address {
            return Err(cx.err(a.span(), "[defaults] cannot have an address"));
        }
        check_entry(&cx, &defaults)?;
        for (key, v) in [
            ("concurrency", &file.concurrency),
            ("per_host", &file.per_host),
        ] {
            if let Some(v) = v {
                if *v.get_ref() == 0 {
                    return Err(cx.err(v.span(), format!("{key} must be at least 1")));
                }
            }
        }
        let mut accounts = vec![];
        let mut names = BTreeMap::new();
        for a in &file.account {
            let entry = a.get_ref();
            let Some(address) = &entry.address else {
                return Err(cx.err(a.span(), "this [[account]] has no address"));
            };
            check_entry(&cx, entry)?;
            let spec = build(
                &cx,
                entry,
                &defaults,
                Given::new(address.get_ref().clone(), cx.origin(address.span())),
            )?;
            if let Some(prev) = names.insert(spec.name.clone(), a.span()) {
                let (l, c) = line_col(text, prev.start);
                let at = entry.name.as_ref().map_or(a.span(), |n| n.span());
                return Err(cx.err(
                    at,
                    format!(
                        "a second account named {:?} (the first is at line {l}, column {c})",
                        spec.name
                    ),
                ));
            }
            accounts.push(spec);
        }
        let mut modules = BTreeMap::new();
        for (name, m) in &file.module {
            let entry = m.get_ref();
            if let Some(a) = &entry.address {
                return Err(cx.err(
                    a.span(),
                    "a module has no address: /probe?target=ADDRESS gives it",
                ));
            }
            check_entry(&cx, entry)?;
            let merged_server = entry.server.as_ref().or(defaults.server.as_ref());
            let merged_username = entry.username.as_ref().or(defaults.username.as_ref());
            let has_credential = credential_of(&cx, entry, &defaults)?.is_some();
            // /probe's target is chosen by whoever can reach the exporter: a module that sends
            // a secret must fix the server it is sent to and the login it is sent for, or a
            // request could send it elsewhere, or try it on every mailbox of the server.
            if has_credential && (merged_server.is_none() || merged_username.is_none()) {
                return Err(cx.err(
                    m.span(),
                    format!("module {name:?} has credentials but no fixed server and username: set both, so its secret is only ever sent to that server for that login (per-mailbox secrets belong in [[account]]s)"),
                ));
            }
            // Validate it with a placeholder address.
            build(
                &cx,
                entry,
                &defaults,
                Given::new("probe@example.com".into(), cx.origin(m.span())),
            )?;
            modules.insert(
                name.clone(),
                Module {
                    name: name.clone(),
                    template: entry.clone(),
                    defaults: defaults.clone(),
                },
            );
        }
        let mut file = ChecksFile {
            path: path.to_path_buf(),
            accounts,
            defaults,
            modules,
            concurrency: file.concurrency.map(|c| c.into_inner()),
            per_host: file.per_host.map(|c| c.into_inner()),
            allow_targets: file.allow_targets,
            text: text.to_string(),
        };
        // No account's command sees another's secret.
        let hidden = file.secret_env_names();
        for a in &mut file.accounts {
            a.hidden_env = hidden.clone();
        }
        Ok(file)
    }

    /// The environment variables that hold this file's secrets (`password_env`,
    /// `oauth2_token_env`, an `oauth2` grant's `*_env` of its accounts, modules and defaults): withheld from every command
    /// mailcheck runs, so one account's command never sees another's secret.
    pub fn secret_env_names(&self) -> Vec<String> {
        let from_accounts = self.accounts.iter().filter_map(|a| match &a.credential {
            CredentialSpec::PasswordEnv(n) | CredentialSpec::OAuth2TokenEnv(n) => Some(n.clone()),
            _ => None,
        });
        let from_entries = std::iter::once(&self.defaults)
            .chain(
                self.modules
                    .values()
                    .flat_map(|m| [&m.template, &m.defaults]),
            )
            .flat_map(|e| {
                let grant = e.oauth2.as_ref().map(|o| o.get_ref());
                [
                    &e.password_env,
                    &e.oauth2_token_env,
                    grant.map_or(&None, |o| &o.refresh_token_env),
                    grant.map_or(&None, |o| &o.client_secret_env),
                ]
            })
            .filter_map(|v| v.as_ref().map(|v| v.get_ref().clone()));
        let from_grants = self.accounts.iter().flat_map(|a| match &a.credential {
            CredentialSpec::OAuth2Grant(g) => g.env_names().cloned().collect(),
            _ => vec![],
        });
        let names: std::collections::BTreeSet<String> = from_accounts
            .chain(from_entries)
            .chain(from_grants)
            .collect();
        names.into_iter().collect()
    }

    /// The settings of `/probe?target=ADDRESS&module=NAME`.
    pub fn module_settings(&self, module: &str, target: &str) -> anyhow::Result<Settings> {
        let m = self
            .modules
            .get(module)
            .ok_or_else(|| anyhow::anyhow!("no module {module:?} in the checks file"))?;
        let mut settings = self.request_settings(&m.template, &m.defaults, target)?;
        settings.name = target.to_string();
        Ok(settings)
    }

    /// The settings of a `/probe?target=ADDRESS` that names no module and no account: the
    /// file's `[defaults]` (resolver, ISPDB, trust, limits...) without their credential, which
    /// only ever goes to the servers and logins the file names.
    pub fn bare_settings(&self, target: &str) -> anyhow::Result<Settings> {
        let mut settings = self.request_settings(&Entry::default(), &self.defaults, target)?;
        settings.credential = CredentialSpec::None;
        Ok(settings)
    }

    fn request_settings(&self, e: &Entry, d: &Entry, target: &str) -> anyhow::Result<Settings> {
        let shown = self.path.display().to_string();
        let cx = Ctx {
            path: &shown,
            text: &self.text,
        };
        // The target comes from the request: its errors name the parameter, not a position.
        let address = Given::new(target.to_string(), Origin::Query("target"));
        let mut settings = builder(&cx, e, d, address)?.build()?;
        settings.hidden_env = self.secret_env_names();
        Ok(settings)
    }
}

fn check_entry(cx: &Ctx, e: &Entry) -> Result<(), ConfigError> {
    if let Some(v) = e.password.as_ref().or(e.oauth2_token.as_ref()) {
        return Err(cx.err(
            v.span(),
            "secrets never go in the checks file: name an environment variable (password_env, oauth2_token_env) or a command (password_command, oauth2_token_command)",
        ));
    }
    if let Some(o) = &e.oauth2 {
        let o = o.get_ref();
        if let Some(v) = [&o.refresh_token, &o.client_secret, &o.access_token]
            .into_iter()
            .find_map(|v| v.as_ref())
        {
            return Err(cx.err(
                v.span(),
                "secrets never go in the checks file: name an environment variable (refresh_token_env, client_secret_env) or a command (refresh_token_command, client_secret_command)",
            ));
        }
    }
    Ok(())
}

/// `oauth2 = { ... }` validated: a grant, an https issuer, a client id, and the secrets the
/// grant needs named by variable or command.
fn grant_of(cx: &Ctx, o: &Spanned<OAuth2Entry>) -> Result<CredentialSpec, ConfigError> {
    use crate::oauth2::grant::{Grant, GrantSettings, SecretRef};
    let at = o.span();
    let o = o.get_ref();
    let given =
        |v: &Spanned<String>| Given::new(v.get_ref().trim().to_string(), cx.origin(v.span()));
    let required = |v: &Option<Spanned<String>>, key: &str| -> Result<Given<String>, ConfigError> {
        match v {
            Some(v) if !v.get_ref().trim().is_empty() => Ok(given(v)),
            Some(v) => Err(cx.err(v.span(), "empty")),
            None => Err(cx.err(at.clone(), format!("oauth2 needs {key}"))),
        }
    };
    let grant = required(
        &o.grant,
        "grant = \"refresh_token\" or \"client_credentials\"",
    )?;
    let grant_kind = match grant.value.as_str() {
        "refresh_token" => Grant::RefreshToken,
        "client_credentials" => Grant::ClientCredentials,
        other => {
            let span = o.grant.as_ref().map_or(at.clone(), |g| g.span());
            return Err(cx.err(
                span,
                format!("grant = {other:?}: use \"refresh_token\" or \"client_credentials\" (an interactive sign-in is `mailcheck oauth2 sign-in`)"),
            ));
        }
    };
    let issuer = required(&o.issuer, "issuer (the authorization server's https URL)")?;
    if !issuer.value.starts_with("https://") {
        let span = o.issuer.as_ref().map_or(at.clone(), |v| v.span());
        return Err(cx.err(span, "the issuer must be an https URL"));
    }
    let client_id = required(&o.client_id, "client_id")?;
    let secret = |env: &Option<Spanned<String>>,
                  cmd: &Option<Spanned<String>>,
                  what: &str|
     -> Result<Option<SecretRef>, ConfigError> {
        match (env, cmd) {
            (Some(_), Some(c)) => {
                Err(cx.err(c.span(), format!("give one of {what}_env, {what}_command")))
            }
            (Some(v), None) if v.get_ref().trim().is_empty() => Err(cx.err(v.span(), "empty")),
            (Some(v), None) => Ok(Some(SecretRef::Env(v.get_ref().trim().to_string()))),
            (None, Some(v)) if v.get_ref().trim().is_empty() => Err(cx.err(v.span(), "empty")),
            (None, Some(v)) => Ok(Some(SecretRef::Command(v.get_ref().clone()))),
            (None, None) => Ok(None),
        }
    };
    let refresh_token = secret(
        &o.refresh_token_env,
        &o.refresh_token_command,
        "refresh_token",
    )?;
    let client_secret = secret(
        &o.client_secret_env,
        &o.client_secret_command,
        "client_secret",
    )?;
    match grant_kind {
        Grant::RefreshToken if refresh_token.is_none() => {
            return Err(cx.err(
                at,
                "grant = \"refresh_token\" needs refresh_token_env or refresh_token_command (get one with `mailcheck oauth2 sign-in`)",
            ))
        }
        Grant::ClientCredentials if client_secret.is_none() => {
            return Err(cx.err(
                at,
                "grant = \"client_credentials\" needs client_secret_env or client_secret_command",
            ))
        }
        Grant::ClientCredentials if refresh_token.is_some() => {
            let v = o.refresh_token_env.as_ref().or(o.refresh_token_command.as_ref());
            return Err(cx.err(
                v.map_or(at, |v| v.span()),
                "grant = \"client_credentials\" takes no refresh token",
            ));
        }
        _ => {}
    }
    let scopes = match &o.scope {
        None => Given::new(vec![], crate::settings::Origin::Builtin),
        Some(v) => {
            let words: Vec<String> = match v.get_ref() {
                toml::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
                toml::Value::Array(a) => {
                    let mut words = vec![];
                    for item in a {
                        match item {
                            toml::Value::String(s) => {
                                words.extend(s.split_whitespace().map(str::to_string))
                            }
                            _ => {
                                return Err(cx.err(
                                    v.span(),
                                    "scope: a string (\"a b\") or an array of strings",
                                ))
                            }
                        }
                    }
                    words
                }
                _ => {
                    return Err(cx.err(v.span(), "scope: a string (\"a b\") or an array of strings"))
                }
            };
            Given::new(words, cx.origin(v.span()))
        }
    };
    Ok(CredentialSpec::OAuth2Grant(Box::new(GrantSettings {
        issuer,
        client_id,
        scopes,
        grant: grant_kind,
        refresh_token,
        client_secret,
    })))
}

fn credential_of(cx: &Ctx, e: &Entry, d: &Entry) -> Result<CredentialSpec, ConfigError> {
    let own = [
        &e.password_env,
        &e.password_command,
        &e.oauth2_token_env,
        &e.oauth2_token_command,
    ];
    let mut set: Vec<Range<usize>> = own
        .iter()
        .filter_map(|o| o.as_ref().map(|o| o.span()))
        .collect();
    set.extend(e.oauth2.as_ref().map(|o| o.span()));
    set.sort_by_key(|s| s.start);
    if set.len() > 1 {
        return Err(cx.err(
            set[1].clone(),
            "give one of password_env, password_command, oauth2_token_env, oauth2_token_command, oauth2",
        ));
    }
    // An entry's own credential replaces the defaults' as a whole.
    let src = if set.is_empty() { d } else { e };
    if let Some(o) = &src.oauth2 {
        return grant_of(cx, o);
    }
    let empty = |s: &Spanned<String>| -> Result<String, ConfigError> {
        if s.get_ref().trim().is_empty() {
            Err(cx.err(s.span(), "empty"))
        } else {
            Ok(s.get_ref().clone())
        }
    };
    Ok(if let Some(v) = &src.password_env {
        CredentialSpec::PasswordEnv(empty(v)?)
    } else if let Some(v) = &src.password_command {
        CredentialSpec::PasswordCommand(empty(v)?)
    } else if let Some(v) = &src.oauth2_token_env {
        CredentialSpec::OAuth2TokenEnv(empty(v)?)
    } else if let Some(v) = &src.oauth2_token_command {
        CredentialSpec::OAuth2TokenCommand(empty(v)?)
    } else {
        CredentialSpec::None
    })
}

fn duration(cx: &Ctx, v: &Spanned<String>) -> Result<Duration, ConfigError> {
    crate::cli::parse_duration(v.get_ref()).map_err(|e| cx.err(v.span(), e))
}

fn list<T: std::str::FromStr<Err = String>>(
    cx: &Ctx,
    v: &Option<Vec<Spanned<String>>>,
) -> Result<Vec<T>, ConfigError> {
    Ok(given_list(cx, v)?.into_iter().map(|g| g.value).collect())
}

fn given_list<T: std::str::FromStr<Err = String>>(
    cx: &Ctx,
    v: &Option<Vec<Spanned<String>>>,
) -> Result<Vec<Given<T>>, ConfigError> {
    v.iter()
        .flatten()
        .map(|s| {
            s.get_ref()
                .parse::<T>()
                .map(|t| Given::new(t, cx.origin(s.span())))
                .map_err(|e| cx.err(s.span(), e))
        })
        .collect()
}

/// An entry merged over the defaults, for `address`, as settings: this file's syntax
/// translated, each value with its position; the builder validates.
fn build(cx: &Ctx, e: &Entry, d: &Entry, address: Given<String>) -> Result<Settings, ConfigError> {
    // An error about a value from elsewhere (a default) is placed at the account's address.
    let in_file = |o: &Origin| match o {
        Origin::File { line, column, .. } => Some((*line, *column)),
        _ => None,
    };
    let fallback = in_file(&address.origin).unwrap_or((1, 1));
    builder(cx, e, d, address)?.build().map_err(|err| {
        let (line, column) = in_file(&err.origin).unwrap_or(fallback);
        ConfigError {
            path: cx.path.to_string(),
            line,
            column,
            message: err.message,
        }
    })
}

/// This file's syntax translated into a builder: values parsed, each with its position.
fn builder(
    cx: &Ctx,
    e: &Entry,
    d: &Entry,
    address: Given<String>,
) -> Result<SettingsBuilder, ConfigError> {
    let pick = |a: &Option<Spanned<String>>, b: &Option<Spanned<String>>| a.clone().or(b.clone());
    let given = |v: &Spanned<String>| Given::new(v.get_ref().clone(), cx.origin(v.span()));
    let list_of = |a: &Option<Vec<Spanned<String>>>, b: &Option<Vec<Spanned<String>>>| {
        if a.is_some() {
            a.clone()
        } else {
            b.clone()
        }
    };
    let family = match pick(&e.ip, &d.ip) {
        None => IpFamily::Any,
        Some(v) => match v.get_ref().as_str() {
            "any" => IpFamily::Any,
            "ipv4" | "4" => IpFamily::V4,
            "ipv6" | "6" => IpFamily::V6,
            other => return Err(cx.err(v.span(), format!("ip = {other:?}: use any, ipv4 or ipv6"))),
        },
    };
    let dur = |v: Option<Spanned<String>>| v.map(|v| duration(cx, &v)).transpose();
    let dur_given = |v: Option<Spanned<String>>| -> Result<Option<Given<Duration>>, ConfigError> {
        v.map(|v| Ok(Given::new(duration(cx, &v)?, cx.origin(v.span()))))
            .transpose()
    };
    let days = |v: &Option<Spanned<i64>>| {
        v.as_ref()
            .map(|v| Given::new(*v.get_ref(), cx.origin(v.span())))
    };
    let dns_server = match pick(&e.dns_server, &d.dns_server) {
        Some(v) => Some(
            v.get_ref()
                .parse::<crate::net::resolver::NameServer>()
                .map_err(|err: String| cx.err(v.span(), err))?,
        ),
        None => None,
    };
    let mut protocol_servers = vec![];
    for (p, v) in [
        (Protocol::Imap, pick(&e.imap_server, &d.imap_server)),
        (Protocol::Pop3, pick(&e.pop3_server, &d.pop3_server)),
        (Protocol::Smtp, pick(&e.smtp_server, &d.smtp_server)),
    ] {
        if let Some(v) = v {
            protocol_servers.push((p, given(&v)));
        }
    }
    let builder = SettingsBuilder {
        name: e.name.as_ref().map(|n| n.get_ref().clone()),
        address: Some(address),
        server: pick(&e.server, &d.server).map(|v| given(&v)),
        protocol_servers,
        discover: e.discover.or(d.discover),
        tls_name: e.tls_name.clone().or(d.tls_name.clone()),
        username: e.username.clone().or(d.username.clone()),
        ca_file: pick(&e.ca_file, &d.ca_file)
            .map(|v| Given::new(PathBuf::from(v.get_ref()), cx.origin(v.span()))),
        crl_files: e
            .crl_file
            .as_ref()
            .or(d.crl_file.as_ref())
            .into_iter()
            .flatten()
            .map(|v| Given::new(PathBuf::from(v.get_ref()), cx.origin(v.span())))
            .collect(),
        connect_to: list(cx, &list_of(&e.connect_to, &d.connect_to))?,
        only: list(cx, &list_of(&e.only, &d.only))?,
        skip: given_list(cx, &list_of(&e.skip, &d.skip))?,
        family,
        connect_timeout: dur(pick(&e.connect_timeout, &d.connect_timeout))?,
        timeout: dur(pick(&e.timeout, &d.timeout))?,
        deadline: dur(pick(&e.deadline, &d.deadline))?,
        insecure: e.insecure.or(d.insecure).unwrap_or(false),
        dns_server,
        dns_trust_anchor: pick(&e.dns_trust_anchor, &d.dns_trust_anchor)
            .map(|v| Given::new(PathBuf::from(v.get_ref()), cx.origin(v.span()))),
        ispdb_url: pick(&e.ispdb_url, &d.ispdb_url).map(|v| given(&v)),
        discovery_timeout: dur(pick(&e.discovery_timeout, &d.discovery_timeout))?,
        trust_discovered: e.trust_discovered.or(d.trust_discovered).unwrap_or(false),
        each_address: e.each_address.or(d.each_address).unwrap_or(false),
        credential: Some(credential_of(cx, e, d)?),
        expect: list(cx, &list_of(&e.expect, &d.expect))?,
        forbid: given_list(cx, &list_of(&e.forbid, &d.forbid))?,
        warn_response: dur_given(pick(&e.warn_response, &d.warn_response))?,
        max_response: dur_given(pick(&e.max_response, &d.max_response))?,
        warn_cert_days: days(&e.warn_cert_days.clone().or(d.warn_cert_days.clone()))
            .map_or(CertWarn::Unjudged, CertWarn::Days),
        min_cert_days: days(&e.min_cert_days.clone().or(d.min_cert_days.clone())),
        ..SettingsBuilder::default()
    };
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Servers;

    fn parse(text: &str) -> Result<ChecksFile, ConfigError> {
        ChecksFile::parse(Path::new("t.toml"), text)
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../fixtures/mailcheck.toml");
        let f = parse(text).unwrap();
        assert_eq!(f.accounts.len(), 3);
        assert_eq!(f.concurrency, Some(16));
        assert_eq!(f.per_host, Some(4));
        let alice = &f.accounts[0];
        assert_eq!(alice.name, "alice");
        assert_eq!(
            alice.credential,
            CredentialSpec::PasswordEnv("ALICE_MAIL_PASSWORD".into())
        );
        assert_eq!(alice.expectations.expect.len(), 2);
        assert_eq!(
            alice.expectations.forbid[0].to_string(),
            "imap/143/starttls/plaintext-login"
        );
        assert_eq!(
            alice.expectations.response_crit,
            Some(Duration::from_secs(2))
        );
        assert_eq!(alice.expectations.cert_crit_days, Some(7));
        assert_eq!(f.accounts[2].name, "info@example.net");
        assert_eq!(f.accounts[2].server(), "example.net");
        // No server: discovered at run time; with a server: not.
        assert!(matches!(f.accounts[2].servers, Servers::Discover(_)));
        assert!(matches!(f.accounts[0].servers, Servers::Named { .. }));
        assert_eq!(f.accounts[2].credential, CredentialSpec::None);
        assert_eq!(f.modules.len(), 2);
        let m = f
            .module_settings("shared_mailbox", "bob@example.com")
            .unwrap();
        assert_eq!(m.server(), "mail.example.com");
        // The module's credential is only ever used for its fixed login.
        assert_eq!(m.username.as_deref(), Some("shared@example.com"));
        assert_eq!(m.address.to_string(), "bob@example.com");
        let m = f.module_settings("example_com", "bob@example.com").unwrap();
        assert_eq!(m.username, None);
        assert_eq!(m.credential, CredentialSpec::None);
        assert!(f.module_settings("nope", "bob@example.com").is_err());
    }

    #[test]
    fn crl_files_are_read_and_a_file_without_a_crl_is_refused() {
        let ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = ca.self_signed(&key).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let crl = rcgen::CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&rcgen::Issuer::new(ca, key))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (crl_path, not_crl) = (dir.path().join("ca.crl"), dir.path().join("ca.pem"));
        std::fs::write(&crl_path, crl.pem().unwrap()).unwrap();
        std::fs::write(&not_crl, cert.pem()).unwrap();
        let text = |p: &Path| {
            format!(
                "[defaults]\ncrl_file = [{:?}]\n[[account]]\naddress = \"a@example.com\"\n",
                p.display().to_string()
            )
        };
        let f = parse(&text(&crl_path)).unwrap();
        assert_eq!(f.accounts[0].policy.crl_files, [crl_path]);
        let err = parse(&text(&not_crl)).unwrap_err().to_string();
        assert!(
            err.starts_with("t.toml:2:13: ") && err.contains("no revocation list"),
            "{err}"
        );
    }

    #[test]
    fn expectation_combinations_are_probed_despite_only() {
        let f = parse(
            "[[account]]\naddress = \"a@example.com\"\ndiscover = false\nonly = [\"smtp\"]\nforbid = [\"imap/143/plaintext-login\"]\n",
        )
        .unwrap();
        let plan = crate::plan::plan(&f.accounts[0], None).unwrap().plan;
        let ids: Vec<String> = plan.targets.iter().map(|t| t.id()).collect();
        assert_eq!(
            ids,
            ["imap/143/starttls", "smtp/465/tls", "smtp/587/starttls"]
        );
    }

    #[test]
    fn expectations_on_other_ports_are_probed() {
        let f = parse(
            "[[account]]\naddress = \"a@example.com\"\nserver = \"mail.example.com\"\nexpect = [\"imap/10993/tls\"]\nforbid = [\"smtp/2525/starttls/plaintext-login\"]\n",
        )
        .unwrap();
        let plan = crate::plan::plan(&f.accounts[0], None).unwrap().plan;
        let ids: Vec<String> = plan.targets.iter().map(|t| t.id()).collect();
        assert_eq!(ids.len(), 8, "{ids:?}");
        assert_eq!(ids[6..], ["imap/10993/tls", "smtp/2525/starttls"]);
    }

    #[test]
    fn a_server_per_protocol() {
        let f = parse(
            "[[account]]\naddress = \"a@example.com\"\nserver = \"mail.example.com\"\nsmtp_server = \"smtp.example.com\"\n",
        )
        .unwrap();
        let plan = crate::plan::plan(&f.accounts[0], None).unwrap().plan;
        let hosts: Vec<(String, String)> = plan
            .targets
            .iter()
            .map(|t| (t.id(), t.host.clone()))
            .collect();
        assert_eq!(hosts.len(), 6);
        for (id, host) in hosts {
            let want = if id.starts_with("smtp/") {
                "smtp.example.com"
            } else {
                "mail.example.com"
            };
            assert_eq!(host, want, "{id}");
        }
        let e =
            err("[[account]]\naddress = \"a@example.com\"\nimap_server = \"imap.example.com\"\n");
        assert!(e.message.contains("needs `server`"), "{e}");
    }

    #[test]
    fn each_address_comes_from_the_account_or_the_defaults() {
        let f = parse(
            "[defaults]\neach_address = true\n[[account]]\naddress = \"a@example.com\"\nserver = \"m.example.com\"\n[[account]]\naddress = \"b@example.com\"\nserver = \"m.example.com\"\neach_address = false\n",
        )
        .unwrap();
        assert!(f.accounts[0].each_address);
        assert!(
            crate::plan::plan(&f.accounts[0], None)
                .unwrap()
                .each_address
        );
        assert!(!f.accounts[1].each_address);
        assert!(
            !parse("[[account]]\naddress = \"a@example.com\"\n")
                .unwrap()
                .accounts[0]
                .each_address
        );
    }

    #[test]
    fn secret_env_names_list_every_variable_of_the_file() {
        let f = parse(
            "[defaults]\nserver = \"mail.example.com\"\nusername = \"u\"\n\n[[account]]\naddress = \"a@example.com\"\npassword_env = \"CANARY_PW\"\n\n[[account]]\naddress = \"b@example.com\"\npassword_command = \"pass b\"\n\n[[account]]\naddress = \"c@example.com\"\noauth2_token_env = \"C_TOKEN\"\n\n[module.m]\npassword_env = \"MODULE_PW\"\n",
        )
        .unwrap();
        assert_eq!(
            f.secret_env_names(),
            ["CANARY_PW", "C_TOKEN", "MODULE_PW"].map(String::from)
        );
    }

    fn err(text: &str) -> ConfigError {
        parse(text).expect_err("should not parse")
    }

    #[test]
    fn oauth2_grants_are_validated_with_their_position() {
        use crate::oauth2::grant::{Grant, SecretRef};
        let f = parse(
            "[defaults]\nserver = \"m.example.com\"\n[[account]]\naddress = \"a@example.com\"\noauth2 = { issuer = \"https://auth.example\", client_id = \"mc\", scope = \"imap smtp\", grant = \"refresh_token\", refresh_token_env = \"A_RT\" }\n[[account]]\naddress = \"b@example.com\"\noauth2 = { issuer = \"https://auth.example\", client_id = \"app\", scope = [\"x\", \"y z\"], grant = \"client_credentials\", client_secret_command = \"pass app\" }\n",
        )
        .unwrap();
        let CredentialSpec::OAuth2Grant(a) = &f.accounts[0].credential else {
            panic!("{:?}", f.accounts[0].credential)
        };
        assert_eq!(a.grant, Grant::RefreshToken);
        assert_eq!(a.scopes.value, ["imap", "smtp"]);
        assert_eq!(a.scopes.origin.to_string(), "t.toml:5:71");
        assert_eq!(a.refresh_token, Some(SecretRef::Env("A_RT".into())));
        let CredentialSpec::OAuth2Grant(b) = &f.accounts[1].credential else {
            panic!()
        };
        assert_eq!(b.grant, Grant::ClientCredentials);
        assert_eq!(b.scopes.value, ["x", "y", "z"]);
        assert_eq!(b.client_secret, Some(SecretRef::Command("pass app".into())));
        // The refresh token's variable is withheld from every command.
        assert_eq!(f.secret_env_names(), ["A_RT"]);

        let head = "[[account]]\naddress = \"a@example.com\"\n";
        let bad = |o: &str| err(&format!("{head}oauth2 = {{ {o} }}\n"));
        let e = bad("issuer = \"https://a.example\", client_id = \"c\", grant = \"password\", refresh_token_env = \"R\"");
        assert_eq!((e.line, e.column), (3, 67), "{e}");
        assert!(e.message.contains("\"password\""), "{e}");
        let e = bad("issuer = \"https://a.example\", client_id = \"c\", grant = \"refresh_token\"");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("needs refresh_token_env"), "{e}");
        let e = bad("issuer = \"https://a.example\", client_id = \"c\", grant = \"client_credentials\", client_secret_env = \"\"");
        assert!(e.message.contains("empty"), "{e}");
        let e = bad("issuer = \"http://a.example\", client_id = \"c\", grant = \"client_credentials\", client_secret_env = \"S\"");
        assert!(e.message.contains("https"), "{e}");
        let e = bad("issuer = \"https://a.example\", client_id = \"c\", grant = \"refresh_token\", refresh_token = \"canary-rt\"");
        assert!(e.message.contains("secrets never go"), "{e}");
        assert!(!e.to_string().contains("canary-rt"));
        let e = bad("issuer = \"https://a.example\", grant = \"client_credentials\", client_secret_env = \"S\", colour = 1");
        assert!(e.message.contains("unknown field"), "{e}");
        // Mixed with a password: refused at the second of the two.
        let e = err(&format!("{head}password_env = \"P\"\noauth2 = {{ issuer = \"https://a.example\", client_id = \"c\", grant = \"client_credentials\", client_secret_env = \"S\" }}\n"));
        assert_eq!((e.line, e.column), (4, 10), "{e}");
        assert!(e.message.contains("give one of"), "{e}");
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = err(
            "[[account]]\naddress = \"a@example.com\"\nexpect = [\"imap/993/tls\", \"imap/994\"]\n",
        );
        assert_eq!((e.line, e.column), (3, 27), "{e}");
        assert!(e.to_string().starts_with("t.toml:3:27: "), "{e}");
        assert!(e.message.contains("imap/994"), "{e}");

        let e = err("[[account]]\naddress = \"a@example.com\"\npassword = \"hunter2\"\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("secrets never go"), "{e}");
        assert!(!e.to_string().contains("hunter2"));

        let e = err("[[account]]\naddress = \"a@example.com\"\nserverr = \"x\"\n");
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");

        let e = err("[[account]]\naddress = \"a@example.com\"\ntimeout = \"5 parsecs\"\n");
        assert_eq!((e.line, e.column), (3, 11), "{e}");

        let e = err("[[account]]\naddress = \"not-an-address\"\n");
        assert_eq!((e.line, e.column), (2, 11), "{e}");

        let e = err("[[account]]\naddress = \"a@example.com\"\nexpect = [\"imap/993/tls\"\n");
        assert_eq!(e.line, 3, "{e}");

        let e = err("[[account]]\nname = \"x\"\n");
        assert!(e.message.contains("no address"), "{e}");

        let e = err("[[account]]\naddress = \"a@example.com\"\npassword_env = \"A\"\npassword_command = \"b\"\n");
        assert_eq!(e.line, 4, "{e}");

        let e = err("[module.m]\npassword_env = \"A\"\n");
        assert!(e.message.contains("no fixed server and username"), "{e}");
        let e = err("[module.m]\nserver = \"s.example\"\npassword_env = \"A\"\n");
        assert!(e.message.contains("no fixed server and username"), "{e}");

        let e = err("[[account]]\naddress = \"a@example.com\"\nexpect = [\"imap/993\"]\nforbid = [\"imap/993/tls\"]\n");
        assert!(e.message.contains("both expected and forbidden"), "{e}");

        let e = err("[[account]]\naddress = \"a@example.com\"\nwarn_response = \"2s\"\nmax_response = \"1s\"\n");
        assert_eq!((e.line, e.column), (3, 17), "{e}");
        assert!(e.message.contains("warning must come first"), "{e}");
        let e = err(
            "[[account]]\naddress = \"a@example.com\"\nwarn_cert_days = 7\nmin_cert_days = 14\n",
        );
        assert_eq!((e.line, e.column), (3, 18), "{e}");
        assert!(e.message.contains("certificate warning (7 days)"), "{e}");
        // Equal thresholds are allowed: straight to critical.
        parse("[[account]]\naddress = \"a@example.com\"\nwarn_cert_days = 7\nmin_cert_days = 7\n")
            .unwrap();

        let e = err("concurrency = 0\n");
        assert_eq!((e.line, e.column), (1, 15), "{e}");
    }
}
