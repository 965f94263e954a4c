//! `mailcheck oauth2 sign-in`: one interactive sign-in (the device or browser flow of
//! `probe --oauth2`) whose refresh token goes to a file descriptor or a command the user names,
//! for a checks file's `grant = "refresh_token"`. What was granted is printed; never a token.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::account::Secret;
use crate::cli::OAuth2Args;
use crate::i18n::{self, Lang};
use crate::model::ConnectTo;
use crate::net::resolver::{NameServer, Resolver};
use crate::oauth2::OAuth2Info;
use crate::outcome::Status;
use crate::params;

#[derive(Debug, Args)]
pub struct OAuth2Command {
    #[command(subcommand)]
    pub action: OAuth2Action,
}

#[derive(Debug, Subcommand)]
pub enum OAuth2Action {
    /// Sign in once (device or browser flow, as `probe --oauth2`) and hand the refresh token to
    /// --refresh-token-fd or --refresh-token-command, for a checks file's
    /// `oauth2 = { grant = "refresh_token", ... }`. Prints what was granted, never a token.
    SignIn(SignInArgs),
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("destination")
        .required(true)
        .args(["refresh_token_fd", "refresh_token_command"])
))]
pub struct SignInArgs {
    /// The account signing in: its provider's entry in the provider table (Microsoft, Google)
    /// gives the issuer, endpoints and scopes no flag names.
    #[arg(value_name = "ADDRESS")]
    pub address: Option<String>,

    /// A mail server of the account (`outlook.office365.com`): its provider's entry, for a
    /// domain the table does not know (a Microsoft 365 tenant's own domain).
    #[arg(long, value_name = "HOST")]
    pub server: Option<String>,

    #[command(flatten)]
    pub oauth2: OAuth2Args,

    /// Trust the CA certificates in this PEM file for the issuer, besides the public roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Send every DNS query to this server only: IP or IP:PORT.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<NameServer>,

    /// Connect to HOST2:PORT2 instead of HOST1:PORT1 (curl syntax).
    #[arg(long, value_name = "HOST1:PORT1:HOST2:PORT2")]
    pub connect_to: Vec<ConnectTo>,

    /// Write the refresh token (one line) to this open file descriptor, e.g. 3 with `3>FILE`
    /// or a pipe; not 0-2 and not a terminal.
    #[arg(long, value_name = "N")]
    pub refresh_token_fd: Option<u32>,

    /// Run this shell command with the refresh token (one line) on its standard input, e.g.
    /// `secret-tool store --label=mailcheck service mailcheck` or `pass insert -m mailcheck/rt`.
    #[arg(long, value_name = "COMMAND")]
    pub refresh_token_command: Option<String>,

    /// Print what was granted as JSON (stdout).
    #[arg(long)]
    pub json: bool,
}

/// Where the refresh token goes.
enum Destination {
    Fd(u32, std::fs::File),
    Command(String),
}

impl Destination {
    /// Opened before the sign-in, so that a bad destination is refused before the user signs in.
    fn open(args: &SignInArgs) -> Result<Destination> {
        match (&args.refresh_token_fd, &args.refresh_token_command) {
            (Some(n), _) => {
                if *n <= 2 {
                    bail!("--refresh-token-fd {n}: stdin, stdout and stderr are not for secrets; use a descriptor of its own (3 with `3>FILE`)");
                }
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("/dev/fd/{n}"))
                    .with_context(|| format!("--refresh-token-fd {n}: not an open descriptor"))?;
                if file.is_terminal() {
                    bail!("--refresh-token-fd {n} is a terminal: the refresh token would be shown on the screen; give a file or a pipe");
                }
                Ok(Destination::Fd(*n, file))
            }
            (None, Some(c)) if !c.trim().is_empty() => Ok(Destination::Command(c.clone())),
            (None, Some(_)) => bail!("--refresh-token-command: empty"),
            (None, None) => bail!(
                "give --refresh-token-fd N or --refresh-token-command CMD: where the refresh token goes"
            ),
        }
    }

    fn flag(&self) -> &'static str {
        match self {
            Destination::Fd(..) => "--refresh-token-fd",
            Destination::Command(_) => "--refresh-token-command",
        }
    }

    /// Hands the token over: one line, then the descriptor is closed or the command's stdin.
    fn deliver(self, token: &Secret) -> Result<()> {
        let line = format!("{}\n", token.expose());
        match self {
            Destination::Fd(n, mut file) => file
                .write_all(line.as_bytes())
                .and_then(|_| file.flush())
                .with_context(|| format!("writing to descriptor {n}")),
            Destination::Command(cmd) => {
                use std::os::fd::AsFd;
                use std::process::{Command, Stdio};
                // Its output goes to our stderr: stdout is the report's.
                let out = std::io::stderr()
                    .as_fd()
                    .try_clone_to_owned()
                    .context("stderr")?;
                let mut child = Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::from(out))
                    .env_remove(crate::account::PASSWORD_ENV)
                    .env_remove(crate::account::OAUTH2_ENV)
                    .spawn()
                    .context("--refresh-token-command")?;
                let written = child
                    .stdin
                    .take()
                    .context("--refresh-token-command: no stdin")?
                    .write_all(line.as_bytes());
                let status = child.wait().context("--refresh-token-command")?;
                written.context("--refresh-token-command did not read the token")?;
                if !status.success() {
                    bail!("--refresh-token-command failed ({status}): the refresh token was not stored; sign in again");
                }
                Ok(())
            }
        }
    }
}

