//! From validated command-line arguments to a plan, a run and a report on stdout.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Context, Result};

use crate::account::{self, Address, CredentialRequest, SecretSource};
use crate::cli::{ColorChoice, Command, DiscoverArgs, DiscoveryArgs, Format, ProbeArgs};
use crate::cli_monitor::MonitorFormat;
use crate::diagnose::Status;
use crate::discover::{self, DiscoveryConfig, DiscoveryReport, TargetOptions};
use crate::net::resolver::Resolver;
use crate::plan::{Combination, ConnectTo, IpFamily, Limits, Policy, TargetSpec};
use crate::report;
use crate::runner::ProbeSettings;

pub fn run(command: Command) -> Result<Status> {
    match command {
        Command::Probe(args) => probe(args),
        Command::Discover(args) => discover_only(args),
        Command::Check(args) => crate::check::cli::check(args),
        Command::Batch(args) => crate::check::cli::batch(args),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Completions(args) => crate::check::cli::completions(args),
        Command::Man => crate::check::cli::man(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

fn check_ca_file(ca: Option<&std::path::Path>) -> Result<()> {
    if let Some(ca) = ca {
        if !ca.is_file() {
            bail!("--ca-file {}: no such file", ca.display());
        }
    }
    Ok(())
}

fn discovery_config(
    d: &DiscoveryArgs,
    resolver: &Resolver,
    ca_file: Option<&std::path::Path>,
    connect_to: &[ConnectTo],
) -> Result<DiscoveryConfig> {
    let url = d.ispdb_url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--ispdb-url {url:?}: expected an http(s) URL");
    }
    Ok(DiscoveryConfig {
        resolver: resolver.clone(),
        ca_file: ca_file.map(|p| p.to_path_buf()),
        ispdb_url: url.to_string(),
        timeout: d.discovery_timeout,
        connect_to: connect_to.to_vec(),
    })
}

fn write_out(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match f(&mut out).and_then(|_| out.flush()) {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

/// `mailcheck discover`: discovery alone. Exit 0 when some server was found, 2 when none.
fn discover_only(args: DiscoverArgs) -> Result<Status> {
    let address = Address::parse(&args.address)?;
    check_ca_file(args.ca_file.as_deref())?;
    let resolver = Resolver::from_option(
        args.discovery.dns_server.map(|n| n.0),
        args.discovery.discovery_timeout,
    );
    let cfg = discovery_config(
        &args.discovery,
        &resolver,
        args.ca_file.as_deref(),
        &args.connect_to,
    )?;
    let report = runtime()?.block_on(discover::discover(&address, &cfg))?;
    let status = if report.selected.is_empty() {
        Status::Critical
    } else {
        Status::Ok
    };
    let color = use_color(args.color);
    write_out(|out| match args.format {
        Format::Json => report::discovery::write_json(out, &report),
        Format::Table => report::discovery::write_table(out, &report, color),
    })?;
    Ok(status)
}

/// Why discovery gave nothing, one source per clause.
fn nothing_found(r: &DiscoveryReport) -> String {
    let why: Vec<String> = r
        .sources
        .iter()
        .map(|s| format!("{}: {} ({})", s.source.name(), s.status.name(), s.detail))
        .collect();
    format!(
        "no server found for {}: {}. Give one with --server HOST",
        r.domain,
        why.join("; ")
    )
}

fn probe(args: ProbeArgs) -> Result<Status> {
    let runtime = runtime()?;
    let settings = probe_settings(&args, &runtime)?;
    let report = runtime.block_on(crate::runner::probe_once(&settings, None))?;

    let color = use_color(args.color);
    let mut status = report.status;
    write_out(|out| match args.format {
        MonitorFormat::Json => report::json::write(out, &report),
        MonitorFormat::Table => report::table::write(out, &report, color),
        // The monitoring formats judge the thresholds too (-w/-c, certificate days).
        fmt => {
            let result = crate::check::AccountResult::from_probe(
                report,
                crate::check::expect::Expectations::thresholds(
                    args.warning,
                    args.critical,
                    Some(args.cert_warn_days),
                    args.cert_crit_days,
                ),
            );
            status = result.status;
            crate::check::output::write_all(out, fmt, &[result], false)
        }
    })?;
    Ok(status)
}

/// Validate `probe`'s arguments into settings: discovery when no --server is given, then the
/// credential (never from argv; withheld from untrusted discovered servers).
pub fn probe_settings(
    args: &ProbeArgs,
    runtime: &tokio::runtime::Runtime,
) -> Result<ProbeSettings> {
    let address = Address::parse(&args.address)?;
    let discovering = args.server.is_none() && !args.no_discovery;
    let host = match &args.server {
        Some(s) => s.trim().trim_end_matches('.').to_string(),
        None => address.domain.clone(),
    };
    if host.is_empty() {
        bail!("--server is empty");
    }
    check_ca_file(args.ca_file.as_deref())?;
    let resolver =
        Resolver::from_option(args.discovery.dns_server.map(|n| n.0), args.connect_timeout);
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
        resolver: resolver.clone(),
    };
    let (targets, mut discovery) = if discovering {
        let cfg = discovery_config(
            &args.discovery,
            &resolver,
            args.ca_file.as_deref(),
            &args.connect_to,
        )?;
        let found = runtime.block_on(discover::discover(&address, &cfg))?;
        if found.selected.is_empty() {
            bail!("{}", nothing_found(&found));
        }
        let targets = discover::targets(
            &found,
            &TargetOptions {
                tls_name: args.tls_name.as_deref(),
                username: args.username.as_deref(),
                only: &args.only,
                skip: &args.skip,
                connect_to: &args.connect_to,
            },
        );
        (targets, Some(found))
    } else {
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
        (targets, None)
    };
    if targets.is_empty() {
        bail!("--only/--skip leave no combination to probe");
    }

    // Credentials go to discovered servers outside the address's domain only when the channel
    // that named them is trusted, or the user says so.
    let risky: Vec<String> = discovery
        .as_ref()
        .map(|d| {
            d.selected
                .iter()
                .filter(|c| !c.trusted && !discover::within(&c.host, &d.domain))
                .map(|c| c.host.clone())
                .collect()
        })
        .unwrap_or_default();
    let withhold = !risky.is_empty() && !args.trust_discovered;
    let (credential, source) = if withhold {
        if let Some(d) = discovery.as_mut() {
            let mut hosts = risky.clone();
            hosts.dedup();
            d.notes.push(format!(
                "credentials withheld: {} came through an untrusted channel and lie outside {}; \
                 check them, then rerun with --trust-discovered or --server HOST",
                hosts.join(", "),
                d.domain
            ));
        }
        (None, SecretSource::None)
    } else {
        account::obtain(
            &CredentialRequest {
                password_stdin: args.password_stdin,
                password_command: args.password_command.clone(),
                oauth2_token_command: args.oauth2_token_command.clone(),
                no_prompt: args.no_prompt,
            },
            &username,
        )?
    };
    Ok(ProbeSettings {
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
        credential,
        credential_source: source,
        discovered: discovery.map(|d| (targets, d)),
    })
}
