//! Command-line definitions only. `app` (and `check::cli` for `batch`) translate them into a
//! [`crate::settings::SettingsBuilder`], where defaults and validation live.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::lab::Scenario;
use crate::model::{ConnectTo, Selector};
use crate::net::resolver::NameServer;

/// The headings `--help` groups options under, in the order a person needs them: where the
/// servers are, how to reach them, the credential, then what to print and what to alert on.
pub(crate) mod heading {
    pub const DISCOVERY: &str = "Servers and discovery";
    pub const TLS: &str = "Connection and TLS";
    pub const CREDENTIALS: &str = "Credentials";
    pub const ROUND_TRIP: &str = "Round trip";
    pub const OUTPUT: &str = "Output";
    pub const MONITORING: &str = "Monitoring thresholds";
    pub const PACING: &str = "Pacing";
}

#[derive(Debug, Parser)]
#[command(
    name = "mailcheck",
    version,
    about = "Which mail server, port and security setting actually work for this address, and if none does, why",
    after_help = "Exit codes: 0 a secure incoming and a secure outgoing setting work; 1 usable with warnings; \
                  2 no secure incoming or outgoing setting works, or the password was rejected; 3 bad input or internal error. \
                  check and batch exit with the worst account's status (an account with expect/forbid follows its expectations).\n\
                  Passwords are never taken as arguments: use MAILCHECK_PASSWORD, --password-stdin, --password-command or the prompt."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find an account's servers (unless --server is given), then probe each combination.
    Probe(ProbeArgs),
    /// Find an account's servers and say where each setting came from, without probing.
    Discover(DiscoverArgs),
    /// Run a mail server on loopback (IMAP, POP3, SMTP; TLS and STARTTLS) that reproduces a
    /// scenario, and print the `mailcheck probe` command that checks it.
    Lab(LabArgs),
    /// Probe the built-in lab in-process: mailcheck's normal report with no mail server and no
    /// network.
    Demo(DemoArgs),
    /// Check many accounts against expectations from a checks file (CI, monitoring).
    Check(crate::cli_monitor::CheckArgs),
    /// Probe many addresses concurrently, paced per server host.
    Batch(crate::cli_monitor::BatchArgs),
    /// Prometheus exporter: GET /probe?target=ADDRESS&module=NAME runs one probe.
    Serve(crate::cli_monitor::ServeArgs),
    /// Print shell completions (bash, zsh, fish, ...).
    Completions(crate::cli_monitor::CompletionsArgs),
    /// Print the man page (roff).
    Man,
    /// OAuth2 for unattended checks: `oauth2 sign-in` gets a refresh token for a checks file.
    #[command(name = "oauth2")]
    OAuth2(crate::cli_oauth2::OAuth2Command),
}

#[derive(Debug, Args)]
pub struct LabArgs {
    /// The behaviour to reproduce.
    #[arg(long, value_enum, value_name = "NAME", default_value_t = Scenario::Good)]
    pub scenario: Scenario,

    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,

    /// Address to listen on.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub ip: std::net::IpAddr,