/// What `--json` prints (`schemas/sign-in.schema.json`).
#[derive(Serialize)]
struct Granted<'a> {
    schema_version: u32,
    mailcheck_version: &'static str,
    sign_in: &'a OAuth2Info,
    refresh_token_issued: bool,
    /// Where the refresh token went (the flag), when it was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token_to: Option<&'static str>,
}

pub fn run(cmd: OAuth2Command) -> Result<Status> {
    match cmd.action {
        OAuth2Action::SignIn(args) => sign_in(args),
    }
}

fn sign_in(args: SignInArgs) -> Result<Status> {
    let destination = Destination::open(&args)?;
    let settings = crate::app::oauth2_settings_of(&args.oauth2)?;
    let lang = Lang::current();
    let mut http = crate::discover::DiscoveryConfig::new(Resolver::from_option(
        args.dns_server.map(|n| n.0),
        crate::model::Limits::default().connect_timeout,
    ));
    if let Some(ca) = &args.ca_file {
        if !ca.is_file() {
            bail!("--ca-file: {}: no such file", ca.display());
        }
    }
    http.ca_file = args.ca_file.clone();
    http.connect_to = args.connect_to.clone();
    let client = crate::oauth2::http_client(&http)?;
    // The flags first, then the provider table's entry for the address or server; no
    // discovery here (nothing is probed). A client is registered if none is named.
    let domain = args
        .address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let offers = crate::oauth2::sources::offers(&settings, &domain, args.server.as_deref(), None);
    let resolved = crate::oauth2::sources::resolve_offers(&settings, &offers)
        .map_err(|e| anyhow::anyhow!(e.explain(lang)))?;
    let signed = crate::app::runtime()?
        .block_on(crate::oauth2::sign_in(&settings, &resolved, client, lang))
        .map_err(|e| anyhow::anyhow!(e.explain(lang)))?;
    let to = signed.refresh.as_ref().map(|_| match &destination {
        Destination::Fd(n, _) => format!("--refresh-token-fd {n}"),
        Destination::Command(_) => destination.flag().to_string(),
    });
    let granted = Granted {
        schema_version: crate::report::SCHEMA_VERSION,
        mailcheck_version: env!("CARGO_PKG_VERSION"),
        sign_in: &signed.info,
        refresh_token_issued: signed.refresh.is_some(),
        refresh_token_to: signed.refresh.as_ref().map(|_| destination.flag()),
    };
    if let Some(refresh) = &signed.refresh {
        destination.deliver(refresh)?;
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &granted)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        let info = &signed.info;
        let lifetime = info
            .lifetime_s
            .map_or("-".to_string(), |s| format!("{s} s"));
        let refresh = match &to {
            Some(to) => i18n::text(
                lang,
                "oauth2-signed-in-refresh",
                &params![("to", to.as_str())],
            ),
            None => i18n::t(lang, "oauth2-signed-in-no-refresh"),
        };
        writeln!(
            out,
            "{}\n{refresh}",
            i18n::text(
                lang,
                "oauth2-signed-in",
                &params![
                    ("issuer", info.issuer.as_str()),
                    ("client", info.client_id.as_str()),
                    ("scopes", info.scopes_granted.join(" ")),
                    ("lifetime", lifetime)
                ]
            )
        )
    };
    match written {
        Err(e) if crate::app::is_end_of_output(&e) => {}
        other => other.context("writing the report")?,
    }
    if signed.refresh.is_none() {
        bail!("{}", i18n::t(lang, "oauth2-signed-in-no-refresh-hint"));
    }
    Ok(Status::Ok)
}
