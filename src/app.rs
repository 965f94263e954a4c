//! From validated command-line arguments to a plan, a run and a report on stdout.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::account::{self, Address, Credential, CredentialRequest, SecretSource};
use crate::cli::{
    ColorChoice, Command, DemoArgs, DiscoverArgs, DiscoveryArgs, Format, LabArgs, OutputArgs,
    ProbeArgs, TargetArgs,
};
use crate::cli_monitor::MonitorFormat;
use crate::discover::{self, DiscoveryConfig, DiscoveryReport, TargetOptions};
use crate::lab::{Lab, LabConfig, Scenario};
use crate::net::resolver::Resolver;
use crate::outcome::Status;
use crate::plan::{Combination, ConnectTo, IpFamily, Limits, Plan, Policy, TargetSpec};
use crate::probe::roundtrip::{self, RoundTripPlan};
use crate::probe::ProbeContext;
use crate::report::{self, CredentialInfo, CredentialKind, RunInput, RunReport};

pub fn run(command: Command) -> Result<Status> {
    match command {
        Command::Probe(args) => probe(args),
        Command::Discover(args) => discover_only(args),
        Command::Lab(args) => lab(args),
        Command::Demo(args) => demo(args),
        Command::Check(args) => crate::check::cli::check(args),
        Command::Batch(args) => crate::check::cli::batch(args),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Completions(args) => crate::check::cli::completions(args),
        Command::Man => crate::check::cli::man(),
    }
}

/// Everything a run needs once the inputs are validated: what to probe, with which
/// credential, and how to label the report. Built from `probe`'s flags or by `demo`.
pub struct Job {
    /// The address as the user typed it (for the report).
    pub address: String,
    /// The server name probed (for the report).
    pub server: String,
    pub plan: Plan,
    pub credential: Option<Credential>,
    pub source: SecretSource,
    pub cert_warn_days: i64,
    /// How the servers were found, when they were.
    pub discovery: Option<DiscoveryReport>,
    /// `--round-trip`: after the probe, send a test message and wait for it.
    pub round_trip: Option<RoundTripPlan>,
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

impl TargetArgs {
    /// Discovery runs unless a server is named or it is switched off.
    pub fn discovering(&self) -> bool {
        self.server.is_none() && !self.no_discovery
    }

    /// The host probed for `address` without discovery: `--server`, else its domain.
    pub fn host(&self, address: &Address) -> Result<String> {
        let host = match &self.server {
            Some(s) => s.trim().trim_end_matches('.').to_string(),
            None => address.domain.clone(),
        };
        if host.is_empty() {
            bail!("--server is empty");
        }
        Ok(host)
    }