    /// Listen on six consecutive ports from this one (imap/993, imap/143, pop3/995, pop3/110,
    /// smtp/465, smtp/587 in that order); default: ports chosen by the system.
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,

    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The lab scenario to probe.
    #[arg(long, value_enum, value_name = "NAME", default_value_t = Scenario::Good)]
    pub scenario: Scenario,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How a report is printed (shared by `probe` and `demo`).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Include a transcript of each session (credentials redacted).
    #[arg(long, help_heading = heading::OUTPUT)]
    pub trace: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::cli_monitor::MonitorFormat::Table, help_heading = heading::OUTPUT)]
    pub format: crate::cli_monitor::MonitorFormat,

    /// When to use colour in the table (NO_COLOR is honoured by `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = heading::OUTPUT)]
    pub color: ColorChoice,

    /// Warning when a step takes longer than this (nagios, junit, prometheus, jsonl).
    #[arg(short = 'w', long = "warning", value_name = "DURATION", value_parser = parse_duration, help_heading = heading::MONITORING)]
    pub warning: Option<Duration>,

    /// Critical when a step takes longer than this (nagios, junit, prometheus, jsonl).
    #[arg(short = 'c', long = "critical", value_name = "DURATION", value_parser = parse_duration, help_heading = heading::MONITORING)]
    pub critical: Option<Duration>,

    /// Critical when a certificate expires within this many days (nagios, junit, prometheus,
    /// jsonl).
    #[arg(long, value_name = "DAYS", help_heading = heading::MONITORING)]
    pub cert_crit_days: Option<i64>,

    /// Language of the report's words: en or fr (default: from LC_ALL, LC_MESSAGES or LANG,
    /// else English). Codes in JSON never change.
    #[arg(long, value_name = "LANG", help_heading = heading::OUTPUT)]
    pub lang: Option<crate::i18n::Lang>,
}

impl ValueEnum for Scenario {
    fn value_variants<'a>() -> &'a [Self] {
        &Scenario::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
    }
}

/// How servers are discovered, and how names are resolved.
#[derive(Debug, Clone, Args)]
pub struct DiscoveryArgs {
    /// Send every DNS query (discovery and connections) to this server only: IP or IP:PORT.
    #[arg(long, value_name = "IP[:PORT]", help_heading = heading::DISCOVERY)]
    pub dns_server: Option<NameServer>,

    /// DNSSEC trust anchor: a file of DS or DNSKEY records in zone-file form, replacing the
    /// root's (a private root, a test zone). [default: the root zone's keys]
    #[arg(long, value_name = "FILE", help_heading = heading::DISCOVERY)]
    pub dns_trust_anchor: Option<PathBuf>,

    /// Base URL of the Thunderbird ISPDB (the domain is appended).
    /// [default: https://autoconfig.thunderbird.net/v1.1/]
    #[arg(long, value_name = "URL", help_heading = heading::DISCOVERY)]
    pub ispdb_url: Option<String>,

    /// Deadline of each discovery source (provider table, autoconfig, ISPDB, MX, SRV,
    /// Autodiscover, guessing). [default: 8s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = heading::DISCOVERY)]
    pub discovery_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The mail address (user@domain).
    pub address: String,

    #[command(flatten)]
    pub discovery: DiscoveryArgs,

    /// Trust the CA certificates in this PEM file for https discovery, besides the public roots.
    #[arg(long, value_name = "PEM", help_heading = heading::TLS)]
    pub ca_file: Option<PathBuf>,

    /// Connect to HOST2:PORT2 instead of HOST1:PORT1 (curl syntax), for discovery's HTTP too.
    #[arg(long, value_name = "HOST1:PORT1:HOST2:PORT2", help_heading = heading::TLS)]
    pub connect_to: Vec<ConnectTo>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = heading::OUTPUT)]
    pub format: Format,

    /// When to use colour in the table (NO_COLOR is honoured by `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = heading::OUTPUT)]
    pub color: ColorChoice,

    /// Language of the table's words: en or fr (default: from LC_ALL, LC_MESSAGES or LANG,
    /// else English).
    #[arg(long, value_name = "LANG", help_heading = heading::OUTPUT)]
    pub lang: Option<crate::i18n::Lang>,
}

