//! From validated command-line arguments to a plan, a run and a report on stdout.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::account::{self, Address, Credential, CredentialRequest};
use crate::cli::{ColorChoice, Command, Format, ProbeArgs};
use crate::diagnose::Status;
use crate::plan::{Combination, IpFamily, Limits, Plan, Policy, TargetSpec};
use crate::report::{self, CredentialInfo, CredentialKind, RunInput, RunReport};

pub fn run(command: Command) -> Result<Status> {
    match command {
        Command::Probe(args) => probe(args),
    }
}

fn probe(args: ProbeArgs) -> Result<Status> {
    crate::i18n::Lang::set_current(args.lang.unwrap_or_else(crate::i18n::Lang::from_env));
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
    let targets = TargetSpec {
        host: &host,
        tls_name: args.tls_name.as_deref(),
        username: &username,
        combinations: &Combination::DOCUMENTED,
        only: &args.only,
        skip: &args.skip,
        connect_to: &args.connect_to,
    }
    .targets();
    if targets.is_empty() {
        bail!("--only/--skip leave no combination to probe");
    }
    let plan = Plan { targets, policy };

    let (credential, source) = account::obtain(
        &CredentialRequest {
            password_stdin: args.password_stdin,
            password_command: args.password_command.clone(),
            oauth2_token_command: args.oauth2_token_command.clone(),
            no_prompt: args.no_prompt,
        },
        &username,
    )?;
    let kind = match &credential {
        Some(Credential::Password(_)) => CredentialKind::Password,
        Some(Credential::OAuth2Token(_)) => CredentialKind::Oauth2Token,
        None => CredentialKind::None,
    };

    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let reports = runtime.block_on(crate::probe::run(&plan, credential))?;
    let report = RunReport::build(
        RunInput {
            address: address.to_string(),
            server: host,
            started_at,
            elapsed_ms: t0.elapsed().as_millis() as u64,
            credential: CredentialInfo { kind, source },
            cert_warn_days: args.cert_warn_days,
        },
        reports,
    );

    if let Some(card) = args.card_format() {
        report::card::print(&report, card)?;
        return Ok(report.status);
    }

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
    let written = match args.format {
        Format::Json => report::json::write(&mut out, &report),
        Format::Table => report::table::write(&mut out, &report, color),
    }
    .and_then(|_| out.flush());
    match written {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing the report")?,
    }
    Ok(report.status)
}
