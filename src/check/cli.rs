//! `check`, `batch`, `completions` and `man`: from arguments to accounts, a paced concurrent
//! run with results streamed as they finish, and the chosen format on stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::CommandFactory;

use super::config::ChecksFile;
use super::expect::Expectations;
use super::output::{streams, write_all, write_one, write_summary};
use super::{run_accounts, AccountResult, AccountSpec, CredentialSpec, DiscoverySpec, Tally};
use crate::account::{Address, SecretSource};
use crate::cli::{Cli, ColorChoice};
use crate::cli_monitor::{BatchArgs, CheckArgs, CompletionsArgs, MonitorFormat, PacingArgs};
use crate::outcome::Status;
use crate::plan::Combination;
use crate::probe::pace::{Pacer, DEFAULT_PER_HOST};
use crate::runner::ProbeSettings;

/// Accounts in progress (and connections in total) at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

fn color_on(c: ColorChoice) -> bool {
    match c {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

fn ignore_broken_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

/// Run the accounts with a progress bar on a terminal (stderr) and streamed output.
fn run_and_print(
    specs: Vec<AccountSpec>,
    concurrency: usize,
    per_host: usize,
    pacing: &PacingArgs,
    fmt: MonitorFormat,
    color: bool,
) -> Result<Status> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let bar = if !pacing.no_progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(specs.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} accounts {elapsed} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let pacer = Arc::new(Pacer::new(per_host, Some(concurrency)));
    let stdout = std::io::stdout();
    let streamed = streams(fmt);
    let mut write_err: Option<std::io::Error> = None;
    // A streamed format writes each result as it finishes and keeps only its status, so a
    // long batch does not grow with its results; the others need them all, in list order.
    let mut tally = Tally::default();
    let mut kept: Vec<Option<AccountResult>> = vec![];
    if !streamed {
        kept.resize_with(specs.len(), || None);
    }
    runtime.block_on(run_accounts(specs, concurrency, pacer, |i, r| {
        bar.inc(1);
        bar.set_message(r.account.clone());
        tally.add(r.status);
        if !streamed {
            kept[i] = Some(r);
        } else if write_err.is_none() {
            bar.suspend(|| {
                if let Err(e) = write_one(&mut stdout.lock(), fmt, &r, color) {
                    write_err = Some(e);
                }
            });
        }
    }));
    bar.finish_and_clear();
    if let Some(e) = write_err {
        ignore_broken_pipe(Err(e))?;
        return Ok(tally.overall());
    }
    let mut out = stdout.lock();
    let written = if streamed {
        write_summary(&mut out, fmt, &tally, color)
    } else {
        let results: Vec<AccountResult> = kept.into_iter().flatten().collect();
        write_all(&mut out, fmt, &results, color)
    };
    ignore_broken_pipe(written.and_then(|_| out.flush()))?;
    Ok(tally.overall())
}

pub fn check(args: CheckArgs) -> Result<Status> {
    let file = ChecksFile::load(&args.config)?;
    let mut specs = file.accounts.clone();
    if !args.account.is_empty() {
        for name in &args.account {
            if !specs.iter().any(|s| &s.name == name) {
                bail!("{}: no account named {name:?}", args.config.display());
            }
        }
        specs.retain(|s| args.account.contains(&s.name));
    }
    if specs.is_empty() {
        bail!("{}: no [[account]] to check", args.config.display());
    }
    let concurrency = args
        .pacing
        .concurrency
        .or(file.concurrency)
        .unwrap_or(DEFAULT_CONCURRENCY);
    let per_host = args
        .pacing
        .per_host
        .or(file.per_host)
        .unwrap_or(DEFAULT_PER_HOST);
    run_and_print(
        specs,
        concurrency,
        per_host,
        &args.pacing,
        args.format,
        color_on(args.color),
    )
}

/// Addresses from the arguments and `--from` (one per line, `#` comments, `-` = stdin).
fn addresses(args: &BatchArgs) -> Result<Vec<Address>> {
    let mut out = vec![];
    for a in &args.addresses {
        out.push(Address::parse(a)?);
    }
    if let Some(path) = &args.from {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(path).with_context(|| format!("{}", path.display()))?,
            ))
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            out.push(
                Address::parse(line).with_context(|| format!("{}:{}", path.display(), i + 1))?,
            );
        }
    }
    if out.is_empty() {
        bail!("no address to check: give addresses or --from FILE");
    }
    Ok(out)
}

pub fn batch(args: BatchArgs) -> Result<Status> {
    let policy = args.target.policy(false, false)?;
    let url = args.target.discovery.ispdb_url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("--ispdb-url {url:?}: expected an http(s) URL");
    }
    let discovery = args.target.discovering().then(|| DiscoverySpec {
        ispdb_url: url.to_string(),
        timeout: args.target.discovery.discovery_timeout,
        trust_discovered: args.target.trust_discovered,
        username: None,
    });
    let t = &args.thresholds;
    let expectations = Expectations::thresholds(
        t.warning,
        t.critical,
        Some(t.cert_warn_days()),
        t.cert_crit_days,
    );
    expectations
        .check_thresholds()
        .map_err(|e| anyhow::anyhow!("{e} (-w/-c, --cert-warn-days/--cert-crit-days)"))?;
    let credential = match &args.password_command {
        Some(c) => CredentialSpec::LookupCommand(c.clone()),
        None => CredentialSpec::None,
    };
    let mut specs = vec![];
    for address in addresses(&args)? {
        let host = args.target.host(&address)?;
        let settings = ProbeSettings {
            host,
            protocol_hosts: vec![],
            tls_name: args.target.tls_name.clone(),
            username: address.ascii(),
            combinations: Combination::DOCUMENTED.to_vec(),
            only: args.target.only.clone(),
            skip: args.target.skip.clone(),
            connect_to: args.target.connect_to.clone(),
            policy: policy.clone(),
            cert_warn_days: t.cert_warn_days(),
            credential: None,
            credential_source: SecretSource::None,
            discovered: None,
            address: address.clone(),
        };
        settings.plan()?;
        specs.push(AccountSpec {
            name: address.to_string(),
            settings,
            credential: credential.clone(),
            expectations: expectations.clone(),
            discovery: discovery.clone(),
        });
    }
    let concurrency = args.pacing.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let per_host = args.pacing.per_host.unwrap_or(DEFAULT_PER_HOST);
    run_and_print(
        specs,
        concurrency,
        per_host,
        &args.pacing,
        args.format,
        color_on(args.color),
    )
}

pub fn completions(args: CompletionsArgs) -> Result<Status> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "mailcheck", &mut out);
    ignore_broken_pipe(std::io::stdout().lock().write_all(&out))?;
    Ok(Status::Ok)
}

pub fn man() -> Result<Status> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the man page")?;
    // One page: the subcommands' own options follow the main page.
    for sub in Cli::command().get_subcommands() {
        // clap wants a 'static name; this process prints one page and exits.
        let name: &'static str =
            Box::leak(format!("mailcheck-{}", sub.get_name()).into_boxed_str());
        clap_mangen::Man::new(sub.clone().name(name))
            .render(&mut out)
            .context("rendering the man page")?;
    }
    ignore_broken_pipe(std::io::stdout().lock().write_all(&out))?;
    Ok(Status::Ok)
}