/// Where and how to probe: the server (or discovery), TLS trust, selection and deadlines.
/// Shared by `probe` and `batch`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Server host name to probe; skips discovery (default: discover the servers).
    #[arg(long, value_name = "HOST", value_parser = ServerName, help_heading = heading::DISCOVERY)]
    pub server: Option<String>,

    /// Do not discover: probe the address's domain itself (or --server).
    #[arg(long, help_heading = heading::DISCOVERY)]
    pub no_discovery: bool,

    /// Send credentials to discovered servers even when they came through an untrusted channel
    /// (http, DNS without DNSSEC, guessing) and lie outside the address's domain.
    #[arg(long, help_heading = heading::DISCOVERY)]
    pub trust_discovered: bool,

    #[command(flatten)]
    pub discovery: DiscoveryArgs,

    /// Name to verify the certificate against and send as SNI (default: the server name).
    #[arg(long, value_name = "NAME", help_heading = heading::TLS)]
    pub tls_name: Option<String>,

    /// Trust the CA certificates in this PEM file, in addition to the public roots.
    #[arg(long, value_name = "PEM", help_heading = heading::TLS)]
    pub ca_file: Option<PathBuf>,

    /// Check the server certificate against the revocation lists (X.509 CRLs) in this PEM file
    /// (repeatable). Only the server's own certificate is checked, and one whose issuer has no
    /// CRL here passes, so a CRL of one CA does not break servers of other CAs. Without it,
    /// revocation is not checked.
    #[arg(long, value_name = "PEM", help_heading = heading::TLS)]
    pub crl_file: Vec<PathBuf>,

    /// Connect to HOST2:PORT2 instead of HOST1:PORT1 (curl syntax; the report keeps HOST1:PORT1).
    #[arg(long, value_name = "HOST1:PORT1:HOST2:PORT2", help_heading = heading::DISCOVERY)]
    pub connect_to: Vec<ConnectTo>,

    /// Probe only these combinations: imap, pop3, smtp, a port, tls/starttls, or imap/993/tls.
    #[arg(long, value_name = "SELECTOR", value_delimiter = ',', help_heading = heading::DISCOVERY)]
    pub only: Vec<Selector>,

    /// Skip these combinations (same selectors as --only).
    #[arg(long, value_name = "SELECTOR", value_delimiter = ',', help_heading = heading::DISCOVERY)]
    pub skip: Vec<Selector>,

    /// Probe every address the server names resolve to (a pool, IPv4 and IPv6), each reported
    /// on its own; default: the first address that connects.
    #[arg(long, help_heading = heading::DISCOVERY)]
    pub each_address: bool,

    /// Use IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6", help_heading = heading::TLS)]
    pub ipv4: bool,

    /// Use IPv6 addresses only.
    #[arg(short = '6', help_heading = heading::TLS)]
    pub ipv6: bool,

    /// Connect timeout per address (e.g. 5s, 800ms). [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = heading::TLS)]
    pub connect_timeout: Option<Duration>,

    /// Timeout of each read and of the TLS handshake. [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = heading::TLS)]
    pub timeout: Option<Duration>,

    /// Deadline for the whole probe of one combination. [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = heading::TLS)]
    pub deadline: Option<Duration>,

    /// Send credentials even when the certificate fails verification.
    #[arg(long, help_heading = heading::CREDENTIALS)]
    pub insecure: bool,

    /// Log in only with this method (default: PLAIN, else LOGIN, else the protocol's command;
    /// with a token OAUTHBEARER, else XOAUTH2): plain, login, or command (IMAP LOGIN, POP3
    /// USER/PASS) for a password; xoauth2 or oauthbearer for a token. Where the server does
    /// not offer it, the login is not attempted.
    #[arg(long, value_enum, value_name = "METHOD", help_heading = heading::CREDENTIALS)]
    pub auth_mechanism: Option<LoginMethodArg>,
}

/// How to sign in with OAuth2: `probe --oauth2`'s settings (which need `--oauth2` there) and
/// `oauth2 sign-in`'s.
#[derive(Debug, Clone, Args)]
pub struct OAuth2Args {
    /// The OAuth2 authorization server (its issuer URL, https); its endpoints are read from its
    /// metadata (RFC 8414 or OpenID Connect discovery).
    #[arg(long, value_name = "URL", help_heading = heading::CREDENTIALS)]
    pub oauth2_issuer: Option<String>,

    /// The OAuth2 client id to sign in as (a public client: no secret).
    #[arg(long, value_name = "ID", help_heading = heading::CREDENTIALS)]
    pub oauth2_client_id: Option<String>,

