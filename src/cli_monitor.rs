//! Command-line definitions of the machine-facing subcommands (issue 6): `check`, `batch`,
//! `serve`, `completions`, `man`. Definitions only; `check::cli` and `serve` validate them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::cli::{heading, parse_duration, ColorChoice};

/// Counts of connections or accounts at once: 0 would run nothing (and hang), so clap refuses
/// it as bad usage (exit 3), as the checks file does.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// Output formats of `probe`, `check` and `batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MonitorFormat {
    /// For people: the full table (probe), one line per account as it finishes (check, batch).
    Table,
    /// One JSON document (probe: the documented schema; check, batch: all accounts at the end).
    Json,
    /// One JSON object per account, one per line, as each finishes.
    Jsonl,
    /// Nagios / Icinga plugin output (status line, long output, perfdata).
    Nagios,
    /// JUnit XML: one test case per combination and per expectation.
    Junit,
    /// Prometheus text exposition format.
    Prometheus,
}

impl From<MonitorFormat> for crate::report::monitor::MonitorFormat {
    fn from(f: MonitorFormat) -> Self {
        use crate::report::monitor::MonitorFormat as F;
        match f {
            MonitorFormat::Table => F::Table,
            MonitorFormat::Json => F::Json,
            MonitorFormat::Jsonl => F::Jsonl,
            MonitorFormat::Nagios => F::Nagios,
            MonitorFormat::Junit => F::Junit,
            MonitorFormat::Prometheus => F::Prometheus,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The checks file (TOML): accounts, where their credentials come from, expectations.
    #[arg(
        long,
        short = 'f',
        value_name = "FILE",
        default_value = "mailcheck.toml"
    )]
    pub config: PathBuf,

    /// Check only the accounts with these names (repeatable).
    #[arg(long, value_name = "NAME")]
    pub account: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = MonitorFormat::Table, help_heading = heading::OUTPUT)]
    pub format: MonitorFormat,

    #[command(flatten)]
    pub pacing: PacingArgs,

    /// When to use colour (NO_COLOR is honoured by `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = heading::OUTPUT)]
    pub color: ColorChoice,
}

#[derive(Debug, Args, Clone)]
pub struct PacingArgs {
    /// Connections at once in total, and accounts in progress at once (default: the checks
    /// file's `concurrency`, else 16).
    #[arg(long, value_name = "N", value_parser = at_least_one(), help_heading = heading::PACING)]
    pub concurrency: Option<usize>,

    /// Connections at once to one server host (default: the checks file's `per_host`, else 4).
    #[arg(long, value_name = "N", value_parser = at_least_one(), help_heading = heading::PACING)]
    pub per_host: Option<usize>,

    /// Never show a progress bar (it is only ever shown when stderr is a terminal).
    #[arg(long, help_heading = heading::PACING)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Mail addresses to check.
    #[arg(value_name = "ADDRESS")]
    pub addresses: Vec<String>,

    /// Read more addresses from this file, one per line (`-`: standard input; `#` comments).
    #[arg(long = "from", value_name = "FILE")]
    pub from: Option<PathBuf>,

    #[command(flatten)]
    pub target: crate::cli::TargetArgs,

    /// Run this shell command once per address, with MAILCHECK_ADDRESS set to the address, and
    /// use the first line it prints as that address's password (no output: no login test).
    #[arg(long, value_name = "COMMAND", help_heading = heading::CREDENTIALS)]
    pub password_command: Option<String>,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    #[command(flatten)]
    pub pacing: PacingArgs,

    /// Output format (`jsonl` streams one line per address as it finishes).
    #[arg(long, value_enum, default_value_t = MonitorFormat::Table, help_heading = heading::OUTPUT)]
    pub format: MonitorFormat,

    /// When to use colour (NO_COLOR is honoured by `auto`).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, help_heading = heading::OUTPUT)]
    pub color: ColorChoice,
}

/// Thresholds of the monitoring formats (also in the checks file).
#[derive(Debug, Args, Clone)]
pub struct ThresholdArgs {
    /// Warning when a step (connect, TLS, greeting, login...) takes longer than this.
    #[arg(short = 'w', long = "warning", value_name = "DURATION", value_parser = parse_duration, help_heading = heading::MONITORING)]
    pub warning: Option<Duration>,

    /// Critical when a step takes longer than this.
    #[arg(short = 'c', long = "critical", value_name = "DURATION", value_parser = parse_duration, help_heading = heading::MONITORING)]
    pub critical: Option<Duration>,

    /// Warning when a certificate expires within this many days.
    /// [default: 21, or --cert-crit-days when that is higher]
    #[arg(long, value_name = "DAYS", help_heading = heading::MONITORING)]
    pub cert_warn_days: Option<i64>,

    /// Critical when a certificate expires within this many days.
    #[arg(long, value_name = "DAYS", help_heading = heading::MONITORING)]
    pub cert_crit_days: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Keep it on loopback, or use --web-config (TLS, basic auth):
    /// /probe makes this machine connect to mail servers.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9728")]
    pub listen: SocketAddr,

    /// A Prometheus exporter-toolkit web configuration (YAML: tls_server_config,
    /// basic_auth_users with bcrypt hashes): HTTPS only, basic auth on every path. Read again
    /// on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,

    /// Connections at once; past it the oldest idle connection is closed, or, when none is
    /// idle, the new one is refused.
    #[arg(long, value_name = "N", value_parser = at_least_one(), default_value_t = 512)]
    pub max_connections: usize,

    /// A connection that is not running a request (idle, keep-alive, or still sending its
    /// request) is closed after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// The checks file whose modules and accounts /probe may use.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A target (address or domain, glob: *@example.com, *.example.org) a request may name
    /// beyond the checks file's accounts and the modules that name their server; repeatable.
    /// Without it, /probe makes this machine connect only where the checks file says.
    #[arg(long, value_name = "PATTERN")]
    pub allow_target: Vec<String>,

    /// Longest a probe may take; shortened to the scrape timeout Prometheus sends
    /// (X-Prometheus-Scrape-Timeout-Seconds) minus half a second.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// Connections at once in total over all scrapes.
    #[arg(long, value_name = "N", value_parser = at_least_one(), default_value_t = 64)]
    pub concurrency: usize,

    /// Connections at once to one server host over all scrapes.
    #[arg(long, value_name = "N", value_parser = at_least_one(), default_value_t = crate::probe::pace::DEFAULT_PER_HOST)]
    pub per_host: usize,

    /// After a server refuses an account's secret, report that refusal (with its age) instead
    /// of trying the same secret again for this long, whoever scrapes: retries and several
    /// Prometheus servers must not lock the account out. A changed secret is tried at once.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub auth_backoff: Duration,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
