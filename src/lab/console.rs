//! `mailcheck lab`: the lab as a console program. It serves a scenario until Ctrl-C (or
//! `--duration`), prints the `mailcheck probe` command that checks it, and logs each
//! connection on stderr.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{Lab, LabConfig, Scenario};
use crate::cli::LabArgs;
use crate::outcome::Status;

/// `mailcheck lab`: serve a scenario until Ctrl-C (or `--duration`), telling the user how to
/// probe it and logging each connection on stderr.
pub fn run(args: LabArgs) -> Result<Status> {
    if args.list {
        let width = Scenario::ALL
            .iter()
            .map(|s| s.name().len())
            .max()
            .unwrap_or(0);
        let mut out = std::io::stdout().lock();
        let listed = Scenario::ALL
            .iter()
            .try_for_each(|s| writeln!(out, "{:<width$}  {}", s.name(), s.about()))
            .and_then(|_| out.flush());
        return match listed {
            Err(e) if !crate::app::is_end_of_output(&e) => Err(e).context("writing the list"),
            _ => Ok(Status::Ok),
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let lab = Lab::start(LabConfig {
            scenario: args.scenario,
            ip: args.ip,
            base_port: args.base_port,
            ..LabConfig::default()
        })
        .await?;
        // Ctrl-C and SIGTERM (a service manager, `kill`, `timeout`) stop the lab cleanly:
        // its directory is removed, as with --duration.
        let mut terminate = terminate_signal()?;
        let stop = async {
            let limit = async {
                match args.duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
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
        // A reader that went away (`| head`) ends the lab as SIGPIPE would, quietly; another
        // failure to write (a full disk) is an error.
        match write_lab_banner(&mut out, &lab, args.duration).and_then(|_| out.flush()) {
            Err(e) if crate::app::is_end_of_output(&e) => return Ok(()),
            other => other.context("writing the lab's banner")?,
        }
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
                        match crate::app::eprint_line(format_args!("{}", describe_connection(r))) {
                            Err(e) if crate::app::is_end_of_output(&e) => return Ok(()),
                            other => other.context("writing the lab's log on stderr")?,
                        }
                        shown += 1;
                    }
                }
            }
        }
        crate::app::note(format_args!("mailcheck lab: stopped"))
    })?;
    Ok(Status::Ok)
}

/// SIGTERM, as a stream (installed at once: a signal from then on is not lost).
#[cfg(unix)]
fn terminate_signal() -> Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::terminate()).context("handling SIGTERM")
}

fn write_lab_banner(
    out: &mut dyn Write,
    lab: &Lab,
    duration: Option<Duration>,
) -> std::io::Result<()> {
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
fn describe_connection(r: &super::Received) -> String {
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