    /// The environment variable holding the client's secret, for a client registered with one
    /// (Google's desktop clients); sent in the token requests' body, never on the command line
    #[arg(long, value_name = "NAME", help_heading = heading::CREDENTIALS)]
    pub oauth2_client_secret_env: Option<String>,

    /// The Microsoft tenant to sign in at (its id or a domain of it). [default: common;
    /// consumers for Outlook.com addresses]
    #[arg(long, value_name = "TENANT", help_heading = heading::CREDENTIALS)]
    pub oauth2_tenant: Option<String>,

    /// An OAuth2 scope to ask for (repeatable, or several separated by spaces). Default: the
    /// server's.
    #[arg(long, value_name = "SCOPE", help_heading = heading::CREDENTIALS)]
    pub oauth2_scope: Vec<String>,

    /// The OAuth2 flow: device (open a URL on any device, enter a code) or browser (this
    /// machine's browser, redirected back to mailcheck). [default: browser for Google; else
    /// device when the issuer offers it, else browser]
    #[arg(long, value_enum, value_name = "FLOW", help_heading = heading::CREDENTIALS)]
    pub oauth2_flow: Option<OAuth2FlowArg>,

    /// With the browser flow, only print the URL (do not open $BROWSER or the desktop's
    /// browser).
    #[arg(long, help_heading = heading::CREDENTIALS)]
    pub no_browser: bool,

    /// How long the OAuth2 sign-in may take. [default: 5m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = heading::CREDENTIALS)]
    pub oauth2_timeout: Option<Duration>,
}

/// `--oauth2-flow` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OAuth2FlowArg {
    /// The device authorization grant (RFC 8628).
    Device,
    /// The authorization code grant with PKCE in this machine's browser.
    Browser,
}

impl From<OAuth2FlowArg> for crate::oauth2::Flow {
    fn from(a: OAuth2FlowArg) -> Self {
        match a {
            OAuth2FlowArg::Device => Self::Device,
            OAuth2FlowArg::Browser => Self::Browser,
        }
    }
}

/// `--auth-mechanism` values; mapped onto the engine's `plan::LoginMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginMethodArg {
    /// SASL PLAIN.
    Plain,
    /// SASL LOGIN.
    Login,
    /// The protocol's own command: IMAP LOGIN, POP3 USER/PASS.
    Command,
    /// SASL XOAUTH2 (a token).
    Xoauth2,
    /// SASL OAUTHBEARER, RFC 7628 (a token).
    Oauthbearer,
}

impl From<LoginMethodArg> for crate::model::LoginMethod {
    fn from(a: LoginMethodArg) -> Self {
        match a {
            LoginMethodArg::Plain => Self::Plain,
            LoginMethodArg::Login => Self::Login,
            LoginMethodArg::Command => Self::Command,
            LoginMethodArg::Xoauth2 => Self::XOAuth2,
            LoginMethodArg::Oauthbearer => Self::OAuthBearer,
        }
    }
}

#[derive(Debug, Args)]
// The sign-in settings only mean something with --oauth2.
#[command(group(
    clap::ArgGroup::new("oauth2_settings")
        .multiple(true)
        .args(["oauth2_issuer", "oauth2_client_id", "oauth2_scope", "oauth2_flow", "no_browser", "oauth2_timeout"])
        .requires("oauth2")
))]
pub struct ProbeArgs {
    /// The mail address to check (user@domain).
    pub address: String,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Login name (default: the full address).
    #[arg(long, value_name = "NAME", help_heading = heading::CREDENTIALS)]
    pub username: Option<String>,

    /// Read the password from the first line of standard input.
    #[arg(long, help_heading = heading::CREDENTIALS)]
    pub password_stdin: bool,

    /// Run this shell command and use the first line it prints as the password.
    #[arg(long, value_name = "COMMAND", help_heading = heading::CREDENTIALS)]
    pub password_command: Option<String>,

