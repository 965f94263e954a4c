//! The command-line front end of one account (`probe`, `demo`, `discover`): flags into
//! [`SettingsBuilder`]s, the engine, and the report on stdout. Other subcommands are dispatched
//! to their own front ends (`check::cli`, `serve`, `lab::console`).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::account::{CredentialRequest, SecretSource};
use crate::cli::{Command, DemoArgs, DiscoverArgs, Format, OutputArgs, ProbeArgs, TargetArgs};
use crate::discover;
use crate::engine;
use crate::lab::{Lab, LabConfig};
use crate::model::{Combination, ConnectTo};
use crate::outcome::Status;
use crate::report::account::AccountResult;
use crate::report::monitor::MonitorFormat;
use crate::report::{self, RunReport};
use crate::settings::{
    CertWarn, CredentialSpec, Given, RoundTripSettings, Servers, Settings, SettingsBuilder,
};

pub fn run(command: Command) -> Result<Status> {
    match command {
        Command::Probe(args) => probe(args),
        Command::Discover(args) => discover_only(args),
        Command::Lab(args) => crate::lab::console::run(args),
        Command::Demo(args) => demo(args),
        Command::Check(args) => crate::check::cli::check(args),
        Command::Batch(args) => crate::check::cli::batch(args),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Completions(args) => crate::check::cli::completions(args),
        Command::Man => crate::check::cli::man(),
        Command::OAuth2(args) => crate::cli_oauth2::run(args),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

impl TargetArgs {
    /// These flags' share of one account's settings (`probe`, and each address of `batch`).
    pub fn builder(&self, address: &str) -> SettingsBuilder {
        let d = &self.discovery;
        SettingsBuilder {
            address: Some(Given::flag(address.to_string(), "ADDRESS")),
            server: self.server.clone().map(|s| Given::flag(s, "--server")),
            discover: Some(!self.no_discovery),
            tls_name: self.tls_name.clone(),
            ca_file: self.ca_file.clone().map(|p| Given::flag(p, "--ca-file")),
            crl_files: self
                .crl_file
                .iter()
                .map(|p| Given::flag(p.clone(), "--crl-file"))
                .collect(),
            connect_to: self.connect_to.clone(),
            only: self.only.clone(),
            skip: self
                .skip
                .iter()
                .map(|s| Given::flag(s.clone(), "--skip"))
                .collect(),
            family: match (self.ipv4, self.ipv6) {
                (true, _) => crate::model::IpFamily::V4,
                (_, true) => crate::model::IpFamily::V6,
                _ => crate::model::IpFamily::Any,
            },
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            deadline: self.deadline,
            insecure: self.insecure,
            login_method: self.auth_mechanism.map(Into::into),
            dns_server: d.dns_server,
            dns_trust_anchor: d
                .dns_trust_anchor
                .clone()
                .map(|p| Given::flag(p, "--dns-trust-anchor")),
            ispdb_url: d.ispdb_url.clone().map(|u| Given::flag(u, "--ispdb-url")),
            discovery_timeout: d.discovery_timeout,
            trust_discovered: self.trust_discovered,
            each_address: self.each_address,
            ..SettingsBuilder::default()
        }
    }
}

impl OutputArgs {
    /// The monitoring thresholds (-w/-c, certificate days) of `probe` and `demo`.
    fn thresholds(&self, b: &mut SettingsBuilder, cert_warn_days: Option<i64>) {
        b.warn_response = self.warning.map(|w| Given::flag(w, "-w"));
        b.max_response = self.critical.map(|c| Given::flag(c, "-c"));
        b.warn_cert_days = CertWarn::flag(cert_warn_days);
        b.min_cert_days = self
            .cert_crit_days
            .map(|d| Given::flag(d, "--cert-crit-days"));
        b.trace = self.trace;
    }
}

/// `probe`'s flags as settings.
pub fn probe_settings(args: &ProbeArgs) -> Result<Settings> {
    let mut b = args.target.builder(&args.address);
    b.username = args.username.clone();
    b.check_legacy_tls = args.check_legacy_tls;
    b.credential = Some(if args.oauth2 {
        CredentialSpec::OAuth2(Box::new(oauth2_settings(args)?))
    } else {
        CredentialSpec::Interactive(CredentialRequest {
            password_stdin: args.password_stdin,
            password_command: args.password_command.clone(),
            oauth2_token_command: args.oauth2_token_command.clone(),
            no_prompt: args.no_prompt,
        })
    });
    args.output.thresholds(&mut b, args.cert_warn_days);
    if args.round_trip {
        b.round_trip = Some(RoundTripSettings {
            to: None,
            timeout: args.round_trip_timeout,
            keep: args.keep,
        });
        b.round_trip_to = args
            .round_trip_to
            .clone()
            .map(|a| Given::flag(a, "--round-trip-to"));
    }
    Ok(b.build()?)
}

/// `probe --oauth2`'s sign-in settings, each with the flag that gave it; what no flag names is
/// found after discovery (`oauth2::sources`).
fn oauth2_settings(args: &ProbeArgs) -> Result<crate::oauth2::OAuth2Settings> {
    let mut s = oauth2_settings_of(&args.oauth2_with)?;
    s.ask_server = args.oauth2_issuer_from_server;
    Ok(s)
}

/// The sign-in settings of `--oauth2-*` flags (`probe --oauth2`, `oauth2 sign-in`); what they
/// leave out is resolved from the other sources at the sign-in (`oauth2::sources`).
pub(crate) fn oauth2_settings_of(
    args: &crate::cli::OAuth2Args,
) -> Result<crate::oauth2::OAuth2Settings> {
    let flag = |v: &Option<String>, name| v.clone().map(|v| Given::flag(v, name));
    let scopes: Vec<String> = args
        .oauth2_scope
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_string)
        .collect();
    let scopes = if scopes.is_empty() {
        crate::settings::Given::new(scopes, crate::settings::Origin::Builtin)
    } else {
        crate::settings::Given::flag(scopes, "--oauth2-scope")
    };
    Ok(crate::oauth2::OAuth2Settings {
        issuer: flag(&args.oauth2_issuer, "--oauth2-issuer"),
        client_id: flag(&args.oauth2_client_id, "--oauth2-client-id"),
        scopes,
        tenant: flag(&args.oauth2_tenant, "--oauth2-tenant"),
        timeout: args
            .oauth2_timeout
            .unwrap_or(crate::oauth2::DEFAULT_TIMEOUT),
        flow: args.oauth2_flow.map(Into::into),
        open_browser: !args.no_browser,
        ask_server: false,
        client_secret_env: args.oauth2_client_secret_env.clone(),
    })
}

/// One line on stderr, never a panic (`eprintln!` panics when stderr is closed or full). The
/// error is the caller's to judge: see [`is_end_of_output`] and [`note`].
pub fn eprint_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    err.write_fmt(args).and_then(|_| err.write_all(b"\n"))
}

