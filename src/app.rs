//! From validated command-line arguments to a plan, a run and a report on stdout.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::account::{self, Address, Credential, CredentialRequest, SecretSource};
use crate::cli::{ColorChoice, Command, DemoArgs, Format, LabArgs, OutputArgs, ProbeArgs};
use crate::diagnose::Status;
use crate::lab::{Lab, LabConfig, Scenario};
use crate::plan::{Combination, IpFamily, Limits, Plan, Policy, TargetSpec};
use crate::report::{self, CredentialInfo, CredentialKind, RunInput, RunReport};

pub fn run(command: Command) -> Result<Status> {
    match command {
        Command::Probe(args) => probe(args),
        Command::Lab(args) => lab(args),
        Command::Demo(args) => demo(args),
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
}

fn probe(args: ProbeArgs) -> Result<Status> {
    let job = probe_job(&args)?;
    let report = runtime()?.block_on(execute(job))?;
    print_report(&report, &args.output)?;
    Ok(report.status)
}

fn probe_job(args: &ProbeArgs) -> Result<Job> {
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
        trace: args.output.trace,
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
    Ok(Job {
        address: address.to_string(),
        server: host,
        plan,
        credential,
        source,
        cert_warn_days: args.cert_warn_days,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Probe the plan and diagnose: the one path from a job to a report.
pub async fn execute(job: Job) -> Result<RunReport> {
    let kind = match &job.credential {
        Some(Credential::Password(_)) => CredentialKind::Password,
        Some(Credential::OAuth2Token(_)) => CredentialKind::Oauth2Token,
        None => CredentialKind::None,
    };
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let reports = crate::probe::run(&job.plan, job.credential).await?;
    Ok(RunReport::build(
        RunInput {
            address: job.address,
            server: job.server,
            started_at,
            elapsed_ms: t0.elapsed().as_millis() as u64,
            credential: CredentialInfo {
                kind,
                source: job.source,
            },
            cert_warn_days: job.cert_warn_days,
        },
        reports,
    ))
}

/// Write the report on stdout in the chosen format.
pub fn print_report(report: &RunReport, output: &OutputArgs) -> Result<()> {
    let color = match output.color {
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
    let written = match output.format {
        Format::Json => report::json::write(&mut out, report),
        Format::Table => report::table::write(&mut out, report, color),
    }
    .and_then(|_| out.flush());
    match written {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

/// `mailcheck demo`: start the lab in-process and probe it. The lab's password goes from the
/// lab to the probe in memory, never through argv or the environment.
fn demo(args: DemoArgs) -> Result<Status> {
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
            cert_warn_days: crate::diagnose::DEFAULT_CERT_WARN_DAYS,
        };
        let report = execute(job).await;
        drop(lab);
        report
    })?;
    print_report(&report, &args.output)?;
    Ok(report.status)
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
        write_lab_banner(&mut out, &lab)?;
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

fn write_lab_banner(out: &mut dyn Write, lab: &Lab) -> Result<()> {
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
    writeln!(
        out,
        "Running until Ctrl-C. Connections are logged on stderr."
    )?;
    Ok(())
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