    /// Run this shell command and use the first line it prints as an OAuth2 access token
    /// (also: MAILCHECK_OAUTH2_TOKEN).
    #[arg(long, value_name = "COMMAND", help_heading = heading::CREDENTIALS)]
    pub oauth2_token_command: Option<String>,

    /// Sign in with OAuth2 first (device flow: open the URL shown on any device and enter the
    /// code), then log in everywhere with the token. The issuer, client id and scopes come
    /// from the flags below, else the provider table (Microsoft, Google), else discovery's
    /// <oAuth2> or PACC document; the client is registered at the issuer when it allows it.
    #[arg(
        long,
        conflicts_with_all = ["password_stdin", "password_command", "oauth2_token_command"],
        help_heading = heading::CREDENTIALS
    )]
    pub oauth2: bool,

    #[command(flatten)]
    pub oauth2_with: OAuth2Args,

    /// When nothing else names the OAuth2 issuer, ask the mail server: an OAUTHBEARER attempt
    /// with a dummy token, whose error may name the issuer (RFC 7628 `openid-configuration`).
    /// Counts as one refused login at the server; believed only over TLS with a valid
    /// certificate
    #[arg(long, requires = "oauth2", help_heading = heading::CREDENTIALS)]
    pub oauth2_issuer_from_server: bool,

    /// Never prompt for a password, even on a terminal.
    #[arg(long, help_heading = heading::CREDENTIALS)]
    pub no_prompt: bool,

    /// Also offer TLS 1.0/1.1 alone to each implicit-TLS port (993, 995, 465): one more
    /// connection per port; a server that takes them gets a warning.
    #[arg(long, help_heading = heading::TLS)]
    pub check_legacy_tls: bool,

    /// Print the settings card (what to type into a mail client, every line proven) instead
    /// of the table.
    #[arg(long, conflicts_with = "format", help_heading = heading::OUTPUT)]
    pub card: bool,

    /// Form of the settings card: text, thunderbird (a config-v1.1.xml) or mobileconfig (an
    /// Apple profile, without the password). Implies --card.
    #[arg(long, value_enum, value_name = "FORM", conflicts_with = "format", help_heading = heading::OUTPUT)]
    pub card_format: Option<CardFormatArg>,

    /// Warn when a certificate expires within this many days.
    /// [default: 21, or --cert-crit-days when that is higher]
    #[arg(long, value_name = "DAYS", help_heading = heading::MONITORING)]
    pub cert_warn_days: Option<i64>,

    /// After the probe, send a test message through the best working outgoing setting to the
    /// account itself, wait for it in the best working mailbox (IMAP, else POP3), report the
    /// delivery time and hops, and delete it (that message only). Needs a password or token.
    #[arg(long, help_heading = heading::ROUND_TRIP)]
    pub round_trip: bool,

    /// Send the round-trip message to this address instead; it must lead back to the checked
    /// mailbox (an alias, a forward), where mailcheck looks for it.
    #[arg(long, value_name = "ADDRESS", requires = "round_trip", help_heading = heading::ROUND_TRIP)]
    pub round_trip_to: Option<String>,

    /// How long to wait for the round-trip message once the outgoing server accepted it.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, help_heading = heading::ROUND_TRIP)]
    pub round_trip_timeout: Duration,

    /// Leave the round-trip message in the mailbox instead of deleting it.
    #[arg(long, requires = "round_trip", help_heading = heading::ROUND_TRIP)]
    pub keep: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CardFormatArg {
    Text,
    Thunderbird,
    Mobileconfig,
}