    /// The policy these flags ask for; the one place that turns them into one.
    pub fn policy(&self, trace: bool, check_legacy_tls: bool) -> Result<Policy> {
        check_ca_file(self.ca_file.as_deref())?;
        crate::net::tls::TlsTrust::check_crl_files(self.ca_file.as_deref(), &self.crl_file)
            .context("--crl-file")?;
        Ok(Policy {
            limits: Limits {
                connect_timeout: self.connect_timeout,
                step_timeout: self.timeout,
                target_timeout: self.deadline,
                ..Limits::default()
            },
            family: match (self.ipv4, self.ipv6) {
                (true, _) => IpFamily::V4,
                (_, true) => IpFamily::V6,
                _ => IpFamily::Any,
            },
            ca_file: self.ca_file.clone(),
            crl_files: self.crl_file.clone(),
            insecure: self.insecure,
            trace,
            check_legacy_tls,
            login_method: self.auth_mechanism.map(Into::into),
            resolver: Resolver::from_option(
                self.discovery.dns_server.map(|n| n.0),
                self.connect_timeout,
            ),
        })
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

/// A CRL file that is missing or is no CRL is bad input, refused before any connection.
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
    crate::i18n::Lang::set_current(args.lang.unwrap_or_else(crate::i18n::Lang::from_env));
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

/// Inverted thresholds (`-w` above `-c`, a warning level in days below the critical one) are
/// bad input, refused before any connection.
fn check_thresholds(output: &OutputArgs, cert_warn_days: i64) -> Result<()> {
    crate::check::expect::Expectations::thresholds(
        output.warning,
        output.critical,
        Some(cert_warn_days),
        output.cert_crit_days,
    )
    .check_thresholds()
    .map_err(|e| anyhow::anyhow!("{e} (-w/-c, --cert-warn-days/--cert-crit-days)"))
}

fn probe(args: ProbeArgs) -> Result<Status> {
    crate::i18n::Lang::set_current(args.output.lang.unwrap_or_else(crate::i18n::Lang::from_env));
    check_thresholds(&args.output, args.cert_warn_days())?;
    let runtime = runtime()?;
    let job = probe_job(&args, &runtime)?;
    let report = runtime.block_on(execute(job))?;
    if let Some(card) = args.card_format() {
        report::card::print(&report, card)?;
        return Ok(report.status);
    }
    print_report(&report, &args.output, args.cert_warn_days())
}

fn probe_job(args: &ProbeArgs, runtime: &tokio::runtime::Runtime) -> Result<Job> {
    let address = Address::parse(&args.address)?;
    let discovering = args.target.discovering();
    let host = args.target.host(&address)?;
    let username = args.username.clone().unwrap_or_else(|| address.ascii());
    let policy = args
        .target
        .policy(args.output.trace, args.check_legacy_tls)?;
    let resolver = policy.resolver.clone();
    let (targets, mut discovery) = if discovering {
        let cfg = discovery_config(
            &args.target.discovery,
            &resolver,
            args.target.ca_file.as_deref(),
            &args.target.connect_to,
        )?;
        let found = runtime.block_on(discover::discover(&address, &cfg))?;
        if found.selected.is_empty() {
            bail!("{}", nothing_found(&found));
        }
        let targets = discover::targets(
            &found,
            &TargetOptions {
                tls_name: args.target.tls_name.as_deref(),
                username: args.username.as_deref(),
                only: &args.target.only,
                skip: &args.target.skip,
                connect_to: &args.target.connect_to,
            },
        );
        (targets, Some(found))
    } else {
        let targets = TargetSpec {
            host: &host,
            tls_name: args.target.tls_name.as_deref(),
            username: &username,
            combinations: &Combination::DOCUMENTED,
            only: &args.target.only,
            skip: &args.target.skip,
            connect_to: &args.target.connect_to,
        }
        .targets();
        // Rules match the logical host (--server) and port, as in curl: one written for the TLS
        // name or for a port mailcheck never probes would otherwise do nothing, silently. (Not
        // checked with discovery, where a rule may be meant for an autoconfig host.)
        for r in ConnectTo::unmatched(&args.target.connect_to, &host, &Combination::DOCUMENTED) {
            eprintln!(
                "mailcheck: warning: --connect-to {r} matches no combination on {host} \
                 (rules match the --server name and a port, not --tls-name)"
            );
        }
        (targets, None)
    };
    if targets.is_empty() {
        bail!("--only/--skip leave no combination to probe");
    }
    if args.round_trip {
        let has = |d: crate::plan::Direction| {
            targets
                .iter()
                .any(|t| t.combination.protocol.direction() == d)
        };
        if !has(crate::plan::Direction::Outgoing) || !has(crate::plan::Direction::Incoming) {
            bail!("--round-trip needs an outgoing (smtp) and an incoming (imap or pop3) combination; --only/--skip leave none on one side");
        }
    }
    let round_trip_to = match &args.round_trip_to {
        Some(a) => Some(Address::parse(a).context("--round-trip-to")?.ascii()),
        None => None,
    };
    let plan = Plan { targets, policy };

    // Credentials go to discovered servers outside the address's domain only when the channel
    // that named them is trusted, the server is a built-in provider's own, or the user says so.
    let risky: Vec<String> = discovery
        .as_ref()
        .map(|d| {
            d.selected
                .iter()
                .filter(|c| {
                    !c.trusted
                        && !discover::within(&c.host, &d.domain)
                        && !discover::providers::is_provider_host(&c.host)
                })
                .map(|c| c.host.clone())
                .collect()
        })
        .unwrap_or_default();
    let withhold = !risky.is_empty() && !args.target.trust_discovered;
    let (credential, source) = if withhold {
        if let Some(d) = discovery.as_mut() {
            let mut hosts = risky.clone();
            hosts.dedup();
            d.notes.push(discover::Note::CredentialsWithheld {
                hosts,
                domain: d.domain.clone(),
                hint: discover::TrustHint::Cli,
            });
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
    if args.round_trip && credential.is_none() {
        if withhold {
            bail!("--round-trip: credentials are withheld from the discovered servers (see above: --trust-discovered or --server HOST)");
        }
        bail!("--round-trip needs a password or token: MAILCHECK_PASSWORD, --password-stdin, --password-command or --oauth2-token-command");
    }
    let round_trip = args.round_trip.then(|| RoundTripPlan {
        from: address.ascii(),
        to: round_trip_to.unwrap_or_else(|| address.ascii()),
        timeout: args.round_trip_timeout,
        keep: args.keep,
    });
    Ok(Job {
        address: address.to_string(),
        server: host,
        plan,
        credential,
        source,
        cert_warn_days: args.cert_warn_days(),
        discovery,
        round_trip,
    })
}

/// Probe the plan and diagnose: the one path from a job to a report.
pub async fn execute(job: Job) -> Result<RunReport> {
    execute_paced(job, None).await
}

/// [`execute`], with every target's probe paced by `pacer` (per connect host and in total),
/// as `check`, `batch` and `serve` run many accounts at once.
pub async fn execute_paced(
    job: Job,
    pacer: Option<std::sync::Arc<crate::probe::pace::Pacer>>,
) -> Result<RunReport> {
    let kind = match &job.credential {
        Some(Credential::Password(_)) => CredentialKind::Password,
        Some(Credential::OAuth2Token(_)) => CredentialKind::Oauth2Token,
        None => CredentialKind::None,
    };
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let ctx = {
        let mut ctx = ProbeContext::new(job.plan.policy.clone(), job.credential)?;
        ctx.pacer = pacer;
        Arc::new(ctx)
    };
    let reports = crate::probe::run_with(ctx.clone(), job.plan.targets.clone()).await?;
    // The round trip runs after the probe on the same context: the run's credential, TLS trust
    // and targets (with their --connect-to mapping).
    let round_trip = match &job.round_trip {
        None => None,
        Some(rt) => {
            let (outgoing, incoming) =
                crate::diagnose::round_trip_legs(&reports, job.cert_warn_days);
            Some(roundtrip::run(&ctx, rt, outgoing, incoming).await)
        }
    };
    let discovery_ms = job.discovery.as_ref().map_or(0, |d| d.elapsed_ms);
    // What the discovered sources publish is documentation: diagnosis checks it.
    let options = report::ReportOptions {
        lang: crate::i18n::Lang::current(),
        documented: job
            .discovery
            .as_ref()
            .map(crate::diagnose::DocumentedSetting::from_discovery)
            .unwrap_or_default(),
    };
    let mut report = RunReport::build_with(
        RunInput {
            address: job.address,
            server: job.server,
            started_at,
            elapsed_ms: discovery_ms + t0.elapsed().as_millis() as u64,
            credential: CredentialInfo {
                kind,
                source: job.source,
            },
            cert_warn_days: job.cert_warn_days,
        },
        reports,
        &options,
    );
    report.discovery = job.discovery;
    Ok(match round_trip {
        Some(rt) => report.with_round_trip(rt),
        None => report,
    })
}

/// Write the report on stdout in the chosen format; the status to exit with (the monitoring
/// formats also judge the thresholds: -w/-c, certificate days).
pub fn print_report(
    report: &RunReport,
    output: &OutputArgs,
    cert_warn_days: i64,
) -> Result<Status> {
    let color = use_color(output.color);
    let mut status = report.status;
    write_out(|out| match output.format {
        MonitorFormat::Json => report::json::write(out, report),
        MonitorFormat::Table => report::table::write(out, report, color),
        fmt => {
            let result = crate::check::AccountResult::from_probe(
                report.clone(),
                crate::check::expect::Expectations::thresholds(
                    output.warning,
                    output.critical,
                    Some(cert_warn_days),
                    output.cert_crit_days,
                ),
            );
            status = result.status;
            crate::check::output::write_all(out, fmt, &[result], false)
        }
    })?;
    Ok(status)
}

/// `mailcheck demo`: start the lab in-process and probe it. The lab's password goes from the
/// lab to the probe in memory, never through argv or the environment.
fn demo(args: DemoArgs) -> Result<Status> {
    crate::i18n::Lang::set_current(args.output.lang.unwrap_or_else(crate::i18n::Lang::from_env));
    let cert_warn_days = crate::diagnose::cert_warn_days(None, args.output.cert_crit_days);
    check_thresholds(&args.output, cert_warn_days)?;
    let report = runtime()?.block_on(async {
        let lab = Lab::start(LabConfig {
            scenario: args.scenario,
            ..LabConfig::default()
        })
        .await?;
        eprintln!(
            "mailcheck demo: probing the built-in lab (scenario {}: {}) on {}",
            lab.scenario(),
            lab.scenario().about(),
            lab.services()
                .first()
                .map(|s| s.addr.ip().to_string())
                .unwrap_or_default()
        );
        let limits = Limits {
            connect_timeout: Duration::from_secs(2),
            step_timeout: Duration::from_secs(3),
            target_timeout: Duration::from_secs(15),
            ..Limits::default()
        };
        let job = Job {
            address: lab.user().address.clone(),
            server: lab.tls_name().to_string(),
            plan: lab.plan(limits, args.output.trace),
            credential: Some(lab.credential()),
            source: SecretSource::Lab,
            cert_warn_days,
            discovery: None,
            round_trip: None,
        };
        let report = execute(job).await;
        drop(lab);
        report
    })?;
    print_report(&report, &args.output, cert_warn_days)
}

/// `mailcheck lab`: serve a scenario until Ctrl-C (or `--duration`), telling the user how to
/// probe it and logging each connection on stderr.
fn lab(args: LabArgs) -> Result<Status> {
    if args.list {
        let width = Scenario::ALL
            .iter()
            .map(|s| s.name().len())
            .max()
            .unwrap_or(0);
        for s in Scenario::ALL {
            println!("{:<width$}  {}", s.name(), s.about());
        }
        return Ok(Status::Ok);
    }
    runtime()?.block_on(async {
        let lab = Lab::start(LabConfig {
            scenario: args.scenario,
            ip: args.ip,
            ..LabConfig::default()
        })
        .await?;
        // Ctrl-C always stops the lab (cleanly: its directory is removed); --duration too.
        let stop = async {
            let limit = async {
                match args.duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = limit => {}
            }
        };
        tokio::pin!(stop);
        // Poll once: the Ctrl-C handler is in place before the banner says so.
        if futures::poll!(&mut stop).is_ready() {
            return Ok(());
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_lab_banner(&mut out, &lab, args.duration)?;
        out.flush()?;
        drop(out);
        let mut shown = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    let received = lab.received();
                    while let Some(r) = received.get(shown) {
                        if !r.finished {
                            break;
                        }
                        eprintln!("{}", describe_connection(r));
                        shown += 1;
                    }
                }
            }
        }
        eprintln!("mailcheck lab: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Status::Ok)
}

fn write_lab_banner(out: &mut dyn Write, lab: &Lab, duration: Option<Duration>) -> Result<()> {
    writeln!(
        out,
        "mailcheck lab: scenario {} — {}",
        lab.scenario(),
        lab.scenario().about()
    )?;
    writeln!(out)?;
    for s in lab.services() {
        writeln!(out, "  {:<18} {}", s.combination.id(), s.addr)?;
    }
    writeln!(out)?;
    writeln!(out, "  server name      {}", lab.tls_name())?;
    writeln!(out, "  CA certificate   {}", lab.ca_path().display())?;
    if let Some(crl) = lab.crl_path() {
        writeln!(out, "  CA's CRL         {}", crl.display())?;
    }
    writeln!(
        out,
        "  user             {} (password in {})",
        lab.user().address,
        lab.password_path().display()
    )?;
    writeln!(out)?;
    writeln!(out, "Probe it with:")?;
    writeln!(out)?;
    let exe = std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "mailcheck".into());
    let mut words = vec![
        shell_quote(&exe),
        "probe".into(),
        lab.user().address.clone(),
    ];
    words.extend(lab.probe_args().iter().map(|a| shell_quote(a)));
    words.push("--password-command".into());
    words.push(shell_quote(&format!(
        "cat {}",
        shell_quote(&lab.password_path().display().to_string())
    )));
    writeln!(out, "{}", words.join(" "))?;
    writeln!(out)?;
    // With --duration the lab stops on its own: say when, not only "until Ctrl-C".
    let until = match duration {
        Some(d) => format!("Running for {} (or until Ctrl-C)", lab_duration(d)),
        None => "Running until Ctrl-C".to_string(),
    };
    writeln!(out, "{until}. Connections are logged on stderr.")?;
    Ok(())
}

/// A `--duration` as it was typed: "2s", "1.5s", "500ms".
fn lab_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// One line per finished connection: what came in, never a secret.
fn describe_connection(r: &crate::lab::Received) -> String {
    let id = r
        .combination
        .map(|c| c.id())
        .unwrap_or_else(|| r.port.to_string());
    let mut parts = vec![format!(
        "{} line(s) received{}",
        r.line_count,
        if r.tls { " (TLS)" } else { "" }
    )];
    if r.credentials_seen {
        parts.push(if r.credentials_in_plaintext {
            "credentials seen IN PLAIN TEXT".into()
        } else {
            "credentials seen".into()
        });
    }
    if r.logged_in {
        parts.push("logged in".into());
    }
    if let Some(n) = &r.note {
        parts.push(n.clone());
    }
    format!(
        "mailcheck lab: {id} from {}: {}",
        r.peer.map(|p| p.to_string()).unwrap_or_default(),
        parts.join("; ")
    )
}

/// Quote a word for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@,=+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/tmp/a.pem"), "/tmp/a.pem");
        assert_eq!(shell_quote("cat /tmp/x"), "'cat /tmp/x'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        // Brackets (IPv6 rules) are glob characters.
        assert_eq!(
            shell_quote("mail.lab.test:993:[::1]:4000"),
            "'mail.lab.test:993:[::1]:4000'"
        );
    }
}
