//! `check`, `batch`, `completions` and `man`: from arguments to accounts, a paced concurrent
//! run with results streamed as they finish, and the chosen format on stdout.

use std::io::{IsTerminal, Read, Write};
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
use crate::settings::{CertWarn, CredentialSpec, Given, Origin, Settings};

/// Accounts in progress (and connections in total) at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

fn ignore_broken_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

/// Run the accounts with a progress bar on a terminal (stderr) and streamed output. Refused
/// accounts (a bad line of a batch) are results at once, in their place in the list.
fn run_and_print(
    accounts: Vec<BatchAccount>,
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
            Some(accounts.len() as u64),
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
        kept.resize_with(accounts.len(), || None);
    }
    let shared = crate::engine::Shared {
        pacer: Some(pacer),
        ..Default::default()
    };
    // The accounts to run, and the place in the list of each.
    let mut specs = vec![];
    let mut places = vec![];
    let mut refused = vec![];
    for (i, a) in accounts.into_iter().enumerate() {
        match a {
            BatchAccount::Ready(s) => {
                places.push(i);
                specs.push(*s);
            }
            BatchAccount::Refused(r) => refused.push((i, *r)),
        }
    }
    let mut on_result = |i: usize, r: AccountResult| {
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
    };
    for (i, r) in refused {
        on_result(i, r);
    }
    runtime.block_on(run_accounts(specs, concurrency, shared, |i, r| {
        on_result(places[i], r)
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
        specs
            .into_iter()
            .map(|s| BatchAccount::Ready(Box::new(s)))
            .collect(),
        concurrency,
        per_host,
        &args.pacing,
        args.format.into(),
        args.color.enabled(),
    )
}

/// The largest `--from` list read (about a million addresses).
pub const MAX_ADDRESS_LIST_BYTES: u64 = 64 << 20;

/// One line of a batch: the settings to probe, or why it cannot be probed (its UNKNOWN
/// result, reported with the others: one bad line does not stop the batch).
pub enum BatchAccount {
    Ready(Box<Settings>),
    Refused(Box<AccountResult>),
}

/// The UNKNOWN result of a batch line that cannot be probed; `reason` names the line.
fn refused(name: String, reason: String) -> BatchAccount {
    BatchAccount::Refused(Box::new(AccountResult {
        account: name.clone(),
        address: name,
        status: Status::Unknown,
        exit_code: Status::Unknown.exit_code(),
        expectations: vec![],
        error: Some(reason),
        report: None,
        thresholds: Default::default(),
        reason: None,
    }))
}

/// The `--from` list's bytes: a regular file (bounded, never a FIFO left waiting) or stdin
/// (`-`, bounded).
fn address_list(path: &std::path::Path) -> Result<Vec<u8>> {
    if path.as_os_str() != "-" {
        return super::config::read_bounded(path, MAX_ADDRESS_LIST_BYTES);
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_ADDRESS_LIST_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("reading the addresses on stdin")?;
    if bytes.len() as u64 > MAX_ADDRESS_LIST_BYTES {
        bail!(
            "stdin: larger than {} MiB, refused",
            MAX_ADDRESS_LIST_BYTES >> 20
        );
    }
    Ok(bytes)
}

/// Addresses from the arguments and `--from` (one per line, `#` comments, `-` = stdin), each
/// with where it came from; a line that is not text is refused on its own.
fn addresses(args: &BatchArgs) -> Result<Vec<Result<Given<String>, BatchAccount>>> {
    let mut out = vec![];
    for a in &args.addresses {
        out.push(Ok(Given::flag(a.clone(), "ADDRESS")));
    }
    if let Some(path) = &args.from {
        let shown = path.display().to_string();
        let bytes = address_list(path)?;
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let Ok(line) = std::str::from_utf8(raw) else {
                let name = String::from_utf8_lossy(raw).trim().to_string();
                out.push(Err(refused(name, format!("{shown}:{}: not UTF-8", i + 1))));
                continue;
            };
            let line = line.split('#').next().unwrap_or("");
            let address = line.trim();
            if address.is_empty() {
                continue;
            }
            let column = 1 + line.len() - line.trim_start().len();
            out.push(Ok(Given::new(
                address.to_string(),
                Origin::File {
                    path: shown.clone(),
                    line: i + 1,
                    column,
                },
            )));
        }
    }
    if out.is_empty() {
        bail!("no address to check: give addresses or --from FILE");
    }
    Ok(out)
}

/// `batch`'s flags and addresses as one account each: its settings, or why a line cannot be
/// probed (the error names the line: FILE:LINE:COLUMN).
pub fn batch_accounts(args: &BatchArgs) -> Result<Vec<BatchAccount>> {
    let credential = match &args.password_command {
        Some(c) => CredentialSpec::LookupCommand(c.clone()),
        None => CredentialSpec::None,
    };
    let t = &args.thresholds;
    let mut accounts = vec![];
    for address in addresses(args)? {
        let address = match address {
            Ok(a) => a,
            Err(refused) => {
                accounts.push(refused);
                continue;
            }
        };
        let (name, origin) = (address.value.clone(), address.origin.clone());
        let mut b = args.target.builder(&address.value);
        b.address = Some(address);
        b.credential = Some(credential.clone());
        b.warn_response = t.warning.map(|w| Given::flag(w, "-w"));
        b.max_response = t.critical.map(|c| Given::flag(c, "-c"));
        b.warn_cert_days = CertWarn::flag(t.cert_warn_days);
        b.min_cert_days = t.cert_crit_days.map(|d| Given::flag(d, "--cert-crit-days"));
        accounts.push(match b.build() {
            Ok(settings) => BatchAccount::Ready(Box::new(settings)),
            // A bad line of a list is that line's result ("FILE:LINE:COLUMN: why"); a bad
            // flag or a typo on the command line is the user's, refused at once.
            Err(e) if e.origin == origin && matches!(origin, Origin::File { .. }) => {
                refused(name, e.to_string())
            }
            Err(e) => return Err(e.into()),
        });
    }
    Ok(accounts)
}

/// `batch`'s accounts, every line valid (the first invalid one is an error).
pub fn batch_settings(args: &BatchArgs) -> Result<Vec<Settings>> {
    batch_accounts(args)?
        .into_iter()
        .map(|a| match a {
            BatchAccount::Ready(s) => Ok(*s),
            BatchAccount::Refused(r) => bail!("{}", r.error.unwrap_or_default()),
        })
        .collect()
}

pub fn batch(args: BatchArgs) -> Result<Status> {
    let specs = batch_accounts(&args)?;
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
