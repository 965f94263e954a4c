//! `check`, `batch`, `completions` and `man`: from arguments to accounts, a paced concurrent
//! run with results streamed as they finish, and the chosen format on stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::CommandFactory;

use super::config::ChecksFile;
use crate::cli::Cli;
use crate::cli_monitor::{BatchArgs, CheckArgs, CompletionsArgs, PacingArgs};
use crate::engine::run_accounts;
use crate::outcome::Status;
use crate::probe::pace::{Pacer, DEFAULT_PER_HOST};
use crate::report::account::{AccountResult, Tally};
use crate::report::monitor::{streams, write_all, write_one, write_summary, MonitorFormat};
use crate::settings::{CredentialSpec, Given, Settings};

/// Accounts in progress (and connections in total) at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

fn ignore_broken_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

/// Run the accounts with a progress bar on a terminal (stderr) and streamed output.
fn run_and_print(
    specs: Vec<Settings>,
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
    let shared = crate::engine::Shared {
        pacer: Some(pacer),
        ..Default::default()
    };
    runtime.block_on(run_accounts(specs, concurrency, shared, |i, r| {
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
        args.format.into(),
        args.color.enabled(),
    )
}

/// Addresses from the arguments and `--from` (one per line, `#` comments, `-` = stdin), each
/// with where it came from.
fn addresses(args: &BatchArgs) -> Result<Vec<Given<String>>> {
    let mut out = vec![];
    for a in &args.addresses {
        out.push(Given::flag(a.clone(), "ADDRESS"));
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
            let column = 1 + line.len() - line.trim_start().len();
            out.push(Given::new(
                line.trim().to_string(),
                crate::settings::Origin::File {
                    path: path.display().to_string(),
                    line: i + 1,
                    column,
                },
            ));
        }
    }
    if out.is_empty() {
        bail!("no address to check: give addresses or --from FILE");
    }
    Ok(out)
}

/// `batch`'s flags and addresses as one account's settings each.
pub fn batch_settings(args: &BatchArgs) -> Result<Vec<Settings>> {
    let credential = match &args.password_command {
        Some(c) => CredentialSpec::LookupCommand(c.clone()),
        None => CredentialSpec::None,
    };
    let t = &args.thresholds;
    let mut specs = vec![];
    for address in addresses(args)? {
        let mut b = args.target.builder(&address.value);
        b.address = Some(address);
        b.credential = Some(credential.clone());
        b.warn_response = t.warning.map(|w| Given::flag(w, "-w"));
        b.max_response = t.critical.map(|c| Given::flag(c, "-c"));
        b.warn_cert_days = t.cert_warn_days.map(|d| Given::flag(d, "--cert-warn-days"));
        b.min_cert_days = t.cert_crit_days.map(|d| Given::flag(d, "--cert-crit-days"));
        b.cert_days_always_judged = true;
        specs.push(b.build()?);
    }
    Ok(specs)
}

pub fn batch(args: BatchArgs) -> Result<Status> {
    let specs = batch_settings(&args)?;
    let concurrency = args.pacing.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let per_host = args.pacing.per_host.unwrap_or(DEFAULT_PER_HOST);
    run_and_print(
        specs,
        concurrency,
        per_host,
        &args.pacing,
        args.format.into(),
        args.color.enabled(),
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