impl ProbeArgs {
    /// The settings card asked for, if any (`--card-format` implies `--card`).
    pub fn card_format(&self) -> Option<crate::report::card::CardFormat> {
        use crate::report::card::CardFormat;
        match (self.card_format, self.card) {
            (Some(CardFormatArg::Text), _) | (None, true) => Some(CardFormat::Text),
            (Some(CardFormatArg::Thunderbird), _) => Some(CardFormat::Thunderbird),
            (Some(CardFormatArg::Mobileconfig), _) => Some(CardFormat::Mobileconfig),
            (None, false) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour stdout: decided once per run, here. `auto` means a terminal that is
    /// not `dumb`, and no `NO_COLOR`.
    pub fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }
}

/// `--server`: a host name or IP literal, checked as every server setting is (no port, no
/// URL). Its own error, because clap's would repeat the value whole (even 10 KB of it).
#[derive(Debug, Clone, Copy)]
struct ServerName;

impl clap::builder::TypedValueParser for ServerName {
    type Value = String;
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let bad = |message: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message + "\n").with_cmd(cmd)
        };
        let s = value
            .to_str()
            .ok_or_else(|| bad("--server: not valid UTF-8".into()))?;
        crate::account::check_host("--server", s.trim()).map_err(|e| bad(e.to_string()))?;
        Ok(s.to_string())
    }
}

/// `5`, `5s`, `800ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 5s, 800ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m)")),
    };
    if !(secs > 0.0 && secs < 86_400.0) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("800ms").unwrap(), Duration::from_millis(800));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// The defaults live in settings.rs and `Limits::default()`; the help text says them in
    /// words (the flags are `Option`s, so clap cannot show them itself). Every "[default: …]"
    /// of every subcommand must say the value the code uses.
    #[test]
    fn the_help_says_the_defaults_the_code_uses() {
        use clap::CommandFactory;
        let limits = crate::model::Limits::default();
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let expected: Vec<(&str, String)> = vec![
            ("connect_timeout", secs(limits.connect_timeout)),
            ("timeout", secs(limits.step_timeout)),
            ("deadline", secs(limits.target_timeout)),
            ("ispdb_url", crate::settings::DEFAULT_ISPDB_URL.to_string()),
            (
                "discovery_timeout",
                secs(crate::settings::DEFAULT_DISCOVERY_TIMEOUT),
            ),
            ("dns_trust_anchor", "the root zone's keys".to_string()),
            (
                "oauth2_timeout",
                format!("{}m", crate::oauth2::DEFAULT_TIMEOUT.as_secs() / 60),
            ),
            (
                "oauth2_flow",
                "browser for Google; else device when the issuer offers it, else browser"
                    .to_string(),
            ),
            ("oauth2_tenant", {
                let tenant = |id: &str| {
                    crate::discover::providers::all()
                        .iter()
                        .find(|p| p.id == id)
                        .and_then(|p| p.oauth2.as_ref()?.tenant.clone())
                        .unwrap_or_default()
                };
                format!(
                    "{}; {} for Outlook.com addresses",
                    tenant("microsoft-365"),
                    tenant("outlook-com")
                )
            }),
            (
                "cert_warn_days",
                format!(
                    "{}, or --cert-crit-days when that is higher",
                    crate::settings::DEFAULT_CERT_WARN_DAYS
                ),
            ),
        ];
        fn walk(cmd: &clap::Command, expected: &[(&str, String)], seen: &mut usize) {
            for arg in cmd.get_arguments() {
                let help = arg
                    .get_long_help()
                    .or(arg.get_help())
                    .map(|h| h.to_string());
                let Some(said) = help.as_deref().and_then(|h| h.split("[default: ").nth(1)) else {
                    continue;
                };
                let said = said
                    .split(']')
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let id = arg.get_id().as_str();
                let want = expected
                    .iter()
                    .find(|(name, _)| *name == id)
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: --{id} says a default this test does not know",
                            cmd.get_name()
                        )
                    });
                assert_eq!(said, want.1, "{}: --{id}", cmd.get_name());
                *seen += 1;
            }
            for sub in cmd.get_subcommands() {
                walk(sub, expected, seen);
            }
        }
        let mut seen = 0;
        walk(&Cli::command(), &expected, &mut seen);
        assert!(
            seen >= expected.len(),
            "only {seen} defaults found in the help"
        );
    }
}