/// The reader went away (`| head`): the end of the output, not a failure of ours.
pub fn is_end_of_output(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// A diagnostic line (warning, progress) on stderr: a reader that went away ends them
/// silently; any other failure (a full disk, a closed descriptor) is an error: exit 3.
pub fn note(args: std::fmt::Arguments<'_>) -> Result<()> {
    match eprint_line(args) {
        Err(e) if is_end_of_output(&e) => Ok(()),
        other => other.context("writing on stderr"),
    }
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
    crate::i18n::Lang::set_current(args.lang.unwrap_or_else(crate::i18n::Lang::from_env));
    let d = &args.discovery;
    let mut settings = SettingsBuilder {
        address: Some(Given::flag(args.address.clone(), "ADDRESS")),
        ca_file: args.ca_file.clone().map(|p| Given::flag(p, "--ca-file")),
        connect_to: args.connect_to.clone(),
        dns_server: d.dns_server,
        dns_trust_anchor: d
            .dns_trust_anchor
            .clone()
            .map(|p| Given::flag(p, "--dns-trust-anchor")),
        ispdb_url: d.ispdb_url.clone().map(|u| Given::flag(u, "--ispdb-url")),
        discovery_timeout: d.discovery_timeout,
        ..SettingsBuilder::default()
    }
    .build()?;
    // Discovery alone: its DNS queries get the discovery deadline, not a connect timeout.
    if let Servers::Discover(ds) = &settings.servers {
        settings.policy.resolver =
            crate::net::resolver::Resolver::from_option(d.dns_server.map(|n| n.0), ds.timeout)
                .with_trust_anchor(settings.policy.resolver.trust_anchor());
    }
    let cfg = crate::plan::discovery_config(&settings).context("nothing to discover")?;
    let rt = runtime()?;
    let mut report = rt.block_on(discover::discover(&settings.address, &cfg))?;
    rt.block_on(discover::dane_notes(&mut report, &settings.policy.resolver));
    let status = if report.selected.is_empty() {
        Status::Critical
    } else {
        Status::Ok
    };
    let color = args.color.enabled();
    write_out(|out| match args.format {
        Format::Json => report::discovery::write_json(out, &report),
        Format::Table => report::discovery::write_table(out, &report, color),
    })?;
    Ok(status)
}

fn probe(args: ProbeArgs) -> Result<Status> {
    crate::i18n::Lang::set_current(args.output.lang.unwrap_or_else(crate::i18n::Lang::from_env));
    let settings = probe_settings(&args)?;
    // Rules match the logical host (--server) and port, as in curl: one written for the TLS
    // name or for a port mailcheck never probes would otherwise do nothing, silently. (Not
    // checked with discovery, where a rule may be meant for an autoconfig host, nor with
    // --oauth2, where it may be meant for the issuer.)
    let issuer_rules = matches!(settings.credential, CredentialSpec::OAuth2(_));
    if let (Servers::Named { host, .. }, false) = (&settings.servers, issuer_rules) {
        for r in ConnectTo::unmatched(&settings.connect_to, host, &Combination::DOCUMENTED) {
            note(format_args!(
                "mailcheck: warning: --connect-to {r} matches no combination on {host} \
                 (rules match the --server name and a port, not --tls-name)"
            ))?;
        }
    }
    let runtime = runtime()?;
    let report = runtime.block_on(async {
        let prepared = engine::prepare(&settings).await?;
        engine::execute(prepared, &engine::Shared::default()).await
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            // A run stopped by a failed sign-in is still a run for a script or a monitor (a
            // Nagios UNKNOWN line, a JSON report); the error goes to stderr as in text, with
            // the same exit status.
            if let Some(stopped) = e.downcast_ref::<report::Stopped>() {
                let format: MonitorFormat = args.output.format.into();
                match format {
                    _ if args.card_format().is_some() => {}
                    MonitorFormat::Table => {}
                    MonitorFormat::Json => {
                        let doc = RunReport::stopped(stopped, crate::i18n::Lang::current());
                        write_out(|out| report::json::write(out, &doc))?
                    }
                    other => {
                        let result = AccountResult::stopped(&settings, stopped);
                        write_out(|out| report::monitor::write_all(out, other, &[result], false))?
                    }
                }
            }
            return Err(e);
        }
    };
    if let Some(card) = args.card_format() {
        report::card::print(&report, card)?;
        return Ok(report.status);
    }
    print_report(
        report,
        &settings,
        args.output.format.into(),
        args.output.color.enabled(),
    )
}

/// Write one account's report on stdout in the chosen format; the status to exit with (the
/// monitoring formats also judge the thresholds: -w/-c, certificate days).
fn print_report(
    report: RunReport,
    settings: &Settings,
    format: MonitorFormat,
    color: bool,
) -> Result<Status> {
    match format {
        MonitorFormat::Json => {
            write_out(|out| report::json::write(out, &report))?;
            Ok(report.status)
        }
        MonitorFormat::Table => {
            write_out(|out| report::table::write(out, &report, color))?;
            Ok(report.status)
        }
        fmt => {
            let name = report.address.clone();
            let result = AccountResult::judge(&name, report, settings.expectations.clone());
            let status = result.status;
            write_out(|out| report::monitor::write_all(out, fmt, &[result], false))?;
            Ok(status)
        }
    }
}

/// `mailcheck demo`: start the lab in-process and probe it through the same settings, plan and
/// engine as `probe`. The lab's password goes from the lab to the probe in memory, never
/// through argv or the environment.
fn demo(args: DemoArgs) -> Result<Status> {
    crate::i18n::Lang::set_current(args.output.lang.unwrap_or_else(crate::i18n::Lang::from_env));
    // Thresholds are checked before the lab starts.
    let mut thresholds = SettingsBuilder {
        address: Some(Given::flag("demo@lab.test".into(), "ADDRESS")),
        ..SettingsBuilder::default()
    };
    args.output.thresholds(&mut thresholds, None);
    thresholds.clone().build()?;
    let runtime = runtime()?;
    let (report, settings) = runtime.block_on(async {
        let lab = Lab::start(LabConfig {
            scenario: args.scenario,
            ..LabConfig::default()
        })
        .await?;
        note(format_args!(
            "mailcheck demo: probing the built-in lab (scenario {}: {}) on {}",
            lab.scenario(),
            lab.scenario().about(),
            lab.services()
                .first()
                .map(|s| s.addr.ip().to_string())
                .unwrap_or_default()
        ))?;
        let settings = SettingsBuilder {
            address: Some(Given::flag(lab.user().address.clone(), "ADDRESS")),
            server: Some(Given::flag(lab.tls_name().to_string(), "--server")),
            connect_to: lab.connect_to(),
            ca_file: Some(Given::flag(lab.ca_path().to_path_buf(), "--ca-file")),
            crl_files: lab
                .crl_path()
                .map(|p| Given::flag(p.to_path_buf(), "--crl-file"))
                .into_iter()
                .collect(),
            connect_timeout: Some(Duration::from_secs(2)),
            timeout: Some(Duration::from_secs(3)),
            deadline: Some(Duration::from_secs(15)),
            credential: Some(CredentialSpec::Given(lab.credential(), SecretSource::Lab)),
            ..thresholds
        }
        .build()?;
        let report = async {
            let prepared = engine::prepare(&settings).await?;
            engine::execute(prepared, &engine::Shared::default()).await
        }
        .await;
        drop(lab);
        Ok::<_, anyhow::Error>((report?, settings))
    })?;
    print_report(
        report,
        &settings,
        args.output.format.into(),
        args.output.color.enabled(),
    )
}
