//! From validated command-line arguments to a plan, a run and a report on stdout.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};

use crate::account::{self, Address, CredentialRequest};
use crate::cli::{ColorChoice, Command, Format, ProbeArgs};
use crate::cli_monitor::MonitorFormat;
use crate::diagnose::Status;
use crate::plan::{Combination, IpFamily, Limits, Policy};
use crate::report;
use crate::runner::ProbeSettings;

pub fn run(command: Command) -> Result<Status> {
    match command {
        Command::Probe(args) => probe(args),
        Command::Check(args) => crate::check::cli::check(args),
        Command::Batch(args) => crate::check::cli::batch(args),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Completions(args) => crate::check::cli::completions(args),
        Command::Man => crate::check::cli::man(),
    }
}

fn probe(args: ProbeArgs) -> Result<Status> {
    let settings = probe_settings(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(crate::runner::probe_once(&settings, None))?;

    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let status = report.status;
    let (written, status) = match args.format {
        Format::Json => (report::json::write(&mut out, &report), status),
        Format::Table => (report::table::write(&mut out, &report, color), status),
        // The monitoring formats judge the thresholds too (-w/-c, certificate days).
        other => {
            let fmt = match other {
                Format::Jsonl => MonitorFormat::Jsonl,
                Format::Nagios => MonitorFormat::Nagios,
                Format::Junit => MonitorFormat::Junit,
                _ => MonitorFormat::Prometheus,
            };
            let result = crate::check::AccountResult::from_probe(
                report,
                crate::check::expect::Expectations::thresholds(
                    args.warning,
                    args.critical,
                    Some(args.cert_warn_days),
                    args.cert_crit_days,
                ),
            );
            let status = result.status;
            (
                crate::check::output::write_all(&mut out, fmt, &[result], false),
                status,
            )
        }
    };
    match written.and_then(|_| out.flush()) {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(status)
}

/// Validate `probe`'s arguments into settings, reading the credential (never from argv).
pub fn probe_settings(args: &ProbeArgs) -> Result<ProbeSettings> {
    let address = Address::parse(&args.address)?;
    let host = match &args.server {
        Some(s) => s.trim().trim_end_matches('.').to_string(),
        None => address.domain.clone(),
    };
    if host.is_empty() {
        bail!("--server is empty");
    }
    if let Some(ca) = &args.ca_file {
        if !ca.is_file() {
            bail!("--ca-file {}: no such file", ca.display());
        }
    }
    let username = args.username.clone().unwrap_or_else(|| address.ascii());
    let policy = Policy {
        limits: Limits {
            connect_timeout: args.connect_timeout,
            step_timeout: args.timeout,
            target_timeout: args.deadline,
            ..Limits::default()
        },
        family: match (args.ipv4, args.ipv6) {
            (true, _) => IpFamily::V4,
            (_, true) => IpFamily::V6,
            _ => IpFamily::Any,
        },
        ca_file: args.ca_file.clone(),
        insecure: args.insecure,
        trace: args.trace,
    };
    let mut settings = ProbeSettings {
        address,
        host,
        tls_name: args.tls_name.clone(),
        username,
        combinations: Combination::DOCUMENTED.to_vec(),
        only: args.only.clone(),
        skip: args.skip.clone(),
        connect_to: args.connect_to.clone(),
        policy,
        cert_warn_days: args.cert_warn_days,
        credential: None,
        credential_source: crate::account::SecretSource::None,
    };
    // Checked before any secret is read.
    settings.plan()?;
    let (credential, source) = account::obtain(
        &CredentialRequest {
            password_stdin: args.password_stdin,
            password_command: args.password_command.clone(),
            oauth2_token_command: args.oauth2_token_command.clone(),
            no_prompt: args.no_prompt,
        },
        &settings.username,
    )?;
    settings.credential = credential;
    settings.credential_source = source;
    Ok(settings)
}
